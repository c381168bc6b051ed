import { type CompiledPolicy, isHidden } from "../../engine/index.js";
import { decideRun, toCalls } from "./limits.js";
import type { Finding } from "./types.js";

// Every finding's example is replayed under both policies through the engine, with fresh
// counters as replay starts them, before it is printed: a finding that does not replay as it
// claims is a bug in the comparison, and is reported as one instead.

/** Why the finding's example does not replay as claimed; null when it does. */
export function selfCheck(
  oldPolicy: CompiledPolicy,
  newPolicy: CompiledPolicy,
  f: Finding,
): string | null {
  const calls = toCalls(f.example);
  if (calls.length === 0) return "no example call";
  const olds = decideRun(oldPolicy, calls);
  const news = decideRun(newPolicy, calls);
  const at = f.decisive;
  const o = olds[at];
  const n = news[at];
  if (!o || !n) return `no call #${at} in the example`;
  if (o.decision !== f.old.decision || o.code !== f.old.code || o.rule !== f.old.rule) {
    return `OLD decides ${o.decision} (${o.code}), not ${f.old.decision} (${f.old.code})`;
  }
  if (n.decision !== f.new.decision || n.code !== f.new.code || n.rule !== f.new.rule) {
    return `NEW decides ${n.decision} (${n.code}), not ${f.new.decision} (${f.new.code})`;
  }
  if (f.class === "limits_loosened") {
    if (news.some((d) => d.decision !== "allow")) return "NEW does not allow every call";
    if (olds.slice(0, at).some((d) => d.decision !== "allow")) {
      return "OLD refuses a call before the one named";
    }
  }
  const level = (d: string): number => (d === "allow" ? 2 : d === "approval_required" ? 1 : 0);
  const c = calls[at]!;
  if (f.class === "newly_visible") {
    if (!isHidden(oldPolicy, c.identity, c.tool) || isHidden(newPolicy, c.identity, c.tool)) {
      return "the tool is not hidden by OLD and listed by NEW";
    }
  } else if (level(n.decision) <= level(o.decision)) {
    return `NEW's ${n.decision} gives no more than OLD's ${o.decision}`;
  }
  return null;
}
