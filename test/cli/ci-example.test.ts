// The GitHub Actions workflow in docs/ci.md, read from the page: the step that fetches the base
// branch's policy runs in a real git repository, with and without a base version of the policy.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { root, tempRoot } from "./support.js";

const tempDir = tempRoot("ci-example");
const page = readFileSync(join(root, "docs/ci.md"), "utf8");
const workflow = /```yaml\n(# \.github\/workflows\/policy-replay\.yml[\s\S]*?)```/.exec(page)![1]!;

/** The `run: |` script of the step named `name`, unindented. */
function script(name: string): string {
  const at = workflow.indexOf(`- name: ${name}`);
  expect(at, name).toBeGreaterThan(-1);
  const lines = workflow.slice(at).split("\n");
  const start = lines.findIndex((l) => /^\s+run: \|$/.test(l));
  const indent = /^\s*/.exec(lines[start + 1]!)![0].length;
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() !== "" && /^\s*/.exec(l)![0].length < indent) break;
    body.push(l.slice(indent));
  }
  return body.join("\n");
}

function git(cwd: string, ...args: string[]): void {
  const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
}

/** A clone whose origin's `main` has, or has not, the policy; the base step run in it. */
function baseStep(withPolicy: boolean): { status: number | null; output: string; temp: string } {
  const dir = tempDir();
  const origin = join(dir, "origin");
  mkdirSync(join(origin, "policies"), { recursive: true });
  git(origin, "init", "-q", "-b", "main");
  writeFileSync(join(origin, "README"), "x\n");
  if (withPolicy) writeFileSync(join(origin, "policies/gateway.json"), '{"version":"1"}\n');
  git(origin, "add", "-A");
  git(origin, "commit", "-q", "-m", "base");
  git(dir, "clone", "-q", origin, "clone");
  const temp = join(dir, "runner-temp");
  mkdirSync(temp);
  const outputs = join(dir, "github-output");
  writeFileSync(outputs, "");
  const text = script("The policy as it is on the base branch").replace(
    "${{ github.base_ref }}",
    "main",
  );
  const r = spawnSync("bash", ["-e", "-c", text], {
    cwd: join(dir, "clone"),
    encoding: "utf8",
    env: { ...process.env, RUNNER_TEMP: temp, GITHUB_OUTPUT: outputs },
  });
  return { status: r.status, output: readFileSync(outputs, "utf8"), temp };
}

describe("the GitHub Actions example", () => {
  it("compares with the base branch's policy when it has one", () => {
    const r = baseStep(true);
    expect(r.status).toBe(0);
    expect(r.output).toBe(`baseline=--baseline=${r.temp}/base-policy.json\n`);
    expect(readFileSync(join(r.temp, "base-policy.json"), "utf8")).toBe('{"version":"1"}\n');
  });

  it("goes on without a baseline when the pull request adds the policy", () => {
    const r = baseStep(false);
    expect(r.status).toBe(0);
    expect(r.output).toBe("");
  });

  it("saves no run, and edits only its own comment", () => {
    expect(workflow).toMatch(/npx policy-replay\n[\s\S]*--no-save\n/);
    expect(workflow).toContain("${{ steps.base.outputs.baseline }}");
    expect(workflow).not.toContain("--edit-last");
    const comment = script("Comment the report on the pull request");
    expect(comment).toContain("marker='<!-- policy-replay report -->'");
    expect(comment).toMatch(/startswith\(\\"\$marker\\"\)/);
  });
});
