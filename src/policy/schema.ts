import * as z from "zod";
import { checkPattern } from "./regex.js";

// The one definition of the policy format (SPEC section 1). The validator, the TypeScript types
// and the published JSON Schema (schema/policy.schema.json) are all derived from it, so they
// cannot disagree. Every leaf carries its own plain-English message; the loader adds where the
// fault is, what was found and a "did you mean".

export const ACTIONS = ["allow", "deny", "require_approval"] as const;
export const WINDOW_NAMES = ["second", "minute", "hour", "day"] as const;
export const SCOPES = ["grant", "session", "global"] as const;
export const ALGORITHMS = ["sliding", "fixed"] as const;
export const OPS = [
  "eq",
  "neq",
  "in",
  "not_in",
  "lt",
  "lte",
  "gt",
  "gte",
  "regex",
  "contains",
  "exists",
] as const;

const quoted = (xs: readonly string[]): string => xs.map((x) => `"${x}"`).join(", ");

/** Message for a value of the wrong type where an object is expected; zod's own otherwise. */
const objectError =
  (what: string) =>
  (issue: { code?: string }): string | undefined =>
    issue.code === "invalid_type" ? `must be ${what}` : undefined;

const pattern = z
  .string({ error: "must be a tool name or glob pattern (a string)" })
  .min(1, { error: "must not be empty" })
  .meta({
    id: "Pattern",
    description: "An exact tool name, or a glob where * matches any run and ? one character.",
  });

const action = z
  .enum(ACTIONS, { error: `must be one of ${quoted(ACTIONS)}` })
  .meta({ id: "Action" });

const window = z
  .union(
    [
      z.enum(WINDOW_NAMES),
      // Decisions are made on integer milliseconds, so a window must be a whole number of them.
      z.number().positive({ error: "must be a positive number of seconds" }).multipleOf(0.001, {
        error: "must be a whole number of milliseconds (at most 3 decimals)",
      }),
    ],
    {
      error: `must be one of ${quoted(WINDOW_NAMES)} or a positive number of seconds (whole milliseconds)`,
    },
  )
  .meta({ id: "Window", description: "A named window, or a number of seconds." });

const max = z
  .int({
    error: (issue) =>
      issue.code === "too_big" ? "is too large (at most 2^53 - 1)" : "must be a whole number >= 0",
  })
  .min(0, { error: "must be a whole number >= 0" })
  .meta({ description: "Calls allowed per window; 0 never allows a call." });

export const LimitSchema = z
  .strictObject(
    {
      counter: z
        .string({ error: "must be a counter name (a string)" })
        .min(1, { error: "must not be empty" })
        .meta({ description: "Limits that name the same counter share one count, across rules." }),
      window,
      max,
      scope: z.enum(SCOPES, { error: `must be one of ${quoted(SCOPES)}` }).optional(),
      algorithm: z.enum(ALGORITHMS, { error: `must be one of ${quoted(ALGORITHMS)}` }).optional(),
    },
    { error: objectError("a limit: an object {counter, window, max, scope?, algorithm?}") },
  )
  .meta({
    id: "Limit",
    description: "A rate limit: at most `max` calls per `window` on one counter key.",
  });

export const RateLimitSchema = z.strictObject({ max, window }).meta({
  id: "RateLimit",
  description: "Shorthand: one sliding limit, scope session, counter private to the rule.",
});

const conditionPath = z
  .string({ error: 'must be a string like "args.meta.owner"' })
  .regex(/^args(\.[^.]+)+$/, {
    error: 'must be "args." followed by dot-separated keys, like "args.meta.owner"',
  });

const jsonValue = z.json().meta({ description: "Any JSON value." });

const condition = <O extends (typeof OPS)[number], V extends z.ZodType>(op: O, value: V) =>
  z.strictObject({ path: conditionPath, op: z.literal(op), value });

export const ConditionSchema = z
  .discriminatedUnion(
    "op",
    [
      condition("eq", jsonValue),
      condition("neq", jsonValue),
      condition("in", z.array(jsonValue, { error: "must be a list of values for op in" })),
      condition("not_in", z.array(jsonValue, { error: "must be a list of values for op not_in" })),
      condition("lt", z.number({ error: "must be a number for op lt" })),
      condition("lte", z.number({ error: "must be a number for op lte" })),
      condition("gt", z.number({ error: "must be a number for op gt" })),
      condition("gte", z.number({ error: "must be a number for op gte" })),
      condition(
        "regex",
        z
          .string({ error: "must be a regular expression (a string) for op regex" })
          .superRefine((source, ctx) => {
            const fault = checkPattern(source);
            if (fault) {
              ctx.addIssue({
                code: "custom",
                message: `is not an accepted regex: at character ${fault.position}, ${fault.reason}`,
              });
            }
          })
          .meta({
            format: "regex",
            description:
              "Searched, unanchored, in a string argument. The common subset of ECMAScript and RE2 syntax, with ECMAScript's meaning; no backreferences, lookaround, named groups or inline flags.",
          }),
      ),
      condition("contains", jsonValue),
      condition("exists", z.boolean({ error: "must be true or false for op exists" })),
    ],
    {
      error: (issue: { code?: string }) =>
        issue.code === "invalid_type"
          ? "must be a condition: an object {path, op, value}"
          : `must be one of ${quoted(OPS)}`,
    },
  )
  .meta({
    id: "Condition",
    description: "A test on one of the call's arguments.",
  });

