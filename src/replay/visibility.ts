import { type CompiledPolicy, isHidden } from "../engine/index.js";
import type { Policy } from "../policy/schema.js";
import type { ToolListing } from "../store/types.js";
import { type CallFilter, toolMatcher } from "./filter.js";
import type {
  CallGroup,
  TraceCall,
  Visibility,
  VisibilityChange,
  VisibilityClass,
} from "./types.js";

// What each identity would see in tools/list under the candidate, against what it saw: the
// server's recorded answers (the recording keeps them as the server sent them, before the proxy
// took hidden tools out) filtered by the engine's hidden check, under the baseline or else the
// policy each session was recorded under. A tool that leaves a list is its own event, apart from
// calls that are now denied: an agent no longer offered a tool may never try to call it.

export type { Visibility, VisibilityChange, VisibilityClass } from "./types.js";

/** A JSONL trace holds calls only: what its agents were listed is not known. */
export function unknownVisibility(): Visibility {
  return {
    known: false,
    lists_read: false,
    answers: 0,
    sessions: 0,
    malformed: 0,
    unknown_policy: 0,
    changes: [],
  };
}

/** Both sides hide the same patterns for everyone: no list can change, and none is read. */
export function sameHideVisibility(): Visibility {
  return { ...unknownVisibility(), known: true };
}

/** What of a policy decides what is hidden: its `hide` and each grant's. */
export type HideLists = Pick<Policy, "hide"> & { grants?: Record<string, { hide?: string[] }> };

/**
 * The hide lists of a policy's text, read without validating the rest (a recorded policy was
 * validated when it was recorded); null when the text does not hold them in the expected shape.
 */
export function hideListsOf(text: string): HideLists | null {
  let p: unknown;
  try {
    // A policy file may start with a byte-order mark, which the loader skips.
    p = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    return null;
  }
  const strings = (x: unknown): x is string[] | undefined =>
    x === undefined || (Array.isArray(x) && x.every((h) => typeof h === "string"));
  if (p === null || typeof p !== "object" || Array.isArray(p)) return null;
  const { hide, grants } = p as { hide?: unknown; grants?: unknown };
  if (!strings(hide)) return null;
  const out: HideLists = hide === undefined ? {} : { hide };
  if (grants === undefined) return out;
  if (grants === null || typeof grants !== "object" || Array.isArray(grants)) return null;
  out.grants = {};
  for (const [identity, g] of Object.entries(grants)) {
    const gh = (g as { hide?: unknown } | null)?.hide;
    if (g === null || typeof g !== "object" || !strings(gh)) return null;
    out.grants[identity] = gh === undefined ? {} : { hide: gh };
  }
  return out;
}

/**
 * Whether two policies hide the same patterns from every identity (the top-level `hide` with
 * each grant's): then every tools/list answer reads the same under both. Patterns are compared
 * as written, so two lists that hide the same tools in other words count as different.
 */
export function sameHides(a: HideLists, b: HideLists): boolean {
  const top = (p: HideLists): Set<string> => new Set(p.hide ?? []);
  const of = (p: HideLists, identity: string | null): Set<string> => {
    const hides = top(p);
    const grant = identity === null ? undefined : p.grants?.[identity];
    for (const h of grant?.hide ?? []) hides.add(h);
    return hides;
  };
  const same = (x: Set<string>, y: Set<string>): boolean =>
    x.size === y.size && [...x].every((h) => y.has(h));
  const identities = new Set([...Object.keys(a.grants ?? {}), ...Object.keys(b.grants ?? {})]);
  return same(of(a, null), of(b, null)) && [...identities].every((i) => same(of(a, i), of(b, i)));
}

/**
 * The replayed calls of each identity and tool. Recorded calls are counted by their group, in a
 * flat array indexed by the group's id (a typed-array increment per call), and added up by name
 * at the end; a trace's calls, which have no group, by name.
 */
export class ListedCalls {
  /** Per group id, its count and the read of the group it counts (0: none yet). */
  private counts = new Float64Array(2 * 1024);
  private readonly groups: (CallGroup | undefined)[] = [];
  private readonly byName = new Map<string, number>();
  /** Counted in a group's slot since the last count(). */
  private dirty = false;

  add(tc: TraceCall): void {
    const g = tc.group;
    if (g === undefined) {
      const key = nameKey(tc.call.identity, tc.call.tool);
      this.byName.set(key, (this.byName.get(key) ?? 0) + 1);
      return;
    }
    const at = 2 * g.id;
    // Whose slot it is, read beside the count: the groups array was one more cache miss a call.
    if (at >= this.counts.length || this.counts[at + 1] !== g.read) this.claim(g);
    this.counts[at]!++;
    this.dirty = true;
  }

  /** The calls of `tool` by `identity` counted so far. */
  count(identity: string, tool: string): number {
    if (this.dirty) {
      for (const [id, g] of this.groups.entries()) if (g) this.flush(id, g);
      this.dirty = false;
    }
    return this.byName.get(nameKey(identity, tool)) ?? 0;
  }

