#!/usr/bin/env node
// boreal: the operator's command. `boreal registry check`, `boreal lab up|down|status|ssh`.
import { spawnSync } from "node:child_process";
import { BorealConfigError } from "../config/errors";
import { loadRegistry } from "../registry";
import { DEFAULT_SUBNET, labDown, labStatus, labUp, PROJECT_DIR, readState, sshArgs, writeLabStacks } from "../lab/lab";

const USAGE = `usage:
  boreal registry check DIR                                  validate a federation registry (for its CI)
  boreal lab up [--nodes N] [--subnet CIDR] [--no-install]   start N machines (default 3, ${DEFAULT_SUBNET})
  boreal lab status                                          table of the lab's machines
  boreal lab ssh NODE [-- command...]                        a shell (or a command) on a machine
  boreal lab down                                            stop everything; the image stays cached`;

const log = (line: string) => process.stderr.write(`${line}\n`);

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const value = args[at + 1];
  if (value === undefined || value.startsWith("--")) throw new Error(`${name} needs a value\n${USAGE}`);
  return value;
}

async function lab(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb) {
    case "up": {
      const nodesText = option(rest, "--nodes") ?? "3";
      if (!/^\d+$/.test(nodesText)) throw new Error(`--nodes must be a whole number, got ${nodesText}`);
      const started = Date.now();
      const state = await labUp({ nodes: Number(nodesText), subnet: option(rest, "--subnet") ?? DEFAULT_SUBNET, installPrerequisites: !rest.includes("--no-install"), log });
      writeLabStacks(state, PROJECT_DIR, log);
      log(`lab up: ${state.machines.length} machine(s) answering SSH in ${Math.round((Date.now() - started) / 1000)}s`);
      printStatus(await labStatus());
      return 0;
    }
    case "down":
      labDown({ log });
      log("lab down: done (the cached image stays)");
      return 0;
    case "status":
      printStatus(await labStatus());
      return 0;
    case "ssh": {
      const [name, separator, ...command] = rest;
      const state = readState();
      const machine = state?.machines.find((m) => m.name === name);
      if (!state || !machine) throw new Error(`no lab machine named ${name ?? "(none given)"}; see boreal lab status`);
      if (separator !== undefined && separator !== "--") throw new Error(`put the command after --\n${USAGE}`);
      const interactive = command.length === 0 ? ["-t"] : [];
      return spawnSync("ssh", [...interactive, ...sshArgs(state, machine, undefined, false), ...command], { stdio: "inherit" }).status ?? 1;
    }
    default:
      throw new Error(USAGE);
  }
}

function printStatus(rows: Awaited<ReturnType<typeof labStatus>>): void {
  if (rows.length === 0) {
    console.log("no lab is up (boreal lab up)");
    return;
  }
  const table = [["MACHINE", "ADDRESS", "RUNNING", "SSHD", "UP (s)"], ...rows.map((r) => [r.name, r.address, r.running ? "yes" : "no", r.sshd ? "yes" : "no", String(r.seconds)])];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
}

function registry(args: string[]): number {
  const [verb, dir] = args;
  if (verb !== "check" || !dir) throw new Error(USAGE);
  try {
    const federation = loadRegistry(dir);
    console.log(`${dir}: federation ${federation.settings.name}, ${federation.nodes.length} node(s), valid`);
    for (const n of federation.nodes) console.log(`  ${n.node} (${n.member})  ${n.mesh.ipv4}  ${n.mesh.ipv6}  ${n.zones.join(" ")}`);
    return 0;
  } catch (error) {
    if (error instanceof BorealConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === "lab") return lab(args);
  if (command === "registry") return registry(args);
  throw new Error(USAGE);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    log(`boreal: ${error.message}`);
    process.exit(1);
  },
);
