// The label: does a node hold it, for the current rule set, at a given time? Pure.
//
// A node holds the label while at least K distinct other members have a fresh attestation
// of it that passes every mandatory rule's live checks (./rules.ts labelRequirements).
// - Its own member never counts; several keys or nodes of one member count once.
// - Per attesting member, its newest attestation decides: a failing one withdraws that
//   member's vote at once, an expired one leaves it without a vote.
// - Fresh: observed no later than now (plus CLOCK_SKEW_MS), and now before its end, which
//   is its validUntil or observedAt + validityDays, whichever comes first (a federation
//   that shortens the validity shortens attestations already published).
// - It expires by itself: with nobody attesting any more, it ends when the K-th freshest
//   vote ends.
// Every file that does not count is reported with its path and reason; none stops the rest.
//
// K and the validity come from federation.yaml's optional `label:`; the defaults:
// - threshold 2: one member, mistaken or colluding, can never grant the label alone, and
//   a federation of three (the smallest the README starts) can already give it;
// - validityDays 7: breaking a rule withdraws the label at the checkers' next attestations
//   (a failing one counts at once), so the validity only decides how long a label outlives
//   checkers that stop attesting (agent down, mirrors unreachable): a week rides out a
//   weekend's outage, and a node nobody has checked for a week loses it.
import type { FederationSettings } from "../registry/format";
import { signaturePath } from "../registry/format";
import { heldNode } from "../registry/verify";
import {
  ATTESTATIONS_DIR,
  AttestationResult,
  AttestationSigner,
  checkAttestation,
  LabelRegistry,
  parseAttestationPath,
  resultProblems,
  sha256Hex,
} from "./attestation";
import { labelRequirements, ObservedFrom, RULE_SET_DIGEST, RULE_SET_VERSION } from "./rules";

export const LABEL_DEFAULTS = { threshold: 2, validityDays: 7 } as const;
/** How far in the future an observation may lie: clocks of two synchronised nodes differ by far less. */
export const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

export interface LabelSettings {
  threshold: number;
  validityDays: number;
}

export function labelSettings(settings: FederationSettings): LabelSettings {
  return {
    threshold: settings.label?.threshold ?? LABEL_DEFAULTS.threshold,
    validityDays: settings.label?.validityDays ?? LABEL_DEFAULTS.validityDays,
  };
}

/** A file under attestations/ as read from the registry (statements and .sig files alike). */
export interface AttestationFile {
  path: string;
  content: string;
}

export interface Refusal {
  path: string;
  reason: string;
}

export type VoteStatus = "counts" | "withdrawn" | "expired";

/** One other member's say: its newest attestation of the node. */
export interface Vote {
  member: string;
  /** The node that checked. */
  node: string;
  path: string;
  signer: AttestationSigner;
  observedAt: string;
  /** When it stops counting: validUntil, or earlier under the federation's validityDays. */
  until: string;
  results: AttestationResult[];
  /** Mandatory checks it failed or did not report (withdrawn). */
  failing: { rule: string; from: ObservedFrom; detail: string }[];
  status: VoteStatus;
}

export interface LabelReport {
  node: string;
  member?: string;
  /** The descriptor attested: its serial and the sha256 of its bytes. */
  descriptor?: { serial: number; sha256: string };
  ruleSet: { version: string; digest: string };
  settings: LabelSettings;
  at: string;
  holds: boolean;
  /**
   * While it holds: since when, as far as the attestations that count show (the K-th earliest
   * observation among them). Older ones were replaced, so it may have held before.
   */
  since?: string;
  /** While it holds: when it ends unless renewed (the K-th latest end among the votes that count). */
  until?: string;
  /** Why it holds or not, in a line. */
  summary: string;
  /** One per other member that has a valid attestation, votes that count first. */
  votes: Vote[];
  /** Attestation files under attestations/<node>/ that do not count, and why. */
  notCounted: Refusal[];
}

/** Which files of attestations/ are about `node`'s place: attestations/<node>/... */
const under = (node: string) => `${ATTESTATIONS_DIR}/${node}/`;

