/**
 * Writes the realistic example traces under fixtures/traces/ (SPEC section 7, JSONL).
 *
 *   npm run fixtures        # from the repository root
 *
 * Output is deterministic: every trace draws from its own seeded PRNG (mulberry32), so
 * re-running the script reproduces the committed files byte for byte, and editing one
 * scenario does not shift the random numbers of another. The policies these traces are
 * meant for live beside them in fixtures/policies/; fixtures/README.md says what each
 * trace exercises and what the tightened / loosened variants should change.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "./prng.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Args = { [key: string]: Json };

/** One recorded `tools/call`, as one line of a JSONL trace. */
interface Call {
  session: string;
  identity: string;
  ts: number;
  tool: string;
  arguments?: Args;
}

/** 2025-11-22T08:26:40Z. Not on a minute boundary: the first one is 20 s later. */
const T0 = 1_763_800_000_000;
const SECOND = 1_000;
const MINUTE = 60_000;
/** The first UTC minute boundary at or after T0 (fixed windows reset here). */
const M0 = Math.ceil(T0 / MINUTE) * MINUTE;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** An integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length - 1)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    const total = table.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, value] of table) {
      r -= w;
      if (r < 0) return value;
    }
    const last = table[table.length - 1];
    if (last === undefined) throw new Error("weighted pick from an empty table");
    return last[1];
  }

  hex(length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += "0123456789abcdef"[this.int(0, 15)];
    return out;
  }

  /** A placeholder secret value: plainly fake, so no secret scanner mistakes it for a real one. */
  fakeSecret(): string {
    return `fake_${this.hex(24)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Building a trace out of sessions

class Trace {
  private readonly entries: { call: Call; seq: number }[] = [];
  private seq = 0;

  constructor(private readonly rng: Rng) {}

  /** Opens a session; its id looks like an MCP session id with a readable prefix. */
  session(prefix: string, identity: string, start: number): Session {
    return new Session(this, `${prefix}-${this.rng.hex(8)}`, identity, start);
  }

  record(call: Call): void {
    this.entries.push({ call, seq: this.seq++ });
  }

  /** All calls in arrival order: by time, then by the order in which they were written. */
  calls(): Call[] {
    return [...this.entries]
      .sort((a, b) => a.call.ts - b.call.ts || a.seq - b.seq)
      .map((e) => e.call);
  }
}

class Session {
  constructor(
    private readonly trace: Trace,
    readonly id: string,
    readonly identity: string,
    /** The session's clock: the time of its last call, or its start. */
    public now: number,
  ) {}

  /** Waits `gapMs`, then calls. A gap of 0 is a parallel call in the same millisecond. */
  call(tool: string, args?: Args, gapMs = 0): this {
    this.now += gapMs;
    const call: Call = { session: this.id, identity: this.identity, ts: this.now, tool };
    if (args !== undefined) call.arguments = args;
    this.trace.record(call);
    return this;
  }

  /** Moves the clock to `ts` (never backwards). */
  at(ts: number): this {
    if (ts < this.now) throw new Error(`${this.id}: at(${ts}) is before ${this.now}`);
    this.now = ts;
    return this;
  }
}

/** Model "think time" between two tool calls of one agent turn loop. */
function think(rng: Rng, lo = 900, hi = 6_000): number {
  return rng.int(lo, hi);
}

// ---------------------------------------------------------------------------------------------
// fleet-loop.jsonl: Fleet device management, with an agent stuck re-setting one secret

function fleetLoop(): Call[] {
  const rng = new Rng(0xf1ee7);
  const trace = new Trace(rng);
  const commit = (): string => rng.hex(40);

  // ci-bot's health poller: fleet_status every 30 s, exactly on the minute and half minute.
  const poller = trace.session("ci-health", "ci-bot", M0);
  for (let k = 0; k < 22; k++) poller.at(M0 + k * 30 * SECOND).call("fleet_status");

  // agent-ops, routine triage of the payments team's hosts.
  const triage = trace.session("ops", "agent-ops", T0 + 1_500);
  triage.call("fleet_status", {});
  triage.call("fleet_teams_list", {}, 0); // parallel tool calls: same millisecond, kept in order
  const steps: [string, Args][] = [
    ["fleet_hosts_list", { team: "payments", status: "offline", per_page: 50 }],
    ["fleet_hosts_list", { team: "payments", status: "offline", per_page: 50, page: 2 }],
    ["fleet_hosts_get", { host_id: 1042 }],
    ["fleet_hosts_get", { host_id: 1187 }],
    ["fleet_hosts_get", { host_id: "2210" }], // id passed as a string: require gt 0 fails
    ["fleet_hosts_get", { host_id: 2210 }],
    ["fleet_software_list", { team: "payments", vulnerable: true }],
    ["fleet_policies_list", { team: "payments", failing: true }],
    ["fleet_scripts_run", { host_id: 1042, script: "restart-osquery.sh" }],
    [
      "live_query",
      {
        team: "payments",
        query: "SELECT name, version FROM programs WHERE name LIKE '%openssl%';",
      },
    ],
    ["fleet_secrets_list", { team: "payments" }],
    ["fleet_secrets_get", { team: "payments", name: "DB_PASSWORD" }],
    ["fleet_secrets_get", { team: "payments", name: "STRIPE_WEBHOOK_URL" }],
    ["fleet_secrets_get", { name: "SENTRY_DSN" }], // forgot the team
    ["fleet_secrets_get", { team: "payments", name: "SENTRY_DSN" }],
    ["fleet_secrets_get", { team: "platform", name: "FLEET_ENROLL_SECRET" }],
    ["fleet_secrets_set", { team: "payments", name: "STRIPE_API_KEY", value: rng.fakeSecret() }],
    ["fleet_secrets_delete", { team: "payments", name: "OLD_DB_PASSWORD" }],
    ["fleet_hosts_lock", { host_id: 2210, reason: "reported stolen, ticket IT-5521" }],
    ["fleet_wipe", { host_id: 2210 }],
    ["fleet_hosts_delete", { host_id: 877 }],
    ["fleet_deploy", { team: "payments", env: "staging", version: "2025.11.22-1" }],
    ["fleet_deploy", { team: "payments", env: "prod", version: "2025.11.22-1" }],
    ["fleet_deploy", { env: "dev", version: "2025.11.22-1" }], // no team
    ["fleet_hosts_list", { team: "payments", status: "online", per_page: 100 }],
  ];
  for (const [tool, args] of steps) triage.call(tool, args, think(rng));

  // ci-bot, release pipeline run: checks, reads a deploy secret, staging, canary wait, prod.
  const ci1 = trace.session("ci", "ci-bot", T0 + 61 * SECOND);
  const sha1 = commit();
  ci1.call("fleet_status", {});
  ci1.call("fleet_hosts_list", { team: "checkout", status: "online", per_page: 500 }, 800);
  ci1.call("fleet_policies_list", { team: "checkout" }, 650);
  ci1.call("fleet_secrets_get", { team: "checkout", name: "SENTRY_DSN" }, 700);
  ci1.call(
    "fleet_deploy",
    {
      team: "checkout",
      env: "staging",
      version: "4.18.0",
      commit: sha1,
      change_ticket: "CHG-4821",
    },
    1_200,
  );
  ci1.call("fleet_status", {}, 45 * SECOND);
  ci1.call(
    "fleet_deploy",
    { team: "checkout", env: "prod", version: "4.18.0", commit: sha1, change_ticket: "CHG-4821" },
    48 * SECOND,
  );

  // A session with no identity (stdio, no flag): "anonymous".
  const anon = trace.session("stdio", "anonymous", T0 + 200 * SECOND);
  anon.call("fleet_status", {});
  anon.call("fleet_hosts_list", { team: "payments" }, think(rng));
  anon.call("fleet_secrets_list", { team: "payments" }, think(rng));
  anon.call("fleet_secrets_get", { team: "payments", name: "DB_PASSWORD" }, think(rng));
  anon.call("live_query", { query: "SELECT * FROM users;" }, think(rng));
  anon.call("fleet_status", {}, think(rng));

  // agent-ops onboarding a new service: 12 secrets in about 40 s (under 30/min, over 10/min).
  const onboard = trace.session("ops", "agent-ops", T0 + 245 * SECOND);
  onboard.call("fleet_teams_list", {});
  onboard.call("fleet_secrets_list", { team: "checkout" }, think(rng));
  const onboardingSecrets = [
    "DATABASE_URL",
    "REDIS_URL",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_SECRET_KEY",
    "SENTRY_DSN",
    "SESSION_SIGNING_KEY",
    "JWT_AUDIENCE",
    "FEATURE_FLAGS_TOKEN",
    "SMTP_PASSWORD",
    "S3_BUCKET",
    "S3_ACCESS_KEY",
    "WEBHOOK_SIGNING_SECRET",
  ];
  for (const name of onboardingSecrets) {
    onboard.call(
      "fleet_secrets_set",
      { team: "checkout", name, value: rng.fakeSecret() },
      think(rng, 2_000, 4_500),
    );
  }
  onboard.call("fleet_deploy", { team: "checkout", env: "dev", version: "0.1.0" }, think(rng));

  // The loop: agent-ops rotates DB_PASSWORD, misreads the "updated" result as a failure and
  // sets it again, ~4.4 times a second for ~90 s. It starts exactly on a minute boundary and
  // one call lands exactly 60 s later (the sliding window is (t - 60 s, t]).
  const loopStart = M0 + 6 * MINUTE;
  const loop = trace.session("ops", "agent-ops", loopStart - 9 * SECOND);
  loop.call("fleet_secrets_list", { team: "payments" });
  loop.call("fleet_secrets_get", { team: "payments", name: "DB_PASSWORD" }, 2_300);
  const times: number[] = [];
  for (let i = 0, t = loopStart; i < 400; i++, t += rng.int(150, 300)) times.push(t);
  const pin = times.findIndex((t) => t >= loopStart + MINUTE);
  times[pin] = loopStart + MINUTE;
  times.forEach((t, i) => {
    loop.at(t).call("fleet_secrets_set", {
      team: "payments",
      name: "DB_PASSWORD",
      value: rng.fakeSecret(),
    });
    // Every 50th attempt it reads the value back "to verify", which does not break the loop.
    if (i % 50 === 49)
      loop.call("fleet_secrets_get", { team: "payments", name: "DB_PASSWORD" }, rng.int(40, 120));
  });
  // A human stops the agent; some minutes later it verifies and sets the value once: allowed.
  loop.at(loopStart + 4 * MINUTE + 7_000);
  loop.call("fleet_status", {});
  loop.call("fleet_secrets_get", { team: "payments", name: "DB_PASSWORD" }, think(rng));
  loop.call(
    "fleet_secrets_set",
    { team: "payments", name: "DB_PASSWORD", value: rng.fakeSecret() },
    think(rng),
  );

  // Another agent-ops session, caught by the same per-identity cap while the loop runs.
  const bystander = trace.session("ops", "agent-ops", loopStart + 28 * SECOND);
  bystander.call("fleet_secrets_get", { team: "mobile", name: "SENTRY_DSN" });
  const dsn = rng.fakeSecret();
  bystander.call("fleet_secrets_set", { team: "mobile", name: "SENTRY_DSN", value: dsn }, 3_100);
  bystander.call(
    "fleet_secrets_set",
    { team: "mobile", name: "SENTRY_DSN", value: dsn },
    15 * SECOND,
  );
  bystander.at(loopStart + 140 * SECOND);
  bystander.call("fleet_secrets_set", { team: "mobile", name: "SENTRY_DSN", value: dsn });
  bystander.call("fleet_hosts_list", { team: "mobile", status: "online" }, think(rng));

  // ci-bot, a second pipeline that overreaches.
  const ci2 = trace.session("ci", "ci-bot", loopStart + 150 * SECOND);
  const sha2 = commit();
  ci2.call("fleet_status", {});
  ci2.call("fleet_software_list", { team: "data", vulnerable: true }, 900);
  ci2.call("fleet_deploy", { team: "data", env: "prod", version: "1.7.2", commit: sha2 }, 1_100); // no ticket
  ci2.call(
    "fleet_secrets_set",
    { team: "data", name: "WAREHOUSE_DSN", value: rng.fakeSecret() },
    1_400,
  );
  ci2.call("live_query", { team: "data", query: "SELECT hostname FROM system_info;" }, 900);
  ci2.call(
    "fleet_deploy",
    { team: "data", env: "prod", version: "1.7.2", commit: sha2, change_ticket: "CHG-4830" },
    30 * SECOND,
  );

  return trace.calls();
}

// ---------------------------------------------------------------------------------------------
// secrets-session.jsonl: a secrets-manager MCP server used by a coding agent, a release bot
// and an auditor

function secretsSession(): Call[] {
  const rng = new Rng(0x5ec7e75);
  const trace = new Trace(rng);

  // agent-dev wiring up a new service, checkout-v2.
  const dev = trace.session("dev", "agent-dev", T0 + 2 * SECOND);
  const explore: [string, Args][] = [
    ["list_secrets", { prefix: "dev/checkout/", limit: 50 }],
    ["describe_secret", { name: "dev/checkout/REDIS_URL" }],
    ["get_secret", { name: "dev/checkout/REDIS_URL" }],
    ["get_secret", { name: "dev/checkout/DB_URL" }],
    ["get_secret", { name: "staging/checkout/DB_URL" }],
    ["get_secret", { name: "prod/checkout/DB_URL" }],
    ["get_secret", { key: "dev/checkout/SESSION_KEY" }], // wrong argument name
    ["get_secret", { name: "dev/checkout/SESSION_KEY" }],
    ["list_secrets", { prefix: "prod/checkout/", limit: 50 }],
    ["list_secrets", { prefix: "dev/", limit: 500 }],
    ["list_secrets", { prefix: "dev/", limit: 100 }],
  ];
  for (const [tool, args] of explore) dev.call(tool, args, think(rng));

  // Seeding the new service's env: 14 writes in about 25 s.
  const vars = [
    "DB_URL",
    "REDIS_URL",
    "SESSION_KEY",
    "STRIPE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "SENTRY_DSN",
    "SMTP_URL",
    "S3_BUCKET",
    "S3_KEY",
    "FEATURE_FLAGS_KEY",
    "JWT_ISSUER",
    "JWT_KEY",
    "ANALYTICS_KEY",
    "CDN_URL",
  ];
  for (const v of vars) {
    dev.call(
      "set_secret",
      { name: `dev/checkout-v2/${v}`, value: rng.fakeSecret() },
      rng.int(1_200, 2_400),
    );
  }
  // It wants the user to type the API token: no value, then the input tool.
  dev.call("set_secret", { name: "dev/checkout-v2/API_TOKEN" }, think(rng));
  dev.call(
    "input_secret",
    { name: "dev/checkout-v2/API_TOKEN", prompt: "Paste the checkout-v2 API token" },
    think(rng),
  );
  dev.call("set_secret", { name: "prod/checkout-v2/DB_URL", value: rng.fakeSecret() }, think(rng));
  // A minute later it retries the writes that were rate limited.
  dev.now += 45 * SECOND;
  for (const v of vars.slice(10)) {
    dev.call(
      "set_secret",
      { name: `dev/checkout-v2/${v}`, value: rng.fakeSecret() },
      rng.int(1_200, 2_400),
    );
  }
  const chores: [string, Args][] = [
    ["rotate_secret", { name: "dev/checkout/SESSION_KEY" }],
    ["rotate_secret", { name: "staging/checkout/SESSION_KEY" }],
    ["restore_secret", { name: "dev/checkout/REDIS_URL", version: 3 }],
    ["delete_secret", { name: "dev/checkout/LEGACY_REDIS_URL" }],
    ["export_secrets", { prefix: "dev/checkout-v2/", format: "dotenv" }],
    ["describe_secret", { name: "dev/checkout-v2/DB_URL" }],
    ["get_secret", { name: "dev/checkout-v2/DB_URL" }],
  ];
  for (const [tool, args] of chores) dev.call(tool, args, think(rng));

  // agent-dev running the integration tests in a loop; each run reads a few secrets, and once
  // it re-seeds the test webhooks (12 writes in under a minute).
  const tests = trace.session("dev", "agent-dev", T0 + 30 * SECOND);
  const testSecrets = [
    "dev/payments/DB_URL",
    "dev/payments/STRIPE_KEY",
    "dev/payments/WEBHOOK_SECRET",
    "dev/checkout/REDIS_URL",
    "staging/payments/DB_URL",
    "staging/payments/STRIPE_KEY",
    "staging/checkout/REDIS_URL",
  ];
  for (let run = 0; run < 60; run++) {
    tests.call("describe_secret", { name: rng.pick(testSecrets) }, rng.int(2_500, 7_000));
    const reads = rng.int(1, 3);
    for (let r = 0; r < reads; r++)
      tests.call("get_secret", { name: rng.pick(testSecrets) }, rng.int(60, 400));
    if (run === 30) {
      for (let w = 0; w < 12; w++) {
        tests.call(
          "set_secret",
          { name: `dev/payments/TEST_WEBHOOK_${w + 1}`, value: rng.fakeSecret() },
          rng.int(2_000, 4_000),
        );
      }
    }
    if (run === 45)
      tests.call("get_secret", { name: "prod/payments/STRIPE_KEY" }, rng.int(300, 900));
  }

  // release-bot at deploy time.
  const rel1 = trace.session("release", "release-bot", T0 + 120 * SECOND);
  rel1.call("get_secret", { name: "prod/payments/DB_URL" });
  rel1.call("get_secret", { name: "prod/payments/STRIPE_KEY" }, 180);
  rel1.call("get_secret", { name: "prod/payments/WEBHOOK_SECRET" }, 160);
  rel1.call("get_secret", { name: "staging/payments/DB_URL" }, 2_100); // smoke test against staging
  rel1.call("list_secrets", { prefix: "prod/payments/", limit: 50 }, 900);
  rel1.call("set_secret", { name: "prod/payments/RELEASE_ID", value: "2025.11.22-1" }, 1_300);

  // auditor, the quarterly review.
  const audit = trace.session("audit", "auditor", T0 + 300 * SECOND);
  audit.call("list_secrets", { prefix: "prod/", limit: 1000 });
  audit.call("list_secrets", { prefix: "", limit: 5000 }, think(rng));
  audit.call("list_secrets", { prefix: "staging/", limit: 1000 }, think(rng));
  for (const name of ["prod/payments/DB_URL", "prod/payments/STRIPE_KEY", "prod/checkout/DB_URL"]) {
    audit.call("describe_secret", { name }, think(rng, 600, 2_000));
  }
  audit.call("get_secret", { name: "prod/payments/DB_URL" }, think(rng));
  audit.call("export_secrets", { prefix: "prod/", format: "csv" }, think(rng));
  audit.call("rotate_secret", { name: "prod/payments/STRIPE_KEY" }, think(rng));

  // agent-dev, rotation chores on staging.
  const rotate = trace.session("dev", "agent-dev", T0 + 400 * SECOND);
  rotate.call("list_secrets", { prefix: "staging/", limit: 100 });
  for (const name of [
    "staging/payments/STRIPE_KEY",
    "staging/payments/WEBHOOK_SECRET",
    "staging/checkout/SESSION_KEY",
    "staging/checkout/REDIS_URL",
  ]) {
    rotate.call("describe_secret", { name }, think(rng));
    rotate.call("rotate_secret", { name }, think(rng, 400, 1_500));
  }
  rotate.call("delete_secret", { name: "staging/checkout/LEGACY_REDIS_URL" }, think(rng));

  // release-bot, a second deploy.
  const rel2 = trace.session("release", "release-bot", T0 + 480 * SECOND);
  rel2.call("get_secret", { name: "prod/checkout/DB_URL" });
  rel2.call("get_secret", { name: "prod/checkout/REDIS_URL" }, 150);
  rel2.call("get_secret", { name: "staging/checkout/DB_URL" }, 2_400);
  rel2.call("get_secret", { name: "dev/checkout/DB_URL" }, 900);

  return trace.calls();
}

// ---------------------------------------------------------------------------------------------
// game-session.jsonl: a multiplayer game server driven by agents playing it

const DIRECTIONS = ["north", "south", "east", "west"] as const;
const ITEMS = ["iron_ore", "oak_log", "health_potion", "rope", "torch", "copper_coin"] as const;

function gameSession(): Call[] {
  const rng = new Rng(0x6a3e);
  const trace = new Trace(rng);

  /** One stretch of free play: moves, looks, jumps, inventory and crafting, no chat. */
  const play = (s: Session, until: number, other: string): void => {
    while (s.now < until) {
      const action = rng.weighted([
        [50, "move"],
        [16, "look"],
        [12, "jump"],
        [6, "sprint"],
        [6, "inventory"],
        [4, "craft"],
        [3, "trade"],
        [3, "use_item"],
      ] as const);
      const gap = rng.int(600, 3_500);
      switch (action) {
        case "move": {
          const args: Args = { direction: rng.pick(DIRECTIONS) };
          const r = rng.int(1, 100);
          if (r <= 4)
            args.steps = rng.int(6, 8); // more than 5 tiles at once
          else if (r <= 7)
            args.direction = "northeast"; // not one of the four
          else if (r <= 60) args.steps = rng.int(1, 3);
          s.call("move", args, gap);
          break;
        }
        case "sprint": {
          // A burst of 6 to 10 steps ~110 ms apart: over 8 actions a second now and then.
          const n = rng.int(6, 10);
          const dir = rng.pick(DIRECTIONS);
          s.call("move", { direction: dir, steps: 1 }, gap);
          for (let i = 1; i < n; i++)
            s.call("move", { direction: dir, steps: 1 }, rng.int(90, 130));
          break;
        }
        case "jump":
          s.call("jump", {}, gap);
          if (rng.chance(0.35)) s.call("jump", {}, rng.int(300, 900)); // double jump attempt
          break;
        case "look":
          s.call("look", rng.chance(0.5) ? {} : { radius: rng.int(3, 12) }, gap);
          break;
        case "inventory":
          s.call("inventory", undefined, gap);
          break;
        case "craft":
          s.call(
            "craft",
            { recipe: rng.pick(["torch", "rope", "iron_pickaxe"]), count: rng.int(1, 4) },
            gap,
          );
          break;
        case "trade":
          s.call(
            "trade",
            {
              with: other,
              give: [rng.pick(ITEMS)],
              get: [rng.pick(ITEMS)],
              quantity: rng.int(1, 5),
            },
            gap,
          );
          break;
        case "use_item":
          s.call("use_item", { item: rng.pick(ITEMS) }, gap);
          break;
      }
    }
  };

  const ana = trace.session("game", "player-ana", T0 + 1_200);
  const bo1 = trace.session("game", "player-bo", T0 + 3_400);
  const cy = trace.session("game", "player-cy", T0 + 5_100);
  const dee = trace.session("game", "player-dee", T0 + 8_700);

  // Opening minutes.
  play(ana, T0 + 40 * SECOND, "player-bo");
  play(cy, T0 + 60 * SECOND, "player-dee");
  play(dee, T0 + 60 * SECOND, "player-cy");
  play(bo1, T0 + 44 * SECOND, "player-ana");

  // player-bo haggles over a trade: 10 messages before the minute boundary at M0 + 60 s and 8
  // right after it, the first exactly on the boundary. The fixed per-player window resets
  // there, so all 18 pass at 10 a calendar minute (a sliding window would have cut it at 10).
  const haggle = [
    "wts 40 iron ore",
    "2 coins each",
    "ana you there?",
    "ok 1.8 each",
    "final offer 1.5",
    "deal?",
    "or i trade torches",
    "have 12 torches",
    "and rope",
    "last call",
  ];
  for (const text of haggle) bo1.call("chat", { channel: "trade", text }, rng.int(2_000, 3_000));
  bo1.at(M0 + MINUTE);
  bo1.call("chat", { channel: "trade", text: "new minute, new prices: 1.2 each" });
  for (const text of [
    "sold!",
    "ana sending now",
    "thx",
    "anyone need rope",
    "rope 3 coins",
    "selling rope",
    "rope??",
  ]) {
    bo1.call("chat", { channel: "trade", text }, rng.int(900, 1_600));
  }
  bo1.call(
    "trade",
    { with: "player-ana", give: ["iron_ore"], get: ["copper_coin"], quantity: 40 },
    1_100,
  );
  play(bo1, T0 + 150 * SECOND, "player-ana");

  play(ana, T0 + 120 * SECOND, "player-bo");
  ana.call(
    "chat",
    { channel: "say", text: "look at this: https://clips.example.com/boss-try-3" },
    1_500,
  );
  ana.call("chat", { channel: "say", text: "clip of the boss try on my profile" }, 4_000);
  play(ana, T0 + 198 * SECOND, "player-bo");

  cy.call("fleet", { order: "scuttle", confirm: true }, 2_000); // hidden tool
  cy.call("admin_teleport", { player: "player-cy", x: 0, y: 0 }, 1_700);
  play(cy, T0 + 198 * SECOND, "player-dee");
  dee.call("fleet", { order: "status" }, 1_000);
  play(dee, T0 + 198 * SECOND, "player-cy");

  // player-bo reconnects: a new session, same identity (the per-player chat cap follows).
  const bo2 = trace.session("game", "player-bo", T0 + 160 * SECOND);
  bo2.call("look", {});
  play(bo2, T0 + 198 * SECOND, "player-ana");

  // farm-bot-3: a scripted client moving, looking and trading as fast as it can.
  const bot = trace.session("bot", "farm-bot-3", T0 + 100 * SECOND);
  for (let i = 0; i < 120; i++) {
    bot.call("move", { direction: rng.pick(DIRECTIONS), steps: 1 }, rng.int(70, 110));
    if (i % 30 === 29)
      bot.call(
        "trade",
        { with: "player-ana", give: ["oak_log"], get: ["copper_coin"], quantity: 64 },
        30,
      );
  }
  for (let i = 0; i < 26; i++) bot.call("look", { radius: 12 }, rng.int(150, 300));
  for (let i = 0; i < 8; i++) bot.call("jump", {}, rng.int(250, 500));

  // The boss falls at M0 + 180 s: everyone cheers at once; the server-wide chat cap trips.
  const cheers = [
    "gg",
    "GG!!",
    "nice",
    "that boss was brutal",
    "ez",
    "loot?",
    "who got the sword",
    "gg wp",
    "lets go",
  ];
  const storm = M0 + 180 * SECOND + 600;
  for (const p of [ana, bo2, cy, dee]) p.at(Math.max(p.now, storm));
  for (let i = 0; i < 7; i++) {
    for (const p of [ana, bo2, cy, dee]) {
      if (i < 5 || rng.chance(0.6))
        p.call("chat", { channel: "say", text: rng.pick(cheers) }, rng.int(150, 600));
    }
  }

  // The moderator shows up: announcements (no chat caps for moderators), one with a link,
  // mutes and kicks the bot, tries the hidden fleet tool like everyone else.
  const mod = trace.session("mod", "moderator", storm + 2_000);
  mod.call("chat", {
    channel: "global",
    text: "Congrats on the world first! Loot is rolling now.",
  });
  mod.call("chat", { channel: "global", text: "Reminder: no spam in say chat" }, 1_200);
  mod.call("chat", { channel: "global", text: "Rules: https://game.example.com/rules" }, 2_500);
  mod.call("look", { radius: 30 }, 3_000);
  mod.call("admin_mute", { player: "farm-bot-3", minutes: 30 }, 4_000);
  mod.call("admin_kick", { player: "farm-bot-3", reason: "botting" }, 2_000);
  mod.call("admin_teleport", { player: "player-dee", x: 120, y: 64 }, 9_000);
  mod.call("fleet", { order: "status" }, 5_000);
  mod.call("chat", { channel: "global", text: "Server restart in 10 minutes" }, 20_000);

  // After the fight.
  for (const [p, other] of [
    [ana, "player-bo"],
    [bo2, "player-ana"],
    [cy, "player-dee"],
    [dee, "player-cy"],
  ] as const) {
    play(p, T0 + 260 * SECOND, other);
  }

  return trace.calls();
}

// ---------------------------------------------------------------------------------------------
// Output

function writeTrace(dir: string, name: string, calls: Call[]): void {
  let last = -Infinity;
  for (const c of calls) {
    if (!Number.isSafeInteger(c.ts) || c.ts < last)
      throw new Error(`${name}: ts out of order at ${c.ts}`);
    last = c.ts;
  }
  const text = calls.map((c) => JSON.stringify(c)).join("\n") + "\n";
  const file = join(dir, name);
  writeFileSync(file, text);
  const sessions = new Set(calls.map((c) => c.session)).size;
  console.log(`${file}: ${calls.length} calls, ${sessions} sessions, ${text.length} bytes`);
}

function main(): void {
  const dir = join(process.cwd(), "fixtures", "traces");
  mkdirSync(dir, { recursive: true });
  writeTrace(dir, "fleet-loop.jsonl", fleetLoop());
  writeTrace(dir, "secrets-session.jsonl", secretsSession());
  writeTrace(dir, "game-session.jsonl", gameSession());
}

main();
