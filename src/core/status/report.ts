// `boreal status`, pure: from what one node's Prometheus answers to the federation's health,
// one row per node. The queries are here too, so the command and its tests ask the same.
// Node, member and zone names reach Prometheus's labels from the registry: the table escapes
// every one of them (src/core/values/escape.ts), so a name cannot forge a row or drive a terminal.
import { escapeShort, escapeText } from "../values/escape";

/** One sample of an instant vector, as Prometheus's query API gives it. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** PromQL for each input of the report; `{self}` is the asked node's name. */
export const STATUS_QUERIES = {
  exporters: 'up{job="boreal-node"}',
  pings: 'probe_success{job="boreal-icmp"}',
  handshakes: 'wireguard_peer_handshake_age_seconds{job="boreal-node",node="{self}"}',
  zonesAnswered: 'probe_success{job="boreal-dns"}',
  zoneSerials: 'probe_dns_serial{job="boreal-dns"}',
  alerts: 'ALERTS{alertstate="firing"}',
  // The map's: every node's handshakes as its own exporter reports them (the whole matrix),
  // the asked node's ping round trips, and each node's last sync run.
  handshakeMatrix: 'wireguard_peer_handshake_age_seconds{job="boreal-node"}',
  pingTimes: 'probe_icmp_duration_seconds{job="boreal-icmp",phase="rtt"}',
  syncAge: 'time() - boreal_sync_last_run_timestamp_seconds{job="boreal-node"}',
  syncSuccess: 'boreal_sync_success{job="boreal-node"}',
} as const;

type MapQuery = "handshakeMatrix" | "pingTimes" | "syncAge" | "syncSuccess";
/** Each query's samples; the map's may be absent (then the map says "no data"). */
export type StatusAnswers = Record<Exclude<keyof typeof STATUS_QUERIES, MapQuery>, Sample[]> & Partial<Record<MapQuery, Sample[]>>;

/** A node's label, as `boreal label verify` judges it from a registry clone. */
export interface NodeLabel {
  holds: boolean;
  since?: string;
  until?: string;
  summary: string;
}

/** The labels of the federation's nodes, or why they were not judged. */
export type LabelStates =
  { judged: true; at: string; federation: string; version: number; nodes: Record<string, NodeLabel> } | { judged: false; why: string };

export interface NodeStatus {
  node: string;
  member: string;
  /** Its exporter answers the asked node's Prometheus over the mesh. */
  reachable: boolean;
  /** Mesh IPv4 and IPv6 answer ping from the asked node (undefined for the asked node itself). */
  ping?: { ipv4?: boolean; ipv6?: boolean };
  /** Seconds since the asked node's last handshake with it; null: never; undefined: the asked node itself. */
  handshakeAge?: number | null;
  /** Of the zones the asked node's Prometheus asks of this node (its member's, this node's own), how many it answers, and with the newest serial. */
  zones: { total: number; answered: number; currentSerial: number };
  /** Firing alerts about this node. */
  alerts: string[];
  /** Its sync agent's last run: how long ago, and whether it reached the registry; undefined: no data. */
  sync?: { ageSeconds: number; succeeded: boolean };
  /** Its label; undefined when labels were not judged. */
  label?: NodeLabel;
}

/** One pair of the mesh, as the `from` node's exporter reports it. */
export interface MeshLink {
  /** Seconds since `from`'s last handshake with `to`; null: never. */
  handshakeAge: number | null;
  /** Ping round trips in ms, measured by the asked node only (its own blackbox exporter). */
  pingMs?: { ipv4?: number; ipv6?: number };
}

/** A zone's SOA serial at one node, as the asked node's probe saw it. */
export interface ZoneAnswer {
  answered: boolean;
  serial?: number;
  /** The newest serial any node answers. */
  current: boolean;
}

export interface FederationStatus {
  askedNode: string;
  nodes: NodeStatus[];
  /** from → to → the link; a node whose exporter is down has no row. */
  mesh: Record<string, Record<string, MeshLink>>;
  /** zone → node → its answer (only the pairs the asked node probes). */
  zones: Record<string, Record<string, ZoneAnswer>>;
  labels: LabelStates;
  /** Firing alerts about no single node (serials of a zone that disagree). */
  otherAlerts: string[];
  healthy: boolean;
}

const NOT_JUDGED: LabelStates = { judged: false, why: "no registry was given to judge the labels from" };

