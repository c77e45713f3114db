// The lab's view of DNS from outside the federation: the parent zone lab.test. (signed by
// the lab, holding each member's delegation as its stack outputs it: NS, glue, DS) and a
// validating resolver that trusts only that zone's key. Both run from the lab image in
// their own namespace on the lab bridge, with no route out: the resolver never asks the
// real root servers. The config text is pure (tested); starting and stopping is not.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inImageScript } from "./image";
import { formatIPv4, parseCidr } from "../core/values/ip";
import { run, startDetached } from "../io/process";
import { createMachineNetwork, LOCAL_COMMAND_MS, nodeNamespace, output, sh, stopProcesses } from "./net";

export const LAB_PARENT_ZONE = "lab.test.";
const DNS_MACHINE = "dns";
export const LAB_DNS_NAMESPACE = nodeNamespace(DNS_MACHINE);

/** Host .1, the parent's name server .2, the resolver .3; machines start at .11. */
export function labDnsAddresses(subnetText: string): { parent: string; resolver: string } {
  const subnet = parseCidr(subnetText);
  return { parent: formatIPv4(subnet.base + 2n), resolver: formatIPv4(subnet.base + 3n) };
}

/** The parent's Knot: one zone, signed with Knot's default policy, keys kept across restarts. */
export function parentKnotConf(address: string, base = "/mnt/parent"): string {
  return [
    "server:",
    `    rundir: "${base}/run"`,
    `    listen: ${address}@53`,
    "database:",
    `    storage: "${base}/db"`,
    "log:",
    "  - target: stderr",
    "    any: info",
    "zone:",
    `  - domain: ${LAB_PARENT_ZONE}`,
    `    file: "${base}/lab.test.zone"`,
    "    zonefile-sync: -1",
    "    zonefile-load: difference-no-serial",
    "    journal-content: all",
    "    serial-policy: unixtime",
    "    dnssec-signing: on",
    "",
  ].join("\n");
}

/** The parent zone: its own SOA and NS, then every member's delegation records. */
export function parentZoneFile(address: string, delegations: string[]): string {
  return [
    `$ORIGIN ${LAB_PARENT_ZONE}`,
    "$TTL 60",
    "@ SOA ns hostmaster 1 60 30 86400 60",
    "@ NS ns",
    `ns A ${address}`,
    ...delegations,
    "",
  ].join("\n");
}

/**
 * Unbound: validating, trusting only the parent's KSK (the lab's trust anchor), asking the
 * parent directly for lab.test. and following its delegations to the members' nodes.
 * Short cache times: the tests change records and power nodes off.
 */
export function resolverConf(
  address: string,
  subnetText: string,
  parentAddress: string,
  trustAnchor: string,
  base = "/mnt/resolver",
): string {
  return [
    "server:",
    `    interface: ${address}`,
    `    access-control: ${subnetText} allow`,
    "    do-daemonize: no",
    '    username: ""',
    '    chroot: ""',
    `    directory: "${base}"`,
    '    pidfile: ""',
    "    use-syslog: no",
    "    verbosity: 1",
    "    do-ip6: no",
    '    module-config: "validator iterator"',
    `    trust-anchor: "${trustAnchor}"`,
    // RFC 6761's test. is answered by unbound itself (NXDOMAIN) unless told: the lab lives there.
    '    local-zone: "test." nodefault',
    "    val-log-level: 2",
    "    cache-max-ttl: 30",
    "    cache-max-negative-ttl: 5",
    "    infra-host-ttl: 10",
    "stub-zone:",
    `    name: "${LAB_PARENT_ZONE}"`,
    `    stub-addr: ${parentAddress}`,
    "",
  ].join("\n");
}

/** kdig's answer carries the AD flag: the resolver validated it. */
export function authenticated(kdigOutput: string): boolean {
  return /Flags:[^;]*\bad\b/.test(kdigOutput);
}

export interface LabDnsState {
  parent: { address: string; pid: number };
  resolver: { address: string; pid: number };
}

/**
 * One daemon from the lab image, in the DNS namespace, dir on its /mnt: the returned pid is
 * the daemon's own (SIGTERM stops it cleanly); the image itself is never written.
 */
function startDaemon(name: string, image: string, dir: string, command: string): number {
  return startDetached("ip", ["netns", "exec", LAB_DNS_NAMESPACE, "unshare", "--mount", "sh", "-c", inImageScript(image, dir), command], {
    log: join(dir, `${name}.log`),
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    inheritEnv: false,
    purpose: `starting the lab's ${name}`,
  });
}