  private claim(g: CallGroup): void {
    // Ids are dense per read: another read's group gives its count up before the slot is reused.
    const held = this.groups[g.id];
    if (held !== undefined) this.flush(g.id, held);
    while (this.groups.length < g.id) this.groups.push(undefined);
    this.groups[g.id] = g;
    const at = 2 * g.id;
    if (at >= this.counts.length) {
      const grown = new Float64Array(Math.max(at + 2, this.counts.length * 2));
      grown.set(this.counts);
      this.counts = grown;
    }
    this.counts[at + 1] = g.read;
  }

  private flush(id: number, g: CallGroup): void {
    const n = this.counts[2 * id]!;
    if (n === 0) return;
    const key = nameKey(g.identity, g.tool);
    this.byName.set(key, (this.byName.get(key) ?? 0) + n);
    this.counts[2 * id] = 0;
  }
}

const nameKey = (identity: string, tool: string): string => `${identity}\u0000${tool}`;

export interface VisibilityOptions {
  candidate: CompiledPolicy;
  /** Compare with this policy; null: with the policy each session was recorded under. */
  baseline: CompiledPolicy | null;
  /** The replay's filter: its sessions, identities and tools, and the answers' times. */
  filter?: CallFilter;
}

/** One identity's count of sessions that listed a tool, and of those whose view showed it. */
interface Listed {
  sessions: number;
  shown: number;
}

/**
 * Compares tool lists answer by answer, as a recording yields them (by session, then seq):
 * add() each, then finish(). Memory holds one entry per identity and listed tool, and the
 * tools of the session being read.
 */
export class VisibilityDiff {
  private readonly byIdentity = new Map<string, Map<string, Listed>>();
  private readonly sessions: Set<string> | null;
  private readonly identities: Set<string> | null;
  private readonly tool: ((t: string) => boolean) | null;
  private answers = 0;
  private sessionCount = 0;
  private malformed = 0;
  private unknownPolicy = 0;
  /** The session being read (recording, then id), its identity, policy and listed tools. */
  private current: {
    key: string;
    identity: string;
    before: CompiledPolicy | null;
    tools: Set<string>;
  } | null = null;

  constructor(private readonly opts: VisibilityOptions) {
    const f = opts.filter ?? {};
    this.sessions = f.sessions ? new Set(f.sessions) : null;
    this.identities = f.identities ? new Set(f.identities) : null;
    this.tool = f.tools ? toolMatcher(f.tools) : null;
  }

  /**
   * One recorded answer from recording `file`; `recorded` gives the policy its session was
   * recorded under (asked only without a baseline), or null when the recording lacks it.
   */
  add(file: number, l: ToolListing, recorded: () => CompiledPolicy | null): void {
    const f = this.opts.filter ?? {};
    if (this.sessions && !this.sessions.has(l.session)) return;
    if (this.identities && !this.identities.has(l.identity)) return;
    if (f.since !== undefined && l.ts < f.since) return;
    if (f.until !== undefined && l.ts >= f.until) return;
    if (l.tools === null) {
      this.malformed++;
      return;
    }
    const key = `${file}\u0000${l.session}`;
    if (this.current?.key !== key) {
      this.endSession();
      const before = this.opts.baseline ?? recorded();
      this.current = { key, identity: l.identity, before, tools: new Set() };
      this.sessionCount++;
      if (before === null) this.unknownPolicy++;
    }
    this.answers++;
    for (const t of l.tools) if (this.tool === null || this.tool(t)) this.current.tools.add(t);
  }

  /** The changes, most sessions first; `calls` counts each identity's calls of each tool. */
  finish(calls: ListedCalls | null): Visibility {
    this.endSession();
    const { candidate } = this.opts;
    const changes: VisibilityChange[] = [];
    for (const [identity, tools] of this.byIdentity) {
      for (const [tool, listed] of tools) {
        const shownAfter = !isHidden(candidate, identity, tool);
        const sessions = shownAfter ? listed.sessions - listed.shown : listed.shown;
        if (sessions === 0) continue;
        const change: VisibilityClass = shownAfter ? "unhidden" : "hidden";
        changes.push({
          identity,
          tool,
          change,
          sessions,
          calls: calls?.count(identity, tool) ?? 0,
        });
      }
    }
    changes.sort(
      (a, b) => b.sessions - a.sessions || byName(a.identity, b.identity) || byName(a.tool, b.tool),
    );
    return {
      known: true,
      lists_read: true,
      answers: this.answers,
      sessions: this.sessionCount,
      malformed: this.malformed,
      unknown_policy: this.unknownPolicy,
      changes,
    };
  }

  /** Counts the session's listed tools, once each however many answers listed them. */
  private endSession(): void {
    const s = this.current;
    this.current = null;
    // A session whose policy is not known is counted, and says nothing of what it saw.
    if (s === null || s.before === null) return;
    let tools = this.byIdentity.get(s.identity);
    if (!tools) this.byIdentity.set(s.identity, (tools = new Map()));
    for (const tool of s.tools) {
      let listed = tools.get(tool);
      if (!listed) tools.set(tool, (listed = { sessions: 0, shown: 0 }));
      listed.sessions++;
      if (!isHidden(s.before, s.identity, tool)) listed.shown++;
    }
  }
}

/** Code-unit order: the same on every machine (see summary.ts). */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
