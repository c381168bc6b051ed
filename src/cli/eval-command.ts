import { resolve } from "node:path";
import { type Decided, evaluate, parseArgs } from "../check/eval.js";
import { loadPolicyUnderTest } from "../check/policy-tests/run.js";
import { UsageError } from "../errors.js";
import type { Style } from "../replay/report/style.js";
import { clean } from "../replay/report/fit.js";
import { formatMs } from "../replay/report/words.js";
import { styleFor } from "./colour.js";
import type { Io } from "./io.js";
import { decidedBy } from "./test-formats.js";

export const EVAL_FORMATS = ["text", "json"] as const;
export type EvalFormat = (typeof EVAL_FORMATS)[number];

export interface EvalCommandOptions {
  policy: string;
  tool: string;
  identity: string;
  session: string;
  /** The call's arguments as JSON text. */
  args?: string;
  format: EvalFormat;
}

/**
 * `policy-replay eval --policy P --tool T ...`: decide one call as the proxy would with empty
 * counters, and say what decided it. Resolves to 0; bad input rejects (exit 2).
 */
export async function evalCommand(opts: EvalCommandOptions, io: Io): Promise<number> {
  for (const [flag, value] of [
    ["--identity", opts.identity],
    ["--session", opts.session],
  ] as const) {
    if (value === "") throw new UsageError(`${flag}: must not be empty`);
  }
  const args = opts.args === undefined ? undefined : parseArgs(opts.args);
  const policy = loadPolicyUnderTest(resolve(io.cwd, opts.policy), opts.policy);
  const d = evaluate(policy, {
    tool: opts.tool,
    identity: opts.identity,
    session: opts.session,
    ...(args !== undefined ? { args } : {}),
  });
  io.stdout.write(
    opts.format === "json"
      ? evalJson(d, opts.policy)
      : evalText(d, opts.policy, styleFor(io.stdout, io.env)),
  );
  return 0;
}

/** The decision's word in its colour: allow green, deny red, approval yellow. */
function decisionWord(d: Decided, style: Style): string {
  const word = d.decision.decision;
  return style.bold(
    word === "allow" ? style.green(word) : word === "deny" ? style.red(word) : style.yellow(word),
  );
}

/** The text answer: the decision, then one labelled line per fact. */
export function evalText(d: Decided, policyName: string, style: Style): string {
  const { decision: x, call } = d;
  const rows: [string, string][] = [
    ["code", x.code],
    ["rule", x.rule === null ? "-" : clean(x.rule)],
  ];
  if (x.reason !== null) rows.push(["reason", clean(x.reason)]);
  // With empty counters only a limit of max 0 denies, and it never frees a place.
  const never = x.code === "rate_limited" ? "never" : "-";
  rows.push(["retry", x.retry_after_ms === null ? never : `after ${formatMs(x.retry_after_ms)}`]);
  if (x.limit) {
    const l = x.limit;
    rows.push(["limit", `counter ${clean(l.counter)}: ${l.count} of ${l.max}, scope ${l.scope}`]);
  }
  rows.push(["decided", `by ${decidedBy(d, policyName)}`]);
  const head = `${decisionWord(d, style)}  ${clean(call.tool)} as ${clean(call.identity)}`;
  return [head, ...rows.map(([k, v]) => `  ${style.dim(k.padEnd(9))}${v}`)].join("\n") + "\n";
}

/** The JSON answer: the call as decided, and the decision with the line that made it. */
export function evalJson(d: Decided, policyName: string): string {
  const { decision: x, call } = d;
  return (
    JSON.stringify(
      {
        policy: policyName,
        call: {
          tool: call.tool,
          identity: call.identity,
          session: call.session,
          arguments: call.arguments ?? null,
        },
        decision: x.decision,
        code: x.code,
        rule: x.rule,
        reason: x.reason,
        retry_after_ms: x.retry_after_ms,
        limit: x.limit,
        policy_line: d.line,
      },
      null,
      2,
    ) + "\n"
  );
}
