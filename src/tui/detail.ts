import { basename } from "node:path";
import { findNodeAtLocation, type Node as JsonNode, parseTree } from "jsonc-parser";
import type {
  Browser,
  CallDetail,
  DiffRow,
  MessageRow,
  RunRow,
  SessionRow,
} from "../store/browse.js";
import {
  approvalText,
  classSeg,
  clock,
  count,
  dateTime,
  decisionSeg,
  duration,
  oneLine,
  retryText,
  short,
  valueLines,
  windowText,
} from "./format.js";
import { clean, cut, type Line, pad, type Seg, wrap } from "./text.js";

// A call's detail: everything recorded about it, read once when the screen opens, then laid
// out as lines for the terminal's width.

/** A rule as written in a policy. */
export interface RuleText {
  /** Where it sits: `tools` or `grants.<identity>.tools`. */
  where: string;
  line: number;
  /** The rule's JSON as written, `"pattern": { ... }`, dedented. */
  text: string;
}

export interface PolicyRef {
  label: string;
  hash: string;
  /** The policy's text, or null when the recording does not hold it. */
  text: string | null;
}

export interface CallView {
  call: CallDetail;
  session: SessionRow | null;
  answer: MessageRow | null;
  /** Messages from a little before the call to a little after its answer. */
  around: MessageRow[];
  /** The policy the call was recorded under. */
  recorded: PolicyRef;
  diff: { row: DiffRow; run: RunRow; before: PolicyRef; after: PolicyRef } | null;
}

/** Messages shown before the call and after its answer. */
const CONTEXT = 3;
/** At most this many messages between the call and its answer are listed. */
const BETWEEN = 40;

/** Read what a call's screen shows (null when the call is not in the recording). */
export function loadCallView(b: Browser, callId: number, runId: number | null): CallView | null {
  const call = b.call(callId);
  if (call === null) return null;
  const session = b.session(call.session);
  const answer = b.answer(call);
  const to = Math.min(answer?.seq ?? call.seq, call.seq + BETWEEN) + CONTEXT;
  const around = b.messages(
    call.session,
    Math.max(0, call.seq - CONTEXT),
    to,
    BETWEEN + 2 * CONTEXT + 2,
    2000,
  );
  const policy = (label: string, hash: string): PolicyRef => ({
    label,
    hash,
    text: b.policy(hash),
  });
  const recorded = policy("recorded", session?.policyHash ?? "");
  let diff: CallView["diff"] = null;
  if (runId !== null) {
    const run = b.run(runId);
    const row = b.diff(runId, callId);
    if (run !== null && row !== null) {
      diff = {
        row,
        run,
        before:
          run.baselineHash === null
            ? recorded
            : policy(`baseline ${basename(run.baselinePath ?? "")}`, run.baselineHash),
        after: policy(`candidate ${basename(run.policyPath)}`, run.policyHash),
      };
    }
  }
  return { call, session, answer, around, recorded, diff };
}

/**
 * The rule `pattern` that decided a call of `identity`, found in a policy's text the way the
 * engine resolves it: the identity's grant first, then the top-level tools.
 */
export function findRule(policyText: string, identity: string, pattern: string): RuleText | null {
  const body = policyText.charCodeAt(0) === 0xfeff ? policyText.slice(1) : policyText;
  const tree = parseTree(body);
  if (tree === undefined) return null;
  const places: [string, (string | number)[]][] = [
    [`grants.${identity}.tools`, ["grants", identity, "tools", pattern]],
    ["tools", ["tools", pattern]],
  ];
  for (const [where, path] of places) {
    const node = findNodeAtLocation(tree, path);
    const prop = node?.parent;
    if (prop?.type !== "property") continue;
    return { where, line: lineOf(body, prop.offset), text: dedent(body, prop) };
  }
  return null;
}

/**
 * Whether the rule `pattern` that decided a call of `identity` has limits (`limits` or
 * `rate_limit`), as the policy's text says; false when it cannot tell.
 */
