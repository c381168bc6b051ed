import Table from "cli-table3";
import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder, Tally } from "../summary.js";
import type { Outcome } from "../diff.js";
import type { ReportContext, ReportWriter } from "./context.js";
import type { Sink } from "./sink.js";

const n = (x: number): string => x.toLocaleString("en-US");
const plural = (x: number, word: string, words = `${word}s`): string =>
  `${n(x)} ${x === 1 ? word : words}`;
const iso = (ts: number): string => new Date(ts).toISOString();

function table(head: string[], rows: (string | number)[][], aligns: ("left" | "right")[]): string {
  const t = new Table({
    head,
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "  ",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "  ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
    colAligns: aligns,
  });
  t.push(...rows.map((r) => r.map((c) => (typeof c === "number" ? n(c) : c))));
  return t.toString();
}

/** `deny rate_limited, retry 1.2s` — a decision without its rule, for table cells. */
function shortOutcome(o: Outcome): string {
  let s = `${o.decision} ${o.code}`;
  if (o.approval) s += ` (${o.approval})`;
  if (o.retry_after_ms !== null) s += `, retry ${formatMs(o.retry_after_ms)}`;
  return s;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, "")}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.round((ms % 3_600_000) / 60_000)}m`;
}

function tallyRows(
  byKey: Record<string, Tally>,
  compared: boolean,
  limit: number,
): (string | number)[][] {
  const rows = Object.entries(byKey)
    .slice(0, limit)
    .map(([k, t]) =>
      compared
        ? [k, t.calls, t.allow, t.deny, t.approval_required, t.tightened, t.loosened, t.changed]
        : [k, t.calls, t.allow, t.deny, t.approval_required],
    );
  return rows;
}

/**
 * The human report: the answer first (how many calls, how many changed and how), then tables
 * by tool and identity, then the changed calls. Changed calls beyond `show` are counted, not kept.
 */
export function textReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
): ReportWriter {
  const listed: CallResult[] = [];
  return {
    add(r) {
      builder.add(r);
      if (r.change !== null && listed.length < ctx.show) listed.push(r);
    },
    finish: () => finishText(ctx, builder.finish(), listed, out),
  };
}

function finishText(ctx: ReportContext, s: Summary, listed: CallResult[], out: Sink): Summary {
  const compared = s.basis !== "none";
  const lines: string[] = [];
  const against =
    s.basis === "baseline"
      ? `baseline ${ctx.baseline}`
      : s.basis === "recorded"
        ? "the recorded decisions"
        : null;

  lines.push(
    `Replayed ${plural(s.calls, "call")} in ${plural(s.sessions, "session")} (${plural(s.identities, "identity", "identities")}) from ${ctx.source}`,
  );
  lines.push(`under ${ctx.candidate}${against ? `, compared with ${against}` : ""}.`);
  if (s.from_ts !== null && s.to_ts !== null)
    lines.push(`Calls from ${iso(s.from_ts)} to ${iso(s.to_ts)}.`);
  lines.push("");
  if (compared) {
    if (s.changes.total === 0) {
      lines.push("No decision changed.");
    } else {
      lines.push(
        `${plural(s.changes.total, "decision")} changed: ${n(s.changes.tightened)} tightened, ${n(s.changes.loosened)} loosened, ${n(s.changes.changed)} changed (same decision, other code or rule).`,
      );
      if (s.counterfactual_changes > 0) {
        lines.push(
          `${n(s.counterfactual_changes)} of them follow an earlier change in their session (counterfactual: the agent might have acted differently).`,
        );
      }
    }
  } else {
    lines.push(
      "Nothing to compare with (no --baseline, and the calls carry no recorded decisions).",
    );
  }
  lines.push(
    `Decisions: ${n(s.decisions.allow)} allow, ${n(s.decisions.deny)} deny, ${n(s.decisions.approval_required)} approval_required.`,
  );
  if (s.inexact > 0)
    lines.push(
      `${plural(s.inexact, "call")} depended on values the recording does not hold in clear (inexact).`,
    );
  if (compared) {
    const gate =
      s.gate.fail_on.length === 0 ? "nothing (--fail-on none)" : s.gate.fail_on.join(", ");
    lines.push(
      s.gate.failed
        ? `Gate: FAIL — ${plural(s.gate.failing, "change")} of a failing class (fails on ${gate}).`
        : `Gate: pass (fails on ${gate}).`,
    );
  }

  const head = compared
    ? ["calls", "allow", "deny", "approval", "tightened", "loosened", "changed"]
    : ["calls", "allow", "deny", "approval"];
  const aligns = (k: number): ("left" | "right")[] => ["left", ...Array<"right">(k).fill("right")];
  const TABLE_ROWS = 20;
  for (const [title, by] of [
    ["tool", s.by_tool],
    ["identity", s.by_identity],
  ] as const) {
    const keys = Object.keys(by).length;
    lines.push("", `By ${title}${keys > TABLE_ROWS ? ` (top ${TABLE_ROWS} of ${n(keys)})` : ""}:`);
    lines.push(table([title, ...head], tallyRows(by, compared, TABLE_ROWS), aligns(head.length)));
  }

  if (compared && s.changes.total > 0) {
    const more = s.changes.total - listed.length;
    lines.push(
      "",
      `Changed calls${more > 0 ? ` (first ${n(listed.length)} of ${n(s.changes.total)}; --show all lists every one)` : ""}:`,
    );
    const rows = listed.map((r) => {
      const before = r.before!;
      const rule =
        before.rule === r.after.rule
          ? (r.after.rule ?? "-")
          : `${before.rule ?? "-"} -> ${r.after.rule ?? "-"}`;
      return [
        r.source.index,
        r.source.call.session,
        iso(r.source.call.ts).replace("T", " ").replace("Z", ""),
        r.source.call.tool,
        r.change!,
        shortOutcome(before),
        shortOutcome(r.after),
        rule,
        [r.counterfactual ? "counterfactual" : "", r.inexact ? "inexact" : ""]
          .filter(Boolean)
          .join(" "),
      ];
    });
    lines.push(
      table(
        ["#", "session", "time (UTC)", "tool", "class", "before", "after", "rule", "marks"],
        rows,
        ["right", "left", "left", "left", "left", "left", "left", "left", "left"],
      ),
    );
  }
  out.write(lines.join("\n") + "\n");
  return s;
}
