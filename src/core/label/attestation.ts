// A peer's attestation of a node: an in-toto Statement v1 (JSON), signed with
// `ssh-keygen -Y sign -n boreal-label`, published in the registry beside the nodes as
//
//   attestations/<subject node>/<checker node>.json      the statement
//   attestations/<subject node>/<checker node>.json.sig   its SSHSIG signature
//
// The subject is the node as its member's signed descriptor says: name "node:<node>",
// digest the sha256 of nodes/<node>.yaml's bytes, and (annotations) its member and
// WireGuard key. A new descriptor (rotation, new zone) makes older attestations stale.
// The predicate holds the rule-set version and digest, who checked (member and node),
// when, until when, and one result per rule and place it was observed from.
//
// Who signs. A checking node must never hold its member's registry signing key. So a
// node's descriptor (signed by its member) may list an `attestationKey`, an ssh-ed25519
// key made on the node: an attestation counts for member M when signed by the
// attestationKey of a live node whose verified descriptor is M's, or by one of M's
// member keys in the current federation version (a person checking by hand).
//
// Pure: this module parses, builds and checks; ./files.ts reads and signs the files.
// Hostile input: size-capped, strict schema, and one canonical rendering only (no
// duplicate keys or second spelling of a signed statement).
import { createHash } from "node:crypto";
import { z } from "zod";
import { ConfigProblem, problemsFromZod, withFix } from "../values/problems";
import { typeError, slug, wireguardKey } from "../values/fields";
import { Federation, MAX_OBJECT_BYTES, NodeDescriptor, Parsed, signaturePath } from "../registry/format";
import { FORMATS, FormatStep, lowestFormat, readFormat } from "../registry/formats";
import { LABEL_NAMESPACE, verifySignature } from "../registry/sshsig";
import { heldNode, type HeldState } from "../registry/verify";
import { liveFrom, ObservedFrom, ruleById, RULE_SET_DIGEST, RULE_SET_VERSION } from "./rules";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
/**
 * The kit's predicate: a URN, since the kit has no web address of its own to promise. Its
 * `:v<N>` is the attestation's format (src/core/registry/formats.ts), the in-toto way: a
 * Statement has no room for a `format` key of its own, and a predicate's type says its version.
 */
export const PREDICATE_TYPE_PREFIX = "urn:boreal-kit:label-attestation:v";
export const predicateTypeFor = (format: number): string => `${PREDICATE_TYPE_PREFIX}${format}`;
/** Format 1's predicate type: what every attestation that needs no later format carries. */
export const PREDICATE_TYPE = predicateTypeFor(1);
export const ATTESTATIONS_DIR = "attestations";
/** Like any registry object: nothing legitimate comes close (ten results are about 3 KiB). */
export const MAX_ATTESTATION_BYTES = MAX_OBJECT_BYTES;
export const MAX_DETAIL_CHARS = 500;
const DAY_MS = 86_400_000;

export function attestationPath(subject: string, checker: string): string {
  return `${ATTESTATIONS_DIR}/${subject}/${checker}.json`;
}

/** attestations/<subject>/<checker>.json → its two nodes; undefined for anything else. */
export function parseAttestationPath(path: string): { subject: string; checker: string } | undefined {
  const m = new RegExp(`^${ATTESTATIONS_DIR}/([a-z0-9][a-z0-9-]{0,31})/([a-z0-9][a-z0-9-]{0,31})\\.json$`).exec(path);
  return m ? { subject: m[1], checker: m[2] } : undefined;
}

const TIME_FIX = "write a UTC time as the kit does (Date.toISOString), e.g. 2026-11-20T10:00:00.000Z";
const isoTime = (what: string) =>
  z.string({ error: typeError(what, "a string", TIME_FIX) }).refine(
    (t) => {
      const ms = Date.parse(t);
      return !Number.isNaN(ms) && new Date(ms).toISOString() === t;
    },
    withFix(`${what} is not a UTC time in the form 2026-11-20T10:00:00.000Z`, TIME_FIX),
  );

