// The federation's rule set: the charter's rules as code, versioned. Pure.
//
// Each rule has an id, a one-line rationale, a level and its checks: where it is checked.
// "plan" is the member's own policy pack (`pulumi preview/up --policy-pack`): a mandatory
// rule stops an up that would break it. "live-mesh" and "live-underlay" are peers probing
// the node over the mesh or over the underlay (the internet side); each such check gives
// one result in a peer's attestation (./attestation.ts), observed from "mesh" or
// "underlay".
//
// Levels. Mandatory: the node's member controls it, and breaking it hurts the federation
// or the member's customers; a node holds the label only while enough other members
// observe every mandatory rule's live checks passing (./label.ts). A mandatory rule with
// plan checks only (keys, state, resolvers) cannot be seen from outside: the policy pack
// enforces it, and the label does not claim it. Advisory: reported in attestations, but
// it depends on other members' nodes or on timing, so it must not take a node's label
// away (a peer's outage, a zone change still propagating).
//
// Changing what a rule means (its id, level or checks) changes RULE_SET_DIGEST: bump
// RULE_SET_VERSION with it (test/unit/label.test.ts pins the digest of each version), so
// nobody can bend a rule quietly under the same version. Attestations name the version
// and digest they were checked against; the label counts only the current ones.
import { createHash } from "node:crypto";

export const RULE_SET_VERSION = "1";

export type RuleLevel = "mandatory" | "advisory";
export type CheckPlace = "plan" | "live-mesh" | "live-underlay";
/** Where a peer observed a live check from: the result's `observedFrom`. */
export type ObservedFrom = "mesh" | "underlay";

export interface Check {
  at: CheckPlace;
  /** What is checked there, for people and for whoever implements the check. */
  what: string;
}

export interface Rule {
  /** kebab-case, stable: attestations name it. */
  id: string;
  rationale: string;
  level: RuleLevel;
  checks: readonly Check[];
}

export const RULES: readonly Rule[] = [
  {
    id: "keys-stay-on-node",
    rationale: "Private keys (WireGuard, attestation) are born on the node and never reach state, the registry or logs.",
    level: "mandatory",
    checks: [
      {
        at: "plan",
        what: "no resource input or output holds a private key; keys come from a command run on the node (wg genkey, ssh-keygen)",
      },
    ],
  },
  {
    id: "underlay-declared-only",
    rationale: "From the internet the node answers only SSH, WireGuard, DNS and the services its member declares.",
    level: "mandatory",
    checks: [
      { at: "plan", what: "the firewall drops input by default and opens only SSH, WireGuard, DNS and boreal:firewall.allow" },
      {
        at: "live-underlay",
        what: "a scan of the node's underlay address finds open only SSH, the WireGuard port, DNS (udp and tcp 53) and the declared services",
      },
    ],
  },
  {
    id: "mesh-only-internals",
    rationale: "The metrics exporter and zone transfers are reachable over the mesh only.",
    level: "mandatory",
    checks: [
      { at: "plan", what: "the exporter listens on the mesh address; Knot allows transfers only to the peers' mesh addresses" },
      { at: "live-underlay", what: "the exporter port does not connect and AXFR of the node's zones is refused over the underlay" },
    ],
  },
  {
    id: "dnssec-valid",
    rationale: "The node's zones are signed, and their signatures validate and are within their validity period.",
    level: "mandatory",
    checks: [
      { at: "plan", what: "every primary zone has automatic DNSSEC signing on" },
      {
        at: "live-underlay",
        what: "the node's answers for each of its zones carry RRSIGs that validate against the zone's DNSKEY at the check's time",
      },
    ],
  },
  {
    id: "zones-replicated",
    rationale: "Every member zone stays up when its member falls: served by at least 3 nodes, of at least 2 other members.",
    level: "advisory", // depends on other members' nodes being up and on the federation's size
    checks: [
      {
        at: "live-mesh",
        what: "each of the node's zones is answered authoritatively by at least 3 nodes, at least 2 other members' among them",
      },
    ],
  },
  {
    id: "serial-agrees",
    rationale: "Every node serves the same version of every member zone.",
    level: "advisory", // a serial lags for up to the refresh interval after each change, and a gap is often the primary's doing
    checks: [{ at: "live-mesh", what: "the SOA serial of every member zone on the node equals the serial on the zone's primary" }],
  },
  {
    id: "state-self-hosted",
    rationale: "Pulumi state lives on a backend the member controls, and its secrets are encrypted.",
    level: "mandatory",
    checks: [
      {
        at: "plan",
        what: "the backend is file:// or the member's own S3-compatible bucket, and secrets use a passphrase or the member's own KMS",
      },
    ],
  },
  {
    id: "no-public-resolver",
    rationale: "No third-party public resolver is baked into the node's configuration.",
    level: "mandatory",
    checks: [{ at: "plan", what: "no rendered file names a public resolver (8.8.8.8, 1.1.1.1, 9.9.9.9, their IPv6 and DoH names)" }],
  },
  {
    id: "descriptor-current",
    rationale: "The node runs as its member's signed, current descriptor says: key, endpoint and mesh addresses.",
    level: "mandatory",
    checks: [
      { at: "plan", what: "the descriptor is built from the node's plan and the key read off the node, and signed by the member" },
      {
        at: "live-mesh",
        what: "the node completes a WireGuard handshake with the descriptor's public key and answers on the descriptor's mesh addresses",
      },
    ],
  },
  {
    id: "time-synchronised",
    rationale: "The node's clock is synchronised: signatures, validity periods and logs depend on it.",
    level: "mandatory",
    checks: [
      {
        at: "live-mesh",
        what: "the exporter's node_time_seconds is within 1 s of the checker's clock at the scrape's midpoint (node_timex_sync_status is reported, not judged: containers sharing a host kernel read as unsynchronised)",
      },
    ],
  },
];

const PLACE_OF: Record<ObservedFrom, CheckPlace> = { mesh: "live-mesh", underlay: "live-underlay" };

export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}

/** The places a peer observes a rule from (none for a rule checked at plan time only). */
export function liveFrom(rule: Rule): ObservedFrom[] {
  return (Object.keys(PLACE_OF) as ObservedFrom[]).filter((from) => rule.checks.some((c) => c.at === PLACE_OF[from]));
}

/** What the label needs: each mandatory rule with a live check, from each place it is checked. */
export function labelRequirements(rules: readonly Rule[] = RULES): { rule: string; from: ObservedFrom }[] {
  return rules.filter((r) => r.level === "mandatory").flatMap((r) => liveFrom(r).map((from) => ({ rule: r.id, from })));
}

/** sha256 over what the rules mean (ids, levels, check places), not over their prose. */
export function ruleSetDigest(rules: readonly Rule[] = RULES): string {
  const meaning = rules.map((r) => ({ id: r.id, level: r.level, checks: r.checks.map((c) => c.at) }));
  return `sha256:${createHash("sha256").update(JSON.stringify(meaning)).digest("hex")}`;
}

export const RULE_SET_DIGEST = ruleSetDigest();
