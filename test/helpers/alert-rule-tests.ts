// Unit tests of the kit's alert rules in promtool's format: for each alert, series that must
// make it fire (and when), and series that must not. The expected labels and annotations
// come from the rendered rules file itself (its `{{ $labels.x }}` filled in as Prometheus
// does), so a rule's wording can change without this file; so does a `for:` rendered from
// the stack (BorealDelegationDrift's).
import { parse as parseYaml } from "yaml";

interface Rule {
  alert: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

type Labels = Record<string, string>;

const series = (name: string, labels: Labels, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`,
  values,
});

const node = (name: string, job = "boreal-node"): Labels => ({ job, instance: `${name}:9100`, node: name, member: `coop-${name[0]}` });

export function alertRuleTests(rulesText: string): object {
  const rules = (parseYaml(rulesText) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
  const rule = (alert: string) => {
    const found = rules.find((r) => r.alert === alert);
    if (!found) throw new Error(`no alert ${alert} in the rules`);
    return found;
  };
  /** An annotation as Prometheus expands it for an alert with these labels (the rules use `{{ $labels.x }}` only). */
  const expand = (text: string, labels: Labels) => text.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? "");
  /** The alert firing with these labels (besides its own), at evalTime. */
  const fires = (alert: string, evalTime: string, ...labelSets: Labels[]) => ({
    eval_time: evalTime,
    alertname: alert,
    exp_alerts: labelSets.map((labels) => {
      const all = { ...rule(alert).labels, ...labels };
      return {
        exp_labels: all,
        exp_annotations: Object.fromEntries(
          Object.entries(rule(alert).annotations ?? {}).map(([k, v]) => [k, expand(v, { ...all, alertname: alert })]),
        ),
      };
    }),
  });
  /** A rule's `for:` in seconds (the rules write "2m", "900s"). */
  const forSeconds = (alert: string) => {
    const m = /^(\d+)([smh])$/.exec(rule(alert).for ?? "0s");
    if (!m) throw new Error(`${alert}'s for: ${rule(alert).for} is not read here`);
    return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
  };
  // The rules rendered for node b1 (member coop-b): BorealDelegationDrift watches coop-b's zones.
  const drift = forSeconds("BorealDelegationDrift");
  const quiet = (alert: string, evalTime: string) => ({ eval_time: evalTime, alertname: alert, exp_alerts: [] });
  const dnsA: Labels = { job: "boreal-dns", instance: "198.51.100.11:53", node: "a1", zone: "coop-a.example." };
  const dnsB = { ...dnsA, instance: "198.51.100.12:53", node: "b1" };
  const dnsC = { ...dnsA, instance: "198.51.100.13:53", node: "c1" };

