import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { inCgroups, LAB_CGROUP, labCgroupProcesses, machineCgroup, machineCpuSeconds, removeLabCgroups } from "../../src/lab/cgroup";
import { stopProcesses } from "../../src/lab/net";

/** A cgroup file system's shape in a plain directory: the files the code reads or writes. */
function fakeV1(comounted: boolean, named: string[] = []) {
  const root = mkdtempSync(join(tmpdir(), "cgroup-v1-"));
  for (const h of [...(comounted ? ["cpu,cpuacct"] : ["cpu", "cpuacct"]), ...named]) {
    mkdirSync(join(root, h));
    writeFileSync(join(root, h, "cgroup.procs"), "");
  }
  return { root };
}

function fakeV2(controllers: string) {
  const root = mkdtempSync(join(tmpdir(), "cgroup-v2-"));
  writeFileSync(join(root, "cgroup.controllers"), `${controllers}\n`);
  return { root };
}

describe("lab machine cgroups", () => {
  it("v1: a group per machine in the cpu and cpuacct hierarchies, and its CPU time from cpuacct", () => {
    const cgroups = fakeV1(false);
    expect(machineCgroup("node1", cgroups)).toEqual([
      join(cgroups.root, "cpu", LAB_CGROUP, "node1", "cgroup.procs"),
      join(cgroups.root, "cpuacct", LAB_CGROUP, "node1", "cgroup.procs"),
    ]);
    writeFileSync(join(cgroups.root, "cpuacct", LAB_CGROUP, "node1", "cpuacct.usage"), "2500000000\n");
    expect(machineCpuSeconds("node1", cgroups)).toBe(2.5);
    expect(machineCpuSeconds("node2", cgroups)).toBeUndefined();
  });

  it("v1 with cpu and cpuacct mounted together: one group", () => {
    const cgroups = fakeV1(true);
    expect(machineCgroup("node1", cgroups)).toEqual([join(cgroups.root, "cpu,cpuacct", LAB_CGROUP, "node1", "cgroup.procs")]);
  });

  it("v2: the cpu controller handed down to the lab's group, and usage_usec read back", () => {
    const cgroups = fakeV2("cpuset cpu io memory pids");
    expect(machineCgroup("node3", cgroups)).toEqual([join(cgroups.root, LAB_CGROUP, "node3", "cgroup.procs")]);
    expect(readFileSync(join(cgroups.root, "cgroup.subtree_control"), "utf8")).toBe("+cpu");
    expect(readFileSync(join(cgroups.root, LAB_CGROUP, "cgroup.subtree_control"), "utf8")).toBe("+cpu");
    writeFileSync(join(cgroups.root, LAB_CGROUP, "node3", "cpu.stat"), "usage_usec 1500000\nuser_usec 1000000\n");
    expect(machineCpuSeconds("node3", cgroups)).toBe(1.5);
  });

  it("no cpu controller: no group, and the command runs as it is", () => {
    const cgroups = fakeV2("io memory pids");
    expect(machineCgroup("node1", cgroups)).toEqual([]);
    expect(inCgroups([], "systemd-nspawn", ["--boot"])).toEqual({ command: "systemd-nspawn", args: ["--boot"] });
  });

  it("the process writes its own pid into every group, then becomes the command (same pid, its arguments intact)", () => {
    const cgroups = fakeV1(false);
    const procs = machineCgroup("node1", cgroups);
    const wrapped = inCgroups(procs, "sh", ["-c", 'echo "$$ $1"', "sh", "an argument with spaces"]);
    const run = spawnSync(wrapped.command, wrapped.args, { encoding: "utf8" });
    expect(run.status).toBe(0);
    const [pid, ...rest] = run.stdout.trim().split(" ");
    expect(rest.join(" ")).toBe("an argument with spaces");
    for (const file of procs) expect(readFileSync(file, "utf8").trim()).toBe(pid);
  });

  it("a group that refuses the pid is skipped, the command still runs", () => {
    const wrapped = inCgroups([join(tmpdir(), "no-such-dir", "cgroup.procs")], "echo", ["ran"]);
    const run = spawnSync(wrapped.command, wrapped.args, { encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe("ran\n");
    expect(run.stderr).toBe("");
  });

  it("a machine is every process in its group: what outlived a killed nspawn is listed, by machine, and stopped", async () => {
    const cgroups = fakeV1(false);
    const [node2cpu, node2acct] = machineCgroup("node2", cgroups);
    const [node3cpu] = machineCgroup("node3", cgroups);
    const left = spawn("sleep", ["60"], { stdio: "ignore" });
    const ended = new Promise((resolve) => left.once("exit", (_code, signal) => resolve(signal)));
    // One process sits in both v1 hierarchies: listed once.
    writeFileSync(node2cpu, `${left.pid}\n`);
    writeFileSync(node2acct, `${left.pid}\n`);
    writeFileSync(node3cpu, "4242\n1\n");
    expect(labCgroupProcesses("node2", cgroups)).toEqual([left.pid]);
    expect(labCgroupProcesses("node3", cgroups)).toEqual([4242]);
    expect(labCgroupProcesses(undefined, cgroups).sort()).toEqual([left.pid!, 4242].sort());
    stopProcesses(labCgroupProcesses("node2", cgroups));
    expect(await ended).toBe("SIGTERM");
  });

  it("a group that stays busy is left for the next lab down, after the patience given", () => {
    const cgroups = fakeV1(false);
    const [procs] = machineCgroup("node2", cgroups);
    writeFileSync(procs, "4242\n"); // a plain directory with a file in it cannot be rmdir'ed, like a busy group
    const started = Date.now();
    removeLabCgroups(cgroups, 500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(existsSync(join(cgroups.root, "cpu", LAB_CGROUP, "node2"))).toBe(true);
    expect(existsSync(join(cgroups.root, "cpuacct", LAB_CGROUP))).toBe(false);
  });

  it("v1 with name=systemd (and hybrid's v2 tree): each machine its own group there too, so containers' systemd do not share one /payload", () => {
    const cgroups = fakeV1(false, ["systemd", "unified"]);
    const procs = machineCgroup("node1", cgroups);
    expect(procs).toContain(join(cgroups.root, "systemd", LAB_CGROUP, "node1", "cgroup.procs"));
    expect(procs).toContain(join(cgroups.root, "unified", LAB_CGROUP, "node1", "cgroup.procs"));
    // nspawn and the container's systemd make groups inside it; their processes count as the machine's.
    const unit = join(cgroups.root, "systemd", LAB_CGROUP, "node1", "payload", "system.slice", "knot.service");
    mkdirSync(unit, { recursive: true });
    writeFileSync(join(unit, "cgroup.procs"), "4243\n");
    expect(labCgroupProcesses("node1", cgroups)).toEqual([4243]);
  });

  it("lab down removes a machine's groups with those made inside it, deepest first", () => {
    const cgroups = fakeV1(false, ["systemd"]);
    machineCgroup("node1", cgroups);
    mkdirSync(join(cgroups.root, "systemd", LAB_CGROUP, "node1", "payload", "system.slice", "knot.service"), { recursive: true });
    mkdirSync(join(cgroups.root, "systemd", LAB_CGROUP, "node1", "supervisor"), { recursive: true });
    removeLabCgroups(cgroups);
    expect(existsSync(join(cgroups.root, "systemd", LAB_CGROUP))).toBe(false);
  });

  it("lab down removes the groups no process is in", () => {
    const cgroups = fakeV1(false);
    machineCgroup("node1", cgroups);
    removeLabCgroups(cgroups);
    expect(existsSync(join(cgroups.root, "cpu", LAB_CGROUP))).toBe(false);
    expect(existsSync(join(cgroups.root, "cpuacct", LAB_CGROUP))).toBe(false);
  });
});
