// Which project a lab command runs in: the one project of every stack, or the stack's member's own.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { stackFileOf } from "../../src/lab/lab";
import type { LabState } from "../../src/lab/lab";
import { LabStacks } from "../../src/lab/stacks";

const state = {} as LabState;
const dir = mkdtempSync(join(tmpdir(), "boreal-lab-stacks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lab stacks", () => {
  test("one project: every command runs there, named stack or not", () => {
    const stacks = new LabStacks("/work/kit", state);
    expect(stacks.projectOf(["stack", "ls"])).toBe("/work/kit");
    expect(stacks.projectOf(["up", "-s", "lab-node9"])).toBe("/work/kit");
  });

  test("members' own projects: the command runs in the project of the stack it names, and one naming none is refused", () => {
    const stacks = new LabStacks({ "lab-node1": "/m/coop-1", "lab-node2": "/m/coop-2" }, state);
    expect(stacks.projectOf(["up", "--yes", "-s", "lab-node2"])).toBe("/m/coop-2");
    expect(stacks.projectOf(["stack", "output", "--json", "--stack", "lab-node1"])).toBe("/m/coop-1");
    expect(() => stacks.projectOf(["stack", "ls"])).toThrow(
      /each stack is in its member's project; name one with -s \(lab-node1, lab-node2\)/,
    );
    expect(() => stacks.projectOf(["up", "-s", "lab-node3"])).toThrow(/name one with -s/);
  });

  test("a stack's file: under the project's stackConfigDir, else beside its Pulumi.yaml", () => {
    writeFileSync(join(dir, "Pulumi.yaml"), "name: boreal-kit\nruntime: nodejs\nstackConfigDir: stacks\n");
    expect(stackFileOf(dir, "lab-node1")).toBe(join(dir, "stacks", "Pulumi.lab-node1.yaml"));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: boreal-kit\nruntime: nodejs\nmain: index.ts\n");
    expect(stackFileOf(dir, "lab-node1")).toBe(join(dir, "Pulumi.lab-node1.yaml"));
  });
});
