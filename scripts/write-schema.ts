// Writes schema/policy.schema.json from the same zod definition the loader validates with.
// A test fails when the committed file is stale, so run `npm run schema` after changing the format.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { policyJsonSchema } from "../src/policy/schema.js";

const out = join(process.cwd(), "schema", "policy.schema.json");
writeFileSync(out, JSON.stringify(policyJsonSchema(), null, 2) + "\n");
console.log(`wrote ${out}`);
