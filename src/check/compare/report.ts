import { policyLocator } from "../../policy/load.js";
import type { Policy } from "../../policy/schema.js";
import {
  CLASS_ORDER,
  type CompareResult,
  type ExampleCall,
  type Finding,
  type FindingClass,
  type Outcome,
} from "./types.js";

// compare's reports: text for people, JSON for programs, Markdown for pull requests. JUnit and
// GitHub annotations are made from these same pieces by the command line.

export interface CompareContext {
  /** The policies as the user named them. */
  newFile: string;
  oldFile: string;
  newText: string;
  newPolicy: Policy;
}

export const CLASS_WORDS: Record<FindingClass, string> = {
  newly_allowed: "newly allowed",
  newly_approvable: "newly approvable",
  newly_visible: "newly visible",
  arguments_allowed: "arguments newly allowed",
  limits_loosened: "limits loosened",
};

/** NEW grants access OLD did not, or the comparison could not rule it out: the gate fails. */
export const gateFails = (r: CompareResult): boolean =>
  r.findings.length > 0 || r.undecided.length > 0;

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** One line saying what the comparison found. */
export function headline(r: CompareResult): string {
  const over = `over ${plural(r.identities.length, "identity", "identities")} and ${plural(r.tools, "tool name")}`;
  if (r.findings.length === 0 && r.undecided.length === 0) {
    return `No new access: NEW allows nothing that OLD did not, ${over}.`;
  }
  const counts = CLASS_ORDER.map(
    (c) => [c, r.findings.filter((f) => f.class === c).length] as const,
  )
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `${n} ${CLASS_WORDS[c]}`);
  const parts = [];
  if (r.findings.length > 0) {
    parts.push(`New access: ${plural(r.findings.length, "finding")} (${counts.join(", ")})`);
  }
  if (r.undecided.length > 0) {
    parts.push(`${plural(r.undecided.length, "call")} could not be decided`);
  }
  return `${parts.join("; ")}, ${over}.`;
}

export const outcomeWords = (o: Outcome): string =>
  `${o.decision} (${o.code}${o.rule !== null ? `, rule ${o.rule}` : ""})`;

export function identityWords(f: Pick<Finding, "identity" | "other_identity">): string {
  return f.other_identity ? `${f.identity} (any identity no grant names)` : f.identity;
}

export function toolWords(f: Pick<Finding, "tool" | "generated_tool" | "patterns">): string {
  if (!f.generated_tool) return f.tool;
  if (f.patterns.length === 0) return `${f.tool} (any tool no pattern matches)`;
  return `${f.tool} (any tool matched by ${f.patterns.join(", ")} and no other pattern)`;
}

/** The 1-based line of NEW's rule, hide list or default that decides the finding's call. */
export function policyLineOf(ctx: CompareContext): (f: Finding) => number | null {
  const at = policyLocator(ctx.newText);
  const grants = ctx.newPolicy.grants ?? {};
  return (f) => {
    const inGrant = Object.hasOwn(grants, f.identity);
    const grant = inGrant ? grants[f.identity] : undefined;
    const key = (path: (string | number)[]) => at(path, true).line ?? null;
    const { rule, code } = f.new;
    if (rule !== null) {
      if (grant?.tools && Object.hasOwn(grant.tools, rule)) {
        return key(["grants", f.identity, "tools", rule]);
      }
      return key(["tools", rule]);
    }
    if (code.startsWith("default_")) {
      return (
        (grant?.default !== undefined ? key(["grants", f.identity, "default"]) : null) ??
        key(["default"])
      );
    }
    if (code === "hidden")
      return (inGrant ? key(["grants", f.identity, "hide"]) : null) ?? key(["hide"]);
    return null;
  };
}

/** An example's calls, a run of equal calls at one time written once with its count. */
export function exampleLines(example: readonly ExampleCall[], decisive: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < example.length;) {
    const c = example[i]!;
    const args = JSON.stringify(c.arguments);
    let j = i + 1;
    while (
      j < example.length &&
      j !== decisive &&
      i !== decisive &&
      example[j]!.offset_ms === c.offset_ms &&
      example[j]!.session === c.session &&
      example[j]!.tool === c.tool &&
      JSON.stringify(example[j]!.arguments) === args
    ) {
      j++;
    }
    const n = j - i;
    const mark = i === decisive ? "  <- OLD refuses this one" : "";
    out.push(
      `+${c.offset_ms}ms  ${c.session}  ${c.identity} calls ${c.tool} ${args}${n > 1 ? ` x${n}` : ""}${mark}`,
    );
    i = j;
  }
  return out;
}

