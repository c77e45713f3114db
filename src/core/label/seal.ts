// The seal: a node's (or a member's nodes') label as a static bundle its member serves from
// its own website, checked in the customer's browser. Pure: what goes into the bundle, and
// the judgement of a bundle, which is the kit's own: the registry verified from the pin
// (src/core/registry/verify.ts), then evaluateLabel (./label.ts). The page runs this very
// code (src/web/seal-kit.ts), so the page and `boreal label verify` cannot disagree.
//
// The bundle, beside its index.html and badge.svg:
//   seal.json                        what it is for (nodes, member), its pin, its files
//   federation/<N>.yaml[.<m>.sig]     the versions from the pin to the one the label counts against
//   nodes/<node>.yaml[.sig]           every node object the verified registry holds
//   attestations/<node>/<checker>.json[.sig]   the attestations of the seal's nodes
//   allowed_signers                  for ssh-keygen -Y verify -n boreal-label
import { z } from "zod";
import { descriptorPath, Federation, federationPath, signaturePath } from "../registry/format";
import { classifyPath, formatTrust, HeldState, parseTrust, Rejection, TrustAnchor, verifyRegistry } from "../registry/verify";
import { LABEL_NAMESPACE } from "../registry/sshsig";
import { problemsFromZod, withFix } from "../values/problems";
import { slug, typeError } from "../values/fields";
import {
  allowedSignerLines,
  ATTESTATIONS_DIR,
  checkAttestation,
  LabelRegistry,
  parseAttestation,
  parseAttestationPath,
} from "./attestation";
import { AttestationFile, evaluateLabel, LabelReport } from "./label";

export const SEAL_FORMAT = "boreal-seal/1";
export const SEAL_MANIFEST = "seal.json";
export const SEAL_SIGNERS = "allowed_signers";
export const SEAL_PAGE = "index.html";
export const SEAL_BADGE = "badge.svg";

export interface SealFile {
  path: string;
  content: string;
}

const PIN_FIX = "publish the seal again with boreal label publish; the pin is N:<64 hex digits>, as boreal:trust holds it";

const manifestSchema = z.strictObject({
  format: z.literal(SEAL_FORMAT, { error: withFix(`format is not ${SEAL_FORMAT}`, "publish the seal again with this kit") }),
  federation: z.strictObject(
    {
      name: z.string({ error: typeError("federation.name", "a string", "publish the seal again") }).max(64),
      version: z
        .number({ error: typeError("federation.version", "a number", "publish the seal again") })
        .int()
        .positive(),
      trust: z
        .string({ error: typeError("federation.trust", "a string", PIN_FIX) })
        .refine((t) => parseTrust(t) !== undefined, withFix("federation.trust is not N:SHA256", PIN_FIX)),
    },
    { error: typeError("federation", "a mapping", "give { name, version, trust }") },
  ),
  subject: z.strictObject(
    {
      member: slug("subject.member").optional(),
      nodes: z
        .array(slug("subject.nodes[]"), { error: typeError("subject.nodes", "a list", "name the seal's nodes") })
        .min(1, withFix("subject.nodes is empty", "a seal is for at least one node"))
        .max(64, withFix("subject.nodes has more than 64 nodes", "publish one seal per member")),
    },
    { error: typeError("subject", "a mapping", "give { nodes, member }") },
  ),
  publishedAt: z.string({ error: typeError("publishedAt", "a string", "publish the seal again") }).max(40),
  files: z
    .array(z.string({ error: typeError("files[]", "a string", "list the bundle's files by path") }).max(200), {
      error: typeError("files", "a list", "list the bundle's files by path"),
    })
    .max(4096, withFix("files lists more than 4096 files", "a seal holds one federation's registry objects and attestations")),
});

export type SealManifest = z.infer<typeof manifestSchema>;

/** seal.json as written: one spelling, like every signed or pinned file of the kit. */
export function renderSealManifest(manifest: SealManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function parseSealManifest(text: string): { ok: true; value: SealManifest } | { ok: false; problems: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`${SEAL_MANIFEST} is not JSON (${(error as Error).message.split("\n")[0]}): ${PIN_FIX}`] };
  }
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success)
    return { ok: false, problems: problemsFromZod(parsed.error, SEAL_MANIFEST, "").map((p) => `${p.key}: ${p.message} (fix: ${p.fix})`) };
  return { ok: true, value: parsed.data };
}

/** What a seal is for: one node, or every live node of one member. */
export type SealSubject = { node: string } | { member: string };

