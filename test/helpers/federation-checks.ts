// What a federation's servers must do, checked on the lab machines themselves. Shared by
// the lab check (scripts over SSH) and the end-to-end test (real `pulumi up`).
import { expect } from "vitest";
import { labExec, LabMachine, labStart, labStop, LabState } from "../../src/lab/lab";
import { eventually, measureRotationPings, type PingTotals } from "../../src/lab/measure";
import type { StackOutputs } from "../../src/lab/stacks";

export { eventually };

/** A node as the checks see it: its machine and what the kit gave it. */
export interface NodeView {
  machine: LabMachine;
  member: string;
  zone: string;
  mesh: { ipv4: string; ipv6: string };
  publicKey: string;
}

/** A node as its member's `pulumi up` left it: the stack's outputs on its machine. */
export function nodeViewOf(machine: LabMachine, member: string, outputs: StackOutputs): NodeView {
  return {
    machine,
    member,
    zone: outputs.zones[0],
    mesh: { ipv4: outputs.meshIpv4, ipv6: outputs.meshIpv6 },
    publicKey: outputs.publicKey,
  };
}

export const log = (line: string) => process.stderr.write(`[federation] ${line}\n`);

export async function timed<T>(step: string, fn: () => Promise<T> | T): Promise<T> {
  const started = Date.now();
  const result = await fn();
  log(`${step}: ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return result;
}

export class Servers {
  constructor(
    readonly state: LabState,
    readonly dir: string,
  ) {}

  exec(node: NodeView, command: string): { status: number; output: string } {
    return labExec(this.state, node.machine, command, this.dir);
  }

  /** Fails with what was run, what the server said and how to look closer. */
  ok(node: NodeView, command: string): string {
    const result = this.exec(node, command);
    if (result.status !== 0) {
      throw new Error(
        `${node.machine.name}: \`${command}\` exited ${result.status}; the server said:\n${result.output}\nLook closer: npm run lab -- ssh ${node.machine.name}`,
      );
    }
    return result.output;
  }

  soaSerial(server: NodeView, zone: string): string | undefined {
    return this.exec(server, `kdig +short @${server.machine.address} ${zone} SOA`).output.trim().split(/\s+/)[2];
  }

  answersAuthoritatively(server: NodeView, zone: string): boolean {
    return /Flags: qr aa/.test(this.exec(server, `kdig @${server.machine.address} ${zone} SOA +norec +timeout=2`).output);
  }

  scrape(from: NodeView, address: string): { status: number; output: string } {
    return this.exec(
      from,
      `timeout 5 bash -c 'exec 3<>/dev/tcp/${address}/9100; printf "GET /metrics HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n" >&3; cat <&3'`,
    );
  }
}

const others = (nodes: NodeView[], node: NodeView) => nodes.filter((x) => x !== node);

/**
 * Seconds from `since` (ms) until every node has had a handshake with every other's current
 * key, as WireGuard records it (latest-handshakes, in whole seconds: each counts as the end of
 * its second), so the pace of this polling is not in the figure. A pair already meshed before
 * `since` counts as 0: its rekey every two minutes is no join. The lab's machines share the
 * host's clock.
 */
export async function timeToFullMesh(servers: Servers, nodes: NodeView[], since: number, seconds = 180): Promise<number> {
  const handshakesOf = (node: NodeView): Record<string, number> =>
    Object.fromEntries(
      servers
        .ok(node, "wg show wg0 latest-handshakes")
        .trim()
        .split("\n")
        .map((line) => line.split("\t"))
        .map(([key, at]) => [key, Number(at)]),
    );
  const before = new Map(nodes.map((node) => [node, handshakesOf(node)]));
  const latest = new Map<NodeView, Record<string, number>>();
  await eventually("every node has a fresh handshake with every other", seconds, () =>
    nodes.every((node) => {
      const handshakes = handshakesOf(node);
      latest.set(node, handshakes);
      return others(nodes, node).every((peer) => (handshakes[peer.publicKey] ?? 0) > 0);
    }),
  );
  const sinceSeconds = since / 1000;
  const joined = nodes.flatMap((node) =>
    others(nodes, node).map((peer) => {
      const earlier = before.get(node)![peer.publicKey] ?? 0;
      if (earlier > 0 && earlier + 1 <= sinceSeconds) return 0;
      // A new pair's handshake as seen when the mesh was whole (a rekey comes two minutes later).
      const first = earlier > 0 ? earlier : latest.get(node)![peer.publicKey];
      return Math.max(0, first + 1 - sinceSeconds);
    }),
  );
  return Math.max(...joined);
}

