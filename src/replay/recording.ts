import { type Call, type CompiledPolicy, compile, type DecisionKind } from "../engine/index.js";
import { PolicyError } from "../errors.js";
import { type LoadedPolicy, parsePolicyText } from "../policy/load.js";
import type { Policy, Rule } from "../policy/schema.js";
import type { ArgumentTools } from "../store/types.js";
import { StoreError } from "../store/errors.js";
import { openStoreReadOnly, type ReadOpenOptions, type StoreReader } from "../store/sqlite.js";
import { type CallFilter, toolMatcher, toQuery } from "./filter.js";
import { type CallCursor, CallStream } from "../store/stream.js";
import type {
  ApprovalAnswer,
  CallGroup,
  RecordedDecision,
  TraceCall,
  Visibility,
} from "./types.js";
import {
  hideListsOf,
  type ListedCalls,
  sameHides,
  sameHideVisibility,
  VisibilityDiff,
} from "./visibility.js";

const NOT_PARSED: unique symbol = Symbol("not parsed");

/**
 * A recorded call, both as replay takes it (a TraceCall) and as the engine sees it (its `call`
 * is itself): one object a row, the replay's only allocation per call. Its arguments are parsed
 * from the recording's JSON text on first use: most decisions never look at them, and parsing
 * is the costliest step of reading a row. `arguments` and `call` are getters, so spreading the
 * object drops them; toJSON() gives the plain call.
 */
export class RecordedCall implements TraceCall, Call {
  /** The parsed arguments; NOT_PARSED until first asked for. */
  private parsed: unknown = NOT_PARSED;

  constructor(
    readonly index: number,
    /** The call's row id in its recording. */
    readonly line: number,
    readonly file: number,
    readonly group: CallGroup,
    readonly ts: number,
    readonly recorded: RecordedDecision,
    readonly approval: ApprovalAnswer | null,
    private readonly text: string,
    private readonly start: number,
    private readonly end: number,
  ) {}

  // What the calls of its group share is read from the group: a row is then a smaller object,
  // and a million of them are less for the garbage collector to move.
  get session(): string {
    return this.group.session;
  }

  get identity(): string {
    return this.group.identity;
  }

  get tool(): string {
    return this.group.tool;
  }

  get call(): RecordedCall {
    return this;
  }

  get arguments(): unknown {
    if (this.parsed === NOT_PARSED) {
      this.parsed = this.start >= 0 ? JSON.parse(this.text.slice(this.start, this.end)) : undefined;
    }
    return this.parsed;
  }

  /** The arguments as the recording holds them (JSON text), or null for none. */
  get argumentsText(): string | null {
    return this.start >= 0 ? this.text.slice(this.start, this.end) : null;
  }

  toJSON(): Call {
    const c: Call = {
      session: this.session,
      identity: this.identity,
      ts: this.ts,
      tool: this.tool,
    };
    if (this.arguments !== undefined) c.arguments = this.arguments;
    return c;
  }
}

const DECISIONS = new Set(["allow", "deny", "approval_required"]);

/** The last read's number (CallGroup.read); kept within an Int32Array's range, never 0. */
let reads = 0;

export interface ReadRecordingsOptions {
  filter?: CallFilter;
  /** Told before an older recording is upgraded in place (openStoreReadOnly). */
  onUpgrade?: ReadOpenOptions["onUpgrade"];
  /** Read the arguments (default true); false when no decision can look at them. */
  arguments?: boolean;
  /**
   * The policies that will decide the calls: only the arguments of calls whose tools their
   * rules with conditions name are read (argumentTools); none when no rule has conditions.
   */
  argumentsFor?: readonly Policy[];
}

/** A rule that may look at a call's arguments: decide() reads them only for these. */
const looksAtArguments = (r: Rule): boolean =>
  (r.action ?? "allow") === "allow" && !!(r.deny_if?.length || r.require?.length);

