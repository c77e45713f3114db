// What a node watches: every node of the federation (itself included) and every member
// zone, from the same registry the mesh comes from, so the targets follow joins, rotations
// and departures by themselves. Pure.
import { isIP } from "node:net";
import type { AlertsSpec } from "../config/alerts";
import { parseEndpoint } from "../config/fields";
import type { MeshAddresses } from "./allocate";

export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
/** The blackbox exporter answers only this node's Prometheus: loopback, never the mesh. */
export const BLACKBOX_LISTEN = { address: "127.0.0.1", port: 9115 } as const;

/**
 * Retention: two weeks covers "what happened last weekend" and a week of serial or
 * signature trends; the size cap bounds the disk of a small VPS whatever the federation's size.
 */
export const RETENTION = { time: "15d", size: "1GB" } as const;

/**
 * What a node's Prometheus asks of every node's exporter (N observers × N nodes, every 15 s):
 * the collectors the alerts and `boreal status` read, the kit's textfile metrics (WireGuard,
 * zones, the agent) and the filesystems. All the exporter's collectors cost a scrape 3–4×
 * the CPU and 5× the samples (N = 10 lab). Each node's own exporter is read in full by its
 * own Prometheus only (job boreal-host).
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

export function monitoringPlan(self: NodeFacts, others: NodeFacts[], alerts: AlertsSpec): MonitoringPlan {
  const everyNode = [{ ...self, self: true }, ...others.map((n) => ({ ...n, self: false }))].sort((a, b) => a.node.localeCompare(b.node));
  return {
    prometheus: { address: self.mesh.ipv4, port: PROMETHEUS_PORT },
    alertmanager: { address: self.mesh.ipv4, port: ALERTMANAGER_PORT },
    blackbox: { ...BLACKBOX_LISTEN },
    retention: { ...RETENTION },
    collectors: [...WATCHED_COLLECTORS],
    nodes: everyNode.map((n) => ({ node: n.node, member: n.member, mesh: n.mesh, dnsTarget: dnsTarget(n.endpoint), self: n.self })),
    zones: everyNode.flatMap((n) => n.zones.map((zone) => ({ name: zone, member: n.member, primary: n.node }))).sort((a, b) => a.name.localeCompare(b.name)),
    alerts,
  };
}

/** DNS is probed where resolvers ask: the endpoint's host, port 53 (IPv6 in brackets). */
export function dnsTarget(endpoint: string): string {
  const host = parseEndpoint(endpoint)?.host ?? endpoint;
  return isIP(host) === 6 ? `[${host}]:53` : `${host}:53`;
}
