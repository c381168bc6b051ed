import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  type Node as JsonNode,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from "jsonc-parser";
import type * as z from "zod";
import { type Fault, PolicyError } from "../errors.js";
import { invalidUtf8Offset, NESTING_MESSAGE, nestingOverflow, utf8Position } from "./input.js";
import { KNOWN_KEYS, OPS, type Policy, PolicySchema } from "./schema.js";
import { didYouMean } from "./suggest.js";

/** A validated policy together with where it came from. */
export interface LoadedPolicy {
  file: string;
  /** The file's text exactly as read; its hash identifies the policy in recordings. */
  text: string;
  /** sha256 of `text`, hex. */
  hash: string;
  policy: Policy;
}

/** Read and validate a policy file; throws PolicyError listing every fault found. */
export function loadPolicyFile(file: string): LoadedPolicy {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new PolicyError(file, [
      { path: "", message: `cannot read the file (${describeIoError(err)})` },
    ]);
  }
  return parsePolicyText(
    decodeUtf8(bytes, (f) => new PolicyError(file, f)),
    file,
  );
}

/**
 * The text of UTF-8 `bytes`; invalid UTF-8 is thrown, as `fail` makes it, at its line and
 * column, where a lenient decoder would silently put U+FFFD in its place.
 */
export function decodeUtf8(bytes: Buffer, fail: (faults: Fault[]) => Error): string {
  const bad = invalidUtf8Offset(bytes);
  if (bad >= 0) {
    throw fail([{ path: "", message: "invalid UTF-8", ...utf8Position(bytes, bad) }]);
  }
  return bytes.toString("utf8");
}

/** Validate policy text (named `file` in messages); throws PolicyError listing every fault. */
export function parsePolicyText(text: string, file = "<policy>"): LoadedPolicy {
  const hash = createHash("sha256").update(text).digest("hex");
  const doc = readJsonDocument(text, (f) => new PolicyError(file, f));
  const { value, faults } = doc;
  const result = PolicySchema.safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) {
      faults.push(...issueToFaults(issue, value, doc.tree, doc.lines));
    }
  }
  if (faults.length > 0 || !result.success) {
    dropEchoedMissingKeys(faults);
    faults.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new PolicyError(file, faults);
  }
  return { file, text, hash, policy: result.data };
}

type Segment = string | number;

/** A JSON document read for validation: its tree, its value, and the key faults found so far. */
export interface JsonDocument {
  lines: number[];
  /** Built when first read: only a fault needs to be located. */
  readonly tree: JsonNode;
  value: unknown;
  /** Duplicate and forbidden keys, located; the caller adds its schema's faults. */
  faults: Fault[];
}

/**
 * Parse strict JSON (no comments, no trailing commas; a BOM is skipped) for validation; an empty
 * file or a syntax error is thrown, as `fail` makes it, with its line and column.
 */
export function readJsonDocument(text: string, fail: (faults: Fault[]) => Error): JsonDocument {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = lineStarts(body);
  if (body.trim() === "") {
    throw fail([{ path: "", message: "not valid JSON: the file is empty", line: 1, column: 1 }]);
  }
  // Before anything recursive reads it: JSON.parse does not mind depth, the walks after it do.
  const deep = nestingOverflow(body);
  if (deep >= 0) throw fail([{ path: "", message: NESTING_MESSAGE, ...position(lines, deep) }]);
  // Most documents are valid, and need no tree unless the schema finds a fault: JSON.parse,
  // and a count of the keys in the text against those in the value to rule out a duplicate
  // (JSON.parse keeps the last), is a tenth of what building the tree costs (about 25 ms of
  // each replay's start for the benchmark's 200-rule policy, measured).
  const value = parseWithoutDuplicates(body);
  if (value !== NOT_PLAIN) {
    let tree: JsonNode | undefined;
    return {
      lines,
      get tree() {
        return (tree ??= parseTree(body, [], { disallowComments: true })!);
      },
      value,
      faults: [],
    };
  }
  const syntaxErrors: ParseError[] = [];
  const tree = parseTree(body, syntaxErrors, {
    disallowComments: true,
    allowTrailingComma: false,
    allowEmptyContent: false,
  });
  if (syntaxErrors.length > 0 || tree === undefined) {
    // Only the first: after a syntax error the parser's later complaints are mostly echoes.
    const first: ParseError = syntaxErrors[0] ?? { error: 1, offset: 0, length: 0 };
    throw fail([syntaxFault(body, lines, first)]);
  }
  const faults: Fault[] = keyFaults(tree).map(({ node, message }) => ({
    path: formatPath(pathOf(node)),
    message,
    ...position(lines, node.offset),
  }));
  return { lines, tree, value: JSON.parse(body) as unknown, faults };
}

const NOT_PLAIN = Symbol("not plain");

/**
 * The value of valid JSON text in which no object repeats a key and none is named __proto__,
 * else NOT_PLAIN (invalid text too): such text goes the long way, which says where and why.
 */
