import { ErrorCode, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";

/** A tools/call the engine can decide: its tool name, its arguments and what to forward. */
export interface ReadCall {
  ok: true;
  id: RequestId;
  tool: string;
  /** undefined when the call has none (MCP allows that). */
  arguments: Record<string, unknown> | undefined;
  /**
   * The message to forward if allowed, built from the decided values, so the server never
   * gets a different reading of the same bytes than the one the policy was applied to.
   */
  forward: JSONRPCMessage;
}

/** A tools/call that cannot be decided: never forwarded; a request gets `code` back. */
export interface RefusedCall {
  ok: false;
  /** undefined for a notification, which is dropped without an answer. */
  id: RequestId | undefined;
  code: number;
  reason: string;
}

/**
 * Read a message whose method is tools/call into a call the engine can decide, or say why it
 * cannot be: sent as a notification, `params` not an object, `name` not a string, `arguments`
 * present but not an object.
 */
export function readToolsCall(message: JSONRPCMessage): ReadCall | RefusedCall {
  const id = "id" in message ? (message.id as RequestId | undefined) : undefined;
  const refuse = (code: number, reason: string): RefusedCall => ({ ok: false, id, code, reason });
  if (id === undefined)
    return refuse(ErrorCode.InvalidRequest, "tools/call sent as a notification");
  const params: unknown = "params" in message ? message.params : undefined;
  if (!isPlainObject(params)) return refuse(ErrorCode.InvalidParams, "params is not an object");
  const name = params.name;
  if (typeof name !== "string")
    return refuse(ErrorCode.InvalidParams, `params.name is ${typeName(name)}, not a string`);
  const args = params.arguments;
  if (args !== undefined && !isPlainObject(args))
    return refuse(ErrorCode.InvalidParams, `params.arguments is ${typeName(args)}, not an object`);
  const decided: Record<string, unknown> = { ...params, name };
  if (args === undefined) delete decided.arguments;
  else decided.arguments = args;
  return {
    ok: true,
    id,
    tool: name,
    arguments: args,
    forward: { jsonrpc: "2.0", id, method: "tools/call", params: decided } as JSONRPCMessage,
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}
