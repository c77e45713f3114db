// `boreal-agent attest`: a round of the node's checks of its peers for the label. The node
// observes every other member's nodes against the live rules (src/agent/observe.ts), signs
// each node's results as an in-toto statement with its own attestation key, and publishes
// them to the federation's mirrors (their attestation inbox, src/io/registry/inbox.ts). An
// attestation is re-signed when the results or the node's descriptor change, or when it
// has aged a quarter of its validity; the mirrors get whatever they lack.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Federation, RegistryFile } from "../core/registry/format";
import { signaturePath } from "../core/registry/format";
import { escapeShort, escapeText } from "../core/values/escape";
import { AttestationResult, buildAttestation } from "../core/label/attestation";
import { labelSettings } from "../core/label/label";
import { HeldState, heldNode, sha256 } from "../core/registry/verify";
import { AGENT, ATTESTATION_KEY_FILE } from "../core/node/layout";
import { writeAtomic } from "../io/files";
import { commitAndPush, REGISTRY_PUBLISH_TEMPLATE } from "../io/git";
import { signAttestation } from "../io/label/files";
import { observePeers, wgHandshakes } from "./observe";
import { fetch, readInputs, verify } from "./phases";
import { AGENT_AUTHOR, changedIn, checkoutDir, gitError, log, MIRROR_TIMEOUT_MS, readJson, templates, writeRootOnly } from "./io";

const attestStateFile = join(AGENT.stateDir, "attest.json");
const attestStatusFile = join(AGENT.stateDir, "attest-status.json");
const DAY_MS = 86_400_000;
const PUSH_ATTEMPTS = 5;

interface Signed {
  /** Results and subject digest in one: the same again needs no new signature. */
  key: string;
  signedAt: string;
  path: string;
  content: string;
  signature: string;
}

interface AttestState {
  /** Subject node → its newest signed attestation by this node. */
  signed: Record<string, Signed>;
}

/** What a round saw and did (attest-status.json, for operators and the lab tests). */
export interface AttestSummary {
  at: string;
  seconds: number;
  skipped?: string;
  subjects: Record<string, { passed: boolean; failing: string[]; signed: "new" | "kept" }>;
  mirrors: { url: string; outcome: string }[];
}

type Checker = { member: string; node: string };

/** One round, phase by phase: fetch, verify, decide (observe the peers, sign), publish, report. */
export async function attest(): Promise<number> {
  const started = Date.now();
  const inputs = readInputs();
  const { member, node } = inputs.config.spec;
  const summary: AttestSummary = { at: new Date().toISOString(), seconds: 0, subjects: {}, mirrors: [] };
  const ownKey = attestationKey();
  if (ownKey === undefined)
    return report(summary, started, { code: 0, skipped: `no attestation key (${ATTESTATION_KEY_FILE}): pulumi up makes it` });

  // The registry as the sync agent trusts it: from what it holds, the seed and the mirrors.
  const fetched = fetch(inputs, "inbox");
  for (const mirror of fetched.mirrors)
    if (!mirror.source) summary.mirrors.push({ url: mirror.url, outcome: `did not answer: ${mirror.error}` });
  const verified = verify(inputs, fetched);
  const federation = verified.federation;
  if (!federation) return report(summary, started, { code: 1, skipped: "no trusted federation version: nothing to check against" });
  // Until the member's signed descriptor lists this key, nobody would count what it signs.
  if (federation.nodes.find((n) => n.node === node)?.attestationKey !== ownKey) {
    return report(summary, started, {
      code: 0,
      skipped: `the registry's descriptor of ${node} does not list this node's attestation key yet`,
    });
  }

  // Every address the checks connect to passes src/core/values/scope.ts first; refusals are logged here, escaped.
  const observed = await observePeers({
    federation,
    self: { member, node },
    handshakes: () => wgHandshakes(),
    log: (line) => log(`attest: ${line}`),
  });
  const signed = sign(observed, federation, verified.held, { member, node }, summary);
  const answered = fetched.mirrors.filter((m) => m.source).map((m) => m.url);
  summary.mirrors.push(...publish(answered, signed, node));
  return report(summary, started, { code: 0, signed });
}

