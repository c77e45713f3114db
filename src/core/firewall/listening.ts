// Look before closing: what already listens on the server's underlay, and which of it the
// kit's strict policy would cut. Reads the text of `ss -H -lntup` and `ip -o addr show` as
// the server printed it (templates/run/server-check.sh.hbs). Pure.
import type { ConfigProblem } from "../values/problems";
import { isIP, parseAddress } from "../values/ip";
import { BLACKBOX_PORT, parsePortSpec, PortRange, Protocol, rangesOverlap } from "../values/ports";
import type { FirewallPlan } from "./plan";

export interface Listener {
  protocol: Protocol;
  /** As bound: "0.0.0.0", "::", "*" (every address of both families), or one address. */
  address: string;
  /** The interface the socket is bound to (`%eth0` in ss's words), if any. */
  device?: string;
  port: number;
  /** Who holds the socket; none for a kernel socket (WireGuard's, NFS). */
  processes: { name: string; pid: number }[];
}

export interface InterfaceAddress {
  iface: string;
  family: 4 | 6;
  address: string;
}

const SS_LINE = /^(tcp|udp)\s+\S+\s+\d+\s+\d+\s+(\S+):(\d+|\*)\s+\S+(?:\s+users:\((.*)\))?\s*$/;

/** The listeners in `ss -H -lntup` output; lines it cannot read are left out (ss adds netids of its own, e.g. for raw sockets). */
export function parseListeners(text: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of text.split("\n")) {
    const m = SS_LINE.exec(line.trim());
    if (!m || m[3] === "*") continue;
    const [, protocol, local, port, users] = m;
    const at = local.lastIndexOf("%");
    const bound = at < 0 ? local : local.slice(0, at);
    const processes = [...(users ?? "").matchAll(/\("((?:[^"\\]|\\.)*)",pid=(\d+)/g)].map((p) => ({ name: p[1], pid: Number(p[2]) }));
    listeners.push({
      protocol: protocol as Protocol,
      address: bound.replace(/^\[(.*)\]$/, "$1"),
      ...(at < 0 ? {} : { device: local.slice(at + 1) }),
      port: Number(port),
      processes,
    });
  }
  return listeners;
}

/** The addresses in `ip -o addr show` output, by interface. */
export function parseInterfaceAddresses(text: string): InterfaceAddress[] {
  const addresses: InterfaceAddress[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^\s@:]+)\S*\s+inet(6?)\s+([0-9a-fA-F.:]+)\//.exec(line);
    if (m) addresses.push({ iface: m[1], family: m[2] === "6" ? 6 : 4, address: m[3].toLowerCase() });
  }
  return addresses;
}

function isLoopback(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const v4 = mapped ? mapped[1] : address;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  return isIP(address) === 6 && parseAddress(address, 6) === 1n;
}

function sameAddress(a: string, b: string): boolean {
  const family = isIP(a);
  return family !== 0 && family === isIP(b) && parseAddress(a, family) === parseAddress(b, family);
}

/**
 * Listeners reachable from the underlay: bound to every address or to one that is not the
 * loopback's or the mesh's (`meshInterface`). An address no interface holds (a socket bound
 * ahead of its address) counts: it will face the underlay.
 */
export function underlayListeners(listeners: Listener[], addresses: InterfaceAddress[], meshInterface: string): Listener[] {
  const inside = (iface: string) => iface === "lo" || iface === meshInterface;
  return listeners.filter((l) => {
    if (l.device !== undefined && inside(l.device)) return false;
    if (["*", "0.0.0.0", "::"].includes(l.address)) return true;
    if (isLoopback(l.address)) return false;
    const holder = addresses.find((a) => sameAddress(a.address, l.address));
    return holder === undefined || !inside(holder.iface);
  });
}

/** What the check step printed, by section (templates/run/server-check.sh.hbs). */
export interface ServerLook {
  /** The SSH user can run commands as root: it is root, or `sudo -n` works. */
  root: boolean;
  /** What sudo said when it refused. */
  sudoSaid: string;
  listening: string;
  addresses: string;
  /** /etc/knot/knot.conf is the kit's (carries its mark) or Debian's, serving no zone: a knotd on port 53 is the kit's to configure. */
  knotIsKits: boolean;
  /** The server's own name, when the server cannot resolve it. */
  unresolvedHostname?: string;
}

