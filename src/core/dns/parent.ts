// What a parent zone holds for a member zone (its referral's NS and glue, its DS), and how
// that differs from the delegation the federation serves (src/core/dns/delegation.ts). Pure:
// `boreal dns check --parent` and the node's delegation watch hand the answers in.
import { formatIPv4, formatIPv6, isIP, parseIPv4, parseIPv6 } from "../values/ip";
import { DelegationNameServer, Glue, nameServerOf, NodeForDelegation, OTHER_MEMBERS_MINIMUM, zoneNameServers } from "./delegation";
import { Dnskey, dsOf, DsRecord, keyTag, sameDs } from "./ds";
import { DnsMessage, nameText, readName, WireRecord } from "./message";
import { nameWithin, RECORD_TYPES } from "./zonefile";

export interface ParentDelegation {
  /** NS names the parent lists for the zone: lower case, fully qualified, sorted. */
  nameServers: string[];
  /** Addresses the parent gives with its referral for those names. */
  glue: (Glue & { name: string })[];
  ds: DsRecord[];
}

/** What the parent should hold: the federation's set for the zone, and who else is a name server. */
export interface ExpectedDelegation {
  zone: string;
  member: string;
  nameServers: DelegationNameServer[];
  /** Every live node's name server name → node and member: a listed name that is none of them is lame. */
  known: ReadonlyMap<string, { node: string; member: string }>;
  /** The KSKs the zone is signed with, as its nodes serve them; undefined: the DS is not compared here. */
  ksks?: Dnskey[];
}

const rdataName = (r: WireRecord) => nameText(readName(r.canonical, 0).labels);

/** An address in one written form (RFC 5952 for IPv6), so that `2001:DB8:0::1` is `2001:db8::1`. */
function canonicalAddress(text: string): string {
  const family = isIP(text);
  return family === 4 ? formatIPv4(parseIPv4(text)) : family === 6 ? formatIPv6(parseIPv6(text)) : text.toLowerCase();
}

/** Every live node's name server name → the node and its member: a name at the parent that is none of them is lame. */
export function knownNameServers(nodes: readonly NodeForDelegation[]): Map<string, { node: string; member: string }> {
  const known = new Map<string, { node: string; member: string }>();
  for (const n of nodes) {
    const name = nameServerOf(n);
    if (name !== undefined) known.set(name, { node: n.node, member: n.member });
  }
  return known;
}

/**
 * What the parent should hold for `zone` by the registry: the node whose descriptor lists the
 * zone is its owner, its name servers are zoneNameServers over the other live nodes, and
 * every live node's name server is known. Undefined when no node lists the zone.
 */
export function registryDelegation(zone: string, nodes: readonly NodeForDelegation[], ksks?: Dnskey[]): ExpectedDelegation | undefined {
  const owner = nodes.find((n) => n.zones.includes(zone));
  if (owner === undefined) return undefined;
  const others = nodes.filter((n) => n.node !== owner.node);
  const nameServers = zoneNameServers(zone, owner, others);
  const known = knownNameServers(nodes);
  for (const ns of nameServers) known.set(ns.name, { node: ns.node, member: ns.member });
  return { zone, member: owner.member, nameServers, known, ...(ksks !== undefined ? { ksks } : {}) };
}

/** The address an A or AAAA record holds, in its written form; undefined for any other record. */
export function addressOf(r: WireRecord): string | undefined {
  if (r.type === RECORD_TYPES.A && r.rdata.length === 4) return formatIPv4(BigInt(r.rdata.readUInt32BE(0)));
  if (r.type === RECORD_TYPES.AAAA && r.rdata.length === 16) return formatIPv6(BigInt(`0x${r.rdata.toString("hex")}`));
  return undefined;
}

/** The DS records of a parent's answer for the zone. */
export function parentDs(zone: string, message: DnsMessage): DsRecord[] {
  return message.answer
    .filter((r) => r.owner === zone && r.type === RECORD_TYPES.DS && r.rdata.length > 4)
    .map((r) => ({
      owner: zone,
      keyTag: r.rdata.readUInt16BE(0),
      algorithm: r.rdata[2],
      digestType: r.rdata[3],
      digest: r.rdata.subarray(4).toString("hex").toUpperCase(),
    }));
}

/** A DS names this key: by digest for the types computed here (2, 4), else by key tag and algorithm. */
export function dsNamesKey(ds: DsRecord, key: Dnskey): boolean {
  if (ds.digestType === 2 || ds.digestType === 4) return sameDs(ds, dsOf(key, ds.digestType));
  return ds.keyTag === keyTag(key) && ds.algorithm === key.algorithm;
}

/**
 * The parent's delegation of `zone` from its answers to `zone NS` (a referral: NS in the
 * authority section, glue in the additional one; or in the answer, from a server that is also
 * the child's) and to `zone DS`.
 */
