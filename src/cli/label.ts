// `boreal label ...`: the label, checked offline from a registry clone, exactly as
// src/core/label/label.ts decides it. verify says whether one node holds it (exit 1 when not),
// show does the same for every node; both print which rules, who attested, from where and
// until when, and the plain OpenSSH commands that check the same signatures without the
// kit. The registry is verified as `boreal registry check` does (--trust, or UNPINNED).
//
// Exit codes (errors.ts): 0 the label holds (show: the report was made); 1 it does not hold,
// or nothing of the registry could be trusted; 2 bad usage or unreadable input.
import { join } from "node:path";
import { descriptorPath, signaturePath } from "../core/registry/format";
import { allowedSignerLines, checkAttestation, LabelRegistry, parseAttestationPath } from "../core/label/attestation";
import { readAttestations } from "../io/label/files";
import { attestedNodes, AttestationFile, evaluateLabel, LabelReport, Refusal, Vote } from "../core/label/label";
import { labelRequirements, liveFrom, RULES } from "../core/label/rules";
import { judgeSeal, renderSealManifest, SEAL_BADGE, SEAL_MANIFEST, sealCommands, sealContents, sealNodes } from "../core/label/seal";
import { renderSealBadge, renderSealPage } from "../core/label/seal-html";
import type { LabelStates, NodeLabel } from "../core/status/report";
import { buildSealScript, writeSeal } from "./seal";
import { LABEL_NAMESPACE, REGISTRY_NAMESPACE } from "../core/registry/sshsig";
import { formatTrust } from "../core/registry/verify";
import { escapeShort, escapeText as e } from "../core/values/escape";
import { OptionSpecs, parseArgs, Parsed } from "./args";
import { runCommand, usageLine } from "./command";
import { inputError, usageError } from "./errors";
import { CliIo, hint, jsonText, processIo, table } from "./output";
import { fingerprint, rejectionLine, Trusted, verifyDir } from "./registry-trust";

const COMMON = "[--registry DIR] [--trust N:SHA256] [--at ISO-TIME]";
const COMMON_OPTIONS = { "--registry": "value", "--trust": "value", "--at": "value" } as const;
const OPTIONS: Record<LabelVerb, OptionSpecs> = {
  verify: { ...COMMON_OPTIONS, "--print-allowed-signers": "switch", "--json": "switch" },
  show: { ...COMMON_OPTIONS, "--json": "switch" },
  publish: { ...COMMON_OPTIONS, "--node": "value", "--member": "value" },
};
const VERB_USAGE = {
  verify: [
    `boreal label verify NODE ${COMMON} [--print-allowed-signers | --json]`,
    "does NODE hold the label? which rules, who attested, from where, until when; exit 1 if not. --print-allowed-signers: the allowed_signers file for ssh-keygen -Y verify",
  ],
  show: [`boreal label show ${COMMON} [--json]`, "the same for every node of the registry"],
  publish: [
    `boreal label publish OUT (--node NODE | --member MEMBER) ${COMMON}`,
    "writes the seal to OUT: a page that checks the label in the browser, its files, a badge (docs/how-to/seal.md)",
  ],
} as const;

export type LabelVerb = keyof typeof VERB_USAGE;

export const LABEL_VERBS = Object.keys(VERB_USAGE) as LabelVerb[];

/** One verb's usage lines. */
export function labelUsage(verb: LabelVerb): string {
  const [command, what] = VERB_USAGE[verb];
  return usageLine(command, what);
}

/** The label lines of `boreal`'s usage. */
export const LABEL_USAGE = LABEL_VERBS.map(labelUsage).join("\n");

export function isLabelVerb(verb: string | undefined): verb is LabelVerb {
  return verb !== undefined && Object.prototype.hasOwnProperty.call(VERB_USAGE, verb);
}

/** Runs `boreal label VERB ARGS...`; returns the exit code. Never throws. */
export function runLabel(verb: LabelVerb, args: string[], io: CliIo = processIo): number {
  return runCommand({ name: `boreal label ${verb}`, usage: labelUsage(verb) }, args, io, () => {
    const a = parseArgs(args, OPTIONS[verb]);
    return verb === "verify" ? verify(a, io) : verb === "publish" ? publish(a, io) : show(a, io);
  });
}

