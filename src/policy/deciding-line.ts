import { findNodeAtLocation, parseTree } from "jsonc-parser";
import { lineStarts, position } from "./load.js";

/**
 * The 1-based line of a policy's text that decided a call, from the call's identity and the
 * decision's rule and code; null when the text has no such place.
 */
export type DecidingLineOf = (identity: string, rule: string | null, code: string) => number | null;

/**
 * Finds, in a policy's text, the line of what decided a call: the matched rule's key (in the
 * identity's grant first, as SPEC section 3 looks), the `hide` list for a hidden tool, or the
 * `default` for a defaulted one. Parses the text once, on first use; memoises per identity and
 * rule, since a report asks about few distinct ones.
 */
export function decidingLines(text: string): DecidingLineOf {
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
  return (identity, rule, code) => {
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
