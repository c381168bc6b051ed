import { type Counters, RecordingCounters } from "../proxy/counters.js";
import { Shadow } from "../proxy/shadow.js";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { compile } from "../engine/index.js";
import { InputError, UsageError } from "../errors.js";
import { decodeUtf8, describeIoError } from "../policy/load.js";
import { isLoopbackAddress } from "../proxy/exposure.js";
import { serveHttp } from "../proxy/http.js";
import { loadPolicyFile } from "../policy/load.js";
import { monotonicClock, relay } from "../proxy/relay.js";
import { StdioAgentTransport, StdioServerProcess } from "../proxy/stdio.js";
import { startUpstream } from "../proxy/upstream.js";
import { createRedactor } from "../store/redact.js";
import { openStore } from "../store/sqlite.js";
import type { Mode, RecordingStore } from "../store/types.js";
import type { Io } from "./io.js";

/** Where `record` writes when no --db is given. */
export const DEFAULT_DB = "recordings/recording.sqlite";

/** What ends a proxy: an MCP client stops its server with SIGTERM, a terminal with the others. */
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

export interface RecordCommandOptions {
  policy: string;
  mode: Mode;
  /** Serve Streamable HTTP on HOST:PORT instead of stdio. */
  listen?: string;
  /** A Streamable HTTP MCP server to relay to, instead of spawning `command`. */
  upstream?: string;
  /** JSON file: bearer token -> identity (HTTP mode). */
  tokens?: string;
  requireToken?: boolean;
  allowedOrigins?: string[];
  /** HTTP: Host headers to accept besides the listening address's own. */
  allowedHosts?: string[];
  /** HTTP: on a non-loopback address, let in requests without a known token. */
  allowAnonymous?: boolean;
  db?: string;
  identity?: string;
  redact: "default" | "none";
  approvalTimeoutMs: number;
  /** See RelayOptions.requestTimeoutMs. */
  requestTimeoutMs?: number;
  /** HTTP: see HttpProxyOptions.idleTimeoutMs. */
  idleTimeoutMs?: number;
  /** `redis://HOST:PORT[/DB]` or `unix:///PATH[?db=N]`: counters shared through Redis. */
  counters?: string;
  /** The Redis key prefix (default "policy-replay"). */
  countersPrefix?: string;
  /** A candidate policy decided beside the enforced one and recorded, never enforced. */
  shadow?: string;
  /** The MCP server to spawn: command and arguments. */
  command: string[];
  /** The agent's side of the wire; the process's stdin and stdout by default. */
  agent?: { stdin: Readable; stdout: Writable };
}

/**
 * `policy-replay record --policy P -- <server command>`: be the agent's MCP server over stdio
 * (or, with --listen, over Streamable HTTP for many sessions), spawn the real one per session
 * (or relay to --upstream), relay under the policy, record everything. Resolves with the exit
 * code once the agent or the server goes away (HTTP: on SIGINT or SIGTERM).
 */