/** The nodes a seal covers, or why there are none (the message names the option to change). */
export function sealNodes(federation: Federation, subject: SealSubject): { nodes: string[] } | { problem: string; fix: string } {
  const live = federation.nodes;
  if ("node" in subject) {
    if (live.some((n) => n.node === subject.node)) return { nodes: [subject.node] };
    return {
      problem: `node ${subject.node} is no live node of federation ${federation.settings.name} version ${federation.settings.version}`,
      fix: `name one of its nodes: ${live.map((n) => n.node).join(", ") || "(none yet)"}`,
    };
  }
  const nodes = live.filter((n) => n.member === subject.member).map((n) => n.node);
  if (nodes.length > 0) return { nodes };
  const known = federation.settings.members.some((m) => m.name === subject.member);
  return {
    problem: known
      ? `member ${subject.member} has no live node in federation ${federation.settings.name} version ${federation.settings.version}`
      : `member ${subject.member} is no member of federation ${federation.settings.name} version ${federation.settings.version}`,
    fix: known
      ? "publish its seal once its node has joined (pulumi up)"
      : `name a member: ${federation.settings.members.map((m) => m.name).join(", ")}`,
  };
}

export interface SealSource {
  /** The registry's files by path, as the kit read them (federation/, nodes/). */
  registry: ReadonlyMap<string, string>;
  /** What verifyRegistry accepted from them. */
  held: HeldState;
  federation: Federation;
  anchor: TrustAnchor;
  attestations: AttestationFile[];
  nodes: string[];
  member?: string;
  at: Date;
}

/**
 * The bundle's files (index.html and badge.svg aside): the federation versions from the pin to
 * the current one with their signatures, every node object the registry holds (so the page
 * verifies the same registry: an attestation key counts only on a live node's descriptor),
 * the seal's attestations and the allowed_signers for ssh-keygen.
 */
export function sealContents(source: SealSource): { manifest: SealManifest; files: SealFile[] } {
  const files: SealFile[] = [];
  const { version } = source.federation.settings;
  for (let v = source.anchor.version; v <= version; v++) {
    const path = federationPath(v);
    for (const [p, content] of source.registry)
      if (p === path || (p.startsWith(`${path}.`) && p.endsWith(".sig"))) files.push({ path: p, content });
  }
  for (const [node, held] of Object.entries(source.held.nodes).sort(([a], [b]) => a.localeCompare(b))) {
    files.push({ path: descriptorPath(node), content: held.content });
    files.push({ path: signaturePath(descriptorPath(node)), content: held.signature });
  }
  const mine = source.attestations.filter((f) => source.nodes.some((n) => f.path.startsWith(`${ATTESTATIONS_DIR}/${n}/`)));
  files.push(...mine.map((f) => ({ path: f.path, content: f.content })));
  files.push({ path: SEAL_SIGNERS, content: `${allowedSignerLines(source.federation).join("\n")}\n` });
  files.sort((a, b) => a.path.localeCompare(b.path));
  const manifest: SealManifest = {
    format: SEAL_FORMAT,
    federation: { name: source.federation.settings.name, version, trust: formatTrust(source.anchor) },
    subject: { ...(source.member ? { member: source.member } : {}), nodes: source.nodes },
    publishedAt: source.at.toISOString(),
    files: files.map((f) => f.path),
  };
  return { manifest, files };
}

/** What the page shows first, per node. */
export type SealVerdict = "held" | "other-federation" | "tampered" | "wrong-key" | "withdrawn" | "expired" | "not-held" | "unreadable";

export interface NodeSeal {
  node: string;
  verdict: SealVerdict;
  /** The verdict in a sentence, for people. */
  headline: string;
  /** The kit's own report; absent when no federation could be trusted. */
  report?: LabelReport;
}

export interface SealJudgement {
  at: string;
  /** The pin the registry was verified from, and where it came from. */
  trust: { pin: string; from: "link" | "bundle" };
  federation?: { name: string; version: number; sha256: string };
  /** Registry objects of the bundle the verification refused (none in a bundle as published). */
  rejected: Rejection[];
  /** The seal's member (from seal.json) and the federation it says it counts against. */
  manifest?: SealManifest;
  nodes: NodeSeal[];
  /** Problems with the bundle itself (seal.json, a pin in the link). */
  problems: string[];
}

export interface SealInput {
  /** seal.json's text. */
  manifest: string;
  /** The files the manifest lists, as read (a missing one is simply absent). */
  files: SealFile[];
  /** A pin from the link to the page (#trust=N:SHA256), which wins over the bundle's own. */
  linkTrust?: string;
  at: Date;
}

