import { type Call, createState, decideResolved, resolve } from "../engine/index.js";
import { PolicyReplayError } from "../errors.js";
import {
  openStoreReadOnly,
  type ReadOpenOptions,
  StoreError,
  type StoreReader,
} from "../store/sqlite.js";
import type { PolicyIndex, RuleRef } from "./policy-index.js";
import {
  countersKept,
  emptySharedState,
  noteLimitedCall,
  type SessionPlace,
  type SharedStateEvidence,
} from "./shared-state.js";

/** A recording to read: its path, and the name reports give it. */
export interface RecordingSource {
  path: string;
  name: string;
}

/** What a rule (or hide entry) did in the replay. */
export interface RuleTally {
  calls: number;
  allow: number;
  deny: number;
  approval_required: number;
}

/** A tool that servers listed, and in how many sessions, from which servers. */
export interface ListedTool {
  sessions: number;
  servers: Set<string>;
}

/** Calls of one tool that the server of their session never listed. */
export interface UnlistedTool {
  calls: number;
  /** `<recording>#<session id>`: session ids are unique only within one file. */
  sessions: Set<string>;
  identities: Set<string>;
  servers: Set<string>;
  /** The decision codes the policy gave these calls, with counts. */
  codes: Map<string, number>;
}

/** Everything the recordings say that the checks need. */
export interface Evidence {
  recordings: string[];
  calls: number;
  sessions: number;
  /** Every identity with a session or a call. */
  identities: Set<string>;
  /** tools/list answers read (one per answered request). */
  answers: number;
  listed: Map<string, ListedTool>;
  called: Set<string>;
  /** Per rule, the calls it decided; per hide entry, the calls it hid. */
  hits: Map<RuleRef, RuleTally>;
  /** Hide entries that took a tool out of a tools/list answer in a session they apply to. */
  hidFromLists: Set<RuleRef>;
  unlisted: Map<string, UnlistedTool>;
  /** Calls (and their sessions) with no tools/list answer to judge them by. */
  unjudged: { calls: number; sessions: number };
  /** The calls of grant- and global-scoped limits, and the counter states that decided them. */
  shared: SharedStateEvidence;
}

/** Used when a session's server did not say its name. */
export const UNNAMED_SERVER = "(unnamed server)";

/** An empty Evidence, to fill with readRecording. */
export function emptyEvidence(): Evidence {
  return {
    recordings: [],
    calls: 0,
    sessions: 0,
    identities: new Set(),
    answers: 0,
    listed: new Map(),
    called: new Set(),
    hits: new Map(),
    hidFromLists: new Set(),
    unlisted: new Map(),
    unjudged: { calls: 0, sessions: 0 },
    shared: emptySharedState(),
  };
}

interface SessionFacts extends SessionPlace {
  identity: string;
  server: string | null;
  /** Every tool name in this session's tools/list answers; null when it has none. */
  listed: Set<string> | null;
}

/**
 * Read one recording into `ev`: its sessions, its tools/list answers, and its calls replayed in
 * recorded order under the index's policy with fresh counters (each recording is its own
 * proxy's history). Throws StoreError (exit 2) for a missing, corrupt or unreadable file.
 */
export function readRecording(
  src: RecordingSource,
  index: PolicyIndex,
  ev: Evidence,
  opts: ReadOpenOptions = {},
): void {
  withReader(src.path, opts, (reader) => collect(reader, src.name, index, ev));
  ev.recordings.push(src.name);
}

/**
 * Run `fn` over a recording opened for reading, closed after. Throws StoreError (exit 2) for a
 * missing, corrupt or unreadable file, also one whose rows cannot be read back.
 */
