import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { isMarker, MAX_DEPTH, TOO_DEEP } from "../store/redact.js";
import { MIN_TOKEN_LENGTH } from "../store/token-scan.js";
import type { Redactor } from "../store/types.js";

// What of a message is redacted before it is recorded, in either direction:
// - Token shapes (looksLikeToken) everywhere: any string value that holds one is replaced whole
//   by its marker, in requests, notifications, results and errors alike.
// - Secret names (the redactor's names pattern) only in maps of argument values: tools/call and
//   prompts/get `arguments`, completion/complete `context.arguments` (and `argument.value` by
//   its `argument.name`), and an elicitation answer's `content`. Elsewhere a key named "key" or
//   "token" is structure (a JSON Schema's properties, `_meta.progressToken`), not a secret.
// - Never touched: object keys, numbers, booleans and null; `jsonrpc`, `id`, `method`; the tool
//   or prompt `name` of a call; every tool's `name` in a tools/list answer (replay and check read
//   them back); progress tokens and the request ids of cancellations.

/** A redactor that may say it is off (`--redact none`): then messages are not walked at all. */
type MaybeKeyed = Redactor & { readonly enabled?: boolean };

type Obj = Record<string, unknown>;
type Rule = (value: unknown, r: Redactor, depth: number) => unknown;

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const keep: Rule = (v) => v;

/** Token shapes in every string below `value`; the same value back when none changed. */
const tokens: Rule = (value, r, depth) => {
  // A string too short to look like a token is not even put to the redactor (the hot path).
  if (typeof value === "string") return value.length < MIN_TOKEN_LENGTH ? value : r.redact(value);
  if (typeof value !== "object" || value === null) return value;
  if (depth >= MAX_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const w = tokens(v, r, depth + 1);
      if (w !== v) (out ??= value.slice())[i] = w;
    }
    return out ?? value;
  }
  if (isMarker(value)) return value;
  return fields(value as Obj, r, depth, NO_RULES);
};

/** Secret names and token shapes: the redactor's own walk, for maps of argument values. */
const args: Rule = (value, r) => r.redact(value);

const NO_RULES: Readonly<Record<string, Rule>> = ruleTable({});

/**
 * The object with each member redacted by its rule (tokens when it has none), copied only when
 * something changed.
 */
