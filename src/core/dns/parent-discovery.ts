// The node's watch of its zones' parents, as pure steps: which resolvers the system names
// (/etc/resolv.conf), which zone is the parent (from a resolver's answer), the parent
// zone's servers, whether a parent server's answers can be judged, the KSKs the node's own
// Knot serves, what the parent should hold, and the run's metrics. src/agent/delegation.ts
// asks the questions; src/core/dns/parent.ts compares the parent's delegation with the
// federation's.
import { isIP } from "../values/ip";
import { parseEndpoint } from "../values/fields";
import { escapeShort } from "../values/escape";
import { DelegationNameServer, NodeForDelegation } from "./delegation";
import { dnskeyOf, parseRrsig, verifyRrset } from "./dnssec";
import { Dnskey, REVOKED, SEP } from "./ds";
import { DnsMessage, nameText, rcodeName, readName, WireRecord } from "./message";
import { addressOf, ExpectedDelegation, knownNameServers } from "./parent";
import { nameWithin, RECORD_TYPES } from "./zonefile";

/** Where a question goes: an address and a port. */
export interface DnsServer {
  host: string;
  port: number;
}

/** glibc reads at most this many `nameserver` lines (MAXNS); so does the watch. */
export const MAX_RESOLVERS = 3;

/** With no `nameserver` line, glibc asks the local host. */
export const DEFAULT_RESOLVER = "127.0.0.1";

/**
 * The resolvers /etc/resolv.conf names, in its order: the address of each `nameserver`
 * line (comments after `#` or `;`), at most MAX_RESOLVERS, port 53. An address with a zone
 * (`fe80::1%eth0`) or that is no IP address is skipped, as glibc skips what it cannot read;
 * none at all is the local host.
 */
