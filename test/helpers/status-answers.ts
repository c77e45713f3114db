// What a node's Prometheus answers `boreal status`'s queries, for three nodes of coop-a, -b, -c
// asked of node2: the table's tests and the map's share it.
import type { Sample, StatusAnswers } from "../../src/core/status/report";

export const sample = (value: number, metric: Record<string, string>): Sample => ({ metric, value });
export const who = (node: string) => ({ node, member: `coop-${node.slice(-1) === "1" ? "a" : node.slice(-1) === "2" ? "b" : "c"}` });
export const NODES = ["node1", "node2", "node3"];
export const ZONES = ["coop-a.lab.test.", "coop-b.lab.test."];

/** What node2's Prometheus answers; `down` nodes answer nothing (their exporters report no handshakes, no sync runs). */
export function answers(down: string[] = [], serials: Record<string, number> = {}, alerts: Sample[] = []): StatusAnswers {
  const up = (node: string) => (down.includes(node) ? 0 : 1);
  const alive = NODES.filter((n) => !down.includes(n));
  return {
    exporters: NODES.map((n) => sample(up(n), { ...who(n), job: "boreal-node", instance: `${n}:9100` })),
    pings: NODES.filter((n) => n !== "node2").flatMap((n) =>
      ["ipv4", "ipv6"].map((family) => sample(up(n), { ...who(n), family, instance: `${n}-${family}` })),
    ),
    handshakes: NODES.filter((n) => n !== "node2").map((n) => sample(down.includes(n) ? 400 : 20, { ...who("node2"), peer: n })),
    zonesAnswered: NODES.flatMap((n) => ZONES.map((zone) => sample(up(n), { ...who(n), zone, instance: `${n}:53` }))),
    zoneSerials: NODES.flatMap((n) =>
      ZONES.map((zone) => sample(down.includes(n) ? 0 : (serials[`${n}/${zone}`] ?? 100), { ...who(n), zone, instance: `${n}:53` })),
    ),
    alerts,
    handshakeMatrix: alive.flatMap((from) =>
      NODES.filter((to) => to !== from).map((to) => sample(down.includes(to) ? 400 : 20 + NODES.indexOf(to), { ...who(from), peer: to })),
    ),
    pingTimes: NODES.filter((n) => n !== "node2" && !down.includes(n)).flatMap((n) =>
      ["ipv4", "ipv6"].map((family, i) => sample(0.0004 + i * 0.0001, { ...who(n), family, phase: "rtt" })),
    ),
    syncAge: alive.map((n) => sample(42, who(n))),
    syncSuccess: alive.map((n) => sample(1, who(n))),
  };
}
