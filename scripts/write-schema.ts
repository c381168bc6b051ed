// Writes schema/policy.schema.json, schema/config.schema.json and schema/policy-test.schema.json
// from the same zod definitions the loaders validate with. Tests fail when a committed file is
// stale, so run `npm run schema` after changing any of the formats.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { policyTestJsonSchema } from "../src/check/policy-tests/schema.js";
import { configJsonSchema } from "../src/cli/config.js";
import { policyJsonSchema } from "../src/policy/schema.js";

for (const [name, schema] of [
  ["policy.schema.json", policyJsonSchema()],
  ["config.schema.json", configJsonSchema()],
  ["policy-test.schema.json", policyTestJsonSchema()],
] as const) {
  const out = join(process.cwd(), "schema", name);
  writeFileSync(out, JSON.stringify(schema, null, 2) + "\n");
  console.log(`wrote ${out}`);
}
