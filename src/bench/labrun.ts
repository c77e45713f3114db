// The steps every tool's lab run shares (src/bench/lab.ts for the kit and the role,
// src/bench/nebularun.ts for Nebula): a fresh lab for one run, rounds of pings until every
// pair answers, files copied to a machine, a rotation seen by a neighbour's pings, and the
// machines' idle CPU and memory. Root only: they run the lab.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAsync } from "../io/process";
import { labDown, labExec, labExecAsync, LabMachine, LabState, labUp, sshArgs } from "../lab/lab";
import { machineCpuSeconds } from "../lab/cgroup";
import { pingOutage, pingTally } from "../lab/measure";
import { Figure, IdleCpu, LabRun, measured, notMeasured, RotationTally } from "./labsection";
import { meshRows, missingPairs, parseOk, parseRss, pingScript, PingRow } from "./mesh";

export const LAB_SUBNET = "198.51.100.0/24";
export const LAB_SUITE = "bookworm";

/** How long a mesh, a join or a leave may take before the row says it did not happen. */
export const MESH_SECONDS = 300;
/** Long enough for every timer (the 15 s metrics, Nebula's 5 s tunnel checks) and scrape to come round. */
export const IDLE_SECONDS = 60;

/** The order the tools run in for each N: the kit first, so that its figures are there whatever comes later. */
export const BENCH_TOOLS = ["kit", "nebula", "role"] as const;
export type BenchTool = (typeof BENCH_TOOLS)[number];

export interface LabBenchOptions {
  sizes: number[];
  /** Which tools to run (all by default); a tool left out has every figure saying so. */
  tools?: readonly BenchTool[];
  runs: number;
  peersDir: string;
  log: (line: string) => void;
  /** Called with every run so far after each N: the report is written before the next N starts. */
  onRun?: (runs: LabRun[]) => void;
}

export const PENDING = "not reached: an earlier step failed";

/** The first line of an error, short enough for a table cell. */
export function reason(error: unknown): string {
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

export async function timedMs<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await fn();
  return { ms: Date.now() - started, value };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rounds of pings (each source asked at once, only what it has not reached yet) until every row is reached. */
export async function waitForPings(state: LabState, dir: string, rows: PingRow[], seconds = MESH_SECONDS): Promise<void> {
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
    if (answers.every((a) => parseOk(a.output).size === 0)) await pause(200);
  }
}

/**
 * From `since` (an apply's exit, or the new host's start), at once: until `newcomer` pings every
 * other, and until every other pings it.
 */
export async function joinPings(state: LabState, dir: string, addresses: Record<string, string>, newcomer: string, since: number): Promise<{ ping: Figure; pinged: Figure }> {
  const towards = meshRows(addresses)
    .filter((row) => row.from !== newcomer)
    .map((row) => ({ from: row.from, targets: [addresses[newcomer]] }));
  const [ping, pinged] = await Promise.allSettled([
    waitForPings(state, dir, meshRows(addresses, newcomer)).then(() => Date.now() - since),
    waitForPings(state, dir, towards).then(() => Date.now() - since),
  ]);
  const figure = (result: PromiseSettledResult<number>) => (result.status === "fulfilled" ? measured(result.value) : notMeasured(reason(result.reason)));
  return { ping: figure(ping), pinged: figure(pinged) };
}

/** Rounds of pings until none of `from` reaches `address` any more (one round where every ping fails). */
export async function waitForNoPings(state: LabState, dir: string, from: LabMachine[], address: string, seconds = MESH_SECONDS): Promise<void> {
  await waitUntil(`no machine reaches ${address}`, async () => {
    const answers = await Promise.all(from.map((m) => labExecAsync(state, m, pingScript([address]), dir)));
    // An answer with neither line (ssh failed) proves nothing: ask again.
    return answers.every((a) => a.output.includes(`fail ${address}`));
  }, seconds);
}