const conditions = z.array(ConditionSchema, { error: "must be a list of conditions" });

export const RuleSchema = z
  .strictObject(
    {
      action: action.optional(),
      reason: z.string({ error: "must be a string" }).optional(),
      deny_if: conditions.optional(),
      require: conditions.optional(),
      limits: z.array(LimitSchema, { error: "must be a list of limits" }).optional(),
      rate_limit: RateLimitSchema.optional(),
    },
    {
      error: objectError(
        "a rule: an object {action?, reason?, deny_if?, require?, limits?, rate_limit?}",
      ),
    },
  )
  .meta({ id: "Rule", description: "What to do with calls of the tools this pattern matches." });

const rules = z.record(pattern, RuleSchema, { error: "must be an object of pattern -> rule" });
const hide = z.array(pattern, { error: "must be a list of tool name patterns" });

export const GrantSchema = z
  .strictObject({
    default: action.optional(),
    tools: rules.optional(),
    hide: hide.optional(),
  })
  .meta({
    id: "Grant",
    description: "Overrides for one identity, looked at before the top-level ones.",
  });

export const PolicySchema = z
  .strictObject(
    {
      $schema: z.string({ error: "must be a string (the JSON Schema's location)" }).optional(),
      version: z.literal("1", { error: 'must be "1"' }),
      default: action.optional(),
      tools: rules.optional(),
      hide: hide.optional(),
      grants: z
        .record(
          z.string({ error: "must be an identity name" }).min(1, { error: "must not be empty" }),
          GrantSchema,
          { error: "must be an object of identity -> grant" },
        )
        .optional(),
    },
    { error: objectError('a policy: a JSON object with at least "version": "1"') },
  )
  .meta({
    title: "policy-replay policy",
    description: "An MCP gateway policy (policy-replay policy format, version 1).",
  });

export type Policy = z.infer<typeof PolicySchema>;
export type Rule = z.infer<typeof RuleSchema>;
export type Limit = z.infer<typeof LimitSchema>;
export type Condition = z.infer<typeof ConditionSchema>;
export type Grant = z.infer<typeof GrantSchema>;
export type Action = (typeof ACTIONS)[number];
export type WindowSpec = Limit["window"];

/** Keys each kind of object accepts, for "did you mean" on an unknown key. */
export const KNOWN_KEYS = {
  policy: Object.keys(PolicySchema.shape),
  rule: Object.keys(RuleSchema.shape),
  limit: Object.keys(LimitSchema.shape),
  rate_limit: Object.keys(RateLimitSchema.shape),
  grant: Object.keys(GrantSchema.shape),
  condition: ["path", "op", "value"],
} as const;

/** The JSON Schema of the policy format, generated from the definition above. */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PolicySchema, { io: "input", target: "draft-2020-12" });
  const defs = schema.$defs as Record<string, Record<string, unknown>> | undefined;
  const condition = defs?.["Condition"];
  if (defs && condition) defs["Condition"] = discriminateOnOp(condition);
  return schema;
}

/**
 * A condition is one of eleven shapes told apart by `op`. As a plain `oneOf`, an editor reports
 * every branch's fault for one misspelt `op` (eleven errors); keyed on `op` with if/then, it
 * reports the one fault: `op` is not one of the operators, or what that operator's shape lacks.
 */
function discriminateOnOp(condition: Record<string, unknown>): Record<string, unknown> {
  const branches = condition["oneOf"];
  if (!Array.isArray(branches)) return condition;
  const ops: string[] = [];
  const cases = branches.map((branch: { properties?: { op?: { const?: unknown } } }) => {
    const op = branch.properties?.op?.const;
    if (typeof op !== "string") throw new Error("a condition branch without a constant op");
    ops.push(op);
    return { if: { properties: { op: { const: op } }, required: ["op"] }, then: branch };
  });
  return {
    type: "object",
    properties: { op: { type: "string", enum: ops } },
    required: ["op"],
    allOf: cases,
  };
}
