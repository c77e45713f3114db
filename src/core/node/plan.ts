// plan(node, federation) → NodePlan: everything the node needs, computed without I/O.
import { createHash } from "node:crypto";
import type { PlanSpec } from "../spec/stack";
import { Federation, zoneWithin } from "../registry/format";
import { BorealConfigError } from "../values/problems";
import { parseEndpoint } from "../values/fields";
import { allocateMeshAddresses, MeshAddresses } from "../mesh/allocate";
import { isIP, parseCidr } from "../values/ip";
import { descriptorEndpoints, reachableEndpoints } from "../mesh/endpoints";
import { chooseDelegation, DelegationNameServer, nameServerOf, NodeForDelegation, zoneNameServers } from "../dns/delegation";
import { firewallPlan, FirewallPlan } from "../firewall/plan";
import { EXPORTER_PORT } from "../values/ports";
import { MonitoringPlan, monitoringPlan } from "../monitoring/plan";
import { zoneRecordLines } from "../dns/records";

export interface Peer {
  node: string;
  member: string;
  publicKey: string;
  /** Where this node sends to the peer: a family both have, IPv6 first; none when they share none. */
  endpoint?: string;
  /** The peer's other endpoints this node can use, tried in order when no handshake comes (wg-endpoints). */
  fallbackEndpoints: string[];
  mesh: MeshAddresses;
  /** What this peer may send from: exactly its own mesh addresses (no transit). */
  allowedIps: string[];
}

export interface PrimaryZone {
  name: string;
  /** The zone's apex NS set, what the parent should hold (src/core/dns/delegation.ts). */
  nameServers: DelegationNameServer[];
  /** The member's own records (boreal:records, zone files read into it), checked, one line each. */
  records: string[];
}

export interface PeerCatalog {
  node: string;
  /** Catalog zone the peer generates and this node interprets. */
  catalog: string;
  primary: string;
}

export interface NodePlan {
  federation: { name: string; domain: string; meshIpv4: string; meshIpv6: string };
  member: string;
  node: string;
  /** The node's first endpoint (boreal:endpoint, or its list's first). */
  endpoint: string;
  /** Every endpoint of the node: one, or an IPv4 and an IPv6 one. */
  endpoints: string[];
  /** This node's name server name (its zones' SOA MNAME; other members' delegations list it); none without a zone. */
  nameServer?: string;
  /** The node names this node's zones are delegated to, as its descriptor records them. */
  delegation: string[];
  listenPort: number;
  mtu: number;
  persistentKeepalive: number;
  mesh: MeshAddresses;
  /** Prefix lengths for the interface addresses. */
  meshPrefixLengths: { ipv4: number; ipv6: number };
  peers: Peer[];
  dns: {
    catalog: string;
    primaryZones: PrimaryZone[];
    peerCatalogs: PeerCatalog[];
    /** Zones served as secondary today (derived from the registry, informational). */
    secondaryZones: { name: string; primary: string; node: string }[];
  };
  exporter: { address: string; port: number };
  /** Prometheus, probes and Alertmanager: what this node watches and where it alerts. */
  monitoring: MonitoringPlan;
  firewall: FirewallPlan;
  keyEpoch: number;
  /** Seconds between two registry pulls by the node's sync agent. */
  syncInterval: number;
  attestInterval: number;
  /** Seconds from the attest timer's start to the node's first round (firstAttestDelay). */
  attestFirstDelay: number;
  /** Seconds between two checks of the parent's delegation of each of the node's zones. */
  delegationCheckInterval: number;
}

/**
 * Seconds from the attest timer's start (boot, or the up that installs it) to a node's first
 * round of label checks: 30 s, clear of that up's own work, plus an offset within the
 * interval fixed by the node's name. Nodes started together (a lab, a site whose power comes
 * back) then spread their scans of every peer over the interval rather than all scanning
 * all at once; later rounds keep that spacing, each one interval after the last ends.
 */
export function firstAttestDelay(node: string, interval: number): number {
  // A digest, not a simple string hash: names that differ in one digit (node1, node2…) must land far apart.
  return 30 + (createHash("sha256").update(node).digest().readUInt32BE(0) % interval);
}

export function catalogZoneName(node: string, federationDomain: string): string {
  return `${node}.catalog.${federationDomain}`;
}

