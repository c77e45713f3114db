// `boreal lab up|down|status|ssh` (machines on this host, as root) and `boreal demo` (a living
// federation on them: every member joins with its own pulumi up). src/lab does the work.
import { dirname, join } from "node:path";
import { LAB_PARENT_ZONE } from "../lab/dns";
import { git, labMemberName } from "../lab/federation";
import {
  DEFAULT_SUITE,
  ensureImage,
  isLabSuiteChoice,
  LAB_SUITE_CHOICES,
  LAB_SUITES,
  labRecipe,
  LabSuiteChoice,
  machineSuites,
  SUDO_IMAGE_PACKAGES,
} from "../lab/image";
import {
  checkPrerequisites,
  DEFAULT_SUBNET,
  labDns,
  labDown,
  labExec,
  labProjectsDir,
  LabState,
  labStatus,
  labUp,
  PROJECT_DIR,
  readState,
  sshArgs,
  writeLabStacks,
} from "../lab/lab";
import { makeMemberProject, packCheckout } from "../lab/member-projects";
import { ensureCommandPlugin, LAB_PASSPHRASE, labStackName } from "../lab/pulumi";
import { ensureSeaweedfs, SEAWEEDFS_VERSION } from "../lab/s3";
import { backendFromEnv, ensureVmDisk, isLabBackend, LAB_BACKENDS } from "../lab/vm";
import { LabStacks, StackOutputs } from "../lab/stacks";
import { runAttached } from "../io/process";
import { parseArgs, Parsed } from "./args";
import { usageLine } from "./command";
import { inputError, usageError } from "./errors";
import { hint, jsonText } from "./output";
import { ensureToolchain as ensureProjectToolchain, projectToolchain } from "./toolchain";

export const DEMO_USAGE = usageLine(
  "boreal demo [--nodes N] [--suite bookworm|trixie|mixed]",
  "a living federation on the lab (pulumi up of N members); root; installs missing host packages with apt-get",
);

export const LAB_SUBCOMMANDS = {
  up: usageLine(
    "boreal lab up [--nodes N] [--subnet CIDR] [--suite bookworm|trixie|mixed] [--backend nspawn|vm] [--no-install]",
    `start N machines (default 3, ${DEFAULT_SUBNET}, Debian ${DEFAULT_SUITE}; containers, or QEMU VMs booting Debian's kernel with --backend vm); root; missing host packages are installed with apt-get unless --no-install`,
  ),
  status: usageLine("boreal lab status [--json]", "table of the lab's machines"),
  image: usageLine(
    "boreal lab image [--suite bookworm|trixie|mixed] [--sudo] [--backend nspawn|vm] [--no-install]",
    "build the cached Debian image(s) of the lab's machines now (default mixed: both; --sudo also the image of a machine as cloud images come, with sudo; --backend vm also the VM disks); root; the real-tool tests use them too",
  ),
  s3: usageLine(
    "boreal lab s3",
    "build the lab's S3 server (SeaweedFS, for the tests of Pulumi state on S3) from the Go module proxy now, once: about 6 minutes cold on 2 cores, then cached (/var/cache/boreal-lab, or BOREAL_SEAWEEDFS_CACHE); prints the path of its weed binary",
  ),
  ssh: usageLine("boreal lab ssh NODE [-- command...]", "a shell (or a command) on a machine"),
  down: usageLine("boreal lab down", "stop everything; the image stays cached"),
} as const;

export type LabVerb = keyof typeof LAB_SUBCOMMANDS;
export const LAB_USAGE = Object.values(LAB_SUBCOMMANDS).join("\n");

const log = (line: string) => process.stderr.write(`${line}\n`);

/** --nodes: how many machines (or members). */
function nodesOption(a: Parsed): number {
  const text = a.one("--nodes") ?? "3";
  if (!/^\d+$/.test(text)) throw usageError(`--nodes must be a whole number, got ${text}`, "e.g. --nodes 3", "--nodes");
  return Number(text);
}

/** --suite: the Debian release of the lab's machines; mixed alternates 12 and 13. */
function suiteOption(a: Parsed): LabSuiteChoice {
  const suite = a.one("--suite") ?? DEFAULT_SUITE;
  if (!isLabSuiteChoice(suite))
    throw usageError(`--suite must be ${LAB_SUITE_CHOICES.join(", ")}, got ${suite}`, `e.g. --suite ${DEFAULT_SUITE}`, "--suite");
  return suite;
}

function noWords(a: Parsed, command: string): void {
  if (a.positional.length > 0) throw usageError(`unexpected ${a.positional.join(" ")}: ${command} takes options only`);
}

