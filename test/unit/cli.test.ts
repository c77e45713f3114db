import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FIXTURE_REGISTRY } from "../helpers/fixtures";
import { PROJECT_ROOT } from "../helpers/workspace";

// The CLI as users run it: compiled by tsc, started by node.
const work = mkdtempSync(join(tmpdir(), "boreal-cli-"));
const boreal = (...args: string[]) => spawnSync(process.execPath, [join(work, "dist/src/cli/boreal.js"), ...args], { encoding: "utf8" });

beforeAll(() => {
  const tsc = spawnSync(join(PROJECT_ROOT, "node_modules/.bin/tsc"), ["-p", PROJECT_ROOT, "--outDir", join(work, "dist")], { encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(tsc.stdout + tsc.stderr);
  writeFileSync(join(work, "Pulumi.yaml"), "name: cli-test\n");
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(work, "node_modules"));
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("boreal registry check", () => {
  test("a valid registry: exit 0 and one line per node", () => {
    const result = boreal("registry", "check", FIXTURE_REGISTRY);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/federation boreal-test, 3 node\(s\), valid/);
    expect(result.stdout).toMatch(/a1 \(coop-a\)\s+100\.64\.0\.1\s+fd42:b0:ea1::1\s+coop-a\.example\./);
  });

  test("a broken registry: exit 2, every problem with its file and fix, no stack trace", () => {
    const broken = join(work, "broken");
    cpSync(FIXTURE_REGISTRY, broken, { recursive: true });
    writeFileSync(join(broken, "nodes/a1.yaml"), "member: coop-a\nnode: a1\n");
    const result = boreal("registry", "check", broken);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/broken\/nodes\/a1.yaml: endpoint: endpoint is missing\n\s+fix: set endpoint to "host:port"/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test("bad usage prints the usage", () => {
    const result = boreal("registry");
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^boreal: usage:\n[\s\S]*\n\s+boreal registry check DIR/);
  });
});
