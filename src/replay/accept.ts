import { readFileSync } from "node:fs";
import * as z from "zod";
import type { DecisionKind } from "../engine/index.js";
import { compileGlob, type Glob } from "../engine/glob.js";
import { type Fault, InputError } from "../errors.js";
import {
  decodeUtf8,
  describe,
  describeIoError,
  formatPath,
  locate,
  MISSING,
  readJsonDocument,
  valueAt,
} from "../policy/load.js";
import { didYouMean, suggest } from "../policy/suggest.js";
import { CHANGE_CLASSES, type ChangeClass } from "./diff.js";
import type { CallResult } from "./replay.js";

// An accept list (--accept FILE) is a committed, reviewed list of decision changes that must no
// longer fail the gate:
//
//   { "accept": [
//       { "session": "ops-93314522", "call": 3, "change": "tightened", "code": "condition_deny",
//         "reason": "credential reads are denied on purpose now" },
//       { "tool": "fleet_secrets_*", "change": "tightened", "reason": "cap lowered to 10" } ] }
//
// An entry names either one call (its session and its 1-based position in that session, in
// replay order) or a tool glob and one change class. `change`, `decision` and `code` (the new
// decision and code) are expectations: an entry covers a change only if they all hold, so an
// accepted call that later changes differently fails the gate again.

const DECISIONS = ["allow", "deny", "approval_required"] as const;
const quoted = (xs: readonly string[]): string => xs.map((x) => `"${x}"`).join(", ");

const ENTRY_KEYS = ["session", "call", "tool", "change", "decision", "code", "reason"] as const;
const FILE_KEYS = ["$schema", "accept"] as const;

const nonEmpty = (what: string) =>
  z.string({ error: `must be ${what} (a string)` }).min(1, { error: "must not be empty" });

const EntrySchema = z
  .strictObject(
    {
      session: nonEmpty("a session id").optional(),
      call: z
        .int({ error: "must be a whole number >= 1 (the call's position in its session)" })
        .min(1, { error: "must be a whole number >= 1 (the call's position in its session)" })
        .optional(),
      tool: nonEmpty("a tool name or glob pattern").optional(),
      change: z
        .enum(CHANGE_CLASSES, { error: `must be one of ${quoted(CHANGE_CLASSES)}` })
        .optional(),
      decision: z.enum(DECISIONS, { error: `must be one of ${quoted(DECISIONS)}` }).optional(),
      code: nonEmpty("a decision code").optional(),
      reason: z.string({ error: "must be a string" }).optional(),
    },
    { error: "must be an object: {session, call, ...} or {tool, change, ...}" },
  )
  .superRefine((e, ctx) => {
    if (e.tool !== undefined) {
      for (const key of ["session", "call"] as const) {
        if (e[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "an entry names either a tool or a session and call, not both",
          });
        }
      }
      if (e.change === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["change"],
          message: 'missing required key "change" (an entry by tool accepts one class of change)',
        });
      }
    } else {
      for (const key of ["session", "call"] as const) {
        if (e[key] === undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `missing required key "${key}" (an entry names a session and a call, or a tool)`,
          });
        }
      }
    }
  });

const AcceptFileSchema = z.strictObject(
  {
    $schema: z.string({ error: "must be a string" }).optional(),
    accept: z.array(EntrySchema, { error: "must be a list of entries" }),
  },
  { error: 'must be an object with an "accept" list' },
);

/** One entry of an accept list, with where it is written. */
export interface AcceptEntry {
  /** Position in the `accept` list, 0-based. */
  index: number;
  line: number;
  column: number;
  session?: string;
  call?: number;
  tool?: string;
  change?: ChangeClass;
  decision?: DecisionKind;
  code?: string;
  reason?: string;
}

/** A validated accept list; `file` is the name used in messages. */
export interface AcceptList {
  file: string;
  entries: AcceptEntry[];
}

/** Read and validate an accept list; throws InputError (exit 2) with file:line:col faults. */
export function loadAcceptFile(path: string, file = path): AcceptList {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new InputError(file, [
      { path: "", message: `cannot read the accept list (${describeIoError(err)})` },
    ]);
  }
  return parseAcceptText(
    decodeUtf8(bytes, (f) => new InputError(file, f)),
    file,
  );
}