export async function lab(verb: LabVerb, args: readonly string[]): Promise<number> {
  switch (verb) {
    case "up": {
      const a = parseArgs(args, {
        "--nodes": "value",
        "--subnet": "value",
        "--suite": "value",
        "--backend": "value",
        "--no-install": "switch",
      });
      noWords(a, "lab up");
      const backend = a.one("--backend") ?? backendFromEnv(process.env.BOREAL_LAB_BACKEND);
      if (!isLabBackend(backend))
        throw usageError(`--backend must be ${LAB_BACKENDS.join(" or ")}, got ${backend}`, "e.g. --backend vm", "--backend");
      const nodes = nodesOption(a);
      const suite = suiteOption(a);
      // The lab's stacks get their SSH key through `pulumi config set --secret`.
      ensureToolchain();
      const started = Date.now();
      const state = await labUp({
        nodes,
        subnet: a.one("--subnet") ?? DEFAULT_SUBNET,
        installPrerequisites: !a.on("--no-install"),
        suite,
        backend,
        log,
      });
      writeLabStacks(state, PROJECT_DIR, log);
      log(`lab up: ${state.machines.length} machine(s) answering SSH in ${Math.round((Date.now() - started) / 1000)}s`);
      printStatus(await labStatus());
      return 0;
    }
    case "down":
      noWords(parseArgs(args, {}), "lab down");
      labDown({ log });
      log("lab down: done (the cached image stays)");
      return 0;
    case "status": {
      const a = parseArgs(args, { "--json": "switch" });
      noWords(a, "lab status");
      const rows = await labStatus();
      if (a.on("--json")) console.log(jsonText({ machines: rows }));
      else printStatus(rows);
      return 0;
    }
    case "image": {
      const a = parseArgs(args, { "--suite": "value", "--sudo": "switch", "--backend": "value", "--no-install": "switch" });
      noWords(a, "lab image");
      const choice = a.one("--suite") ?? "mixed";
      if (!isLabSuiteChoice(choice))
        throw usageError(`--suite must be ${LAB_SUITE_CHOICES.join(", ")}, got ${choice}`, "e.g. --suite mixed (both)", "--suite");
      const backend = a.one("--backend") ?? "nspawn";
      if (!isLabBackend(backend))
        throw usageError(
          `--backend must be ${LAB_BACKENDS.join(" or ")}, got ${backend}`,
          "e.g. --backend vm (the VM disks too)",
          "--backend",
        );
      checkPrerequisites(!a.on("--no-install"), log);
      for (const suite of [...new Set(machineSuites(choice, LAB_SUITES.length))]) {
        for (const extra of a.on("--sudo") ? [[], SUDO_IMAGE_PACKAGES] : [[]]) {
          const recipe = labRecipe(suite, extra);
          const what = `Debian ${suite}${extra.length > 0 ? ` with ${extra.join(", ")}` : ""}`;
          const image = await ensureImage(recipe, log);
          log(`lab image: ${what} ${image.built ? `built in ${image.seconds}s` : "already cached"}: ${image.path}`);
          if (backend !== "vm") continue;
          const disk = await ensureVmDisk(recipe, log);
          log(`lab image: ${what}'s VM disk ${disk.built ? `built in ${disk.seconds}s` : "already cached"}: ${disk.dir}`);
        }
      }
      return 0;
    }
    case "s3": {
      noWords(parseArgs(args, {}), "lab s3");
      const built = await ensureSeaweedfs(log);
      log(`lab s3: SeaweedFS ${SEAWEEDFS_VERSION} ${built.built ? `built in ${built.seconds}s` : "already cached"}`);
      console.log(built.weed);
      return 0;
    }
    case "ssh": {
      const a = parseArgs(args, {}, { passThrough: true });
      const [name, ...extra] = a.positional;
      if (name === undefined) throw usageError("the machine NODE is missing", `e.g. ${hint("lab ssh node1")}`, "NODE");
      if (extra.length > 0)
        throw usageError(`put the command after --: ${extra.join(" ")}`, `e.g. ${hint(`lab ssh ${name} -- ${extra.join(" ")}`)}`);
      const state = readState();
      const machine = state?.machines.find((m) => m.name === name);
      if (!state || !machine) throw inputError(`no lab machine named ${name}`, `see ${hint("lab status")}`, name);
      const interactive = a.rest.length === 0 ? ["-t"] : [];
      return (
        runAttached("ssh", [...interactive, ...sshArgs(state, machine, undefined, false), ...a.rest], {
          stdin: "terminal",
          allowFailure: true,
        }).status ?? 1
      );
    }
  }
}

function printStatus(rows: Awaited<ReturnType<typeof labStatus>>): void {
  if (rows.length === 0) {
    console.log(`no lab is up (${hint("lab up")})`);
    return;
  }
  printTable([
    ["MACHINE", "ADDRESS", "DEBIAN", "BACKEND", "RUNNING", "SSHD", "UP (s)", "BOOT (s)"],
    ...rows.map((r) => [
      r.name,
      r.address,
      r.suite,
      r.backend,
      r.running ? "yes" : "no",
      r.sshd ? "yes" : "no",
      String(r.seconds),
      r.bootSeconds === undefined ? "-" : String(r.bootSeconds),
    ]),
  ]);
}

function printTable(table: string[][]): void {
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    );
}