/**
 * Seconds from `since` until every node answers every zone with AA and a signature: one
 * command per node asking all the zones, so the measure is not the checks' own pace.
 */
export async function timeToAllZones(servers: Servers, nodes: NodeView[], since: number, seconds = 180): Promise<number> {
  const zones = nodes.map((n) => n.zone);
  await eventually(
    "every node answers every zone",
    seconds,
    () =>
      nodes.every((node) => {
        const script = zones.map((z) => `kdig @${node.machine.address} ${z} SOA +dnssec +norec +timeout=1 +retry=0`).join("; ");
        const out = servers.exec(node, script).output;
        return (out.match(/Flags: qr aa/g) ?? []).length === zones.length && (out.match(/\tRRSIG\t/g) ?? []).length >= zones.length;
      }),
    250,
  );
  return (Date.now() - since) / 1000;
}

/**
 * Seconds from `since` until no node of `rest` has `left` any more: not in WireGuard, its zone
 * not served (the catalog), not probed (Prometheus's targets and the blackbox config).
 */
export async function timeToDropped(servers: Servers, left: NodeView, rest: NodeView[], since: number, seconds = 120): Promise<number> {
  await eventually(
    `every node drops ${left.machine.name}`,
    seconds,
    () =>
      rest.every((node) => {
        const counts = servers.exec(
          node,
          [
            `wg show wg0 peers | grep -c -F '${left.publicKey}'`,
            `kdig @${node.machine.address} ${left.zone} SOA +norec +timeout=1 +retry=0 | grep -c 'Flags: qr aa'`,
            `cat /etc/prometheus/boreal-targets/*.json /etc/prometheus/blackbox.yml | grep -c -e '"${left.machine.name}"' -e '${left.zone}'`,
          ].join("; "),
        ).output;
        return counts.trim().split("\n").join(" ") === "0 0 0";
      }),
    250,
  );
  return (Date.now() - since) / 1000;
}

/** The kit's own units run clean: none failed (its timers' services run every few seconds, idle or not). */
export function expectKitUnitsClean(servers: Servers, nodes: NodeView[]): void {
  for (const node of nodes) {
    const failed = servers.ok(node, "systemctl list-units --failed --plain --no-legend 'boreal-*'").trim();
    expect(failed, `${node.machine.name}'s failed boreal units (journalctl -u <unit> on it says why)`).toBe("");
  }
}

export async function expectMesh(servers: Servers, nodes: NodeView[]): Promise<void> {
  for (const from of nodes) {
    for (const to of others(nodes, from)) {
      await eventually(
        `${from.machine.name} → ${to.machine.name} over ${to.mesh.ipv4}`,
        30,
        () => servers.exec(from, `ping -c 1 -W 2 ${to.mesh.ipv4}`).status === 0,
      );
      await eventually(
        `${from.machine.name} → ${to.machine.name} over ${to.mesh.ipv6}`,
        30,
        () => servers.exec(from, `ping -6 -c 1 -W 2 ${to.mesh.ipv6}`).status === 0,
      );
    }
  }
  for (const node of nodes) {
    const now = Number(servers.ok(node, "date +%s").trim());
    const handshakes = Object.fromEntries(
      servers
        .ok(node, "wg show wg0 latest-handshakes")
        .trim()
        .split("\n")
        .map((l) => l.split("\t")),
    );
    for (const peer of others(nodes, node)) {
      expect(Number(handshakes[peer.publicKey]), `${node.machine.name} has a recent handshake with ${peer.machine.name}`).toBeGreaterThan(
        now - 180,
      );
    }
  }
}

export async function expectDns(servers: Servers, nodes: NodeView[]): Promise<void> {
  for (const zone of nodes.map((n) => n.zone)) {
    for (const server of nodes) {
      const answer = await eventually(`${server.machine.name} answers ${zone} with AA and RRSIG`, 120, () => {
        const out = servers.exec(server, `kdig @${server.machine.address} ${zone} SOA +dnssec +norec +timeout=2`).output;
        return /Flags: qr aa/.test(out) && /RRSIG/.test(out) ? out : false;
      });
      expect(answer).toMatch(/status: NOERROR/);
    }
    // Secondaries follow the primary's NOTIFY: one serial everywhere, after a moment.
    let serials: string[] = [];
    await eventually(`one SOA serial for ${zone} on every node`, 60, () => {
      serials = nodes.map((s) => `${s.machine.name}=${servers.soaSerial(s, zone)}`);
      return new Set(serials.map((x) => x.split("=")[1])).size === 1;
    }).catch((error: Error) => {
      throw new Error(`${error.message}: ${serials.join(" ")}`);
    });
  }
}

