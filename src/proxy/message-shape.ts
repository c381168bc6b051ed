import { type JSONRPCMessage, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

/**
 * A parsed line as a JSON-RPC message, exactly as the MCP SDK's JSONRPCMessageSchema would give
 * it, or null when the schema rejects it. The schema costs several µs a message on the relay's
 * path, so the shapes sent most are taken without it (commonShape); anything else goes to it.
 */
export function jsonRpcMessage(value: unknown): JSONRPCMessage | null {
  const common = commonShape(value);
  if (common !== null) return common;
  const parsed = JSONRPCMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/**
 * A request, notification or result, rebuilt as the schema rebuilds it (its own key order:
 * jsonrpc, id, method, params; jsonrpc, id, result), when the schema would change nothing else:
 * null for anything else (a `_meta` or `__proto__` key in params or result, which the schema
 * rebuilds or drops; an error answer, whose error object it strips; whatever it rejects).
 */
export function commonShape(value: unknown): JSONRPCMessage | null {
  if (!isPlainRecord(value) || value.jsonrpc !== "2.0") return null;
  const keys = Object.keys(value).length;
  const hasId = Object.hasOwn(value, "id");
  if (hasId && !isRequestId(value.id)) return null;
  if (Object.hasOwn(value, "result")) {
    if (!hasId || keys !== 3 || !isLooseLevel(value.result)) return null;
    return { jsonrpc: "2.0", id: value.id, result: value.result } as JSONRPCMessage;
  }
  if (!Object.hasOwn(value, "method") || typeof value.method !== "string") return null;
  const hasParams = Object.hasOwn(value, "params");
  if (hasParams && !isLooseLevel(value.params)) return null;
  if (keys !== 2 + (hasId ? 1 : 0) + (hasParams ? 1 : 0)) return null;
  const message: Record<string, unknown> = { jsonrpc: "2.0" };
  if (hasId) message.id = value.id;
  message.method = value.method;
  if (hasParams) message.params = value.params;
  return message as JSONRPCMessage;
}

/** The schema's RequestIdSchema: a string or a safe integer. */
const isRequestId = (v: unknown): boolean => typeof v === "string" || Number.isSafeInteger(v);

/**
 * An object the schema would give back unchanged (a loose object whose one known key, `_meta`,
 * is absent); `__proto__`, an own key only after JSON.parse, is one the schema would drop.
 */
function isLooseLevel(v: unknown): boolean {
  return isPlainRecord(v) && !Object.hasOwn(v, "_meta") && !Object.hasOwn(v, "__proto__");
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
