import type { CheckResult, Finding, FindingKind } from "./analyze.js";
import type { Evidence } from "./evidence.js";
import type { CountersKept } from "./shared-state.js";
import type { PolicyIndex, RuleRef } from "./policy-index.js";
import { describeRef } from "./policy-index.js";

/** What a report says about the run besides the findings. */
export interface CheckContext {
  /** The policy file as the user named it. */
  policy: string;
  index: PolicyIndex;
  /** Null when there was no recording to check against. */
  evidence: Evidence | null;
  /** Why there is no recording, for the text report. */
  noRecording: string | null;
}

/** Counts of findings by severity and kind, and whether --strict fails the run. */
export interface CheckSummary {
  warnings: number;
  notes: number;
  by_kind: Record<FindingKind, number>;
  strict: boolean;
  failed: boolean;
}

/** Tally the findings; with `strict`, any warning fails the run. */
export function summarize(result: CheckResult, strict: boolean): CheckSummary {
  const by_kind: Record<FindingKind, number> = {
    unreached_rule: 0,
    unseen_identity: 0,
    shadowed_rule: 0,
    unnamed_tool: 0,
    unlisted_call: 0,
    unshared_counters: 0,
    overridden_rule: 0,
  };
  let warnings = 0;
  let notes = 0;
  for (const f of result.findings) {
    by_kind[f.kind]++;
    if (f.severity === "warning") warnings++;
    else notes++;
  }
  return { warnings, notes, by_kind, strict, failed: strict && warnings > 0 };
}

