import type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
} from "@modelcontextprotocol/sdk/types.js";

// Shape checks for messages a transport has already validated. The SDK's own guards run a full
// zod parse on every call (a quarter of the proxy's CPU in the benchmark's profile); these run
// on the per-message path, so they only look at which members are there.

export const isRequest = (m: JSONRPCMessage): m is JSONRPCRequest => "method" in m && "id" in m;
export const isNotification = (m: JSONRPCMessage): m is JSONRPCNotification =>
  "method" in m && !("id" in m);
export const isResult = (m: JSONRPCMessage): m is JSONRPCResultResponse =>
  "result" in m && "id" in m;
export const isErrorResponse = (m: JSONRPCMessage): m is JSONRPCErrorResponse => "error" in m;
