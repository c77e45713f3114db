// The bench's lab section (issues #13, #32): for each N, the kit on a fresh lab of N+1
// machines (bare → mesh with N `pulumi up`s at once, the join, the idle cost, a no-op, a key
// rotation, every zone, the leave), then Nebula (nebularun.ts), then the Ansible role (bare →
// mesh, one more joins, the idle cost, a no-op), each on its own lab. Root only: it runs the
// lab. The figures go to labsection.ts.
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { git, gitRun } from "../io/git";
import { run } from "../io/process";
import { ensureHostPackages, knownHostsPath, labExec, labExecAsync, LabMachine, LabState, PROJECT_DIR, writeLabStacks } from "../lab/lab";
import { ensureCommandPlugin, labPulumiEnv, runPulumi } from "../lab/pulumi";
import { ATTEST_INTERVAL_DEFAULT, DELEGATION_CHECK_INTERVAL_DEFAULT } from "../core/spec/stack";
import { LabStacks, StackOutputs } from "../lab/stacks";
import { linkWorkspace } from "../lab/workspace";
import { parseRecap, renderAnsibleConfig, renderInventory, renderPlaybook, ROLE_ARCHIVE, ROLE_DIR, roleAddress } from "./ansible";
import { Figure, formatFigure, KitRun, LabRun, measured, medianOf, notMeasured, RoleRun, ToolLoad } from "./labsection";
import {
  BENCH_TOOLS,
  BenchTool,
  LAB_SUITE,
  LabBenchOptions,
  measureIdleCpu,
  measureRssWith,
  onFreshLab,
  PENDING,
  reason,
  joinPings,
  timedMs,
  waitForPings,
  waitUntil,
  watchRotation,
} from "./labrun";
import { KIT_SERVICES, meshRows, parseOk, pulumiChanges, rssScript, soaScript } from "./mesh";
import { ensureNebula, nebulaFigures, nebulaRun } from "./nebularun";

export { BENCH_TOOLS, LAB_SUBNET, LAB_SUITE } from "./labrun";
export type { BenchTool, LabBenchOptions } from "./labrun";

export const LAB_SIZES = [3, 5, 10] as const;
/** Where the peers' releases are kept, beside the project (../shared/peers). */
export const PEERS_DIR = join(PROJECT_DIR, "..", "shared", "peers");
/** The role's install tasks, tagged so by the role itself (why they are skipped: runPlay). */
export const ROLE_SKIP_TAGS = "wg-install";

/** ansible-playbook on the host, and netaddr for the role's template (ansible.utils.ipv4). */
export function checkBenchPrerequisites(log: (line: string) => void): void {
  ensureHostPackages([["command -v ansible-playbook", "ansible"], ["python3 -c 'import netaddr'", "python3-netaddr"]], true, log);
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
  return {
    bare: notMeasured(why),
    barePlay: notMeasured(why),
    joinPlay: notMeasured(why),
    joinPing: notMeasured(why),
    joinPinged: notMeasured(why),
    noop: notMeasured(why),
    idleCpu: { why },
  };
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
    const joined = await joinPings(state, dir, addresses(state.machines), newcomer.name, Date.now());
    role.joinPing = joined.ping;
    role.joinPinged = joined.pinged;
    role.idleCpu = await measureIdleCpu(state);

    const noops: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const play = runPlay(dir, state, state.machines, log);
      noops.push(play.ms);
      role.noopChanged = parseRecap(play.output).reduce((sum, line) => sum + line.changed, 0);
    }
    role.noop = medianOf(noops);
  });
}

// ---------------------------------------------------------------- the kit

function kitFigures(why: string): KitRun {
  return {
    bare: notMeasured(why),
    bareSlowestUp: notMeasured(why),
    joinUp: notMeasured(why),
    joinPing: notMeasured(why),
    joinPinged: notMeasured(why),
    noop: notMeasured(why),
    noopFloor: notMeasured(why),
    rotation: { why },
    zones: notMeasured(why),
    leaveDestroy: notMeasured(why),
    leavePeers: notMeasured(why),
    rss: notMeasured(why) as { why: string },
    idleCpu: { why },
  };
}

/** What of the project the kit's program needs beside node_modules (WORKSPACE_LINKS, and Pulumi.yaml). */
const KIT_FILES = ["src", "templates", "package.json", "tsconfig.json", "Pulumi.yaml"];

