// The delegation model: which name servers each member gives its registrar, and what a
// parent zone should hold for each zone. Pure; docs/dns-delegation.md tells it in words.
//
// - Each node has one name server name, owned by its own member: `ns-<node>.<one of its own
//   zones>` with its glue in that zone (and at that zone's registrar only), or the host name
//   of its endpoint (no glue anywhere). A node's address change touches its own member's
//   registrar only.
// - A member's zones are delegated to the member's own nodes plus OTHER_MEMBERS_TARGET nodes
//   of other members, spread one per member first. The set is recorded in the node's signed
//   descriptor and kept from one `pulumi up` to the next: a join changes nobody's
//   delegation. Only a set left with fewer than OTHER_MEMBERS_MINIMUM others (a founder's,
//   whose peers did not exist yet, or after departures) makes the kit pick more, and then the
//   member gives its registrar the new set; a departed name server is dropped at once.
import { createHash } from "node:crypto";
import { DsRecord, formatDs } from "./ds";
import { parseEndpoint } from "../values/fields";
import { isIP } from "../values/ip";
import { descriptorEndpoints } from "../mesh/endpoints";

/** Name servers of other members each member's delegation aims for. */
export const OTHER_MEMBERS_TARGET = 3;
/** Fewer than this many at the parent, and a member's zones fail when the member is down. */
export const OTHER_MEMBERS_MINIMUM = 2;
/** Registrars take up to 13 name servers; most parents answer more badly beyond. */
export const MAX_NAME_SERVERS = 13;

/** What the model needs of a node: a descriptor, or this node's own plan before it is published. */
export interface NodeForDelegation {
  node: string;
  member: string;
  endpoint: string;
  /** A dual-stack node's IPv4 and IPv6 endpoints (its name server gets both A and AAAA). */
  endpoints?: readonly string[];
  zones: string[];
  nameServer?: string;
  delegation?: { nameServers: string[]; since: string };
}

export interface Glue {
  type: "A" | "AAAA";
  address: string;
}

export interface DelegationNameServer {
  /** Fully qualified, lower case. */
  name: string;
  node: string;
  member: string;
  /** The node's underlay address(es), as its glue says when the name lies in the zone. */
  addresses: Glue[];
  /** Glue the parent must hold: only when the name lies inside the delegated zone. */
  glue: Glue[];
}

export interface Delegation {
  zone: string;
  nameServers: DelegationNameServer[];
  /** SHA-256 DS records of the zone's key-signing keys. */
  ds: DsRecord[];
}

const within = (name: string, zone: string) => name === zone || name.endsWith(`.${zone}`);

function endpointHost(endpoint: string): string {
  return (parseEndpoint(endpoint)?.host ?? endpoint).toLowerCase();
}

/** The node's underlay addresses as glue (A, then AAAA), from those of its endpoints that are IP literals. */
export function endpointGlue(node: Pick<NodeForDelegation, "endpoint" | "endpoints">): Glue[] {
  return descriptorEndpoints(node)
    .map(endpointHost)
    .flatMap((host): Glue[] => {
      const family = isIP(host);
      return family === 0 ? [] : [{ type: family === 4 ? "A" : "AAAA", address: host }];
    })
    .sort((a, b) => a.type.localeCompare(b.type));
}

/**
 * The node's name server name: its endpoint's host name, else `ns-<node>.<zone>` in the zone
 * it named before if it still has it (a name other members' delegations list must not move),
 * else in its first zone. Undefined for a node with an IP endpoint and no zone.
 */
export function nameServerOf(node: Pick<NodeForDelegation, "node" | "endpoint" | "zones" | "nameServer">): string | undefined {
  const host = endpointHost(node.endpoint);
  if (isIP(host) === 0) return host.endsWith(".") ? host : `${host}.`;
  if (node.nameServer !== undefined && validNameServer(node)) return node.nameServer;
  return node.zones.length > 0 ? `ns-${node.node}.${node.zones[0]}` : undefined;
}

/** A descriptor's nameServer is the node's own: ns-<node> in one of its zones, or its endpoint's host name. */
export function validNameServer(node: Pick<NodeForDelegation, "node" | "endpoint" | "zones" | "nameServer">): boolean {
  if (node.nameServer === undefined) return true;
  const host = endpointHost(node.endpoint);
  if (isIP(host) === 0) return node.nameServer === (host.endsWith(".") ? host : `${host}.`);
  return node.zones.some((zone) => node.nameServer === `ns-${node.node}.${zone}`);
}

/** Rendezvous score: the same member always ranks the same candidates the same way. */
function score(member: string, candidate: string): string {
  return createHash("sha256").update(`${member}\n${candidate}`).digest("hex");
}

/**
 * The node names a zone of `owner` is delegated to: the member's own nodes, then the other
 * members' recorded in its descriptor that are still there. A first choice, or a set left
 * with fewer than OTHER_MEMBERS_MINIMUM of them (a founder's, or after departures), is
 * topped up to OTHER_MEMBERS_TARGET (one per member before a second from any); a set with
 * enough is kept as it is, so joins never change it. At most MAX_NAME_SERVERS.
 */