export async function recordCommand(opts: RecordCommandOptions, io: Io): Promise<number> {
  const [command, ...args] = opts.command;
  if (!command && !opts.upstream) {
    throw new UsageError(
      "record: name the MCP server to run after -- (e.g. -- npx my-server), or give --upstream URL",
    );
  }
  if (command && opts.upstream) {
    throw new UsageError("record: either a server command after -- or --upstream URL, not both");
  }
  if (
    !opts.listen &&
    (opts.tokens ||
      opts.requireToken ||
      opts.allowedOrigins?.length ||
      opts.allowedHosts?.length ||
      opts.allowAnonymous)
  ) {
    throw new UsageError(
      "record: --tokens, --require-token, --allow-origin, --allow-host and --allow-anonymous need --listen",
    );
  }
  // Our own stdio transports, not the SDK's: they report a line they turn away (malformed, over
  // the size limit) with its text and id and keep going, where the SDK's drop it unseen or close
  // (see src/proxy/stdio.ts). The server gets the proxy's whole environment: the agent's MCP
  // config sets the server's variables (API keys, ...) on the proxy's entry, and the SDK's
  // transport would pass on only HOME, PATH, SHELL, TERM, USER and LOGNAME.
  const upstream = (): Transport =>
    opts.upstream
      ? new StreamableHTTPClientTransport(new URL(opts.upstream))
      : new StdioServerProcess({ command: command!, args, cwd: io.cwd, stderr: "inherit" });
  const listen = opts.listen ? parseListen(opts.listen) : null;
  // Anyone who can reach a non-loopback address would otherwise be let in as "anonymous".
  if (listen && !isLoopbackAddress(listen.host) && !opts.requireToken && !opts.allowAnonymous) {
    throw new UsageError(
      `record: --listen ${opts.listen} is reachable from other machines: add --tokens FILE --require-token, or --allow-anonymous to let anyone in`,
    );
  }
  const tokens = opts.tokens ? loadTokens(resolve(io.cwd, opts.tokens)) : undefined;
  const loaded = loadPolicyFile(resolve(io.cwd, opts.policy));
  const compiled = compile(loaded.policy);
  // A bad candidate stops the proxy before it starts, as a bad policy does.
  const candidate = opts.shadow === undefined ? null : loadPolicyFile(resolve(io.cwd, opts.shadow));
  const dbFile = resolve(io.cwd, opts.db ?? DEFAULT_DB);
  const log = (line: string): void => void io.stderr.write(`policy-replay: ${line}\n`);
  // A path that cannot hold a recording, or a damaged one, is refused in one line (a
  // StoreError, exit 2); once recording, the relay says once that the store fails and once
  // that it has recovered.
  const openRecording = (): RecordingStore =>
    openStore(dbFile, { createDirectory: true, checkIntegrity: true });
  // Over HTTP the recording is opened at once: the proxy serves whether or not a server
  // starts. Over stdio only once the server runs: a session that never started leaves no file
  // behind, and an existing recording as it was.
  let store = listen ? openRecording() : undefined;
  const redactor = createRedactor({ keyFile: `${dbFile}.key`, enabled: opts.redact !== "none" });
  const redisUrl = opts.counters === undefined ? null : parseCountersUrl(opts.counters);
  let closeCounters = (): void => {};
  /** Waits for the shadow decisions still on their way to the recording. */
  let settleCounters = (): Promise<void> => Promise.resolve();
  let counters: Counters;
  if (redisUrl) {
    // Loaded only here: most proxies keep their counters in the recording.
    const { RedisCounters, RedisRelayCounters } = await import("../proxy/redis-counters.js");
    let saidDown = false;
    const redis = new RedisCounters(compiled, {
      url: redisUrl.url,
      prefix: opts.countersPrefix ?? "policy-replay",
      // Said once when Redis stops answering, and once when it answers again.
      onStatus: (up, err) => {
        if (!up && !saidDown) {
          saidDown = true;
          log(
            `counters: Redis at ${redisUrl.shown} does not answer (${err?.message ?? "unknown"}); calls of rules with limits are denied counters_unavailable until it does`,
          );
        } else if (up && saidDown) {
          saidDown = false;
          log(`counters: Redis at ${redisUrl.shown} answers again`);
        }
      },
    });
    // Started whether or not Redis answers: the client reconnects in the background.
    await redis.connect();
    closeCounters = () => redis.close();
    if (candidate) {
      // The shadow's counters are in Redis too, under a prefix of the candidate's own.
      const { RedisShadowCounters } = await import("../proxy/redis-shadow.js");
      const shadowed = new RedisShadowCounters(
        redis,
        compile(candidate.policy),
        candidate.hash,
        log,
      );
      settleCounters = () => shadowed.settled();
      counters = shadowed;
    } else {
      counters = new RedisRelayCounters(redis);
    }
  } else {
    // One recording, one state: every proxy recording into this file decides against its counts.
    const shadow = candidate
      ? new Shadow(compile(candidate.policy), candidate.hash, (line) => log(line))
      : null;
    counters = new RecordingCounters(compiled, shadow);
  }
  /** The policies the recording names: the enforced one, and the shadow's. */
  const putPolicies = (s: RecordingStore): void => {
    s.putPolicy(loaded.hash, loaded.text);
    if (candidate) s.putPolicy(candidate.hash, candidate.text);
  };
  try {
    if (listen && store) {
      putPolicies(store);
      const proxy = await serveHttp({
        ...listen,
        upstream,
        compiled,
        policyHash: loaded.hash,
        counters,
        mode: opts.mode,
        store,
        redactor,
        approvalTimeoutMs: opts.approvalTimeoutMs,
        ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
        ...(opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.idleTimeoutMs } : {}),
        ...(tokens ? { tokens } : {}),
        ...(opts.requireToken ? { requireToken: true } : {}),
        ...(opts.allowedOrigins?.length ? { allowedOrigins: opts.allowedOrigins } : {}),
        ...(opts.allowedHosts?.length ? { allowedHosts: opts.allowedHosts } : {}),
        ...(opts.allowAnonymous ? { allowAnonymous: true } : {}),
        log,
      });
      log(`listening on ${proxy.url} (recording into ${dbFile})`);
      let stop = (): void => {};
      const stopped = new Promise<void>((done) => (stop = done));
      for (const signal of STOP_SIGNALS) process.on(signal, stop);
      try {
        await stopped;
        await proxy.close();
      } finally {
        for (const signal of STOP_SIGNALS) process.off(signal, stop);
      }
      return 0;
    }
    // Listened for from before the server starts, so that no signal leaves it running.
    let toAgent: StdioAgentTransport | undefined;
    let leaving = false;
    const leave = (): void => {
      leaving = true;
      void toAgent?.close();
    };
    for (const signal of STOP_SIGNALS) process.on(signal, leave);
    let agentStdin: Readable | undefined;
    try {
      let server: Transport;
      try {
        server = await startUpstream(upstream());
      } catch (err) {
        // A server command that cannot be run (not found, not executable) is the user's to
        // fix: a plain message and exit 2, not a stack trace, and no recording touched.
        throw new UsageError(
          `record: could not start the MCP server "${opts.upstream ?? command}": ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      if (leaving) {
        // Told to stop while the server started: it is stopped, and there is no session.
        await server.close();
        return 0;
      }
      const session = { id: randomUUID(), identity: opts.identity ?? "anonymous" };
      try {
        store = openRecording();
        putPolicies(store);
        store.startSession({
          ...session,
          transport: "stdio",
          mode: opts.mode,
          policyHash: loaded.hash,
          startedAt: Date.now(),
          counters: counters.where,
          shadowPolicyHash: candidate?.hash ?? null,
        });
      } catch (err) {
        await server.close();
        throw err;
      }
      const agent = opts.agent ?? { stdin: process.stdin, stdout: process.stdout };
      // bin/policy-replay.js exits at once on EPIPE (right for `replay ... | head`). Here an
      // agent that stops reading must end the session cleanly instead, its end recorded and
      // the queue flushed: StdioAgentTransport takes a failed write as the agent leaving.
      if (agent.stdout === process.stdout) process.stdout.removeAllListeners("error");
      toAgent = new StdioAgentTransport(agent.stdin, agent.stdout);
      // The agent leaving (its stdin ends, or a signal) ends the session: the server's process
      // group is stopped, the session's end written, the queue flushed, the recording closed.
      agentStdin = agent.stdin.once("end", leave);
      const { closed } = await relay({
        client: toAgent,
        server,
        compiled,
        counters,
        clock: monotonicClock(),
        session,
        mode: opts.mode,
        store,
        redactor,
        approvalTimeoutMs: opts.approvalTimeoutMs,
        ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
        log,
      });
      await closed;
      return 0;
    } finally {
      for (const signal of STOP_SIGNALS) process.off(signal, leave);
      agentStdin?.off("end", leave);
    }
  } finally {
    await settleCounters();
    closeCounters();
    store?.close();
  }
}

/**
 * `redis://[USER:PASS@]HOST:PORT[/DB]` (or rediss://), or `unix:///PATH[?db=N]` for a socket,
 * and how to name it without secrets.
 */
export function parseCountersUrl(value: string): { url: string; shown: string } {
  let u: URL | null = null;
  try {
    u = new URL(value);
  } catch {
    // Said below.
  }
  if (
    u?.protocol === "unix:" &&
    !u.host &&
    u.pathname.length > 1 &&
    /^(\?db=\d+)?$/.test(u.search) &&
    !u.hash
  )
    return { url: value, shown: value };
  if (
    !u ||
    (u.protocol !== "redis:" && u.protocol !== "rediss:") ||
    !u.hostname ||
    !/^(\/\d*)?$/.test(u.pathname) ||
    u.search ||
    u.hash
  ) {
    throw new UsageError(
      `--counters: expected a Redis URL such as redis://127.0.0.1:6379, redis://HOST:PORT/DB or unix:///PATH/redis.sock, not "${value}"`,
    );
  }
  return { url: value, shown: `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}` };
}

/** `127.0.0.1:8080`, `[::1]:8080` or `:8080` (loopback) into host and port. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(`--listen: expected HOST:PORT such as 127.0.0.1:8080, not "${value}"`);
  }
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

/** The bearer-token map: a JSON object of token -> identity. */
function loadTokens(file: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(readFileSync(file), (f) => new InputError(file, f)));
  } catch (err) {
    if (err instanceof InputError) throw err;
    const why =
      err instanceof SyntaxError
        ? `not valid JSON (${err.message})`
        : `cannot read it (${describeIoError(err)})`;
    throw new InputError(file, [{ path: "", message: why }]);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InputError(file, [
      { path: "", message: 'expected an object of token -> identity, e.g. {"s3cr3t": "ci-bot"}' },
    ]);
  }
  for (const [token, identity] of Object.entries(value)) {
    if (typeof identity !== "string" || identity === "") {
      throw new InputError(file, [
        { path: token.slice(0, 4) + "…", message: "the identity must be a non-empty string" },
      ]);
    }
  }
  return value as Record<string, string>;
}
