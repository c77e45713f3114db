import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import type { RenderedFile } from "../../src/render";
import { installScript, originalPath, removeScript } from "../../src/render/scripts";

// The file scripts run as the kit runs them on a node: sh, stdin as the content.
const work = mkdtempSync(join(tmpdir(), "boreal-scripts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const owner = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
const file = (name: string, content: string): RenderedFile => ({ path: join(work, "etc", name), content, mode: "0640", owner, role: "dns" });
const sh = (script: string, input = "") => {
  const result = spawnSync("sh", ["-c", script], { input, encoding: "utf8" });
  if (result.status !== 0) throw new Error(result.stderr);
};

describe("file install and removal on the node", () => {
  test("a file of the member's own is kept aside, and put back on delete", () => {
    const knot = file("knot.conf", "# Managed by boreal-kit\nserver:\n");
    sh(`mkdir -p ${join(work, "etc")}`);
    writeFileSync(knot.path, "# the member's own knot.conf\n");
    sh(installScript(knot), knot.content);
    expect(readFileSync(knot.path, "utf8")).toBe(knot.content);
    expect(readFileSync(originalPath(knot), "utf8")).toBe("# the member's own knot.conf\n");
    expect((spawnSync("stat", ["-c", "%a", knot.path], { encoding: "utf8" }).stdout ?? "").trim()).toBe("640");

    // A second apply (an update) must not take our own file for the member's.
    sh(installScript(knot), `${knot.content}# changed\n`);
    expect(readFileSync(originalPath(knot), "utf8")).toBe("# the member's own knot.conf\n");

    sh(removeScript(knot));
    expect(readFileSync(knot.path, "utf8")).toBe("# the member's own knot.conf\n");
    expect(existsSync(originalPath(knot))).toBe(false);
  });

  test("a file only the kit had is simply removed", () => {
    const zone = file("zone", "; Managed by boreal-kit\n");
    sh(installScript(zone), zone.content);
    expect(existsSync(originalPath(zone))).toBe(false);
    sh(removeScript(zone));
    expect(existsSync(zone.path)).toBe(false);
  });

  test("no temp file is left behind", () => {
    const listed = spawnSync("sh", ["-c", `ls -a ${join(work, "etc")}`], { encoding: "utf8" }).stdout;
    expect(listed).not.toMatch(/\.boreal\.[A-Za-z0-9]{6}/);
  });
});