export async function waitUntil(what: string, probe: () => Promise<boolean>, seconds = MESH_SECONDS): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${seconds} s`);
    await pause(250);
  }
}

/**
 * A fresh lab of N+1 machines in a folder of its own for `body`, always taken down after. A
 * failed step leaves its figure, and every one after it, saying why.
 */
export async function onFreshLab<F extends object>(what: string, n: number, figures: F, options: LabBenchOptions, body: (state: LabState, dir: string) => Promise<void>): Promise<F> {
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

/** A file for copyTo: where it goes on the machine, what it holds, and its mode. */
export interface MachineFile {
  path: string;
  content: string | Buffer;
  mode: string;
}

/**
 * Writes `files` on `machine` over SSH (one connection a file, each written to a temporary
 * name and renamed, so a reader never sees half), then runs `then` if given.
 */
export async function copyTo(state: LabState, dir: string, machine: LabMachine, files: MachineFile[], then?: string): Promise<void> {
  for (const file of files) {
    if (!/^\/[A-Za-z0-9/._-]+$/.test(file.path)) throw new Error(`not a plain absolute path: ${file.path}`);
    if (!/^[0-7]{3,4}$/.test(file.mode)) throw new Error(`not a file mode: ${file.mode}`);
    const script = `set -e; mkdir -p "$(dirname ${file.path})"; cat > ${file.path}.new; chmod ${file.mode} ${file.path}.new; mv ${file.path}.new ${file.path}`;
    await runAsync("ssh", [...sshArgs(state, machine, dir), script], {
      input: file.content,
      // Nebula's binary is about 28 MB: seconds on the lab's bridge, a minute on a loaded host.
      timeoutMs: 120_000,
      purpose: `copying ${file.path} to ${machine.name}`,
    });
  }
  if (then !== undefined) {
    const result = await labExecAsync(state, machine, then, dir);
    if (result.status !== 0) throw new Error(`${machine.name}: \`${then}\` exited ${result.status}: ${result.output.slice(-500)}`);
  }
}

/** A machine as a rotation's pings see it: the machine and its address on the tunnel. */
export interface TunnelHost {
  machine: LabMachine;
  address: string;
}

/**
 * Rotates `rotated`'s key with `rotate` while `watcher` pings it and `bystander` every 0.2 s
 * (ping -D), from 2 s before until 3 s after `settled` says the rotation is done, so that a
 * reply still queued counts if it comes. The same for every tool: the table compares them.
 */
export async function watchRotation<R>(
  state: LabState,
  dir: string,
  how: { tool: string; log: (line: string) => void },
  hosts: { watcher: TunnelHost; rotated: TunnelHost; bystander: TunnelHost },
  rotate: () => Promise<R> | R,
  settled: (after: R) => Promise<void>,
): Promise<{ tally: RotationTally; after: R }> {
  const { watcher, rotated, bystander } = hosts;
  const ok = (command: string) => {
    const result = labExec(state, watcher.machine, command, dir);
    if (result.status !== 0) throw new Error(`${watcher.machine.name}: \`${command}\` exited ${result.status}:\n${result.output}`);
    return result.output;
  };
  const background = (address: string, file: string) => `(ping -D -i 0.2 -w 900 ${address} > ${file} 2>&1 &)`;
  ok(`rm -f /tmp/rotation-to /tmp/rotation-between; ${background(rotated.address, "/tmp/rotation-to")}; ${background(bystander.address, "/tmp/rotation-between")}`);
  await pause(2000);
  const after = await rotate();
  await settled(after);
  await pause(3000);
  ok("pkill -INT -x ping; sleep 1; true");
  const to = ok("cat /tmp/rotation-to");
  const between = pingTally(ok("cat /tmp/rotation-between"));
  const toTally = pingTally(to);
  const tally: RotationTally = {
    sent: toTally.transmitted,
    received: toTally.received,
    outageMs: pingOutage(to) * 1000,
    slowestMs: toTally.slowest * 1000,
    betweenSent: between.transmitted,
    betweenReceived: between.received,
  };
  how.log(
    `  ${how.tool} rotation of ${rotated.machine.name}: ${tally.sent - tally.received} of ${tally.sent} pings lost from ${watcher.machine.name}, ` +
      `longest gap ${(tally.outageMs / 1000).toFixed(1)} s; ${tally.betweenSent - tally.betweenReceived} of ${tally.betweenSent} lost to ${bystander.machine.name}`,
  );
  return { tally, after };
}

/** Each machine's CPU time over a quiet spell, from its lab cgroup (src/lab/cgroup.ts). */
export async function measureIdleCpu(state: LabState, seconds = IDLE_SECONDS): Promise<IdleCpu> {
  const read = () => state.machines.map((m) => machineCpuSeconds(m.name));
  const before = read();
  if (before.some((s) => s === undefined)) return { why: "this host gives the lab machines no CPU cgroup to count in" };
  await pause(seconds * 1000);
  const after = read();
  if (after.some((s) => s === undefined)) return { why: "a machine's cgroup went away during the measure" };
  const perNode: Record<string, number> = {};
  state.machines.forEach((m, i) => (perNode[m.name] = ((after[i]! - before[i]!) / seconds) * 100));
  return { perNode, seconds };
}

/** What an rss script (mesh.ts, nebula.ts) finds on every machine, per machine and per service. */
export function measureRssWith(state: LabState, dir: string, script: string): Record<string, Record<string, number>> {
  return Object.fromEntries(state.machines.map((m) => [m.name, parseRss(labExec(state, m, script, dir).output)]));
}

