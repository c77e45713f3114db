// The reporter that makes `npm test` say what it skipped and why (test/reporters/skipped.ts):
// the prerequisites it reads from the real test files, and the run it fails under
// BOREAL_TEST_STRICT=1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { prerequisitesOf, present } from "../reporters/skipped";
import { PROJECT_ROOT } from "../helpers/workspace";

const names = (file: string) => prerequisitesOf(readFileSync(join(PROJECT_ROOT, file), "utf8")).map((p) => p.name);

describe("the prerequisites a test file probes for", () => {
  test("read from the kit's own test files", () => {
    expect(names("test/unit/render.test.ts")).toEqual(
      expect.arrayContaining([
        "systemd-analyze",
        "knotc",
        "kzonecheck",
        "nft",
        "wg-quick",
        "root",
        "the lab image of Debian bookworm",
        "the lab image of Debian trixie",
      ]),
    );
    expect(names("test/unit/dns-check-knot.test.ts")).toEqual(expect.arrayContaining(["knotd", "knotc"]));
    expect(names("test/unit/sshsig.test.ts")).toEqual(expect.arrayContaining(["ssh-agent", "ssh-add"]));
    expect(names("test/unit/seal-browser.test.ts")).toContain("chromium");
    expect(names("test/unit/toolchain.test.ts")).toContain("the Pulumi CLI");
    // A `command -v ${tool}` helper names no tool by itself.
    expect(prerequisitesOf('const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`])').map((p) => p.name)).toEqual([
      "sh",
    ]);
  });

  test("checked on this machine: a tool that does not exist is missing, sh is not", () => {
    expect(present({ name: "no-such-tool-boreal", fix: "" })).toBe(false);
    expect(present({ name: "sh", fix: "" })).toBe(true);
    expect(present({ name: "root", fix: "" })).toBe(process.getuid?.() === 0);
  });
});

describe("a run with a skipped test", () => {
  // A project of its own (no config: every *.test.ts), so no other run of the kit's tests collects the probe.
  const work = mkdtempSync(join(tmpdir(), "boreal-skip-report-"));
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(work, "node_modules"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test("lists it with the missing tool, and fails only under BOREAL_TEST_STRICT=1", () => {
    const file = join(work, "probe.test.ts");
    writeFileSync(
      file,
      [
        'import { spawnSync } from "node:child_process";',
        'import { expect, test } from "vitest";',
        'const hasTool = spawnSync("sh", ["-c", "command -v no-such-tool-boreal"]).status === 0;',
        'test.runIf(hasTool)("needs the tool", () => expect(1).toBe(1));',
        'test("runs", () => expect(1).toBe(1));',
        "",
      ].join("\n"),
    );
    const run = (strict: boolean) =>
      spawnSync(
        join(PROJECT_ROOT, "node_modules/.bin/vitest"),
        ["run", "--root", work, `--reporter=${join(PROJECT_ROOT, "test/reporters/skipped.ts")}`],
        { cwd: work, encoding: "utf8", env: { ...process.env, BOREAL_TEST_STRICT: strict ? "1" : "" } },
      );
    const relaxed = run(false);
    expect(relaxed.stdout).toMatch(
      /\nskipped: 1 test\(s\)\n {2}probe\.test\.ts: 1 skipped: this machine has no no-such-tool-boreal \(apt-get install/,
    );
    expect(relaxed.stdout).toMatch(/\n {4}- needs the tool\n/);
    expect(relaxed.status).toBe(0);
    const strict = run(true);
    expect(strict.stdout).toMatch(/BOREAL_TEST_STRICT=1: a skipped test fails this run/);
    expect(strict.status).toBe(1);
  }, 60_000);
});