/** A finding in a few lines of plain text. */
export function findingText(f: Finding, line: number | null, ctx: CompareContext): string[] {
  const lines = [
    `${CLASS_WORDS[f.class]}: ${identityWords(f)} -> ${toolWords(f)}`,
    `  OLD: ${outcomeWords(f.old)}`,
    `  NEW: ${outcomeWords(f.new)}${line !== null ? `  (${ctx.newFile}:${line})` : ""}`,
  ];
  for (const l of f.limits ?? []) lines.push(`  ${l}`);
  if (f.example.length === 1) {
    const c = f.example[0]!;
    const args = f.any_arguments ? "any arguments" : JSON.stringify(c.arguments);
    lines.push(`  example: ${c.identity} calls ${c.tool} with ${args}`);
  } else {
    lines.push(
      `  example: ${f.example.length} calls, all allowed by NEW; OLD refuses call ${f.decisive + 1}:`,
    );
    for (const l of exampleLines(f.example, f.decisive)) lines.push(`    ${l}`);
  }
  return lines;
}

export function textReport(ctx: CompareContext, r: CompareResult): string {
  const lineOf = policyLineOf(ctx);
  const out = [`Compared ${ctx.newFile} (NEW) with ${ctx.oldFile} (OLD).`, headline(r)];
  for (const f of r.findings) out.push("", ...findingText(f, lineOf(f), ctx));
  for (const u of r.undecided) {
    out.push("", `could not decide: ${u.identity} -> ${u.tool}`, `  ${u.why}`);
  }
  if (!r.tools_complete) {
    out.push("", "note: the search over tool names stopped early; some names may be unexamined.");
  }
  out.push(
    "",
    gateFails(r)
      ? "Gate: failed (NEW grants new access, or it could not be ruled out)."
      : "Gate: passed.",
  );
  return out.join("\n") + "\n";
}

export function jsonReport(ctx: CompareContext, r: CompareResult): string {
  const lineOf = policyLineOf(ctx);
  return (
    JSON.stringify(
      {
        new_policy: ctx.newFile,
        old_policy: ctx.oldFile,
        new_access: r.findings.length > 0,
        gate_failed: gateFails(r),
        summary: headline(r),
        identities: r.identities,
        tools: r.tools,
        tools_complete: r.tools_complete,
        seed: r.seed,
        findings: r.findings.map((f) => ({ ...f, new_policy_line: lineOf(f) })),
        undecided: r.undecided,
      },
      null,
      2,
    ) + "\n"
  );
}

const md = (s: string): string => s.replace(/[|\\`*_[\]<>]/g, (c) => `\\${c}`);

export function markdownReport(ctx: CompareContext, r: CompareResult): string {
  const lineOf = policyLineOf(ctx);
  const out = [`### policy-replay compare`, "", md(headline(r)), ""];
  if (r.findings.length > 0) {
    out.push(
      "| finding | identity | tool | OLD | NEW | example |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const f of r.findings) {
      const line = lineOf(f);
      const ex =
        f.example.length === 1
          ? f.any_arguments
            ? "any arguments"
            : JSON.stringify(f.example[0]!.arguments)
          : `${f.example.length} calls; OLD refuses call ${f.decisive + 1}`;
      out.push(
        `| ${CLASS_WORDS[f.class]} | ${md(identityWords(f))} | ${md(toolWords(f))} | ${md(outcomeWords(f.old))} | ${md(outcomeWords(f.new))}${line !== null ? ` (line ${line})` : ""} | ${md(ex)} |`,
      );
    }
    out.push("");
  }
  for (const u of r.undecided)
    out.push(`- could not decide: ${md(u.identity)} -> ${md(u.tool)}: ${md(u.why)}`);
  if (r.undecided.length > 0) out.push("");
  out.push(gateFails(r) ? "**Gate: failed.**" : "**Gate: passed.**");
  return out.join("\n") + "\n";
}
