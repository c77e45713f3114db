// Format numbers (src/core/registry/formats.ts) and the compatibility promise of
// docs/explanation/upgrades.md: release N reads everything release N−1 wrote, writes nothing
// N−1 cannot read unless the member uses a feature new in N, and an object a newer kit
// wrote is refused with "upgrade", while everything else of the registry goes on.
// The previous release's reader is the format table cut short (FORMATS.node.slice(0, 1)):
// the same code, knowing fewer formats, never a fake.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { stringify } from "yaml";
import {
  descriptorPath,
  federationPath,
  federationSignaturePath,
  parseFederationVersion,
  parseNodeObject,
  signaturePath,
} from "../../src/core/registry/format";
import {
  compareReleases,
  FORMATS,
  formatsOf,
  FormatStep,
  formatsRead,
  latestFormat,
  lowestFormat,
  readFormat,
  withFormat,
} from "../../src/core/registry/formats";
import { parseAttestation, PREDICATE_TYPE, predicateTypeFor } from "../../src/core/label/attestation";
import { REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import { formatRejection, VerifiedRegistry, verifyRegistry } from "../../src/core/registry/verify";
import { readRegistrySource, renderNodeObject, verifySources } from "../../src/io/registry/read";
import { renderFederation } from "../../src/io/registry/write";
import { signText } from "../../src/io/registry/sign";
import { FIXTURE_REGISTRY, fixtureRegistryCopy, fixtureSigner, fixtureTrustAnchor } from "../helpers/fixtures";

const work = mkdtempSync(join(tmpdir(), "boreal-formats-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;
const registryWith = (files: Record<string, string>): string => fixtureRegistryCopy(join(work, `registry-${++dirs}`), files);
const verifyDir = (dir: string, held?: VerifiedRegistry["held"]): VerifiedRegistry =>
  verifySources([readRegistrySource(dir, "mirror")], fixtureTrustAnchor(), held);
const fixtureText = (path: string) => readFileSync(join(FIXTURE_REGISTRY, path), "utf8");
/** An object's text with `line` as its first key (after the kit's comment line). */
const withFirstLine = (text: string, line: string) => text.replace(/\n/, `\n${line}\n`);
const UPGRADE = (n: number) =>
  `this object was written by a newer boreal-kit (format ${n}); upgrade to a kit that reads format ${n} (see docs/explanation/upgrades.md)`;

/** A format no reader of this kit knows, whatever formats later releases add. */
const NEWER = latestFormat(FORMATS.node) + 1;

describe("what the previous release wrote, this one reads (format 1, as every fixture)", () => {
  test("the fixture registry (written before formats existed) verifies: every node live, nothing refused", () => {
    const v = verifyDir(FIXTURE_REGISTRY);
    expect(v.rejected.map(formatRejection)).toEqual([]);
    expect(v.federation?.nodes.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
  });

  test.each(["a1", "b1", "c1"])("the writer writes node %s's fixture byte for byte (no format key): its signature stays valid", (node) => {
    const text = fixtureText(descriptorPath(node));
    const parsed = parseNodeObject({ path: descriptorPath(node), content: text });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(renderNodeObject(parsed.value)).toBe(text);
    expect(text).not.toMatch(/^format:/m);
  });

  test("the writer writes the federation version's fixture byte for byte (no format key)", () => {
    const text = fixtureText(federationPath(1));
    const parsed = parseFederationVersion({ path: federationPath(1), content: text });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(renderFederation(parsed.value)).toBe(text);
  });

  test("format: 1 written out reads as format 1 (absent and 1 are the same format)", () => {
    const parsed = parseNodeObject({ path: "nodes/a1.yaml", content: withFirstLine(fixtureText("nodes/a1.yaml"), "format: 1") });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.value).not.toHaveProperty("format");
  });

  test("this kit reads each kind's formats up to its table's last step", () => {
    expect(formatsRead()).toEqual({
      federation: FORMATS.federation.length,
      node: FORMATS.node.length,
      attestation: FORMATS.attestation.length,
      agent: FORMATS.agent.length,
    });
    for (const steps of Object.values(FORMATS)) for (const step of steps) expect(step.release).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("what a newer kit wrote is refused with the upgrade, naming the object and the field", () => {
  const previous = FORMATS.node.slice(0, 1);

  test("a format 2 descriptor, read by a reader limited to format 1 (the previous release)", () => {
    const content = withFirstLine(fixtureText("nodes/a1.yaml"), "format: 2");
    const parsed = parseNodeObject({ path: "nodes/a1.yaml", content }, "nodes/a1.yaml", previous);
    expect(parsed).toEqual({
      ok: false,
      newer: 2,
      problems: [
        {
          source: "nodes/a1.yaml",
          key: "format",
          message: UPGRADE(2),
          fix: "upgrade boreal-kit on this side (docs/how-to/upgrade.md); this kit reads format 1, and meanwhile keeps what it held of the object",
        },
      ],
    });
  });

  test("a federation version and an attestation of a newer format, read by a reader limited to format 1", () => {
    const federation = withFirstLine(fixtureText(federationPath(1)), "format: 2");
    const parsed = parseFederationVersion({ path: federationPath(1), content: federation }, undefined, FORMATS.federation.slice(0, 1));
    expect(parsed.ok === false && parsed.problems[0]).toMatchObject({ source: "federation/1.yaml", key: "format", message: UPGRADE(2) });

    const statement = JSON.stringify({ _type: "https://in-toto.io/Statement/v1", predicateType: predicateTypeFor(2), predicate: {} });
    const attestation = parseAttestation(
      { path: "attestations/a1/b1.json", content: statement },
      undefined,
      FORMATS.attestation.slice(0, 1),
    );
    expect(attestation.ok === false && attestation).toMatchObject({
      newer: 2,
      problems: [{ source: "attestations/a1/b1.json", key: "predicateType", message: UPGRADE(2) }],
    });
    expect(PREDICATE_TYPE).toBe("urn:boreal-kit:label-attestation:v1");
  });

  test("the current kit meets a newer descriptor: refused with the upgrade, the one it held stays, every other node goes on", () => {
    const held = verifyDir(FIXTURE_REGISTRY).held;
    const newer = withFirstLine(fixtureText("nodes/a1.yaml"), `format: ${NEWER}`).replace(/serial: \d+/, "serial: 1895168800");
    const dir = registryWith({ "nodes/a1.yaml": newer, "nodes/a1.yaml.sig": signText(newer, fixtureSigner("coop-a"), REGISTRY_NAMESPACE) });
    const v = verifyDir(dir, held);
    expect(v.rejected).toEqual([{ source: "mirror", path: "nodes/a1.yaml", reason: `format: ${UPGRADE(NEWER)}`, newer: NEWER }]);
    expect(v.federation?.nodes.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
    expect(v.held.nodes.a1.content).toBe(held.nodes.a1.content);
  });

  test("the current kit meets a newer federation version: it stays on the version it follows, every node goes on", () => {
    const next = withFirstLine(renderFederation({ ...parsedFederation(), version: 2 }), `format: ${latestFormat(FORMATS.federation) + 1}`);
    const signed = Object.fromEntries(
      (["coop-a", "coop-b", "coop-c"] as const).map((m) => [
        federationSignaturePath(2, m),
        signText(next, fixtureSigner(m), REGISTRY_NAMESPACE),
      ]),
    );
    const v = verifyDir(registryWith({ [federationPath(2)]: next, ...signed }));
    const newer = latestFormat(FORMATS.federation) + 1;
    expect(v.rejected).toEqual([{ source: "mirror", path: "federation/2.yaml", reason: `format: ${UPGRADE(newer)}`, newer }]);
    expect(v.version?.version).toBe(1);
    expect(v.federation?.nodes.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
  });

  test("a node on the first release (formatsOf 0.1.0) meets a signed format 2 descriptor: upgrade, the a1 it held stays, the rest goes on", () => {
    const first = formatsOf("0.1.0");
    const held = verifyDir(FIXTURE_REGISTRY).held;
    const newer = withFirstLine(fixtureText("nodes/a1.yaml"), "format: 2").replace(/serial: \d+/, "serial: 1895168800");
    const signature = signText(newer, fixtureSigner("coop-a"), REGISTRY_NAMESPACE);
    const dir = registryWith({ "nodes/a1.yaml": newer, "nodes/a1.yaml.sig": signature });
    const v = verifyRegistry({ sources: [readRegistrySource(dir, "mirror")], trust: fixtureTrustAnchor(), held, formats: first });
    expect(v.rejected).toEqual([{ source: "mirror", path: "nodes/a1.yaml", reason: `format: ${UPGRADE(2)}`, newer: 2 }]);
    expect(v.federation?.nodes.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
    expect(v.held.nodes.a1.content).toBe(held.nodes.a1.content);
    // What it held of a newer kit's object (a node gone back to an older kit) is dropped as such, and counted.
    const back = verifyRegistry({
      sources: [readRegistrySource(FIXTURE_REGISTRY, "mirror")],
      trust: fixtureTrustAnchor(),
      held: { ...held, nodes: { ...held.nodes, a1: { ...held.nodes.a1, serial: 1895168800, content: newer, signature } } },
      formats: first,
    });
    expect(back.rejected).toEqual([{ source: "held state", path: "nodes/a1.yaml", reason: `dropped: format: ${UPGRADE(2)}`, newer: 2 }]);
    expect(back.federation?.nodes.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
  });

  test("an unsigned object claiming a newer format is refused as unsigned: only a member's signature can make a node say upgrade", () => {
    const newer = withFirstLine(fixtureText("nodes/b1.yaml"), `format: ${NEWER}`);
    const dir = registryWith({ "nodes/b1.yaml": newer, "nodes/b1.yaml.sig": fixtureText(signaturePath("nodes/a1.yaml")) });
    const v = verifyDir(dir);
    expect(v.rejected).toEqual([{ source: "mirror", path: "nodes/b1.yaml", reason: expect.stringMatching(/^bad signature: /) }]);
  });
});

describe("hostile format numbers: a clear problem naming format, never a crash", () => {
  test.each<[string, RegExp]>([
    ['"2"', /^format "2" is not a format number: a whole number from 1 to 1000$/],
    ["-1", /^format -1 is not a format number/],
    ["0", /^format 0 is not a format number/],
    ["1.5", /^format 1\.5 is not a format number/],
    ["1e308", /^format 1e\+308 is not a format number/],
    ["18446744073709551616", /^format 18446744073709552000 is not a format number/],
    [".nan", /^format NaN is not a format number/],
    ["-.inf", /^format -Infinity is not a format number/],
    ["null", /^format null is not a format number/],
    ["true", /^format true is not a format number/],
    ["[ 2 ]", /^format \[2\] is not a format number/],
    ["{ major: 2 }", /^format \{"major":2\} is not a format number/],
    ["1001", /^format 1001 is not a format number/],
  ])("format: %s", (value, message) => {
    const parsed = parseNodeObject({ path: "nodes/a1.yaml", content: withFirstLine(fixtureText("nodes/a1.yaml"), `format: ${value}`) });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]).toMatchObject({ key: "format", message: expect.stringMatching(message) });
    expect(parsed.problems[0].fix).toMatch(/leave format out/);
    expect(parsed).not.toHaveProperty("newer");
  });

  test("format given twice is refused as a duplicate key, like any other", () => {
    const parsed = parseNodeObject({
      path: "nodes/a1.yaml",
      content: withFirstLine(fixtureText("nodes/a1.yaml"), "format: 1\nformat: 1"),
    });
    expect(parsed.ok === false && parsed.problems[0].message).toMatch(/the key format appears twice/);
  });

  test("an unknown field in a known format is still refused (strict: a field an old kit ignored could weaken a check)", () => {
    const parsed = parseNodeObject({
      path: "nodes/a1.yaml",
      content: withFirstLine(fixtureText("nodes/a1.yaml"), "format: 1\nrelays: []"),
    });
    expect(parsed.ok === false && parsed.problems[0]).toMatchObject({ key: "(root)", message: "unknown field(s) relays" });
  });
});

describe("the pattern for a new optional field: one step appended to its kind's table", () => {
  // As the kit will do it: FORMATS.node gains { release, fields: ["someField"] } and the
  // descriptor's schema gains someField (optional). A field no schema has stands in for it here.
  const current = FORMATS.node;
  const next: readonly FormatStep[] = [...current, { release: "9.9.9", fields: ["futureField"] }];
  const added = latestFormat(next);
  const plain = { member: "coop-a", node: "a1", serial: 1 };

  test("an object without the field is written as before: no format key, the same bytes", () => {
    expect(withFormat(plain, next)).toEqual(plain);
    expect(stringify(withFormat(plain, next))).toBe(stringify(plain));
    expect(lowestFormat(plain, next)).toBe(1);
  });

  test("an object with it is written in the new format, format first; the new reader reads it, the previous one says upgrade", () => {
    const written = withFormat({ ...plain, futureField: ["x"] }, next);
    expect(Object.entries(written)[0]).toEqual(["format", added]);
    const { format, ...fields } = written as typeof written & { format: number };
    const where = { source: "nodes/a1.yaml", field: "format" };
    expect(readFormat(format, fields, next, where)).toEqual({ ok: true, format: added });
    expect(readFormat(format, fields, current, where)).toMatchObject({
      ok: false,
      newer: added,
      problem: { key: "format", message: UPGRADE(added) },
    });
  });

  test("the new field in an object that does not say the new format is refused, naming the field", () => {
    const reading = readFormat(undefined, { ...plain, futureField: ["x"] }, next, { source: "nodes/a1.yaml", field: "format" });
    expect(reading).toEqual({
      ok: false,
      problem: {
        source: "nodes/a1.yaml",
        key: "futureField",
        message: `futureField is a field of format ${added}, but the object says no format (1)`,
        fix: `write format: ${added} in it (the kit does), or leave futureField out`,
      },
    });
  });

  test("formatsOf a release: each kind's steps up to it, in the order of semantic versions", () => {
    const table = { ...FORMATS, node: next };
    expect(formatsOf("0.1.0", table).node).toEqual(current.filter((step) => compareReleases(step.release, "0.1.0") <= 0));
    expect(formatsOf("9.9.9", table).node).toEqual(next);
    expect(formatsOf("9.10.0", table).node).toEqual(next);
    expect(formatsOf("9.9.8", table).node).toEqual(current);
    expect(compareReleases("0.10.0", "0.9.1")).toBeGreaterThan(0);
    expect(compareReleases("1.0.0", "1.0.0")).toBe(0);
  });

  test("a stale format on the object is written anew from its fields", () => {
    expect(withFormat({ format: 7, ...plain }, next)).toEqual(plain);
  });
});

function parsedFederation() {
  const parsed = parseFederationVersion({ path: federationPath(1), content: fixtureText(federationPath(1)) });
  if (!parsed.ok) throw new Error("the fixture federation version does not parse");
  return parsed.value;
}
