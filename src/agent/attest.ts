// `boreal-agent attest`: a round of the node's checks of its peers for the label. The node
// observes every other member's nodes against the live rules (src/agent/observe.ts), signs
// each node's results as an in-toto statement with its own attestation key, and publishes
// them to the federation's mirrors (their attestation inbox, src/io/registry/inbox.ts). An
// attestation is re-signed when the results or the node's descriptor change, or when it
// has aged a quarter of its validity; the mirrors get whatever they lack.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { RegistryFile } from "../core/registry/format";
import { signaturePath } from "../core/registry/format";
import { escapeShort, escapeText } from "../core/values/escape";
import { AttestationResult, buildAttestation } from "../core/label/attestation";
import { signAttestation } from "../io/label/files";
import { labelSettings } from "../core/label/label";
import { observePeers, wgHandshakes } from "./observe";
import { ReadSource, readRegistrySource, verifySources } from "../io/registry/read";
import { HeldState, heldNode, sha256 } from "../core/registry/verify";
import { parseAgentConfig } from "../core/spec/agent";
import { checkoutDir, checkoutMirror, gitError, gitIn, log, readJson, stateFile, writeAtomic } from "./io";
import { AGENT, ATTESTATION_KEY_FILE } from "../core/node/layout";

const attestStateFile = join(AGENT.stateDir, "attest.json");
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


function roundKey(descriptorContent: string, results: AttestationResult[]): string {
  return sha256(JSON.stringify([sha256(descriptorContent), results.map((r) => [r.rule, r.observedFrom, r.passed])]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes this node's signed files into the mirror's tree (checked out by the round), commits what changed and pushes;
 * another node's push in between is fetched and the commit made again on top (each node
 * writes only attestations/<subject>/<itself>.json, so this never conflicts).
 */
async function publish(url: string, files: RegistryFile[], node: string): Promise<string> {
  const dir = checkoutDir("inbox", url);
  let last = "";
  for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
    try {
      // The round read the registry from this very checkout just before: fetch again only to retry.
      if (attempt > 1) checkoutMirror(dir, url);
      for (const f of files) {
        mkdirSync(dirname(join(dir, f.path)), { recursive: true });
        writeFileSync(join(dir, f.path), f.content);
      }
      gitIn(dir, "add", "--", ...files.map((f) => f.path));
      if (gitIn(dir, "diff", "--cached", "--name-only").trim() === "") return "up to date";
      gitIn(dir, "commit", "--quiet", "-m", `attestations by node ${node}`);
      const branch = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(gitIn(dir, "ls-remote", "--symref", url, "HEAD"))?.[1] ?? "refs/heads/main";
      gitIn(dir, "push", "--quiet", url, `HEAD:${branch}`);
      return attempt === 1 ? "pushed" : `pushed (attempt ${attempt})`;
    } catch (error) {
      last = gitError(error);
      await sleep(300 + Math.random() * 1200);
    }
  }
  return `not published: ${last}`;
}

export async function attest(): Promise<number> {
  const started = Date.now();
  const config = parseAgentConfig(readFileSync(AGENT.config, "utf8"), AGENT.config);
  const { member, node } = config.spec;
  const summary: AttestSummary = { at: new Date().toISOString(), seconds: 0, subjects: {}, mirrors: [] };
  const finish = (code: number, skipped?: string): number => {
    if (skipped) {
      summary.skipped = skipped;
      log(`attest: ${escapeText(skipped)}`);
    }
    summary.seconds = (Date.now() - started) / 1000;
    writeAtomic(join(AGENT.stateDir, "attest-status.json"), `${JSON.stringify(summary, null, 2)}\n`);
    return code;
  };
  if (!existsSync(`${ATTESTATION_KEY_FILE}.pub`)) return finish(0, `no attestation key (${ATTESTATION_KEY_FILE}): pulumi up makes it`);
  const ownKey = readFileSync(`${ATTESTATION_KEY_FILE}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");

  // The registry as the sync agent trusts it: from what it holds, the seed and the mirrors.
  const held = readJson<{ held?: HeldState }>(stateFile, {}).held ?? { nodes: {} };
  const seed: ReadSource = { name: "pulumi up", files: readJson<{ files: RegistryFile[] }>(AGENT.seed, { files: [] }).files, unreadable: [] };
  const mirrors = verifySources([seed], config.trust, held).federation?.settings.mirrors ?? [];
  const sources: ReadSource[] = [seed];
  for (const url of mirrors) {
    try {
      checkoutMirror(checkoutDir("inbox", url), url);
      sources.push(readRegistrySource(checkoutDir("inbox", url), url));
    } catch (error) {
      summary.mirrors.push({ url, outcome: `did not answer: ${gitError(error)}` });
    }
  }
  const verified = verifySources(sources, config.trust, held);
  const federation = verified.federation;
  if (!federation) return finish(1, "no trusted federation version: nothing to check against");
  const self = federation.nodes.find((n) => n.node === node);
  // Until the member's signed descriptor lists this key, nobody would count what it signs.
  if (self?.attestationKey !== ownKey) return finish(0, `the registry's descriptor of ${node} does not list this node's attestation key yet`);

  // Every address the checks connect to passes src/core/values/scope.ts first; refusals are logged here, escaped.
  const observed = await observePeers({ federation, self: { member, node }, handshakes: () => wgHandshakes(), log: (line) => log(`attest: ${line}`) });
  const { validityDays } = labelSettings(federation.settings);
  const renewAfterMs = (validityDays * DAY_MS) / 4;
  const state = readJson<AttestState>(attestStateFile, { signed: {} });
  const signed: Record<string, Signed> = {};
  const now = new Date();
  for (const [subject, results] of observed) {
    const descriptor = federation.nodes.find((n) => n.node === subject);
    const content = heldNode(verified.held, subject)?.content;
    if (!descriptor || content === undefined) continue;
    const key = roundKey(content, results);
    const failing = results.filter((r) => !r.passed).map((r) => `${r.rule} (${r.observedFrom}): ${r.detail}`);
    const previous = state.signed[subject];
    if (previous && previous.key === key && now.getTime() - Date.parse(previous.signedAt) < renewAfterMs) {
      signed[subject] = previous;
      summary.subjects[subject] = { passed: failing.length === 0, failing, signed: "kept" };
      continue;
    }
    const { statement } = buildAttestation({ subject: { descriptor, content }, checker: { member, node }, observedAt: now, validityDays, results });
    const files = signAttestation(statement, { keyFile: ATTESTATION_KEY_FILE });
    signed[subject] = { key, signedAt: now.toISOString(), path: files.path, content: files.content, signature: files.signature };
    summary.subjects[subject] = { passed: failing.length === 0, failing, signed: "new" };
    log(`attest: ${escapeText(subject)} ${failing.length === 0 ? "passes every rule" : `fails ${failing.map((f) => escapeShort(f, 300)).join("; ")}`}`);
  }
  writeAtomic(attestStateFile, JSON.stringify({ signed }));

  const files = Object.values(signed).flatMap((s) => [
    { path: s.path, content: s.content },
    { path: signaturePath(s.path), content: s.signature },
  ]);
  for (const url of mirrors.filter((u) => !summary.mirrors.some((m) => m.url === u))) {
    const outcome = files.length === 0 ? "nothing to publish" : await publish(url, files, node);
    summary.mirrors.push({ url, outcome });
    if (outcome.startsWith("not published")) log(`attest: ${escapeShort(url)}: ${escapeShort(outcome, 300)}`);
  }
  return finish(0);
}