interface Loaded {
  dir: string;
  trusted: Trusted;
  registry: LabelRegistry;
  files: AttestationFile[];
  unreadable: Refusal[];
  at: Date;
}

/** The registry verified as the nodes do, and its attestations; undefined (reported) when nothing can be trusted. */
function load(a: Parsed, io: CliIo, verb: LabelVerb): Loaded | undefined {
  const dir = a.one("--registry") ?? ".";
  const atText = a.one("--at");
  const at = atText === undefined ? new Date() : new Date(atText);
  if (
    atText !== undefined &&
    (Number.isNaN(at.getTime()) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(atText))
  ) {
    throw usageError(`--at ${JSON.stringify(atText)} is not an ISO 8601 time with its zone`, "e.g. --at 2026-11-27T12:00:00Z", "--at");
  }
  const trusted = verifyDir(dir, a.one("--trust"), io, `boreal label ${verb}`);
  const federation = trusted.verified.federation;
  if (!federation && a.on("--json")) {
    io.out(jsonText({ federation: null, pinned: trusted.pinned, rejected: trusted.verified.rejected }));
    return undefined;
  }
  if (!federation) {
    io.out(`${dir}: no trusted federation version, so no label can be checked:`);
    for (const r of trusted.verified.rejected) io.out(rejectionLine(r));
    io.out("  fix: check --trust against the federation's published pin, or update the clone (git pull)");
    return undefined;
  }
  let read: ReturnType<typeof readAttestations>;
  try {
    read = readAttestations(dir);
  } catch (error) {
    throw inputError(
      `${join(dir, "attestations")} cannot be read: ${escapeShort((error as Error).message)}`,
      "check the permissions of the registry's attestations/",
    );
  }
  return { dir, trusted, registry: { federation, held: trusted.verified.held }, files: read.files, unreadable: read.unreadable, at };
}

function header(l: Loaded, io: CliIo): void {
  const { settings } = l.registry.federation;
  const v = l.trusted.verified.version!;
  const pin = l.trusted.pinned ? `trusted from --trust ${formatTrust(l.trusted.anchor)}` : "UNPINNED: no --trust given, trusted as found";
  io.out(`federation ${e(settings.name)} version ${v.version} (sha256 ${v.sha256}; ${pin})`);
  const rejected = l.trusted.verified.rejected.length;
  if (rejected > 0)
    io.out(`  ${rejected} registry object(s) rejected and left out (${hint(`registry check ${l.dir}`)} says which and why)`);
}

/** What --json answers carry about the registry: the federation version judged from, and how it was trusted. */
function registryData(l: Loaded) {
  const v = l.trusted.verified.version!;
  return {
    federation: l.registry.federation.settings.name,
    version: v.version,
    sha256: v.sha256,
    pinned: l.trusted.pinned,
    at: l.at.toISOString(),
    rejectedObjects: l.trusted.verified.rejected.length,
  };
}

function printRules(io: CliIo): void {
  const needed = labelRequirements();
  io.out("rules the label needs (mandatory, observed by peers):");
  const rows = RULES.filter((r) => needed.some((n) => n.rule === r.id)).map((r) => [
    r.id,
    `from the ${liveFrom(r).join(" and ")}`,
    r.rationale,
  ]);
  for (const line of table(rows)) io.out(line);
  const advisory = RULES.filter((r) => r.level === "advisory").map((r) => r.id);
  const planOnly = RULES.filter((r) => r.level === "mandatory" && liveFrom(r).length === 0).map((r) => r.id);
  io.out(`  advisory, reported but not needed: ${advisory.join(", ")}`);
  io.out(`  mandatory at plan time only (the member's policy pack; peers cannot observe them): ${planOnly.join(", ")}`);
}

function signedBy(v: Vote): string {
  return v.signer.node ? `attestation key of ${e(v.signer.node)} ${fingerprint(v.signer.key)}` : `member key ${fingerprint(v.signer.key)}`;
}