/** The machine-readable report: one JSON document. */
export function jsonReport(ctx: CheckContext, result: CheckResult, summary: CheckSummary): string {
  const ev = ctx.evidence;
  const doc = {
    policy: ctx.policy,
    valid: true,
    recordings: ev?.recordings ?? [],
    scope: ev
      ? {
          calls: ev.calls,
          sessions: ev.sessions,
          identities: [...ev.identities].sort(),
          tools_list_answers: ev.answers,
          listed_tools: ev.listed.size,
          known_tools: new Set([...ev.listed.keys(), ...ev.called]).size,
          unjudged_calls: ev.unjudged.calls,
          unjudged_sessions: ev.unjudged.sessions,
        }
      : null,
    defaults: result.defaults,
    findings: result.findings,
    rules: result.tallies.map(({ rule, tally }) => ({ rule, ...tally })),
    summary,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

const plural = (n: number, word: string, words = `${word}s`): string =>
  `${n} ${n === 1 ? word : words}`;

const TITLES: Record<FindingKind, string> = {
  unreached_rule: "Rules that no recorded call reached",
  unseen_identity: "Grants whose identity never appears in the recordings",
  shadowed_rule: "Rules that can never win",
  unnamed_tool: "Listed tools that the policy never names",
  unlisted_call: "Calls of tools that their session's server never listed",
  unshared_counters: "Grant and global limits counted by proxies that did not share counters",
  overridden_rule: "Notes: top-level rules that a grant takes over for its identity",
};

/** The report for people: what was checked, then the findings grouped by kind. */
export function textReport(ctx: CheckContext, result: CheckResult, summary: CheckSummary): string {
  const out: string[] = [];
  const ev = ctx.evidence;
  const where = (r: { line: number | null; column: number | null }): string =>
    r.line === null ? ctx.policy : `${ctx.policy}:${r.line}:${r.column ?? 1}`;
  const at = (r: RuleRef): string => `${describeRef(r)} (${r.line ?? "?"}:${r.column ?? "?"})`;

  const rules = ctx.index.refs.filter((r) => r.kind === "rule").length;
  const hides = ctx.index.refs.length - rules;
  out.push(
    `${ctx.policy}: valid — ${plural(rules, "rule")}, ${plural(hides, "hide entry", "hide entries")}, ${plural(ctx.index.grants.length, "grant")}`,
  );
  if (ev) {
    const known = new Set([...ev.listed.keys(), ...ev.called]).size;
    out.push(
      `Checked against ${ev.recordings.join(", ")}: ${plural(ev.calls, "call")} in ${plural(ev.sessions, "session")} ` +
        `(identities: ${[...ev.identities].sort().join(", ") || "none"}); ` +
        `${plural(ev.answers, "tools/list answer")} listing ${plural(ev.listed.size, "tool")}; ${plural(known, "known tool")}.`,
    );
  } else {
    out.push(`${ctx.noRecording ?? "No recording"}: only the policy itself was checked.`);
  }

  const defaults = defaultsText(result);

  const groups = new Map<FindingKind, Finding[]>();
  for (const f of result.findings) {
    const g = groups.get(f.kind);
    if (g) g.push(f);
    else groups.set(f.kind, [f]);
  }

  for (const [kind, findings] of groups) {
    out.push("", `${TITLES[kind]} (${findings.length})`);
    if (kind === "unnamed_tool") {
      const caught = findings.some((f) => f.kind === "unnamed_tool" && f.caught_by.length > 0);
      out.push(
        `  (they get the default: ${defaults}${caught ? "; but where it says so, a catch-all rule takes them" : ""})`,
      );
    }
    if (kind === "unshared_counters") {
      for (const f of findings) if (f.kind === kind) out.push(...unshared(f, where, at));
      continue;
    }
    if (kind === "overridden_rule") {
      out.push(...overrides(findings, ctx, where));
      continue;
    }
    for (const f of findings) {
      switch (f.kind) {
        case "unreached_rule": {
          const why = unreachedWhy(f) + (f.reason === "shadowed" ? " (see below)" : "");
          out.push(`  ${where(f.rule)}: ${describeRef(f.rule)}: ${why}`);
          break;
        }
        case "unseen_identity":
          out.push(
            `  ${where(f.grant)}: grant ${f.grant.identity}: no session has this identity; ` +
              `its ${plural(f.grant.entries, "rule or hide entry", "rules and hide entries")} went unexercised`,
          );
          break;
        case "shadowed_rule":
          if (f.certainty === "certain") {
            out.push(
              `  ${where(f.rule)}: ${describeRef(f.rule)}: every name it matches goes first to ${f.by.map(at).join(", ")}`,
            );
          } else {
            out.push(
              `  ${where(f.rule)}: ${describeRef(f.rule)}: wins none of the ${plural(f.tools?.length ?? 0, "known tool")} it matches:`,
            );
            for (const t of f.tools ?? []) out.push(`      ${t.tool} -> ${takenBy(t.by, at)}`);
          }
          break;
        case "unnamed_tool": {
          const fate =
            f.caught_by.length > 0 ? `; taken by catch-all ${f.caught_by.map(at).join(", ")}` : "";
          out.push(
            `  ${f.tool}: listed in ${plural(f.sessions, "session")} by ${f.servers.join(", ")}${fate}`,
          );
          break;
        }
        case "unlisted_call": {
          const codes = Object.entries(f.codes)
            .map(([code, n]) => `${code} x${n}`)
            .join(", ");
          out.push(
            `  ${f.tool}: ${plural(f.calls, "call")} in ${plural(f.sessions, "session")} ` +
              `(${f.identities.join(", ")}; server ${f.servers.join(", ")}); decided ${codes}`,
          );
          break;
        }
      }
    }
    if (kind === "unlisted_call" && ev && ev.unjudged.calls > 0) {
      out.push(
        `  (${plural(ev.unjudged.calls, "call")} in ${plural(ev.unjudged.sessions, "session")} without a tools/list answer to judge by were not judged)`,
      );
    }
  }

  out.push("");
  if (summary.warnings + summary.notes === 0) out.push("No findings.");
  else
    out.push(
      `${plural(summary.warnings, "warning")}, ${plural(summary.notes, "note")}.` +
        (summary.failed ? " --strict: FAIL." : ""),
    );
  return out.join("\n") + "\n";
}

/** What each viewer's default is: the top level's, then grants' where theirs differs. */
function defaultsText(result: CheckResult): string {
  const top = result.defaults.find((d) => d.grant === null)?.action ?? "deny";
  return [
    top,
    ...result.defaults
      .filter((d) => d.grant !== null && d.action !== top)
      .map((d) => `grant ${d.grant}: ${d.action}`),
  ].join("; ");
}

/** Why an unreached rule was not reached. */
function unreachedWhy(f: Extract<Finding, { kind: "unreached_rule" }>): string {
  if (f.reason === "shadowed") return "it can never win";
  if (f.reason === "no_known_tool") return "it matches no tool that was listed or called";
  if (f.rule.kind === "hide")
    return `it hides ${f.would_decide.join(", ")}, but no session it applies to listed or called them`;
  return `no call; it would decide ${f.would_decide.join(", ")}`;
}

const KEPT: Record<CountersKept, string> = {
  unrecorded: "not recorded",
  recording: "in the recording",
  redis: "in Redis",
  memory: "in the proxy's memory",
};

/** The limits split over several counter states, the sessions behind them, and the fix. */
function unshared(
  f: Extract<Finding, { kind: "unshared_counters" }>,
  where: (r: { line: number | null; column: number | null }) => string,
  at: (r: RuleRef) => string,
): string[] {
  const out: string[] = [];
  for (const l of f.limits) {
    const first = l.rules[0];
    const loc = first ? `${where(first)}: ` : "";
    const who = l.scope === "grant" ? "for" : "over calls of";
    const upTo = l.scope === "grant" && l.identities.length > 1 ? "up to " : "";
    out.push(
      `  ${loc}counter ${l.counter} (${l.scope} scope; rule ${l.rules.map(at).join(", ")}): ` +
        `counted in ${upTo}${l.states} separate states ${who} ${l.identities.join(", ")}`,
    );
  }
  for (const r of f.recordings) {
    const transports = [r.stdio > 0 ? `${r.stdio} stdio` : "", r.http > 0 ? `${r.http} HTTP` : ""]
      .filter((x) => x !== "")
      .join(", ");
    const kept = (Object.keys(KEPT) as CountersKept[])
      .filter((k) => r.counters[k] > 0)
      .map((k) => `${r.counters[k]} ${KEPT[k]}`)
      .join(", ");
    out.push(
      `  ${r.recording}: ${plural(r.sessions, "session")} (${transports}); counters: ${kept}`,
    );
  }
  const more = f.sessions_total > f.sessions.length ? ", ..." : "";
  out.push(`  sessions: ${f.sessions.join(", ")}${more}`);
  out.push(
    `  These ${f.states} counter states each counted only their own calls, so together they could`,
    "  allow more than a limit says: a new stdio proxy, for one, started from zero.",
  );
  if (f.recordings.some((r) => r.counters.unrecorded > 0))
    out.push(
      "  Not recorded: the recording was made before policy-replay noted where counters lived,",
      "  when each stdio proxy kept its own in memory, and an HTTP proxy one for its sessions.",
    );
  out.push(
    "  Fix: record with shared counters: every proxy into one recording file, or, for proxies on",
    "  several machines, record --counters redis://HOST:PORT.",
  );
  return out;
}

function takenBy(by: RuleRef[], at: (r: RuleRef) => string): string {
  return by.length === 0 ? "the default" : by.map(at).join(", ");
}

/** One line per grant: the top-level rules it takes over. */
function overrides(
  findings: Finding[],
  ctx: CheckContext,
  where: (r: { line: number | null; column: number | null }) => string,
): string[] {
  const byGrant = new Map<string, RuleRef[]>();
  for (const f of findings) {
    if (f.kind !== "overridden_rule") continue;
    const list = byGrant.get(f.grant);
    if (list) list.push(f.rule);
    else byGrant.set(f.grant, [f.rule]);
  }
  const out: string[] = [];
  for (const [grant, refs] of byGrant) {
    const g = ctx.index.grants.find((x) => x.identity === grant);
    const loc = g ? where(g) : ctx.policy;
    out.push(
      `  ${loc}: grant ${grant}: ${refs.map((r) => `${r.pattern} (${r.line ?? "?"}:${r.column ?? "?"})`).join(", ")}`,
    );
  }
  return out;
}

/** One finding as CI formats show it: what it is about, where, and the whole of it in a line. */
export interface FindingNote {
  kind: FindingKind;
  severity: Finding["severity"];
  /** The heading its kind has in the text report. */
  title: string;
  /** What it is about, the same from run to run: a rule (`fleet_* (grant ci-bot)`) or a tool. */
  subject: string;
  /** Where in the policy, when it is about a place in it. */
  line: number | null;
  column: number | null;
  message: string;
}

/** Each finding as a FindingNote, in the report's order. */
export function findingNotes(result: CheckResult): FindingNote[] {
  const at = (r: RuleRef): string => `${describeRef(r)} (${r.line ?? "?"}:${r.column ?? "?"})`;
  return result.findings.map((f) => {
    const title = TITLES[f.kind];
    const note = (
      subject: string,
      place: { line: number | null; column: number | null } | null,
      message: string,
    ): FindingNote => ({
      kind: f.kind,
      severity: f.severity,
      title,
      subject,
      line: place?.line ?? null,
      column: place?.column ?? null,
      message,
    });
    switch (f.kind) {
      case "unreached_rule":
        return note(describeRef(f.rule), f.rule, `${describeRef(f.rule)}: ${unreachedWhy(f)}`);
      case "unseen_identity":
        return note(
          `grant ${f.grant.identity}`,
          f.grant,
          `grant ${f.grant.identity}: no session has this identity; its ${plural(f.grant.entries, "rule or hide entry", "rules and hide entries")} went unexercised`,
        );
      case "shadowed_rule":
        return note(
          describeRef(f.rule),
          f.rule,
          f.certainty === "certain"
            ? `${describeRef(f.rule)}: can never win: every name it matches goes first to ${f.by.map(at).join(", ")}`
            : `${describeRef(f.rule)}: wins none of the ${plural(f.tools?.length ?? 0, "known tool")} it matches: ` +
                (f.tools ?? []).map((t) => `${t.tool} -> ${takenBy(t.by, at)}`).join("; "),
        );
      case "overridden_rule":
        return note(
          describeRef(f.rule),
          f.rule,
          `${describeRef(f.rule)}: grant ${f.grant} takes it over for its identity`,
        );
      case "unnamed_tool":
        return note(
          f.tool,
          null,
          `${f.tool}: listed in ${plural(f.sessions, "session")} by ${f.servers.join(", ")}, but no rule or hide entry names it; ` +
            (f.caught_by.length > 0
              ? `catch-all ${f.caught_by.map(at).join(", ")} takes it`
              : `it gets the default (${defaultsText(result)})`),
        );
      case "unlisted_call":
        return note(
          f.tool,
          null,
          `${f.tool}: ${plural(f.calls, "call")} in ${plural(f.sessions, "session")} ` +
            `(${f.identities.join(", ")}; server ${f.servers.join(", ")}) of a tool their session's server never listed`,
        );
      default: {
        // A kind without words of its own here: its title, and its rule if it has one.
        const rule = (f as { rule?: RuleRef }).rule;
        return note(
          rule ? describeRef(rule) : "",
          rule ?? null,
          rule ? `${describeRef(rule)}: ${title}` : title,
        );
      }
    }
  });
}