/**
 * The committed kit (HEAD) unpacked beside the run, node_modules linked: the kit's column
 * measures what a member gets, not a working tree holding someone's half-done edits.
 */
function committedKit(dir: string): { root: string; commit: string } {
  const root = join(dir, "kit-tree");
  mkdirSync(root);
  const commit = git(PROJECT_DIR, ["rev-parse", "--short", "HEAD"]).trim();
  const archive = gitRun(PROJECT_DIR, ["archive", "--format=tar", "HEAD", "--", ...KIT_FILES], {
    maxBuffer: 512 * 1024 * 1024,
    purpose: "packing the committed kit for the bench",
  });
  run("tar", ["-x", "-C", root], { input: archive.stdoutBytes ?? archive.stdout, purpose: "unpacking the committed kit for the bench" });
  symlinkSync(join(PROJECT_DIR, "node_modules"), join(root, "node_modules"));
  return { root, commit };
}

async function kitRun(n: number, options: LabBenchOptions): Promise<KitRun> {
  const { log } = options;
  const kit = kitFigures(PENDING);
  return onFreshLab("kit", n, kit, options, async (state, dir) => {
    // The demo's stacks (writeLabStacks, LabStacks), in a workspace of their own, as the e2e
    // suite has them: a backend inside it, so no other lab's stacks of the same names are touched.
    const projectDir = join(dir, "project");
    mkdirSync(projectDir);
    const tree = committedKit(dir);
    kit.commit = tree.commit;
    linkWorkspace(projectDir, tree.root);
    // Every interval at a member's default: the lab's label checks every 60 s would load an
    // idle federation of N nodes with N × (N − 1) scans a minute, and its delegation checks
    // every 15 s a timer run each, which no member runs. The sync timer is at its default too.
    const { missing } = writeLabStacks(state, projectDir, log, {
      attestInterval: ATTEST_INTERVAL_DEFAULT,
      delegationCheckInterval: DELEGATION_CHECK_INTERVAL_DEFAULT,
    });
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

    // Join: the newcomer's up alone; then, at once, its pings to every other and every other's
    // to it, and every zone at every node (its outputs read meanwhile). Its mesh address is read
    // on the machine itself, a tenth of a second, where its stack output takes a second.
    const up = await timedMs(() => stacks.must(["up", "--yes", "--skip-preview", "-s", stacks.stackOf(newcomer.name)]));
    const upEnd = Date.now();
    kit.joinUp = measured(up.ms);
    const [pings, zones] = await Promise.allSettled([
      (async () => {
        const shown = labExec(state, newcomer, "ip -4 -o addr show dev wg0", dir).output;
        const address = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(shown)?.[1];
        if (!address) throw new Error(`${newcomer.name} has no IPv4 address on wg0 after its up: ${shown.slice(0, 200)}`);
        return joinPings(state, dir, { ...mesh(first), [newcomer.name]: address }, newcomer.name, upEnd);
      })(),
      (async () => {
        outputs[newcomer.name] = await stacks.outputsAsync(newcomer.name);
        const allZones = state.machines.flatMap((m) => outputs[m.name].zones);
        await waitForZones(state, dir, allZones);
        return Date.now() - upEnd;
      })(),
    ]);
    kit.joinPing = pings.status === "fulfilled" ? pings.value.ping : notMeasured(reason(pings.reason));
    kit.joinPinged = pings.status === "fulfilled" ? pings.value.pinged : notMeasured(reason(pings.reason));
    kit.zones = zones.status === "fulfilled" ? measured(zones.value) : notMeasured(reason(zones.reason));
    log(`  kit join: up ${(up.ms / 1000).toFixed(1)} s, then ${formatFigure(kit.joinPing)} until it pings every other, ${formatFigure(kit.joinPinged)} until every other pings it`);
    if (!outputs[newcomer.name]) throw new Error(`${newcomer.name}'s stack outputs could not be read`);

    kit.rss = measureKitRss(state, dir);
    kit.idleCpu = await measureIdleCpu(state);

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

/** VmRSS of the kit's services on every node (the sync agent is a timer's oneshot: not running between pulls). */
function measureKitRss(state: LabState, dir: string): KitRun["rss"] {
  const perNode: Record<string, number> = {};
  const perService: Record<string, number> = {};
  const missing: string[] = [];
  for (const [name, rss] of Object.entries(measureRssWith(state, dir, rssScript()))) {
    perNode[name] = Object.values(rss).reduce((a, b) => a + b, 0);
    for (const [service, bytes] of Object.entries(rss)) perService[service] = (perService[service] ?? 0) + bytes;
    for (const service of KIT_SERVICES) if (!(service in rss)) missing.push(`${service} on ${name}`);
  }
  return { perNode, perService, missing };
}

/**
 * The second node's key rotated (boreal:keyEpoch, its member's `pulumi up`), watched by the
 * third pinging it and the fourth (watchRotation), until every other node has the new key as
 * a peer and none the old one.
 */
async function measureKitRotation(state: LabState, dir: string, stacks: LabStacks, outputs: Record<string, StackOutputs>, kit: KitRun, log: (line: string) => void): Promise<void> {
  if (state.machines.length < 4) {
    kit.rotation = { why: "needs N ≥ 3: a watcher, the rotated node and a bystander" };
    return;
  }
  const [rotated, watcher, bystander] = state.machines.slice(1, 4).map((machine) => ({ machine, address: outputs[machine.name].meshIpv4 }));
  const oldKey = outputs[rotated.machine.name].publicKey;
  const peersOf = (m: LabMachine) => labExecAsync(state, m, "wg show wg0 peers", dir);
  try {
    stacks.must(["config", "set", "boreal:keyEpoch", "1", "-s", stacks.stackOf(rotated.machine.name)]);
    const result = await watchRotation(
      state,
      dir,
      { tool: "kit", log },
      { watcher, rotated, bystander },
      () => stacks.up(rotated.machine.name),
      async (after) => {
        if (after.publicKey === oldKey) throw new Error(`${rotated.machine.name}'s public key did not change with boreal:keyEpoch`);
        const others = state.machines.filter((m) => m !== rotated.machine);
        await waitUntil(`every other node has ${rotated.machine.name}'s new key and not the old`, async () => {
          const peers = await Promise.all(others.map(peersOf));
          return peers.every((p) => p.status === 0 && p.output.includes(after.publicKey) && !p.output.includes(oldKey));
        });
      },
    );
    outputs[rotated.machine.name] = result.after;
    kit.rotation = result.tally;
  } catch (error) {
    log(`kit rotation: ${(error as Error).message}`);
    kit.rotation = { why: reason(error) };
  }
}

/** Every N: each tool on a lab of its own, in BENCH_TOOLS' order. */
export async function runLabBench(options: LabBenchOptions): Promise<{ runs: LabRun[]; suite: string }> {
  const small = options.sizes.find((n) => n < 2);
  if (small !== undefined) throw new Error(`--sizes-lab: a mesh needs at least 2 members, got ${small}`);
  if (options.tools?.length === 0) throw new Error(`--only: name ${BENCH_TOOLS.join(", ")} (or several, comma-separated)`);
  const tools = options.tools ?? BENCH_TOOLS;
  if (tools.includes("role")) checkBenchPrerequisites(options.log);
  if (tools.includes("kit")) ensureCommandPlugin(PROJECT_DIR, options.log);
  const nebulaBinaries = tools.includes("nebula") ? ensureNebula(options.log) : undefined;
  const runs: LabRun[] = [];
  const leftOut = `left out: --only ${tools.join(",")}`;
  for (const n of options.sizes) {
    const loads: ToolLoad[] = [];
    const withLoad = async <F>(tool: BenchTool, body: () => Promise<F>): Promise<F> => {
      const before = loadavg();
      const started = Date.now();
      const figures = await body();
      loads.push({ tool, seconds: (Date.now() - started) / 1000, before, after: loadavg() });
      return figures;
    };
    const kit = tools.includes("kit") ? await withLoad("kit", () => kitRun(n, options)) : kitFigures(leftOut);
    const nebula = nebulaBinaries ? await withLoad("nebula", () => nebulaRun(n, options, nebulaBinaries)) : nebulaFigures(leftOut);
    const role = tools.includes("role") ? await withLoad("role", () => roleRun(n, options)) : roleFigures(leftOut);
    runs.push({ n, runs: options.runs, role, kit, nebula, loads });
    options.onRun?.(runs);
  }
  return { runs, suite: LAB_SUITE };
}