/**
 * The tool patterns of the rules of `policies` that may look at a call's arguments, top-level and
 * per grant; null when there are none. A call resolves to a rule of its identity's grant or of
 * the top level, so a call whose tool none of these patterns names (for its identity) is decided
 * without its arguments. More specific rules and hidden tools are not worked out: a call named
 * here whose tool resolves elsewhere only has its arguments read for nothing.
 */
export function argumentTools(policies: readonly Policy[]): ArgumentTools | null {
  const tools = new Set<string>();
  const grants = new Map<string, Set<string>>();
  for (const p of policies) {
    for (const [pattern, rule] of Object.entries(p.tools ?? {}))
      if (looksAtArguments(rule)) tools.add(pattern);
    for (const [identity, grant] of Object.entries(p.grants ?? {})) {
      for (const [pattern, rule] of Object.entries(grant.tools ?? {})) {
        if (!looksAtArguments(rule)) continue;
        let set = grants.get(identity);
        if (set === undefined) grants.set(identity, (set = new Set()));
        set.add(pattern);
      }
    }
  }
  if (tools.size === 0 && grants.size === 0) return null;
  return { tools: [...tools], grants: [...grants].map(([id, set]) => [id, [...set]]) };
}

/**
 * Stream the calls of one or more SQLite recordings in recorded order — each by time then
 * arrival; several merged by time, in one millisecond by the sequence of the counters they
 * shared (Redis's: a call without one first), then by position in `files` and row id, each
 * file's own order kept (CallStream) — as replay takes them: with
 * the recorded decision and any human approval answer (SPEC section 5). `line` is the call's
 * row id and `file` the position of its recording in `files`. The filter's time range,
 * sessions and identities are applied in SQL, its tool globs here. Throws StoreError (exit 2)
 * for a missing, corrupt or too-new file.
 */
export function* readRecordings(
  files: readonly string[],
  opts: ReadRecordingsOptions = {},
): Generator<TraceCall> {
  const filter = opts.filter ?? {};
  const query = toQuery(filter);
  if (opts.arguments === false) query.arguments = false;
  if (opts.argumentsFor !== undefined) {
    const tools = argumentTools(opts.argumentsFor);
    if (tools === null) query.arguments = false;
    else query.argumentTools = tools;
  }
  const tool = filter.tools ? toolMatcher(filter.tools) : null;
  const groups: CallGroup[][] = files.map(() => []);
  let index = 0;
  // Groups are numbered across all the files read, so a stage can keep its own per-group
  // state in one array indexed by id.
  let nextId = 0;
  reads = (reads % 0x3fffffff) + 1;
  const read = reads;
  const stream = new CallStream(files, query, opts.onUpgrade ? { onUpgrade: opts.onUpgrade } : {});
  const c = stream.cursor;
  try {
    while (stream.next()) {
      const perFile = groups[c.file]!;
      const g =
        perFile[c.keyId] ?? (perFile[c.keyId] = callGroup(nextId++, read, files[c.file]!, c, tool));
      if (!g.keep) continue;
      yield new RecordedCall(
        index++,
        c.id,
        c.file,
        g,
        c.ts,
        c.retryAfterMs === null ? g.recorded : recorded(g.recorded, c.retryAfterMs),
        // "unavailable": no human was asked, so there is no answer to reuse (SPEC section 5).
        c.approval === "unavailable" ? null : (c.approval as ApprovalAnswer | null),
        c.argsText,
        c.argsStart,
        c.argsEnd,
      );
    }
  } finally {
    stream.close();
  }
}

function callGroup(
  id: number,
  read: number,
  file: string,
  c: CallCursor,
  tool: ((t: string) => boolean) | null,
): CallGroup {
  const k = c.key;
  if (!DECISIONS.has(k[3])) {
    throw new StoreError(
      "store_corrupt",
      file,
      `${file}: calls row ${c.id}: unknown decision "${k[3]}" (expected allow, deny or approval_required)`,
    );
  }
  const r: RecordedDecision = {
    decision: k[3] as DecisionKind,
    code: k[4],
    rule: k[5],
    retry_after_ms: null,
  };
  // One object shape for every group: the fields in one order.
  return {
    id,
    read,
    keep: tool === null || tool(k[2]),
    recorded: r,
    session: k[0],
    identity: k[1],
    tool: k[2],
  };
}

