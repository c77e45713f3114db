// The local lab: N Debian machines (12 bookworm by default, or 13 trixie; systemd-nspawn, booted) on a private bridge.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { writeAtomic } from "../io/files";
import { parseCidr } from "../core/values/ip";
import { ATTEST_INTERVAL_DEFAULT, DELEGATION_CHECK_INTERVAL_DEFAULT } from "../core/spec/stack";
import { asRoot } from "../core/values/shell";
import { ProcessError, run, runAsync, RunResult, sleepSync, startDetached } from "../io/process";
import { DEFAULT_SUITE, ensureImage, labRecipe, LabSuite, LabSuiteChoice, machineSuites, SUDO_IMAGE_PACKAGES } from "./image";
import { startTimeServer, timeServerProcesses } from "./clock";
import { createMirrorRepo, mirrorProcesses, mirrorUrl, mirrorsDir, startMirror, stopMirror } from "./mirror";
import { createLabFederation, LabMember } from "./federation";
import { LAB_PASSPHRASE, labPulumiEnv, labStackName, runPulumi } from "./pulumi";
import { inCgroups, labCgroupProcesses, machineCgroup, removeLabCgroups } from "./cgroup";
import { createLabDnsNetwork, labDnsAddresses, labDnsProcesses, LabDnsState, startLabDns } from "./dns";
import {
  Accelerator,
  acceleratorsToTry,
  backendFromEnv,
  chronyConf,
  createMachineDisks,
  createTap,
  ensureVmDisk,
  KVM_PROBE_SECONDS,
  LabBackend,
  machineDiskPaths,
  networkFile,
  reachedUserspace,
  tapName,
  vmCommand,
  VmDisk,
  vmMac,
} from "./vm";

/** Seconds between two rounds of label checks on lab machines (a real member keeps the default, 900). */
export const LAB_ATTEST_INTERVAL = 60;
/** Seconds between two checks of the parent's delegation on lab machines (a real member keeps the default, 300). */
export const LAB_DELEGATION_CHECK_INTERVAL = 15;

export { LAB_PASSPHRASE };
import {
  checkSubnetFree,
  createLabNetwork,
  LAB_PREFIX6,
  labAddress6,
  createMachineNetwork,
  LAB_NS,
  labAddresses,
  labNamespaces,
  nodeNamespace,
  output,
  pidAlive,
  quiet,
  removeLabNetwork,
  sh,
  stopProcesses,
  vethPortName,
} from "./net";

/** The project root: the nearest directory above this file holding Pulumi.yaml (src/ or dist/src/). */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "Pulumi.yaml")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const PROJECT_DIR = projectRoot();
export const LAB_DIR = process.env.BOREAL_LAB_DIR ?? join(PROJECT_DIR, ".lab");
export const DEFAULT_SUBNET = "198.51.100.0/24";

export interface LabMachine {
  name: string;
  address: string;
  pid: number;
  hostKey: string;
  startedAt: number;
  /** Its Debian release, and the cached image of that release it boots from. */
  suite: LabSuite;
  image: string;
  /** Who logs in over SSH: root, unless the machine was made as cloud images come (UpOptions.sudoUser). */
  sshUser?: string;
  /** Its IPv6 underlay address (the lab is dual-stack); absent for a machine made IPv4-only (UpOptions.ipv4Only). */
  address6?: string;
  /** A QEMU VM (the VM backend) rather than a container: how it boots again, and how long its first boot took. */
  vm?: LabVm;
}

export interface LabVm {
  kernel: string;
  initrd: string;
  accel: Accelerator;
  /** Its clock's offset from the host's, in seconds (its RTC at boot). */
  clockOffset: number;
  /** Seconds from QEMU's start to sshd answering with the pinned host key, on its last boot. */
  bootSeconds?: number;
}

export interface LabState {
  subnet: string;
  hostAddress: string;
  /** The Debian release of every machine, or "mixed" (each machine says its own). */
  suite: LabSuiteChoice;
  sshKey: string;
  machines: LabMachine[];
  /**
   * The registry's read-only mirror: git daemon on the host at hostAddress (pid), serving the
   * bare repository repo (written by path on the host) to the machines at url.
   */
  mirror: { pid: number; url: string; repo: string };
  /** The VMs' NTP server on the host at hostAddress (src/lab/time-server.ts); containers share the host's clock. */
  time?: { pid: number };
  /** The parent zone's name server and the validating resolver, once started (labDns). */
  dns?: LabDnsState;
  /** Where writeLabStacks put the lab's stacks (removed again by labDown). */
  projectDir?: string;
}

const statePath = (dir: string) => join(dir, "state.json");

/** Whole or not at all: `lab down` after a crash reads it. */
function saveState(dir: string, state: LabState): void {
  writeAtomic(statePath(dir), JSON.stringify(state, null, 2), { mode: 0o666, dirMode: 0o777 });
}

