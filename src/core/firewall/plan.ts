// Input rules of the node's nftables table (`inet boreal`): the kit's own services, the
// ones it keeps to the mesh, and what the member opens to the underlay
// (boreal:firewall.allow). Pure.
import { AllowEntry, FirewallSpec, MESH_ONLY_SERVICES } from "./spec";
import { BorealConfigError, ConfigProblem } from "../values/problems";
import { NUDGE_PORT, parsePortSpec, PortRange, portSpecText, Protocol, rangesOverlap, splitAround } from "../values/ports";

export interface FirewallRule {
  description: string;
  protocol: Protocol;
  /** First port, and last port of a range (equal for one port). */
  port: number;
  lastPort: number;
  /** "any": from anywhere; "mesh": only arriving over the WireGuard interface; else only from these prefixes. */
  from: "any" | "mesh" | { ipv4: string[]; ipv6: string[] };
  /** Packets per second (with a burst) past which the rule no longer accepts: what a flood of them may cost. */
  limit?: { perSecond: number; burst: number };
}

/**
 * Nudges accepted per second on a node, from all senders together: a publication sends one
 * per peer address, and the listener folds any number into one sync, so a flood gains nothing.
 */
export const NUDGE_LIMIT = { perSecond: 20, burst: 100 };

export interface FirewallPlan {
  enabled: boolean;
  /**
   * "strict": the kit's table drops what nothing opened (the kit's services and `allow`).
   * "member": the kit's table drops only the mesh-only services arriving outside the mesh,
   * and leaves every other decision to the member's own nftables table.
   */
  policy: "strict" | "member";
  /** The kit's own services: SSH, WireGuard, DNS and the nudge from anywhere, the exporter over the mesh only. */
  rules: FirewallRule[];
  /** What the member opens to the underlay (boreal:firewall.allow), in its order. */
  allow: FirewallRule[];
}

export function firewallRules(ports: { sshPort: number; listenPort: number }): FirewallRule[] {
  const rule = (description: string, protocol: Protocol, port: number, from: "any" | "mesh"): FirewallRule => ({
    description,
    protocol,
    port,
    lastPort: port,
    from,
  });
  return [
    rule("SSH", "tcp", ports.sshPort, "any"),
    rule("WireGuard", "udp", ports.listenPort, "any"),
    rule("DNS", "udp", 53, "any"),
    rule("DNS over TCP", "tcp", 53, "any"),
    // From anywhere: a joining node's nudge comes over the underlay (the peers do not know its key yet).
    { ...rule("nudge from peers", "udp", NUDGE_PORT, "any"), limit: NUDGE_LIMIT },
    ...MESH_ONLY_SERVICES.map((s) => rule(s.description, s.protocol, s.first, "mesh")),
  ];
}

/**
 * The node's firewall: the kit's rules and the member's. The stack config has checked
 * each entry on its own (src/core/firewall/spec.ts); what needs the plan is checked here: an
 * entry that re-opens one of the kit's public ports (SSH and WireGuard ports are the
 * node's own) is refused, since the kit opens it to everyone anyway and a `from` on it
 * would restrict nothing while looking as if it did.
 */
export function firewallPlan(spec: FirewallSpec, ports: { sshPort: number; listenPort: number }): FirewallPlan {
  const rules = firewallRules(ports);
  const problems: ConfigProblem[] = [];
  const allow = spec.allow.map((entry, index) => {
    const range = parsePortSpec(entry.port)!;
    const taken = rules.filter((r) => r.from === "any" && rangesOverlap(range, { protocol: r.protocol, first: r.port, last: r.lastPort }));
    if (taken.length > 0) {
      const single = range.first === range.last;
      const names = taken.map((t) => `${t.protocol}/${t.port} (${t.description})`).join(", ");
      problems.push({
        source: "stack config",
        key: `boreal:firewall.allow[${index}]`,
        message: single
          ? `${entry.port} is ${taken[0].description}, which the kit already opens to every address`
          : `${entry.port} includes ${names}, which the kit already opens to every address`,
        fix: single
          ? "remove this entry: the kit opens it on every node"
          : `leave the kit's ports out of the range: ${splitAround(
              range,
              taken.map((t) => t.port),
            )}`,
      });
    }
    return allowRule(entry, range);
  });
  if (problems.length > 0) throw new BorealConfigError(problems);
  return { enabled: spec.enabled, policy: spec.policy, rules, allow };
}

function allowRule(entry: AllowEntry, range: PortRange): FirewallRule {
  const from =
    entry.from === undefined
      ? "any"
      : { ipv4: entry.from.filter((p) => !p.includes(":")), ipv6: entry.from.filter((p) => p.includes(":")) };
  return { description: entry.description ?? portSpecText(range), protocol: range.protocol, port: range.first, lastPort: range.last, from };
}