/**
 * A recorded decision with a retry time, built as the trace reader builds it: one object
 * shape for both, and not frozen, so the diff reads them at full speed (a frozen or spread
 * copy has a map of its own, and the diff's property loads go megamorphic: twice as slow
 * overall, measured).
 */
function recorded(r: RecordedDecision, retry: number): RecordedDecision {
  return { decision: r.decision, code: r.code, rule: r.rule, retry_after_ms: retry };
}

/** The calls of one recording; see readRecordings. */
export function readRecording(
  file: string,
  opts: ReadRecordingsOptions = {},
): Generator<TraceCall> {
  return readRecordings([file], opts);
}

export interface ToolListsOptions {
  candidate: { loaded: LoadedPolicy; compiled: CompiledPolicy };
  baseline: { loaded: LoadedPolicy; compiled: CompiledPolicy } | null;
  filter?: CallFilter;
  /** The replay's calls, counted by identity and tool. */
  calls: ListedCalls | null;
}

/**
 * The tool-list comparison of recordings (visibility.ts): every recorded tools/list answer, in
 * one query per file, each session's compared under the baseline or else the policy it was
 * recorded under (parsed and compiled once per policy). When both sides hide the same patterns
 * (the usual edit of rules alone) no answer can read differently, and none is read: the query
 * scans every recorded message. Throws StoreError (exit 2) for an unreadable recording.
 */
export function compareToolLists(files: readonly string[], opts: ToolListsOptions): Visibility {
  const readers: StoreReader[] = [];
  // Each recorded policy by hash: its text (null when no recording read holds it), then compiled.
  const texts = new Map<string, string | null>();
  const compiled = new Map<string, CompiledPolicy | null>();
  const textOf = (reader: StoreReader, hash: string): string | null => {
    // A policy one recording lacks, another may hold.
    if (!texts.get(hash)) texts.set(hash, reader.policy(hash));
    return texts.get(hash)!;
  };
  try {
    for (const file of files) readers.push(openStoreReadOnly(file));
    const candidate = opts.candidate.loaded.policy;
    // Only the hide lists are looked at here: a recorded policy is parsed and compiled in full
    // only when its sessions' answers are read.
    const same = opts.baseline
      ? sameHides(candidate, opts.baseline.loaded.policy)
      : readers.every((r) =>
          r.sessionPolicies().every((h) => {
            const text = textOf(r, h);
            const hides = text === null ? null : hideListsOf(text);
            return hides !== null && sameHides(candidate, hides);
          }),
        );
    if (same) return sameHideVisibility();
    const diff = new VisibilityDiff({
      candidate: opts.candidate.compiled,
      baseline: opts.baseline?.compiled ?? null,
      ...(opts.filter ? { filter: opts.filter } : {}),
    });
    readers.forEach((reader, i) => {
      // Looked up before the answers are iterated: the connection runs one statement at a time.
      if (!opts.baseline) for (const h of reader.sessionPolicies()) textOf(reader, h);
      for (const l of reader.toolListings()) {
        diff.add(i, l, () => {
          const hash = l.policyHash;
          if (!compiled.has(hash))
            compiled.set(hash, compileRecorded(reader.file, hash, texts.get(hash) ?? null));
          return compiled.get(hash)!;
        });
      }
    });
    return diff.finish(opts.calls);
  } finally {
    for (const r of readers) r.close();
  }
}

/** A recorded policy compiled, or null when the recording lacks its text or it is not valid. */
function compileRecorded(file: string, hash: string, text: string | null): CompiledPolicy | null {
  if (text === null) return null;
  try {
    return compile(parsePolicyText(text, `${file} (policy ${hash.slice(0, 12)})`).policy);
  } catch (err) {
    if (err instanceof PolicyError) return null;
    throw err;
  }
}