  return {
    rule_files: ["boreal-rules.yml"],
    evaluation_interval: "15s",
    tests: [
      {
        // a1's exporter goes silent at 30 s; b1's stays up.
        interval: "15s",
        input_series: [series("up", node("a1"), "1 1 0x20"), series("up", node("b1"), "1x22")],
        alert_rule_test: [quiet("BorealPeerExporterDown", "1m"), fires("BorealPeerExporterDown", "2m", node("a1"))],
      },
      {
        interval: "15s",
        input_series: [
          series("probe_success", { job: "boreal-icmp", instance: "100.64.0.1", node: "a1", family: "ipv6" }, "0x20"),
          series("probe_success", { job: "boreal-icmp", instance: "100.64.0.2", node: "b1", family: "ipv4" }, "1x20"),
        ],
        alert_rule_test: [
          quiet("BorealPeerUnreachable", "30s"),
          fires("BorealPeerUnreachable", "2m", { job: "boreal-icmp", instance: "100.64.0.1", node: "a1", family: "ipv6" }),
        ],
      },
      {
        // b1's handshake with a1 ages past 180 s at 90 s; with c1, none ever; with d1, fresh.
        interval: "15s",
        input_series: [
          series("wireguard_peer_handshake_age_seconds", { ...node("b1"), peer: "a1" }, "100+15x20"),
          series("wireguard_peer_handshake_age_seconds", { ...node("b1"), peer: "c1" }, "-1+0x20"),
          series("wireguard_peer_handshake_age_seconds", { ...node("b1"), peer: "d1" }, "10+0x20"),
        ],
        alert_rule_test: [
          quiet("BorealHandshakeStale", "30s"),
          fires("BorealHandshakeStale", "3m", { ...node("b1"), peer: "a1" }, { ...node("b1"), peer: "c1" }),
        ],
      },
      {
        interval: "15s",
        input_series: [series("probe_success", dnsA, "1 0x20"), series("probe_success", dnsB, "1x20")],
        alert_rule_test: [quiet("BorealZoneNotAnswered", "30s"), fires("BorealZoneNotAnswered", "2m", dnsA)],
      },
      {
        // Serials differ between a1 and b1 for good; c1 is down (its serial 0 must not count).
        interval: "1m",
        input_series: [
          series("probe_dns_serial", dnsA, "5x20"),
          series("probe_dns_serial", dnsB, "6x20"),
          series("probe_success", dnsA, "1x20"),
          series("probe_success", dnsB, "1x20"),
          series("probe_dns_serial", { ...dnsC, zone: "coop-c.example." }, "0x20"),
          series("probe_success", { ...dnsC, zone: "coop-c.example." }, "0x20"),
          series("probe_dns_serial", { ...dnsA, zone: "coop-c.example." }, "9x20"),
          series("probe_success", { ...dnsA, zone: "coop-c.example." }, "1x20"),
        ],
        alert_rule_test: [quiet("BorealZoneSerialsDisagree", "5m"), fires("BorealZoneSerialsDisagree", "12m", { zone: "coop-a.example." })],
      },
      {
        // Signatures expiring in 5 days, and one good for 30.
        interval: "1m",
        input_series: [
          series("boreal_zone_rrsig_expiry_timestamp_seconds", { ...node("a1"), zone: "coop-a.example." }, `${5 * 86400}x20`),
          series("boreal_zone_rrsig_expiry_timestamp_seconds", { ...node("a1"), zone: "coop-b.example." }, `${30 * 86400}x20`),
        ],
        alert_rule_test: [
          quiet("BorealSignaturesExpiring", "2m"),
          fires("BorealSignaturesExpiring", "10m", { ...node("a1"), zone: "coop-a.example." }),
        ],
      },
      {
        // 5% free on a disk, 5% free on a tmpfs (not a disk).
        interval: "1m",
        input_series: [
          series("node_filesystem_avail_bytes", { ...node("a1"), mountpoint: "/", fstype: "ext4" }, "5x30"),
          series("node_filesystem_size_bytes", { ...node("a1"), mountpoint: "/", fstype: "ext4" }, "100x30"),
          series("node_filesystem_avail_bytes", { ...node("a1"), mountpoint: "/run", fstype: "tmpfs" }, "5x30"),
          series("node_filesystem_size_bytes", { ...node("a1"), mountpoint: "/run", fstype: "tmpfs" }, "100x30"),
        ],
        alert_rule_test: [
          quiet("BorealDiskAlmostFull", "10m"),
          fires("BorealDiskAlmostFull", "20m", { ...node("a1"), mountpoint: "/", fstype: "ext4" }),
        ],
      },
      {
        // a1's last success at time 0, a 60 s interval: overdue after 360 s, firing 2 min later. b1 keeps succeeding.
        interval: "1m",
        input_series: [
          series("boreal_sync_last_success_timestamp_seconds", node("a1"), "0x20"),
          series("boreal_sync_interval_seconds", node("a1"), "60x20"),
          series("boreal_sync_last_success_timestamp_seconds", node("b1"), "0+60x20"),
          series("boreal_sync_interval_seconds", node("b1"), "60x20"),
        ],
        alert_rule_test: [quiet("BorealSyncFailing", "6m"), fires("BorealSyncFailing", "10m", node("a1"))],
      },
      {
        // From 2 min on, b1 finds differences at the parent of coop-b.example. (firing once
        // they last the rule's wait), none for b-mail.example.; a1 finds some for coop-a's
        // zone, which is coop-a's to mend: b1's Prometheus (member coop-b) stays quiet on it.
        interval: "1m",
        input_series: [
          series("boreal_delegation_problems", { ...node("b1"), zone: "coop-b.example." }, `0 0 2x${drift / 60 + 20}`),
          series("boreal_delegation_problems", { ...node("b1"), zone: "b-mail.example." }, `0x${drift / 60 + 20}`),
          series("boreal_delegation_problems", { ...node("a1"), zone: "coop-a.example." }, `3x${drift / 60 + 20}`),
        ],
        alert_rule_test: [
          quiet("BorealDelegationDrift", `${120 + drift - 60}s`),
          fires("BorealDelegationDrift", `${120 + drift + 60}s`, { ...node("b1"), zone: "coop-b.example." }),
        ],
      },
      {
        // The parent not answered: no problem counted, never an alert.
        interval: "1m",
        input_series: [
          series("boreal_delegation_problems", { ...node("b1"), zone: "coop-b.example." }, `0x${drift / 60 + 20}`),
          series("boreal_delegation_parent_answered", { ...node("b1"), zone: "coop-b.example." }, `0x${drift / 60 + 20}`),
        ],
        alert_rule_test: [quiet("BorealDelegationDrift", `${drift + 600}s`)],
      },
    ],
  };
}
