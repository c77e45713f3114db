// The bench's lab section (issue #13): for each N, the Ansible role on a fresh lab of N+1
// machines (bare → mesh, one more joins, a no-op), then the kit on another fresh lab (bare →
// mesh with N `pulumi up`s at once, the join, a no-op, a key rotation, every zone, the leave,
// the services' memory). Root only: it runs the lab. The figures go to labsection.ts.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../io/process";
import { ensureHostPackages, knownHostsPath, labDown, labExec, labExecAsync, LabMachine, LabState, labUp, PROJECT_DIR, writeLabStacks } from "../lab/lab";
import { measureRotation } from "../lab/measure";
import { ensureCommandPlugin, labPulumiEnv, runPulumi } from "../lab/pulumi";
import { ATTEST_INTERVAL_DEFAULT } from "../core/spec/stack";
import { LabStacks, StackOutputs } from "../lab/stacks";
import { linkWorkspace } from "../lab/workspace";
import { parseRecap, renderAnsibleConfig, renderInventory, renderPlaybook, ROLE_ARCHIVE, ROLE_DIR, roleAddress } from "./ansible";
import { Figure, KitRun, LabRun, measured, medianOf, notMeasured, RoleRun } from "./labsection";
import { machineCpuSeconds } from "../lab/cgroup";
import { KIT_SERVICES, meshRows, missingPairs, parseOk, parseRss, pingScript, PingRow, pulumiChanges, rssScript, soaScript } from "./mesh";

export const LAB_SIZES = [3, 5, 10] as const;
export const LAB_SUBNET = "198.51.100.0/24";
export const LAB_SUITE = "bookworm";
/** Where the peers' releases are kept, beside the project (../shared/peers). */
export const PEERS_DIR = join(PROJECT_DIR, "..", "shared", "peers");
/** The role's install tasks, tagged so by the role itself (why they are skipped: runPlay). */
export const ROLE_SKIP_TAGS = "wg-install";

/** How long a mesh, a join or a leave may take before the row says it did not happen. */
const MESH_SECONDS = 300;

export const BENCH_TOOLS = ["role", "kit"] as const;
export type BenchTool = (typeof BENCH_TOOLS)[number];

export interface LabBenchOptions {
  sizes: number[];
  /** Which tools to run (both by default); a tool left out has every figure saying so. */
  tools?: readonly BenchTool[];
  runs: number;
  peersDir: string;
  log: (line: string) => void;
}

/** ansible-playbook on the host, and netaddr for the role's template (ansible.utils.ipv4). */
export function checkBenchPrerequisites(log: (line: string) => void): void {
  ensureHostPackages([["command -v ansible-playbook", "ansible"], ["python3 -c 'import netaddr'", "python3-netaddr"]], true, log);
}

const PENDING = "not reached: an earlier step failed";

/** The first line of an error, short enough for a table cell. */
function reason(error: unknown): string {
  const line = (error as Error).message?.split("\n")[0] ?? String(error);
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

/** Fills every figure still pending with why, after a step failed. */
function failRest(figures: Record<string, unknown>, error: unknown, log: (line: string) => void, what: string): void {
  log(`${what}: ${(error as Error).message ?? String(error)}`);
  for (const [key, value] of Object.entries(figures)) {
    if (value && typeof value === "object" && "why" in value && (value as { why: string }).why === PENDING) figures[key] = notMeasured(reason(error));
  }
}

async function timedMs<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await fn();
  return { ms: Date.now() - started, value };
}

/** Rounds of pings (each source asked at once, only what it has not reached yet) until every row is reached. */
async function waitForPings(state: LabState, dir: string, rows: PingRow[], seconds = MESH_SECONDS): Promise<void> {
  const machine = (name: string) => state.machines.find((m) => m.name === name)!;
  const reached: Record<string, Set<string>> = {};
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const pending = rows.map((row) => ({ from: row.from, targets: row.targets.filter((t) => !reached[row.from]?.has(t)) })).filter((row) => row.targets.length > 0);
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`after ${seconds} s these pairs still did not ping: ${missingPairs(rows, reached).join(", ")}`);
    const answers = await Promise.all(pending.map((row) => labExecAsync(state, machine(row.from), pingScript(row.targets), dir)));
    pending.forEach((row, i) => {
      reached[row.from] = new Set([...(reached[row.from] ?? []), ...parseOk(answers[i].output)]);
    });
    // A round that failed at once (no ping ran at all) should not spin.
    if (answers.every((a) => parseOk(a.output).size === 0)) await new Promise((r) => setTimeout(r, 200));
  }
}