function printReport(r: LabelReport, io: CliIo): void {
  const d = r.descriptor;
  io.out(`node ${e(r.node)}${r.member ? ` (member ${e(r.member)})` : ""}${d ? `: descriptor serial ${d.serial}, sha256 ${d.sha256}` : ""}`);
  io.out(`  label for rule set ${r.ruleSet.version} (${r.ruleSet.digest}) at ${r.at}: ${r.holds ? "HOLDS" : "DOES NOT HOLD"}`);
  io.out(`  ${e(r.summary)} (an attestation counts ${r.settings.validityDays} day(s) at most)`);
  if (r.since) io.out(`  held since ${r.since}, as the attestations that count show`);
  if (r.votes.length > 0) {
    io.out("  attested by:");
    const rows = r.votes.map((v) => {
      const from = [...new Set(v.results.map((x) => e(x.observedFrom)))].join("+");
      const state = v.status === "counts" ? "counts" : v.status === "expired" ? "EXPIRED" : "WITHDRAWN";
      return [
        e(v.member),
        state,
        `node ${e(v.node)}`,
        signedBy(v),
        `observed ${e(v.observedAt)} from ${from}`,
        `${v.status === "expired" ? "ended" : "until"} ${e(v.until)}`,
      ];
    });
    for (const line of table(rows, "    ")) io.out(line);
    // What a checker observed is hostile text (a peer's banner, an answer): escaped, and kept short.
    for (const v of r.votes) {
      for (const f of v.failing) io.out(`    ${e(v.member)} fails ${e(f.rule)} from the ${e(f.from)}: ${escapeShort(f.detail, 300)}`);
      for (const x of v.results.filter((x) => !x.passed && !v.failing.some((f) => f.rule === x.rule && f.from === x.observedFrom))) {
        io.out(`    ${e(v.member)} reports ${e(x.rule)} (advisory) failing from the ${e(x.observedFrom)}: ${escapeShort(x.detail, 300)}`);
      }
    }
  } else io.out("  attested by: nobody");
  printRefusals(r.notCounted, io, "  ");
}

function printRefusals(refusals: Refusal[], io: CliIo, indent: string): void {
  if (refusals.length === 0) return;
  io.out(`${indent}not counted (${refusals.length}):`);
  for (const x of refusals) io.out(`${indent}  ${e(x.path)}: ${e(x.reason)}`);
}

/** The commands that check the same by hand, with OpenSSH and coreutils only. */
function printByHand(l: Loaded, node: string | undefined, io: CliIo): void {
  io.out(
    `check the signatures by hand with OpenSSH, in ${l.dir === "." ? "the registry directory" : l.dir} (docs/how-to/check-the-label.md):`,
  );
  const trust = l.trusted.pinned ? ` --trust ${formatTrust(l.trusted.anchor)}` : "";
  io.out(`  ${hint(`registry allowed-signers .${trust}`)} > registry_signers        # or write it from federation/<N>.yaml yourself`);
  io.out(
    `  ssh-keygen -Y verify -f registry_signers -I MEMBER -n ${REGISTRY_NAMESPACE} -s nodes/NODE.yaml.sig < nodes/NODE.yaml   # each descriptor, with its attestationKey`,
  );
  io.out(`  ${hint(`label verify ${e(node ?? "NODE")}${trust} --print-allowed-signers`)} > allowed_signers`);
  const paths = statementsOf(l, node);
  const shown = 20;
  for (const path of paths.slice(0, shown)) {
    const identity = signerOf(l, path) ?? "MEMBER";
    io.out(`  ssh-keygen -Y verify -f allowed_signers -I ${e(identity)} -n ${LABEL_NAMESPACE} -s ${e(signaturePath(path))} < ${e(path)}`);
  }
  if (paths.length > shown) io.out(`  ... and ${paths.length - shown} more attestation(s), the same way`);
  const subject = node ?? "NODE";
  io.out(
    `  sha256sum ${e(descriptorPath(subject))}   # must equal each statement's subject digest; then read its predicate (results, validUntil)`,
  );
}

function statementsOf(l: Loaded, node: string | undefined): string[] {
  return l.files
    .map((f) => f.path)
    .filter((p) => parseAttestationPath(p) && (node === undefined || parseAttestationPath(p)!.subject === node));
}

/** The member whose key signed a statement, for -I; undefined when it does not check. */
function signerOf(l: Loaded, path: string): string | undefined {
  const content = l.files.find((f) => f.path === path)?.content ?? "";
  const signature = l.files.find((f) => f.path === signaturePath(path))?.content;
  const check = checkAttestation({ path, content, signature }, l.registry);
  return check.ok ? check.signer.member : undefined;
}