export function readState(dir = LAB_DIR): LabState | undefined {
  return existsSync(statePath(dir)) ? (JSON.parse(readFileSync(statePath(dir), "utf8")) as LabState) : undefined;
}

export function checkPrerequisites(install: boolean, log: (l: string) => void): void {
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (network namespaces and systemd-nspawn): run it with sudo");
  const tools: [string, string][] = [
    ["debootstrap", "debootstrap"],
    ["systemd-nspawn", "systemd-container"],
    ["ip", "iproute2"],
    ["ssh-keygen", "openssh-client"],
    ["ssh", "openssh-client"],
    ["git", "git"],
    ["ss", "iproute2"],
    ["kdig", "knot-dnsutils"],
  ];
  ensureHostPackages(
    tools.map(([tool, pkg]) => [`command -v ${tool}`, pkg]),
    install,
    log,
  );
}

/** apt-get downloads from the host's Debian mirror: minutes on a slow link, a quarter of an hour is a hang. */
const APT_TIMEOUT_MS = 900_000;

/**
 * Host packages by the shell test that shows each is there: the missing ones installed with
 * apt-get when `install`, else named in the error.
 */
export function ensureHostPackages(checks: [test: string, pkg: string][], install: boolean, log: (l: string) => void): void {
  const missing = [...new Set(checks.filter(([test]) => !quiet("sh", ["-c", test])).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  if (!install) throw new Error(`missing: ${missing.join(" ")}; install them with: apt-get install ${missing.join(" ")}`);
  log(`installing ${missing.join(" ")} with apt-get`);
  sh("apt-get", ["update", "-q"], { timeoutMs: APT_TIMEOUT_MS });
  sh("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { timeoutMs: APT_TIMEOUT_MS });
}

export interface UpOptions {
  nodes: number;
  subnet: string;
  installPrerequisites: boolean;
  log: (line: string) => void;
  dir?: string;
  /** The Debian release of the machines (default bookworm), or "mixed": 12 and 13 alternating. */
  suite?: LabSuiteChoice;
  /**
   * Machines as cloud images come: this user, with sudo and the operator's key, and root's
   * SSH login disabled (an image with sudo, built once). Unset: root logs in, as always.
   */
  sudoUser?: string;
  /** The machines (by name) made so, when not all of them are (their image has sudo, the others' not). */
  sudoMachines?: string[];
  /** Machines (by name) left without an IPv6 address, as servers of a hoster without IPv6 come. */
  ipv4Only?: string[];
  /** Containers (nspawn, the default) or QEMU VMs booting Debian's kernel (vm); unset: $BOREAL_LAB_BACKEND. */
  backend?: LabBackend;
  /**
   * VMs only: a machine's RTC offset from the host's in seconds, by name (a clock ten minutes off
   * at boot; its chrony steps it right soon after, as on a server whose RTC is off).
   */
  clockOffsets?: Record<string, number>;
}

export async function labUp(options: UpOptions): Promise<LabState & { imageBuilt: boolean; imageSeconds: number }> {
  const dir = options.dir ?? LAB_DIR;
  const log = options.log;
  checkPrerequisites(options.installPrerequisites, log);
  // A wrong suite fails before anything of a running lab is torn down.
  const choice = options.suite ?? DEFAULT_SUITE;
  const suites = machineSuites(choice, options.nodes);
  const { subnet, host, machines } = labAddresses(options.subnet, options.nodes);
  // A crashed or half-done run leaves pieces behind: clear them before anything else.
  labDown({ dir, log: () => {}, keepState: false });
  checkSubnetFree(subnet);
  checkSubnetFree(parseCidr(LAB_PREFIX6));
  const names = machines.map((_, i) => `node${i + 1}`);
  const withSudo = (name: string) => options.sudoUser !== undefined && (options.sudoMachines ?? names).includes(name);
  // One image per suite and recipe: a machine made as cloud images come needs sudo in its image.
  const imageKey = (i: number) => `${suites[i]}${withSudo(names[i]) ? "+sudo" : ""}`;
  const images = new Map<string, Awaited<ReturnType<typeof ensureImage>>>();
  for (const [i, name] of names.entries()) {
    if (images.has(imageKey(i))) continue;
    const image = await ensureImage(labRecipe(suites[i], withSudo(name) ? SUDO_IMAGE_PACKAGES : []), log);
    if (image.built) log(`${imageKey(i)} image built in ${image.seconds}s`);
    images.set(imageKey(i), image);
  }
  const backend = options.backend ?? backendFromEnv(process.env.BOREAL_LAB_BACKEND);
  // The VM backend: each image's VM disk (Debian's kernel added), built once and cached beside it.
  const disks = new Map<string, VmDisk>();
  if (backend === "vm") {
    ensureHostPackages(VM_HOST_TOOLS, options.installPrerequisites, log);
    for (const [i, name] of names.entries()) {
      if (disks.has(imageKey(i))) continue;
      const disk = await ensureVmDisk(labRecipe(suites[i], withSudo(name) ? SUDO_IMAGE_PACKAGES : []), log);
      if (disk.built) log(`${imageKey(i)} VM disk built in ${disk.seconds}s`);
      disks.set(imageKey(i), disk);
    }
  }
  let accelerators = backend === "vm" ? acceleratorsToTry(existsSync("/dev/kvm"), process.env.BOREAL_LAB_ACCEL) : [];

  mkdirSync(dir, { recursive: true });
  const sshKey = join(dir, "id_ed25519");
  if (!existsSync(sshKey)) sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "boreal-lab-operator", "-f", sshKey]);
  const operatorKey = readFileSync(`${sshKey}.pub`, "utf8");

  createLabNetwork(subnet, host, labAddress6(host));
  createLabDnsNetwork(subnet.text);
  // New machines, new federation: the mirror starts empty.
  rmSync(mirrorsDir(dir), { recursive: true, force: true });
  const repo = createMirrorRepo(dir, "registry");
  const mirror = { pid: startMirror(dir, host), url: mirrorUrl(host, "registry"), repo };
  log(`registry mirror ${mirror.url} (git daemon pid ${mirror.pid}, takes attestations only; members write to ${repo})`);
  const state: LabState = { subnet: subnet.text, hostAddress: host, suite: choice, sshKey, machines: [], mirror };
  if (backend === "vm") {
    state.time = { pid: startTimeServer(dir, host) };
    log(`time server ${host}:123 for the VMs' chrony (the host's clock, pid ${state.time.pid})`);
  }
  for (const [i, address] of machines.entries()) {
    const name = names[i];
    const address6 = options.ipv4Only?.includes(name) ? undefined : labAddress6(address);
    const resolver = labDnsAddresses(subnet.text).resolver;
    const image = images.get(imageKey(i))!.path;
    let machine: LabMachine;
    if (backend === "nspawn") {
      createMachineNetwork(name, address, subnet, address6);
      machine = startMachine(dir, { name, address, resolver }, suites[i], image, operatorKey);
    } else {
      createTap(name);
      const own = {
        disk: disks.get(imageKey(i))!,
        clockOffset: options.clockOffsets?.[name] ?? 0,
        bits: subnet.bits,
        address6,
        timeServer: host,
      };
      machine = await startVm(dir, { name, address, resolver }, suites[i], image, operatorKey, own, accelerators, log);
      // The probe's verdict holds for every other machine.
      accelerators = [machine.vm!.accel];
    }
    state.machines.push(address6 === undefined ? machine : { ...machine, address6 });
  }
  saveState(dir, state);
  writeKnownHosts(dir, state);
  log(`waiting for sshd on ${state.machines.length} machine(s)`);
  await Promise.all(state.machines.map((m) => waitForBoot(state, m, dir)));
  saveState(dir, state);
  for (const m of state.machines.filter((machine) => withSudo(machine.name))) await makeSudoUser(state, m, options.sudoUser!, dir);
  const built = [...images.values()].filter((image) => image.built);
  return { ...state, imageBuilt: built.length > 0, imageSeconds: built.reduce((sum, image) => sum + image.seconds, 0) };
}

/** Host tools of the VM backend: QEMU, its disk tool, and mkfs.ext4 (the disks are ext4 files, no loop device). */
/** A VM's memory: a member's services (Knot, Prometheus and its exporters, the agent) and the kit's install, with room. */
const VM_MEMORY_MIB = 1536;

const VM_HOST_TOOLS: [string, string][] = [
  ["command -v qemu-system-x86_64", "qemu-system-x86"],
  ["command -v qemu-img", "qemu-utils"],
  ["command -v mkfs.ext4", "e2fsprogs"],
];

function startMachine(
  dir: string,
  machine: { name: string; address: string; resolver: string },
  suite: LabSuite,
  image: string,
  operatorKey: string,
): LabMachine {
  const hostKey = prepareMachine(dir, machine, operatorKey);
  return {
    name: machine.name,
    address: machine.address,
    pid: bootMachine(dir, machine.name, image),
    hostKey,
    startedAt: Date.now(),
    suite,
    image,
  };
}

/**
 * A machine's own files (its hostname, resolver, SSH host key and the operator's key) in its
 * upper dir: the overlay of a container, the seed disk of a VM. Returns the host key to pin.
 */
function prepareMachine(dir: string, { name, resolver }: { name: string; resolver: string }, operatorKey: string): string {
  const machineDir = join(dir, "machines", name);
  const upper = join(machineDir, "upper");
  rmSync(machineDir, { recursive: true, force: true });
  mkdirSync(join(upper, "etc/ssh"), { recursive: true });
  mkdirSync(join(upper, "root/.ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(join(upper, "etc/hostname"), `${name}\n`);
  // The machine's name resolves as on a server Debian's installer or cloud-init set up
  // (debootstrap writes no /etc/hosts): without it every sudo asks the resolver for its own
  // host name, waits, and warns "unable to resolve host" on every command.
  writeFileSync(join(upper, "etc/hosts"), `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  // The machine's resolver is the lab's (answering once labDns starts it), as a server's is
  // its hoster's: the nodes find their zones' parent through it.
  writeFileSync(join(upper, "etc/resolv.conf"), `nameserver ${resolver}\n`);
  // The lab makes each machine's host key, so it knows the key to pin.
  sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${name}`, "-f", join(upper, "etc/ssh/ssh_host_ed25519_key")]);
  writeFileSync(join(upper, "root/.ssh/authorized_keys"), operatorKey, { mode: 0o600 });
  chmodSync(join(upper, "root/.ssh"), 0o700);
  return readFileSync(join(upper, "etc/ssh/ssh_host_ed25519_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
}

/**
 * A VM: the machine's own files (prepareMachine's, and its addresses for systemd-networkd) on
 * its seed disk, its writes on a qcow2 overlay of the suite's VM disk, booted with the first
 * accelerator of `accelerators` that works. With more than one to try, a guest that does not
 * reach userspace within KVM_PROBE_SECONDS is stopped and the next is tried on fresh disks.
 */
async function startVm(
  dir: string,
  machine: { name: string; address: string; resolver: string },
  suite: LabSuite,
  image: string,
  operatorKey: string,
  own: { disk: VmDisk; clockOffset: number; bits: number; address6?: string; timeServer: string },
  accelerators: Accelerator[],
  log: (line: string) => void,
): Promise<LabMachine> {
  const machineDir = join(dir, "machines", machine.name);
  for (const [i, accel] of accelerators.entries()) {
    const hostKey = prepareMachine(dir, machine, operatorKey);
    const upper = join(machineDir, "upper");
    mkdirSync(join(upper, "etc/systemd/network"), { recursive: true });
    writeFileSync(join(upper, "etc/systemd/network/10-lab.network"), networkFile(machine.address, own.bits, own.address6));
    mkdirSync(join(upper, "etc/chrony"), { recursive: true });
    writeFileSync(join(upper, "etc/chrony/chrony.conf"), chronyConf(own.timeServer));
    createMachineDisks(machineDir, own.disk, upper);
    const vm: LabVm = { kernel: own.disk.kernel, initrd: own.disk.initrd, accel, clockOffset: own.clockOffset };
    const started: LabMachine = { name: machine.name, address: machine.address, pid: 0, hostKey, startedAt: Date.now(), suite, image, vm };
    started.pid = bootMachine(dir, machine.name, image, { vm, address: machine.address });
    if (i === accelerators.length - 1) return started;
    const deadline = Date.now() + KVM_PROBE_SECONDS * 1000;
    const consoleLog = join(machineDir, "console.log");
    while (Date.now() < deadline && !reachedUserspace(consoleLog) && pidAlive(started.pid)) await new Promise((r) => setTimeout(r, 500));
    if (reachedUserspace(consoleLog)) return started;
    log(`${machine.name}: no userspace within ${KVM_PROBE_SECONDS}s under ${accel}; trying ${accelerators[i + 1]}`);
    stopMachines([started.pid], machine.name);
  }
  throw new Error("no accelerator to boot a lab VM with");
}

/**
 * Boots a prepared machine (a container: its overlay upper dir and namespace exist; a VM: its
 * disks and tap); returns the pid of systemd-nspawn or of QEMU.
 */
function bootMachine(dir: string, name: string, image: string, vm?: { vm: LabVm; address: string }): number {
  const machineDir = join(dir, "machines", name);
  if (vm !== undefined) {
    const qemu = vmCommand({
      name,
      ...machineDiskPaths(machineDir),
      kernel: vm.vm.kernel,
      initrd: vm.vm.initrd,
      mac: vmMac(vm.address),
      tap: tapName(name),
      accel: vm.vm.accel,
      memoryMiB: VM_MEMORY_MIB,
      cpus: 1,
      clockOffset: vm.vm.clockOffset,
      now: new Date(),
    });
    const command = inCgroups(machineCgroup(name), qemu.command, qemu.args);
    return startDetached(command.command, command.args, { log: join(machineDir, "console.log"), purpose: `booting lab VM ${name}` });
  }
  const nspawn = inCgroups(machineCgroup(name), "systemd-nspawn", [
    "--keep-unit",
    "--register=no",
    "--boot",
    `--directory=${image}`,
    `--overlay=${image}:${join(machineDir, "upper")}:/`,
    `--network-namespace-path=/run/netns/${nodeNamespace(name)}`,
    // wireguard-go needs to create its TUN device.
    "--capability=CAP_NET_ADMIN",
    // Its own /etc/resolv.conf (startMachine's), not the host's.
    "--resolv-conf=off",
    `--hostname=${name}`,
    `--machine=boreal-${name}`,
  ]);
  return startDetached(nspawn.command, nspawn.args, { log: join(machineDir, "console.log"), purpose: `booting lab machine ${name}` });
}

/**
 * The lab's parent zone (lab.test.) with these delegation records (the members' stack
 * outputs), and a validating resolver trusting only it: (re)started, with an empty cache.
 */
export async function labDns(state: LabState, delegations: string[], dir = LAB_DIR): Promise<LabDnsState> {
  state.dns = await startLabDns({
    dir: join(dir, "dns"),
    image: state.machines[0].image,
    subnet: state.subnet,
    delegations,
    previous: state.dns,
  });
  saveState(dir, state);
  return state.dns;
}

/**
 * Pulls or plugs a machine's underlay cable, from the host side: its port on the lab bridge (a
 * container's veth, a VM's tap) goes down or up. The machine's eth0 stays up: a container's
 * sees its carrier go, a VM's sees nothing (its packets are dropped at the tap).
 */
export function setUnderlay(machine: LabMachine, connected: boolean): void {
  const port = machine.vm ? tapName(machine.name) : vethPortName(machine.name);
  sh("ip", ["-n", LAB_NS, "link", "set", port, connected ? "up" : "down"]);
}

/** Powers one machine off (its disk, the overlay upper dir, stays): a member going down. */
export function labStop(state: LabState, name: string): void {
  const machine = state.machines.find((m) => m.name === name);
  if (!machine) throw new Error(`no lab machine named ${name}`);
  // A VM powers itself off (QEMU ends with it); SIGTERM would pull its plug.
  if (machine.vm && pidAlive(machine.pid)) {
    labExec(state, machine, "systemctl --no-block poweroff");
    const deadline = Date.now() + 120_000;
    while (pidAlive(machine.pid) && Date.now() < deadline) sleepSync(500);
  }
  stopMachines([machine.pid], name);
}

/**
 * Stops machines: their nspawn first (a clean power-off), then whatever outlived it in
 * their groups, since a machine is every process in its group (all the lab's with no name).
 * Other processes to stop with them (the lab's DNS) go in with the nspawn ones.
 */
function stopMachines(nspawnPids: number[], name?: string): void {
  stopProcesses(nspawnPids);
  stopProcesses(labCgroupProcesses(name));
}

/** Boots a stopped machine again from its own disk and waits for its sshd. */
export async function labStart(state: LabState, name: string, dir = LAB_DIR): Promise<void> {
  const machine = state.machines.find((m) => m.name === name);
  if (!machine) throw new Error(`no lab machine named ${name}`);
  if (pidAlive(machine.pid)) return;
  machine.pid = bootMachine(dir, name, machine.image, machine.vm && { vm: machine.vm, address: machine.address });
  machine.startedAt = Date.now();
  saveState(dir, state);
  await waitForBoot(state, machine, dir);
  saveState(dir, state);
}

/**
 * A server reinstalled: the machine is powered off, its disk (the overlay upper dir) thrown
 * away, and a blank one of the same name and address boots from the image with a new SSH
 * host key, the operator's key and nothing of the kit. known_hosts pins the new key, which is
 * returned for the member's boreal:ssh.hostKey. A container as root logs in; not a VM or a
 * sudo machine (their seed disk and user are made at lab up).
 */
export async function labRebuild(state: LabState, name: string, dir = LAB_DIR): Promise<string> {
  const machine = state.machines.find((m) => m.name === name);
  if (!machine) throw new Error(`no lab machine named ${name}`);
  if (machine.vm || machine.sshUser) {
    throw new Error(`lab machine ${name} is a ${machine.vm ? "VM" : "sudo machine"}: only a container reached as root can be rebuilt`);
  }
  labStop(state, name);
  const operatorKey = readFileSync(`${state.sshKey}.pub`, "utf8");
  machine.hostKey = prepareMachine(dir, { name, resolver: labDnsAddresses(state.subnet).resolver }, operatorKey);
  machine.pid = bootMachine(dir, name, machine.image);
  machine.startedAt = Date.now();
  saveState(dir, state);
  writeKnownHosts(dir, state);
  await waitForBoot(state, machine, dir);
  return machine.hostKey;
}

/** A VM under TCG (emulated) boots in minutes on a loaded machine; a container or a KVM guest in seconds. */
function bootBound(machine: LabMachine): number {
  return machine.vm?.accel === "tcg" ? 600 : 120;
}

/** Waits for the machine's sshd; a VM keeps how long its boot took. */
async function waitForBoot(state: LabState, machine: LabMachine, dir: string): Promise<void> {
  await waitForSsh(state, machine, bootBound(machine), dir);
  if (machine.vm) machine.vm.bootSeconds = Math.round((Date.now() - machine.startedAt) / 1000);
}

/**
 * The machine as cloud images come: `user` with sudo without a password and the operator's
 * key, root's SSH login disabled (a drop-in read before the lab's own: sshd keeps the first
 * value). From then on the lab reaches the machine as that user.
 */
async function makeSudoUser(state: LabState, machine: LabMachine, user: string, dir: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`lab sudo user "${user}" is not a plain user name`);
  const script = [
    "set -eu",
    `useradd --create-home --shell /bin/bash ${user}`,
    `install -d -m 0700 -o ${user} -g ${user} /home/${user}/.ssh`,
    `install -m 0600 -o ${user} -g ${user} /root/.ssh/authorized_keys /home/${user}/.ssh/authorized_keys`,
    `echo '${user} ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/boreal-lab && chmod 0440 /etc/sudoers.d/boreal-lab`,
    "visudo -cq",
    "echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/00-no-root-login.conf",
    "systemctl reload ssh",
  ].join("\n");
  const made = labExec(state, machine, script, dir);
  if (made.status !== 0) throw new Error(`${machine.name}: could not make the sudo user ${user}: ${made.output}`);
  machine.sshUser = user;
  saveState(dir, state);
  await waitForSsh(state, machine, 30, dir);
}

function writeKnownHosts(dir: string, state: LabState): void {
  writeFileSync(knownHostsPath(dir), state.machines.map((m) => `${m.address} ${m.hostKey}\n`).join(""));
}

/** ssh(1) arguments for a machine: the lab key, and its host key pinned in known_hosts. */
export function sshArgs(state: LabState, machine: LabMachine, dir = LAB_DIR, batch = true): string[] {
  return [
    "-i",
    state.sshKey,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsPath(dir)}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    `BatchMode=${batch ? "yes" : "no"}`,
    "-o",
    "LogLevel=ERROR",
    `${machine.sshUser ?? "root"}@${machine.address}`,
  ];
}

/** A command on a lab machine: a package install or a sync run takes a while, two minutes is a hang. */
const LAB_EXEC_TIMEOUT_MS = 120_000;

/** What a command on a machine came to: its exit status (-1: killed, timed out or not run) and all it said. */
export interface LabExecResult {
  status: number;
  output: string;
}

function execResult(result: RunResult): LabExecResult {
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** Run a command as root on a machine over SSH, the host key checked against the pinned one. */
export function labExec(state: LabState, machine: LabMachine, command: string, dir = LAB_DIR, input?: string): LabExecResult {
  try {
    return execResult(
      run("ssh", [...sshArgs(state, machine, dir), asRoot(machine.sshUser ?? "root", command)], {
        input: input ?? "",
        timeoutMs: LAB_EXEC_TIMEOUT_MS,
        allowFailure: true,
      }),
    );
  } catch (error) {
    if (error instanceof ProcessError) return { status: -1, output: error.message };
    throw error;
  }
}

/** labExec without blocking: several machines asked at once. */
export async function labExecAsync(
  state: LabState,
  machine: LabMachine,
  command: string,
  dir = LAB_DIR,
  timeoutMs = LAB_EXEC_TIMEOUT_MS,
): Promise<LabExecResult> {
  try {
    return execResult(
      await runAsync("ssh", [...sshArgs(state, machine, dir), asRoot(machine.sshUser ?? "root", command)], {
        timeoutMs,
        allowFailure: true,
      }),
    );
  } catch (error) {
    if (error instanceof ProcessError) return { status: -1, output: `${error.result.stdout}${error.message}` };
    throw error;
  }
}

/** The file of pinned host keys sshArgs gives ssh (UserKnownHostsFile). */
export function knownHostsPath(dir = LAB_DIR): string {
  return join(dir, "known_hosts");
}

async function waitForSsh(state: LabState, machine: LabMachine, seconds: number, dir: string): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  while (Date.now() < deadline) {
    if (await portOpen(machine.address, 22)) {
      const probe = labExec(state, machine, "true", dir);
      if (probe.status === 0) return;
      last = probe.output;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const consoleLog = join(dir, "machines", machine.name, "console.log");
  throw new Error(
    `${machine.name} (${machine.address}): sshd did not answer with its pinned host key within ${seconds}s. ${last}\nLook closer: cat ${consoleLog}`,
  );
}

export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePort) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePort(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

/** Alive and not a zombie (a machine started by this very process stays one until reaped). */
export { pidAlive };

/** Processes of the lab, found by their command line (also after a crash lost the state). */
export function labProcesses(): number[] {
  return output("pgrep", ["-f", "^(systemd-nspawn .*--machine=boreal-|qemu-system-x86_64 -name boreal-)"])
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

export function labMounts(dir = LAB_DIR): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1])
    .filter((m) => m && m.startsWith(join(dir, "machines")));
}

/** The members' own projects the demo makes (boreal init's), with their stacks' state: the lab's, gone with it. */
export function labProjectsDir(dir = LAB_DIR): string {
  return join(dir, "projects");
}

export function labDown(options: { dir?: string; log: (line: string) => void; keepState?: boolean }): void {
  const dir = options.dir ?? LAB_DIR;
  const previous = readState(dir);
  const pids = labProcesses();
  stopMachines([...pids, ...labDnsProcesses()]);
  for (const mount of labMounts(dir).reverse()) quiet("umount", ["-l", mount]);
  // The mirror daemon: the one in the state, and any other of this lab directory a crash left.
  const daemons = [...new Set([...(previous?.mirror?.pid ? [previous.mirror.pid] : []), ...mirrorProcesses(dir)])];
  const stoppedDaemons = daemons.filter(stopMirror).length;
  const timeServers = timeServerProcesses(dir);
  stopProcesses(timeServers);
  const namespaces = labNamespaces();
  removeLabNetwork();
  removeLabCgroups();
  rmSync(join(dir, "machines"), { recursive: true, force: true });
  rmSync(join(dir, "dns"), { recursive: true, force: true });
  rmSync(labProjectsDir(dir), { recursive: true, force: true });
  if (previous?.projectDir) removeLabStacks(previous);
  if (!options.keepState) rmSync(statePath(dir), { force: true });
  if (pids.length || namespaces.length || stoppedDaemons || timeServers.length)
    options.log(
      `lab down: stopped ${pids.length} machine(s), ${stoppedDaemons} mirror daemon(s) and ${timeServers.length} time server(s), removed ${namespaces.length} namespace(s)`,
    );
}

export async function labStatus(dir = LAB_DIR): Promise<
  {
    name: string;
    address: string;
    suite: LabSuite;
    running: boolean;
    sshd: boolean;
    seconds: number;
    /** "nspawn", or the VM's accelerator ("vm kvm", "vm tcg"). */
    backend: string;
    /** A VM's last boot (QEMU's start to sshd), in seconds. */
    bootSeconds?: number;
  }[]
> {
  const state = readState(dir);
  if (!state) return [];
  return Promise.all(
    state.machines.map(async (m) => ({
      name: m.name,
      address: m.address,
      suite: m.suite,
      running: pidAlive(m.pid),
      sshd: await portOpen(m.address, 22),
      seconds: Math.round((Date.now() - m.startedAt) / 1000),
      backend: m.vm ? `vm ${m.vm.accel}` : "nspawn",
      ...(m.vm?.bootSeconds !== undefined ? { bootSeconds: m.vm.bootSeconds } : {}),
    })),
  );
}

/** The records of a lab member's zone (boreal:records), its services on the node's underlay address. */
export function labRecords(address: string): string[] {
  return [`www 300 A ${address}`, "@ 300 MX 10 mail", `mail 300 A ${address}`, '@ 300 TXT "v=spf1 mx -all"'];
}

/** A VM under QEMU's emulation (TCG): every program on it runs many times slower than on a container. */
export function emulated(machine: LabMachine): boolean {
  return machine.vm?.accel === "tcg";
}

/**
 * What a user needs to run the kit against the lab: a federation of one member per machine
 * (version 1 signed by all, on the lab's mirror), each member's own registry clone and
 * signing key, and one stack per machine with the SSH key stored as a secret (encrypted
 * by the Pulumi CLI, which alone knows the stack's passphrase format). Returns the members
 * and the stacks whose secret could not be set.
 */
export function writeLabStacks(
  state: LabState,
  project: string | readonly string[],
  log: (l: string) => void,
  options: {
    syncInterval?: number;
    attestInterval?: number;
    delegationCheckInterval?: number;
    /** Each machine with an IPv6 address publishes both endpoints (boreal:endpoint as a list). */
    dualStack?: boolean;
    /** The Pulumi CLI's environment (a backend's credentials), besides the lab's passphrase. */
    env?: NodeJS.ProcessEnv;
  } = {},
): { members: LabMember[]; missing: string[]; trust: string } {
  // One project for every stack (the kit's checkout, a workspace), or each member's own (boreal init's).
  const projectOf = (i: number): string => (typeof project === "string" ? project : project[i]);
  const labDir = dirname(state.sshKey);
  const { members, trust } = createLabFederation({
    labDir,
    count: state.machines.length,
    mirrorRepo: state.mirror.repo,
    mirrorUrls: [state.mirror.url],
    nodeNames: state.machines.map((m) => m.name),
  });
  for (const [i, m] of state.machines.entries()) {
    const member = members[i];
    const config = {
      config: {
        "boreal:member": member.name,
        "boreal:node": m.name,
        "boreal:endpoint": options.dualStack && m.address6 ? [`${m.address}:51820`, `[${m.address6}]:51820`] : `${m.address}:51820`,
        "boreal:registry": member.registry,
        "boreal:trust": trust,
        "boreal:signingKeyFile": member.signingKey,
        "boreal:publish": "origin",
        // No boreal:syncInterval: the lab pulls at the default a member gets, and a change
        // reaches every node in seconds through the publisher's nudge, as on real servers.
        ...(options.syncInterval !== undefined ? { "boreal:syncInterval": options.syncInterval } : {}),
        // And checks its peers often, so that the label follows a broken rule within a minute,
        // and the parent's delegation, so that a drift fires its alert within a minute. Not on
        // an emulated VM (TCG), which keeps a member's defaults: there each run of the agent
        // takes 10 s of its one vCPU, and a check every 15 s would leave little for anything else.
        "boreal:attestInterval": options.attestInterval ?? (emulated(m) ? ATTEST_INTERVAL_DEFAULT : LAB_ATTEST_INTERVAL),
        "boreal:delegationCheckInterval":
          options.delegationCheckInterval ?? (emulated(m) ? DELEGATION_CHECK_INTERVAL_DEFAULT : LAB_DELEGATION_CHECK_INTERVAL),
        "boreal:zones": [member.zone],
        // A cooperative's zone holds its customers' names: a web site and mail, here on the node.
        "boreal:records": { [member.zone]: labRecords(m.address) },
        "boreal:ssh": { host: m.address, port: 22, user: m.sshUser ?? "root", hostKey: m.hostKey },
      },
    };
    const stackFile = stackFileOf(projectOf(i), labStackName(m.name));
    mkdirSync(dirname(stackFile), { recursive: true });
    writeFileSync(stackFile, `# Generated by boreal lab up.\n${stringify(config)}`);
  }
  // lab down removes the stacks of the one project it knows; members' own projects are theirs.
  if (typeof project === "string") state.projectDir = project;
  saveState(labDir, state);
  const missing = state.machines
    .map((m, i) => ({ stack: labStackName(m.name), dir: projectOf(i) }))
    .filter(({ stack, dir }) => !setSecretKey(dir, stack, state.sshKey, options.env))
    .map(({ stack }) => stack);
  log(
    `wrote ${join(labDir, "members")}/<member>/{registry,signing_key} and the stack files Pulumi.lab-node*.yaml ` +
      `(trust ${trust.slice(0, 14)}…; SSH key as a secret, passphrase: $PULUMI_CONFIG_PASSPHRASE or "${LAB_PASSPHRASE}")`,
  );
  for (const stack of missing) {
    log(
      `could not store the SSH key in stack ${stack} (is the Pulumi CLI installed? npm run toolchain); do it with:\n` +
        `  npx pulumi config set -s ${stack} --secret --path boreal:ssh.privateKey < ${state.sshKey}`,
    );
  }
  return { members, missing, trust };
}

/** The machines are gone, so their stacks' state means nothing: forget both. */
function removeLabStacks(state: LabState): void {
  // A project removed since (a test's workspace) took its stack files and state with it.
  if (!existsSync(join(state.projectDir!, "Pulumi.yaml"))) return;
  for (const m of state.machines) {
    runPulumi(state.projectDir!, ["stack", "rm", "--force", "--yes", labStackName(m.name)], labPulumiEnv());
    rmSync(stackFileOf(state.projectDir!, labStackName(m.name)), { force: true });
  }
}

/** Where Pulumi reads a stack's settings in a project: its Pulumi.yaml's stackConfigDir, else beside it. */
export function stackFileOf(projectDir: string, stack: string): string {
  const configDir = /^stackConfigDir:\s*(\S+)/m.exec(readFileSync(join(projectDir, "Pulumi.yaml"), "utf8"))?.[1] ?? ".";
  return join(projectDir, configDir, `Pulumi.${stack}.yaml`);
}

function setSecretKey(projectDir: string, stack: string, keyPath: string, cliEnv?: NodeJS.ProcessEnv): boolean {
  ensureFileBackend(projectDir);
  const env = labPulumiEnv(cliEnv);
  return (
    runPulumi(projectDir, ["stack", "select", "--create", stack], env).status === 0 &&
    runPulumi(projectDir, ["config", "set", "-s", stack, "--secret", "--path", "boreal:ssh.privateKey"], env, readFileSync(keyPath, "utf8"))
      .status === 0
  );
}

/** Pulumi refuses a file:// backend whose directory does not exist yet: make it. */
export function ensureFileBackend(projectDir: string): void {
  const project = readFileSync(join(projectDir, "Pulumi.yaml"), "utf8");
  const url = /^\s+url:\s*file:\/\/(\S+)/m.exec(project)?.[1];
  if (!url) return;
  const path = url.startsWith("~/") ? join(homedir(), url.slice(2)) : url;
  mkdirSync(path, { recursive: true });
}
