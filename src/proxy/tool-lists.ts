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
 * agent asked for, and tools that declare an outputSchema are remembered (their denials keep
 * structuredContent out).
 */
export class ToolLists {
  private readonly asked = new Set<string>();
  private readonly withOutputSchema = new Set<string>();

  constructor(
    private readonly compiled: CompiledPolicy,
    private readonly identity: string,
  ) {}

  /** The agent asked for the list under `id`: its answer must lose the hidden tools. */
  requested(id: RequestId): void {
    this.asked.add(idKey(id));
  }

  hasOutputSchema(tool: string): boolean {
    return this.withOutputSchema.has(tool);
  }

  /** A result from the server: the message to pass on (without hidden tools where asked). */
  answer(message: JSONRPCMessage & { id: RequestId; result: object }): JSONRPCMessage {
    const result = message.result as { tools?: unknown };
    const asked = this.asked.delete(idKey(message.id));
    if (!Array.isArray(result.tools)) return message;
    for (const t of result.tools) {
      const name = toolName(t);
      if (name !== undefined && (t as { outputSchema?: unknown }).outputSchema !== undefined)
        this.withOutputSchema.add(name);
    }
    if (!asked) return message;
    const tools = result.tools.filter((t: unknown) => {
      const name = toolName(t);
      return name === undefined || !isHidden(this.compiled, this.identity, name);
    });
    return { ...message, result: { ...result, tools } };
  }
}
