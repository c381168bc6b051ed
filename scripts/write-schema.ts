// Writes schema/policy.schema.json and schema/config.schema.json from the same zod definitions
// the loaders validate with. Tests fail when a committed file is stale, so run `npm run schema`
// after changing either format.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { configJsonSchema } from "../src/cli/config.js";
import { policyJsonSchema } from "../src/policy/schema.js";

for (const [name, schema] of [
  ["policy.schema.json", policyJsonSchema()],
  ["config.schema.json", configJsonSchema()],
] as const) {
  const out = join(process.cwd(), "schema", name);
  writeFileSync(out, JSON.stringify(schema, null, 2) + "\n");
  console.log(`wrote ${out}`);
}
