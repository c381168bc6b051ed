// The floor for replaying a recording: one thread reads every call row with better-sqlite3
// (raw rows, the columns a replay needs) and JSON.parses its arguments, deciding nothing.
// Run: node dist/bench/naive-read.js recording.sqlite
import Database from "better-sqlite3";

const db = new Database(process.argv[2]!, { readonly: true });
const rows = db
  .prepare("SELECT session, ts, identity, tool, arguments, decision, code, rule FROM calls")
  .raw()
  .iterate() as IterableIterator<unknown[]>;
let n = 0;
let fields = 0;
for (const row of rows) {
  const args = row[4] as string | null;
  // Count something of each parse, so the work cannot be optimised away.
  if (args !== null) fields += Object.keys(JSON.parse(args) as object).length;
  n++;
}
db.close();
process.stdout.write(`${n} calls, ${fields} argument fields\n`);
