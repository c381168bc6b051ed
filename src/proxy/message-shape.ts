import { type JSONRPCMessage, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

/**
 * A parsed line as a JSON-RPC message, as the MCP SDK's JSONRPCMessageSchema would give it, or
 * null when the schema rejects it. The common shapes are checked here without the schema, which
 * costs several µs a message on the relay's path; they are the shapes for which the schema's
 * output equals its input (key order included), so the value itself is returned. Anything else
 * (keys out of the schema's order, a `_meta` or `__proto__` key, which it rebuilds or drops, an
 * error answer, whose error object it strips) goes to the schema.
 */
export function jsonRpcMessage(value: unknown): JSONRPCMessage | null {
  if (isCommonShape(value)) return value as JSONRPCMessage;
  const parsed = JSONRPCMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/**
 * A request, notification or result whose keys come in the schema's order with nothing the
 * schema would change: {jsonrpc, id?, method, params?} or {jsonrpc, id, result}.
 */
export function isCommonShape(value: unknown): boolean {
  if (!isPlainRecord(value) || value.jsonrpc !== "2.0") return false;
  const keys = Object.keys(value);
  if (keys[0] !== "jsonrpc") return false;
  let i = 1;
  if (keys[i] === "id") {
    if (!isRequestId(value.id)) return false;
    i++;
    if (keys[i] === "result") return keys.length === 3 && isLooseLevel(value.result);
  }
  if (keys[i] !== "method" || typeof value.method !== "string") return false;
  i++;
  if (keys.length === i) return true;
  return keys.length === i + 1 && keys[i] === "params" && isLooseLevel(value.params);
}

/** The schema's RequestIdSchema: a string or a safe integer. */
const isRequestId = (v: unknown): boolean => typeof v === "string" || Number.isSafeInteger(v);

/**
 * An object the schema passes through as it is (a loose object whose one known key, `_meta`,
 * is absent); `__proto__`, an own key only after JSON.parse, is one the schema would drop.
 */
function isLooseLevel(v: unknown): boolean {
  return isPlainRecord(v) && !Object.hasOwn(v, "_meta") && !Object.hasOwn(v, "__proto__");
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