// ---------------------------------------------------------------- the role

function unpackRole(peersDir: string, into: string): string {
  const archive = join(peersDir, ROLE_ARCHIVE);
  if (!existsSync(archive)) throw new Error(`the role's release is not at ${archive} (--peers DIR)`);
  // A release of the role is a few hundred KB.
  run("tar", ["-xzf", archive, "-C", into], { timeoutMs: 60_000, purpose: `unpacking the role's release ${archive}` });
  return join(into, ROLE_DIR);
}

/**
 * `ansible-playbook` of the role over `hosts`. The role's install tasks are skipped by the tag
 * the role gives them (wg-install): they would `apt install wireguard`, a metapackage that
 * pulls a kernel image or DKMS and a compiler, which the lab machines (no internet) cannot
 * download and do not need: wireguard-tools and wireguard-go are in the image.
 */
function runPlay(dir: string, state: LabState, hosts: LabMachine[], log: (line: string) => void): { ms: number; output: string } {
  const inventory = join(dir, "inventory.yml");
  writeFileSync(inventory, renderInventory(hosts, { sshKey: state.sshKey, knownHosts: knownHostsPath(dir) }, (m) => state.machines.indexOf(m as LabMachine)));
  writeFileSync(join(dir, "ansible.cfg"), renderAnsibleConfig(inventory, hosts.length, join(dir, "cp")));
  const started = Date.now();
  const result = run("ansible-playbook", ["--skip-tags", ROLE_SKIP_TAGS, join(dir, "playbook.yml")], {
    cwd: dir,
    env: { ANSIBLE_CONFIG: join(dir, "ansible.cfg"), ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0" },
    // A play over the largest lab (N + 1 machines sharing a few cores) takes minutes, not half an hour.
    timeoutMs: 1_800_000,
    maxBuffer: 64 * 1024 * 1024,
    allowFailure: true,
  });
  const ms = Date.now() - started;
  const output = `${result.stdout}${result.stderr}`;
  writeFileSync(join(dir, `ansible-${Date.now()}.log`), output);
  if (result.status !== 0) {
    const how = result.timedOut ? "timed out after 1800 s" : `exit ${result.status ?? result.signal}`;
    throw new Error(`ansible-playbook over ${hosts.length} hosts failed (${how}):\n${output.slice(-3000)}`);
  }
  log(`  ansible-playbook over ${hosts.length} hosts: ${(ms / 1000).toFixed(1)} s`);
  return { ms, output };
}

function roleFigures(why: string): RoleRun {
  return { bare: notMeasured(why), barePlay: notMeasured(why), joinPlay: notMeasured(why), joinPing: notMeasured(why), noop: notMeasured(why) };
}

async function roleRun(n: number, options: LabBenchOptions): Promise<RoleRun> {
  const { log } = options;
  const role = roleFigures(PENDING);
  return onFreshLab("role", n, role, options, async (state, dir) => {
    const rolePath = unpackRole(options.peersDir, dir);
    writeFileSync(join(dir, "playbook.yml"), renderPlaybook(rolePath));
    const first = state.machines.slice(0, n);
    const newcomer = state.machines[n];
    const addresses = (machines: LabMachine[]) => Object.fromEntries(machines.map((m) => [m.name, roleAddress(state.machines.indexOf(m))]));

    const started = Date.now();
    role.barePlay = measured(runPlay(dir, state, first, log).ms);
    await waitForPings(state, dir, meshRows(addresses(first)));
    role.bare = measured(Date.now() - started);
    log(`  role bare → full mesh: ${(role.bare.ms / 1000).toFixed(1)} s`);

    role.joinPlay = measured(runPlay(dir, state, state.machines, log).ms);
    const playEnd = Date.now();
    await waitForPings(state, dir, meshRows(addresses(state.machines), newcomer.name));
    role.joinPing = measured(Date.now() - playEnd);

    const noops: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const play = runPlay(dir, state, state.machines, log);
      noops.push(play.ms);
      role.noopChanged = parseRecap(play.output).reduce((sum, line) => sum + line.changed, 0);
    }
    role.noop = medianOf(noops);
  });
}

/**
 * A fresh lab of N+1 machines in a folder of its own for `body`, always taken down after. A
 * failed step leaves its figure, and every one after it, saying why.
 */
