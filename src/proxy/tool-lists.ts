import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { type CompiledPolicy, isHidden } from "../engine/index.js";
import { idKey } from "./forwarded.js";

/** A listed tool's name; a server may send anything in place of a tool. */
function toolName(t: unknown): string | undefined {
  const name = t !== null && typeof t === "object" ? (t as { name?: unknown }).name : undefined;
  return typeof name === "string" ? name : undefined;
}

/**
 * What the session's tools/list answers say: hidden tools are taken out of the answers the
 * agent asked for, and whether each listed tool declares an outputSchema is remembered (a
 * denial carries structuredContent only for a tool known to declare none).
 */
export class ToolLists {
  private readonly asked = new Set<string>();
  /** Tool name -> whether it declared an outputSchema when last listed. */
  private readonly outputSchemas = new Map<string, boolean>();

  constructor(
    private readonly compiled: CompiledPolicy,
    private readonly identity: string,
  ) {}

  /** The agent asked for the list under `id`: its answer must lose the hidden tools. */
  requested(id: RequestId): void {
    this.asked.add(idKey(id));
  }

  /**
   * Whether this session's tools/list answers showed `tool` without an outputSchema. A tool
   * not listed here may still have one the agent knows (from an earlier session), and its
   * client would check a denial's structuredContent against it.
   */
  declaresNoOutputSchema(tool: string): boolean {
    return this.outputSchemas.get(tool) === false;
  }

  /** A result from the server: the message to pass on (without hidden tools where asked). */
  answer(message: JSONRPCMessage & { id: RequestId; result: object }): JSONRPCMessage {
    const result = message.result as { tools?: unknown };
    const asked = this.asked.delete(idKey(message.id));
    // Only answers to the agent's tools/list: any other result may hold a "tools" of its own.
    if (!asked || !Array.isArray(result.tools)) return message;
    for (const t of result.tools) {
      const name = toolName(t);
      if (name !== undefined)
        this.outputSchemas.set(name, (t as { outputSchema?: unknown }).outputSchema !== undefined);
    }
    const tools = result.tools.filter((t: unknown) => {
      const name = toolName(t);
      return name === undefined || !isHidden(this.compiled, this.identity, name);
    });
    return { ...message, result: { ...result, tools } };
  }
}