/** Splits the check's output into its sections ("boreal-check: <name>" lines start each). */
export function parseServerLook(stdout: string): ServerLook {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split("\n")) {
    const head = /^boreal-check: (\S+)$/.exec(line);
    if (head) sections.set(head[1], (current = []));
    else current?.push(line);
  }
  const text = (name: string) => (sections.get(name) ?? []).join("\n").trim();
  return {
    root: sections.has("root"),
    sudoSaid: text("no-sudo"),
    listening: text("listening"),
    addresses: text("addresses"),
    knotIsKits: sections.has("knot-is-kits"),
    ...(sections.has("unresolved-hostname") ? { unresolvedHostname: text("unresolved-hostname") } : {}),
  };
}

/**
 * What the look found that slows the up without stopping it: a server that cannot resolve
 * its own name makes every sudo wait for the resolver (an image without the /etc/hosts that
 * Debian's installer or cloud-init writes).
 */
export function lookWarnings(look: ServerLook, user: string): string[] {
  // As root, the kit runs no sudo: nothing of its own waits.
  if (look.unresolvedHostname === undefined || user === "root") return [];
  const name = look.unresolvedHostname;
  return [
    `the server cannot resolve its own name ${JSON.stringify(name)}: every sudo of ${user}, so every step of the up, waits for the resolver first (minutes for an up); fix: on the server, add '127.0.1.1 ${name}' to /etc/hosts, as Debian's installer does`,
  ];
}

/** The sudoers line the kit needs for a user other than root (docs/how-to/server-as-it-comes.md says why it is this wide). */
export function sudoersLine(user: string): string {
  return `${user} ALL=(root) NOPASSWD: ALL`;
}

/** The SSH user cannot become root without a password: refused before any change. */
export function sudoProblem(user: string, sudoSaid: string): ConfigProblem {
  return {
    source: "the server",
    key: "boreal:ssh.user",
    message: `${user} cannot run commands as root without a password (sudo -n said: ${sudoSaid.split("\n")[0] || "nothing"}); the kit writes to /etc, installs packages and manages units`,
    // A minimal Debian may have no sudo at all.
    fix: `on the server, as root: ${/not found/.test(sudoSaid) ? "apt-get install sudo && " : ""}echo '${sudoersLine(user)}' > /etc/sudoers.d/boreal && chmod 0440 /etc/sudoers.d/boreal (visudo -cf checks it), or set boreal:ssh.user to root if root may log in`,
  };
}

const KEY = "boreal:firewall";
/** Ports whose traffic the strict policy lets in as replies: a DHCPv4 client's renewals (its first exchange uses a packet socket, which no firewall sees). */
const REPLY_ONLY: readonly PortRange[] = [{ protocol: "udp", first: 68, last: 68 }];

/**
 * Debian's defaults of monitoring packages the kit installs listen on every address: the
 * blackbox exporter, and Alertmanager's cluster port. The kit binds the one to the node
 * itself and turns the other off; neither is the member's service.
 */
const KIT_RECONFIGURED: readonly PortRange[] = [
  { protocol: "tcp", first: BLACKBOX_PORT, last: BLACKBOX_PORT },
  { protocol: "tcp", first: 9094, last: 9094 },
  { protocol: "udp", first: 9094, last: 9094 },
];

export interface ListeningContext {
  firewall: FirewallPlan;
  /** boreal:firewall.closeListening: ports the member agreed to close. */
  closeListening: string[];
  meshInterface: string;
  knotIsKits: boolean;
}

/**
 * A listening service the kit's strict policy would cut and the member has not declared:
 * one problem a port, naming its process and the line that keeps it open (or the one that
 * agrees to close it). A DNS server other than the kit's Knot on port 53 is one whatever the
 * policy: the kit's Knot cannot serve there beside it.
 */