export function plan(spec: PlanSpec, federation: Federation): NodePlan {
  const { settings } = federation;
  checkZonesClaimable(spec, federation);
  checkEndpointOutsideZones(spec);
  const mesh = allocateMeshAddresses(federation, { node: spec.node, member: spec.member, override: spec.meshAddress });
  const [endpoint] = spec.endpoint;
  const listenPort = spec.listenPort ?? parseEndpoint(endpoint)?.port ?? settings.defaults.listenPort;
  const others = federation.nodes.filter((n) => n.node !== spec.node);

  const peers: Peer[] = others.map((n) => {
    const [best, ...fallbackEndpoints] = reachableEndpoints(spec.endpoint, descriptorEndpoints(n));
    return {
      node: n.node,
      member: n.member,
      publicKey: n.publicKey,
      endpoint: best,
      fallbackEndpoints,
      mesh: n.mesh,
      allowedIps: [`${n.mesh.ipv4}/32`, `${n.mesh.ipv6}/128`],
    };
  });

  // What this node published before (same member): the name server name and delegation set it keeps.
  const published = federation.nodes.find((n) => n.node === spec.node && n.member === spec.member);
  const self: NodeForDelegation = {
    node: spec.node,
    member: spec.member,
    endpoint,
    endpoints: spec.endpoint,
    zones: spec.zones,
    nameServer: published?.nameServer,
    delegation: published?.delegation,
  };
  const nameServer = nameServerOf(self);
  const primaryZones = spec.zones.map((zone) => ({
    name: zone,
    nameServers: zoneNameServers(zone, { ...self, nameServer }, others),
    records: zoneRecordLines(zone, spec),
  }));

  return {
    federation: { name: settings.name, domain: settings.domain, meshIpv4: settings.mesh.ipv4, meshIpv6: settings.mesh.ipv6 },
    member: spec.member,
    node: spec.node,
    endpoint,
    endpoints: spec.endpoint,
    nameServer,
    delegation: nameServer === undefined ? [] : chooseDelegation({ ...self, nameServer }, others),
    listenPort,
    mtu: spec.mtu ?? settings.defaults.mtu,
    persistentKeepalive: settings.defaults.persistentKeepalive,
    mesh,
    meshPrefixLengths: { ipv4: parseCidr(settings.mesh.ipv4).bits, ipv6: parseCidr(settings.mesh.ipv6).bits },
    peers,
    dns: {
      catalog: catalogZoneName(spec.node, settings.domain),
      primaryZones,
      peerCatalogs: others.map((n) => ({ node: n.node, catalog: catalogZoneName(n.node, settings.domain), primary: n.mesh.ipv4 })),
      secondaryZones: others.flatMap((n) => n.zones.map((zone) => ({ name: zone, primary: n.mesh.ipv4, node: n.node }))),
    },
    exporter: { address: mesh.ipv4, port: EXPORTER_PORT },
    monitoring: monitoringPlan({ node: spec.node, member: spec.member, endpoint, mesh, zones: spec.zones }, others, spec.alerts),
    firewall: firewallPlan(spec.firewall, { sshPort: spec.ssh.port, listenPort }),
    keyEpoch: spec.keyEpoch,
    syncInterval: spec.syncInterval,
    attestInterval: spec.attestInterval,
    attestFirstDelay: firstAttestDelay(spec.node, spec.attestInterval),
    delegationCheckInterval: spec.delegationCheckInterval,
  };
}

/** The member's own zones: inside its suffixes in the federation, and on no other node. */
function checkZonesClaimable(spec: PlanSpec, federation: Federation): void {
  const member = federation.settings.members.find((m) => m.name === spec.member);
  const problems = spec.zones.flatMap((zone) => {
    if (member && !member.zones.some((suffix) => zoneWithin(zone, suffix))) {
      return [
        {
          source: "stack config",
          key: "boreal:zones",
          message: `zone ${zone} is outside member ${spec.member}'s zones in federation version ${federation.settings.version} (${member.zones.join(", ")})`,
          fix: "use a zone under the member's suffixes, or have the federation add the suffix (a new federation version)",
        },
      ];
    }
    const owner = federation.nodes.find((n) => n.node !== spec.node && n.zones.includes(zone));
    return owner
      ? [
          {
            source: "stack config",
            key: "boreal:zones",
            message: `zone ${zone} is already served by node ${owner.node} (member ${owner.member})`,
            fix: "a zone has one primary: remove it here, or from the other node first",
          },
        ]
      : [];
  });
  if (problems.length > 0) throw new BorealConfigError(problems);
}

/** A name server named inside the zone it serves needs glue, which a host name cannot give. */
function checkEndpointOutsideZones(spec: PlanSpec): void {
  const host = parseEndpoint(spec.endpoint[0])?.host ?? "";
  if (isIP(host) !== 0) return;
  const fqdn = `${host.toLowerCase().replace(/\.$/, "")}.`;
  const inside = spec.zones.find((zone) => fqdn === zone || fqdn.endsWith(`.${zone}`));
  if (inside) {
    throw new BorealConfigError([
      {
        source: "stack config",
        key: "boreal:endpoint",
        message: `host ${host} lies inside zone ${inside}, so its NS record would need glue that a host name cannot give`,
        fix: "use the server's IP address in boreal:endpoint, or a host name outside the member's zones",
      },
    ]);
  }
}