function fields(obj: Obj, r: Redactor, depth: number, rules: Readonly<Record<string, Rule>>): Obj {
  let out: Obj | null = null;
  // for-in: no array of keys a object; JSON's objects inherit nothing enumerable, but check.
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const v = obj[k];
    const rule = Object.hasOwn(rules, k) ? rules[k]! : tokens;
    const w = rule(v, r, depth + 1);
    if (w !== v) {
      out ??= { ...obj };
      // defineProperty: a JSON key "__proto__" is data, not the prototype.
      Object.defineProperty(out, k, {
        value: w,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out ?? obj;
}

/** A rule applying `rules` to an object's members (tokens to anything else). */
function members(rules: Record<string, Rule>): Rule {
  const table = ruleTable(rules);
  return (value, r, depth) => {
    if (!isObject(value) || depth >= MAX_DEPTH) return tokens(value, r, depth);
    return fields(value, r, depth, table);
  };
}

/** Rules by member name, without a prototype: a member named "constructor" has no rule. */
function ruleTable(rules: Record<string, Rule>): Readonly<Record<string, Rule>> {
  return Object.freeze(Object.assign(Object.create(null) as object, rules));
}

const meta = members({ progressToken: keep });

/** completion/complete's `argument` ({name, value}): the value is secret when its name is. */
const completionArgument: Rule = (value, r, depth) => {
  if (!isObject(value) || typeof value.name !== "string") return tokens(value, r, depth);
  const probe = { [value.name]: value.value };
  const redacted = r.redact(probe) as Obj;
  const v = redacted === probe ? value.value : redacted[value.name];
  return v === value.value ? value : { ...value, value: v };
};

/** Rules for a request's or notification's params, by method. */
const PARAMS: Record<string, Rule> = {
  "tools/call": members({ name: keep, arguments: args, _meta: meta }),
  "prompts/get": members({ name: keep, arguments: args, _meta: meta }),
  "completion/complete": members({
    argument: completionArgument,
    context: members({ arguments: args }),
    _meta: meta,
  }),
  "notifications/progress": members({ progressToken: keep, _meta: meta }),
  "notifications/cancelled": members({ requestId: keep, _meta: meta }),
};
const OTHER_PARAMS = members({ _meta: meta });

const TOOL = members({ name: keep });
const TOOL_LIST = members({
  tools: (v, r, depth) => {
    if (!Array.isArray(v) || depth >= MAX_DEPTH) return tokens(v, r, depth);
    let out: unknown[] | null = null;
    for (let i = 0; i < v.length; i++) {
      const t: unknown = v[i];
      const w = TOOL(t, r, depth + 1);
      if (w !== t) (out ??= v.slice())[i] = w;
    }
    return out ?? v;
  },
  _meta: meta,
});
const ELICITATION_ANSWER = members({ content: args, _meta: meta });
const OTHER_RESULT = members({ _meta: meta });

/**
 * An answer's result. Answers do not say what they answer, so the two that need rules of their
 * own are told by shape: a list of tools (names kept), an elicitation answer (`action` and a
 * `content` map of the human's input, read as arguments).
 */
const result: Rule = (value, r, depth) => {
  if (!isObject(value)) return tokens(value, r, depth);
  if (Array.isArray(value.tools)) return TOOL_LIST(value, r, depth);
  if (typeof value.action === "string" && isObject(value.content))
    return ELICITATION_ANSWER(value, r, depth);
  return OTHER_RESULT(value, r, depth);
};

/** A message's own members: params by its method, and the result of an answer. */
const top = (params: Rule): Readonly<Record<string, Rule>> =>
  ruleTable({ jsonrpc: keep, id: keep, method: keep, params, result });
const TOP: Record<string, Readonly<Record<string, Rule>>> = Object.fromEntries(
  Object.entries(PARAMS).map(([method, rule]) => [method, top(rule)]),
);

const TOP_OTHER = top(OTHER_PARAMS);

/**
 * The message as it may be recorded: secrets replaced by the redactor's markers (see the rules
 * at the top of this file). The message itself when nothing changed; otherwise a copy sharing
 * every unchanged subtree. Never changes its input.
 */
export function redactMessage(message: JSONRPCMessage, redactor: Redactor): JSONRPCMessage {
  if ((redactor as MaybeKeyed).enabled === false) return message;
  const m = message as unknown as Obj;
  const method = typeof m.method === "string" ? m.method : null;
  const rules = (method !== null && Object.hasOwn(TOP, method) && TOP[method]) || TOP_OTHER;
  return fields(m, redactor, 0, rules) as unknown as JSONRPCMessage;
}

/**
 * The first characters of a line that was turned away, with secret-looking values masked. The
 * line need not be JSON (nor whole), so it is read as JSON-ish tokens in one pass: each
 * `"key": value` pair (a string value cut off at the end counts too) is put to the redactor as
 * {key: value} and, when that hides something, written `"key":"$redacted"`; a string that still
 * holds a token shape is then redacted whole.
 */
export function redactHead(head: string, redactor: Redactor): unknown {
  if ((redactor as MaybeKeyed).enabled === false) return head;
  let masked = "";
  let copied = 0;
  let i = 0;
  while (i < head.length) {
    if (head[i] !== '"') {
      i++;
      continue;
    }
    const keyEnd = stringEnd(head, i);
    if (keyEnd < 0) break;
    let j = skipSpace(head, keyEnd);
    if (head[j] !== ":") {
      i = keyEnd;
      continue;
    }
    j = skipSpace(head, j + 1);
    let valueEnd: number;
    if (head[j] === '"') {
      const e = stringEnd(head, j);
      valueEnd = e < 0 ? head.length : e;
    } else {
      valueEnd = j;
      while (valueEnd < head.length && /[-+.\w]/.test(head[valueEnd]!)) valueEnd++;
      if (valueEnd === j) {
        i = keyEnd;
        continue;
      }
    }
    const key = head.slice(i + 1, keyEnd - 1);
    const value = head.slice(j, valueEnd);
    const name = parseOr(`"${key}"`, key);
    if (typeof name === "string") {
      const probe = { [name]: parseOr(value, value.startsWith('"') ? value.slice(1) : value) };
      if (redactor.redact(probe) !== probe) {
        masked += `${head.slice(copied, i)}"${key}":"$redacted"`;
        copied = valueEnd;
      }
    }
    i = valueEnd;
  }
  masked += head.slice(copied);
  return redactor.redact(masked);
}

/** The index past the closing quote of the string opening at i, or -1 when it is cut off. */
function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === "\\") j++;
    else if (s[j] === '"') return j + 1;
  }
  return -1;
}

function skipSpace(s: string, i: number): number {
  let j = i;
  while (j < s.length && /\s/.test(s[j]!)) j++;
  return j;
}

function parseOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}

/**
 * The text of the elicitation that asks a human to approve a call, built from the redacted
 * arguments: the prompt goes to the agent's client and into the recording, so it must carry no
 * more than the recording would. A redacted value shows as `‹redacted 1a2b3c4d›` (the start of
 * its hash, as the browser shows it: equal secrets look equal); one cut for size as
 * `‹truncated›`.
 */
export function approvalPrompt(
  tool: string,
  reason: string | null | undefined,
  args: unknown,
  redactor: Redactor,
): string {
  const shown = JSON.stringify(redactor.redact(args ?? {}), (_key, v: unknown) => {
    if (typeof v !== "object" || v === null || !isMarker(v)) return v;
    const m = v as { $redacted?: string };
    if (m.$redacted === undefined) return "‹truncated›";
    const tail = m.$redacted.slice(m.$redacted.indexOf(":") + 1);
    return `‹redacted ${tail.slice(0, 8)}›`;
  });
  return `Allow the agent to call ${tool}?${reason ? ` (${reason})` : ""}\n${shown}`;
}