export function withReader(
  path: string,
  opts: ReadOpenOptions,
  fn: (reader: StoreReader) => void,
): void {
  let reader: StoreReader | undefined;
  try {
    reader = openStoreReadOnly(path, opts);
    fn(reader);
  } catch (err) {
    if (err instanceof PolicyReplayError) throw err;
    // A row the store wrote but cannot read back (damaged JSON): the file is at fault.
    throw new StoreError(
      "store_corrupt",
      path,
      `${path}: unreadable recording: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  } finally {
    reader?.close();
  }
}

function collect(reader: StoreReader, name: string, index: PolicyIndex, ev: Evidence): void {
  const sessions = new Map<string, SessionFacts>();
  const counters = reader.sessionCounters();
  for (const s of reader.sessions()) {
    sessions.set(s.id, {
      identity: s.identity,
      server: serverName(s.serverInfo),
      listed: null,
      transport: s.transport,
      counters: countersKept(counters.get(s.id)),
    });
    ev.identities.add(s.identity);
    ev.sessions++;
  }

  for (const m of reader.toolListAnswers()) {
    const facts = sessions.get(m.session);
    const names = toolNames(m.message);
    if (!facts || names === null) continue;
    ev.answers++;
    facts.listed ??= new Set();
    for (const n of names) facts.listed.add(n);
  }

  // A session that never asked for the list is judged by the lists its server gave other
  // sessions in this recording: same server name, same file.
  const byServer = new Map<string, Set<string>>();
  for (const facts of sessions.values()) {
    if (facts.listed === null) continue;
    const server = facts.server ?? UNNAMED_SERVER;
    for (const tool of facts.listed) {
      let listed = ev.listed.get(tool);
      if (!listed) ev.listed.set(tool, (listed = { sessions: 0, servers: new Set() }));
      listed.sessions++;
      listed.servers.add(server);
      const taker = index.taker(index.viewerOf(facts.identity), tool);
      if (taker.kind === "hide") for (const h of taker.refs) ev.hidFromLists.add(h);
    }
    if (facts.server !== null) {
      let union = byServer.get(facts.server);
      if (!union) byServer.set(facts.server, (union = new Set()));
      for (const tool of facts.listed) union.add(tool);
    }
  }

  const state = createState(index.compiled);
  const counterName = (i: number): string => index.compiled.counters[i]!.name;
  const unjudged = new Set<string>();
  for (const c of reader.calls()) {
    const call: Call = { tool: c.tool, identity: c.identity, session: c.session, ts: c.ts };
    if (c.arguments !== undefined && c.arguments !== null) call.arguments = c.arguments;
    const res = resolve(index.compiled, c.identity, c.tool);
    const d = decideResolved(index.compiled, call, state, res);
    ev.calls++;
    ev.called.add(c.tool);
    ev.identities.add(c.identity);

    const viewer = index.viewerOf(c.identity);
    const refs: RuleRef[] = [];
    if (d.code === "hidden") {
      const taker = index.taker(viewer, c.tool);
      if (taker.kind === "hide") refs.push(...taker.refs);
    } else if (d.rule !== null) {
      const ref = index.ruleFor(viewer, d.rule);
      if (ref) refs.push(ref);
    }
    for (const ref of refs) {
      let t = ev.hits.get(ref);
      if (!t) ev.hits.set(ref, (t = { calls: 0, allow: 0, deny: 0, approval_required: 0 }));
      t.calls++;
      t[d.decision]++;
    }

    const facts = sessions.get(c.session);
    if (res.kind === "rule" && res.rule.limits.length > 0) {
      noteLimitedCall(ev.shared, name, c, facts, res.rule, refs[0], d, counterName);
    }
    const server = facts?.server ?? null;
    const listing = facts?.listed ?? (server === null ? undefined : byServer.get(server));
    const key = `${name}#${c.session}`;
    if (listing === undefined) {
      ev.unjudged.calls++;
      unjudged.add(key);
    } else if (!listing.has(c.tool)) {
      let u = ev.unlisted.get(c.tool);
      if (!u) {
        u = {
          calls: 0,
          sessions: new Set(),
          identities: new Set(),
          servers: new Set(),
          codes: new Map(),
        };
        ev.unlisted.set(c.tool, u);
      }
      u.calls++;
      u.sessions.add(key);
      u.identities.add(c.identity);
      u.servers.add(facts?.server ?? UNNAMED_SERVER);
      u.codes.set(d.code, (u.codes.get(d.code) ?? 0) + 1);
    }
  }
  ev.unjudged.sessions += unjudged.size;
}

function serverName(info: unknown): string | null {
  if (info === null || typeof info !== "object") return null;
  const name = (info as { name?: unknown }).name;
  return typeof name === "string" && name !== "" ? name : null;
}

/** The names in a tools/list result, or null when the message is not one (an error answer). */
function toolNames(message: unknown): string[] | null {
  const result = (message as { result?: { tools?: unknown } } | null)?.result;
  if (!result || !Array.isArray(result.tools)) return null;
  const names: string[] = [];
  for (const t of result.tools as unknown[]) {
    const n = (t as { name?: unknown } | null)?.name;
    if (typeof n === "string") names.push(n);
  }
  return names;
}