async function onFreshLab<F extends object>(what: string, n: number, figures: F, options: LabBenchOptions, body: (state: LabState, dir: string) => Promise<void>): Promise<F> {
  const { log } = options;
  const dir = mkdtempSync(join(tmpdir(), `boreal-bench-${what}-${n}-`));
  try {
    log(`${what}, N = ${n}: lab up (${n + 1} machines)`);
    await body(await labUp({ nodes: n + 1, subnet: LAB_SUBNET, installPrerequisites: true, suite: LAB_SUITE, log, dir }), dir);
  } catch (error) {
    failRest(figures as Record<string, unknown>, error, log, `${what}, N = ${n}`);
  } finally {
    labDown({ dir, log });
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

// ---------------------------------------------------------------- the kit

function kitFigures(why: string): KitRun {
  return {
    bare: notMeasured(why),
    bareSlowestUp: notMeasured(why),
    joinUp: notMeasured(why),
    joinPing: notMeasured(why),
    noop: notMeasured(why),
    noopFloor: notMeasured(why),
    rotationOutage: notMeasured(why),
    rotationLoss: notMeasured(why) as { why: string },
    zones: notMeasured(why),
    leaveDestroy: notMeasured(why),
    leavePeers: notMeasured(why),
    rss: notMeasured(why) as { why: string },
    idleCpu: { why },
  };
}

async function kitRun(n: number, options: LabBenchOptions): Promise<KitRun> {
  const { log } = options;
  const kit = kitFigures(PENDING);
  return onFreshLab("kit", n, kit, options, async (state, dir) => {
    // The demo's stacks (writeLabStacks, LabStacks), in a workspace of their own, as the e2e
    // suite has them: a backend inside it, so no other lab's stacks of the same names are touched.
    const projectDir = join(dir, "project");
    mkdirSync(projectDir);
    linkWorkspace(projectDir, PROJECT_DIR);
    // Label checks at the kit's default interval: the lab's 60 s would load an idle federation
    // of N nodes with N × (N − 1) scans a minute, which no member runs.
    const { missing } = writeLabStacks(state, projectDir, log, { attestInterval: ATTEST_INTERVAL_DEFAULT });
    if (missing.length > 0) throw new Error(`could not store the SSH key in ${missing.join(", ")}`);
    const stacks = new LabStacks(projectDir, state);
    const first = state.machines.slice(0, n);
    const newcomer = state.machines[n];
    const outputs: Record<string, StackOutputs> = {};

    // Bare → full mesh: every member's `pulumi up` at once, each then reading its outputs. A
    // failed one is reported once all have ended: the lab is not taken down under the others.
    const started = Date.now();
    const settled = await Promise.allSettled(
      first.map(async (m) => {
        const up = await stacks.upAsync(m.name);
        const ms = Date.now() - started;
        if (up.status !== 0) throw new Error(`pulumi up ${stacks.stackOf(m.name)} failed (exit ${up.status}):\n${up.output.slice(-3000)}`);
        outputs[m.name] = await stacks.outputsAsync(m.name);
        return ms;
      }),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const upTimes = settled.map((r) => (r as PromiseFulfilledResult<number>).value);
    kit.bareSlowestUp = measured(Math.max(...upTimes));
    const mesh = (machines: LabMachine[]) => Object.fromEntries(machines.map((m) => [m.name, outputs[m.name].meshIpv4]));
    await waitForPings(state, dir, meshRows(mesh(first)));
    kit.bare = measured(Date.now() - started);
    log(`  kit bare → full mesh: ${(kit.bare.ms / 1000).toFixed(1)} s (slowest up ${(kit.bareSlowestUp.ms / 1000).toFixed(1)} s)`);

    // No wait for the label rounds: each node's first one falls at an offset of its own within
    // the interval (firstAttestDelay), as in a federation, so the join meets a few or none.

    // Join: the newcomer's up alone; then, at once, its pings to every other (their addresses
    // are known) and every zone at every node (its outputs read meanwhile).
    const up = await timedMs(() => stacks.must(["up", "--yes", "--skip-preview", "-s", stacks.stackOf(newcomer.name)]));
    const upEnd = Date.now();
    kit.joinUp = measured(up.ms);
    const others = first.map((m) => outputs[m.name].meshIpv4);
    const [pings, zones] = await Promise.allSettled([
      waitForPings(state, dir, [{ from: newcomer.name, targets: others }]).then(() => Date.now() - upEnd),
      (async () => {
        outputs[newcomer.name] = await stacks.outputsAsync(newcomer.name);
        const allZones = state.machines.flatMap((m) => outputs[m.name].zones);
        await waitForZones(state, dir, allZones);
        return Date.now() - upEnd;
      })(),
    ]);
    kit.joinPing = pings.status === "fulfilled" ? measured(pings.value) : notMeasured(reason(pings.reason));
    kit.zones = zones.status === "fulfilled" ? measured(zones.value) : notMeasured(reason(zones.reason));
    log(`  kit join: up ${(up.ms / 1000).toFixed(1)} s, then ${"ms" in kit.joinPing ? `${(kit.joinPing.ms / 1000).toFixed(1)} s` : "no"} until it pings every other`);
    if (!outputs[newcomer.name]) throw new Error(`${newcomer.name}'s stack outputs could not be read`);

    kit.rss = measureRss(state, dir);
    kit.idleCpu = await measureIdleCpu(state, IDLE_SECONDS);

    // No-op: the newcomer's stack again, nothing changed since its up.
    const noops: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const run = await timedMs(() => stacks.must(["up", "--yes", "--skip-preview", "-s", stacks.stackOf(newcomer.name)]));
      noops.push(run.ms);
      kit.noopChanges = pulumiChanges(run.value);
    }
    kit.noop = medianOf(noops);
    kit.noopFloor = await measurePulumiFloor(dir, options.runs);

    await measureKitRotation(state, dir, stacks, outputs, kit, log);

    // Leave: the newcomer's member destroys its stack; the others drop it by themselves.
    const destroy = await timedMs(() => stacks.must(["destroy", "--yes", "--skip-preview", "-s", stacks.stackOf(newcomer.name)]));
    kit.leaveDestroy = measured(destroy.ms);
    const destroyEnd = Date.now();
    await waitUntil(`every node drops ${newcomer.name} as a peer`, async () => {
      const peers = await Promise.all(first.map((m) => labExecAsync(state, m, "wg show wg0 peers", dir)));
      return peers.every((p) => p.status === 0 && !p.output.includes(outputs[newcomer.name].publicKey));
    });
    kit.leavePeers = measured(Date.now() - destroyEnd);
  });
}

/**
 * The same no-op `pulumi up` (the same CLI, backend kind and passphrase) of a program with no
 * resource, in JavaScript: what any Pulumi no-op costs on this machine, whatever the program.
 */
export async function measurePulumiFloor(dir: string, runs: number): Promise<Figure> {
  const projectDir = join(dir, "floor");
  mkdirSync(join(projectDir, "state"), { recursive: true });
  symlinkSync(join(PROJECT_DIR, "node_modules"), join(projectDir, "node_modules"));
  writeFileSync(join(projectDir, "package.json"), `${JSON.stringify({ name: "pulumi-floor", private: true, main: "index.js" })}\n`);
  writeFileSync(join(projectDir, "index.js"), "// No resource: the Pulumi CLI, its language host, Node.js and the SDK alone.\n");
  const project = ["name: pulumi-floor", "runtime:", "  name: nodejs", "  options:", "    typescript: false", "main: index.js", "backend:", `  url: file://${projectDir}/state`, ""];
  writeFileSync(join(projectDir, "Pulumi.yaml"), project.join("\n"));
  const env = labPulumiEnv();
  const must = (args: string[]) => {
    const result = runPulumi(projectDir, args, env);
    if (result.status !== 0) throw new Error(`pulumi ${args.join(" ")} (empty program) failed: ${result.output.slice(-500)}`);
  };
  must(["stack", "init", "floor"]);
  const up = ["up", "--yes", "--skip-preview", "-s", "floor"];
  must(up);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timedMs(() => must(up))).ms);
  return medianOf(times);
}