export function ruleHasLimits(policyText: string, identity: string, pattern: string): boolean {
  const body = policyText.charCodeAt(0) === 0xfeff ? policyText.slice(1) : policyText;
  const tree = parseTree(body);
  if (tree === undefined) return false;
  for (const path of [
    ["grants", identity, "tools", pattern],
    ["tools", pattern],
  ]) {
    const rule = findNodeAtLocation(tree, path);
    if (rule === undefined) continue;
    const limits = findNodeAtLocation(rule, ["limits"]);
    return (
      (limits?.type === "array" && (limits.children?.length ?? 0) > 0) ||
      findNodeAtLocation(rule, ["rate_limit"]) !== undefined
    );
  }
  return false;
}

/** What decided a call when no rule did: the grant's default or the policy's. */
export function defaultSource(policyText: string, identity: string): string | null {
  const tree = parseTree(policyText);
  if (tree === undefined) return null;
  const grant = findNodeAtLocation(tree, ["grants", identity, "default"]);
  if (grant?.type === "string") return `grants.${identity}.default: "${String(grant.value)}"`;
  const top = findNodeAtLocation(tree, ["default"]);
  if (top?.type === "string") return `default: "${String(top.value)}"`;
  return `default: "deny" (not written: the spec's default)`;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

function dedent(text: string, node: JsonNode): string {
  const start = text.lastIndexOf("\n", node.offset - 1) + 1;
  const column = node.offset - start;
  return text
    .slice(node.offset, node.offset + node.length)
    .split("\n")
    .map((l, i) => (i === 0 ? l : l.slice(Math.min(column, l.length - l.trimStart().length))))
    .join("\n");
}

// ---------------------------------------------------------------------------------------------
// Layout

const LABEL = 10;

const muted = (text: string): Seg => ({ text, tone: "muted" });

/** `Label     value` lines, the value wrapped under itself. */
function field(label: string, value: string | Seg[], w: number): Line[] {
  const head = muted(pad(label, LABEL));
  if (typeof value !== "string") return [[{ text: " " }, head, ...value]];
  return wrap(value, Math.max(10, w - LABEL - 1), " ".repeat(LABEL + 1)).map((l, i) =>
    i === 0 ? [{ text: " " }, head, { text: l }] : [{ text: l }],
  );
}

function heading(text: string): Line {
  return [{ text, tone: "title" }];
}

const DIRECTION: Record<string, string> = {
  client_to_server: "client → server",
  server_to_client: "server → client",
  proxy_to_client: "proxy → client",
  proxy_to_server: "proxy → server",
};

/** One line about a message: what it is, at a glance. */
export function messageSummary(m: MessageRow): string {
  if (m.cut || typeof m.body !== "object" || m.body === null)
    return `${m.method ?? "message"} (${count(m.length)} chars)`;
  const body = m.body as Record<string, unknown>;
  const id = m.jsonrpcId === null ? "" : ` id ${m.jsonrpcId}`;
  if (m.method !== null) {
    const params = body.params as Record<string, unknown> | undefined;
    if (m.method === "tools/call" && params)
      return `tools/call${id} ${String(params.name)} ${oneLine(params.arguments ?? {}, 80)}`;
    if (m.method === "notifications/progress" && params) {
      const of = params.total === undefined ? "" : `/${String(params.total)}`;
      const msg = typeof params.message === "string" ? ` ${params.message}` : "";
      return `progress ${String(params.progress)}${of}${msg}`;
    }
    return `${m.method}${id}${params ? ` ${oneLine(params, 80)}` : ""}`;
  }
  if ("error" in body) {
    const e = body.error as { code?: unknown; message?: unknown } | null;
    return `error${id}: ${String(e?.code)} ${String(e?.message)}`;
  }
  const result = body.result as Record<string, unknown> | undefined;
  if (result && Array.isArray(result.content)) {
    const text = (result.content as { type?: unknown; text?: unknown }[])
      .map((c) => (c.type === "text" ? String(c.text) : `[${String(c.type)}]`))
      .join(" ");
    return `result${id}${result.isError === true ? " (isError)" : ""}: ${text}`;
  }
  return `result${id} ${oneLine(result ?? body, 80)}`;
}

/** The answer's content: its text, structured content and error flag. */
function answerLines(m: MessageRow, w: number): Line[] {
  const out: Line[] = [];
  const who =
    m.direction === "proxy_to_client"
      ? "from the proxy: the call never reached the server"
      : "from the server";
  out.push([muted(` seq ${m.seq} · ${clock(m.ts)} · ${who}`)]);
  if (m.cut || typeof m.body !== "object" || m.body === null) {
    out.push(...wrap(String(m.body), w - 2, "  ").map((l) => [{ text: `  ${l.trimStart()}` }]));
    if (m.cut) out.push([muted(`  … cut: the message is ${count(m.length)} characters`)]);
    return out;
  }
  const body = m.body as Record<string, unknown>;
  if ("error" in body) {
    const e = body.error as { code?: unknown; message?: unknown; data?: unknown } | null;
    out.push([
      { text: `  JSON-RPC error ${String(e?.code)}: `, tone: "deny" },
      { text: clean(String(e?.message)) },
    ]);
    if (e?.data !== undefined) out.push(...valueLines(e.data, 40, "    "));
    return out;
  }
  const result = (body.result ?? {}) as Record<string, unknown>;
  if (result.isError === true) out.push([{ text: "  isError: true", tone: "deny" }]);
  if (Array.isArray(result.content)) {
    for (const c of result.content as Record<string, unknown>[]) {
      if (c.type === "text" && typeof c.text === "string") {
        for (const l of wrap(c.text, w - 2)) out.push([{ text: `  ${l}` }]);
      } else {
        out.push([muted(`  [${String(c.type)}] `), { text: oneLine(c, w - 12) }]);
      }
    }
  }
  if (result.structuredContent !== undefined) {
    out.push([muted("  structuredContent:")]);
    out.push(...valueLines(result.structuredContent, 60, "    "));
  }
  const rest = Object.keys(result).filter(
    (k) => !["content", "isError", "structuredContent", "_meta"].includes(k),
  );
  if (rest.length > 0)
    out.push(...valueLines(Object.fromEntries(rest.map((k) => [k, result[k]])), 60, "  "));
  return out;
}

function ruleLines(
  policy: PolicyRef,
  identity: string,
  rule: string | null,
  code: string,
  w: number,
): Line[] {
  const title = `${policy.label} policy ${short(policy.hash)}`;
  if (policy.text === null) return [[muted(` ${title}: not in this recording`)]];
  if (rule === null) {
    if (code === "hidden") return [[muted(` ${title}: `), { text: "hidden by a hide list" }]];
    const source = defaultSource(policy.text, identity);
    return [[muted(` ${title}: no rule matched; `), { text: source ?? "the default" }]];
  }
  const found = findRule(policy.text, identity, rule);
  if (found === null) return [[muted(` ${title}: rule "${clean(rule)}" not found in the text`)]];
  const out: Line[] = [[muted(` ${title}, ${found.where}, line ${found.line}:`)]];
  for (const l of found.text.split("\n")) out.push([{ text: `   ${cut(clean(l), w - 3)}` }]);
  return out;
}

/** The lines of a call's screen at width `w`. */
export function callLines(v: CallView, w: number): Line[] {
  const c = v.call;
  const out: Line[] = [];
  const s = v.session;
  out.push([
    { text: ` ${clean(c.tool)}`, tone: "title" },
    muted(
      ` · call ${c.id} · seq ${c.seq} · ${dateTime(c.ts)}.${String(c.ts % 1000).padStart(3, "0")}`,
    ),
  ]);
  out.push([
    muted(" session "),
    { text: short(c.session) },
    muted(" · identity "),
    { text: clean(c.identity) },
    ...(s
      ? [
          muted(" · "),
          { text: clean(s.client ?? "?") },
          muted(" → "),
          { text: clean(s.server ?? "?") },
        ]
      : []),
    ...(c.mode === "observe" ? [muted(" · observe mode: not enforced")] : []),
  ]);
  out.push([]);

  if (v.diff !== null) out.push(...diffLines(v, w));
  else out.push(...decisionLines(v, w));

  out.push([]);
  out.push(heading(" Arguments"));
  out.push(...valueLines(c.arguments, 400, "   "));

  out.push([]);
  out.push(heading(" Answer"));
  if (v.answer === null) {
    const why =
      c.outcome === "no_answer" ? "the session ended before an answer" : "no answer recorded";
    out.push([muted(`  ${why}`)]);
  } else {
    out.push(...answerLines(v.answer, w));
  }

  if (v.diff === null) {
    out.push([]);
    out.push(heading(" Rule"));
    out.push(...ruleLines(v.recorded, c.identity, c.rule, c.code, w));
  }

  out.push([]);
  out.push(heading(" Messages around it"));
  if (v.around.length === 0) out.push([muted("  none recorded")]);
  for (const m of v.around) {
    const mine = m.seq === c.seq || m.seq === v.answer?.seq;
    out.push([
      { text: mine ? " ▶" : "  ", tone: "accent" },
      muted(pad(String(m.seq), 6, "right")),
      { text: " " },
      muted(clock(m.ts)),
      { text: " " },
      { text: pad(DIRECTION[m.direction] ?? m.direction, 15) },
      { text: " " },
      { text: clean(messageSummary(m)) },
    ]);
  }
  return out;
}

function decisionLines(v: CallView, w: number): Line[] {
  const c = v.call;
  const out: Line[] = [];
  out.push(
    ...field("Decision", [decisionSeg(c.decision, c.code), muted("  "), { text: c.code }], w),
  );
  out.push(...field("Rule", c.rule === null ? "— (none matched)" : clean(c.rule), w));
  if (c.reason !== null) out.push(...field("Reason", c.reason, w));
  if (c.limit !== null) {
    const l = c.limit;
    const full = l.count >= l.max ? " — full" : "";
    out.push(
      ...field(
        "Limit",
        `${l.counter}: ${l.count} of ${l.max} calls in the last ${windowText(l.window_ms)}${full} ` +
          `(${l.scope} scope, ${l.algorithm} window)`,
        w,
      ),
    );
  }
  if (c.code === "rate_limited" || c.retryAfterMs !== null)
    out.push(...field("Retry", retryText(c.retryAfterMs), w));
  out.push(...countersLines(v, w));
  const approval = approvalText(c.approval);
  if (approval !== null) out.push(...field("Approval", approval, w));
  if (c.outcome !== null)
    out.push(
      ...field(
        "Outcome",
        `${c.outcome}${c.latencyMs === null ? "" : ` · ${duration(c.latencyMs)}`}`,
        w,
      ),
    );
  if (c.inexact)
    out.push(
      ...field("Inexact", "a condition looked at a value the recording does not hold in clear", w),
    );
  out.push(...shadowLines(v, w));
  return out;
}

/**
 * A call recorded with a shadow policy (`record --shadow`): what the shadow decided beside the
 * enforced decision, never seen by the agent, and what its own counters counted.
 */
export function shadowLines(v: CallView, w: number): Line[] {
  const sh = v.call.shadow;
  if (sh === null) return [];
  const out: Line[] = [[], heading(" Shadow policy (recorded, not enforced)")];
  const hash = v.session?.shadowPolicyHash;
  out.push(
    ...field(
      "Decision",
      [
        decisionSeg(sh.decision, sh.code),
        muted("  "),
        { text: sh.code },
        ...(hash ? [muted(`  · policy sha256:${hash.slice(0, 12)}`)] : []),
      ],
      w,
    ),
  );
  out.push(...field("Rule", sh.rule === null ? "— (none matched)" : clean(sh.rule), w));
  if (sh.reason !== null) out.push(...field("Reason", sh.reason, w));
  if (sh.code === "rate_limited" || sh.retry_after_ms !== null)
    out.push(...field("Retry", retryText(sh.retry_after_ms), w));
  (sh.counts ?? []).forEach((h, i) => {
    const text =
      `${clean(String(h.counter))}: ${h.count} of ${h.max} ` +
      `(${h.scope}, ${h.algorithm} ${windowText(h.window_ms)})`;
    out.push(...field(i === 0 ? "Counts" : "", text, w));
  });
  return out;
}

/** Where a proxy kept its counters (sessions.counters), in words. */
const COUNTERS_WHERE: Record<string, string> = {
  memory: "this process",
  recording: "the recording",
  redis: "Redis",
};

/**
 * For a call whose rule has limits: what each limit counted when the call was decided (before
 * it), where the counters lived and, for Redis, its sequence number. Nothing for other calls.
 */
export function countersLines(v: CallView, w: number): Line[] {
  const c = v.call;
  const where = v.session?.counters ?? null;
  const whereText = where === null ? "not recorded" : (COUNTERS_WHERE[where] ?? clean(where));
  if (c.counts === null) {
    if (c.code === "counters_unavailable")
      return field(
        "Counts",
        `not read: ${where === null ? "the counters" : whereText} did not answer`,
        w,
      );
    // An older recording kept no counts: say so for a call whose rule has limits.
    const limited =
      where === null &&
      c.rule !== null &&
      (c.decision === "allow" || c.code === "rate_limited") &&
      v.recorded.text !== null &&
      ruleHasLimits(v.recorded.text, c.identity, c.rule);
    return limited
      ? [...field("Counts", "not recorded", w), ...field("Counters", "not recorded", w)]
      : [];
  }
  const out: Line[] = [];
  c.counts.forEach((h, i) => {
    const text =
      `${clean(String(h.counter))}: ${h.count} of ${h.max} ` +
      `(${h.scope}, ${h.algorithm} ${windowText(h.window_ms)})`;
    out.push(...field(i === 0 ? "Counts" : "", text, w));
  });
  const seq = where === "redis" && c.counterSeq !== null ? ` · sequence ${c.counterSeq}` : "";
  out.push(...field("Counters", `${whereText}${seq}`, w));
  return out;
}

/** Old and new decision side by side, then the rules that made them. */
function diffLines(v: CallView, w: number): Line[] {
  const d = v.diff!;
  const r = d.row;
  const col = Math.max(12, Math.floor((w - LABEL - 2) / 2));
  const row = (label: string, a: Seg, b: Seg): Line => [
    { text: " " },
    muted(pad(label, LABEL)),
    { ...a, text: pad(clean(a.text), col) },
    { text: " " },
    { ...b, text: cut(clean(b.text), col) },
  ];
  const out: Line[] = [];
  out.push(row("", muted(`${d.before.label}`), muted(`${d.after.label}`)));
  out.push(
    row(
      "Decision",
      decisionSeg(r.old.decision, r.old.code),
      decisionSeg(r.new.decision, r.new.code),
    ),
  );
  out.push(row("Code", { text: r.old.code }, { text: r.new.code }));
  out.push(row("Rule", { text: r.old.rule ?? "—" }, { text: r.new.rule ?? "—" }));
  out.push(
    row(
      "Retry",
      { text: v.call.code === "rate_limited" ? retryText(v.call.retryAfterMs) : "—" },
      { text: r.new.code === "rate_limited" ? retryText(r.new.retryAfterMs) : "—" },
    ),
  );
  const marks: Seg[] = [classSeg(r.class)];
  if (r.counterfactual) marks.push(muted(" · "), { text: "counterfactual", tone: "changed" });
  if (r.inexact) marks.push(muted(" · "), { text: "≈ inexact", tone: "changed" });
  out.push([{ text: " " }, muted(pad("Change", LABEL)), ...marks]);
  if (r.new.reason !== null) out.push(...field("Reason", r.new.reason, w));
  // What the recorded decision met, beside it (a run keeps no counts of its own).
  if (d.run.baselineHash === null) out.push(...countersLines(v, w));
  if (r.counterfactual)
    out.push(
      ...field(
        "",
        "counterfactual: an earlier call of this session already changed, so the agent might have acted otherwise from there on",
        w,
      ).map((l) => l.map((s) => ({ ...s, tone: "muted" as const }))),
    );
  if (r.inexact)
    out.push(
      ...field(
        "",
        "inexact: a condition looked at an argument the recording does not hold in clear",
        w,
      ).map((l) => l.map((s) => ({ ...s, tone: "muted" as const }))),
    );
  out.push([]);
  out.push(heading(" Rules"));
  out.push(...ruleLines(d.before, v.call.identity, r.old.rule, r.old.code, w));
  out.push(...ruleLines(d.after, v.call.identity, r.new.rule, r.new.code, w));
  return out;
}