/** Lab up, every member joins with its own pulumi up; the agents mesh them; a summary. */
export async function demo(args: readonly string[]): Promise<number> {
  const a = parseArgs(args, { "--nodes": "value", "--suite": "value" });
  noWords(a, "demo");
  const nodes = nodesOption(a);
  const suite = suiteOption(a);
  ensureToolchain();
  ensureCommandPlugin(PROJECT_DIR, log);
  const started = Date.now();
  // labUp clears the last lab, its members' projects included, before it first waits: the
  // projects are made after that, while the machines boot.
  const up = labUp({ nodes, subnet: DEFAULT_SUBNET, installPrerequisites: true, suite, log });
  const projectsDir = labProjectsDir();
  const made = packCheckout(PROJECT_DIR, join(projectsDir, "kit"), { build: false }).then((kit) => {
    log(`each member's own project, as the tutorial makes it: boreal init --kit file:${kit.tarball}, npm install (in ${projectsDir})`);
    return Promise.all(
      Array.from({ length: nodes }, (_, i) =>
        makeMemberProject(join(projectsDir, labMemberName(i)), kit, `file://${join(projectsDir, "state")}`),
      ),
    );
  });
  const [state, projects] = await Promise.all([up, made]);
  const { missing } = writeLabStacks(state, projects, log);
  if (missing.length > 0) throw new Error(`could not store the SSH key in ${missing.join(", ")}`);
  const stacks = new LabStacks(Object.fromEntries(state.machines.map((m, i) => [labStackName(m.name), projects[i]])), state);
  const outputs = new Map<string, StackOutputs>();
  const registryOf = (i: number) => join(dirname(state.sshKey), "members", labMemberName(i), "registry");
  for (const [i, m] of state.machines.entries()) {
    // As the join steps say: the latest registry first, so the delegation names those already in.
    git(registryOf(i), "pull", "-q");
    log(`pulumi up ${stacks.stackOf(m.name)}`);
    outputs.set(m.name, stacks.up(m.name));
  }
  const lastUp = Date.now();
  // Nobody re-applies: each node's sync agent takes the others from the lab's mirror.
  const peers = state.machines.length - 1;
  const meshed = () =>
    demoSummary(state)
      .slice(1)
      .every((row) => row[2] === `${peers}/${peers}`);
  while (!meshed() && Date.now() - lastUp < 180_000) await new Promise((r) => setTimeout(r, 1000));
  log(
    `federation of ${state.machines.length} up in ${Math.round((Date.now() - started) / 1000)}s; full mesh ${Math.round((Date.now() - lastUp) / 1000)}s after the last pulumi up, with no re-apply; summary:`,
  );
  printTable(demoSummary(state));
  // A founder met too few others at its first up; its output says so (note): it does what the
  // docs say, pull the registry and pulumi up again, then gives its registrar the new set.
  for (const [i, m] of state.machines.entries()) {
    const note = Object.values(outputs.get(m.name)!.delegations).find((d) => d.note)?.note;
    if (!note) continue;
    log(`${stacks.stackOf(m.name)}: ${note}`);
    git(registryOf(i), "pull", "-q");
    log(`pulumi up ${stacks.stackOf(m.name)} (its delegation, once the others are in)`);
    outputs.set(m.name, stacks.up(m.name));
  }
  // The members' delegations (their stacks' output) in the lab's parent zone, as at a registrar.
  const delegations = [...outputs.values()].flatMap((o) => Object.values(o.delegations).flatMap((d) => d.records));
  const dns = await labDns(state, delegations);
  log(
    `DNS as the world sees it: parent ${LAB_PARENT_ZONE} at ${dns.parent.address}, validating resolver at ${dns.resolver.address}; try: kdig @${dns.resolver.address} +dnssec www.${labMemberName(0)}.${LAB_PARENT_ZONE} A`,
  );
  log(
    `look around: ${hint(`lab ssh ${state.machines[0]?.name ?? "node1"}`)}; a member's project: cd ${projects[0]} && PULUMI_CONFIG_PASSPHRASE=${LAB_PASSPHRASE} npx pulumi stack output -s ${stacks.stackOf(state.machines[0].name)}; end it: ${hint("lab down")}`,
  );
  return 0;
}

/** `npm run toolchain` when `npx pulumi` does not answer yet (src/cli/toolchain.ts). */
function ensureToolchain(): void {
  ensureProjectToolchain(projectToolchain(PROJECT_DIR, log));
}

function demoSummary(state: LabState): string[][] {
  const rows = state.machines.map((m) => {
    const facts = labExec(
      state,
      m,
      "ip -o addr show dev wg0 scope global | awk '{print $4}' | tr '\\n' ' '; echo; now=$(date +%s); wg show wg0 latest-handshakes | awk -v now=$now '$2 > now - 180' | wc -l; wg show wg0 peers | wc -l; knotc zone-status | grep -vc 'catalog: generate\\|catalog: interpret'",
    )
      .output.trim()
      .split("\n");
    return [m.name, facts[0] ?? "", `${facts[1] ?? "?"}/${facts[2] ?? "?"}`, facts[3] ?? "?"];
  });
  return [["NODE", "MESH ADDRESSES", "PEERS WITH HANDSHAKE", "ZONES SERVED"], ...rows];
}