const TAMPERED = [/^bad signature/, /^unsigned/, /not in the kit's canonical form/, /^is not valid JSON/, /^is not a JSON object/];
const WRONG_KEY = [/^signed by a key that is no member's/, /, but is signed with /, /the node's own member, which never counts$/];

function verdictOf(report: LabelReport): { verdict: SealVerdict; headline: string } {
  if (report.holds) return { verdict: "held", headline: `held since ${report.since}, until ${report.until} at the latest` };
  const refused = (patterns: RegExp[]) => report.notCounted.filter((r) => patterns.some((p) => p.test(r.reason)));
  const tampered = refused(TAMPERED);
  if (tampered.length > 0)
    return {
      verdict: "tampered",
      headline: `not held: ${tampered.map((r) => r.path).join(", ")} ${tampered.length === 1 ? "does" : "do"} not match ${tampered.length === 1 ? "its" : "their"} signature (changed after signing, or never signed)`,
    };
  const wrongKey = refused(WRONG_KEY);
  if (wrongKey.length > 0)
    return {
      verdict: "wrong-key",
      headline: `not held: ${wrongKey.map((r) => r.path).join(", ")} signed by a key that does not count for ${wrongKey.length === 1 ? "it" : "them"}`,
    };
  const withdrawn = report.votes.filter((v) => v.status === "withdrawn");
  if (withdrawn.length > 0)
    return {
      verdict: "withdrawn",
      headline: `not held: withdrawn by ${withdrawn.map((v) => `${v.member} (fails ${v.failing.map((f) => f.rule).join(", ")})`).join(", ")}`,
    };
  const expired = report.votes.filter((v) => v.status === "expired");
  const stale = report.notCounted.filter((r) => /^attests another descriptor/.test(r.reason));
  if (expired.length + stale.length > 0)
    return {
      verdict: "expired",
      headline: `not held: ${[...expired.map((v) => `${v.member}'s attestation ended ${v.until}`), ...stale.map((r) => `${r.path} is about an older descriptor`)].join(", ")}`,
    };
  return { verdict: "not-held", headline: report.summary };
}

/** The judgement of a bundle: the registry verified from the pin (the link's, else the bundle's), then each node's label. */
export function judgeSeal(input: SealInput): SealJudgement {
  const at = input.at.toISOString();
  const parsed = parseSealManifest(input.manifest);
  if (!parsed.ok) {
    return { at, trust: { pin: "", from: "bundle" }, rejected: [], nodes: [], problems: parsed.problems };
  }
  const manifest = parsed.value;
  const problems: string[] = [];
  let trust = { pin: manifest.federation.trust, from: "bundle" as "link" | "bundle" };
  if (input.linkTrust !== undefined) {
    if (parseTrust(input.linkTrust)) trust = { pin: input.linkTrust.trim(), from: "link" };
    else problems.push(`the link's #trust=${input.linkTrust} is not N:SHA256 (a version and 64 hex digits): the bundle's own pin is used`);
  }
  const anchor = parseTrust(trust.pin)!;
  const registry = input.files.filter((f) => classifyPath(f.path).kind !== "junk");
  const attestations = input.files.filter((f) => f.path.startsWith(`${ATTESTATIONS_DIR}/`));
  const verified = verifyRegistry({ sources: [{ name: "seal", files: registry }], trust: anchor });
  const base = { at, trust, manifest, rejected: verified.rejected, problems };
  if (!verified.federation) {
    const why = verified.rejected.map((r) => `${r.path}: ${r.reason}`).join("; ");
    return {
      ...base,
      nodes: manifest.subject.nodes.map((node) => ({
        node,
        verdict: "other-federation",
        headline: `not held here: the bundle's federation is not the one pinned by ${trust.pin.slice(0, 16)}… (${why})`,
      })),
    };
  }
  const labelRegistry: LabelRegistry = { federation: verified.federation, held: verified.held };
  return {
    ...base,
    federation: { name: verified.federation.settings.name, version: verified.version!.version, sha256: verified.version!.sha256 },
    nodes: manifest.subject.nodes.map((node) => {
      const report = evaluateLabel(node, labelRegistry, attestations, input.at);
      return { node, ...verdictOf(report), report };
    }),
  };
}

/** Two commands that check the same signatures with coreutils and OpenSSH alone, run in the bundle's directory. */
export function sealCommands(manifest: SealManifest, files: SealFile[], registry?: LabelRegistry): string[] {
  const anchor = parseTrust(manifest.federation.trust);
  const digests = [...(anchor ? [federationPath(anchor.version)] : []), ...manifest.subject.nodes.map(descriptorPath)];
  const statements = files.filter(
    (f) => parseAttestationPath(f.path) && manifest.subject.nodes.includes(parseAttestationPath(f.path)!.subject),
  );
  const verify = statements.map((f) => {
    const signature = files.find((s) => s.path === signaturePath(f.path))?.content;
    const check = registry ? checkAttestation({ path: f.path, content: f.content, signature }, registry) : undefined;
    const parsed = parseAttestation(f);
    const identity = check?.ok ? check.signer.member : parsed.ok ? parsed.value.predicate.checker.member : "MEMBER";
    return `ssh-keygen -Y verify -f ${SEAL_SIGNERS} -I ${identity} -n ${LABEL_NAMESPACE} -s ${signaturePath(f.path)} < ${f.path}`;
  });
  return [`sha256sum ${digests.join(" ")}`, ...verify];
}
