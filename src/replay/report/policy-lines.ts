import { decidingLines } from "../../policy/deciding-line.js";
import { findNodeAtLocation, type Node, parseTree } from "jsonc-parser";
import { compileGlob } from "../../engine/glob.js";
import { lineStarts, position } from "../../policy/load.js";
import type { CallResult } from "../replay.js";

/** Where in the candidate policy the decision of a result was made: a 1-based line, or null. */
export type PolicyLineOf = (r: CallResult) => number | null;

/**
 * The line of the candidate policy's text that decided each result (see decidingLines): the
 * rule's key, the `hide` list or the `default`, in the identity's grant first.
 */
export function policyLines(text: string): PolicyLineOf {
  const lineOf = decidingLines(text);
  return (r) => lineOf(r.source.call.identity, r.after.rule, r.after.code);
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
