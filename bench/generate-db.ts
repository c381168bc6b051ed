// A large, realistic SQLite recording for the benchmarks (replay from SQLite, the terminal UI):
// traffic made the way bench/generate.ts makes its JSONL trace, decided by the 200-rule bench
// policy as the proxy would have decided it live, written through the store in one transaction.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile, createState, decide } from "../src/engine/index.js";
import { parsePolicyText } from "../src/policy/load.js";
import { openStore, openStoreReadOnly } from "../src/store/sqlite.js";
import type { ApprovalAnswer } from "../src/store/types.js";
import { mulberry32 } from "../scripts/prng.js";
import { IDENTITIES, makePolicy, TOOLS } from "./generate.js";

export interface RecordingOptions {
  calls: number;
  sessions: number;
  seed?: number;
  /** Distinct tools in use, drawn from bench/generate.ts's 1,000 (default: all of them). */
  tools?: number;
  /** Distinct identities, sessions taking them in turn (default 20). */
  identities?: number;
  /** Tools each session draws its calls from (default 8); with sessions, sets the key count. */
  toolsPerSession?: number;
  /** Size range of a call's arguments in bytes of JSON (default: a flat object of about 50). */
  argBytes?: [number, number];
}

// Bump when the generated content changes, so cached files are rebuilt.
const FORMAT = 2;
const T0 = 1763800000000;

/** Where the benchmarks keep a generated recording: .bench/, named by its options. */
export function recordingPath(opts: RecordingOptions, dir = join(process.cwd(), ".bench")): string {
  // Every option is in the name, so two shapes never share a file; defaults leave it as it was.
  const extra =
    (opts.tools === undefined ? "" : `-t${opts.tools}`) +
    (opts.identities === undefined ? "" : `-i${opts.identities}`) +
    (opts.toolsPerSession === undefined ? "" : `-k${opts.toolsPerSession}`) +
    (opts.argBytes === undefined ? "" : `-a${opts.argBytes[0]}-${opts.argBytes[1]}`);
  return join(dir, `recording-${opts.calls}-${opts.sessions}-s${opts.seed ?? 2}${extra}.sqlite`);
}

/**
 * Make sure `file` holds the recording these options describe: `calls` tools/call decisions in
 * `sessions` sessions (by default 20 identities, 8 tools each from bench/generate.ts's 1,000, ~80%
 * with small flat arguments, bursts of equal timestamps; the options change each of these), decided by makePolicy() with some human approval
 * answers, plus each session's initialize and tools/list exchange. Deterministic for a seed.
 * Cached: a file already written with the same options is kept (their JSON sits beside it in
 * `<file>.opts.json`). Returns true when it wrote the file.
 */
export function generateRecording(file: string, opts: RecordingOptions): boolean {
  const want = JSON.stringify({ format: FORMAT, ...opts, seed: opts.seed ?? 2 });
  const optsFile = `${file}.opts.json`;
  if (existsSync(file) && existsSync(optsFile) && readFileSync(optsFile, "utf8") === want) {
    // Cached by an older build: upgraded now (a replay would, once), not inside a timed run.
    openStoreReadOnly(file).close();
    return false;
  }
  const tmp = `${file}.tmp`;
  for (const f of [file, optsFile, tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });

  const policyText = JSON.stringify(makePolicy(), null, 2);
  const loaded = parsePolicyText(policyText);
  const compiled = compile(loaded.policy);
  const state = createState(compiled);
  const rnd = mulberry32(opts.seed ?? 2);
  const tools = opts.tools === undefined ? TOOLS : pickTools(opts.tools, rnd);
  const identities = Array.from(
    { length: opts.identities ?? IDENTITIES.length },
    (_, i) => IDENTITIES[i] ?? `agent-${i}`,
  );
  const sessions = Array.from({ length: opts.sessions }, (_, i) => ({
    id: `sess-${i.toString(36)}`,
    identity: identities[i % identities.length]!,
    tools: Array.from(
      { length: opts.toolsPerSession ?? 8 },
      () => tools[Math.floor(rnd() * tools.length)]!,
    ),
    seq: 0,
    lastTs: 0,
  }));
  const bigArgs = opts.argBytes === undefined ? null : argumentMaker(opts.argBytes, rnd);
  const store = openStore(tmp, { bulk: true });
  try {
    store.transaction(() => {
      store.putPolicy(loaded.hash, policyText);
      let ts = T0;
      for (let i = 0; i < opts.calls; i++) {
        ts += rnd() < 0.3 ? 0 : Math.floor(rnd() * 3);
        const s = sessions[Math.floor(rnd() * rnd() * sessions.length)]!;
        if (s.seq === 0) openSession(store, s, loaded.hash, ts);
        const tool = s.tools[Math.floor(rnd() * s.tools.length)]!;
        const args =
          bigArgs !== null
            ? bigArgs()
            : rnd() < 0.8
              ? {
                  env: rnd() < 0.1 ? "prod" : "staging",
                  team: "payments",
                  id: Math.floor(rnd() * 1e6),
                }
              : undefined;
        const call = { session: s.id, identity: s.identity, ts, tool, arguments: args };
        const decision = decide(compiled, call, state);
        s.seq += 2;
        s.lastTs = ts;
        const id = store.recordDecision({
          session: s.id,
          seq: s.seq,
          ts,
          identity: s.identity,
          tool,
          arguments: args,
          jsonrpcId: String(s.seq / 2),
          mode: "enforce",
          decision,
        });
        if (decision.decision === "approval_required") {
          const x = rnd();
          const answer: ApprovalAnswer =
            x < 0.4 ? "approved" : x < 0.6 ? "rejected" : x < 0.7 ? "timeout" : "unavailable";
          store.recordApproval(id, answer);
        }
      }
      for (const s of sessions) {
        if (s.seq > 0) store.updateSession(s.id, { endedAt: s.lastTs, endReason: "closed" });
      }
    });
  } finally {
    store.close();
  }
  renameSync(tmp, file);
  writeFileSync(optsFile, want);
  return true;
}