/** allowed_signers for the label namespace: every member key, and every live node's attestation key under its member. */
function allowedSigners(l: Loaded, node: string, io: CliIo): void {
  const { federation } = l.registry;
  const v = l.trusted.verified.version!;
  io.out(
    `# allowed_signers of label attestations: federation ${e(federation.settings.name)} version ${v.version} (sha256 ${v.sha256}), namespace ${LABEL_NAMESPACE}.`,
  );
  io.out(
    "# Member keys from the federation version; node attestation keys from descriptors their member signed (check those with -n boreal-registry).",
  );
  io.out("# Check an attestation in the registry directory:");
  const paths = statementsOf(l, node);
  for (const path of paths)
    io.out(
      `#   ssh-keygen -Y verify -f allowed_signers -I ${e(signerOf(l, path) ?? "MEMBER")} -n ${LABEL_NAMESPACE} -s ${e(signaturePath(path))} < ${e(path)}`,
    );
  if (paths.length === 0)
    io.out(
      `#   ssh-keygen -Y verify -f allowed_signers -I MEMBER -n ${LABEL_NAMESPACE} -s attestations/${e(node)}/CHECKER.json.sig < attestations/${e(node)}/CHECKER.json   (none yet)`,
    );
  // One line per key: an escape keeps a hostile name or key on its line (it then matches nothing).
  for (const line of allowedSignerLines(federation)) io.out(e(line));
}

function verify(a: Parsed, io: CliIo): number {
  if (a.positional.length !== 1) {
    throw usageError(
      a.positional.length === 0 ? "the node NODE is missing" : `one node expected, got ${a.positional.join(" ")}`,
      `give the node's name, e.g. ${hint("label verify a1 --registry ../registry")}`,
    );
  }
  const node = a.positional[0];
  const l = load(a, io, "verify");
  if (!l) return 1;
  if (a.on("--print-allowed-signers")) {
    allowedSigners(l, node, io);
    return 0;
  }
  const report = evaluateLabel(node, l.registry, l.files, l.at);
  const unreadable = l.unreadable.filter((u) => u.path.startsWith(`attestations/${node}`));
  if (a.on("--json")) {
    io.out(jsonText({ ...registryData(l), report, unreadable }));
    return report.holds ? 0 : 1;
  }
  header(l, io);
  printRules(io);
  printReport(report, io);
  printRefusals(unreadable, io, "");
  printByHand(l, node, io);
  return report.holds ? 0 : 1;
}

function show(a: Parsed, io: CliIo): number {
  if (a.positional.length > 0)
    throw usageError(`show takes no node, got ${a.positional.join(" ")}`, `for one node: ${hint("label verify NODE")}`);
  const l = load(a, io, "show");
  if (!l) return 1;
  const live = l.registry.federation.nodes.map((n) => n.node);
  const reports = live.map((node) => evaluateLabel(node, l.registry, l.files, l.at));
  // Files about nodes that are no live node (gone, or never were): named, never silent.
  const stray = attestedNodes(l.files).filter((n) => !live.includes(n));
  const strayRefusals = stray.flatMap((n) => evaluateLabel(n, l.registry, l.files, l.at).notCounted);
  if (a.on("--json")) {
    io.out(
      jsonText({
        ...registryData(l),
        holding: reports.filter((r) => r.holds).length,
        reports,
        notCounted: [...l.unreadable, ...strayRefusals],
      }),
    );
    return 0;
  }
  header(l, io);
  printRules(io);
  io.out(`${reports.filter((r) => r.holds).length} of ${reports.length} node(s) hold the label:`);
  for (const line of table(
    reports.map((r) => [e(r.node), e(r.member ?? ""), r.holds ? "HOLDS" : "no", r.holds ? `until ${e(r.until ?? "")}` : e(r.summary)]),
  ))
    io.out(line);
  for (const r of reports) {
    io.out("");
    printReport(r, io);
  }
  if (strayRefusals.length + l.unreadable.length > 0) io.out("");
  printRefusals([...l.unreadable, ...strayRefusals], io, "");
  io.out("");
  printByHand(l, undefined, io);
  return 0;
}

