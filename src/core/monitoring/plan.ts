// What a node watches: every node of the federation (itself included) and every member
// zone, from the same registry the mesh comes from, so the targets follow joins, rotations
// and departures by themselves. Pure.
//
// Every target is derived from a verified descriptor, never copied from a field that could
// point elsewhere: the exporters are scraped at each node's mesh IPv4 address and the kit's
// exporter port (src/core/node/render.ts scrapeTargets), not at the descriptor's `exporter`;
// pings go to the mesh addresses; DNS probes to the endpoint's host. A peer whose endpoint
// or mesh addresses no federation could allow (loopback, link-local, multicast, the mesh as
// an endpoint, localhost, ...: watchProblem) is not watched at all; the registry's
// verification refuses such descriptors before they get here.
import { isIP } from "../values/ip";
import type { AlertsSpec } from "./alerts";
import { escapeShort } from "../values/escape";
import { parseEndpoint } from "../values/fields";
import type { MeshAddresses } from "../mesh/allocate";
import { addressScope, endpointProblem } from "../values/scope";
import { ALERTMANAGER_PORT, BLACKBOX_PORT, PROMETHEUS_PORT } from "../values/ports";

/** The blackbox exporter answers only this node's Prometheus: loopback, never the mesh. */
export const BLACKBOX_LISTEN = { address: "127.0.0.1", port: BLACKBOX_PORT } as const;

/**
 * Retention: two weeks covers "what happened last weekend" and a week of serial or
 * signature trends; the size cap bounds the disk of a small VPS whatever the federation's size.
 */
export const RETENTION = { time: "15d", size: "1GB" } as const;

/**
 * What a node's Prometheus asks of every node's exporter (N observers × N nodes): the
 * collectors the alerts and `boreal status` read, the kit's textfile metrics and the
 * filesystems, because the scrape is paid N² times (bench/NOTES.md has the measurement).
 * Each node's own exporter is read in full by its own Prometheus only (job boreal-host).
 */
export const WATCHED_COLLECTORS = ["textfile", "filesystem"] as const;

export interface WatchedNode {
  node: string;
  member: string;
  mesh: MeshAddresses;
  /** host:port where the world asks this node for DNS (its underlay address, as in its NS glue). */
  dnsTarget: string;
  self: boolean;
}

export interface WatchedZone {
  name: string;
  member: string;
  /** The node that is the zone's primary. */
  primary: string;
}

export interface MonitoringPlan {
  prometheus: { address: string; port: number };
  alertmanager: { address: string; port: number };
  blackbox: { address: string; port: number };
  retention: { time: string; size: string };
  /** The exporter collectors asked of every node (WATCHED_COLLECTORS). */
  collectors: string[];
  nodes: WatchedNode[];
  zones: WatchedZone[];
  alerts: AlertsSpec;
}

interface NodeFacts {
  node: string;
  member: string;
  endpoint: string;
  mesh: MeshAddresses;
  zones: string[];
}

/**
 * Why a peer must not be watched, or undefined: its endpoint is not one any federation could
 * allow (private and documentation ranges pass here; the federation's own setting is applied
 * by the registry's verification), or its mesh addresses are not in the mesh's address spaces
 * (100.64.0.0/10 and unique local fc00::/7).
 */
export function watchProblem(n: Pick<NodeFacts, "endpoint" | "mesh">): string | undefined {
  const endpoint = endpointProblem(n.endpoint, ["documentation", "private"]);
  if (endpoint) return endpoint;
  if (addressScope(n.mesh.ipv4)?.scope !== "shared" || addressScope(n.mesh.ipv4)?.family !== 4)
    return `mesh.ipv4 ${escapeShort(n.mesh.ipv4, 60)} is not in the mesh's 100.64.0.0/10`;
  if (addressScope(n.mesh.ipv6)?.range !== "fc00::/7")
    return `mesh.ipv6 ${escapeShort(n.mesh.ipv6, 60)} is not a unique local address (fc00::/7)`;
  return undefined;
}

export function monitoringPlan(self: NodeFacts, others: NodeFacts[], alerts: AlertsSpec): MonitoringPlan {
  const watched = others.filter((n) => watchProblem(n) === undefined);
  const everyNode = [{ ...self, self: true }, ...watched.map((n) => ({ ...n, self: false }))].sort((a, b) => a.node.localeCompare(b.node));
  return {
    prometheus: { address: self.mesh.ipv4, port: PROMETHEUS_PORT },
    alertmanager: { address: self.mesh.ipv4, port: ALERTMANAGER_PORT },
    blackbox: { ...BLACKBOX_LISTEN },
    retention: { ...RETENTION },
    collectors: [...WATCHED_COLLECTORS],
    nodes: everyNode.map((n) => ({ node: n.node, member: n.member, mesh: n.mesh, dnsTarget: dnsTarget(n.endpoint), self: n.self })),
    zones: everyNode
      .flatMap((n) => n.zones.map((zone) => ({ name: zone, member: n.member, primary: n.node })))
      .sort((a, b) => a.name.localeCompare(b.name)),
    alerts,
  };
}

/** DNS is probed where resolvers ask: the endpoint's host, port 53 (IPv6 in brackets). */
export function dnsTarget(endpoint: string): string {
  const host = parseEndpoint(endpoint)?.host ?? endpoint;
  return isIP(host) === 6 ? `[${host}]:53` : `${host}:53`;
}
