// The proxy benchmark's end-to-end rounds (bench/proxy.ts, part 3): many calls in flight through
// the proxy process, with the SDK's client and the fixture server, then a raw client and server.
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  bin,
  cpuNs,
  E2E_SECONDS,
  fixtureServer,
  IN_FLIGHT,
  int,
  newClient,
  nowNs,
  policyFile,
  report,
  stdio,
  tmp,
  us,
} from "./proxy-common.js";

export async function endToEnd(): Promise<void> {
  const file = join(tmp, "e2e.sqlite");
  const transport = stdio(process.execPath, [
    bin,
    "record",
    "--policy",
    policyFile,
    "--db",
    file,
    "--",
    process.execPath,
    fixtureServer,
  ]);
  const client = newClient();
  await client.connect(transport);
  for (let i = 0; i < 200; i++) await client.callTool({ name: "fleet_status", arguments: {} });
  const pid = transport.pid;
  const cpu0 = cpuNs(pid);
  const t0 = nowNs();
  const deadline = t0 + E2E_SECONDS * 1e9;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (nowNs() < deadline) {
      const r = await client.callTool({ name: "fleet_status", arguments: {} });
      if (r.isError) throw new Error(`fleet_status failed: ${JSON.stringify(r)}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const elapsedS = (nowNs() - t0) / 1e9;
  const cpu1 = cpuNs(pid);
  await client.close();
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare<[], { n: number }>(sql).get()!.n;
  const calls = 200 + done;
  const requests = count("SELECT count(*) AS n FROM messages WHERE method = 'tools/call'");
  // The answers: server messages with the id of a call that got its result.
  const answers = count(
    `SELECT count(*) AS n FROM messages WHERE direction = 1 AND jsonrpc_id IN
       (SELECT jsonrpc_id FROM calls WHERE outcome = 'result')`,
  );
  const decided = count("SELECT count(*) AS n FROM calls WHERE tool = 'fleet_status'");
  const gaps = count(
    "SELECT count(*) - (max(seq) - min(seq) + 1) AS n FROM messages GROUP BY session",
  );
  db.close();
  const complete = requests === calls && answers === calls && decided === calls && gaps === 0;
  const rate = (2 * done) / elapsedS;
  report(
    `end to end: SDK client, ${IN_FLIGHT} calls in flight, proxy + fixture server, msgs/s recorded`,
    int(rate),
    "(no target)",
    null,
  );
  report(`  tools/call per s (${int(done)} in ${E2E_SECONDS} s)`, int(done / elapsedS), "", null);
  report(
    "  in the file: requests, answers, decisions / calls made",
    `${int(requests)}, ${int(answers)}, ${int(decided)} / ${int(calls)}`,
    "none lost",
    complete,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  proxy process CPU per message (user + sys, /proc)",
      us((cpu1 - cpu0) / (2 * done)),
      "",
      null,
    );
  rmSync(file, { force: true });
}

// A minimal MCP server for the raw run: answers initialize, and each tools/call with K progress
// notifications and then the result, all in one write. Almost free, so the proxy is what is
// measured. K comes as the first argument.
const RAW_SERVER = `
const K = Number(process.argv[1]);
let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  buf += d;
  let out = "";
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.id === undefined) continue;
    if (m.method === "initialize") {
      out += JSON.stringify({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion,
        capabilities: { tools: {} }, serverInfo: { name: "raw-bench-server", version: "1.0.0" } } }) + "\\n";
      continue;
    }
    for (let k = 1; k <= K; k++)
      out += JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress",
        params: { progressToken: m.id, progress: k, total: K, message: "step " + k + " of " + K } }) + "\\n";
    out += JSON.stringify({ jsonrpc: "2.0", id: m.id,
      result: { content: [{ type: "text", text: "fleet ok: 4 hosts online" }] } }) + "\\n";
  }
  if (out) process.stdout.write(out);
});
process.stdin.on("end", () => process.exit(0));
`;

/**
 * The proxy process between a raw client (lines written and counted here, no SDK) and
 * RAW_SERVER: the proxy's own ceiling, with `notifications` server messages per tools/call.
 */
export async function rawEndToEnd(notifications: number, seconds: number): Promise<void> {
  const file = join(tmp, `raw-${notifications}.sqlite`);
  const child = spawn(
    process.execPath,
    [
      bin,
      "record",
      "--policy",
      policyFile,
      "--db",
      file,
      "--",
      process.execPath,
      "-e",
      RAW_SERVER,
      String(notifications),
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  // What the proxy says on stderr, each distinct line once.
  const said = new Set<string>();
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    for (const line of text.split("\n")) if (line.trim()) said.add(line);
  });
  const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
  const perCall = notifications + 2;
  let sent = 0;
  let answered = 0;
  let lines = 0;
  let carry = "";
  let t0 = 0;
  let tEnd = 0;
  let deadline = Infinity;
  let ready: () => void = () => {};
  const initialized = new Promise<void>((done) => (ready = done));
  const finished = new Promise<void>((done) => {
    const send = (n: number): void => {
      let out = "";
      for (let i = 0; i < n; i++) {
        sent++;
        out += `{"jsonrpc":"2.0","id":${sent},"method":"tools/call","params":{"name":"fleet_status","arguments":{}}}\n`;
      }
      if (out) child.stdin.write(out);
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const text = carry + chunk;
      const end = text.lastIndexOf("\n");
      carry = text.slice(end + 1);
      let answers = 0;
      for (let i = text.indexOf("\n"); i !== -1 && i <= end; i = text.indexOf("\n", i + 1)) lines++;
      // Answers are the lines with a result; the rest are notifications.
      for (
        let i = text.indexOf('"result"');
        i !== -1 && i < end;
        i = text.indexOf('"result"', i + 1)
      )
        answers++;
      if (t0 === 0) {
        // The initialize answer: start the session, then keep IN_FLIGHT calls going.
        child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
        ready();
        return;
      }
      answered += answers;
      if (nowNs() < deadline) send(answers);
      else if (answered === sent) {
        tEnd = nowNs();
        done();
      }
    });
  });
  child.stdin.write(
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw-bench","version":"1.0.0"}}}\n',
  );
  await initialized;
  const cpu0 = cpuNs(child.pid);
  t0 = nowNs();
  deadline = t0 + seconds * 1e9;
  let out = "";
  for (let i = 0; i < IN_FLIGHT; i++) {
    sent++;
    out += `{"jsonrpc":"2.0","id":${sent},"method":"tools/call","params":{"name":"fleet_status","arguments":{}}}\n`;
  }
  child.stdin.write(out);
  await finished;
  const cpu1 = cpuNs(child.pid);
  child.stdin.end();
  const code = await exited;
  for (const line of said) process.stderr.write(`proxy (raw run): ${line}\n`);
  if (code !== 0) throw new Error(`raw run: the proxy exited with ${code}`);
  const elapsedS = (tEnd - t0) / 1e9;
  const db = new Database(file, { readonly: true });
  const count = (sql: string): number => db.prepare<[], { n: number }>(sql).get()!.n;
  const stored = count("SELECT count(*) AS n FROM messages");
  const decided = count("SELECT count(*) AS n FROM calls WHERE outcome = 'result'");
  const gaps = count("SELECT count(*) - (max(seq) - min(seq) + 1) AS n FROM messages");
  db.close();
  // initialize, its answer, notifications/initialized, then each call's messages.
  const expected = 3 + sent * perCall;
  const complete =
    stored === expected && decided === sent && gaps === 0 && lines === 1 + sent * (perCall - 1);
  const rate = (sent * perCall) / elapsedS;
  report(
    `end to end, raw client and server, proxy process, 1 tools/call per ${perCall} msgs: msgs/s`,
    int(rate),
    "(no target)",
    null,
  );
  report(
    `  tools/call per s; in the file: messages, decisions / expected`,
    `${int(sent / elapsedS)}; ${int(stored)}, ${int(decided)} / ${int(expected)}, ${int(sent)}`,
    "none lost",
    complete,
  );
  if (cpu0 !== null && cpu1 !== null)
    report(
      "  proxy process CPU per message (user + sys, /proc)",
      us((cpu1 - cpu0) / (sent * perCall)),
      "",
      null,
    );
  rmSync(file, { force: true });
}