const PREDICATE_TYPE_PATTERN = /^urn:boreal-kit:label-attestation:v([1-9][0-9]{0,3})$/;

const RESULT_FIX = "one result per rule and place: { rule, passed, observedFrom: mesh|underlay, detail }";
const resultSchema = z.strictObject({
  rule: z
    .string({ error: typeError("rule", "a string", "name the rule by its id in src/core/label/rules.ts, e.g. dnssec-valid") })
    .regex(
      /^[a-z0-9]+(-[a-z0-9]+)*$/,
      withFix("rule is not a rule id (kebab-case)", "name the rule by its id in src/core/label/rules.ts, e.g. dnssec-valid"),
    )
    .max(64, withFix("rule is longer than 64 characters", "name the rule by its id in src/core/label/rules.ts")),
  passed: z.boolean({ error: typeError("passed", "true or false", "say whether the check passed: passed: true or passed: false") }),
  observedFrom: z.enum(["mesh", "underlay"], {
    error: withFix('observedFrom must be "mesh" or "underlay"', "say where the check ran from: over the mesh or over the underlay"),
  }),
  detail: z
    .string({ error: typeError("detail", "a string", "say in a few words what was observed") })
    .max(MAX_DETAIL_CHARS, withFix(`detail is longer than ${MAX_DETAIL_CHARS} characters`, "keep it to what was observed, in a line")),
});