async function waitUntil(what: string, probe: () => Promise<boolean>, seconds = MESH_SECONDS): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Until every node's own Knot answers every zone's SOA authoritatively. */
async function waitForZones(state: LabState, dir: string, zones: string[]): Promise<void> {
  const answered: Record<string, Set<string>> = {};
  await waitUntil(`every node answers ${zones.join(", ")}`, async () => {
    const pending = state.machines.filter((m) => zones.some((z) => !answered[m.name]?.has(z)));
    const answers = await Promise.all(pending.map((m) => labExecAsync(state, m, soaScript(zones.filter((z) => !answered[m.name]?.has(z))), dir)));
    pending.forEach((m, i) => (answered[m.name] = new Set([...(answered[m.name] ?? []), ...parseOk(answers[i].output)])));
    return state.machines.every((m) => zones.every((z) => answered[m.name]?.has(z)));
  });
}

/** Long enough for every timer (the 15 s metrics, the lab's 5 s sync) and scrape to come round. */
const IDLE_SECONDS = 60;

/** Each machine's CPU time over a quiet minute, from its lab cgroup (src/lab/cgroup.ts). */
async function measureIdleCpu(state: LabState, seconds: number): Promise<KitRun["idleCpu"]> {
  const read = () => state.machines.map((m) => machineCpuSeconds(m.name));
  const before = read();
  if (before.some((s) => s === undefined)) return { why: "this host gives the lab machines no CPU cgroup to count in" };
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = read();
  if (after.some((s) => s === undefined)) return { why: "a machine's cgroup went away during the measure" };
  const perNode: Record<string, number> = {};
  state.machines.forEach((m, i) => (perNode[m.name] = ((after[i]! - before[i]!) / seconds) * 100));
  return { perNode, seconds };
}

