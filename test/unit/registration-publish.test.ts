import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { WRITE_AND_PUBLISH } from "../../src/program/components/registration";

const root = mkdtempSync(join(tmpdir(), "boreal-publish-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const git = (cwd: string, ...args: string[]) => {
  const result = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
};

test("eight members publishing at once all land on the mirror: each pusher retries on a rebase, out of step with the others", async () => {
  git(root, "init", "-q", "--bare", "-b", "main", "mirror.git");
  git(root, "clone", "-q", "mirror.git", "seed");
  git(join(root, "seed"), "commit", "-q", "--allow-empty", "-m", "federation");
  git(join(root, "seed"), "push", "-q", "origin", "HEAD:main");
  const members = Array.from({ length: 8 }, (_, i) => `n${i + 1}`);
  for (const node of members) git(root, "clone", "-q", "mirror.git", node);
  const runs = members.map(
    (node) =>
      new Promise<{ node: string; status: number | null; stderr: string }>((resolve) => {
        const child = spawn("sh", ["-c", WRITE_AND_PUBLISH], {
          env: { ...process.env, REGISTRY: join(root, node), NODE: node, CONTENT: `node: ${node}\n`, SIGNATURE: "signature\n", PUBLISH: "origin", WHAT: "joined" },
        });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (status) => resolve({ node, status, stderr }));
      }),
  );
  const results = await Promise.all(runs);
  for (const r of results) expect(r.status, `${r.node}: ${r.stderr}`).toBe(0);
  git(root, "clone", "-q", "mirror.git", "check");
  const files = readdirSync(join(root, "check", "nodes")).sort();
  expect(files).toEqual(members.flatMap((n) => [`${n}.yaml`, `${n}.yaml.sig`]).sort());
}, 120_000);
