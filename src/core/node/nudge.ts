// The nudge: a contentless "pull now" that a node sends to its peers right after its member
// published a change (a join, a new key, a setting, a departure), so that every peer starts
// its sync within seconds instead of at its next timer tick. It carries nothing a peer acts
// on: what a sync applies still comes only from the mirrors and is verified as ever, so a
// nudge needs no trust. What it may cost is bounded instead: the firewall limits its rate
// (src/core/firewall/plan.ts), and the node's nudge-gate (templates/usr/local/lib/boreal/)
// folds any number of nudges into one sync every few seconds. Pure: src/io/nudge.ts sends.
import { NUDGE_PORT } from "../values/ports";

export { NUDGE_PORT };

const NUDGE_WORD = "boreal-nudge";

/** What a nudge says, as a line: the word and the federation's name, nothing else (nudge-gate matches it whole). */
export function nudgeLine(federation: string): string {
  return `${NUDGE_WORD} ${federation}`;
}

/** A nudge as it is sent: its line, one datagram. */
export function nudgeMessage(federation: string): Buffer {
  return Buffer.from(`${nudgeLine(federation)}\n`);
}

/** A peer as wg0.conf has it: where to nudge it. */
export interface NudgeTarget {
  node: string;
  /** The host of its WireGuard endpoint: the underlay, which reaches a peer that does not know this node yet (a join). */
  underlay: string;
  /** Its mesh addresses: the way that stays up while the underlay is filtered between two nodes. */
  mesh: string[];
}

/**
 * The peers in the wg0.conf the agent rendered (templates/etc/wireguard/wg0.conf.hbs): the
 * node name from each `# boreal-peer:` line, its Endpoint's host and its AllowedIPs' host
 * addresses (/32 and /128 only: a routed prefix is no one to nudge). The file is the agent's
 * own, from the verified registry.
 */
export function nudgeTargets(wireguardConf: string): NudgeTarget[] {
  const targets: NudgeTarget[] = [];
  let current: NudgeTarget | undefined;
  for (const line of wireguardConf.split("\n")) {
    const peer = /^# boreal-peer: (\S+)/.exec(line);
    if (peer) targets.push((current = { node: peer[1], underlay: "", mesh: [] }));
    const [key, value] = line.split(/\s*=\s*/, 2);
    if (current === undefined || value === undefined) continue;
    if (key === "Endpoint") current.underlay = endpointHost(value.trim());
    if (key === "AllowedIPs")
      current.mesh = value
        .split(",")
        .map((p) => p.trim())
        .filter((p) => /\/(32|128)$/.test(p))
        .map((p) => p.replace(/\/\d+$/, ""));
  }
  return targets.filter((t) => t.underlay !== "" || t.mesh.length > 0);
}

/** `host:port` or `[v6]:port` → the host, brackets off. */
function endpointHost(endpoint: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(endpoint);
  if (bracketed) return bracketed[1];
  return endpoint.replace(/:\d+$/, "");
}