function parseWithoutDuplicates(body: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return NOT_PLAIN;
  }
  // In valid JSON, a key is a string followed by a colon; a string is skipped whole.
  let inText = 0;
  for (let i = 0; i < body.length; i++) {
    if (body.charCodeAt(i) !== 0x22) continue;
    for (i++; body.charCodeAt(i) !== 0x22; i++) if (body.charCodeAt(i) === 0x5c) i++;
    let j = i + 1;
    while (j < body.length && " \t\r\n".includes(body[j]!)) j++;
    if (body.charCodeAt(j) === 0x3a) inText++;
  }
  let inValue = 0;
  let proto = false;
  const count = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) count(x);
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        inValue++;
        if (k === "__proto__") proto = true;
        count(x);
      }
    }
  };
  count(value);
  return inText === inValue && !proto ? value : NOT_PLAIN;
}

/**
 * Where JSON paths sit in policy text: a function from a path to its 1-based line and column
 * (of the key, with `onKey`, else of the value); neither when the path is not in the text.
 */
export function policyLocator(
  text: string,
): (path: readonly Segment[], onKey?: boolean) => { line?: number; column?: number } {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const tree = parseTree(body, [], { disallowComments: true });
  const lines = lineStarts(body);
  return (path, onKey = false) => (tree ? locate(tree, [...path], lines, onKey) : {});
}

function issueToFaults(
  issue: z.core.$ZodIssue,
  root: unknown,
  tree: JsonNode,
  lines: number[],
): Fault[] {
  const path = issue.path.filter((p): p is Segment => typeof p !== "symbol");
  const at = (p: Segment[], onKey = false) => locate(tree, p, lines, onKey);

  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(path);
    return issue.keys.map((key) => ({
      path: formatPath([...path, key]),
      message: `unknown key${didYouMean(key, known)}`,
      ...at([...path, key], true),
    }));
  }

  if (issue.code === "invalid_key") {
    const why = issue.issues.map((i) => i.message).join("; ");
    return [{ path: formatPath(path), message: why, ...at(path, true) }];
  }

  const found = valueAt(root, path);
  if (found === MISSING) {
    const key = path[path.length - 1];
    return [
      {
        path: formatPath(path),
        message: `missing required key "${String(key)}"`,
        ...at(path.slice(0, -1)),
      },
    ];
  }

  let message = issue.message;
  if (issue.code === "invalid_union" && "discriminator" in issue && issue.discriminator === "op") {
    message = `${message}, not ${describe(found)}${didYouMean(found, OPS)}`;
  } else if (issue.code === "invalid_value") {
    // With a single allowed value the message already names it; a suggestion adds nothing.
    const options = issue.values.length > 1 ? issue.values.map(String) : [];
    message = `${message}, not ${describe(found)}${didYouMean(found, options)}`;
  } else if (issue.code === "invalid_union") {
    const names = issue.errors
      .flat()
      .flatMap((e) => (e.code === "invalid_value" ? e.values.map(String) : []));
    message = `${message}, not ${describe(found)}${didYouMean(found, names)}`;
  } else if (issue.code !== "custom") {
    message = `${message}, not ${describe(found)}`;
  } else {
    message = `${describe(found)} ${message}`;
  }
  return [{ path: formatPath(path), message, ...at(path) }];
}

/** Which keys the object at `path` accepts, judged from the path's shape. */
function knownKeysAt(path: Segment[]): readonly string[] {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (path.length === 0) return KNOWN_KEYS.policy;
  if (path.length === 2 && path[0] === "grants") return KNOWN_KEYS.grant;
  if (parent === "tools") return KNOWN_KEYS.rule;
  if (last === "rate_limit") return KNOWN_KEYS.rate_limit;
  if (parent === "limits") return KNOWN_KEYS.limit;
  if (parent === "deny_if" || parent === "require") return KNOWN_KEYS.condition;
  return [];
}

/** What valueAt() finds where a key is not there. */
export const MISSING = Symbol("missing");

