// The label (src/label): the rule set, attestations (in-toto statements signed with the real
// `ssh-keygen -Y sign` in the label namespace), and evaluateLabel's counting, expiry and
// refusals; the `boreal label` CLI in-process; plain `ssh-keygen -Y verify` agreeing with
// the kit. The registry: the fixture federation (coop-a..d) and nodes re-signed here with
// attestation keys made for the test: a1, b1, b2 (a second node of coop-b), c1; d1 has
// none, so coop-d attests with its member key.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parseFederationVersion, parseNodeObject } from "../../src/core/registry/format";
import { runLabel } from "../../src/cli/label";
import {
  Attestation,
  buildAttestation,
  checkAttestation,
  MAX_ATTESTATION_BYTES,
  parseAttestation,
  PREDICATE_TYPE,
  STATEMENT_TYPE,
} from "../../src/core/label/attestation";
import { readAttestations, signAttestation, writeAttestation } from "../../src/io/label/files";
import { AttestationFile, CLOCK_SKEW_MS, evaluateLabel, LABEL_DEFAULTS, labelSettings } from "../../src/core/label/label";
import { labelRequirements, RULE_SET_DIGEST, RULE_SET_VERSION, ruleSetDigest, RULES } from "../../src/core/label/rules";
import { buildDescriptor } from "../../src/core/node/descriptor";
import { plan } from "../../src/core/node/plan";
import { LABEL_NAMESPACE, REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import { formatTrust, verifyRegistry } from "../../src/core/registry/verify";
import { FIXTURE_NODES } from "../fixtures/sign-fixtures";
import { fixtureFederation, fixtureRegistryFiles, fixtureSigner, fixtureSpec, fixtureTrustAnchor } from "../helpers/fixtures";
import {
  ago,
  attest,
  attestation,
  attestationKey,
  attestationKeyFile,
  DAY,
  descriptorOf,
  failing,
  HOUR,
  keyOf,
  mallory,
  NOW,
  nodeFiles,
  passAll,
  REGISTRY,
  registryFiles,
  testNodes,
  work,
} from "../helpers/label-fixture";

const GENERIC_FIX = /^(correct the value|set it); see docs\/reference\/registry\.md$/;

const label = (files: AttestationFile[][], at = NOW, registry = REGISTRY) => evaluateLabel("a1", registry, files.flat(), at);
const votesOf = (r: ReturnType<typeof label>) => r.votes.map((v) => `${v.member}:${v.node}:${v.status}`);

/** Exactly these files not counted, each with its reason. */
function expectNotCounted(r: ReturnType<typeof label>, expected: [path: string, reason: RegExp][]): void {
  const shown = JSON.stringify(r.notCounted, null, 1);
  expect(r.notCounted, shown).toHaveLength(expected.length);
  for (const [path, reason] of expected)
    expect(
      r.notCounted.some((x) => x.path === path && reason.test(x.reason)),
      `${path} ${reason} in ${shown}`,
    ).toBe(true);
}

describe("the rule set", () => {
  test("each rule has a kebab-case id of its own, a one-line rationale, a level and checks", () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    for (const r of RULES) {
      expect(r.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(r.rationale).toMatch(/^[A-Z][^\n]{10,140}\.$/);
      expect(["mandatory", "advisory"]).toContain(r.level);
      expect(r.checks.length).toBeGreaterThan(0);
    }
    expect(RULES.map((r) => `${r.id} ${r.level} ${r.checks.map((c) => c.at).join(",")}`)).toEqual([
      "keys-stay-on-node mandatory plan",
      "underlay-declared-only mandatory plan,live-underlay",
      "mesh-only-internals mandatory plan,live-underlay",
      "dnssec-valid mandatory plan,live-underlay",
      "zones-replicated advisory live-mesh",
      "serial-agrees advisory live-mesh",
      "state-self-hosted mandatory plan",
      "no-public-resolver mandatory plan",
      "descriptor-current mandatory plan,live-mesh",
      "time-synchronised mandatory live-mesh",
    ]);
  });

  test("the label needs every mandatory rule's live checks, from each place, and nothing advisory", () => {
    expect(labelRequirements().map((r) => `${r.rule}@${r.from}`)).toEqual([
      "underlay-declared-only@underlay",
      "mesh-only-internals@underlay",
      "dnssec-valid@underlay",
      "descriptor-current@mesh",
      "time-synchronised@mesh",
    ]);
  });

  // Changing a rule's id, level or checks changes this digest: then bump RULE_SET_VERSION
  // and add the new version's digest here. Prose (rationale, what) may change freely.
  test("version 1 means exactly this rule set (its digest), so no rule bends quietly", () => {
    expect(RULE_SET_VERSION).toBe("1");
    expect(RULE_SET_DIGEST).toBe(
      ruleSetDigest(RULES.map((r) => ({ ...r, rationale: "other words", checks: r.checks.map((c) => ({ ...c, what: "other words" })) }))),
    );
    expect(ruleSetDigest(RULES.map((r) => (r.id === "serial-agrees" ? { ...r, level: "mandatory" } : r)))).not.toBe(RULE_SET_DIGEST);
    expect(RULE_SET_DIGEST).toBe(
      "sha256:" +
        createHash("sha256")
          .update(JSON.stringify(RULES.map((r) => ({ id: r.id, level: r.level, checks: r.checks.map((c) => c.at) }))))
          .digest("hex"),
    );
    expect(RULE_SET_DIGEST).toBe("sha256:2260d8c109bbb6eac62ddf7ae9b365409cbf294934fc83f26a92aa992578e016");
  });
});

describe("attestations", () => {
  test("an in-toto Statement v1 about the node's current descriptor, with the checker, the times and the results", () => {
    const [file] = attest("b1");
    const parsed = parseAttestation(file);
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    const s = (parsed as { value: Attestation }).value;
    expect(s._type).toBe(STATEMENT_TYPE);
    expect(s.predicateType).toBe(PREDICATE_TYPE);
    expect(s.subject).toEqual([
      {
        name: "node:a1",
        digest: { sha256: createHash("sha256").update(REGISTRY.held.nodes.a1.content).digest("hex") },
        annotations: { member: "coop-a", wireguardPublicKey: FIXTURE_NODES[0].publicKey },
      },
    ]);
    expect(s.predicate).toMatchObject({
      ruleSet: { version: RULE_SET_VERSION, digest: RULE_SET_DIGEST },
      checker: { member: "coop-b", node: "b1" },
      observedAt: ago(HOUR).toISOString(),
      validUntil: new Date(ago(HOUR).getTime() + 7 * DAY).toISOString(),
    });
    expect(s.predicate.results).toEqual(passAll());
    expect(file.path).toBe("attestations/a1/b1.json");
  });

  test("the builder refuses what could never count", () => {
    const input = {
      subject: { descriptor: descriptorOf("a1"), content: REGISTRY.held.nodes.a1.content },
      observedAt: NOW,
      validityDays: 7,
    };
    expect(() => buildAttestation({ ...input, checker: { member: "coop-a", node: "a1" }, results: passAll() })).toThrow(
      /member coop-a cannot attest its own node a1/,
    );
    expect(() =>
      buildAttestation({
        ...input,
        checker: { member: "coop-b", node: "b1" },
        results: [{ rule: "be-nice", passed: true, observedFrom: "mesh", detail: "" }],
      }),
    ).toThrow(/rule be-nice is not in rule set 1/);
    expect(() =>
      buildAttestation({
        ...input,
        checker: { member: "coop-b", node: "b1" },
        results: [{ rule: "dnssec-valid", passed: true, observedFrom: "mesh", detail: "" }],
      }),
    ).toThrow(/rule dnssec-valid is checked from the underlay only in rule set 1, not observed from the mesh/);
    expect(() =>
      buildAttestation({
        ...input,
        checker: { member: "coop-b", node: "b1" },
        results: [{ rule: "keys-stay-on-node", passed: true, observedFrom: "mesh", detail: "" }],
      }),
    ).toThrow(/checked at plan time only/);
    expect(() => buildAttestation({ ...input, checker: { member: "coop-b", node: "b1" }, results: [] })).toThrow(
      /predicate.results: predicate.results is empty/,
    );
  });

  test("signAttestation and writeAttestation: the statement and its SSHSIG in the label namespace, at the registry path", () => {
    const [file] = attest("c1");
    const statement = (parseAttestation(file) as { value: Attestation }).value;
    const signed = signAttestation(statement, keyOf("c1"));
    expect(signed).toMatchObject({ path: "attestations/a1/c1.json", content: file.content, signaturePath: "attestations/a1/c1.json.sig" });
    expect(checkAttestation({ path: signed.path, content: signed.content, signature: signed.signature }, REGISTRY)).toMatchObject({
      ok: true,
      signer: { member: "coop-c", node: "c1" },
    });
    const dir = join(work, "written");
    expect(writeAttestation(dir, statement, keyOf("c1"))).toBe("attestations/a1/c1.json");
    expect(readAttestations(dir)).toEqual({
      files: [
        { path: "attestations/a1/c1.json", content: signed.content },
        { path: "attestations/a1/c1.json.sig", content: signed.signature },
      ],
      unreadable: [],
    });
  });

  test("reading attestations/ refuses symlinks and stray files by name", () => {
    const dir = join(work, "links");
    mkdirSync(join(dir, "attestations", "a1"), { recursive: true });
    writeFileSync(join(dir, "attestations", "a1", "b1.json"), "{}");
    symlinkSync("/etc/passwd", join(dir, "attestations", "a1", "c1.json"));
    symlinkSync(join(dir, "attestations", "a1"), join(dir, "attestations", "b1"));
    writeFileSync(join(dir, "attestations", "README"), "hi");
    expect(readAttestations(dir)).toEqual({
      files: [{ path: "attestations/a1/b1.json", content: "{}" }],
      unreadable: [
        { path: "attestations/README", reason: "is not a directory (symlinks are refused)" },
        { path: "attestations/a1/c1.json", reason: "is not a regular file (symlinks and directories are refused)" },
        { path: "attestations/b1", reason: "is not a directory (symlinks are refused)" },
      ],
    });
    expect(readAttestations(join(work, "no-such-registry"))).toEqual({ files: [], unreadable: [] });
  });
});

describe("the label: counting", () => {
  test("holds with two other members passing every mandatory rule, until the second vote ends", () => {
    const r = label([attest("b1", { observedAt: ago(2 * HOUR) }), attest("c1")]);
    expect(r.notCounted).toEqual([]);
    expect(votesOf(r)).toEqual(["coop-b:b1:counts", "coop-c:c1:counts"]);
    expect(r.holds).toBe(true);
    // The earlier of the two ends: after it, only one vote is left.
    expect(r.until).toBe(new Date(ago(2 * HOUR).getTime() + 7 * DAY).toISOString());
    expect(r.summary).toMatch(/^holds: 2 of the 2 other member\(s\) needed attest it passes every mandatory rule, until /);
    expect(r).toMatchObject({
      node: "a1",
      member: "coop-a",
      descriptor: { serial: FIXTURE_NODES[0].serial },
      settings: LABEL_DEFAULTS,
      ruleSet: { version: "1", digest: RULE_SET_DIGEST },
    });
  });

  test("one other member is not enough", () => {
    const r = label([attest("b1")]);
    expect(r.holds).toBe(false);
    expect(r.until).toBeUndefined();
    expect(r.summary).toBe("does not hold: 1 of the 2 other member(s) needed attest it passes every mandatory rule");
  });

  test("two nodes of one member count once: its newest attestation is its vote", () => {
    const r = label([attest("b1", { observedAt: ago(2 * HOUR) }), attest("b2")]);
    expect(votesOf(r)).toEqual(["coop-b:b2:counts"]);
    expect(r.holds).toBe(false);
    expectNotCounted(r, [["attestations/a1/b1.json", /^superseded by member coop-b's newer attestation attestations\/a1\/b2\.json/]]);
  });

  test("a member's own key and its node's attestation key count once", () => {
    const byMemberKey = attest("b1", { key: fixtureSigner("coop-b"), path: "attestations/a1/b1.json" });
    const byNode = attest("b2", { observedAt: ago(3 * HOUR) });
    const r = label([byMemberKey, byNode]);
    expect(r.votes.map((v) => [v.member, v.node, v.signer.node])).toEqual([["coop-b", "b1", undefined]]);
    expect(r.holds).toBe(false);
    // With another member: it holds, member key and node key alike.
    expect(label([byMemberKey, byNode, attest("d1")]).holds).toBe(true);
  });

  test("the node's own member never counts, by its node's key or by its member key", () => {
    const self = attest("a1");
    const byMember = attest("a1", { key: fixtureSigner("coop-a"), path: "attestations/a1/a1.json" });
    const r = label([self, attest("b1")]);
    expect(r.holds).toBe(false);
    expectNotCounted(r, [
      ["attestations/a1/a1.json", /^is signed by node a1 of member coop-a, the node's own member, which never counts$/],
    ]);
    const r2 = label([byMember, attest("b1")]);
    expectNotCounted(r2, [["attestations/a1/a1.json", /^is signed by member coop-a, the node's own member, which never counts$/]]);
    expect(votesOf(r2)).toEqual(["coop-b:b1:counts"]);
  });

  test("the federation's label.threshold decides, and says when it cannot be reached", () => {
    const registry = structuredClone(REGISTRY);
    registry.federation.settings.label = { threshold: 3 };
    expect(label([attest("b1"), attest("c1")], NOW, registry).holds).toBe(false);
    expect(label([attest("b1"), attest("c1"), attest("d1")], NOW, registry).holds).toBe(true);
    registry.federation.settings.label = { threshold: 4 };
    expect(label([attest("b1"), attest("c1"), attest("d1")], NOW, registry).summary).toMatch(
      /\(the federation has only 3 other member\(s\)\)$/,
    );
    expect(labelSettings(REGISTRY.federation.settings)).toEqual({ threshold: 2, validityDays: 7 });
  });

  test("a node that is gone holds nothing, and its files are named", () => {
    const files = attest("b1", { subject: "c1" });
    const r = evaluateLabel(
      "e1",
      REGISTRY,
      files.map((f) => ({ ...f, path: f.path.replace("/c1/", "/e1/") })),
      NOW,
    );
    expect(r.holds).toBe(false);
    expect(r.summary).toBe("node e1 is no live node of the registry");
    expect(r.notCounted).toEqual([{ path: "attestations/e1/b1.json", reason: "node e1 is no live node of the registry" }]);
  });
});

describe("the label: time", () => {
  const pair = () => [attest("b1", { observedAt: ago(DAY) }), attest("c1", { observedAt: ago(2 * HOUR) })];

  test("it expires by itself: an attestation counts until its end, not after", () => {
    const files = pair();
    const end = ago(DAY).getTime() + 7 * DAY;
    expect(label(files, new Date(end - 1)).holds).toBe(true);
    const after = label(files, new Date(end));
    expect(after.holds).toBe(false);
    expect(votesOf(after)).toEqual(["coop-c:c1:counts", "coop-b:b1:expired"]);
    expect(label(files, new Date(end)).votes[1].until).toBe(new Date(end).toISOString());
  });

  test("the federation's validityDays shortens attestations already published", () => {
    const registry = structuredClone(REGISTRY);
    registry.federation.settings.label = { validityDays: 1 };
    const r = label(pair(), NOW, registry);
    expect(votesOf(r)).toEqual(["coop-c:c1:counts", "coop-b:b1:expired"]);
    expect(r.holds).toBe(false);
    expect(r.votes.find((v) => v.member === "coop-c")!.until).toBe(new Date(ago(2 * HOUR).getTime() + DAY).toISOString());
  });

  test("an observation from the future is refused; clocks a little apart are fine", () => {
    const soon = attest("c1", { observedAt: new Date(NOW.getTime() + CLOCK_SKEW_MS - 1000) });
    expect(label([attest("b1"), soon]).holds).toBe(true);
    const later = attest("c1", { observedAt: new Date(NOW.getTime() + CLOCK_SKEW_MS + 1000) });
    const r = label([attest("b1"), later]);
    expect(r.holds).toBe(false);
    expectNotCounted(r, [
      [
        "attestations/a1/c1.json",
        /^was observed at 2026-11-21T12:05:01\.000Z, in the future \(now 2026-11-21T12:00:00\.000Z; clocks may differ by 5 minutes\)$/,
      ],
    ]);
  });
});

describe("the label: a failing attestation withdraws that member's vote", () => {
  test("its newest attestation decides: a newer failure withdraws a passing vote, a newer pass restores it", () => {
    const b1 = attest("b1");
    const c1Pass = attest("c1", { observedAt: ago(3 * HOUR), path: "attestations/a1/c1.json" });
    const d1Pass = attest("d1", { observedAt: ago(3 * HOUR) });
    expect(label([b1, c1Pass, d1Pass]).holds).toBe(true);

    const c1Fails = attest("c1", {
      observedAt: ago(HOUR),
      results: failing("underlay-declared-only", "underlay", "tcp/8080 answers on 198.51.100.11"),
    });
    const one = label([b1, c1Fails, d1Pass]);
    expect(votesOf(one)).toEqual(["coop-b:b1:counts", "coop-d:d1:counts", "coop-c:c1:withdrawn"]);
    expect(one.votes[2].failing).toEqual([
      { rule: "underlay-declared-only", from: "underlay", detail: "tcp/8080 answers on 198.51.100.11" },
    ]);
    expect(one.holds).toBe(true); // two other members still pass

    const d1Fails = attest("d1", { observedAt: ago(HOUR), results: failing("dnssec-valid", "underlay", "RRSIG expired") });
    const two = label([b1, c1Fails, d1Fails]);
    expect(two.holds).toBe(false);
    expect(two.summary).toMatch(/^does not hold: 1 of the 2 other member\(s\) needed/);

    // The failure is fixed: c1's next attestation passes again (b2 of coop-b proves files of one member compete).
    const c1Again = attest("c1", { observedAt: ago(HOUR / 2) });
    expect(label([b1, c1Again, d1Fails]).holds).toBe(true);
  });

  test("an older failure does not outlive a newer pass, and the older file is named as superseded", () => {
    const b1Fails = attest("b1", { observedAt: ago(5 * HOUR), results: failing("time-synchronised", "mesh", "offset 42 s") });
    const b2Passes = attest("b2", { observedAt: ago(HOUR) });
    const r = label([b1Fails, b2Passes, attest("c1")]);
    expect(r.holds).toBe(true);
    expectNotCounted(r, [["attestations/a1/b1.json", /^superseded by member coop-b's newer attestation attestations\/a1\/b2\.json/]]);
  });

  test("a mandatory check not reported withdraws the vote; an advisory failure does not", () => {
    const missing = attest("b1", { results: passAll().filter((x) => x.rule !== "descriptor-current") });
    const r = label([missing, attest("c1")]);
    expect(r.holds).toBe(false);
    expect(r.votes.find((v) => v.member === "coop-b")!.failing).toEqual([
      { rule: "descriptor-current", from: "mesh", detail: "not reported" },
    ]);
    const advisory = attest("b1", { results: failing("zones-replicated", "mesh", "coop-a.example. served by 2 nodes") });
    expect(label([advisory, attest("c1")]).holds).toBe(true);
  });
});

describe("the label: refusals name the file and the reason, and never stop the rest", () => {
  const holdsDespite = (bad: AttestationFile[], path: string, reason: RegExp) => {
    const r = label([attest("b1"), attest("c1"), bad]);
    expectNotCounted(r, [[path, reason]]);
    expect(r.holds).toBe(true);
    expect(votesOf(r)).toEqual(["coop-b:b1:counts", "coop-c:c1:counts"]);
    // And alone with one good vote, it does not count towards the threshold.
    expect(label([attest("b1"), bad]).holds).toBe(false);
  };

  test("a tampered statement", () => {
    holdsDespite(
      attest("d1", {
        results: failing("dnssec-valid", "underlay", "no RRSIG"),
        edit: (c) => c.replace('"passed": false', '"passed": true'),
      }),
      "attestations/a1/d1.json",
      /^bad signature: signature does not match the message/,
    );
  });

  test("a statement signed in the registry's namespace, not the label's", () => {
    holdsDespite(
      attest("d1", { namespace: REGISTRY_NAMESPACE }),
      "attestations/a1/d1.json",
      /^bad signature: signature is for namespace "boreal-registry", expected "boreal-label"$/,
    );
  });

  test("a signer who is no member and no node", () => {
    holdsDespite(
      attest("d1", { key: mallory }),
      "attestations/a1/d1.json",
      /^signed by a key that is no member's in federation version 1 and no live node's attestationKey \(ssh-ed25519 /,
    );
    holdsDespite(
      attest("d1", { key: { keyFile: attestationKeyFile("mallory-node") } }),
      "attestations/a1/d1.json",
      /no live node's attestationKey/,
    );
  });

  test("a checker that is not who signed", () => {
    // c1's key, but the statement says coop-d's d1 checked.
    holdsDespite(
      attest("d1", { key: keyOf("c1") }),
      "attestations/a1/d1.json",
      /^says member coop-d checked, but is signed with the attestation key of node c1 \(member coop-c\)$/,
    );
    // b2's key for a statement naming b1: one member, the wrong node.
    const r = label([attest("b1", { key: keyOf("b2") }), attest("c1")]);
    expectNotCounted(r, [
      ["attestations/a1/b1.json", /^says node b1 checked, but is signed with the attestation key of node b2 \(member coop-b\)$/],
    ]);
  });

  test("an attestation for another node, replayed against this one", () => {
    const ofC1 = attest("d1", { subject: "c1" }).map((f) => ({ ...f, path: f.path.replace("attestations/c1/", "attestations/a1/") }));
    holdsDespite(ofC1, "attestations/a1/d1.json", /^is about node c1, not a1: an attestation of one node never counts for another$/);
  });

  test("an attestation of an older descriptor of this node (stale, or replayed after a rotation)", () => {
    const old = attest("d1", {
      statement: (s) => void (s.subject[0].digest.sha256 = createHash("sha256").update("an older descriptor").digest("hex")),
    });
    holdsDespite(
      old,
      "attestations/a1/d1.json",
      /^attests another descriptor of a1 \(sha256 [0-9a-f]{12}…\), not its current one \(sha256 [0-9a-f]{12}…, serial \d+\): stale or replayed$/,
    );
  });

  test("a statement filed under another checker's name", () => {
    holdsDespite(
      attest("d1", { path: "attestations/a1/b2.json" }),
      "attestations/a1/b2.json",
      /^is filed as node b2's, but says node d1 checked$/,
    );
  });

  test("another rule set: an old version, or version 1 with other rules", () => {
    holdsDespite(
      attest("d1", { statement: (s) => void (s.predicate.ruleSet.version = "2") }),
      "attestations/a1/d1.json",
      /^was checked against rule set 2; the label is for rule set 1$/,
    );
    holdsDespite(
      attest("d1", { statement: (s) => void (s.predicate.ruleSet.digest = `sha256:${"0".repeat(64)}`) }),
      "attestations/a1/d1.json",
      /^names rule set 1 with digest sha256:0{64}, but rule set 1 is sha256:[0-9a-f]{64}: a rule set changed without a new version$/,
    );
    holdsDespite(
      attest("d1", {
        statement: (s) => void s.predicate.results.push({ rule: "be-nice", passed: true, observedFrom: "mesh", detail: "" }),
      }),
      "attestations/a1/d1.json",
      /^rule be-nice is not in rule set 1$/,
    );
  });

  test("unsigned, an orphan signature, a stray file, a statement that is no statement", () => {
    const [statement, signature] = attest("d1");
    holdsDespite([statement], "attestations/a1/d1.json", /^unsigned: attestations\/a1\/d1\.json\.sig is missing$/);
    holdsDespite([signature], "attestations/a1/d1.json.sig", /^signs attestations\/a1\/d1\.json, which is missing$/);
    holdsDespite(
      [{ path: "attestations/a1/notes.txt", content: "hi" }],
      "attestations/a1/notes.txt",
      /^is not an attestation \(attestations\/a1\/<checker node>\.json and its \.sig\)$/,
    );
    holdsDespite([{ path: "attestations/a1/d1.json", content: "{" }, signature], "attestations/a1/d1.json", /^is not valid JSON/);
    // Files about other nodes are not this node's business.
    expect(label([attest("b1"), attest("c1"), attest("d1", { subject: "b1" })]).notCounted).toEqual([]);
  });
});

describe("attestation files: every problem names the field and its fix", () => {
  let good: Attestation;
  beforeAll(() => {
    good = (parseAttestation(attest("b1")[0]) as { value: Attestation }).value;
  });
  const problemsOf = (content: string) => {
    const parsed = parseAttestation({ path: "attestations/a1/b1.json", content });
    if (parsed.ok) throw new Error("expected a refusal");
    return parsed.problems;
  };
  const edited = (edit: (s: Record<string, any>) => void) => {
    const s = structuredClone(good) as Record<string, any>;
    edit(s);
    return `${JSON.stringify(s, null, 2)}\n`;
  };
  const cases: [string, () => string, string, RegExp][] = [
    ["not JSON", () => "{ nope", "(file)", /is not valid JSON.* — the agent writes attestations/],
    ["a list", () => "[]\n", "(file)", /is not a JSON object — an attestation is an in-toto Statement/],
    ["too large", () => `${" ".repeat(MAX_ATTESTATION_BYTES)}{}`, "(file)", /larger than 65536 bytes — an attestation is a few KiB/],
    [
      "not canonical",
      () => JSON.stringify(good),
      "(file)",
      /not in the kit's canonical form .* — sign exactly what renderAttestation writes/,
    ],
    ["an unknown field", () => edited((s) => (s.comment = "hi")), "(root)", /unknown field\(s\) comment — remove comment/],
    [
      "another statement type",
      () => edited((s) => (s._type = "https://in-toto.io/Statement/v0.1")),
      "_type",
      /_type is not https:\/\/in-toto.io\/Statement\/v1 — an attestation is an in-toto Statement v1/,
    ],
    [
      "two subjects",
      () => edited((s) => s.subject.push(s.subject[0])),
      "subject",
      /subject must list exactly one node — make one attestation per node/,
    ],
    [
      "a subject that is no node",
      () => edited((s) => (s.subject[0].name = "a1")),
      "subject[0].name",
      /is not "node:<node>" — name the node as "node:<node>"/,
    ],
    [
      "a short digest",
      () => edited((s) => (s.subject[0].digest.sha256 = "abc")),
      "subject[0].digest.sha256",
      /not 64 hex digits — give the sha256 of nodes\/<node>.yaml's bytes/,
    ],
    [
      "another digest algorithm",
      () => edited((s) => (s.subject[0].digest = { sha1: "abc" })),
      "subject[0].digest",
      /unknown field\(s\) sha1/,
    ],
    [
      "a subject without its WireGuard key",
      () => edited((s) => delete s.subject[0].annotations.wireguardPublicKey),
      "subject[0].annotations.wireguardPublicKey",
      /is missing — paste the output of `wg pubkey`/,
    ],
    [
      "another predicate type",
      () => edited((s) => (s.predicateType = "https://slsa.dev/provenance/v1")),
      "predicateType",
      /predicateType is not urn:boreal-kit:label-attestation:v1/,
    ],
    [
      "a rule-set version that is no number",
      () => edited((s) => (s.predicate.ruleSet.version = "one")),
      "predicate.ruleSet.version",
      /not a version number — name the rule-set version, e.g. "1"/,
    ],
    [
      "a checker that is no node name",
      () => edited((s) => (s.predicate.checker.node = "B 1")),
      "predicate.checker.node",
      /predicate.checker.node must be .* — use a DNS-safe name/,
    ],
    [
      "a local time",
      () => edited((s) => (s.predicate.observedAt = "2026-11-21 12:00")),
      "predicate.observedAt",
      /is not a UTC time in the form 2026-11-20T10:00:00.000Z — write a UTC time as the kit does/,
    ],
    [
      "a day that does not exist",
      () => edited((s) => (s.predicate.validUntil = "2026-02-30T00:00:00.000Z")),
      "predicate.validUntil",
      /is not a UTC time/,
    ],
    [
      "an end before the observation",
      () => edited((s) => (s.predicate.validUntil = s.predicate.observedAt)),
      "predicate.validUntil",
      /is not after predicate.observedAt — an attestation is valid from when it was observed/,
    ],
    ["no results", () => edited((s) => (s.predicate.results = [])), "predicate.results", /is empty — one result per rule and place/],
    [
      "a result from elsewhere",
      () => edited((s) => (s.predicate.results[0].observedFrom = "internet")),
      "predicate.results[0].observedFrom",
      /must be "mesh" or "underlay" — say where the check ran from/,
    ],
    [
      "a result without passed",
      () => edited((s) => (s.predicate.results[0].passed = "yes")),
      "predicate.results[0].passed",
      /passed must be true or false — say whether the check passed/,
    ],
    [
      "a rule id that is no id",
      () => edited((s) => (s.predicate.results[0].rule = "DNSSEC valid")),
      "predicate.results[0].rule",
      /not a rule id \(kebab-case\) — name the rule by its id/,
    ],
    [
      "a detail too long",
      () => edited((s) => (s.predicate.results[0].detail = "x".repeat(501))),
      "predicate.results[0].detail",
      /longer than 500 characters — keep it to what was observed/,
    ],
    [
      "a rule reported twice from one place",
      () => edited((s) => s.predicate.results.push(s.predicate.results[0])),
      `predicate.results[${passAll().length}]`,
      /from underlay has two results — one result per rule and place/,
    ],
  ];
  test.each(cases)("refuses %s", (_label, content, key, says) => {
    const problems = problemsOf(content());
    const problem = problems.find((p) => p.key === key);
    expect(problem, JSON.stringify(problems, null, 1)).toBeDefined();
    expect(problem!.source).toBe("attestations/a1/b1.json");
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(says);
    expect(problem!.fix).not.toMatch(GENERIC_FIX);
  });
});

describe("registry additions: label settings and attestation keys", () => {
  const FED = "federation/1.yaml";
  const fed = () => fixtureRegistryFiles().find((f) => f.path === FED)!.content;
  const withLabel = (yaml: string) => ({ path: FED, content: `${fed()}label:\n${yaml}` });
  const fedProblem = (yaml: string, key: string) => {
    const parsed = parseFederationVersion(withLabel(yaml));
    if (parsed.ok) throw new Error("expected a refusal");
    const problem = parsed.problems.find((p) => p.key === key);
    expect(problem, JSON.stringify(parsed.problems)).toBeDefined();
    expect(problem!.fix).not.toMatch(GENERIC_FIX);
    return `${problem!.message} — ${problem!.fix}`;
  };

  test("federation.yaml's label is optional, field by field", () => {
    expect(parseFederationVersion(withLabel("  threshold: 3\n  validityDays: 14\n"))).toMatchObject({
      ok: true,
      value: { label: { threshold: 3, validityDays: 14 } },
    });
    expect(parseFederationVersion(withLabel("  validityDays: 3\n"))).toMatchObject({ ok: true, value: { label: { validityDays: 3 } } });
    const bare = parseFederationVersion({ path: FED, content: fed() });
    expect(bare.ok && bare.value.label).toBeUndefined();
    expect(bare.ok && labelSettings(bare.value)).toEqual({ threshold: 2, validityDays: 7 });
  });

  test("a bad label setting names the field and the fix", () => {
    expect(fedProblem("  threshold: 0\n", "label.threshold")).toMatch(
      /label.threshold must be at least 1 — set it to how many other members must attest a node/,
    );
    expect(fedProblem("  threshold: 4\n", "label.threshold")).toMatch(
      /label.threshold 4 is more than the 3 other member\(s\) a node has: no node could hold the label — lower it/,
    );
    expect(fedProblem("  threshold: two\n", "label.threshold")).toMatch(/label.threshold must be a whole number — set it to how many/);
    expect(fedProblem("  validityDays: 91\n", "label.validityDays")).toMatch(
      /label.validityDays is above 90 — set it to how many days an attestation counts, 1 to 90/,
    );
    expect(fedProblem("  validityDays: 1.5\n", "label.validityDays")).toMatch(/whole number of days/);
    expect(fedProblem("  quorum: 2\n", "label")).toMatch(/unknown field\(s\) quorum — remove quorum/);
    const scalar = parseFederationVersion({ path: FED, content: `${fed()}label: 2\n` });
    expect(!scalar.ok && scalar.problems.find((p) => p.key === "label")).toMatchObject({
      message: "label must be a mapping",
      fix: expect.stringMatching(/^write it as label: \{ threshold: 2, validityDays: 7 \}/),
    });
  });

  test("a descriptor's attestationKey is optional; a bad one names the field and the fix", () => {
    const a1 = registryFiles.find((f) => f.path === "nodes/a1.yaml")!;
    expect(parseNodeObject(a1)).toMatchObject({ ok: true, value: { attestationKey: attestationKey("a1") } });
    const bad = parseNodeObject({
      path: a1.path,
      content: a1.content.replace(/attestationKey: .*/, "attestationKey: ssh-rsa AAAAB3NzaC1yc2E"),
    });
    expect(!bad.ok && bad.problems).toEqual([
      {
        source: "nodes/a1.yaml",
        key: "attestationKey",
        message: "attestationKey is not an ssh-ed25519 public key",
        fix: expect.stringMatching(/^give the node's own attestation key .* or leave attestationKey out$/),
      },
    ]);
    // The committed fixture descriptors have none and stay valid.
    expect(fixtureFederation().nodes.every((n) => n.attestationKey === undefined)).toBe(true);
  });

  test("an attestation key is one node's: a copy on another node, or a member's signing key, is refused", () => {
    const [, b1, , c1] = testNodes();
    // Copied with b1's proof: the proof names b1, so the copy never counts (held state or not).
    const copy = { ...c1, attestationKey: b1.attestationKey, attestationKeyProof: b1.attestationKeyProof };
    const v = verifyRegistry({
      sources: [{ name: "test", files: [...registryFiles.filter((f) => !f.path.startsWith("nodes/c1")), ...nodeFiles(copy)] }],
      trust: fixtureTrustAnchor(),
    });
    expect(v.rejected).toEqual([
      {
        source: "test",
        path: "nodes/c1.yaml",
        reason: expect.stringMatching(/^attestationKeyProof does not verify: node c1's attestation key did not sign it/),
      },
    ]);
    const asMember = { ...c1, attestationKey: REGISTRY.federation.settings.members.find((m) => m.name === "coop-b")!.keys[0] };
    const w = verifyRegistry({
      sources: [{ name: "test", files: [...registryFiles.filter((f) => !f.path.startsWith("nodes/c1")), ...nodeFiles(asMember)] }],
      trust: fixtureTrustAnchor(),
    });
    expect(w.rejected).toEqual([
      {
        source: "test",
        path: "nodes/c1.yaml",
        reason:
          "attestationKey is a signing key of member coop-b: a node's attestation key is made on the node, and a member's key never sits on a node",
      },
    ]);
  });

  test("buildDescriptor takes the attestation key as an optional input: without it nothing changes", () => {
    const federation = fixtureFederation();
    const existing = federation.nodes.find((n) => n.node === "b1")!;
    const p = plan(fixtureSpec("b1"), federation);
    const key = { publicKey: existing.publicKey, keyProof: existing.keyProof };
    expect(buildDescriptor(p, key, existing, "2030-01-01T00:00:00.000Z")).toEqual(existing);
    const withKey = buildDescriptor(p, key, existing, "2030-01-01T00:00:00.000Z", attestation("b1"));
    expect(withKey).toEqual({
      ...existing,
      ...attestation("b1"),
      serial: Date.parse("2030-01-01T00:00:00Z") / 1000,
      updatedAt: "2030-01-01T00:00:00.000Z",
    });
    expect(Object.keys(withKey)).toEqual([
      "member",
      "node",
      "serial",
      "endpoint",
      "publicKey",
      "keyProof",
      "mesh",
      "zones",
      "exporter",
      "nameServer",
      "delegation",
      "services",
      "attestationKey",
      "attestationKeyProof",
      "updatedAt",
    ]);
    expect(buildDescriptor(p, key, withKey, "2031-01-01T00:00:00.000Z", attestation("b1"))).toEqual(withKey);
  });
});

describe("boreal label verify and show, and plain ssh-keygen -Y verify", () => {
  let dir: string;
  let pin: string;
  beforeAll(() => {
    dir = join(work, "registry");
    const files = [
      ...registryFiles,
      ...attest("b1", { observedAt: ago(2 * HOUR) }),
      ...attest("d1"), // coop-d's member key
      ...attest("c1", { results: failing("mesh-only-internals", "underlay", "tcp/9100 connects on 198.51.100.11") }),
      ...attest("a1"), // its own member
      ...attest("a1", { subject: "b1" }),
      ...attest("c1", { subject: "b1", key: mallory }),
    ];
    for (const f of files) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.content);
    }
    pin = formatTrust(fixtureTrustAnchor());
  });
  const run = (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const [verb, ...rest] = args;
    const status = runLabel(verb as "verify", rest, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { status, stdout: out.join("\n"), stderr: err.join("\n") };
  };
  const at = NOW.toISOString();

  test("verify: exit 0 when it holds; which rules, who attested, from where, until when; what does not count", () => {
    const r = run("verify", "a1", "--registry", dir, "--trust", pin, "--at", at);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(`federation boreal-test version 1 (sha256 ${fixtureTrustAnchor().sha256}; trusted from --trust ${pin})`);
    expect(r.stdout).toMatch(
      /rules the label needs \(mandatory, observed by peers\):\n  underlay-declared-only +from the underlay +From the internet/,
    );
    expect(r.stdout).toMatch(/advisory, reported but not needed: zones-replicated, serial-agrees/);
    expect(r.stdout).toMatch(/mandatory at plan time only .*: keys-stay-on-node, state-self-hosted, no-public-resolver/);
    expect(r.stdout).toMatch(/node a1 \(member coop-a\): descriptor serial \d+, sha256 [0-9a-f]{64}/);
    expect(r.stdout).toMatch(/label for rule set 1 \(sha256:[0-9a-f]{64}\) at 2026-11-21T12:00:00.000Z: HOLDS/);
    expect(r.stdout).toMatch(
      /coop-b +counts +node b1 +attestation key of b1 SHA256:\S+ +observed 2026-11-21T10:00:00.000Z from underlay\+mesh +until 2026-11-28T10:00:00.000Z/,
    );
    expect(r.stdout).toMatch(/coop-d +counts +node d1 +member key SHA256:\S+ +observed 2026-11-21T11:00:00.000Z/);
    expect(r.stdout).toMatch(/coop-c +WITHDRAWN +node c1/);
    expect(r.stdout).toMatch(/coop-c fails mesh-only-internals from the underlay: tcp\/9100 connects on 198.51.100.11/);
    expect(r.stdout).toMatch(
      /not counted \(1\):\n    attestations\/a1\/a1.json: is signed by node a1 of member coop-a, the node's own member, which never counts/,
    );
    expect(r.stdout).toMatch(
      /ssh-keygen -Y verify -f allowed_signers -I coop-b -n boreal-label -s attestations\/a1\/b1.json.sig < attestations\/a1\/b1.json/,
    );
    expect(r.stdout).toMatch(/sha256sum nodes\/a1.yaml/);
  });

  test("verify: exit 1 when it does not hold (later, or another node)", () => {
    const later = run("verify", "a1", "--registry", dir, "--trust", pin, "--at", new Date(NOW.getTime() + 7 * DAY).toISOString());
    expect(later.status).toBe(1);
    expect(later.stdout).toMatch(/DOES NOT HOLD/);
    expect(later.stdout).toMatch(/coop-b +EXPIRED .* ended 2026-11-28T10:00:00.000Z/);
    const b1 = run("verify", "b1", "--registry", dir, "--trust", pin, "--at", at);
    expect(b1.status).toBe(1);
    expect(b1.stdout).toMatch(/does not hold: 1 of the 2 other member\(s\) needed/);
    expect(b1.stdout).toMatch(/attestations\/b1\/c1.json: signed by a key that is no member's/);
    expect(run("verify", "z9", "--registry", dir, "--trust", pin).stdout).toMatch(/node z9 is no live node of the registry/);
  });

  test("unpinned, it warns like boreal registry check; bad input exits 2 naming the option, with the usage", () => {
    const unpinned = run("verify", "a1", "--registry", dir, "--at", at);
    expect(unpinned.status).toBe(0);
    expect(unpinned.stderr).toMatch(/^boreal label verify: WARNING: UNPINNED\. No --trust given/);
    expect(unpinned.stdout).toMatch(/UNPINNED: no --trust given, trusted as found/);
    const wrongPin = run("verify", "a1", "--registry", dir, "--trust", `1:${"0".repeat(64)}`);
    expect(wrongPin.status).toBe(1);
    expect(wrongPin.stdout).toMatch(
      /no trusted federation version, so no label can be checked:\n  federation\/1.yaml: does not match the pinned trust anchor/,
    );
    const noNode = run("verify", "--registry", dir);
    expect(noNode.status).toBe(2);
    expect(noNode.stderr).toMatch(
      /^boreal label verify: the node NODE is missing\n  fix: give the node's name[\s\S]*usage:\n  boreal label verify NODE/,
    );
    expect(run("verify", "a1", "--registry", dir, "--at", "tomorrow").stderr).toMatch(
      /--at "tomorrow" is not an ISO 8601 time with its zone\n  fix: e.g. --at 2026-11-27T12:00:00Z/,
    );
    expect(run("verify", "a1", "--registry", dir, "--at", "2026-11-27T12:00:00").status).toBe(2);
    expect(run("verify", "a1", "--registery", dir).stderr).toMatch(/unknown option --registery/);
    expect(run("verify", "a1", "--print-allowed-signers=yes", "--registry", dir).stderr).toMatch(/--print-allowed-signers takes no value/);
    expect(run("show", "a1", "--registry", dir).stderr).toMatch(/show takes no node/);
    expect(run("verify", "a1", "--registry", join(work, "nowhere")).stderr).toMatch(/nowhere cannot be read \(ENOENT\)\n  fix: /);
  });

  test("show: every node, and the files about no live node", () => {
    const r = run("show", "--registry", dir, "--trust", pin, "--at", at);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /1 of 5 node\(s\) hold the label:\n  a1 +coop-a +HOLDS +until 2026-11-28T10:00:00.000Z\n  b1 +coop-b +no +does not hold: 1 of the 2/,
    );
    for (const node of ["a1", "b1", "b2", "c1", "d1"]) expect(r.stdout).toMatch(new RegExp(`\\nnode ${node} \\(member coop-`));
    expect(r.stdout).toMatch(
      /ssh-keygen -Y verify -f allowed_signers -I coop-a -n boreal-label -s attestations\/b1\/a1.json.sig < attestations\/b1\/a1.json/,
    );
  });

  test("--print-allowed-signers: plain ssh-keygen -Y verify agrees with the kit on every file", () => {
    const printed = run("verify", "a1", "--registry", dir, "--trust", pin, "--print-allowed-signers");
    expect(printed.status).toBe(0);
    const lines = printed.stdout.split("\n").filter((l) => !l.startsWith("#"));
    expect(lines).toEqual([
      ...REGISTRY.federation.settings.members.map((m) => `${m.name} namespaces="boreal-label" ${m.keys[0]}`),
      ...["a1", "b1", "b2", "c1"].map(
        (n) => `${descriptorOf(n).member},${n}@${descriptorOf(n).member} namespaces="boreal-label" ${attestationKey(n)}`,
      ),
    ]);
    const allowed = join(work, "allowed_signers");
    writeFileSync(allowed, `${printed.stdout}\n`);
    const sshVerify = (path: string, identity: string, namespace = LABEL_NAMESPACE, content?: string) =>
      spawnSync("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", identity, "-n", namespace, "-s", join(dir, `${path}.sig`)], {
        input: content ?? readFileSync(join(dir, path)),
        encoding: "utf8",
      }).status;
    const kit = (path: string, content?: string) =>
      checkAttestation(
        { path, content: content ?? readFileSync(join(dir, path), "utf8"), signature: readFileSync(join(dir, `${path}.sig`), "utf8") },
        REGISTRY,
      );

    // Good ones: a node's attestation key (under its member or node@member), a member key.
    for (const [path, identity] of [
      ["attestations/a1/b1.json", "coop-b"],
      ["attestations/a1/b1.json", "b1@coop-b"],
      ["attestations/a1/d1.json", "coop-d"],
      ["attestations/a1/c1.json", "coop-c"],
    ]) {
      expect(sshVerify(path, identity), `${path} as ${identity}`).toBe(0);
      expect(kit(path).ok, path).toBe(true);
    }
    const who = spawnSync("ssh-keygen", ["-Y", "find-principals", "-f", allowed, "-s", join(dir, "attestations/a1/b1.json.sig")], {
      encoding: "utf8",
    });
    expect(who.stdout.trim().split("\n")).toEqual(["coop-b", "b1@coop-b"]);
    // Somebody else's identity, the registry's namespace: ssh-keygen refuses.
    expect(sshVerify("attestations/a1/b1.json", "coop-c")).not.toBe(0);
    expect(sshVerify("attestations/a1/b1.json", "coop-b", REGISTRY_NAMESPACE)).not.toBe(0);
    // Tampered: both refuse.
    const tampered = readFileSync(join(dir, "attestations/a1/c1.json"), "utf8").replace('"passed": false', '"passed": true');
    expect(sshVerify("attestations/a1/c1.json", "coop-c", LABEL_NAMESPACE, tampered)).not.toBe(0);
    expect(kit("attestations/a1/c1.json", tampered)).toMatchObject({ ok: false, reason: expect.stringMatching(/^bad signature/) });
    // Mallory: in no allowed_signers line, no member for the kit.
    expect(sshVerify("attestations/b1/c1.json", "coop-c")).not.toBe(0);
    expect(kit("attestations/b1/c1.json")).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^signed by a key that is no member's/),
    });
    // Signed in the registry's namespace: ssh-keygen -n boreal-label refuses it too.
    const [statement, wrongNs] = attest("d1", { namespace: REGISTRY_NAMESPACE, path: "attestations/a1/d1.json" });
    writeFileSync(join(work, "wrong-ns.json"), statement.content);
    writeFileSync(join(work, "wrong-ns.json.sig"), wrongNs.content);
    const wrong = spawnSync(
      "ssh-keygen",
      ["-Y", "verify", "-f", allowed, "-I", "coop-d", "-n", LABEL_NAMESPACE, "-s", join(work, "wrong-ns.json.sig")],
      { input: statement.content, encoding: "utf8" },
    );
    expect(wrong.status).not.toBe(0);
    expect(checkAttestation({ path: statement.path, content: statement.content, signature: wrongNs.content }, REGISTRY)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/namespace "boreal-registry", expected "boreal-label"/),
    });
    // And the subject digest is the descriptor's sha256sum.
    const digest = spawnSync("sha256sum", [join(dir, "nodes/a1.yaml")], { encoding: "utf8" }).stdout.split(" ")[0];
    expect(JSON.parse(readFileSync(join(dir, "attestations/a1/b1.json"), "utf8")).subject[0].digest.sha256).toBe(digest);
  });
});