export function expectTransfers(servers: Servers, primary: NodeView, asker: NodeView): void {
  const underlay = servers.exec(asker, `kdig @${primary.machine.address} ${primary.zone} AXFR +timeout=3`).output;
  expect(underlay).not.toMatch(/\tSOA\t/);
  expect(underlay).toMatch(/REFUSED|NOTAUTH|failed/);
  const overMesh = servers.ok(asker, `kdig @${primary.mesh.ipv4} ${primary.zone} AXFR +timeout=3`);
  expect(overMesh).toMatch(/\tSOA\t/);
  expect(overMesh).toMatch(/\tRRSIG\t/);
}

export async function expectMonitoring(servers: Servers, nodes: NodeView[]): Promise<void> {
  for (const target of nodes) {
    for (const from of others(nodes, target)) {
      const metrics = await eventually(`${from.machine.name} scrapes ${target.machine.name} over the mesh`, 60, () => {
        const out = servers.scrape(from, target.mesh.ipv4).output;
        return /wireguard_peer_last_handshake_seconds\{.*\} [1-9]/.test(out) ? out : false;
      });
      for (const peer of others(nodes, target)) {
        const line = metrics
          .split("\n")
          .find((l) => l.startsWith("wireguard_peer_last_handshake_seconds{") && l.includes(`peer="${peer.machine.name}"`));
        expect(line, `${target.machine.name}'s handshake metric for ${peer.machine.name}`).toBeDefined();
        expect(line).toContain(`member="${peer.member}"`);
        expect(Number(line!.split(" ").pop())).toBeGreaterThan(0);
      }
    }
    expect(
      servers.scrape(others(nodes, target)[0], target.machine.address).status,
      "the exporter must not answer on the underlay",
    ).not.toBe(0);
  }
}

export function expectFirewall(servers: Servers, target: NodeView, from: NodeView): void {
  const probe = (port: number) =>
    servers.exec(from, `timeout 3 bash -c '</dev/tcp/${target.machine.address}/${port}' 2>&1; echo "exit=$?"`).output;
  expect(probe(22)).toMatch(/exit=0/);
  expect(probe(53)).toMatch(/exit=0/);
  // Dropped, not refused: no RST comes back, so the connect times out (exit 124).
  expect(probe(9100)).toMatch(/exit=124/);
  expect(probe(8080)).toMatch(/exit=124/);
  expect(servers.ok(target, "nft list chain inet boreal input")).toMatch(/policy drop/);
}

/** Every node's WireGuard private key, read on the node, must appear in none of `texts`. */
export function expectNoPrivateKeys(servers: Servers, nodes: NodeView[], texts: Record<string, string>): void {
  for (const node of nodes) {
    const privateKey = servers.exec(node, "cat /etc/wireguard/wg0.key").output.trim();
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    for (const [what, text] of Object.entries(texts))
      expect(text.includes(privateKey), `${node.machine.name}'s private key in ${what}`).toBe(false);
    expect(servers.exec(node, "stat -c %a /etc/wireguard/wg0.key").output.trim()).toBe("600");
    // The attestation key too (the label): its body's second line is unique to the key.
    const attestationKey = servers.exec(node, "sed -n 2p /etc/boreal/attestation_key").output.trim();
    expect(attestationKey).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    for (const [what, text] of Object.entries(texts))
      expect(text.includes(attestationKey), `${node.machine.name}'s attestation key in ${what}`).toBe(false);
    expect(servers.exec(node, "stat -c %a /etc/boreal/attestation_key").output.trim()).toBe("600");
  }
}

/**
 * A key rotation seen by everyone else's pings (src/lab/measure.ts): every other node to the
 * rotated one over mesh IPv4 and IPv6, and between the others. Printed as one line each, and
 * a line for each ping that lost probes, naming them.
 */