/** kdig's answer (its stdout whatever its status; "" when it could not run): +time=2 +retry=0 ends it within seconds. */
function dig(server: string, args: string[]): string {
  return output("kdig", [`@${server}`, "+time=2", "+retry=0", ...args]);
}

async function until<T>(what: string, seconds: number, probe: () => T | undefined, logFile: string): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${seconds}s. Look closer: cat ${logFile}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * (Re)starts the parent with these delegations and a fresh resolver (an empty cache). The
 * parent's keys live in dir across restarts, so the trust anchor stays the same.
 */
export async function startLabDns(options: {
  dir: string;
  image: string;
  subnet: string;
  delegations: string[];
  previous?: LabDnsState;
}): Promise<LabDnsState> {
  const { parent, resolver } = labDnsAddresses(options.subnet);
  if (options.previous) stopLabDns(options.previous);
  const parentDir = join(options.dir, "parent");
  // A pid file left by a killed knotd would make the next one refuse to start.
  rmSync(join(parentDir, "run"), { recursive: true, force: true });
  mkdirSync(join(parentDir, "run"), { recursive: true });
  mkdirSync(join(parentDir, "db"), { recursive: true });
  mkdirSync(join(options.dir, "resolver"), { recursive: true });
  writeFileSync(join(parentDir, "knot.conf"), parentKnotConf(parent));
  writeFileSync(join(parentDir, "lab.test.zone"), parentZoneFile(parent, options.delegations));
  const parentPid = startDaemon("parent", options.image, options.dir, "exec /usr/sbin/knotd -c /mnt/parent/knot.conf");
  let resolverPid: number | undefined;
  try {
    const anchor = await until(
      `the lab's parent zone ${LAB_PARENT_ZONE} was not served signed at ${parent}`,
      30,
      () => {
        const ksk = dig(parent, ["+short", LAB_PARENT_ZONE, "DNSKEY"])
          .split("\n")
          .find((line) => line.startsWith("257 "));
        return ksk ? `${LAB_PARENT_ZONE} DNSKEY ${ksk.trim()}` : undefined;
      },
      join(options.dir, "parent.log"),
    );
    writeFileSync(join(options.dir, "resolver", "unbound.conf"), resolverConf(resolver, options.subnet, parent, anchor));
    rmSync(join(options.dir, "resolver.log"), { force: true });
    resolverPid = startDaemon("resolver", options.image, options.dir, "exec /usr/sbin/unbound -d -c /mnt/resolver/unbound.conf");
    // The parent's own SOA, validated: the resolver is up and holds the anchor.
    const validated = () => (authenticated(dig(resolver, ["+dnssec", LAB_PARENT_ZONE, "SOA"])) ? true : undefined);
    await until(`the lab's resolver at ${resolver} did not validate ${LAB_PARENT_ZONE}`, 30, validated, join(options.dir, "resolver.log"));
    return { parent: { address: parent, pid: parentPid }, resolver: { address: resolver, pid: resolverPid } };
  } catch (error) {
    // Nothing half-started stays behind.
    stopProcesses(resolverPid === undefined ? [parentPid] : [resolverPid, parentPid]);
    throw error;
  }
}

export function stopLabDns(state: LabDnsState): void {
  stopProcesses([state.resolver.pid, state.parent.pid]);
}

/** Whatever runs in the DNS namespace (ours alone): what `lab down` stops, even after a crash. */
export function labDnsProcesses(): number[] {
  try {
    const result = run("ip", ["netns", "pids", LAB_DNS_NAMESPACE], { timeoutMs: LOCAL_COMMAND_MS, allowFailure: true });
    return result.status === 0 ? result.stdout.split("\n").filter(Boolean).map(Number) : [];
  } catch {
    return []; // no ip: no namespace either
  }
}

/** The namespace the parent and the resolver listen in, on the lab bridge. */
export function createLabDnsNetwork(subnetText: string): void {
  const { parent, resolver } = labDnsAddresses(subnetText);
  const subnet = parseCidr(subnetText);
  createMachineNetwork(DNS_MACHINE, parent, subnet);
  sh("ip", ["-n", LAB_DNS_NAMESPACE, "addr", "add", `${resolver}/${subnet.bits}`, "dev", "eth0"]);
}
