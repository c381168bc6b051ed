// `--calls -` reads the trace from stdin: in-process with an injected stream, and through the
// real launcher with a pipe.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { cli, policyPath, root, type Ran } from "./support.js";

const TRACE = join(root, "fixtures/traces/fleet-loop.recorded.jsonl");

/** The CLI in-process, with `input` as its stdin (given in pieces, as a pipe gives it). */
async function withStdin(args: string[], input: string, isTTY = false): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const bytes = Buffer.from(input);
  const pieces = [];
  for (let i = 0; i < bytes.length; i += 7000) pieces.push(bytes.subarray(i, i + 7000));
  const stdin = Object.assign(Readable.from(pieces), { isTTY });
  const code = await run(args, {
    stdout: { write: (s: string) => void (stdout += s) },
    stderr: { write: (s: string) => void (stderr += s) },
    stdin,
    cwd: root,
    env: {},
  });
  return { code, stdout, stderr };
}

const spooled = (): string[] =>
  readdirSync(tmpdir()).filter((f) => f.startsWith("policy-replay-stdin-"));

describe("--calls -", () => {
  it("replays the trace on stdin: the report of the file, named stdin", async () => {
    const before = spooled();
    const args = ["--policy", policyPath("fleet.tightened"), "--format", "json"];
    const piped = await withStdin([...args, "--calls", "-"], readFileSync(TRACE, "utf8"));
    const file = await cli([...args, "--calls", TRACE]);
    expect(piped.stderr).toBe("");
    expect(piped.code).toBe(file.code);
    expect(piped.code).toBe(1);
    const a = JSON.parse(piped.stdout) as { source: string; calls: unknown[] };
    const b = JSON.parse(file.stdout) as { source: string; calls: unknown[] };
    expect(a.source).toBe("stdin");
    expect(a.calls).toEqual(b.calls);
    // The temporary copy is gone.
    expect(spooled()).toEqual(before);
  });

  it("with --since, which reads the trace twice (the warm-up, then the range)", async () => {
    const args = ["--policy", policyPath("fleet"), "--since", "2025-11-22T08:30:00Z"];
    const piped = await withStdin([...args, "--calls", "-"], readFileSync(TRACE, "utf8"));
    const file = await cli([...args, "--calls", TRACE]);
    expect(piped.code).toBe(file.code);
    expect(piped.stdout.split("\n")[0]).toBe(file.stdout.split("\n")[0]);
  });

  it("a bad line is named stdin:LINE, exit 2", async () => {
    const lines = readFileSync(TRACE, "utf8").split("\n");
    lines[2] = '{"session": "s1", "ts": "soon", "tool": "x"}';
    const r = await withStdin(["--policy", policyPath("fleet"), "--calls", "-"], lines.join("\n"));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'policy-replay: stdin:3: ts: must be integer milliseconds since the epoch, not "soon"\n',
    );
  });

  it("says how to end the input when stdin is a terminal", async () => {
    const r = await withStdin(["--policy", policyPath("fleet"), "--calls", "-"], "", true);
    expect(r.stderr).toBe("policy-replay: reading calls from stdin (end with Ctrl-D)\n");
    expect(r.stdout).toMatch(/^0 calls in 0 sessions replayed/);
  });

  it("with --db too: one source at a time, before reading stdin", async () => {
    const r = await cli(["--policy", policyPath("fleet"), "--calls", "-", "--db", "x.sqlite"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("policy-replay: --calls and --db: replay one source at a time\n");
  });

  it("through the launcher, from a pipe", async () => {
    const child = spawn(
      process.execPath,
      [join(root, "bin/policy-replay.js"), "--policy", policyPath("fleet"), "--calls", "-"],
      { cwd: root, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stdin.end(readFileSync(TRACE));
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toBe("501 calls in 8 sessions replayed. No decision changed.");
    expect(stdout).toContain("Source: stdin (");
  });
});
