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
} as const;

export type StatusAnswers = Record<keyof typeof STATUS_QUERIES, Sample[]>;

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
}

export interface FederationStatus {
  askedNode: string;
  nodes: NodeStatus[];
  /** Firing alerts about no single node (serials of a zone that disagree). */
  otherAlerts: string[];
  healthy: boolean;
}

export function federationStatus(askedNode: string, answers: StatusAnswers): FederationStatus {
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
  return { askedNode, nodes, otherAlerts, healthy };
}

function alertText(sample: Sample): string {
  const about = ["zone", "peer", "mountpoint", "family"].filter((k) => sample.metric[k]).map((k) => `${k}=${sample.metric[k]}`);
  return about.length > 0 ? `${sample.metric.alertname}(${about.join(",")})` : sample.metric.alertname;
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
    n.alerts.map((alert) => escapeShort(alert)).join(" ") || "-",
  ]);
  const table = [["NODE", "MEMBER", "EXPORTER", "PING (MESH)", "HANDSHAKE", "ZONES", "FIRING ALERTS"], ...rows];
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