export async function measureRotation<R>(
  servers: Servers,
  nodes: NodeView[],
  rotated: NodeView,
  rotate: () => Promise<R> | R,
  settled: (after: R) => Promise<void>,
) {
  const result = await measureRotationPings(
    (node: NodeView, command: string) => servers.exec(node, command),
    nodes,
    rotated,
    rotate,
    settled,
  );
  const { toRotated, between, losses } = result;
  const unjudged = (t: PingTotals) => (t.inFlight > 0 ? `, ${t.inFlight} on their way when ping stopped` : "");
  log(
    `rotate ${rotated.machine.name}: ${toRotated.lost} of ${toRotated.transmitted} pings lost (mesh IPv4 and IPv6, every peer)${unjudged(toRotated)}; the slowest reply ${toRotated.slowest.toFixed(1)} s`,
  );
  log(`rotate ${rotated.machine.name}: ${between.lost} of ${between.transmitted} pings lost between the other nodes${unjudged(between)}`);
  for (const loss of losses) log(`rotate ${rotated.machine.name}: lost ${loss}`);
  return result;
}

/** Power `down` off: the others keep their tunnel and its zone; boot it: it rejoins alone. */
export async function expectMemberDown(
  servers: Servers,
  down: NodeView,
  rest: [NodeView, NodeView],
  whileDown?: () => Promise<void>,
): Promise<void> {
  const [b, c] = rest;
  await timed(`stop ${down.machine.name}`, () => labStop(servers.state, down.machine.name));
  try {
    expect(
      servers.exec(b, `ping -c 3 -W 2 ${c.mesh.ipv4}`).status,
      `${b.machine.name} ↔ ${c.machine.name} while ${down.machine.name} is down`,
    ).toBe(0);
    for (const node of rest)
      expect(servers.answersAuthoritatively(node, down.zone), `${node.machine.name} serves ${down.zone} while its primary is down`).toBe(
        true,
      );
    await whileDown?.();
  } finally {
    // Whatever failed, the machine comes back: the tests after this one need it.
    await timed(`start ${down.machine.name}`, () => labStart(servers.state, down.machine.name, servers.dir));
  }
  await eventually(
    `${b.machine.name} reaches ${down.machine.name} again without any action`,
    60,
    () => servers.exec(b, `ping -c 1 -W 2 ${down.mesh.ipv4}`).status === 0,
  );
  await eventually(`${down.machine.name} answers its zone again`, 60, () => servers.answersAuthoritatively(down, down.zone));
}

