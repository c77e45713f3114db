// The label's test registry, shared by the label's tests and the seal's: the fixture
// federation (coop-a..d) and nodes re-signed with attestation keys made for the test (a1, b1,
// b2, a second node of coop-b, c1; d1 has none, so coop-d attests with its member key), and
// attest(), which signs an attestation as a checking node publishes it (the real
// `ssh-keygen -Y sign`). Importing it makes the keys and the registry before the file's tests.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { descriptorPath, NodeDescriptor, RegistryFile, signaturePath } from "../../src/core/registry/format";
import {
  Attestation,
  AttestationResult,
  attestationPath,
  buildAttestation,
  LabelRegistry,
  renderAttestation,
} from "../../src/core/label/attestation";
import type { AttestationFile } from "../../src/core/label/label";
import { liveFrom, RULES } from "../../src/core/label/rules";
import { Signer, signText } from "../../src/io/registry/sign";
import { LABEL_NAMESPACE } from "../../src/core/registry/sshsig";
import { verifyRegistry } from "../../src/core/registry/verify";
import { signedNodeObject } from "../../src/io/registry/write";
import { FIXTURE_FEDERATION, FIXTURE_NODES, withKeyProof } from "../fixtures/sign-fixtures";
import { armorBody, attestationProofStatement, NODE_PROOF_NAMESPACE } from "../../src/core/registry/keyproof";
import { fixtureRegistryFiles, fixtureSigner, fixtureTrustAnchor } from "./fixtures";

export const NOW = new Date("2026-11-21T12:00:00.000Z");
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const ago = (ms: number) => new Date(NOW.getTime() - ms);

export const work = mkdtempSync(join(tmpdir(), "boreal-label-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

export const ATTESTING_NODES = ["a1", "b1", "b2", "c1"] as const;
export const attestationKeyFile = (node: string) => join(work, "keys", node);
export const attestationKey = (node: string) =>
  readFileSync(`${attestationKeyFile(node)}.pub`, "utf8")
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(" ");
export let mallory: Signer;

export const fixtureNode = (node: string): NodeDescriptor => structuredClone(FIXTURE_NODES.find((n) => n.node === node)!);

/** The attestation key of a test node with its proof, made with that key for the node (src/core/registry/keyproof.ts). */
export function attestation(node: string): { attestationKey: string; attestationKeyProof: string } {
  const key = attestationKey(node);
  const statement = attestationProofStatement({ federation: FIXTURE_FEDERATION, node, attestationKey: key });
  return {
    attestationKey: key,
    attestationKeyProof: armorBody(signText(statement, { keyFile: attestationKeyFile(node) }, NODE_PROOF_NAMESPACE)),
  };
}

/** The test's nodes, each signed by its member with the fixture keys. */
export function testNodes(): NodeDescriptor[] {
  const b2 = withKeyProof({
    ...fixtureNode("b1"),
    node: "b2",
    endpoint: "198.51.100.22:51820",
    mesh: { ipv4: "100.64.0.18", ipv6: "fd42:b0:ea1::12" },
    zones: [],
    exporter: "100.64.0.18:9100",
  }) as NodeDescriptor;
  const d1 = withKeyProof({
    ...fixtureNode("a1"),
    member: "coop-d",
    node: "d1",
    endpoint: "198.51.100.14:51820",
    mesh: { ipv4: "100.64.0.49", ipv6: "fd42:b0:ea1::31" },
    zones: ["coop-d.example."],
    exporter: "100.64.0.49:9100",
  }) as NodeDescriptor;
  const withKey = (d: NodeDescriptor): NodeDescriptor => {
    const { updatedAt, ...rest } = d;
    return { ...rest, ...attestation(d.node), updatedAt };
  };
  return [withKey(fixtureNode("a1")), withKey(fixtureNode("b1")), withKey(b2), withKey(fixtureNode("c1")), d1];
}

export function nodeFiles(descriptor: NodeDescriptor, member = descriptor.member): RegistryFile[] {
  const { content, signature } = signedNodeObject(descriptor, fixtureSigner(member as "coop-a"));
  return [
    { path: descriptorPath(descriptor.node), content },
    { path: signaturePath(descriptorPath(descriptor.node)), content: signature },
  ];
}

export let registryFiles: RegistryFile[];
export let REGISTRY: LabelRegistry;

beforeAll(() => {
  mkdirSync(join(work, "keys"));
  for (const name of [...ATTESTING_NODES, "mallory-node"]) {
    const made = spawnSync(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", `boreal-kit TEST KEY ${name}, never use`, "-f", attestationKeyFile(name)],
      { encoding: "utf8" },
    );
    if (made.status !== 0) throw new Error(made.stderr);
  }
  mallory = fixtureSigner("mallory");
  registryFiles = [...fixtureRegistryFiles().filter((f) => f.path.startsWith("federation/")), ...testNodes().flatMap((d) => nodeFiles(d))];
  const verified = verifyRegistry({ sources: [{ name: "test", files: registryFiles }], trust: fixtureTrustAnchor() });
  if (verified.rejected.length > 0 || !verified.federation)
    throw new Error(`the test registry does not verify: ${JSON.stringify(verified.rejected)}`);
  REGISTRY = { federation: verified.federation, held: verified.held };
}, 60_000);

/** Every live check of the current rule set, passed. */
export const passAll = (): AttestationResult[] =>
  RULES.flatMap((r) => liveFrom(r).map((from) => ({ rule: r.id, passed: true, observedFrom: from, detail: "as expected" })));
export const failing = (rule: string, from: "mesh" | "underlay", detail: string): AttestationResult[] =>
  passAll().map((r) => (r.rule === rule && r.observedFrom === from ? { ...r, passed: false, detail } : r));

export const keyOf = (node: string): Signer => (node === "d1" ? fixtureSigner("coop-d") : { keyFile: attestationKeyFile(node) });
export const descriptorOf = (node: string) => REGISTRY.federation.nodes.find((n) => n.node === node)!;

export interface AttestOptions {
  subject?: string;
  observedAt?: Date;
  results?: AttestationResult[];
  key?: Signer;
  namespace?: string;
  /** Changes the statement before it is rendered and signed. */
  statement?: (s: Attestation) => void;
  /** Changes the content after it is signed. */
  edit?: (content: string) => string;
  path?: string;
}

/** attestations/<subject>/<checker>.json and its .sig, as `checker` publishes them. */
export function attest(checker: string, o: AttestOptions = {}): AttestationFile[] {
  const subject = o.subject ?? "a1";
  const ownMember = descriptorOf(checker).member === descriptorOf(subject).member;
  const { statement } = buildAttestation({
    subject: { descriptor: descriptorOf(subject), content: REGISTRY.held.nodes[subject].content },
    // The builder refuses a node's own member: the tests forge that case after building.
    checker: { member: ownMember ? "coop-z" : descriptorOf(checker).member, node: checker },
    observedAt: o.observedAt ?? ago(HOUR),
    validityDays: 7,
    results: o.results ?? passAll(),
  });
  if (ownMember) statement.predicate.checker.member = descriptorOf(checker).member;
  o.statement?.(statement);
  const content = renderAttestation(statement);
  const signature = signText(content, o.key ?? keyOf(checker), o.namespace ?? LABEL_NAMESPACE);
  const path = o.path ?? attestationPath(subject, checker);
  return [
    { path, content: o.edit ? o.edit(content) : content },
    { path: signaturePath(path), content: signature },
  ];
}
