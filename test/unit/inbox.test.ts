// The registry's attestation inbox (src/io/registry/inbox.ts), with the real git and the real
// hook: REMOTE_ADDR set is how git daemon marks a push as anonymous.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { installAttestationInbox } from "../../src/io/registry/inbox";

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();

describe("attestation inbox", () => {
  let dir: string;
  let bare: string;
  let work: string;
  let base: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "boreal-inbox-"));
    bare = join(dir, "registry.git");
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare]);
    installAttestationInbox(bare);
    work = join(dir, "work");
    git(dir, "clone", "-q", bare, work);
    mkdirSync(join(work, "nodes"));
    writeFileSync(join(work, "nodes", "a1.yaml"), "member: coop-a\n");
    git(work, "add", "-A");
    git(work, "commit", "-qm", "a member's descriptor");
    git(work, "push", "-q", "origin", "HEAD:main"); // no REMOTE_ADDR: a member's own access
    base = git(work, "rev-parse", "HEAD");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Commits `files` on top of the mirror's main and pushes as git daemon would; the result and the mirror's main after. */
  function anonymousPush(files: Record<string, string | { symlink: string }>, ref = "HEAD:main", extra: string[] = []) {
    git(work, "fetch", "-q", "origin", "main");
    git(work, "reset", "-q", "--hard", "FETCH_HEAD");
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(work, path, ".."), { recursive: true });
      rmSync(join(work, path), { force: true });
      if (typeof content === "string") writeFileSync(join(work, path), content);
      else symlinkSync(content.symlink, join(work, path));
    }
    git(work, "add", "-A");
    git(work, "commit", "-qm", "push");
    const push = spawnSync("git", ["push", ...extra, "origin", ref], {
      cwd: work,
      encoding: "utf8",
      env: { ...process.env, REMOTE_ADDR: "198.51.100.11" },
    });
    return { status: push.status, output: push.stderr, main: git(bare, "rev-parse", "main") };
  }

  test("an anonymous push of a node's attestation and its signature is taken", () => {
    const push = anonymousPush({ "attestations/b1/a1.json": "{}\n", "attestations/b1/a1.json.sig": "sig\n" });
    expect(push.status, push.output).toBe(0);
    expect(git(bare, "show", "main:attestations/b1/a1.json")).toBe("{}");
    base = push.main;
  });

  test.each([
    ["a descriptor", { "nodes/a1.yaml": "member: mallory\n" }, /may only add or change attestations/],
    ["a file beside the attestations", { "attestations/b1/a1.yaml": "x\n" }, /may only add or change attestations/],
    ["a path outside the layout", { "attestations/b1/sub/a1.json": "x\n" }, /may only add or change attestations/],
    ["a symlink where an attestation goes", { "attestations/b1/c1.json": { symlink: "../../nodes/a1.yaml" } }, /plain files/],
  ])("an anonymous push of %s is refused, and main stays", (_what, files, reason) => {
    const push = anonymousPush(files);
    expect(push.status).not.toBe(0);
    expect(push.output).toMatch(reason);
    expect(push.main).toBe(base);
  });

  test("an anonymous push cannot delete an attestation, force main back, or make a branch", () => {
    git(work, "fetch", "-q", "origin", "main");
    git(work, "reset", "-q", "--hard", "FETCH_HEAD");
    git(work, "rm", "-q", "attestations/b1/a1.json");
    git(work, "commit", "-qm", "delete");
    const env = { ...process.env, REMOTE_ADDR: "198.51.100.11" };
    const deleted = spawnSync("git", ["push", "origin", "HEAD:main"], { cwd: work, encoding: "utf8", env });
    expect(deleted.status).not.toBe(0);
    const back = spawnSync("git", ["push", "--force", "origin", "HEAD~2:main"], { cwd: work, encoding: "utf8", env });
    expect(back.status).not.toBe(0);
    const branch = spawnSync("git", ["push", "origin", "HEAD:refs/heads/other"], { cwd: work, encoding: "utf8", env });
    expect(branch.status).not.toBe(0);
    expect(branch.stderr).toMatch(/only refs\/heads\/main takes attestations/);
    expect(git(bare, "rev-parse", "main")).toBe(base);
  });

  test("a member's own push (no REMOTE_ADDR) is not the inbox's business", () => {
    git(work, "fetch", "-q", "origin", "main");
    git(work, "reset", "-q", "--hard", "FETCH_HEAD");
    writeFileSync(join(work, "nodes", "a1.yaml"), "member: coop-a\nserial: 2\n");
    git(work, "commit", "-qam", "a new descriptor");
    git(work, "push", "-q", "origin", "HEAD:main");
    expect(git(bare, "rev-parse", "main")).toBe(git(work, "rev-parse", "HEAD"));
  });
});
