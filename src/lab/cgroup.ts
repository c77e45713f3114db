// A CPU cgroup per lab machine. Without one, every process of every machine competes with
// every other (and with the operator's `pulumi up` or `ansible-playbook`) one against one,
// and the idle services of many machines starve a deploy's few processes. Separate servers
// do not share a scheduler; a group each gives every machine one equal weight, and the
// operator's tools on the host theirs, as on a member's own laptop. The groups also count
// each machine's CPU time.
//
// On a v1 host, each machine also gets a group of its own in systemd's hierarchies (name=systemd,
// and the hybrid v2 tree): systemd-nspawn, started from their root (a host whose init is not
// systemd), would put every container in one /payload group, where the containers' systemds
// remove each other's units (bench/NOTES.md).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleepSync } from "../io/process";

export const LAB_CGROUP = "boreal-lab";

/** Where the cgroup file systems are (a parameter for the tests). */
export interface CgroupRoot {
  root: string;
}

export const SYSTEM_CGROUPS: CgroupRoot = { root: "/sys/fs/cgroup" };

type Layout = { kind: "v2"; dir: string } | { kind: "v1"; cpu: string; cpuacct: string | undefined; systemd: string[] };

/** The unified hierarchy with the cpu controller, or v1's cpu (and cpuacct) hierarchies, or none. */
function layout({ root }: CgroupRoot): Layout | undefined {
  const controllers = join(root, "cgroup.controllers");
  if (existsSync(controllers))
    return readFileSync(controllers, "utf8").split(/\s+/).includes("cpu") ? { kind: "v2", dir: root } : undefined;
  const hierarchy = (name: string) => (existsSync(join(root, name, "cgroup.procs")) ? join(root, name) : undefined);
  const cpu = hierarchy("cpu") ?? hierarchy("cpu,cpuacct");
  if (!cpu) return undefined;
  // systemd's own: name=systemd, and in hybrid mode the controller-less v2 tree beside it, where nspawn reads its own group.
  const systemd = [hierarchy("systemd"), hierarchy("unified")].filter((d): d is string => d !== undefined);
  return { kind: "v1", cpu, cpuacct: hierarchy("cpuacct") ?? hierarchy("cpu,cpuacct"), systemd };
}

/** The lab's parent group in each hierarchy it uses (v1 may mount cpu and cpuacct apart, and has name=systemd). */
function labParents(found: Layout): string[] {
  if (found.kind === "v2") return [join(found.dir, LAB_CGROUP)];
  return [...new Set([found.cpu, found.cpuacct, ...found.systemd].filter((d): d is string => d !== undefined))].map((h) =>
    join(h, LAB_CGROUP),
  );
}

/**
 * Creates the machine's groups and returns the cgroup.procs files its first process must be
 * written to (its children stay there). Empty when this host has no cpu controller to use:
 * the lab then runs as before, one scheduler for all.
 */
export function machineCgroup(name: string, cgroups: CgroupRoot = SYSTEM_CGROUPS): string[] {
  const found = layout(cgroups);
  if (!found) return [];
  if (found.kind === "v2") {
    const parent = join(found.dir, LAB_CGROUP);
    mkdirSync(parent, { recursive: true });
    // A v2 group hands a controller down only when every group above it does.
    for (const dir of [found.dir, parent]) writeFileSync(join(dir, "cgroup.subtree_control"), "+cpu");
  }
  const dirs = labParents(found).map((parent) => join(parent, name));
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  return dirs.map((dir) => join(dir, "cgroup.procs"));
}

/** The CPU time a machine's processes have used since its group was made, in seconds, if counted. */
export function machineCpuSeconds(name: string, cgroups: CgroupRoot = SYSTEM_CGROUPS): number | undefined {
  const found = layout(cgroups);
  try {
    if (found?.kind === "v2") {
      const usage = /^usage_usec (\d+)$/m.exec(readFileSync(join(found.dir, LAB_CGROUP, name, "cpu.stat"), "utf8"));
      return usage ? Number(usage[1]) / 1e6 : undefined;
    }
    if (found?.cpuacct) return Number(readFileSync(join(found.cpuacct, LAB_CGROUP, name, "cpuacct.usage"), "utf8").trim()) / 1e9;
  } catch {
    // no group for this machine (started before groups, or on a host without them)
  }
  return undefined;
}

/**
 * Every process in a machine's group, or in every machine's group when no name is given:
 * what is left of a machine after its nspawn ended (a killed nspawn leaves the container's
 * systemd and journald running, reparented to pid 1).
 */
export function labCgroupProcesses(name?: string, cgroups: CgroupRoot = SYSTEM_CGROUPS): number[] {
  const found = layout(cgroups);
  if (!found) return [];
  const pids = labParents(found)
    .flatMap((parent) => machineGroups(parent, name))
    .flatMap(withSubgroups)
    .flatMap(groupPids);
  return [...new Set(pids)];
}

/**
 * Removes the lab's groups, once their processes are stopped. The kernel may hold a group
 * busy for a moment after its last process ended, so this retries for a few seconds; one
 * still busy then (a process that would not die) stays for the next `lab down`.
 */
export function removeLabCgroups(cgroups: CgroupRoot = SYSTEM_CGROUPS, patienceMs = 5000): void {
  const found = layout(cgroups);
  if (!found) return;
  const parents = labParents(found);
  const remove = () =>
    parents
      .map(
        (parent) => machineGroups(parent).flatMap(withSubgroups).map(tryRmdir).every(Boolean) && (!existsSync(parent) || tryRmdir(parent)),
      )
      .every(Boolean);
  for (const deadline = Date.now() + patienceMs; !remove() && Date.now() < deadline;) sleepSync(200);
}

/** A group and the groups a container's systemd made inside it (name=systemd), deepest first. */
function withSubgroups(group: string): string[] {
  let children: string[] = [];
  try {
    children = readdirSync(group, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(group, e.name));
  } catch {
    // gone meanwhile
  }
  return [...children.flatMap(withSubgroups), group];
}

function machineGroups(parent: string, name?: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true })
    .filter((e) => e.isDirectory() && (name === undefined || e.name === name))
    .map((e) => join(parent, e.name));
}

function groupPids(group: string): number[] {
  try {
    return readFileSync(join(group, "cgroup.procs"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid > 1);
  } catch {
    return [];
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * The command line that puts itself into the groups, then becomes `command`: children forked
 * before a move from outside would escape it. A group that refuses is skipped.
 */
export function inCgroups(procsFiles: string[], command: string, args: string[]): { command: string; args: string[] } {
  if (procsFiles.length === 0) return { command, args };
  return {
    command: "sh",
    args: [
      "-c",
      'while [ "$1" != -- ]; do { echo $$ > "$1"; } 2>/dev/null || :; shift; done; shift; exec "$@"',
      "sh",
      ...procsFiles,
      "--",
      command,
      ...args,
    ],
  };
}