export const attestationSchema = z
  .strictObject({
    _type: z.literal(STATEMENT_TYPE, { error: withFix(`_type is not ${STATEMENT_TYPE}`, "an attestation is an in-toto Statement v1") }),
    subject: z
      .array(
        z.strictObject({
          name: z
            .string({ error: typeError("subject[].name", "a string", 'name the node as "node:<node>"') })
            .regex(
              /^node:[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/,
              withFix('subject[].name is not "node:<node>"', 'name the node as "node:<node>", e.g. "node:a1"'),
            ),
          digest: z.strictObject(
            {
              sha256: z
                .string({ error: typeError("subject[].digest.sha256", "a string", "give the sha256 of nodes/<node>.yaml's bytes") })
                .regex(
                  /^[0-9a-f]{64}$/,
                  withFix("subject[].digest.sha256 is not 64 hex digits", "give the sha256 of nodes/<node>.yaml's bytes (sha256sum)"),
                ),
            },
            { error: typeError("subject[].digest", "a mapping", "give { sha256: <hex of nodes/<node>.yaml> }") },
          ),
          annotations: z.strictObject(
            { member: slug("subject[].annotations.member"), wireguardPublicKey: wireguardKey("subject[].annotations.wireguardPublicKey") },
            {
              error: typeError(
                "subject[].annotations",
                "a mapping",
                "give the node's member and WireGuard public key, as its descriptor says",
              ),
            },
          ),
        }),
        { error: typeError("subject", "a list", "the subject is a list of one node") },
      )
      .length(1, withFix("subject must list exactly one node", "make one attestation per node")),
    // Any format this kit reads: parseAttestation has read the number already (readFormat).
    predicateType: z
      .string({ error: withFix(`predicateType is not ${PREDICATE_TYPE}`, "a label attestation has the kit's predicate type") })
      .regex(PREDICATE_TYPE_PATTERN, withFix(`predicateType is not ${PREDICATE_TYPE}`, "a label attestation has the kit's predicate type")),
    predicate: z.strictObject(
      {
        ruleSet: z.strictObject(
          {
            version: z
              .string({ error: typeError("predicate.ruleSet.version", "a string", 'name the rule-set version, e.g. "1"') })
              .regex(
                /^[1-9][0-9]{0,5}$/,
                withFix("predicate.ruleSet.version is not a version number", 'name the rule-set version, e.g. "1"'),
              ),
            digest: z
              .string({ error: typeError("predicate.ruleSet.digest", "a string", "give the rule set's digest (RULE_SET_DIGEST)") })
              .regex(
                /^sha256:[0-9a-f]{64}$/,
                withFix("predicate.ruleSet.digest is not sha256:<64 hex digits>", "give the rule set's digest (RULE_SET_DIGEST)"),
              ),
          },
          { error: typeError("predicate.ruleSet", "a mapping", "give { version, digest } of the rule set checked against") },
        ),
        checker: z.strictObject(
          { member: slug("predicate.checker.member"), node: slug("predicate.checker.node") },
          { error: typeError("predicate.checker", "a mapping", "give the checking member and node: { member, node }") },
        ),
        observedAt: isoTime("predicate.observedAt"),
        validUntil: isoTime("predicate.validUntil"),
        results: z
          .array(resultSchema, { error: typeError("predicate.results", "a list", RESULT_FIX) })
          .min(1, withFix("predicate.results is empty", RESULT_FIX))
          .max(64, withFix("predicate.results has more than 64 results", RESULT_FIX)),
      },
      { error: typeError("predicate", "a mapping", "give ruleSet, checker, observedAt, validUntil and results") },
    ),
  })
  .superRefine((a, ctx) => {
    const p = a.predicate;
    if (Date.parse(p.validUntil) <= Date.parse(p.observedAt)) {
      ctx.addIssue({
        code: "custom",
        path: ["predicate", "validUntil"],
        message: withFix(
          "predicate.validUntil is not after predicate.observedAt",
          "an attestation is valid from when it was observed until a later time",
        ),
      });
    }
    const seen = new Set<string>();
    p.results.forEach((r, i) => {
      const key = `${r.rule} ${r.observedFrom}`;
      if (seen.has(key))
        ctx.addIssue({
          code: "custom",
          path: ["predicate", "results", i],
          message: withFix(`rule ${r.rule} from ${r.observedFrom} has two results`, RESULT_FIX),
        });
      seen.add(key);
    });
  });

export type Attestation = z.infer<typeof attestationSchema>;
export type AttestationResult = Attestation["predicate"]["results"][number];

/** The one rendering of a statement: what is signed, and the only form that is accepted. */
export function renderAttestation(statement: Attestation): string {
  return `${JSON.stringify(statement, null, 2)}\n`;
}

export function sha256Hex(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex");
}

/**
 * Reads one statement (untrusted): problems name the file, the field and the fix. `formats`:
 * the attestation formats this reader knows (src/core/registry/formats.ts); a shorter table
 * reads as an older kit would.
 */
export function parseAttestation(
  file: { path: string; content: string },
  where: string = file.path,
  formats: readonly FormatStep[] = FORMATS.attestation,
): Parsed<Attestation> {
  const problem = (message: string, fix: string): Parsed<Attestation> => ({
    ok: false,
    problems: [{ source: where, key: "(file)", message, fix }],
  });
  if (Buffer.byteLength(file.content) > MAX_ATTESTATION_BYTES)
    return problem(`is larger than ${MAX_ATTESTATION_BYTES} bytes`, "an attestation is a few KiB: replace it");
  let data: unknown;
  try {
    data = JSON.parse(file.content);
  } catch (error) {
    return problem(
      `is not valid JSON: ${(error as Error).message.split("\n")[0]}`,
      "the agent writes attestations: replace it with what it signed",
    );
  }
  if (data === null || typeof data !== "object" || Array.isArray(data))
    return problem("is not a JSON object", "an attestation is an in-toto Statement (a JSON object)");
  // The format first, from the predicate type: a newer kit's statement is refused as such.
  const declared = PREDICATE_TYPE_PATTERN.exec(String((data as { predicateType?: unknown }).predicateType));
  if (declared) {
    const reading = readFormat(Number(declared[1]), data as Record<string, unknown>, formats, { source: where, field: "predicateType" });
    if (!reading.ok) return { ok: false, problems: [reading.problem], ...(reading.newer === undefined ? {} : { newer: reading.newer }) };
  }
  const parsed = attestationSchema.safeParse(data);
  if (!parsed.success) return { ok: false, problems: problemsFromZod(parsed.error, where, "") };
  if (renderAttestation(parsed.data) !== file.content) {
    return problem(
      "is not in the kit's canonical form (key order, 2-space indent, one final newline)",
      "sign exactly what renderAttestation writes; a statement has one spelling",
    );
  }
  return { ok: true, value: parsed.data };
}

export interface AttestationInput {
  /** The node checked: its verified descriptor and the exact bytes of nodes/<node>.yaml. */
  subject: { descriptor: NodeDescriptor; content: string };
  checker: { member: string; node: string };
  observedAt: Date;
  /** How long it counts: the federation's label.validityDays (./label.ts labelSettings). */
  validityDays: number;
  results: AttestationResult[];
}

/**
 * The statement a checking node signs. Throws when the input could never count: a rule the
 * current rule set does not have, a place it is not checked from, the node's own member.
 */
export function buildAttestation(input: AttestationInput): { statement: Attestation; content: string } {
  const { descriptor, content } = input.subject;
  if (input.checker.member === descriptor.member)
    throw new Error(`member ${descriptor.member} cannot attest its own node ${descriptor.node}: its own member never counts`);
  const problems = resultProblems(input.results);
  if (problems.length > 0) throw new Error(`attestation of ${descriptor.node}: ${problems.join("; ")}`);
  const predicate = {
    ruleSet: { version: RULE_SET_VERSION, digest: RULE_SET_DIGEST },
    checker: { member: input.checker.member, node: input.checker.node },
    observedAt: input.observedAt.toISOString(),
    validUntil: new Date(input.observedAt.getTime() + input.validityDays * DAY_MS).toISOString(),
    results: input.results.map((r) => ({ rule: r.rule, passed: r.passed, observedFrom: r.observedFrom, detail: r.detail })),
  };
  const statement = {
    _type: STATEMENT_TYPE,
    subject: [
      {
        name: `node:${descriptor.node}`,
        digest: { sha256: sha256Hex(content) },
        annotations: { member: descriptor.member, wireguardPublicKey: descriptor.publicKey },
      },
    ],
    // The lowest format that expresses it (src/core/registry/formats.ts): v1 unless it uses a later field.
    predicateType: predicateTypeFor(lowestFormat({ predicate }, FORMATS.attestation)),
    predicate,
  };
  const parsed = attestationSchema.safeParse(statement);
  if (!parsed.success)
    throw new Error(
      `attestation of ${descriptor.node} would not be valid: ${describeProblems(problemsFromZod(parsed.error, "statement", ""))}`,
    );
  return { statement: parsed.data, content: renderAttestation(parsed.data) };
}

/** Results that do not fit the current rule set: unknown rules, places a rule is not checked from. */
export function resultProblems(results: { rule: string; observedFrom: ObservedFrom }[]): string[] {
  return results.flatMap((r) => {
    const rule = ruleById(r.rule);
    if (!rule) return [`rule ${r.rule} is not in rule set ${RULE_SET_VERSION}`];
    const from = liveFrom(rule);
    if (!from.includes(r.observedFrom)) {
      return [
        `rule ${r.rule} is ${from.length ? `checked from the ${from.join(" and ")} only` : "checked at plan time only"} in rule set ${RULE_SET_VERSION}, not observed from the ${r.observedFrom}`,
      ];
    }
    return [];
  });
}

const describeProblems = (problems: ConfigProblem[]) =>
  problems.map((p) => `${p.key === "(file)" ? "" : `${p.key}: `}${p.message} (fix: ${p.fix})`).join("; ");

/** The registry the label is judged against: what verifyRegistry accepted. */
export interface LabelRegistry {
  federation: Federation;
  /** The exact bytes of each node's accepted descriptor (verifyRegistry's held.nodes). */
  held: HeldState;
}

export interface AttestationSigner {
  member: string;
  /** The node whose attestationKey signed; absent when a member key signed. */
  node?: string;
  key: string;
}

/** Every key whose attestations count, and for whom: member keys, then live nodes' attestation keys. */
export function attestationSigners(federation: Federation): Map<string, AttestationSigner> {
  const signers = new Map<string, AttestationSigner>();
  for (const m of federation.settings.members) for (const key of m.keys) signers.set(key, { member: m.name, key });
  for (const n of federation.nodes) {
    if (n.attestationKey && !signers.has(n.attestationKey))
      signers.set(n.attestationKey, { member: n.member, node: n.node, key: n.attestationKey });
  }
  return signers;
}

/**
 * allowed_signers lines for `ssh-keygen -Y verify -n boreal-label`: every member key under its
 * member, every live node's attestation key under its member and node@member.
 */
export function allowedSignerLines(federation: Federation): string[] {
  return [...attestationSigners(federation).values()].map((signer) => {
    const principals = signer.node ? `${signer.member},${signer.node}@${signer.member}` : signer.member;
    return `${principals} namespaces="${LABEL_NAMESPACE}" ${signer.key}`;
  });
}

export type AttestationCheck = { ok: true; attestation: Attestation; signer: AttestationSigner } | { ok: false; reason: string };

/**
 * One attestation file against the verified registry: its place, form, signature (label
 * namespace), signer, checker and subject. Never throws. Freshness, the rule set and the
 * node's own member are the label's business (./label.ts).
 */
export function checkAttestation(file: { path: string; content: string; signature?: string }, registry: LabelRegistry): AttestationCheck {
  const fail = (reason: string): AttestationCheck => ({ ok: false, reason });
  const place = parseAttestationPath(file.path);
  if (!place) return fail(`is not an attestation's place (${attestationPath("<node>", "<checker node>")})`);
  const parsed = parseAttestation(file);
  if ("problems" in parsed) return fail(describeProblems(parsed.problems));
  const attestation = parsed.value;
  if (file.signature === undefined) return fail(`unsigned: ${signaturePath(file.path)} is missing`);
  const check = verifySignature({ message: file.content, signature: file.signature, namespace: LABEL_NAMESPACE });
  if ("reason" in check) return fail(`bad signature: ${check.reason}`);
  const { federation } = registry;
  const signer = attestationSigners(federation).get(check.publicKey);
  if (!signer)
    return fail(
      `signed by a key that is no member's in federation version ${federation.settings.version} and no live node's attestationKey (${check.publicKey})`,
    );

  const { checker } = attestation.predicate;
  const signedAs = signer.node
    ? `the attestation key of node ${signer.node} (member ${signer.member})`
    : `a key of member ${signer.member}`;
  if (checker.member !== signer.member) return fail(`says member ${checker.member} checked, but is signed with ${signedAs}`);
  if (signer.node !== undefined && checker.node !== signer.node)
    return fail(`says node ${checker.node} checked, but is signed with ${signedAs}`);
  if (!federation.nodes.some((n) => n.node === checker.node && n.member === signer.member))
    return fail(`says node ${checker.node} checked, which is no live node of member ${signer.member}`);
  if (place.checker !== checker.node) return fail(`is filed as node ${place.checker}'s, but says node ${checker.node} checked`);

  const subject = attestation.subject[0];
  const named = subject.name.slice("node:".length);
  if (named !== place.subject)
    return fail(`is about node ${named}, not ${place.subject}: an attestation of one node never counts for another`);
  const descriptor = federation.nodes.find((n) => n.node === named);
  const content = heldNode(registry.held, named)?.content;
  if (!descriptor || content === undefined) return fail(`is about node ${named}, which is no live node of the registry`);
  const current = sha256Hex(content);
  if (subject.digest.sha256 !== current) {
    return fail(
      `attests another descriptor of ${named} (sha256 ${subject.digest.sha256.slice(0, 12)}…), not its current one (sha256 ${current.slice(0, 12)}…, serial ${descriptor.serial}): stale or replayed`,
    );
  }
  if (subject.annotations.member !== descriptor.member || subject.annotations.wireguardPublicKey !== descriptor.publicKey) {
    return fail(
      `subject says member ${subject.annotations.member} and key ${subject.annotations.wireguardPublicKey}, but the descriptor says ${descriptor.member} and ${descriptor.publicKey}`,
    );
  }
  return { ok: true, attestation, signer };
}