/** VmRSS of the kit's services on every node (the sync agent is a timer's oneshot: not running between pulls). */
function measureRss(state: LabState, dir: string): KitRun["rss"] {
  const perNode: Record<string, number> = {};
  const perService: Record<string, number> = {};
  const missing: string[] = [];
  for (const m of state.machines) {
    const rss = parseRss(labExec(state, m, rssScript(), dir).output);
    perNode[m.name] = Object.values(rss).reduce((a, b) => a + b, 0);
    for (const [service, bytes] of Object.entries(rss)) perService[service] = (perService[service] ?? 0) + bytes;
    for (const service of KIT_SERVICES) if (!(service in rss)) missing.push(`${service} on ${m.name}`);
  }
  return { perNode, perService, missing };
}

async function measureKitRotation(state: LabState, dir: string, stacks: LabStacks, outputs: Record<string, StackOutputs>, kit: KitRun, log: (line: string) => void): Promise<void> {
  if (state.machines.length < 4) {
    const why = "needs N ≥ 3: a watcher, the rotated node and a bystander";
    kit.rotationOutage = notMeasured(why);
    kit.rotationLoss = { why };
    return;
  }
  const [watcher, rotated, bystander] = state.machines.slice(0, 3).map((machine) => ({ machine, mesh: { ipv4: outputs[machine.name].meshIpv4 } }));
  try {
    stacks.must(["config", "set", "boreal:keyEpoch", "1", "-s", stacks.stackOf(rotated.machine.name)]);
    const result = await measureRotation((node, command) => labExec(state, node.machine, command, dir), watcher, rotated, bystander, () => stacks.up(rotated.machine.name));
    outputs[rotated.machine.name] = result.after;
    kit.rotationOutage = measured(result.outage * 1000);
    kit.rotationLoss = result.lossToBystander;
    log(`  kit rotation of ${rotated.machine.name}: outage ${result.outage.toFixed(1)} s, ${watcher.machine.name} → ${bystander.machine.name} loss ${result.lossToBystander}%`);
  } catch (error) {
    log(`kit rotation: ${(error as Error).message}`);
    kit.rotationOutage = notMeasured(reason(error));
    kit.rotationLoss = { why: reason(error) };
  }
}

/** Every N: the role on its own lab, then the kit on its own. */
export async function runLabBench(options: LabBenchOptions): Promise<{ runs: LabRun[]; suite: string }> {
  const small = options.sizes.find((n) => n < 2);
  if (small !== undefined) throw new Error(`--sizes-lab: a mesh needs at least 2 members, got ${small}`);
  if (options.tools?.length === 0) throw new Error(`--only: name ${BENCH_TOOLS.join(" or ")} (or both, comma-separated)`);
  if ((options.tools ?? BENCH_TOOLS).includes("role")) checkBenchPrerequisites(options.log);
  ensureCommandPlugin(PROJECT_DIR, options.log);
  const runs: LabRun[] = [];
  for (const n of options.sizes) {
    const tools = options.tools ?? BENCH_TOOLS;
    const leftOut = `left out: --only ${tools.join(",")}`;
    const role = tools.includes("role") ? await roleRun(n, options) : roleFigures(leftOut);
    const kit = tools.includes("kit") ? await kitRun(n, options) : kitFigures(leftOut);
    runs.push({ n, runs: options.runs, role, kit });
  }
  return { runs, suite: LAB_SUITE };
}