export function listeningProblems(look: Pick<ServerLook, "listening" | "addresses">, context: ListeningContext): ConfigProblem[] {
  const { firewall } = context;
  // In port order, not ss's (which varies between runs): the fixes' indexes stay the same.
  const listeners = underlayListeners(parseListeners(look.listening), parseInterfaceAddresses(look.addresses), context.meshInterface).sort(
    (a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0),
  );
  const asRange = (l: Listener): PortRange => ({ protocol: l.protocol, first: l.port, last: l.port });
  const covered = (l: Listener, ranges: readonly PortRange[]) => ranges.some((r) => rangesOverlap(r, asRange(l)));
  const kitPorts = [
    ...firewall.rules.map((r): PortRange => ({ protocol: r.protocol, first: r.port, last: r.lastPort })),
    ...KIT_RECONFIGURED,
  ];
  const declared = firewall.allow.map((r): PortRange => ({ protocol: r.protocol, first: r.port, last: r.lastPort }));
  const closed = context.closeListening.map((p) => parsePortSpec(p)).filter((r) => r !== undefined);
  const strict = firewall.enabled && firewall.policy === "strict";
  const dns: Listener[] = [];
  const cut: Listener[] = [];
  const seen = new Set<string>();
  for (const l of listeners) {
    const port = `${l.protocol}/${l.port}`;
    if (seen.has(port) || covered(l, REPLY_ONLY)) continue;
    if (l.port === 53) {
      const knot = l.processes.length > 0 && l.processes.every((p) => p.name === "knotd");
      if (!(knot && context.knotIsKits)) dns.push(l);
    } else if (strict && !covered(l, kitPorts) && !covered(l, declared) && !covered(l, closed)) {
      // Not the kit's own (open by its rules, or kept to the mesh), not declared, not agreed to close.
      cut.push(l);
    } else continue;
    seen.add(port);
  }
  return [
    ...dns.map((l) => ({
      source: "the server",
      key: `port ${l.protocol}/53`,
      message: `${describeProcesses(l)} already listens on ${l.protocol}/53 (${where(l)}), the port the kit's Knot serves the member's zones on`,
      fix: "stop and disable it (systemctl disable --now <its unit>), or bind it to loopback only (a local resolver may stay on 127.0.0.1); then run pulumi up again",
    })),
    ...cut.map((l, i) => {
      const port = `${l.protocol}/${l.port}`;
      return {
        source: "the server",
        key: `${KEY}.allow`,
        message: `${describeProcesses(l)} listens on ${port} (${where(l)}); the kit's firewall would close it to the underlay`,
        fix: `keep it open: pulumi config set --path '${KEY}.allow[${firewall.allow.length + i}]' ${port} (add "from" to limit who may connect), or close it anyway: pulumi config set --path '${KEY}.closeListening[${context.closeListening.length + i}]' ${port}`,
      };
    }),
  ];
}

function describeProcesses(l: Listener): string {
  if (l.processes.length === 0) return "a kernel socket (no process)";
  const names = [...new Set(l.processes.map((p) => p.name))];
  const pids = [...new Set(l.processes.map((p) => p.pid))].slice(0, 3);
  return `${names.map((n) => JSON.stringify(n)).join(", ")} (pid ${pids.join(", ")})`;
}

function where(l: Listener): string {
  const address =
    l.address === "*"
      ? "every address"
      : l.address === "0.0.0.0" || l.address === "::"
        ? `every IPv${l.address === "::" ? 6 : 4} address`
        : l.address;
  return l.device === undefined ? address : `${address} on ${l.device}`;
}

/**
 * What the server check's output says: what is wrong (the up's refusal, and the preview's:
 * src/program/components/check.ts, src/program/preview-look.ts), and what slows the up without stopping it (a warning at both).
 */
export function judgeLook(
  stdout: string,
  args: { user: string; firewall: FirewallPlan; closeListening: string[]; meshInterface: string },
): { problems: ConfigProblem[]; slowdowns: string[] } {
  const look = parseServerLook(stdout);
  const problems = look.root
    ? listeningProblems(look, {
        firewall: args.firewall,
        closeListening: args.closeListening,
        meshInterface: args.meshInterface,
        knotIsKits: look.knotIsKits,
      })
    : [sudoProblem(args.user, look.sudoSaid)];
  return { problems, slowdowns: lookWarnings(look, args.user) };
}
