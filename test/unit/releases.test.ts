// Which commit a release is, as the lab's mixed-version test finds it (src/lab/member-projects.ts):
// the tag, or in a clone without tags the commit that set package.json's version.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { releaseCommit, releasesOf } from "../../src/lab/member-projects";

const repo = mkdtempSync(join(tmpdir(), "boreal-releases-"));
afterAll(() => rmSync(repo, { recursive: true, force: true }));
const gitIn = (...args: string[]) =>
  execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org", ...args], { encoding: "utf8" }).trim();
const commitVersion = (version: string, note: string) => {
  writeFileSync(join(repo, "package.json"), `{\n  "name": "boreal-kit",\n  "version": "${version}",\n  "note": "${note}"\n}\n`);
  gitIn("add", "package.json");
  gitIn("commit", "-q", "-m", `${version} ${note}`);
  return gitIn("rev-parse", "HEAD");
};

describe("releases", () => {
  test("the CHANGELOG's releases, newest first; [Unreleased] is none", () => {
    const changelog = readFileSync(resolve(__dirname, "..", "..", "CHANGELOG.md"), "utf8");
    const releases = releasesOf(changelog);
    expect(releases.at(-1)).toBe("0.1.0");
    expect(releases).toContain("0.2.0");
    expect(releasesOf("## [Unreleased]\n\n## [1.10.0] - 2027-01-02\n\n## [1.9.3] - 2026-12-30\n")).toEqual(["1.10.0", "1.9.3"]);
  });

  test("a release is its tag; without the tag, the oldest commit that set package.json's version to it", () => {
    gitIn("init", "-q");
    commitVersion("0.1.0", "first");
    const release = commitVersion("0.2.0", "release");
    const later = commitVersion("0.2.0", "work after the release");
    expect(releaseCommit(repo, "0.2.0")).toBe(release);
    gitIn("tag", "-a", "v0.2.0", "-m", "0.2.0", later);
    expect(releaseCommit(repo, "0.2.0")).toBe(later);
    expect(() => releaseCommit(repo, "0.3.0")).toThrow(/release 0\.3\.0: no tag v0\.3\.0 and no commit sets package\.json's version to it/);
  });
});
