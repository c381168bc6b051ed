import type { CompiledRule, Decision } from "../engine/index.js";
import type { RuleRef } from "./policy-index.js";

// Whether the recorded sessions decided the policy's grant- and global-scoped limits against
// one state of the counters (SPEC section 2, "one state per deployment"), or against several.
// A limit's count is one per key (the identity for `grant`, one for `global`); when the calls
// counted on one key were decided by proxies with counters of their own, each proxy counted
// only its share, and an agent could exceed the limit, e.g. by starting a new stdio proxy.
//
// Where a session's counters lived (sessions.counters) tells which state decided it:
// - `redis`: the one Redis every such proxy shares (the prefix is not recorded: taken as one);
// - `recording`: its recording file, shared by every proxy writing into that file;
// - `memory`, or nothing recorded (files made before the column, when every proxy kept its
//   counters in memory): its own process. A stdio proxy serves one session, so each stdio
//   session is a state of its own; an HTTP proxy shares one state among its sessions, and
//   which HTTP sessions of one file came from which proxy is not recorded, so each file's HTTP
//   sessions are taken as one proxy (two HTTP proxies into one file are not detected).
// Sessions imported from a trace are left out: how their decisions were counted is unknown.

/** How a session kept its counters; `unrecorded`: the recording does not say (older file). */
export type CountersKept = "memory" | "recording" | "redis" | "unrecorded";

/** A recorded session as this check sees it. */
export interface SessionPlace {
  transport: string;
  counters: CountersKept;
}

/** What the calls of grant- and global-scoped limits say, filled while the calls are read. */
export interface SharedStateEvidence {
  /** `<recording>#<session id>` -> how it kept its counters, and its recording's name. */
  sessions: Map<string, SessionPlace & { recording: string }>;
  /** Per counter key (counter, scope, scope value): the states its calls were decided in. */
  keys: Map<string, KeyTraffic>;
}

interface KeyTraffic {
  counter: string;
  scope: "grant" | "global";
  /** The identity, for a grant-scoped key. */
  identity: string | null;
  /** The rules with a limit on this key whose calls counted on it. */
  rules: Set<RuleRef>;
  /** State -> the sessions decided in it (`<recording>#<session id>`). */
  states: Map<string, Set<string>>;
  identities: Set<string>;
}

export function emptySharedState(): SharedStateEvidence {
  return { sessions: new Map(), keys: new Map() };
}

/** The recorded `sessions.counters` value as a CountersKept; anything unknown as unrecorded. */
export function countersKept(value: string | undefined): CountersKept {
  return value === "memory" || value === "recording" || value === "redis" ? value : "unrecorded";
}

/** The counter state a session decided against (see the top of this file). */
function stateOf(recording: string, session: string, place: SessionPlace): string {
  if (place.counters === "redis") return "redis";
  if (place.counters === "recording") return `file\u0000${recording}`;
  if (place.transport === "stdio") return `process\u0000${recording}\u0000${session}`;
  return `http\u0000${recording}`;
}

/**
 * Note one replayed call: when its rule has grant- or global-scoped limits and the call touched
 * them (allowed, so it consumed, or refused by a limit, so it was counted against them).
 * `place` is its session's, or undefined for a call whose session row is missing.
 */