export function parseResolvConf(text: string): DnsServer[] {
  const hosts: string[] = [];
  for (const raw of text.split("\n")) {
    const [keyword, address] = raw
      .replace(/[#;].*$/, "")
      .trim()
      .split(/\s+/);
    if (keyword !== "nameserver" || address === undefined || isIP(address) === 0 || hosts.includes(address)) continue;
    hosts.push(address);
  }
  const listed = hosts.length > 0 ? hosts.slice(0, MAX_RESOLVERS) : [DEFAULT_RESOLVER];
  return listed.map((host) => ({ host, port: 53 }));
}

/** How a server is named in a log line: `192.0.2.1`, `[2001:db8::1]` (port 53 left out). */
export function serverText(server: DnsServer): string {
  const host = isIP(server.host) === 6 ? `[${server.host}]` : server.host;
  return server.port === 53 ? host : `${host}:${server.port}`;
}

/** Why a resolver's answer says nothing (SERVFAIL, REFUSED…), or undefined when it answered (NOERROR, NXDOMAIN). */
export function resolverAnswerProblem(message: DnsMessage): string | undefined {
  return message.rcode === 0 || message.rcode === 3 ? undefined : `answered ${rcodeName(message.rcode)}`;
}

/** A proper ancestor of the zone: what a parent must be (a resolver that asked the child may name the zone itself). */
const above = (zone: string, candidate: string | undefined): string | undefined =>
  candidate !== undefined && candidate !== zone && nameWithin(zone, candidate) ? candidate : undefined;

/**
 * The parent zone from a resolver's answer to `ZONE DS`: the signer of the DS set's RRSIG
 * (the parent signs the DS), or, for an answer without a DS (NODATA, NXDOMAIN), the owner of
 * the SOA its authority section carries. Undefined when neither names a zone above `zone`
 * (an unsigned parent's DS; a resolver that strips the authority section).
 */
export function parentFromDsAnswer(zone: string, message: DnsMessage): string | undefined {
  for (const r of message.answer) {
    if (r.type !== RECORD_TYPES.RRSIG || r.owner !== zone) continue;
    try {
      const rrsig = parseRrsig(r);
      if (rrsig.typeCovered === RECORD_TYPES.DS && above(zone, rrsig.signer)) return rrsig.signer;
    } catch {
      // A signature too short to read names no signer.
    }
  }
  return above(zone, soaOwner(message.authority));
}

/**
 * The zone `name` lies in, from a resolver's answer to `NAME SOA`: `name` itself when it
 * answers its SOA (an apex), else the owner of the SOA in the authority section. The
 * fallback when the DS answer names no parent: asked for the zone's parent name.
 */
export function enclosingZone(name: string, message: DnsMessage): string | undefined {
  if (message.answer.some((r) => r.type === RECORD_TYPES.SOA && r.owner === name)) return name;
  const owner = soaOwner(message.authority);
  return owner !== undefined && nameWithin(name, owner) ? owner : undefined;
}

const soaOwner = (records: WireRecord[]): string | undefined => records.find((r) => r.type === RECORD_TYPES.SOA)?.owner;

/** The name server names of `zone` in a resolver's answer to `ZONE NS`, sorted. */
export function nameServersIn(zone: string, message: DnsMessage): string[] {
  const names = message.answer
    .filter((r) => r.owner === zone && r.type === RECORD_TYPES.NS)
    .map((r) => nameText(readName(r.canonical, 0).labels));
  return [...new Set(names)].sort();
}

/** The addresses in a resolver's answer to `NAME A` or `NAME AAAA` (after any CNAME it followed). */
export function addressesIn(message: DnsMessage): string[] {
  return message.answer.flatMap((r) => addressOf(r) ?? []);
}

/**
 * Why a parent server's answers to `ZONE NS` and `ZONE DS` cannot be judged, or undefined.
 * The DS must come with AA (the parent zone is the server's: RFC 4035 3.1.4.1); the NS
 * answer must be a referral for the zone (its NS in the authority section), an answer of a
 * server that also serves the child (AA), or say with AA that the parent holds no such
 * delegation (then every name server is missing: real drift).
 */
export function parentAnswerProblem(zone: string, ns: DnsMessage, ds: DnsMessage): string | undefined {
  for (const [what, message] of [
    ["NS", ns],
    ["DS", ds],
  ] as const) {
    if (message.rcode !== 0 && message.rcode !== 3) return `answered ${zone} ${what} with ${rcodeName(message.rcode)}`;
  }
  if (!ds.authoritative) return `is not authoritative for the parent zone (no AA in its answer to ${zone} DS)`;
  const referral = ns.authority.some((r) => r.owner === zone && r.type === RECORD_TYPES.NS);
  if (!referral && !ns.authoritative) return `gave neither a referral nor an authoritative answer to ${zone} NS`;
  return undefined;
}

/**
 * The key-signing keys the zone is signed with, from the node's own Knot's answer to
 * `ZONE DNSKEY`: keys with the SEP flag, not revoked, whose signature over the DNSKEY set
 * verifies at `now` (what the parent's DS must match, as `boreal dns check` judges it).
 */
export function servedKsks(zone: string, message: DnsMessage, now: Date): { ksks: Dnskey[] } | { error: string } {
  if (message.rcode !== 0) return { error: `answered ${rcodeName(message.rcode)}` };
  const records = message.answer.filter((r) => r.owner === zone && r.type === RECORD_TYPES.DNSKEY);
  if (records.length === 0) return { error: "no DNSKEY in its answer (is the zone signed and loaded?)" };
  let keys: Dnskey[];
  try {
    keys = records.map(dnskeyOf);
  } catch (error) {
    return { error: (error as Error).message };
  }
  const signatures = message.answer.filter((r) => r.owner === zone && r.type === RECORD_TYPES.RRSIG);
  const { signers } = verifyRrset(zone, records, signatures, keys, now);
  const ksks = keys.filter((k) => k.flags & SEP && !(k.flags & REVOKED) && signers.includes(k));
  return ksks.length > 0 ? { ksks } : { error: "no key-signing key's signature over the DNSKEY set verifies" };
}

/**
 * Where the node's own Knot answers for its zones: the node's DNS target (its endpoint's
 * host, port 53, src/core/monitoring/plan.ts dnsTarget), the address resolvers ask. A host
 * name there would need a resolver to find: Knot listens on every address, so loopback.
 */
export function ownKnotServer(dnsTarget: string): DnsServer {
  const target = parseEndpoint(dnsTarget);
  if (target === undefined || isIP(target.host) === 0) return { host: "127.0.0.1", port: target?.port ?? 53 };
  return { host: target.host, port: target.port };
}

/**
 * What the parent should hold for one of the node's zones: the zone's name servers as the
 * plan gives them, every live node's name server name (a name none of them has is lame),
 * and the KSKs its Knot serves (undefined: the DS is not compared this time).
 */
export function expectedDelegation(
  zone: { name: string; nameServers: DelegationNameServer[] },
  member: string,
  nodes: readonly NodeForDelegation[],
  ksks: Dnskey[] | undefined,
): ExpectedDelegation {
  const known = knownNameServers(nodes);
  // This node's own name, as the plan has it (its descriptor may not carry it yet).
  for (const ns of zone.nameServers) known.set(ns.name, { node: ns.node, member: ns.member });
  return { zone: zone.name, member, nameServers: zone.nameServers, known, ...(ksks !== undefined ? { ksks } : {}) };
}

/** A parent server as found: its name and the addresses the resolver gave for it. */
export interface ParentServer {
  name: string;
  addresses: string[];
}

/** What one parent server said of the zone: its drift lines, or why it could not be judged. */
export type ParentServerCheck = { server: string; problems: string[] } | { server: string; error: string };

/** One zone's check: whether any parent server answered, and the drift lines of those that did. */
export interface ZoneDelegationCheck {
  zone: string;
  /** At least one of the parent zone's servers answered in a way that could be judged. */
  answered: boolean;
  /** Every difference, once, in the order found; "(at …)" names the servers when not all that answered said it. */
  problems: string[];
  /** Lines for the journal that are no drift: the parent not found, a server that did not answer, the KSKs unknown. */
  notes: string[];
}

/**
 * The zone's verdict from what each parent server said: its differences, each once (a
 * difference only some servers show, a change on its way, names them), none when no server
 * answered (not drift: the node could not ask).
 */
export function zoneVerdict(zone: string, checks: ParentServerCheck[], notes: string[] = []): ZoneDelegationCheck {
  const answered = checks.filter((c): c is Extract<ParentServerCheck, { problems: string[] }> => "problems" in c);
  const failed = checks.filter((c): c is Extract<ParentServerCheck, { error: string }> => "error" in c);
  const lines = [...notes, ...failed.map((c) => `parent server ${c.server} ${c.error}`)];
  if (answered.length === 0) {
    const why = checks.length === 0 ? "no parent server to ask" : "no parent server answered";
    return { zone, answered: false, problems: [], notes: [...lines, `the parent's delegation is not checked this time (${why})`] };
  }
  const problems: string[] = [];
  const said = new Map<string, string[]>();
  for (const check of answered)
    for (const line of check.problems) {
      if (!said.has(line)) problems.push(line);
      said.set(line, [...(said.get(line) ?? []), check.server]);
    }
  return {
    zone,
    answered: true,
    problems: problems.map((line) => (said.get(line)!.length === answered.length ? line : `${line} (at ${said.get(line)!.join(", ")})`)),
    notes: lines,
  };
}

/** A label value in Prometheus's text format: backslash, quote and newline escaped. */
export function promLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The run as node-exporter textfile metrics: what BorealDelegationDrift reads. */
export function delegationMetrics(checks: ZoneDelegationCheck[], at: number): string {
  const zone = (c: ZoneDelegationCheck) => `{zone="${promLabel(c.zone)}"}`;
  return `${[
    "# HELP boreal_delegation_problems Differences between the parent's delegation of the zone and what the federation serves (0 when the parent was not answered).",
    "# TYPE boreal_delegation_problems gauge",
    ...checks.map((c) => `boreal_delegation_problems${zone(c)} ${c.problems.length}`),
    "# HELP boreal_delegation_parent_answered Whether a server of the zone's parent answered the last check (0: nothing compared, no drift counted).",
    "# TYPE boreal_delegation_parent_answered gauge",
    ...checks.map((c) => `boreal_delegation_parent_answered${zone(c)} ${c.answered ? 1 : 0}`),
    "# HELP boreal_delegation_checked_timestamp_seconds When the node last checked the parents' delegations of its zones.",
    "# TYPE boreal_delegation_checked_timestamp_seconds gauge",
    `boreal_delegation_checked_timestamp_seconds ${at}`,
  ].join("\n")}\n`;
}

/** The journal's lines for a zone's check: each difference, then what kept it from being complete, escaped. */
export function delegationLogLines(check: ZoneDelegationCheck): string[] {
  const zone = escapeShort(check.zone, 255);
  return [
    ...check.problems.map((p) => `delegation: ${zone}: ${escapeShort(p, 600)}`),
    ...check.notes.map((n) => `delegation: ${zone}: ${escapeShort(n, 600)}`),
  ];
}
