#!/usr/bin/env node
// boreal: the operator's command. `boreal registry init|admit|sign|check|allowed-signers`, `boreal label verify|show`, `boreal dns check`, `boreal lab up|down|status|ssh`.
import { spawnSync } from "node:child_process";
import { DNS_USAGE, runDns } from "./dns";
import { isLabelVerb, LABEL_USAGE, runLabel } from "./label";
import { failureLines, isRegistryVerb, REGISTRY_USAGE, runRegistry } from "./registry";
import { DEFAULT_SUBNET, labDns, labDown, labExec, LabState, labStatus, labUp, PROJECT_DIR, readState, sshArgs, writeLabStacks } from "../lab/lab";
import { LAB_PARENT_ZONE } from "../lab/dns";
import { labMemberName } from "../lab/federation";
import { DEFAULT_SUITE, isLabSuiteChoice, LAB_SUITE_CHOICES, LabSuiteChoice } from "../lab/image";
import { ensureCommandPlugin } from "../lab/pulumi";
import { LabStacks } from "../lab/stacks";
import { ensureToolchain as ensureProjectToolchain, projectToolchain } from "./toolchain";
import { runStatus, STATUS_USAGE, targetFromFlags, targetFromStack } from "./status";

const USAGE = `usage:
  boreal demo [--nodes N] [--suite bookworm|trixie|mixed]    a living federation on the lab (pulumi up of N members)
${REGISTRY_USAGE}
${STATUS_USAGE}
${DNS_USAGE}
${LABEL_USAGE}
  boreal lab up [--nodes N] [--subnet CIDR] [--suite bookworm|trixie|mixed] [--no-install]
                                                             start N machines (default 3, ${DEFAULT_SUBNET}, Debian ${DEFAULT_SUITE})
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

/** --suite: the Debian release of the lab's machines; mixed alternates 12 and 13. */
function suiteOption(args: string[]): LabSuiteChoice {
  const suite = option(args, "--suite") ?? DEFAULT_SUITE;
  if (!isLabSuiteChoice(suite)) throw new Error(`--suite must be ${LAB_SUITE_CHOICES.join(", ")}, got ${suite}`);
  return suite;
}

async function lab(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb) {
    case "up": {
      const nodesText = option(rest, "--nodes") ?? "3";
      if (!/^\d+$/.test(nodesText)) throw new Error(`--nodes must be a whole number, got ${nodesText}`);
      const suite = suiteOption(rest);
      // The lab's stacks get their SSH key through `pulumi config set --secret`.
      ensureToolchain();
      const started = Date.now();
      const state = await labUp({ nodes: Number(nodesText), subnet: option(rest, "--subnet") ?? DEFAULT_SUBNET, installPrerequisites: !rest.includes("--no-install"), suite, log });
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
  printTable([["MACHINE", "ADDRESS", "DEBIAN", "RUNNING", "SSHD", "UP (s)"], ...rows.map((r) => [r.name, r.address, r.suite, r.running ? "yes" : "no", r.sshd ? "yes" : "no", String(r.seconds)])]);
}

function printTable(table: string[][]): void {
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
}

function registry(args: string[]): number {
  const [verb, ...rest] = args;
  if (!isRegistryVerb(verb)) throw new Error(USAGE);
  return runRegistry(verb, rest);
}

/** The stack's node (or the one the flags name) reports the federation's health. */
async function status(args: string[]): Promise<number> {
  const host = option(args, "--host");
  if (host !== undefined) {
    const identity = option(args, "--identity");
    const hostKey = option(args, "--host-key");
    if (!identity || !hostKey) throw new Error(`--host needs --identity (the SSH private key file) and --host-key (the pinned "ssh-ed25519 AAAA…")\n${USAGE}`);
    return runStatus(targetFromFlags({ host, port: option(args, "--port"), user: option(args, "--user"), identity, hostKey }), args.includes("--json"));
  }
  return runStatus(targetFromStack(PROJECT_DIR, option(args, "--stack"), option(args, "--cwd") ?? process.cwd()), args.includes("--json"));
}

/** Lab up, every member joins with its own pulumi up; the agents mesh them; a summary. */
async function demo(args: string[]): Promise<number> {
  const nodesText = option(args, "--nodes") ?? "3";
  if (!/^\d+$/.test(nodesText)) throw new Error(`--nodes must be a whole number, got ${nodesText}`);
  const suite = suiteOption(args);
  ensureToolchain();
  ensureCommandPlugin(PROJECT_DIR, log);
  const started = Date.now();
  const state = await labUp({ nodes: Number(nodesText), subnet: DEFAULT_SUBNET, installPrerequisites: true, suite, log });
  const { missing } = writeLabStacks(state, PROJECT_DIR, log);
  if (missing.length > 0) throw new Error(`could not store the SSH key in ${missing.join(", ")}`);
  const stacks = new LabStacks(PROJECT_DIR, state);
  const delegations: string[] = [];
  for (const m of state.machines) {
    log(`pulumi up ${stacks.stackOf(m.name)}`);
    delegations.push(...Object.values(stacks.up(m.name).delegations).flatMap((d) => d.records));
  }
  const lastUp = Date.now();
  // Nobody re-applies: each node's sync agent takes the others from the lab's mirror.
  const peers = state.machines.length - 1;
  const meshed = () => demoSummary(state).slice(1).every((row) => row[2] === `${peers}/${peers}`);
  while (!meshed() && Date.now() - lastUp < 180_000) await new Promise((r) => setTimeout(r, 1000));
  log(`federation of ${state.machines.length} up in ${Math.round((Date.now() - started) / 1000)}s; full mesh ${Math.round((Date.now() - lastUp) / 1000)}s after the last pulumi up, with no re-apply; summary:`);
  printTable(demoSummary(state));
  // The members' delegations (their stacks' output) in the lab's parent zone, as at a registrar.
  const dns = await labDns(state, delegations);
  log(`DNS as the world sees it: parent ${LAB_PARENT_ZONE} at ${dns.parent.address}, validating resolver at ${dns.resolver.address}; try: kdig @${dns.resolver.address} +dnssec www.${labMemberName(0)}.${LAB_PARENT_ZONE} A`);
  log("look around: npm run lab -- ssh node1; end it: npm run lab -- down");
  return 0;
}

/** `npm run toolchain` when `npx pulumi` does not answer yet (src/cli/toolchain.ts). */
function ensureToolchain(): void {
  ensureProjectToolchain(projectToolchain(PROJECT_DIR, log));
}

function demoSummary(state: LabState): string[][] {
  const rows = state.machines.map((m) => {
    const facts = labExec(state, m, "ip -o addr show dev wg0 scope global | awk '{print $4}' | tr '\\n' ' '; echo; now=$(date +%s); wg show wg0 latest-handshakes | awk -v now=$now '$2 > now - 180' | wc -l; wg show wg0 peers | wc -l; knotc zone-status | grep -vc 'catalog: generate\\|catalog: interpret'").output.trim().split("\n");
    return [m.name, facts[0] ?? "", `${facts[1] ?? "?"}/${facts[2] ?? "?"}`, facts[3] ?? "?"];
  });
  return [["NODE", "MESH ADDRESSES", "PEERS WITH HANDSHAKE", "ZONES SERVED"], ...rows];
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === "lab") return lab(args);
  if (command === "demo") return demo(args);
  if (command === "registry") return registry(args);
  if (command === "status") return status(args);
  if (command === "dns") return runDns(args[0], args.slice(1), { projectDir: PROJECT_DIR });
  if (command === "label") {
    const [verb, ...rest] = args;
    if (!isLabelVerb(verb)) throw new Error(USAGE);
    return runLabel(verb, rest);
  }
  throw new Error(USAGE);
}

// Bad input and the system's refusals are said in words; a bug says it is one, with its stack
// trace only under BOREAL_DEBUG=1 (failureLines).
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    for (const line of failureLines("boreal", error)) log(line);
    process.exit(1);
  },
);
