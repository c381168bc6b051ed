import { findNodeAtLocation, type Node, parseTree } from "jsonc-parser";
import { compileGlob } from "../../engine/glob.js";
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

/**
 * Finds, in a policy's text, the `hide` entry that hides a tool from an identity: the first
 * pattern that matches it in the identity's grant, then at the top level; else the `hide` list
 * itself (for a tool it no longer hides); else null. Whether the tool is hidden is the engine's
 * to say: this only points a reader at the line.
 */
export function hideLines(text: string): (identity: string, tool: string) => number | null {
  let parsed: { tree: Node | undefined; lines: number[] } | null = null;
  const memo = new Map<string, number | null>();
  return (identity, tool) => {
    const key = `${identity}\u0000${tool}`;
    if (memo.has(key)) return memo.get(key)!;
    parsed ??= { tree: parseTree(text), lines: lineStarts(text) };
    const { tree, lines } = parsed;
    let line: number | null = null;
    if (tree) {
      const lists = [
        findNodeAtLocation(tree, ["grants", identity, "hide"]),
        findNodeAtLocation(tree, ["hide"]),
      ].filter((l): l is Node => l !== undefined && l.type === "array");
      const entry = lists
        .flatMap((l) => l.children ?? [])
        .find((e) => typeof e.value === "string" && compileGlob(e.value).test(tool));
      const at = entry ?? lists[0]?.parent;
      if (at) line = position(lines, at.offset).line;
    }
    memo.set(key, line);
    return line;
  };
}
