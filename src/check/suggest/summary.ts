import type { SuggestEvidence, ToolUse } from "./evidence.js";
import type { NotAllowed, Suggestion, Verdict } from "./build.js";
import { type Headroom, perWindow } from "./rates.js";

// The summary `suggest` writes on stderr: per identity, what the policy allows and on what
// evidence, what it leaves denied and why, and what it hides. Names come from recordings, so
// any byte may be hostile: each is shown plainly only when it is printable ASCII.

/** A name from a recording, safe to print: as is when plain, else quoted with escapes. */
export function shown(name: string): string {
  if (/^[\x21-\x7e]+$/.test(name) && !name.startsWith('"')) return name;
  const escaped = name.replace(/[^\x20-\x7e]|["\\]/gu, (ch) => {
    if (ch === '"' || ch === "\\") return `\\${ch}`;
    return [...ch].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join("");
  });
  return `"${escaped}"`;
}

const WHY: Record<NotAllowed, string> = {
  never_allowed: "no call was let through",
  unwritable_tool: "left denied: a policy pattern cannot name exactly this tool",
  unwritable_identity: "left denied: a grant cannot be written for this identity",
};

const ISO = (ms: number): string => new Date(ms).toISOString().replace(".000Z", "Z");

export function summaryText(ev: SuggestEvidence, s: Suggestion, headroom: Headroom): string {
  const lines: string[] = [];
  const span = ev.first !== null && ev.last !== null ? `, ${ISO(ev.first)} to ${ISO(ev.last)}` : "";
  lines.push(
    `Suggested from ${plural(ev.calls, "call")} in ${plural(ev.sessions, "session")} of ${ev.recordings.join(", ")}${span}.`,
  );
  if (ev.calls === 0) lines.push("No call was selected: the policy denies every tool.");
  else
    lines.push(
      `Limits: ${headroom.text} x the busiest ${s.windows.join(", ")} of each identity's calls of a tool, per identity (scope grant, sliding).`,
    );

  for (const [identity, verdicts] of s.identities) {
    const allowed = verdicts.filter((v) => v.action !== null).length;
    lines.push(
      "",
      `${shown(identity)}: ${allowed} of ${plural(verdicts.length, "tool")} called allowed`,
    );
    for (const v of verdicts) lines.push(...verdictLines(v));
  }

  const top = new Set<string>();
  for (const verdicts of s.identities.values())
    for (const v of verdicts) if (v.topLevel) top.add(v.tool);
  if (top.size > 0) {
    lines.push(
      "",
      `Top level, used the same way by every identity: ${[...top].map(shown).join(", ")}`,
    );
  }
  if (s.hidden.length > 0) {
    lines.push(
      "",
      `Hidden, listed by a server and never called (${s.hidden.length}): ${s.hidden.map(shown).join(", ")}`,
    );
  }
  if (s.unhideable.length > 0) {
    lines.push(
      "",
      `Listed and never called, left denied rather than hidden (a pattern cannot name exactly these): ${s.unhideable.map(shown).join(", ")}`,
    );
  }
  return lines.join("\n") + "\n";
}

function verdictLines(v: Verdict): string[] {
  const what = v.action ?? "deny";
  const head = `  ${what.padEnd(16)} ${shown(v.tool)}${v.topLevel ? " (top level)" : ""}: ${evidence(v.use)}`;
  const out = [head];
  if (v.action === "allow" && v.rates.length > 0) {
    const peaks = v.rates.map((r) => `${r.peak} ${perWindow(r.window)}`).join(", ");
    const limits = v.rates.map((r) => `${r.max} ${perWindow(r.window)}`).join(", ");
    out.push(`${" ".repeat(21)}peak ${peaks}; limit ${limits}`);
  }
  for (const c of v.require) {
    out.push(`${" ".repeat(21)}require ${c.path} ${c.op} ${JSON.stringify(c.value)}`);
  }
  const u = v.use;
  const deniedThen = [...u.denied.values()].reduce((a, b) => a + b, u.refused + u.unanswered);
  if (v.action === "allow" && deniedThen > 0 && v.require.length === 0) {
    out.push(
      `${" ".repeat(21)}also allows the ${plural(deniedThen, "call")} refused when recorded`,
    );
  }
  if (v.action === "allow" && v.use.approved > 0) {
    out.push(
      `${" ".repeat(21)}allowed, not held for approval: ${v.use.unapproved} of its calls were let through without one`,
    );
  }
  if (v.notAllowed !== null) out.push(`${" ".repeat(21)}${WHY[v.notAllowed]}`);
  return out;
}

/** The recorded decisions of one identity's calls of a tool, in a few words. */
function evidence(u: ToolUse): string {
  const parts: string[] = [];
  if (u.allowed > 0) parts.push(`${u.allowed} allowed`);
  if (u.approved > 0) parts.push(`${u.approved} approved by a human`);
  if (u.refused > 0) parts.push(`${u.refused} refused by a human or timed out`);
  if (u.unanswered > 0) parts.push(`${u.unanswered} held for approval, unanswered`);
  const denied = [...u.denied].sort(([, a], [, b]) => b - a);
  if (denied.length > 0)
    parts.push(`denied: ${denied.map(([code, n]) => `${shown(code)} ${n}`).join(", ")}`);
  return `${plural(u.calls, "call")} (${parts.join("; ")})`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
