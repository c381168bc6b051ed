import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { ApprovalAnswer } from "../store/types.js";
import { isResult } from "./guards.js";
import { idKey } from "./forwarded.js";
import type { Timers } from "./timers.js";

/**
 * The proxy's own requests to the agent's client: asking a human, through MCP elicitation,
 * whether a call that needs approval may go on. Ids are the proxy's own, so they never clash
 * with the server's requests to the client.
 */
export class Approvals {
  private asked = 0;
  private readonly waiting = new Map<string, (answer: JSONRPCMessage) => void>();

  constructor(
    private readonly timers: Timers,
    private readonly timeoutMs: number,
    private readonly send: (request: JSONRPCMessage) => void,
  ) {}

  /** Ask; the answer is "timeout" when nobody answers within the timeout. */
  ask(message: string): Promise<ApprovalAnswer> {
    const id: RequestId = `policy-replay/approval/${++this.asked}`;
    const key = idKey(id);
    return new Promise<ApprovalAnswer>((resolve) => {
      const timer = this.timers.start(this.timeoutMs, () => {
        this.waiting.delete(key);
        resolve("timeout");
      });
      this.waiting.set(key, (answer) => {
        timer.cancel();
        if (!isResult(answer)) return resolve("rejected");
        const r = answer.result as { action?: string; content?: { approve?: unknown } };
        resolve(r.action === "accept" && r.content?.approve === true ? "approved" : "rejected");
      });
      this.send({
        jsonrpc: "2.0",
        id,
        method: "elicitation/create",
        params: {
          message,
          requestedSchema: {
            type: "object",
            properties: { approve: { type: "boolean", title: "Approve this call?" } },
            required: ["approve"],
          },
        },
      });
    });
  }

  /** An answer from the client: true when it was to one of ours (and is taken here). */
  take(id: RequestId, answer: JSONRPCMessage): boolean {
    const key = idKey(id);
    const resolve = this.waiting.get(key);
    if (!resolve) return false;
    this.waiting.delete(key);
    resolve(answer);
    return true;
  }
}