export function federationStatus(askedNode: string, answers: StatusAnswers, labels: LabelStates = NOT_JUDGED): FederationStatus {
  const names = new Map<string, string>();
  for (const s of [...answers.exporters, ...answers.zonesAnswered]) if (s.metric.node) names.set(s.metric.node, s.metric.member ?? "");
  const newest = new Map<string, number>();
  const answered = (s: Sample) =>
    answers.zonesAnswered.some((a) => a.metric.instance === s.metric.instance && a.metric.zone === s.metric.zone && a.value === 1);
  for (const s of answers.zoneSerials) if (answered(s)) newest.set(s.metric.zone, Math.max(newest.get(s.metric.zone) ?? 0, s.value));

  const nodes = [...names.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, member]): NodeStatus => {
      const pings = answers.pings.filter((s) => s.metric.node === node);
      const handshake = answers.handshakes.find((s) => s.metric.peer === node);
      const zoneProbes = answers.zonesAnswered.filter((s) => s.metric.node === node);
      const serials = answers.zoneSerials.filter((s) => s.metric.node === node && answered(s));
      return {
        node,
        member,
        reachable: answers.exporters.some((s) => s.metric.node === node && s.value === 1),
        ping: node === askedNode ? undefined : Object.fromEntries(pings.map((s) => [s.metric.family, s.value === 1])),
        handshakeAge: node === askedNode ? undefined : handshake === undefined || handshake.value < 0 ? null : handshake.value,
        zones: {
          total: zoneProbes.length,
          answered: zoneProbes.filter((s) => s.value === 1).length,
          currentSerial: serials.filter((s) => s.value === newest.get(s.metric.zone)).length,
        },
        alerts: [...new Set(answers.alerts.filter((a) => a.metric.node === node).map(alertText))].sort(),
        sync: syncOf(answers, node),
        label: labels.judged ? labels.nodes[node] : undefined,
      };
    });
  const otherAlerts = [...new Set(answers.alerts.filter((a) => !a.metric.node || !names.has(a.metric.node)).map(alertText))].sort();
  const healthy =
    otherAlerts.length === 0 &&
    nodes.every(
      (n) =>
        n.reachable &&
        n.alerts.length === 0 &&
        n.zones.answered === n.zones.total &&
        n.zones.currentSerial === n.zones.total &&
        Object.values(n.ping ?? {}).every(Boolean),
    );
  return { askedNode, nodes, mesh: meshOf(askedNode, answers), zones: zonesOf(answers, answered, newest), labels, otherAlerts, healthy };
}

function syncOf(answers: StatusAnswers, node: string): NodeStatus["sync"] {
  const age = answers.syncAge?.find((s) => s.metric.node === node);
  if (!age) return undefined;
  return { ageSeconds: age.value, succeeded: answers.syncSuccess?.some((s) => s.metric.node === node && s.value === 1) ?? false };
}

function meshOf(askedNode: string, answers: StatusAnswers): FederationStatus["mesh"] {
  const mesh: FederationStatus["mesh"] = {};
  for (const s of answers.handshakeMatrix ?? []) {
    const { node: from, peer: to } = s.metric;
    if (!from || !to) continue;
    (mesh[from] ??= {})[to] = { handshakeAge: s.value < 0 ? null : s.value };
  }
  for (const s of answers.pingTimes ?? []) {
    const { node: to, family } = s.metric;
    const link = mesh[askedNode]?.[to];
    if (link && (family === "ipv4" || family === "ipv6")) link.pingMs = { ...link.pingMs, [family]: s.value * 1000 };
  }
  return mesh;
}

function zonesOf(answers: StatusAnswers, answered: (s: Sample) => boolean, newest: Map<string, number>): FederationStatus["zones"] {
  const zones: FederationStatus["zones"] = {};
  for (const probe of answers.zonesAnswered) {
    const { zone, node } = probe.metric;
    if (!zone || !node) continue;
    const serial = answers.zoneSerials.find((s) => s.metric.instance === probe.metric.instance && s.metric.zone === zone && answered(s));
    (zones[zone] ??= {})[node] = {
      answered: probe.value === 1,
      ...(serial ? { serial: serial.value } : {}),
      current: serial !== undefined && serial.value === newest.get(zone),
    };
  }
  return zones;
}

function alertText(sample: Sample): string {
  const about = ["zone", "peer", "mountpoint", "family"].filter((k) => sample.metric[k]).map((k) => `${k}=${sample.metric[k]}`);
  return about.length > 0 ? `${sample.metric.alertname}(${about.join(",")})` : sample.metric.alertname;
}

/** "42s", "12m", "3h", "2d": an age as people read it at a glance. */
export function ageText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** The table `boreal status` prints. */
export function formatStatus(status: FederationStatus): string {
  const yesNo = (ok: boolean | undefined) => (ok === undefined ? "-" : ok ? "ok" : "FAIL");
  const rows = status.nodes.map((n) => [
    n.node === status.askedNode ? `${escapeText(n.node)} (asked)` : escapeText(n.node),
    escapeText(n.member),
    n.reachable ? "up" : "DOWN",
    n.ping === undefined ? "-" : `v4 ${yesNo(n.ping.ipv4)} v6 ${yesNo(n.ping.ipv6)}`,
    n.handshakeAge === undefined ? "-" : n.handshakeAge === null ? "never" : `${Math.round(n.handshakeAge)}s`,
    `${n.zones.answered}/${n.zones.total} answered, ${n.zones.currentSerial}/${n.zones.total} current`,
    n.sync ? `${n.sync.succeeded ? "ok" : "FAILED"} ${ageText(n.sync.ageSeconds)} ago` : "-",
    !n.label ? "-" : n.label.holds ? `held until ${n.label.until?.slice(0, 16)}Z` : "NOT HELD",
    n.alerts.map((alert) => escapeShort(alert)).join(" ") || "-",
  ]);
  const table = [["NODE", "MEMBER", "EXPORTER", "PING (MESH)", "HANDSHAKE", "ZONES", "LAST SYNC", "LABEL", "FIRING ALERTS"], ...rows];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
  if (status.otherAlerts.length > 0)
    lines.push("", `firing, about no single node: ${status.otherAlerts.map((alert) => escapeShort(alert)).join(" ")}`);
  const asked = escapeText(status.askedNode);
  lines.push("", status.healthy ? `federation healthy, as ${asked} sees it` : `federation NOT healthy, as ${asked} sees it`);
  return `${lines.join("\n")}\n`;
}