export function evaluateLabel(node: string, registry: LabelRegistry, files: AttestationFile[], now: Date): LabelReport {
  const settings = labelSettings(registry.federation.settings);
  const base = { node, ruleSet: { version: RULE_SET_VERSION, digest: RULE_SET_DIGEST }, settings, at: now.toISOString() };
  const descriptor = registry.federation.nodes.find((n) => n.node === node);
  const content = heldNode(registry.held, node)?.content;
  const mine = files.filter((f) => f.path.startsWith(under(node)));
  const notCounted: Refusal[] = [];
  const refuse = (path: string, reason: string) => notCounted.push({ path, reason });

  // Pair statements and signatures; anything else in the node's folder is named.
  const byPath = new Map(mine.map((f) => [f.path, f.content]));
  const statements: { path: string; content: string; signature?: string }[] = [];
  for (const f of mine) {
    if (f.path.endsWith(".json.sig")) {
      if (!byPath.has(f.path.slice(0, -".sig".length))) refuse(f.path, `signs ${f.path.slice(0, -".sig".length)}, which is missing`);
    } else if (parseAttestationPath(f.path))
      statements.push({ path: f.path, content: f.content, signature: byPath.get(signaturePath(f.path)) });
    else refuse(f.path, `is not an attestation (${under(node)}<checker node>.json and its .sig)`);
  }
  if (!descriptor || content === undefined) {
    for (const s of statements) refuse(s.path, `node ${node} is no live node of the registry`);
    const departed = heldNode(registry.held, node)?.left;
    return {
      ...base,
      holds: false,
      summary: `node ${node} is ${departed ? "gone: it left the federation" : "no live node of the registry"}`,
      votes: [],
      notCounted,
    };
  }

  const nowMs = now.getTime();
  const candidates: Vote[] = [];
  for (const s of statements) {
    const check = checkAttestation(s, registry);
    if (!check.ok) {
      refuse(s.path, check.reason);
      continue;
    }
    const { attestation, signer } = check;
    const p = attestation.predicate;
    if (signer.member === descriptor.member) {
      refuse(
        s.path,
        `is signed by ${signer.node ? `node ${signer.node} of ` : ""}member ${signer.member}, the node's own member, which never counts`,
      );
      continue;
    }
    if (p.ruleSet.version !== RULE_SET_VERSION) {
      refuse(s.path, `was checked against rule set ${p.ruleSet.version}; the label is for rule set ${RULE_SET_VERSION}`);
      continue;
    }
    if (p.ruleSet.digest !== RULE_SET_DIGEST) {
      refuse(
        s.path,
        `names rule set ${p.ruleSet.version} with digest ${p.ruleSet.digest}, but rule set ${RULE_SET_VERSION} is ${RULE_SET_DIGEST}: a rule set changed without a new version`,
      );
      continue;
    }
    const problems = resultProblems(p.results);
    if (problems.length > 0) {
      refuse(s.path, problems.join("; "));
      continue;
    }
    const observed = Date.parse(p.observedAt);
    if (observed > nowMs + CLOCK_SKEW_MS) {
      refuse(
        s.path,
        `was observed at ${p.observedAt}, in the future (now ${now.toISOString()}; clocks may differ by ${CLOCK_SKEW_MS / 60_000} minutes)`,
      );
      continue;
    }
    const until = Math.min(Date.parse(p.validUntil), observed + settings.validityDays * DAY_MS);
    const failing = labelRequirements().flatMap(({ rule, from }) => {
      const result = p.results.find((r) => r.rule === rule && r.observedFrom === from);
      if (!result) return [{ rule, from, detail: "not reported" }];
      return result.passed ? [] : [{ rule, from, detail: result.detail }];
    });
    const status: VoteStatus = nowMs >= until ? "expired" : failing.length > 0 ? "withdrawn" : "counts";
    candidates.push({
      member: signer.member,
      node: p.checker.node,
      path: s.path,
      signer,
      observedAt: p.observedAt,
      until: new Date(until).toISOString(),
      results: p.results,
      failing,
      status,
    });
  }

  // The newest attestation of each member decides; at the same time a failing one wins.
  const newestFirst = [...candidates].sort(
    (a, b) =>
      Date.parse(b.observedAt) - Date.parse(a.observedAt) ||
      Number(b.failing.length > 0) - Number(a.failing.length > 0) ||
      a.path.localeCompare(b.path),
  );
  const votes: Vote[] = [];
  for (const c of newestFirst) {
    const newer = votes.find((v) => v.member === c.member);
    if (newer) refuse(c.path, `superseded by member ${c.member}'s newer attestation ${newer.path} (observed ${newer.observedAt})`);
    else votes.push(c);
  }
  const order: Record<VoteStatus, number> = { counts: 0, withdrawn: 1, expired: 2 };
  votes.sort((a, b) => order[a.status] - order[b.status] || a.member.localeCompare(b.member));

  const counting = votes.filter((v) => v.status === "counts");
  const { threshold } = settings;
  const holds = counting.length >= threshold;
  const others = registry.federation.settings.members.filter((m) => m.name !== descriptor.member).length;
  const ends = counting.map((v) => Date.parse(v.until)).sort((a, b) => b - a);
  const until = holds ? new Date(ends[threshold - 1]).toISOString() : undefined;
  const observed = counting.map((v) => Date.parse(v.observedAt)).sort((a, b) => a - b);
  const since = holds ? new Date(observed[threshold - 1]).toISOString() : undefined;
  const of = `${counting.length} of the ${threshold} other member(s) needed`;
  const summary = holds
    ? `holds: ${of} attest it passes every mandatory rule, until ${until} unless renewed`
    : `does not hold: ${of} attest it passes every mandatory rule${threshold > others ? ` (the federation has only ${others} other member(s))` : ""}`;
  return {
    ...base,
    member: descriptor.member,
    descriptor: { serial: descriptor.serial, sha256: sha256Hex(content) },
    holds,
    since,
    until,
    summary,
    votes,
    notCounted: notCounted.sort((a, b) => a.path.localeCompare(b.path)),
  };
}

/** Nodes with a folder under attestations/ (for reports of files about nodes that are gone). */
export function attestedNodes(files: AttestationFile[]): string[] {
  return [...new Set(files.map((f) => /^attestations\/([^/]+)\//.exec(f.path)?.[1]).filter((n): n is string => n !== undefined))].sort();
}