export function parentDelegation(zone: string, nsAnswer: DnsMessage, dsAnswer: DnsMessage): ParentDelegation {
  const nsRecords = [...nsAnswer.answer, ...nsAnswer.authority].filter((r) => r.owner === zone && r.type === RECORD_TYPES.NS);
  const nameServers = [...new Set(nsRecords.map(rdataName))].sort();
  const glue = nsAnswer.additional.flatMap((r) => {
    const text = addressOf(r);
    if (text === undefined || !nameServers.includes(r.owner)) return [];
    return [{ name: r.owner, type: r.type === RECORD_TYPES.A ? ("A" as const) : ("AAAA" as const), address: text }];
  });
  return { nameServers, glue, ds: parentDs(zone, dsAnswer) };
}

/**
 * Every way the parent's delegation differs from the federation's, one line each naming the
 * record and the fix: a name server missing, one the zone does not list, one that is no node
 * (lame), glue missing or stale, too few name servers of other members, a DS matching no KSK.
 */
export function delegationProblems(expected: ExpectedDelegation, parent: ParentDelegation): string[] {
  const { zone } = expected;
  const problems: string[] = [];
  const wanted = new Map(expected.nameServers.map((ns) => [ns.name, ns]));
  for (const ns of expected.nameServers) {
    if (!parent.nameServers.includes(ns.name))
      problems.push(`${zone} NS ${ns.name} (node ${ns.node}, member ${ns.member}) is missing at the parent: add it at the registrar`);
  }
  for (const name of parent.nameServers.filter((n) => !wanted.has(n))) {
    const owner = expected.known.get(name);
    problems.push(
      owner
        ? `${zone} NS ${name} at the parent is node ${owner.node}'s (member ${owner.member}), which the zone's set no longer lists: remove it at the registrar`
        : `${zone} NS ${name} at the parent names no node of the federation (one that left, or a typo): it is lame; remove it at the registrar`,
    );
  }
  // Glue is judged only for names inside the zone: it is part of this delegation. Addresses
  // the parent adds for names outside it are other zones' glue (a sibling's, which a parent
  // such as Knot hands out with the referral), not this zone's registrar's to change.
  for (const ns of expected.nameServers.filter((n) => parent.nameServers.includes(n.name) && nameWithin(n.name, zone))) {
    const given = parent.glue.filter((g) => g.name === ns.name).map((g) => ({ ...g, address: canonicalAddress(g.address) }));
    const wantedGlue = ns.glue.map((g) => ({ ...g, address: canonicalAddress(g.address) }));
    if (wantedGlue.length === 0) {
      // A host name endpoint inside the zone: its address is not the registry's to say.
      if (given.length === 0)
        problems.push(
          `glue ${ns.name} is missing at the parent: the name lies inside ${zone}, so resolvers cannot reach node ${ns.node} without it; add its address(es) at the registrar`,
        );
      continue;
    }
    const has = (list: Glue[], g: Glue) => list.some((x) => x.type === g.type && x.address === g.address);
    const missing = wantedGlue.filter((g) => !has(given, g));
    const extra = given.filter((x) => !has(wantedGlue, x));
    for (const g of missing) {
      const stale = extra.filter((x) => x.type === g.type);
      problems.push(
        stale.length > 0
          ? `glue ${ns.name} ${g.type} ${stale.map((x) => x.address).join(", ")} at the parent is stale: node ${ns.node}'s address is ${g.address}; change it at the registrar`
          : `glue ${ns.name} ${g.type} ${g.address} is missing at the parent: add it at the registrar`,
      );
    }
    for (const x of extra.filter((x) => !missing.some((g) => g.type === x.type)))
      problems.push(`glue ${ns.name} ${x.type} ${x.address} at the parent is not node ${ns.node}'s address: remove it at the registrar`);
  }
  const othersAtParent = parent.nameServers.filter((name) => {
    const owner = wanted.get(name) ?? expected.known.get(name);
    return owner !== undefined && owner.member !== expected.member;
  }).length;
  if (othersAtParent < OTHER_MEMBERS_MINIMUM)
    problems.push(
      `only ${othersAtParent} name server(s) of other members at the parent for ${zone} (at least ${OTHER_MEMBERS_MINIMUM}): it fails whenever member ${expected.member}'s own nodes are down`,
    );
  if (expected.ksks !== undefined) {
    const ksks = expected.ksks;
    const tags = ksks.map((k) => `${keyTag(k)}/${k.algorithm}`).join(", ") || "none";
    if (parent.ds.length === 0)
      problems.push(`${zone} has no DS at the parent: resolvers do not validate it; enter the zone's DS at the registrar`);
    else if (!parent.ds.some((d) => ksks.some((k) => dsNamesKey(d, k))))
      problems.push(
        `${zone} DS ${parent.ds.map((d) => `${d.keyTag}/${d.algorithm}`).join(", ")} at the parent matches no KSK the zone is signed with (${tags}): validating resolvers see it as bogus; replace it at the registrar`,
      );
  }
  return problems;
}
