// The registry's one commit-and-push-with-retry (templates/run/registry-publish.sh.hbs), as the
// registration's Pulumi command runs it and as a node's agent runs it (commitAndPush).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { publishScript, registrationEnv } from "../../src/program/components/registration";
import { commitAndPush } from "../../src/io/git";

const root = mkdtempSync(join(tmpdir(), "boreal-publish-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const git = (cwd: string, ...args: string[]) => {
  const result = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
};
const script = publishScript();

/** A bare mirror with one commit on main, in a directory of its own. */
function mirror(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  git(dir, "init", "-q", "--bare", "-b", "main", "mirror.git");
  git(dir, "clone", "-q", "mirror.git", "seed");
  git(join(dir, "seed"), "commit", "-q", "--allow-empty", "-m", "federation");
  git(join(dir, "seed"), "push", "-q", "origin", "HEAD:main");
  return dir;
}

function runScript(env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", script], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe("the registration (a member's pulumi up)", () => {
  test("eight members publishing at once all land on the mirror: each pusher retries on a rebase, out of step with the others", async () => {
    const dir = mirror("eight");
    const members = Array.from({ length: 8 }, (_, i) => `n${i + 1}`);
    for (const node of members) git(dir, "clone", "-q", "mirror.git", node);
    const runs = members.map((node) =>
      runScript(
        registrationEnv(join(dir, node), node, "origin", { content: `node: ${node}\n`, signature: "signature\n" }, "descriptor"),
      ).then((r) => ({ node, ...r })),
    );
    const results = await Promise.all(runs);
    for (const r of results) expect(r.status, `${r.node}: ${r.stderr}`).toBe(0);
    // Quiet on success, as the member's pulumi up shows it.
    for (const r of results) expect(r.stdout).toBe("");
    git(dir, "clone", "-q", "mirror.git", "check");
    const files = readdirSync(join(dir, "check", "nodes")).sort();
    expect(files).toEqual(members.flatMap((n) => [`${n}.yaml`, `${n}.yaml.sig`]).sort());
    expect(git(join(dir, "check"), "log", "--format=%s")).toContain("n3: descriptor\n");
  }, 120_000);

  test("without a remote it only writes, and says what to push; the same object again commits nothing", async () => {
    const dir = mirror("by-hand");
    git(dir, "clone", "-q", "mirror.git", "clone");
    const clone = join(dir, "clone");
    const env = registrationEnv(clone, "a1", "", { content: "node: a1\n", signature: "sig\n" }, "descriptor");
    const written = await runScript(env);
    expect(written).toMatchObject({ status: 0, stdout: "nodes/a1.yaml written: commit and push it to the federation's mirror\n" });
    expect(readFileSync(join(clone, "nodes", "a1.yaml"), "utf8")).toBe("node: a1\n");
    expect(readFileSync(join(clone, "nodes", "a1.yaml.sig"), "utf8")).toBe("sig\n");
    // No temp file left beside them.
    expect(readdirSync(join(clone, "nodes")).sort()).toEqual(["a1.yaml", "a1.yaml.sig"]);
    const pushed = await runScript({ ...env, PUBLISH: "origin" });
    expect(pushed.status, pushed.stderr).toBe(0);
    const again = await runScript({ ...env, PUBLISH: "origin" });
    expect(again.status, again.stderr).toBe(0);
    expect(git(clone, "log", "--format=%s")).toBe("a1: descriptor\nfederation\n");
  }, 60_000);

  test("a departure is the same script with the tombstone, and a remote that never takes the push is named with the fix", async () => {
    const dir = mirror("refused");
    git(dir, "clone", "-q", "mirror.git", "clone");
    const clone = join(dir, "clone");
    const env = registrationEnv(
      clone,
      "a1",
      join(dir, "absent.git"),
      { content: "node: a1\nleft: true\n", signature: "sig\n" },
      "left the federation",
    );
    const refused = await runScript(env);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split("\n").pop()).toBe(
      `could not push nodes/a1.yaml to ${join(dir, "absent.git")}: push it by hand (cd ${clone} && git push ${join(dir, "absent.git")} main)`,
    );
    expect(git(clone, "log", "-1", "--format=%s")).toBe("a1: left the federation\n");
  }, 60_000);
});

describe("a node's attestations (the agent's commitAndPush)", () => {
  /** The agent's checkout of a mirror: depth 1, on a branch of its own name. */
  function checkout(dir: string, name: string): string {
    const path = join(dir, name);
    mkdirSync(path);
    git(path, "init", "-q", "-b", "local");
    git(path, "fetch", "-q", "--depth", "1", "--no-tags", `file://${join(dir, "mirror.git")}`, "HEAD");
    git(path, "reset", "-q", "--hard", "FETCH_HEAD");
    return path;
  }
  const write = (dir: string, path: string, content: string) => {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  };
  const agent = { branch: "HEAD", attempts: 5, gitTimeoutSeconds: 20, author: { name: "boreal-agent", email: "boreal-agent@localhost" } };

  test("two nodes' rounds from the same tree: the second rebases on the first and pushes at its second attempt, as boreal-agent", () => {
    const dir = mirror("attest");
    const url = `file://${join(dir, "mirror.git")}`;
    const [a, b] = [checkout(dir, "a"), checkout(dir, "b")];
    const files = (node: string) => [`attestations/c1/${node}.json`, `attestations/c1/${node}.json.sig`];
    for (const [path, node] of [
      [a, "a1"],
      [b, "b1"],
    ]) {
      for (const file of files(node)) write(path, file, `${node}\n`);
    }
    expect(commitAndPush(script, { registry: a, files: files("a1"), message: "attestations by node a1", publish: url }, agent)).toEqual({
      published: true,
      outcome: "pushed",
    });
    expect(commitAndPush(script, { registry: b, files: files("b1"), message: "attestations by node b1", publish: url }, agent)).toEqual({
      published: true,
      outcome: "pushed (attempt 2)",
    });
    git(dir, "clone", "-q", "mirror.git", "check");
    expect(readdirSync(join(dir, "check", "attestations", "c1")).sort()).toEqual(["a1.json", "a1.json.sig", "b1.json", "b1.json.sig"]);
    expect(git(join(dir, "check"), "log", "--format=%an <%ae> %s")).toBe(
      "boreal-agent <boreal-agent@localhost> attestations by node b1\nboreal-agent <boreal-agent@localhost> attestations by node a1\nt <t@t> federation\n",
    );
  }, 60_000);

  test("a mirror that does not answer: not published, with git's own last words, without waiting out every attempt", () => {
    const dir = mirror("gone");
    const path = checkout(dir, "a");
    write(path, "attestations/c1/a1.json", "a1\n");
    const started = Date.now();
    const result = commitAndPush(
      script,
      { registry: path, files: ["attestations/c1/a1.json"], message: "m", publish: join(dir, "absent.git") },
      agent,
    );
    expect(result.published).toBe(false);
    // git's last line, as a log line can hold it (here the end of "does not appear to be a git repository ...").
    expect(result.outcome).toBe("not published: and the repository exists.");
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});
