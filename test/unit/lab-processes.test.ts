import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { expect, test } from "vitest";
import { descendants } from "../../src/lab/stacks";

test("descendants finds a process's whole tree, a child in a session of its own too (as Pulumi starts its plugins)", async () => {
  // sh → (setsid) sh → sleep, and sh → sleep: two levels, one of them outside sh's group.
  const root = spawn("sh", ["-c", "setsid sh -c 'sleep 30; true' & sleep 30 & wait"], { stdio: "ignore" });
  try {
    let tree: number[] = [];
    for (let i = 0; i < 50 && tree.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      tree = descendants(root.pid!);
    }
    // The two sleeps and the shell between (setsid runs it in place: sh is no group leader).
    expect(tree.length).toBeGreaterThanOrEqual(3);
    for (const pid of tree) expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(tree).not.toContain(root.pid);
    expect(descendants(tree[tree.length - 1])).toEqual([]);
    for (const pid of tree) process.kill(pid, "SIGKILL");
  } finally {
    root.kill("SIGKILL");
  }
});