export function noteLimitedCall(
  ev: SharedStateEvidence,
  recording: string,
  call: { session: string; identity: string },
  place: SessionPlace | undefined,
  rule: CompiledRule,
  ref: RuleRef | undefined,
  decision: Decision,
  counterName: (counter: number) => string,
): void {
  if (decision.decision !== "allow" && decision.code !== "rate_limited") return;
  const p = place ?? { transport: "stdio", counters: "unrecorded" };
  if (p.transport === "import") return;
  const session = `${recording}#${call.session}`;
  let state: string | null = null;
  for (const limit of rule.limits) {
    if (limit.scope === "session") continue;
    const identity = limit.scope === "grant" ? call.identity : null;
    const id = `${limit.counter}\u0000${limit.scope}\u0000${identity ?? ""}`;
    let key = ev.keys.get(id);
    if (!key) {
      key = {
        counter: counterName(limit.counter),
        scope: limit.scope,
        identity,
        rules: new Set(),
        states: new Map(),
        identities: new Set(),
      };
      ev.keys.set(id, key);
    }
    if (ref) key.rules.add(ref);
    key.identities.add(call.identity);
    state ??= stateOf(recording, call.session, p);
    let sessions = key.states.get(state);
    if (!sessions) key.states.set(state, (sessions = new Set()));
    sessions.add(session);
    if (!ev.sessions.has(session)) ev.sessions.set(session, { ...p, recording });
  }
}

/** A grant- or global-scoped limit whose count was split over several states. */
export interface SplitLimit {
  counter: string;
  scope: "grant" | "global";
  /** The rules with a limit on this counter and scope whose calls counted. */
  rules: RuleRef[];
  /** Grant scope: the identities whose count was split; global: every identity that counted. */
  identities: string[];
  /** The most states one key of it was counted in. */
  states: number;
}

/** The sessions behind split limits in one recording, by how they kept their counters. */
export interface SplitRecording {
  recording: string;
  sessions: number;
  stdio: number;
  http: number;
  counters: Record<CountersKept, number>;
}

export interface UnsharedCounters {
  limits: SplitLimit[];
  /** How many separate states decided the calls counted on those limits' split keys. */
  states: number;
  recordings: SplitRecording[];
  /** Up to SESSION_EXAMPLES of the sessions, as `<recording>#<session id>`. */
  sessions: string[];
  sessions_total: number;
}

const SESSION_EXAMPLES = 10;

/** The split keys, gathered into one finding's facts; null when every key had one state. */
export function unsharedCounters(ev: SharedStateEvidence): UnsharedCounters | null {
  const limits = new Map<string, SplitLimit & { ruleSet: Set<RuleRef> }>();
  const states = new Set<string>();
  const sessions = new Set<string>();
  for (const key of ev.keys.values()) {
    if (key.states.size < 2) continue;
    const id = `${key.counter}\u0000${key.scope}`;
    let l = limits.get(id);
    if (!l) {
      l = {
        counter: key.counter,
        scope: key.scope,
        rules: [],
        identities: [],
        states: 0,
        ruleSet: new Set(),
      };
      limits.set(id, l);
    }
    for (const r of key.rules) l.ruleSet.add(r);
    l.identities.push(...key.identities);
    l.states = Math.max(l.states, key.states.size);
    for (const [state, in_] of key.states) {
      states.add(state);
      for (const s of in_) sessions.add(s);
    }
  }
  if (limits.size === 0) return null;

  const byRecording = new Map<string, SplitRecording>();
  for (const s of sessions) {
    const place = ev.sessions.get(s)!;
    let r = byRecording.get(place.recording);
    if (!r) {
      r = {
        recording: place.recording,
        sessions: 0,
        stdio: 0,
        http: 0,
        counters: { memory: 0, recording: 0, redis: 0, unrecorded: 0 },
      };
      byRecording.set(place.recording, r);
    }
    r.sessions++;
    if (place.transport === "stdio") r.stdio++;
    else r.http++;
    r.counters[place.counters]++;
  }
  const ordered = [...sessions].sort();
  return {
    limits: [...limits.values()]
      .map(({ ruleSet, identities, ...l }) => ({
        ...l,
        rules: [...ruleSet].sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
        identities: [...new Set(identities)].sort(),
      }))
      .sort((a, b) => (a.counter < b.counter ? -1 : a.counter > b.counter ? 1 : 0)),
    states: states.size,
    recordings: [...byRecording.values()],
    sessions: ordered.slice(0, SESSION_EXAMPLES),
    sessions_total: ordered.length,
  };
}
