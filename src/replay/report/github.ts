import type { CallResult } from "../replay.js";
import type { Summary, SummaryBuilder } from "../summary.js";
import { combine, type ReportContext, type ReportPart, type ReportWriter } from "./context.js";
import { ChangedCalls, listable, listedClasses } from "./listing.js";
import { hideLines, policyLines } from "./policy-lines.js";
import { visibilityFails, visibilityListing, visibilitySentence } from "./tool-lists.js";
import type { Sink } from "./sink.js";
import { fails, gateLine, headline, iso, marks, n, outcomeText, plural } from "./words.js";

// GitHub Actions workflow commands, as GitHub documents them: `::error file=F,line=L,title=T::M`.
// A message escapes % CR LF; a property value also `:` and `,`. Without the escapes a newline in
// a session id could end the command and start another.

/** A workflow command's message. */
export function escapeData(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** A workflow command's property value. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

type Level = "error" | "warning" | "notice";

/** One workflow command line. */
export function command(
  level: Level,
  props: Record<string, string | number | null | undefined>,
  message: string,
): string {
  const p = Object.entries(props)
    .filter((e): e is [string, string | number] => e[1] !== null && e[1] !== undefined)
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(",");
  return `::${level}${p ? ` ${p}` : ""}::${escapeData(message)}\n`;
}

export interface GithubOptions {
  /** The candidate policy as the repository names it, for file= (annotations land on it). */
  policyFile?: string;
}

/**
 * GitHub workflow commands on stdout: the headline and the gate as plain lines, one summary
 * annotation (error when the gate failed, else notice), then one annotation per changed call
 * of the --only classes, up to `show`, the errors first (GitHub shows only the first few of a
 * step): error when it fails the gate, notice when an accept list covers it, warning
 * otherwise; each points at the line of the candidate policy that decided the call. Tool-list
 * changes get theirs too (toolListCommands), before the calls' when they fail the gate.
 */
export function githubReportWriter(
  ctx: ReportContext,
  builder: SummaryBuilder,
  out: Sink,
  opts: GithubOptions = {},
): ReportWriter {
  return combine(builder, [githubReportPart(ctx, out, opts)]);
}

/** githubReportWriter's view, for combining with others over one summary. */
export function githubReportPart(
  ctx: ReportContext,
  out: Sink,
  opts: GithubOptions = {},
): ReportPart {
  const listed = new ChangedCalls(ctx);
  return {
    add(r) {
      listed.add(r);
    },
    finish(s) {
      out.write(githubCommands(ctx, s, listed.items(), opts));
    },
  };
}

function githubCommands(
  ctx: ReportContext,
  s: Summary,
  listed: CallResult[],
  opts: GithubOptions,
): string {
  const file = opts.policyFile ?? ctx.candidate;
  const lineOf = ctx.candidateText ? policyLines(ctx.candidateText) : () => null;
  const gate = gateLine(s);
  let text = headline(s) + "\n" + (gate ? gate + "\n" : "");
  text += s.gate.failed
    ? command("error", { title: "policy-replay: gate failed" }, `${gate} ${headline(s)}`)
    : command("notice", { title: "policy-replay" }, gate ? `${headline(s)} ${gate}` : headline(s));
  // Errors first, as GitHub shows only the first few of a step.
  const lists = toolListCommands(ctx, s, file);
  const listsFirst = lists.startsWith("::error");
  if (listsFirst) text += lists;
  for (const r of listed) {
    const level: Level = fails(r, ctx.failOn) ? "error" : r.accepted ? "notice" : "warning";
    const { call } = r.source;
    const m = marks(r);
    const reason = r.decision.reason ? ` Reason: ${r.decision.reason}.` : "";
    const message =
      `${call.session} call ${r.ordinal} (${call.identity}, ${iso(call.ts)}): ` +
      `${outcomeText(r.before!)} -> ${outcomeText(r.after)}` +
      `${r.after.rule ? `, rule ${r.after.rule}` : ""}.${reason}${m.length ? ` [${m.join(", ")}]` : ""}`;
    text += command(
      level,
      { file, line: lineOf(r), title: `policy-replay: ${r.change} ${call.tool}` },
      message,
    );
  }
  if (!listsFirst) text += lists;
  const more = s.changes.total - listed.length;
  if (more > 0) {
    const only = listedClasses(ctx);
    const left = s.changes.total - listable(s, only);
    const why = [
      ...(listed.length < listable(s, only) ? ["--show all annotates every one"] : []),
      ...(left > 0 ? [`${n(left)} of a class --only ${only.join(",")} leaves out`] : []),
    ];
    text += command(
      "notice",
      { title: "policy-replay" },
      `${plural(more, "more changed call", "more changed calls")} not annotated (${why.join("; ")}); --format json lists every call.`,
    );
  }
  return text;
}

/**
 * An annotation per tool that appears in or disappears from an identity's tools/list (those
 * failing the gate first, up to --show): error when it fails the gate, else warning; each at the
 * candidate's `hide` entry that hides the tool (or its `hide` list, for one that appears).
 */
function toolListCommands(ctx: ReportContext, s: Summary, file: string): string {
  const v = s.visibility;
  if (!v || v.changes.length === 0) return "";
  const lineOf = ctx.candidateText ? hideLines(ctx.candidateText) : () => null;
  const { items, eligible } = visibilityListing(ctx, v);
  let text = "";
  for (const c of items) {
    text += command(
      visibilityFails(c, ctx.failOn) ? "error" : "warning",
      {
        file,
        line: lineOf(c.identity, c.tool),
        title: `policy-replay: ${c.change} ${c.tool}`,
      },
      `${visibilitySentence(c)}.`,
    );
  }
  const more = v.changes.length - items.length;
  if (more > 0) {
    const why = [
      ...(items.length < eligible ? ["--show all annotates every one"] : []),
      ...(eligible < v.changes.length
        ? [`${n(v.changes.length - eligible)} of a class --only leaves out`]
        : []),
    ];
    text += command(
      "notice",
      { title: "policy-replay" },
      `${plural(more, "more tool-list change", "more tool-list changes")} not annotated (${why.join("; ")}); --format json lists every one.`,
    );
  }
  return text;
}