export function chooseDelegation(owner: NodeForDelegation, nodes: readonly NodeForDelegation[]): string[] {
  const candidates = new Map(
    [owner, ...nodes.filter((n) => n.node !== owner.node)].filter((n) => nameServerOf(n) !== undefined).map((n) => [n.node, n]),
  );
  const own = [...candidates.values()]
    .filter((n) => n.member === owner.member)
    .map((n) => n.node)
    .sort((a, b) => (a === owner.node ? -1 : b === owner.node ? 1 : a.localeCompare(b)));
  const others: string[] = (owner.delegation?.nameServers ?? []).filter((name) => {
    const n = candidates.get(name);
    return n !== undefined && n.member !== owner.member;
  });
  const ranked = [...candidates.values()]
    .filter((n) => n.member !== owner.member && !others.includes(n.node))
    .sort((a, b) => score(owner.member, a.node).localeCompare(score(owner.member, b.node)));
  const membersIn = () => new Set(others.map((name) => candidates.get(name)!.member));
  const topUp = owner.delegation === undefined || others.length < OTHER_MEMBERS_MINIMUM;
  for (const onePerMember of topUp ? [true, false] : []) {
    for (const n of ranked) {
      if (others.length >= OTHER_MEMBERS_TARGET) break;
      if (others.includes(n.node) || (onePerMember && membersIn().has(n.member))) continue;
      others.push(n.node);
    }
  }
  return [...new Set([...own, ...others])].slice(0, MAX_NAME_SERVERS);
}

/** The name servers of a zone of `owner`, with their addresses and the glue the parent needs. */
export function zoneNameServers(zone: string, owner: NodeForDelegation, nodes: readonly NodeForDelegation[]): DelegationNameServer[] {
  const byName = new Map([owner, ...nodes.filter((n) => n.node !== owner.node)].map((n) => [n.node, n]));
  return chooseDelegation(owner, nodes).map((node) => {
    const n = byName.get(node)!;
    const name = nameServerOf(n)!;
    const addresses = endpointGlue(n);
    return { name, node, member: n.member, addresses, glue: within(name, zone) ? addresses : [] };
  });
}

/** How many of these name servers belong to other members than `member`. */
export function otherMembersCount(nameServers: readonly { member: string }[], member: string): number {
  return nameServers.filter((ns) => ns.member !== member).length;
}

/** The delegation of one zone, with the DS records of its KSKs (dsForZone, or `keymgr ZONE ds`). */
export function delegation(zone: string, nameServers: DelegationNameServer[], ds: DsRecord[]): Delegation {
  return { zone, nameServers, ds: ds.filter((d) => d.owner === zone && d.digestType === 2) };
}

/** The delegation as records, what the registrar's form asks for (and what a parent zone holds). */
export function delegationRecords(d: Delegation): string[] {
  return [
    ...d.nameServers.map((ns) => `${d.zone} NS ${ns.name}`),
    ...d.nameServers.flatMap((ns) => ns.glue.map((g) => `${ns.name} ${g.type} ${g.address}`)),
    ...d.ds.map(formatDs),
  ];
}

/** The descriptor's record of the set: `since` moves only when the set does. */
export function recordDelegation(
  nameServers: string[],
  existing: Pick<NodeForDelegation, "delegation"> | undefined,
  now: string,
): { nameServers: string[]; since: string } {
  const before = existing?.delegation;
  const same = before !== undefined && JSON.stringify(before.nameServers) === JSON.stringify(nameServers);
  return { nameServers, since: same ? before.since : now };
}

/** A zone's delegation as the stack outputs it: what to give the registrar, since when, and what is still missing. */
export interface RegistrarView {
  nameServers: { name: string; node: string; member: string; glue: Glue[] }[];
  /** DS records in presentation form. */
  ds: string[];
  /** The whole delegation as a parent zone holds it. */
  records: string[];
  /** When the NS set last changed: the registrar must hold this set since then. */
  since: string;
  /** Present while the set has too few name servers of other members: what to do about it. */
  note?: string;
}

export function registrarView(d: Delegation, member: string, since: string): RegistrarView {
  const others = otherMembersCount(d.nameServers, member);
  return {
    nameServers: d.nameServers.map((ns) => ({ name: ns.name, node: ns.node, member: ns.member, glue: ns.glue })),
    ds: d.ds.map(formatDs),
    records: delegationRecords(d),
    since,
    ...(others < OTHER_MEMBERS_MINIMUM
      ? {
          note:
            `only ${others} name server(s) of other members (the kit aims for ${OTHER_MEMBERS_TARGET}, at least ${OTHER_MEMBERS_MINIMUM}): ` +
            `${d.zone} fails whenever member ${member}'s own nodes are down. Once other members have joined, pull the registry, ` +
            `run pulumi up again and give the registrar the new set (the node's BorealDelegationDrift alert and boreal dns check --parent say when)`,
        }
      : {}),
  };
}