function publish(a: Parsed, io: CliIo): number {
  if (a.positional.length !== 1) {
    throw usageError(
      a.positional.length === 0
        ? "the directory OUT to write the seal to is missing"
        : `one directory expected, got ${a.positional.join(" ")}`,
      `give it first, e.g. ${hint("label publish ../www/seal --node a1 --registry ../registry --trust N:SHA256")}`,
      "OUT",
    );
  }
  const out = a.positional[0];
  const node = a.one("--node");
  const member = a.one("--member");
  if ((node === undefined) === (member === undefined))
    throw usageError(
      node === undefined ? "say what the seal is for: --node or --member is missing" : "--node and --member are both given",
      "name one node (--node a1) or one member, for all its nodes (--member coop-a)",
      node === undefined ? "--node" : "--member",
    );
  const l = load(a, io, "publish");
  if (!l) return 1;
  const { federation } = l.registry;
  const chosen = sealNodes(federation, node !== undefined ? { node } : { member: member! });
  if ("problem" in chosen) throw inputError(e(chosen.problem), chosen.fix, node !== undefined ? "--node" : "--member");
  const { manifest, files } = sealContents({
    registry: l.trusted.files,
    held: l.trusted.verified.held,
    federation,
    anchor: l.trusted.anchor,
    attestations: l.files,
    nodes: chosen.nodes,
    member,
    at: l.at,
  });
  const manifestText = renderSealManifest(manifest);
  // The bundle must judge as the registry does, or the page would say something else than verify.
  const judgement = judgeSeal({ manifest: manifestText, files, at: l.at });
  const expected = chosen.nodes.map((n) => evaluateLabel(n, l.registry, l.files, l.at));
  if (JSON.stringify(judgement.nodes.map((n) => n.report)) !== JSON.stringify(expected))
    throw new Error("the seal's files do not judge as the registry does: a bug of the kit, please report it");
  const page = renderSealPage({
    manifest,
    manifestText,
    files,
    script: buildSealScript(),
    commands: sealCommands(manifest, files, l.registry),
  });
  const held = judgement.nodes.every((n) => n.verdict === "held");
  const ends = expected.map((r) => r.until ?? "").sort();
  let bytes: number;
  try {
    bytes = writeSeal(out, [{ path: SEAL_MANIFEST, content: manifestText }, ...files], page, renderSealBadge({ held, until: ends[0] }));
  } catch (error) {
    throw inputError(
      `the seal cannot be written to ${out}: ${escapeShort((error as Error).message)}`,
      "give a new or empty directory, or one an earlier boreal label publish wrote",
      "OUT",
    );
  }
  header(l, io);
  io.out(
    `seal of ${member ? `member ${e(member)}'s node(s)` : "node"} ${chosen.nodes.map(e).join(", ")} written to ${e(out)}: ${files.length + 3} files, ${(bytes / 1024).toFixed(0)} KiB`,
  );
  for (const n of judgement.nodes) io.out(`  ${e(n.node)}: ${n.verdict === "held" ? "HELD" : "NOT HELD"}, ${e(n.headline)}`);
  io.out("  (as the kit judges it now; the page judges it again, in the browser, whenever it is opened)");
  io.out(`serve ${e(out)} from the member's website, and put the badge on its pages:`);
  io.out(`  <a href="https://YOUR-SITE/seal/"><img src="https://YOUR-SITE/seal/${SEAL_BADGE}" alt="peer-signed label"></a>`);
  io.out(
    `a link that carries the federation's pin, so the page checks against it rather than the bundle's own: https://YOUR-SITE/seal/#trust=${manifest.federation.trust}`,
  );
  return 0;
}

/**
 * Every live node's label, judged as `boreal label show` judges it, for `boreal status`; why not,
 * when the registry holds no trusted federation.
 */
export function judgeLabels(dir: string, trust: string | undefined, io: CliIo, at: Date): LabelStates {
  const trusted = verifyDir(dir, trust, io, "boreal status");
  const federation = trusted.verified.federation;
  if (!federation) return { judged: false, why: `${dir} holds no federation version trusted from ${trust ?? "its lowest version"}` };
  const registry = { federation, held: trusted.verified.held };
  const { files } = readAttestations(dir);
  const nodes: Record<string, NodeLabel> = {};
  for (const n of federation.nodes) {
    const r = evaluateLabel(n.node, registry, files, at);
    nodes[n.node] = { holds: r.holds, ...(r.since ? { since: r.since } : {}), ...(r.until ? { until: r.until } : {}), summary: r.summary };
  }
  return { judged: true, at: at.toISOString(), federation: federation.settings.name, version: federation.settings.version, nodes };
}