/** This node's attestation key as its descriptor lists it (type and key); undefined until pulumi up made it. */
function attestationKey(): string | undefined {
  if (!existsSync(`${ATTESTATION_KEY_FILE}.pub`)) return undefined;
  return readFileSync(`${ATTESTATION_KEY_FILE}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
}

function roundKey(descriptorContent: string, results: AttestationResult[]): string {
  return sha256(JSON.stringify([sha256(descriptorContent), results.map((r) => [r.rule, r.observedFrom, r.passed])]));
}

/**
 * The round's decision: each subject's attestation is kept while its results and descriptor
 * stand and it is young enough, else signed anew. Fills the summary's subjects.
 */
function sign(
  observed: Map<string, AttestationResult[]>,
  federation: Federation,
  held: HeldState,
  checker: Checker,
  summary: AttestSummary,
): Record<string, Signed> {
  const { validityDays } = labelSettings(federation.settings);
  const renewAfterMs = (validityDays * DAY_MS) / 4;
  const previous = readJson<AttestState>(attestStateFile, { signed: {} }).signed;
  const signed: Record<string, Signed> = {};
  const now = new Date();
  for (const [subject, results] of observed) {
    const descriptor = federation.nodes.find((n) => n.node === subject);
    const content = heldNode(held, subject)?.content;
    if (!descriptor || content === undefined) continue;
    const key = roundKey(content, results);
    const failing = results.filter((r) => !r.passed).map((r) => `${r.rule} (${r.observedFrom}): ${r.detail}`);
    const kept = previous[subject];
    if (kept && kept.key === key && now.getTime() - Date.parse(kept.signedAt) < renewAfterMs) {
      signed[subject] = kept;
      summary.subjects[subject] = { passed: failing.length === 0, failing, signed: "kept" };
      continue;
    }
    const { statement } = buildAttestation({ subject: { descriptor, content }, checker, observedAt: now, validityDays, results });
    const files = signAttestation(statement, { keyFile: ATTESTATION_KEY_FILE });
    signed[subject] = { key, signedAt: now.toISOString(), path: files.path, content: files.content, signature: files.signature };
    summary.subjects[subject] = { passed: failing.length === 0, failing, signed: "new" };
    log(
      `attest: ${escapeText(subject)} ${failing.length === 0 ? "passes every rule" : `fails ${failing.map((f) => escapeShort(f, 300)).join("; ")}`}`,
    );
  }
  return signed;
}

/** Every mirror that answered the round gets whatever of this node's attestations it lacks. */
function publish(mirrors: string[], signed: Record<string, Signed>, node: string): AttestSummary["mirrors"] {
  const files = Object.values(signed).flatMap((s) => [
    { path: s.path, content: s.content },
    { path: signaturePath(s.path), content: s.signature },
  ]);
  return mirrors.map((url) => {
    const outcome = files.length === 0 ? "nothing to publish" : publishTo(url, files, node);
    if (outcome.startsWith("not published")) log(`attest: ${escapeShort(url)}: ${escapeShort(outcome, 300)}`);
    return { url, outcome };
  });
}

/**
 * Writes this node's signed files into the mirror's tree (checked out by the round's fetch);
 * the registry's one commit-and-push (templates/run/registry-publish.sh.hbs) commits them and
 * pushes, rebasing on another node's push in between (each node writes only
 * attestations/<subject>/<itself>.json, so this never conflicts).
 */
function publishTo(url: string, files: RegistryFile[], node: string): string {
  const dir = checkoutDir("inbox", url);
  const paths = files.map((f) => f.path);
  try {
    for (const file of files) writeAtomic(join(dir, file.path), file.content);
    if (!changedIn(dir, paths)) return "up to date";
    const script = templates()[REGISTRY_PUBLISH_TEMPLATE];
    if (script === undefined) throw new Error(`template ${REGISTRY_PUBLISH_TEMPLATE} is missing from templates/`);
    const what = { registry: dir, files: paths, message: `attestations by node ${node}`, publish: url };
    return commitAndPush(script, what, {
      branch: "HEAD",
      attempts: PUSH_ATTEMPTS,
      gitTimeoutSeconds: MIRROR_TIMEOUT_MS / 1000,
      author: AGENT_AUTHOR,
    }).outcome;
  } catch (error) {
    return `not published: ${gitError(error)}`;
  }
}

/** The round's one write: its signatures (kept while they stand) and what it saw and did. */
function report(summary: AttestSummary, started: number, end: { code: number; skipped?: string; signed?: Record<string, Signed> }): number {
  if (end.skipped) {
    summary.skipped = end.skipped;
    log(`attest: ${escapeText(end.skipped)}`);
  }
  if (end.signed) writeRootOnly(attestStateFile, JSON.stringify({ signed: end.signed }));
  summary.seconds = (Date.now() - started) / 1000;
  writeRootOnly(attestStatusFile, `${JSON.stringify(summary, null, 2)}\n`);
  return end.code;
}
