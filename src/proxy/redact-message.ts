import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Redactor } from "../store/types.js";
import { isRequest } from "./guards.js";

/** The message with a tools/call's arguments redacted: the only place secrets travel. */
export function redactMessage(message: JSONRPCMessage, redactor: Redactor): JSONRPCMessage {
  if (isRequest(message) && message.method === "tools/call" && message.params) {
    const p = message.params as { arguments?: unknown };
    if (p.arguments !== undefined) {
      return { ...message, params: { ...message.params, arguments: redactor.redact(p.arguments) } };
    }
  }
  return message;
}

/**
 * The first characters of a line that was turned away, with secret-looking values masked. The
 * line need not be JSON, so `"key": value` pairs are found by pattern (a string cut off at the
 * end counts too) and each is put to the redactor as {key: value}; a string that still holds
 * a token shape is then redacted whole.
 */
export function redactHead(head: string, redactor: Redactor): unknown {
  const masked = head.replace(
    /"((?:[^"\\]|\\.)*)"\s*:\s*("(?:[^"\\]|\\.)*"?|[-+.\w]+)/g,
    (pair: string, key: string, value: string) => {
      const name = parseOr(`"${key}"`, key) as string;
      const probe = { [name]: parseOr(value, value.startsWith('"') ? value.slice(1) : value) };
      return redactor.redact(probe) === probe ? pair : `"${key}":"$redacted"`;
    },
  );
  return redactor.redact(masked);
}

function parseOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}