/** After `left` left and the others re-applied: dropped everywhere, its server clean. */
export async function expectLeft(servers: Servers, left: NodeView, rest: NodeView[]): Promise<void> {
  for (const node of rest) {
    expect(servers.ok(node, "wg show wg0 peers")).not.toContain(left.publicKey);
    await eventually(`${node.machine.name} no longer serves ${left.zone}`, 60, () => !servers.answersAuthoritatively(node, left.zone));
  }
  const leftovers = servers.exec(
    left,
    "ls /etc/wireguard/wg0.conf /etc/wireguard/wg0.key /usr/local/lib/boreal/wg-apply /etc/systemd/system/boreal-wg-metrics.timer /var/lib/knot/zones/*.zone 2>/dev/null; ip link show wg0 2>/dev/null; nft list table inet boreal 2>/dev/null; grep -rl 'Managed by boreal-kit' /etc /usr/local/lib /var/lib/knot 2>/dev/null; ls /etc/*.boreal-orig /etc/*/*.boreal-orig 2>/dev/null; true",
  ).output;
  expect(leftovers.trim(), `what the kit left on ${left.machine.name}`).toBe("");
  // Files the server had before the kit (Debian's defaults here) are back as they were.
  expect(servers.ok(left, "head -c 300 /etc/knot/knot.conf")).not.toContain("boreal");
  expect(servers.ok(left, "cat /etc/default/prometheus-node-exporter")).not.toContain("boreal");
  // Units are back as they were before the kit: Debian's packages enable knot and the
  // exporter on install (so the lab image has them enabled), not nftables or wg-quick.
  // So do Prometheus, the blackbox exporter and Alertmanager.
  expect(
    servers
      .exec(
        left,
        "systemctl is-enabled wg-quick@wg0 nftables knot prometheus-node-exporter prometheus prometheus-blackbox-exporter prometheus-alertmanager",
      )
      .output.trim()
      .split("\n"),
  ).toEqual(["disabled", "disabled", "enabled", "enabled", "enabled", "enabled", "enabled"]);
  expect(servers.exec(left, "ls /var/lib/boreal-kit-units /var/lib/boreal 2>&1").output).toMatch(/No such file[\s\S]*No such file/);
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** An instant query of `at`'s Prometheus over the mesh, asked from `from` (the API is mesh-only). */
export function promQuery(servers: Servers, from: NodeView, at: NodeView, query: string): PromSample[] {
  // Percent-encoded, with no quote left: it goes into a shell word, and printf prints it as an argument (its % are not formats).
  const path = `/api/v1/query?query=${encodeURIComponent(query).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
  const out = servers.ok(
    from,
    `timeout 10 bash -c 'exec 3<>/dev/tcp/${at.mesh.ipv4}/9090; printf "GET %s HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n" "${path}" >&3; cat <&3' | tail -n 1`,
  );
  const parsed = JSON.parse(out) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return parsed.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** The alerts firing on `at`'s Prometheus about `node` (by its node label). */
export function firingAbout(servers: Servers, at: NodeView, node: string): string[] {
  return promQuery(servers, at, at, `ALERTS{alertstate="firing",node="${node}"}`)
    .map((s) => s.metric.alertname)
    .sort();
}

/**
 * Every node's Prometheus: every node's exporter up, every peer pinged over mesh IPv4 and
 * IPv6, its member's zone answered by every node and every node answering its own, with
 * one serial per zone; nothing firing. Returns the monitoring stack's RSS per node (MiB).
 */
export async function expectWatching(servers: Servers, nodes: NodeView[], seconds = 120): Promise<Record<string, number>> {
  for (const at of nodes) {
    await eventually(`${at.machine.name}'s Prometheus sees every exporter up, every ping and every zone answered`, seconds, () => {
      const up = promQuery(servers, at, at, 'up{job="boreal-node"} == 1')
        .map((s) => s.metric.node)
        .sort();
      const pings = promQuery(servers, at, at, 'probe_success{job="boreal-icmp"} == 1')
        .map((s) => `${s.metric.node}/${s.metric.family}`)
        .sort();
      const answered = promQuery(servers, at, at, 'probe_success{job="boreal-dns"} == 1').map((s) => `${s.metric.zone}@${s.metric.node}`);
      const disagreeing = promQuery(
        servers,
        at,
        at,
        'max by (zone) (probe_dns_serial{job="boreal-dns"}) != min by (zone) (probe_dns_serial{job="boreal-dns"})',
      );
      const firing = promQuery(servers, at, at, 'ALERTS{alertstate="firing"}').map((s) => s.metric.alertname);
      return (
        JSON.stringify(up) === JSON.stringify(nodes.map((n) => n.machine.name).sort()) &&
        JSON.stringify(pings) ===
          JSON.stringify(
            nodes
              .filter((n) => n !== at)
              .flatMap((n) => [`${n.machine.name}/ipv4`, `${n.machine.name}/ipv6`])
              .sort(),
          ) &&
        nodes.every((n) => answered.includes(`${at.zone}@${n.machine.name}`) && answered.includes(`${n.zone}@${n.machine.name}`)) &&
        disagreeing.length === 0 &&
        firing.length === 0
      );
    });
  }
  const rss: Record<string, number> = {};
  for (const at of nodes) {
    const samples = promQuery(
      servers,
      at,
      at,
      `sum(process_resident_memory_bytes{job="boreal-self"}) + sum(process_resident_memory_bytes{job="boreal-node",node="${at.machine.name}"})`,
    );
    rss[at.machine.name] = Math.round((samples[0]?.value ?? 0) / 2 ** 20);
  }
  log(
    `monitoring: every node watches every other; RSS of Prometheus + Alertmanager + blackbox + node-exporter per node (MiB): ${JSON.stringify(rss)}`,
  );
  return rss;
}

/** The monitoring ports answer nobody on the underlay (dropped: the connect times out). */
export function expectMonitoringMeshOnly(servers: Servers, target: NodeView, from: NodeView): void {
  const probe = (port: number) =>
    servers.exec(from, `timeout 3 bash -c '</dev/tcp/${target.machine.address}/${port}' 2>&1; echo "exit=$?"`).output;
  for (const port of [9090, 9093, 9100, 9115, 9094])
    expect(probe(port), `port ${port} of ${target.machine.name} from the underlay`).toMatch(/exit=124/);
  // The blackbox exporter listens on loopback only; Alertmanager has no cluster port.
  const listening = servers.ok(target, "ss -Hltn | awk '{print $4}'");
  expect(listening).toMatch(/^127\.0\.0\.1:9115$/m);
  expect(listening).not.toMatch(/:9094$/m);
  for (const port of [9090, 9093, 9100])
    expect(listening, `port ${port} listens on the mesh address only`).toMatch(
      new RegExp(`^${target.mesh.ipv4.replaceAll(".", "\\.")}:${port}$`, "m"),
    );
}