/** The value at `path` in parsed JSON, own keys only (never a prototype's); else MISSING. */
export function valueAt(root: unknown, path: readonly Segment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, seg)) return MISSING;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** A short, quoted rendering of a found value for messages. */
export function describe(value: unknown): string {
  if (value === MISSING || value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string")
    return JSON.stringify(value.length > 40 ? value.slice(0, 37) + "..." : value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** `tools.fleet_*.limits[0].window`; keys that would read ambiguously are bracket-quoted. */
export function formatPath(path: readonly Segment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z0-9_$*?-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The line and column of the value (or, with onKey, the key) at `path`; {} when absent. */
export function locate(
  tree: JsonNode,
  path: Segment[],
  lines: number[],
  onKey: boolean,
): { line?: number; column?: number } {
  const node = nodeAt(tree, path);
  if (!node) return {};
  const keyNode = onKey && node.parent?.type === "property" ? node.parent.children?.[0] : undefined;
  return position(lines, (keyNode ?? node).offset);
}

/** The JSON path (keys and indexes) from the document's root to `node`. */
function pathOf(node: JsonNode): Segment[] {
  const path: Segment[] = [];
  let cur: JsonNode | undefined = node;
  while (cur?.parent) {
    const parent: JsonNode = cur.parent;
    if (parent.type === "property") {
      const key = parent.children?.[0]?.value;
      if (typeof key === "string") path.unshift(key);
      cur = parent.parent;
    } else if (parent.type === "array") {
      path.unshift(parent.children?.indexOf(cur) ?? 0);
      cur = parent;
    } else {
      cur = parent;
    }
  }
  return path;
}

/**
 * The value node at `path`. Where a key repeats, the last one wins, as in JSON.parse, so a
 * fault in the value that was actually checked points at that value.
 */
function nodeAt(tree: JsonNode, path: Segment[]): JsonNode | undefined {
  let cur: JsonNode | undefined = tree;
  for (const seg of path) {
    if (!cur) return undefined;
    if (cur.type === "array" && typeof seg === "number") {
      cur = cur.children?.[seg];
    } else if (cur.type === "object") {
      let found: JsonNode | undefined;
      for (const prop of cur.children ?? []) {
        if (prop.children?.[0]?.value === String(seg)) found = prop.children[1];
      }
      cur = found;
    } else {
      return undefined;
    }
  }
  return cur;
}

/**
 * Faults in the keys themselves: a repeated key (JSON.parse would silently keep the last), and
 * "__proto__", which JavaScript objects cannot hold as a plain name (it would vanish).
 */
function keyFaults(node: JsonNode): { node: JsonNode; message: string }[] {
  const out: { node: JsonNode; message: string }[] = [];
  const visit = (n: JsonNode): void => {
    if (n.type === "object") {
      const seen = new Set<string>();
      for (const prop of n.children ?? []) {
        const keyNode = prop.children?.[0];
        const key = keyNode?.value;
        if (typeof key === "string" && keyNode) {
          if (key === "__proto__") {
            out.push({ node: keyNode, message: 'the name "__proto__" is not allowed' });
          } else if (seen.has(key)) {
            out.push({
              node: keyNode,
              message: "duplicate key (JSON would silently keep only the last one)",
            });
          }
          seen.add(key);
        }
      }
    }
    for (const child of n.children ?? []) visit(child);
  };
  visit(node);
  return out;
}

/**
 * A misspelt required key shows up twice: as unknown (with "did you mean") and as missing.
 * Keep the first, which says both what is wrong and how to fix it.
 */
function dropEchoedMissingKeys(faults: Fault[]): void {
  const suggested = new Set<string>();
  for (const f of faults) {
    const m = /did you mean "([^"]+)"\?$/.exec(f.message);
    if (m && f.message.startsWith("unknown key")) {
      const parent = f.path.replace(/(\.[^.[]+|\[[^\]]+\])$/, "");
      suggested.add(formatPath([]) + (parent ? `${parent}.` : "") + m[1]);
    }
  }
  for (let i = faults.length - 1; i >= 0; i--) {
    const f = faults[i]!;
    if (f.message.startsWith("missing required key") && suggested.has(f.path)) faults.splice(i, 1);
  }
}

/** Offsets at which each line of `text` starts, for position(). */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** 1-based line and column of `offset`, given lineStarts(). */
export function position(starts: number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

const SYNTAX: Record<string, string> = {
  InvalidSymbol: "unexpected character",
  InvalidNumberFormat: "malformed number",
  PropertyNameExpected: 'expected a property name in double quotes (or "}")',
  ValueExpected: "expected a value",
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: "unexpected content after the end of the document",
  InvalidCommentToken: "comments are not allowed in JSON",
  UnexpectedEndOfComment: "unterminated comment",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "malformed number",
  InvalidUnicode: "invalid \\u escape",
  InvalidEscapeCharacter: "invalid escape character",
  InvalidCharacter: "invalid character in string",
};

/** A jsonc-parser syntax error as a located, plainly worded fault. */
function syntaxFault(body: string, lines: number[], e: ParseError): Fault {
  const code = printParseErrorCode(e.error);
  // A comma right before a closing bracket is the commonest slip; say so, at the comma.
  if (code === "PropertyNameExpected" || code === "ValueExpected") {
    let i = e.offset - 1;
    while (i >= 0 && /\s/.test(body[i]!)) i--;
    const next = body[e.offset];
    if (body[i] === "," && (next === "}" || next === "]")) {
      return {
        path: "",
        message: `not valid JSON: trailing comma before "${next}"`,
        ...position(lines, i),
      };
    }
  }
  return {
    path: "",
    message: `not valid JSON: ${SYNTAX[code] ?? code}`,
    ...position(lines, e.offset),
  };
}

export function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOENT") return "no such file";
  if (e?.code === "EACCES") return "permission denied";
  if (e?.code === "EISDIR") return "it is a directory";
  return e?.message ?? String(err);
}
