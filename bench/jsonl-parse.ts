// The floor a JSONL replay is measured against: read a trace 64 KiB at a time, split it into
// lines and JSON.parse each, nothing more. `node dist/bench/jsonl-parse.js FILE`
import { closeSync, openSync, readSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

const fd = openSync(process.argv[2]!, "r");
const buf = Buffer.allocUnsafe(1 << 16);
const decoder = new StringDecoder("utf8");
let rest = "";
let lines = 0;
let keys = 0;
for (;;) {
  const n = readSync(fd, buf, 0, buf.length, null);
  const text = rest + (n === 0 ? decoder.end() : decoder.write(buf.subarray(0, n)));
  let start = 0;
  for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
    if (nl > start) {
      // Touch the value, so the parse cannot be skipped.
      keys += Object.keys(JSON.parse(text.slice(start, nl)) as object).length;
      lines++;
    }
    start = nl + 1;
  }
  rest = text.slice(start);
  if (n === 0) break;
}
if (rest.trim() !== "") {
  JSON.parse(rest);
  lines++;
}
closeSync(fd);
process.stdout.write(`${lines} lines, ${keys} keys\n`);