/** `n` of the 1,000 tools, the first of a seeded shuffle: some of the policy's rules go unused. */
function pickTools(n: number, rnd: () => number): string[] {
  const all = [...TOOLS];
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, Math.min(n, all.length));
}

// Words for generated strings, drawn once: a random string per character would dominate the run.
const WORDS = Array.from({ length: 512 }, (_, i) => `w${(i * 2654435761) % 1e6}`.padEnd(7, "x"));

/**
 * Arguments of [min, max] bytes of JSON: the fields the bench policy's conditions look at
 * (env, team), nested objects, arrays and free text, padded with words to a drawn size.
 */
function argumentMaker([min, max]: [number, number], rnd: () => number): () => object {
  const words = (n: number): string => {
    let s = WORDS[Math.floor(rnd() * WORDS.length)]!;
    for (let i = 1; i < n; i++) s += ` ${WORDS[Math.floor(rnd() * WORDS.length)]!}`;
    return s;
  };
  return () => {
    const target = min + Math.floor(rnd() * (max - min + 1));
    const args = {
      env: rnd() < 0.1 ? "prod" : "staging",
      team: rnd() < 0.9 ? "payments" : "search",
      id: Math.floor(rnd() * 1e6),
      request: {
        path: `/v1/${words(1)}/${Math.floor(rnd() * 1e4)}`,
        labels: { region: rnd() < 0.5 ? "eu-west-1" : "us-east-2", tier: Math.floor(rnd() * 4) },
        retries: [Math.floor(rnd() * 3), Math.floor(rnd() * 3)],
      },
      note: "",
    };
    const bare = JSON.stringify(args).length;
    // Each word and its space is 8 bytes; the note fills the rest of the drawn size.
    if (target > bare + 8) args.note = words(Math.floor((target - bare) / 8));
    return args;
  };
}

/** A session's start as the proxy records it: initialize, initialized, tools/list and answers. */
function openSession(
  store: ReturnType<typeof openStore>,
  s: { id: string; identity: string; tools: string[]; seq: number },
  policyHash: string,
  ts: number,
): void {
  store.startSession({
    id: s.id,
    identity: s.identity,
    transport: "stdio",
    mode: "enforce",
    policyHash,
    startedAt: ts,
  });
  const clientInfo = { name: `bench-agent-${s.identity}`, version: "1.0.0" };
  const serverInfo = { name: "bench-server", version: "1.0.0" };
  store.updateSession(s.id, { clientInfo, serverInfo, protocolVersion: "2025-11-25" });
  const msg = (
    direction: "client_to_server" | "server_to_client",
    method: string | null,
    id: number | null,
    message: unknown,
  ) =>
    store.recordMessage({
      session: s.id,
      direction,
      seq: ++s.seq,
      ts,
      method,
      jsonrpcId: id === null ? null : String(id),
      message,
    });
  msg("client_to_server", "initialize", 0, {
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo },
  });
  msg("server_to_client", null, 0, {
    jsonrpc: "2.0",
    id: 0,
    result: { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo },
  });
  msg("client_to_server", "notifications/initialized", null, {
    jsonrpc: "2.0",
    method: "notifications/initialized",
  });
  msg("client_to_server", "tools/list", 1, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  msg("server_to_client", null, 1, {
    jsonrpc: "2.0",
    id: 1,
    result: {
      tools: [...new Set(s.tools)].map((name) => ({
        name,
        description: `${name.replaceAll("_", " ")} on the bench server`,
        inputSchema: {
          type: "object",
          properties: { env: { type: "string" }, team: { type: "string" }, id: { type: "number" } },
        },
      })),
    },
  });
}
