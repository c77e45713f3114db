// Lab networking: one namespace holding a bridge, one namespace per machine, veths between,
// and a veth from the host so the host (and only the host) reaches the lab subnet.
import { readFileSync } from "node:fs";
import { cidrsOverlap, formatIPv4, parseCidr, Cidr } from "../core/values/ip";
import { run, RunOptions, sleepSync } from "../io/process";

export const LAB_NS = "boreal-lab";
export const BRIDGE = "br-boreal";
export const HOST_VETH = "boreal-host";

/** A local command that changes or asks the kernel's state (ip, kill, umount): it answers at once. */
export const LOCAL_COMMAND_MS = 30_000;

/** A command's stdout; throws ProcessError (what ran, how it ended, its last words) unless it exits 0. */
export function sh(cmd: string, args: string[], options: RunOptions = {}): string {
  return run(cmd, args, { timeoutMs: LOCAL_COMMAND_MS, ...options }).stdout;
}

/** Running, not a zombie: a child not yet reaped (its parent busy in a sync wait) is dead too. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** SIGTERM (systemd-nspawn powers a machine off cleanly, a daemon shuts down); SIGKILL after graceMs (15 s). */
export function stopProcesses(pids: number[], graceMs = 15_000): void {
  for (const pid of pids) quiet("kill", ["-TERM", String(pid)]);
  const deadline = Date.now() + graceMs;
  while (pids.some(pidAlive) && Date.now() < deadline) sleepSync(200);
  for (const pid of pids.filter(pidAlive)) quiet("kill", ["-KILL", String(pid)]);
}

/** Whether a command exits 0; its output is dropped, and one that is not installed is false. */
export function quiet(cmd: string, args: string[]): boolean {
  try {
    return run(cmd, args, { timeoutMs: LOCAL_COMMAND_MS, allowFailure: true }).status === 0;
  } catch {
    return false;
  }
}

/** A query's stdout whatever its exit status, "" when it could not run: for best-effort scans (lab down after a crash). */
export function output(cmd: string, args: string[]): string {
  try {
    return run(cmd, args, { timeoutMs: LOCAL_COMMAND_MS, allowFailure: true }).stdout;
  } catch {
    return "";
  }
}

export function nodeNamespace(machine: string): string {
  return `boreal-${machine}`;
}

/** Host .1, machine i (from 1) at .(10 + i): room for the documented lab sizes. */
export function labAddresses(subnetText: string, count: number): { subnet: Cidr; host: string; machines: string[] } {
  const subnet = parseCidr(subnetText);
  if (subnet.family !== 4 || subnet.bits > 24) throw new Error(`--subnet must be an IPv4 prefix of /24 or larger, got ${subnetText}`);
  if (count < 1 || count > 200) throw new Error(`--nodes must be between 1 and 200, got ${count}`);
  return {
    subnet,
    host: formatIPv4(subnet.base + 1n),
    machines: Array.from({ length: count }, (_, i) => formatIPv4(subnet.base + 11n + BigInt(i))),
  };
}

/**
 * The lab's IPv6 underlay beside its IPv4 one, in the documentation prefix: the host at ::1,
 * each machine at the hextet that reads as its IPv4 address's last number (.11 → ::11).
 */
export const LAB_PREFIX6 = "2001:db8:b0ea::/64";

export function labAddress6(ipv4: string): string {
  return `${LAB_PREFIX6.split("::")[0]}::${ipv4.split(".")[3]}`;
}

/** Refuse a subnet that overlaps anything this host already routes (its uplink above all). */
export function checkSubnetFree(subnet: Cidr): void {
  const routes = JSON.parse(sh("ip", ["-j", `-${subnet.family}`, "route", "show", "table", "all"])) as { dst: string; dev?: string }[];
  for (const route of routes) {
    if (route.dev === HOST_VETH || !route.dst || route.dst === "default") continue;
    const dst = route.dst.includes("/") ? route.dst : `${route.dst}/${subnet.family === 4 ? 32 : 128}`;
    let cidr: Cidr;
    try {
      cidr = parseCidr(dst);
    } catch {
      continue;
    }
    if (cidrsOverlap(cidr, subnet)) {
      throw new Error(
        `lab ${subnet.family === 4 ? "subnet" : "IPv6 prefix"} ${subnet.text} overlaps the host route ${dst}${route.dev ? ` (dev ${route.dev})` : ""}` +
          (subnet.family === 4 ? ": choose another with --subnet, e.g. 198.51.100.0/24" : ""),
      );
    }
  }
}

export function createLabNetwork(subnet: Cidr, hostAddress: string, hostAddress6: string): void {
  sh("ip", ["netns", "add", LAB_NS]);
  sh("ip", ["-n", LAB_NS, "link", "add", BRIDGE, "type", "bridge"]);
  sh("ip", ["-n", LAB_NS, "link", "set", BRIDGE, "up"]);
  sh("ip", ["-n", LAB_NS, "link", "set", "lo", "up"]);
  sh("ip", ["link", "add", HOST_VETH, "type", "veth", "peer", "name", "uplink", "netns", LAB_NS]);
  sh("ip", ["-n", LAB_NS, "link", "set", "uplink", "master", BRIDGE, "up"]);
  sh("ip", ["addr", "add", `${hostAddress}/${subnet.bits}`, "dev", HOST_VETH]);
  // nodad: the address is usable at once, not after duplicate detection's second.
  sh("ip", ["-6", "addr", "add", `${hostAddress6}/${parseCidr(LAB_PREFIX6).bits}`, "dev", HOST_VETH, "nodad"]);
  sh("ip", ["link", "set", HOST_VETH, "up"]);
}

/** A container's port on the lab bridge: the host side of its eth0's veth (IFNAMSIZ: 15 characters). */
export function vethPortName(machine: string): string {
  return `v-${machine}`.slice(0, 15);
}

/** The machine's eth0 on the lab bridge: its IPv4 address, and its IPv6 one unless it is IPv4-only. */
export function createMachineNetwork(machine: string, address: string, subnet: Cidr, address6?: string): void {
  const ns = nodeNamespace(machine);
  const bridgePort = vethPortName(machine);
  sh("ip", ["netns", "add", ns]);
  sh("ip", ["-n", LAB_NS, "link", "add", bridgePort, "type", "veth", "peer", "name", "eth0", "netns", ns]);
  sh("ip", ["-n", LAB_NS, "link", "set", bridgePort, "master", BRIDGE, "up"]);
  sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  sh("ip", ["-n", ns, "addr", "add", `${address}/${subnet.bits}`, "dev", "eth0"]);
  if (address6 !== undefined)
    sh("ip", ["-n", ns, "-6", "addr", "add", `${address6}/${parseCidr(LAB_PREFIX6).bits}`, "dev", "eth0", "nodad"]);
  sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  // No default route and no NAT: a lab machine reaches the lab subnet and nothing else.
}

export function labNamespaces(): string[] {
  return sh("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n === LAB_NS || n.startsWith("boreal-"));
}

export function removeLabNetwork(): void {
  for (const ns of labNamespaces()) quiet("ip", ["netns", "delete", ns]);
  quiet("ip", ["link", "delete", HOST_VETH]);
}
