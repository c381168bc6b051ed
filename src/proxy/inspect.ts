// What can be told about a message's bytes without parsing them: how deep it nests, its id
// and whether it is an answer. A message is looked at this way before JSON.parse or a schema
// walks it, so a hostile peer cannot make either recurse until the stack runs out.
import type { RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { BadInput } from "./bad-input.js";

/** Deepest nesting of arrays and objects the proxy passes on, in either direction. */
export const MAX_NESTING_DEPTH = 256;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether the JSON text in `bytes` nests arrays and objects deeper than `limit`. One pass,
 * brackets inside strings not counted, stopping as soon as the limit is passed. Bytes of a
 * multi-byte UTF-8 character are all >= 0x80, so scanning bytes is as good as characters;
 * text that is not JSON at all is left for JSON.parse to turn away.
 */
export function nestsDeeperThan(bytes: Uint8Array, limit = MAX_NESTING_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > limit) return true;
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) depth--;
  }
  return false;
}

/** Whether an already parsed value nests deeper than `limit` (iterative, stops early). */
export function valueNestsDeeperThan(value: unknown, limit = MAX_NESTING_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || typeof v !== "object") continue;
    if (depth + 1 > limit) return true;
    for (const child of Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** How many bytes of a line are looked at for its id and kind, at each end. */
export const HEAD_BYTES = 800;
export const TAIL_BYTES = 256;

/** The BadInput for a message turned away for its depth, its id told from its two ends. */
export function tooDeep(bytes: Buffer, headChars: number): BadInput {
  const head = bytes.subarray(0, HEAD_BYTES).toString("utf8");
  const top = topLevelKeys(head);
  const id = top.id ?? tailId(bytes.subarray(-TAIL_BYTES).toString("utf8"));
  return {
    kind: "malformed",
    bytes: bytes.length,
    head: head.slice(0, headChars),
    reason: `nested deeper than ${MAX_NESTING_DEPTH} levels`,
    ...(id !== undefined ? { id } : {}),
    response: top.response,
    notJson: false,
  };
}

export function isRequestId(v: unknown): v is RequestId {
  return typeof v === "string" || (typeof v === "number" && Number.isInteger(v));
}

/**
 * What the start of a JSON object says about its top level: its "id" (when the head holds the
 * whole value) and whether it is a response. Strings are skipped whole, so keys nested deeper
 * or inside strings do not count.
 */
export function topLevelKeys(head: string): { id?: RequestId; response: boolean } {
  const out: { id?: RequestId; response: boolean } = { response: false };
  let depth = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i];
    if (c === '"') {
      let j = i + 1;
      while (j < head.length && head[j] !== '"') j += head[j] === "\\" ? 2 : 1;
      if (j >= head.length) break;
      if (depth === 1) {
        const key = head.slice(i + 1, j);
        const value = /^\s*:\s*(-?\d+(?![\d.eE])|"(?:[^"\\]|\\.)*")/.exec(head.slice(j + 1));
        if (value && key === "id" && out.id === undefined) {
          const id = parseOr(value[1]!);
          if (isRequestId(id)) out.id = id;
        }
        if (/^\s*:/.test(head.slice(j + 1)) && (key === "result" || key === "error"))
          out.response = true;
      }
      i = j;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return out;
}

/**
 * The id of a message that ends `"id": <id>}` (the SDK writes the id last): the final brace
 * closes the outermost object, so that "id" is a top-level member.
 */
export function tailId(tail: string): RequestId | undefined {
  const m = /"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*\}\s*$/.exec(tail);
  const id = m ? parseOr(m[1]!) : undefined;
  return isRequestId(id) ? id : undefined;
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