/** Validate accept-list text (named `file` in messages); throws InputError listing every fault. */
export function parseAcceptText(text: string, file = "<accept>"): AcceptList {
  const { lines, tree, value, faults } = readJsonDocument(text, (f) => new InputError(file, f));
  const result = AcceptFileSchema.safeParse(value);
  if (!result.success) {
    // A misspelt key is reported as unknown, with its "did you mean"; the same key reported
    // missing again would only echo that.
    const suggested = new Set<string>();
    const missing: { path: string; fault: Fault }[] = [];
    for (const issue of result.error.issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
      if (issue.code === "unrecognized_keys") {
        const known = path.length === 0 ? FILE_KEYS : ENTRY_KEYS;
        for (const key of issue.keys) {
          const near = suggest(key, known);
          if (near !== undefined) suggested.add(formatPath([...path, near]));
          faults.push({
            path: formatPath([...path, key]),
            message: `unknown key${didYouMean(key, known)}`,
            ...locate(tree, [...path, key], lines, true),
          });
        }
        continue;
      }
      const found = valueAt(value, path);
      if (found === MISSING) {
        // Point at the object the key is missing from.
        const key = String(path[path.length - 1]);
        const fault = {
          path: formatPath(path),
          message: issue.code === "custom" ? issue.message : `missing required key "${key}"`,
          ...locate(tree, path.slice(0, -1), lines, false),
        };
        missing.push({ path: fault.path, fault });
        continue;
      }
      let message = issue.message;
      if (issue.code === "invalid_value") {
        message += `, not ${describe(found)}${didYouMean(found, issue.values.map(String))}`;
      } else if (issue.code !== "custom" && found !== "") {
        message += `, not ${describe(found)}`;
      }
      faults.push({ path: formatPath(path), message, ...locate(tree, path, lines, false) });
    }
    for (const m of missing) if (!suggested.has(m.path)) faults.push(m.fault);
  }
  const entries: AcceptEntry[] = [];
  if (result.success) {
    const seen = new Map<string, AcceptEntry>();
    result.data.accept.forEach((e, index) => {
      const at = locate(tree, ["accept", index], lines, false);
      const entry: AcceptEntry = { index, line: at.line ?? 1, column: at.column ?? 1, ...e };
      if (e.session !== undefined && e.call !== undefined) {
        // Two entries for one call would disagree, or one would be dead: say so now.
        const key = callKey(e.session, e.call);
        const earlier = seen.get(key);
        if (earlier) {
          faults.push({
            path: formatPath(["accept", index]),
            message: `names the same call as accept[${earlier.index}] (line ${earlier.line})`,
            ...at,
          });
        }
        seen.set(key, entry);
      }
      entries.push(entry);
    });
  }
  if (faults.length > 0) {
    faults.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new InputError(file, faults);
  }
  return { file, entries };
}

const callKey = (session: string, call: number): string => `${call}\u0000${session}`;

/**
 * Applies an accept list to results as they stream past: apply(r) sets r.accepted when an entry
 * covers r's change. Unchanged calls cost one branch (two on a session's first call).
 */
export class Acceptor {
  private readonly byCall = new Map<string, AcceptEntry>();
  private readonly byTool: { entry: AcceptEntry; re: Glob }[] = [];
  /** Sessions named by call entries, and whether the replay met them. */
  private readonly sessions = new Map<string, boolean>();
  private readonly used: number[];
  /** Why a call entry did not cover the change at its call, for the stale-entry note. */
  private readonly mismatch = new Map<AcceptEntry, string>();

  constructor(readonly list: AcceptList) {
    this.used = list.entries.map(() => 0);
    for (const e of list.entries) {
      if (e.tool !== undefined) this.byTool.push({ entry: e, re: compileGlob(e.tool) });
      else if (e.session !== undefined && e.call !== undefined) {
        this.byCall.set(callKey(e.session, e.call), e);
        this.sessions.set(e.session, false);
      }
    }
  }

  /** Mark `r` accepted if an entry covers its change. Call it for every result, in order. */
  apply(r: CallResult): void {
    if (r.firstInSession && this.sessions.size > 0 && this.sessions.has(r.source.call.session)) {
      this.sessions.set(r.source.call.session, true);
    }
    if (r.change === null) return;
    if (this.byCall.size > 0) {
      const e = this.byCall.get(callKey(r.source.call.session, r.ordinal));
      if (e) {
        if (expected(e, r)) return this.accept(e, r);
        this.mismatch.set(
          e,
          `call ${r.ordinal} of session ${JSON.stringify(e.session)} changed differently: ${r.change} to ${r.after.decision} (${r.after.code})`,
        );
      }
    }
    for (const { entry, re } of this.byTool) {
      if (re.test(r.source.call.tool) && expected(entry, r)) return this.accept(entry, r);
    }
  }

  private accept(e: AcceptEntry, r: CallResult): void {
    r.accepted = true;
    this.used[e.index]!++;
    this.mismatch.delete(e);
  }

  /** One line per entry that covered nothing in this replay, saying why where it can. */
  staleNotes(): string[] {
    const out: string[] = [];
    for (const e of this.list.entries) {
      if (this.used[e.index]! > 0) continue;
      let why: string;
      if (e.tool !== undefined) {
        const how = `${e.change}${e.decision ? ` to ${e.decision}` : ""}${e.code ? ` with code ${e.code}` : ""}`;
        why = `no change of a tool matching ${JSON.stringify(e.tool)} was ${how}`;
      } else if (this.sessions.get(e.session!) === false) {
        why = `no session ${JSON.stringify(e.session)} in this replay`;
      } else {
        why =
          this.mismatch.get(e) ??
          `call ${e.call} of session ${JSON.stringify(e.session)} did not change`;
      }
      out.push(
        `${this.list.file}:${e.line}:${e.column}: accept[${e.index}] matched nothing: ${why}`,
      );
    }
    return out;
  }
}

function expected(e: AcceptEntry, r: CallResult): boolean {
  return (
    (e.change === undefined || e.change === r.change) &&
    (e.decision === undefined || e.decision === r.after.decision) &&
    (e.code === undefined || e.code === r.after.code)
  );
}
