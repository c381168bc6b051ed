// Deterministic generators for the benchmark: a large policy and a long, realistic trace.
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { mulberry32 } from "../scripts/prng.js";

const SERVICES = [
  "fleet",
  "db",
  "secrets",
  "deploy",
  "billing",
  "users",
  "logs",
  "dns",
  "queue",
  "cache",
];
const VERBS = [
  "list",
  "get",
  "set",
  "delete",
  "status",
  "create",
  "update",
  "scale",
  "restart",
  "export",
];
const NOUNS = [
  "hosts",
  "secrets",
  "tables",
  "records",
  "jobs",
  "keys",
  "zones",
  "users",
  "items",
  "configs",
];

/** Tool names: service_verb_noun, 1000 of them. */
export const TOOLS: string[] = SERVICES.flatMap((s) =>
  VERBS.flatMap((v) => NOUNS.map((n) => `${s}_${v}_${n}`)),
);
export const IDENTITIES = Array.from({ length: 20 }, (_, i) =>
  i < 3 ? `ci-bot-${i}` : `agent-${i}`,
);

/** A 200-rule policy: exact names, globs of several specificities, grants, limits, conditions. */
export function makePolicy(seed = 1): Record<string, unknown> {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const windows = ["second", "minute", "hour", 10, 30, 0.5] as const;
  const rule = (): Record<string, unknown> => {
    const r: Record<string, unknown> = {};
    const x = rnd();
    if (x < 0.1) r.action = "deny";
    else if (x < 0.18) r.action = "require_approval";
    if (rnd() < 0.5) {
      r.limits = [
        {
          counter: `c${Math.floor(rnd() * 30)}`,
          window: pick(windows),
          max: 5 + Math.floor(rnd() * 200),
          scope: pick(["grant", "session", "global"] as const),
          ...(rnd() < 0.3 ? { algorithm: "fixed" } : {}),
        },
      ];
    }
    if (rnd() < 0.15) r.rate_limit = { max: 20 + Math.floor(rnd() * 100), window: 60 };
    if (rnd() < 0.25) r.deny_if = [{ path: "args.env", op: "eq", value: "prod" }];
    if (rnd() < 0.1) r.require = [{ path: "args.team", op: "exists", value: true }];
    return r;
  };
  const tools: Record<string, unknown> = {};
  // 150 exact rules, 30 globs at top level; 20 rules across grants: 200 in all.
  while (Object.keys(tools).length < 150) tools[pick(TOOLS)] = rule();
  for (let i = 0; Object.keys(tools).length < 180; i++) {
    const s = pick(SERVICES);
    const v = pick(VERBS);
    const g = [`${s}_*`, `*_${v}_*`, `${s}_${v}_*`, `*_${pick(NOUNS)}`, `${s}_?${v.slice(1)}_*`][
      i % 5
    ]!;
    tools[g] = rule();
  }
  const grants: Record<string, unknown> = {};
  for (let i = 0; i < 4; i++) {
    const gt: Record<string, unknown> = {};
    while (Object.keys(gt).length < 5) {
      gt[Object.keys(gt).length % 2 ? pick(TOOLS) : `${pick(SERVICES)}_*`] = rule();
    }
    grants[IDENTITIES[i * 3]!] = {
      default: "deny",
      tools: gt,
      ...(i === 0 ? { hide: ["*_delete_*"] } : {}),
    };
  }
  return { version: "1", default: "allow", hide: ["dns_delete_*"], tools, grants };
}

/** A variant a team might roll out: every limit's max cut by a third, one more tool denied. */
export function tightened(policy: Record<string, unknown>): Record<string, unknown> {
  const p = structuredClone(policy) as { tools: Record<string, { limits?: { max: number }[] }> };
  for (const r of Object.values(p.tools))
    for (const l of r.limits ?? []) l.max = Math.floor((l.max * 2) / 3);
  p.tools["billing_*"] = { action: "deny" } as never;
  return p as unknown as Record<string, unknown>;
}

/**
 * Write `n` calls as JSONL: 2,000 sessions over 20 identities, each session working a few
 * services, ~800 calls a second overall with bursts, arguments on most calls.
 */
export async function writeTrace(file: string, n: number, seed = 2): Promise<void> {
  const rnd = mulberry32(seed);
  const out = createWriteStream(file);
  let ts = 1763800000000;
  const sessions = Array.from({ length: 2000 }, (_, i) => ({
    id: `sess-${i.toString(36)}`,
    identity: IDENTITIES[i % IDENTITIES.length]!,
    tools: Array.from({ length: 8 }, () => TOOLS[Math.floor(rnd() * TOOLS.length)]!),
  }));
  let buf: string[] = [];
  for (let i = 0; i < n; i++) {
    ts += rnd() < 0.3 ? 0 : Math.floor(rnd() * 3);
    const s = sessions[Math.floor(rnd() * rnd() * sessions.length)]!;
    const tool = s.tools[Math.floor(rnd() * s.tools.length)]!;
    const line: Record<string, unknown> = { session: s.id, identity: s.identity, ts, tool };
    if (rnd() < 0.8) {
      line.arguments = {
        env: rnd() < 0.1 ? "prod" : "staging",
        team: "payments",
        id: Math.floor(rnd() * 1e6),
      };
    }
    buf.push(JSON.stringify(line));
    if (buf.length === 10_000) {
      if (!out.write(buf.join("\n") + "\n")) await once(out, "drain");
      buf = [];
    }
  }
  if (buf.length) out.write(buf.join("\n") + "\n");
  out.end();
  await once(out, "finish");
}
