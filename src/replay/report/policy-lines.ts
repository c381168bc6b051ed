import { findNodeAtLocation, parseTree } from "jsonc-parser";
import { lineStarts, position } from "../../policy/load.js";
import type { CallResult } from "../replay.js";

/** Where in the candidate policy the decision of a result was made: a 1-based line, or null. */
export type PolicyLineOf = (r: CallResult) => number | null;

/**
 * Finds, in a policy's text, the line of what decided a call: the matched rule's key (in the
 * identity's grant first, as SPEC section 3 looks), the `hide` list for a hidden tool, or the
 * `default` for a defaulted one. Parses the text once, on first use; memoises per identity and
 * rule, since a report asks about few distinct ones.
 */
export function policyLines(text: string): PolicyLineOf {
  let parsed: { tree: ReturnType<typeof parseTree>; lines: number[] } | null = null;
  const memo = new Map<string, number | null>();
  const lineAt = (path: string[], onKey: boolean): number | null => {
    parsed ??= { tree: parseTree(text), lines: lineStarts(text) };
    if (!parsed.tree) return null;
    const node = findNodeAtLocation(parsed.tree, path);
    if (!node) return null;
    const at = onKey && node.parent?.type === "property" ? node.parent : node;
    return position(parsed.lines, at.offset).line;
  };
  return (r) => {
    const identity = r.source.call.identity;
    const { rule, code } = r.after;
    const key = `${identity}\u0000${rule ?? ""}\u0000${code}`;
    if (memo.has(key)) return memo.get(key)!;
    let line: number | null = null;
    if (rule !== null) {
      line = lineAt(["grants", identity, "tools", rule], true) ?? lineAt(["tools", rule], true);
    } else if (code === "hidden") {
      line = lineAt(["grants", identity, "hide"], true) ?? lineAt(["hide"], true);
    } else if (code.startsWith("default_")) {
      line = lineAt(["grants", identity, "default"], true) ?? lineAt(["default"], true);
    }
    memo.set(key, line);
    return line;
  };
}
