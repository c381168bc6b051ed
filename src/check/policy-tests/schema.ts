import * as z from "zod";
import type { DecisionCode, DecisionKind } from "../../engine/index.js";

// The one definition of a policy test file. The loader validates with it and the published
// JSON Schema (schema/policy-test.schema.json) is generated from it, so the two cannot disagree.

/** `decision` or `decision:code`, for each code that decision can have in a test. */
const CODES: Record<DecisionKind, readonly DecisionCode[]> = {
  allow: ["rule_allow", "default_allow"],
  // No counters_unavailable: a test counts in memory, so its counters always answer.
  deny: [
    "hidden",
    "rule_deny",
    "condition_deny",
    "requirement_failed",
    "rate_limited",
    "default_deny",
  ],
  approval_required: ["approval_required", "default_approval"],
};

export const EXPECTATIONS: readonly string[] = Object.entries(CODES).flatMap(([d, codes]) => [
  d,
  ...codes.map((c) => `${d}:${c}`),
]);

export const EXPECT_MESSAGE =
  'must be a decision ("allow", "deny", "approval_required"), optionally with ":code", like "deny:rate_limited"';

/** Digits and a unit: what a duration in a test file looks like. */
const DURATION = /^[0-9]{1,9}(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const DURATION_MESSAGE =
  'must be a duration: a whole number and a unit (ms, s, m, h, d), like "250ms", "1s", "5m" or "1d"';

/** Milliseconds in a duration that matched DURATION. */
export function durationMs(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text)!;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** Repeats of one step, at most: a step is decided this many times, and a file may be hostile. */
export const MAX_REPEAT = 100_000;

const name = (what: string) =>
  z.string({ error: `must be ${what} (a string)` }).min(1, { error: "must not be empty" });

const duration = z
  .string({ error: DURATION_MESSAGE })
  .regex(DURATION, { error: DURATION_MESSAGE })
  .meta({
    id: "Duration",
    description: 'A whole number and a unit: "250ms", "1s", "5m", "1h", "1d".',
  });

export const StepSchema = z
  .strictObject(
    {
      tool: name("the tool's name").meta({ description: "The tool called." }),
      args: z
        .record(z.string(), z.json().meta({ id: "JsonValue", description: "Any JSON value." }), {
          error: "must be an object of the call's arguments",
        })
        .meta({ description: "The call's arguments; none when absent." })
        .optional(),
      identity: name("an identity")
        .meta({ description: "Who calls; the case's identity when absent." })
        .optional(),
      session: name("a session id")
        .meta({ description: "The MCP session; the case's session when absent." })
        .optional(),
      repeat: z
        .int({ error: `must be a whole number from 1 to ${MAX_REPEAT}` })
        .min(1, { error: `must be a whole number from 1 to ${MAX_REPEAT}` })
        .max(MAX_REPEAT, { error: `must be a whole number from 1 to ${MAX_REPEAT}` })
        .meta({ description: "Make the call this many times, each expected to be decided alike." })
        .optional(),
      every: duration
        .meta({ description: 'Time between the repeats; "1ms" when absent. Needs repeat.' })
        .optional(),
      after: duration
        .meta({ description: 'Time since the previous step\'s (last) call; "1ms" when absent.' })
        .optional(),
      expect: z.enum(EXPECTATIONS as [string, ...string[]], { error: EXPECT_MESSAGE }).meta({
        description: 'The decision expected, optionally with its code: "deny:rate_limited".',
      }),
    },
    {
      error: (issue: { code?: string }) =>
        issue.code === "invalid_type"
          ? "must be a call: an object {tool, args?, identity?, session?, repeat?, every?, after?, expect}"
          : undefined,
    },
  )
  .superRefine((step, ctx) => {
    if (step.every !== undefined && step.repeat === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["every"],
        message: "needs repeat: it is the time between the repeats of a call",
      });
    }
  })
  .meta({ id: "Step", description: "A call, made once or repeated, and the decision expected." });

export const CaseSchema = z
  .strictObject(
    {
      name: name("the case's name").meta({
        description: "What the case shows, as reports name it.",
      }),
      identity: name("an identity")
        .meta({ description: 'Who calls, unless a step says; "anonymous" when absent.' })
        .optional(),
      session: name("a session id")
        .meta({ description: 'The MCP session, unless a step says; "session-1" when absent.' })
        .optional(),
      calls: z
        .array(StepSchema, { error: "must be a list of calls" })
        .min(1, { error: "must list at least one call" }),
    },
    {
      error: (issue: { code?: string }) =>
        issue.code === "invalid_type"
          ? "must be a case: an object {name, identity?, session?, calls}"
          : undefined,
    },
  )
  .meta({
    id: "Case",
    description:
      "Calls decided in order, at the times their steps say, with counters that start empty.",
  });

export const PolicyTestSchema = z
  .strictObject(
    {
      $schema: z.string({ error: "must be a string (the JSON Schema's location)" }).optional(),
      policy: name("the policy file (a path, relative to this file)").meta({
        description: "The policy under test, relative to this file; --policy replaces it.",
      }),
      cases: z
        .array(CaseSchema, { error: "must be a list of cases" })
        .min(1, { error: "must list at least one case" }),
    },
    {
      error: (issue: { code?: string }) =>
        issue.code === "invalid_type"
          ? 'must be a test file: a JSON object {"policy": ..., "cases": [...]}'
          : undefined,
    },
  )
  .meta({
    title: "policy-replay policy tests",
    description: "Unit tests of a policy: calls, and the decisions expected of them.",
  });

export type PolicyTestFile = z.infer<typeof PolicyTestSchema>;
export type TestCase = z.infer<typeof CaseSchema>;
export type TestStep = z.infer<typeof StepSchema>;

/** Keys each kind of object accepts, for "did you mean" on an unknown key. */
export const TEST_KEYS = {
  file: Object.keys(PolicyTestSchema.shape),
  case: Object.keys(CaseSchema.shape),
  step: Object.keys(StepSchema.shape),
} as const;

/** The JSON Schema of a policy test file, generated from the definition above. */
export function policyTestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PolicyTestSchema, { io: "input", target: "draft-2020-12" });
  // `every` without `repeat` is refused by a refinement, which JSON Schema cannot carry over.
  const step = (schema.$defs as Record<string, Record<string, unknown>> | undefined)?.["Step"];
  if (step) step["dependentRequired"] = { every: ["repeat"] };
  return schema;
}
