// The trust chain and every rejection rule of src/core/registry/verify.ts, on the signed fixture
// registry and on objects signed here with the fixture keys (real `ssh-keygen -Y sign`).
// Each refusal names the file and the reason, and never stops the rest of the federation.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BorealConfigError } from "../../src/core/values/problems";
import {
  descriptorPath,
  federationPath,
  federationSignaturePath,
  FederationVersion,
  MAX_FEDERATION_BYTES,
  MAX_NODE_OBJECT_BYTES,
  MAX_SIGNATURE_BYTES,
  NodeDescriptor,
  RegistryFile,
  signaturePath,
  Tombstone,
} from "../../src/core/registry/format";
import { buildTombstone } from "../../src/core/node/descriptor";
import { plan } from "../../src/core/node/plan";
import { loadRegistry, readRegistrySource, verifySources } from "../../src/io/registry/read";
import { Signer, signText } from "../../src/io/registry/sign";
import { REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import {
  formatTrust,
  HeldState,
  parseTrust,
  RegistrySource,
  sha256,
  TrustAnchor,
  VerifiedRegistry,
  verifyRegistry,
} from "../../src/core/registry/verify";
import { renderFederation, signedNodeObject } from "../../src/io/registry/write";
import {
  FIXTURE_MEMBERS,
  FIXTURE_NODES,
  FIXTURE_SERIAL,
  fixtureFederationVersion,
  FixtureKeyName,
  withKeyProof,
  writeFixtureRegistry,
} from "../fixtures/sign-fixtures";
import {
  FIXTURE_KEYS_DIR,
  FIXTURE_REGISTRY,
  fixtureRegistryFiles,
  fixtureSigner,
  fixtureSpec,
  fixtureTrust,
  fixtureTrustAnchor,
} from "../helpers/fixtures";

const MIRROR = "git://198.51.100.1/registry.git";
const ALL = ["a1", "b1", "c1"];
const S = FIXTURE_SERIAL;

const work = mkdtempSync(join(tmpdir(), "boreal-verify-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// A member the tests admit in version 2: its key is made here, not committed.
let coopE: Signer;
let coopEKey: string;
beforeAll(() => {
  const key = join(work, "coop-e");
  const made = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "boreal-kit TEST KEY coop-e, never use", "-f", key]);
  if (made.status !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
  coopE = { keyFile: key };
  coopEKey = readFileSync(`${key}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
});

type Key = FixtureKeyName | Signer;
const signerOf = (key: Key): Signer => (typeof key === "string" ? fixtureSigner(key) : key);

const fixtureNode = (node: string): NodeDescriptor => structuredClone(FIXTURE_NODES.find((n) => n.node === node)!);

/**
 * A descriptor like the fixture's `like`, with changes, and a WireGuard key of its own with
 * its proof (made for its node name); given `publicKey` and `keyProof`, they are kept as given (a copy).
 */
function descriptor(like: string, changes: Partial<NodeDescriptor>): NodeDescriptor {
  const merged = { ...fixtureNode(like), ...changes };
  return changes.publicKey !== undefined ? merged : (withKeyProof(merged) as NodeDescriptor);
}

/** nodes/<node>.yaml and its signature, signed by `key`. */
function signedFiles(object: NodeDescriptor | Tombstone, key: Key): RegistryFile[] {
  const { content, signature } = signedNodeObject(object, signerOf(key));
  return [
    { path: descriptorPath(object.node), content },
    { path: signaturePath(descriptorPath(object.node)), content: signature },
  ];
}

/** The files with these replacing (or added beside) the ones of the same path. */
function withFiles(files: RegistryFile[], ...added: RegistryFile[][]): RegistryFile[] {
  const extra = added.flat();
  return [...files.filter((f) => !extra.some((e) => e.path === f.path)), ...extra];
}

const without = (files: RegistryFile[], ...paths: string[]) => files.filter((f) => !paths.includes(f.path));

function verify(files: RegistryFile[], options: { held?: HeldState; trust?: TrustAnchor } = {}): VerifiedRegistry {
  return verifyRegistry({ sources: [{ name: MIRROR, files }], trust: options.trust ?? fixtureTrustAnchor(), held: options.held });
}

const liveNodes = (v: VerifiedRegistry) => v.federation?.nodes.map((n) => n.node);

/** Exactly these rejections (path and reason), nothing else. */
function expectRejections(v: VerifiedRegistry, expected: [path: string, reason: RegExp][]): void {
  const shown = JSON.stringify(v.rejected, null, 1);
  expect(v.rejected, shown).toHaveLength(expected.length);
  for (const [path, reason] of expected) {
    expect(
      v.rejected.some((r) => r.path === path && reason.test(r.reason)),
      `no rejection of ${path} matching ${reason} in ${shown}`,
    ).toBe(true);
  }
}

/** One refusal: the file is named with its reason, and the rest of the federation is untouched. */
function expectOnlyRejected(v: VerifiedRegistry, path: string, reason: RegExp, accepted: string[] = ALL): void {
  expectRejections(v, [[path, reason]]);
  expect(v.rejected[0].source).toBe(MIRROR);
  expect(liveNodes(v)).toEqual(accepted);
}

// A federation version, as a member writes it, and its signatures.
function federationFiles(version: FederationVersion, signers: [member: string, key: Key][]): RegistryFile[] {
  const content = renderFederation(version);
  return [
    { path: federationPath(version.version), content },
    ...signers.map(([member, key]) => ({
      path: federationSignaturePath(version.version, member),
      content: signText(content, signerOf(key), REGISTRY_NAMESPACE),
    })),
  ];
}

const v1 = (): FederationVersion => fixtureFederationVersion(FIXTURE_KEYS_DIR);
/** Version 2 admits coop-e (zone coop-e.example., share 100.64.0.64/28). */
const v2WithCoopE = (): FederationVersion => {
  const v = v1();
  return {
    ...v,
    version: 2,
    members: [...v.members, { name: "coop-e", keys: [coopEKey], zones: ["coop-e.example."], mesh: "100.64.0.64/28", nodes: ["e*"] }],
  };
};
const e1 = (): NodeDescriptor =>
  descriptor("a1", {
    member: "coop-e",
    node: "e1",
    endpoint: "198.51.100.15:51820",
    mesh: { ipv4: "100.64.0.65", ipv6: "fd42:b0:ea1::41" },
    zones: ["coop-e.example."],
    exporter: "100.64.0.65:9100",
  });

describe("the fixture registry", () => {
  test("verifies without a single rejection, from the pin of federation/1.yaml", () => {
    const v = verify(fixtureRegistryFiles());
    expect(v.rejected).toEqual([]);
    expect(v.version).toEqual(fixtureTrustAnchor());
    expect(v.federation!.settings).toMatchObject({ version: 1, name: "boreal-test", threshold: 2, mirrors: [] });
    expect(v.federation!.settings.members.map((m) => `${m.name} ${m.mesh} ${m.zones.join(",")}`)).toEqual([
      "coop-a 100.64.0.0/28 coop-a.example.",
      "coop-b 100.64.0.16/28 coop-b.example.,b-mail.example.",
      "coop-c 100.64.0.32/28 coop-c.example.",
      "coop-d 100.64.0.48/28 coop-d.example.",
    ]);
    expect(v.federation!.nodes).toEqual(FIXTURE_NODES);
    expect(Object.keys(v.held.nodes)).toEqual(ALL);
    expect(v.departed).toEqual([]);
  });

  test("the pin is <version>:<sha256 of federation/1.yaml> and parses back", () => {
    const trust = fixtureTrust();
    expect(trust).toMatch(/^1:[0-9a-f]{64}$/);
    expect(trust).toBe(`1:${sha256(readFileSync(join(FIXTURE_REGISTRY, "federation", "1.yaml"), "utf8"))}`);
    expect(parseTrust(trust)).toEqual(fixtureTrustAnchor());
    expect(formatTrust(parseTrust(trust)!)).toBe(trust);
    expect(parseTrust("1:abc")).toBeUndefined();
  });

  test("signing it again from the keys changes no byte (Ed25519 signatures are deterministic)", () => {
    const again = join(work, "resigned");
    writeFixtureRegistry(again, FIXTURE_KEYS_DIR);
    const list = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(dir, join(e.parentPath, e.name)))
        .sort();
    expect(list(again)).toEqual(list(FIXTURE_REGISTRY));
    expect(list(again)).toEqual([
      "federation/1.yaml",
      ...FIXTURE_MEMBERS.map((m) => `federation/1.yaml.${m}.sig`),
      "nodes/a1.yaml",
      "nodes/a1.yaml.sig",
      "nodes/b1.yaml",
      "nodes/b1.yaml.sig",
      "nodes/c1.yaml",
      "nodes/c1.yaml.sig",
    ]);
    for (const path of list(FIXTURE_REGISTRY))
      expect(readFileSync(join(again, path), "utf8"), path).toBe(readFileSync(join(FIXTURE_REGISTRY, path), "utf8"));
  });

  test("anyone can check its signatures with plain `ssh-keygen -Y verify`", () => {
    const allowed = join(work, "allowed_signers");
    writeFileSync(
      allowed,
      v1()
        .members.map((m) => `${m.name} namespaces="${REGISTRY_NAMESPACE}" ${m.keys[0]}`)
        .join("\n") + "\n",
    );
    const check = (path: string, identity: string) =>
      spawnSync(
        "ssh-keygen",
        [
          "-Y",
          "verify",
          "-f",
          allowed,
          "-I",
          identity,
          "-n",
          REGISTRY_NAMESPACE,
          "-s",
          join(FIXTURE_REGISTRY, `${path}${path.startsWith("nodes/") ? ".sig" : `.${identity}.sig`}`),
        ],
        {
          input: readFileSync(join(FIXTURE_REGISTRY, path)),
          encoding: "utf8",
        },
      );
    for (const n of FIXTURE_NODES) expect(check(descriptorPath(n.node), n.member).status, `${n.node}`).toBe(0);
    for (const m of FIXTURE_MEMBERS) expect(check("federation/1.yaml", m).status, m).toBe(0);
    expect(check("nodes/a1.yaml", "coop-b").status).not.toBe(0); // a1 is coop-a's
  });

  test("verifying again with what it held changes nothing and refuses nothing", () => {
    const first = verify(fixtureRegistryFiles());
    const second = verify(fixtureRegistryFiles(), { held: first.held });
    expect(second.rejected).toEqual([]);
    expect(second.held).toEqual(first.held);
    expect(second.federation).toEqual(first.federation);
  });
});

describe("node objects", () => {
  test("an unsigned descriptor is refused", () => {
    const files = withFiles(fixtureRegistryFiles(), [
      signedFiles(descriptor("a1", { node: "a2", mesh: { ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" }, zones: [] }), "coop-a")[0],
    ]);
    expectOnlyRejected(verify(files), "nodes/a2.yaml", /^unsigned: nodes\/a2.yaml.sig is missing$/);
    expectOnlyRejected(verify(without(fixtureRegistryFiles(), "nodes/b1.yaml.sig")), "nodes/b1.yaml", /unsigned/, ["a1", "c1"]);
  });

  test("a descriptor changed after signing is refused; what was held stays", () => {
    const files = fixtureRegistryFiles().map((f) =>
      f.path === "nodes/a1.yaml" ? { ...f, content: f.content.replace("198.51.100.11", "203.0.113.66") } : f,
    );
    expectOnlyRejected(verify(files), "nodes/a1.yaml", /^bad signature: signature does not match the message/, ["b1", "c1"]);
    const held = verify(fixtureRegistryFiles()).held;
    const v = verify(files, { held });
    expectOnlyRejected(v, "nodes/a1.yaml", /^bad signature/);
    expect(v.federation!.nodes[0].endpoint).toBe("198.51.100.11:51820");
  });

  test("a signature that is not one, or for another namespace, is refused", () => {
    const a1 = fixtureRegistryFiles().find((f) => f.path === "nodes/a1.yaml")!.content;
    const garbage = withFiles(fixtureRegistryFiles(), [{ path: "nodes/a1.yaml.sig", content: "hello" }]);
    expectOnlyRejected(verify(garbage), "nodes/a1.yaml", /^bad signature: signature is not an armored SSH signature/, ["b1", "c1"]);
    const otherNamespace = withFiles(fixtureRegistryFiles(), [
      { path: "nodes/a1.yaml.sig", content: signText(a1, fixtureSigner("coop-a"), "file") },
    ]);
    expectOnlyRejected(
      verify(otherNamespace),
      "nodes/a1.yaml",
      /^bad signature: signature is for namespace "file", expected "boreal-registry"/,
      ["b1", "c1"],
    );
  });

  test("a descriptor signed by a key of no member (mallory) is refused", () => {
    const files = withFiles(
      fixtureRegistryFiles(),
      signedFiles(descriptor("a1", { node: "a2", mesh: { ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" }, zones: [] }), "mallory"),
    );
    expectOnlyRejected(verify(files), "nodes/a2.yaml", /^signed by a key of no member of federation version 1$/);
    // mallory re-signing a real node's descriptor does not make it hers, nor keep it.
    const resigned = withFiles(fixtureRegistryFiles(), [
      {
        path: "nodes/a1.yaml.sig",
        content: signText(
          fixtureRegistryFiles().find((f) => f.path === "nodes/a1.yaml")!.content,
          fixtureSigner("mallory"),
          REGISTRY_NAMESPACE,
        ),
      },
    ]);
    expectOnlyRejected(verify(resigned), "nodes/a1.yaml", /no member/, ["b1", "c1"]);
  });

  test("a descriptor signed by another member than its own is refused", () => {
    const a2 = descriptor("a1", {
      node: "a2",
      mesh: { ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" },
      exporter: "100.64.0.2:9100",
      zones: [],
    });
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(a2, "coop-b"))),
      "nodes/a2.yaml",
      /^signed by member coop-b, but node name a2 is member coop-a's \(members\[\].nodes of federation version 1\): coop-b cannot publish it$/,
    );
    // The same object signed by its member is accepted: the refusal above is the signer.
    const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(a2, "coop-a")));
    expect(v.rejected).toEqual([]);
    expect(liveNodes(v)).toEqual(["a1", "a2", "b1", "c1"]);
  });

  test("coop-b claiming coop-a's zone is refused, naming the forged file and not blaming nodes/a1.yaml", () => {
    const forged = descriptor("b1", {
      node: "b2",
      mesh: { ipv4: "100.64.0.18", ipv6: "fd42:b0:ea1::12" },
      exporter: "100.64.0.18:9100",
      zones: ["coop-a.example."],
    });
    const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(forged, "coop-b")));
    expectOnlyRejected(v, "nodes/b2.yaml", /^zone coop-a.example. is outside member coop-b's zones \(coop-b.example., b-mail.example.\)$/);
    expect(v.rejected.some((r) => r.path === "nodes/a1.yaml")).toBe(false);
    expect(v.federation!.nodes.find((n) => n.node === "a1")!.zones).toEqual(["coop-a.example."]);
    // coop-a's own node still plans, its zone served by every node.
    const a1 = plan(fixtureSpec("a1"), v.federation!);
    expect(a1.dns.primaryZones.map((z) => z.name)).toEqual(["coop-a.example."]);
    expect(a1.peers.map((p) => p.node)).toEqual(["b1", "c1"]);
  });

  test("a zone only looking like the member's suffix is outside it; a zone below it is inside", () => {
    const b2 = (zones: string[]) =>
      descriptor("b1", { node: "b2", mesh: { ipv4: "100.64.0.18", ipv6: "fd42:b0:ea1::12" }, exporter: "100.64.0.18:9100", zones });
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(b2(["evilcoop-b.example."]), "coop-b"))),
      "nodes/b2.yaml",
      /zone evilcoop-b.example. is outside member coop-b's zones/,
    );
    const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(b2(["lists.coop-b.example."]), "coop-b")));
    expect(v.rejected).toEqual([]);
    expect(liveNodes(v)).toEqual(["a1", "b1", "b2", "c1"]);
  });

  test("a mesh address outside the member's share is refused (IPv4, and IPv6 by the same host index)", () => {
    const b2 = (ipv4: string, ipv6: string) => descriptor("b1", { node: "b2", mesh: { ipv4, ipv6 }, zones: [] });
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(b2("100.64.0.2", "fd42:b0:ea1::12"), "coop-b"))),
      "nodes/b2.yaml",
      /^mesh address 100.64.0.2 is outside member coop-b's share 100.64.0.16\/28$/,
    );
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(b2("100.64.0.18", "fd42:b0:ea1::2"), "coop-b"))),
      "nodes/b2.yaml",
      /^mesh address fd42:b0:ea1::2 is outside member coop-b's share fd42:b0:ea1::10\/124$/,
    );
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(b2("100.64.1.18", "fd42:b0:ea1::12"), "coop-b"))),
      "nodes/b2.yaml",
      /100.64.1.18 is outside member coop-b's share/,
    );
  });

  const a2 = (changes: Partial<NodeDescriptor>) =>
    descriptor("a1", {
      node: "a2",
      mesh: { ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" },
      zones: [],
      serial: S + 5,
      ...changes,
      exporter: `${changes.mesh?.ipv4 ?? "100.64.0.2"}:9100`,
    });
  // Within one member: between members, names, shares and zone suffixes never meet, and keys carry proofs.
  test.each<[string, Partial<NodeDescriptor>, RegExp]>([
    ["mesh IPv4", { mesh: { ipv4: "100.64.0.1", ipv6: "fd42:b0:ea1::2" } }, /^mesh address 100.64.0.1 is already node a1's$/],
    [
      "mesh IPv6 (spelled otherwise)",
      { mesh: { ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1:0:0:0:0:1" } },
      /^mesh address fd42:b0:ea1:0:0:0:0:1 is already node a1's$/,
    ],
    ["zone", { zones: ["coop-a.example."] }, /^zone coop-a.example. is already node a1's$/],
  ])("a newer node claiming an older node's %s is refused (the lower serial keeps it)", (_what, changes, reason) => {
    const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(a2(changes), "coop-a")));
    expectRejections(v, [["nodes/a2.yaml", reason]]);
    expect(liveNodes(v)).toEqual(ALL);
    expect(v.held.nodes.a2).toBeUndefined();
    // With a lower serial the newcomer is the older registration: a1 gives way.
    const older = verify(withFiles(fixtureRegistryFiles(), signedFiles(a2({ ...changes, serial: S - 5 }), "coop-a")));
    expectRejections(older, [["nodes/a1.yaml", /is already node a2's$/]]);
    expect(liveNodes(older)).toEqual(["a2", "b1", "c1"]);
  });

  test("a copied WireGuard key never wins and never evicts, held state or not, whatever its serial: its proof names another node", () => {
    const a1 = fixtureNode("a1");
    const copy = (serial: number) =>
      descriptor("b1", {
        node: "b2",
        serial,
        publicKey: a1.publicKey,
        keyProof: a1.keyProof,
        mesh: { ipv4: "100.64.0.18", ipv6: "fd42:b0:ea1::12" },
        zones: [],
        exporter: "100.64.0.18:9100",
      });
    const held = verify(fixtureRegistryFiles()).held;
    for (const options of [{}, { held }]) {
      for (const serial of [1, S + 5]) {
        const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(copy(serial), "coop-b")), options);
        expectOnlyRejected(
          v,
          "nodes/b2.yaml",
          /^keyProof does not verify: the node's WireGuard key did not sign it for node b2 of federation boreal-test/,
        );
        expect(v.held.nodes.b2).toBeUndefined();
      }
    }
    // Within coop-a too, a copy is refused by its proof: the lower serial no longer decides.
    const sameMember = verify(
      withFiles(fixtureRegistryFiles(), signedFiles(a2({ publicKey: a1.publicKey, keyProof: a1.keyProof, serial: 1 }), "coop-a")),
    );
    expectOnlyRejected(sameMember, "nodes/a2.yaml", /^keyProof does not verify/);
    // A proof made for another federation does not count here either.
    const elsewhere = withKeyProof(
      { ...fixtureNode("b1"), node: "b2", mesh: { ipv4: "100.64.0.18", ipv6: "fd42:b0:ea1::12" }, zones: [], exporter: "100.64.0.18:9100" },
      "b2",
      "another-federation",
    );
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(elsewhere as NodeDescriptor, "coop-b"))),
      "nodes/b2.yaml",
      /^keyProof does not verify/,
    );
  });

  test("a node name is its member's: another member cannot take it over", () => {
    const takeover = descriptor("b1", {
      node: "a1",
      serial: S + 1,
      mesh: { ipv4: "100.64.0.18", ipv6: "fd42:b0:ea1::12" },
      zones: [],
      exporter: "100.64.0.18:9100",
    });
    const held = verify(fixtureRegistryFiles()).held;
    const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(takeover, "coop-b")), { held });
    expectOnlyRejected(v, "nodes/a1.yaml", /^signed by member coop-b, but node name a1 is member coop-a's/);
    // With nothing held (a new member's first pulumi up, a registry's CI, a node's first sync) the same.
    // and whichever mirror is listed first.
    const fresh = verifyRegistry({
      sources: [
        { name: MIRROR, files: withFiles(fixtureRegistryFiles(), signedFiles(takeover, "coop-b")) },
        { name: "second", files: fixtureRegistryFiles() },
      ],
      trust: fixtureTrustAnchor(),
    });
    expectOnlyRejected(fresh, "nodes/a1.yaml", /^signed by member coop-b, but node name a1 is member coop-a's/);
    expect(fresh.federation!.nodes[0]).toEqual(fixtureNode("a1"));
    // Nor under coop-b's name in the file, whoever signs: the name is coop-a's.
    const relabelled = verify(withFiles(fixtureRegistryFiles(), signedFiles(takeover, "coop-a")), { held });
    expectOnlyRejected(relabelled, "nodes/a1.yaml", /^says member coop-b, but node name a1 is member coop-a's$/);
    expect(v.federation!.nodes[0].member).toBe("coop-a");
  });

  test("a name server name that is not the node's own is refused: another member's zone, a foreign name, another node's ns- name", () => {
    // With b1's own key and proof given, descriptor() keeps the name as written.
    const { publicKey, keyProof } = fixtureNode("b1");
    for (const nameServer of ["ns-b1.coop-a.example.", "ns.coop-b.example.", "ns-a1.coop-a.example.", "b1.example."]) {
      const files = withFiles(
        fixtureRegistryFiles(),
        signedFiles(descriptor("b1", { serial: 5, publicKey, keyProof, nameServer }), "coop-b"),
      );
      expectOnlyRejected(verify(files), "nodes/b1.yaml", /nameServer .* is not the node's own: ns-b1 in one of its zones/, ["a1", "c1"]);
    }
    const own = withFiles(
      fixtureRegistryFiles(),
      signedFiles(descriptor("b1", { serial: 5, nameServer: "ns-b1.b-mail.example." }), "coop-b"),
    );
    expect(verify(own).rejected).toEqual([]);
    // A host-name endpoint is its own name server name, and no other.
    const c1Key = { publicKey: fixtureNode("c1").publicKey, keyProof: fixtureNode("c1").keyProof };
    const c1 = withFiles(
      fixtureRegistryFiles(),
      signedFiles(descriptor("c1", { serial: 5, ...c1Key, nameServer: "ns-c1.coop-c.example." }), "coop-c"),
    );
    expectOnlyRejected(verify(c1), "nodes/c1.yaml", /nameServer ns-c1.coop-c.example. is not the node's own/, ["a1", "b1"]);
  });

  test("a delegation record is capped and its names are slugs; names that are no node are ignored", () => {
    const tooMany = descriptor("b1", {
      serial: 5,
      delegation: { nameServers: Array.from({ length: 17 }, (_, i) => `n${i}`), since: "2026-12-01T00:00:00Z" },
    });
    expectOnlyRejected(verify(withFiles(fixtureRegistryFiles(), signedFiles(tooMany, "coop-b"))), "nodes/b1.yaml", /more than 16 nodes/, [
      "a1",
      "c1",
    ]);
    const ghosts = descriptor("b1", { serial: 5, delegation: { nameServers: ["b1", "zz9", "a1"], since: "2026-12-01T00:00:00Z" } });
    const v = verify(withFiles(fixtureRegistryFiles(), signedFiles(ghosts, "coop-b")));
    expect(v.rejected).toEqual([]);
    expect(plan(fixtureSpec("b1"), v.federation!).delegation).toEqual(["b1", "a1", "c1"]);
  });

  test("a file named for another node than the one it describes is refused", () => {
    const a1 = fixtureRegistryFiles().filter((f) => f.path.startsWith("nodes/a1.yaml"));
    const copy = a1.map((f) => ({ ...f, path: f.path.replace("a1", "a9") }));
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), copy)),
      "nodes/a9.yaml",
      /^names node "a1" but the file is nodes\/a9.yaml$/,
    );
  });

  test("replay: a serial lower than the one held is refused, the held descriptor stays", () => {
    const moved = descriptor("b1", { serial: S + 10, endpoint: "198.51.100.112:51820", updatedAt: "2026-11-21T10:00:00Z" });
    const newer = verify(withFiles(fixtureRegistryFiles(), signedFiles(moved, "coop-b")));
    expect(newer.rejected).toEqual([]);
    // A mirror still (or again) serving the old, validly signed descriptor:
    const v = verify(fixtureRegistryFiles(), { held: newer.held });
    expectOnlyRejected(v, "nodes/b1.yaml", new RegExp(`^replay: serial ${S} is lower than serial ${S + 10} already held$`));
    expect(v.federation!.nodes.find((n) => n.node === "b1")!.endpoint).toBe("198.51.100.112:51820");
    expect(v.held.nodes.b1.serial).toBe(S + 10);
  });

  test("the same serial with other content is refused: a change needs a higher serial", () => {
    const sameSerial = descriptor("b1", { endpoint: "198.51.100.112:51820" });
    const held = verify(withFiles(fixtureRegistryFiles(), signedFiles(sameSerial, "coop-b"))).held;
    const v = verify(fixtureRegistryFiles(), { held });
    expectOnlyRejected(v, "nodes/b1.yaml", new RegExp(`^serial ${S} is already held with other content: a change needs a higher serial$`));
    expect(v.federation!.nodes.find((n) => n.node === "b1")!.endpoint).toBe("198.51.100.112:51820");
  });

  test("of two mirrors, the higher serial wins whichever comes first; a forgery names its mirror", () => {
    const moved = descriptor("b1", { serial: S + 10, endpoint: "198.51.100.112:51820" });
    const forged = signedFiles(
      descriptor("b1", { node: "b9", member: "coop-b", mesh: { ipv4: "100.64.0.25", ipv6: "fd42:b0:ea1::19" }, zones: [] }),
      "mallory",
    );
    const sources: RegistrySource[] = [
      { name: "stale", files: withFiles(fixtureRegistryFiles(), forged) },
      { name: "fresh", files: withFiles(fixtureRegistryFiles(), signedFiles(moved, "coop-b")) },
    ];
    const v = verifyRegistry({ sources, trust: fixtureTrustAnchor() });
    expect(v.rejected).toEqual([
      { source: "stale", path: "nodes/b9.yaml", reason: "signed by a key of no member of federation version 1" },
    ]);
    expect(v.federation!.nodes.find((n) => n.node === "b1")!.serial).toBe(S + 10);
    expect(liveNodes(v)).toEqual(ALL);
  });
});

describe("tombstones", () => {
  test("a tombstone removes the node; an older descriptor cannot bring it back, a higher serial can", () => {
    const c1 = fixtureNode("c1");
    const tombstone = buildTombstone(c1);
    expect(tombstone).toEqual({ member: "coop-c", node: "c1", serial: S + 1, left: true, updatedAt: c1.updatedAt });
    const left = verify(withFiles(fixtureRegistryFiles(), signedFiles(tombstone, "coop-c")));
    expect(left.rejected).toEqual([]);
    expect(liveNodes(left)).toEqual(["a1", "b1"]);
    expect(left.departed).toEqual(["c1"]);
    expect(left.held.nodes.c1).toMatchObject({ serial: S + 1, left: true, member: "coop-c" });
    expect(plan(fixtureSpec("b1"), left.federation!).peers.map((p) => p.node)).toEqual(["a1"]);

    // A mirror that still has the old descriptor (serial below the tombstone's):
    const replayed = verify(fixtureRegistryFiles(), { held: left.held });
    expectOnlyRejected(replayed, "nodes/c1.yaml", new RegExp(`^replay: serial ${S} is lower than serial ${S + 1} already held$`), [
      "a1",
      "b1",
    ]);
    expect(replayed.departed).toEqual(["c1"]);

    // The member brings the node back with a higher serial.
    const back = verify(withFiles(fixtureRegistryFiles(), signedFiles({ ...c1, serial: S + 2 }, "coop-c")), { held: left.held });
    expect(back.rejected).toEqual([]);
    expect(liveNodes(back)).toEqual(ALL);
    expect(back.departed).toEqual([]);
  });

  test("a tombstone signed by another member is refused, and the node stays", () => {
    const tombstone = buildTombstone(fixtureNode("c1"));
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(tombstone, "coop-a"))),
      "nodes/c1.yaml",
      /^signed by member coop-a, but node name c1 is member coop-c's/,
      ["a1", "b1"],
    );
    const held = verify(fixtureRegistryFiles()).held;
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(tombstone, "mallory")), { held }),
      "nodes/c1.yaml",
      /no member/,
    );
    // Nor can coop-a declare coop-c's node gone under its own name.
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles({ ...tombstone, member: "coop-a" }, "coop-a")), { held }),
      "nodes/c1.yaml",
      /^signed by member coop-a, but node name c1 is member coop-c's/,
    );
  });

  test("after a tombstone the name stays its member's: only a federation version can give it to another", () => {
    const c1 = fixtureNode("c1");
    const left = verify(withFiles(fixtureRegistryFiles(), signedFiles(buildTombstone(c1), "coop-c")));
    const reuse = (serial: number) =>
      descriptor("b1", {
        node: "c1",
        serial,
        mesh: { ipv4: "100.64.0.19", ipv6: "fd42:b0:ea1::13" },
        zones: [],
        exporter: "100.64.0.19:9100",
      });
    for (const serial of [S, S + 2]) {
      expectOnlyRejected(
        verify(withFiles(fixtureRegistryFiles(), signedFiles(reuse(serial), "coop-b")), { held: left.held }),
        "nodes/c1.yaml",
        /^signed by member coop-b, but node name c1 is member coop-c's/,
        ["a1", "b1"],
      );
    }
    // Version 2 gives the name c1 to coop-b (coop-c keeps "cc*"): coop-b's c1 counts, coop-c's tombstone no longer.
    const base = v1();
    const moved = {
      ...base,
      version: 2,
      members: base.members.map((m) =>
        m.name === "coop-b" ? { ...m, nodes: ["b*", "c1"] } : m.name === "coop-c" ? { ...m, nodes: ["cc*"] } : m,
      ),
    };
    const v2 = federationFiles(moved, [
      ["coop-a", "coop-a"],
      ["coop-c", "coop-c"],
    ]);
    const v = verify(withFiles(fixtureRegistryFiles(), v2, signedFiles(reuse(S + 2), "coop-b")), { held: left.held });
    expect(v.rejected.filter((r) => r.source !== "held state")).toEqual([]);
    expect(v.federation!.nodes.find((n) => n.node === "c1")!.member).toBe("coop-b");
  });
});

describe("federation versions", () => {
  test("a version signed by fewer members than the threshold is refused; version 1 stays", () => {
    const files = withFiles(fixtureRegistryFiles(), federationFiles(v2WithCoopE(), [["coop-a", "coop-a"]]));
    const v = verify(files);
    expectOnlyRejected(v, "federation/2.yaml", /^signed by 1 member\(s\) of version 1 \(coop-a\); it needs 2$/);
    expect(v.version!.version).toBe(1);
    // An outsider's signature under a member's name counts for nothing.
    const forged = withFiles(
      fixtureRegistryFiles(),
      federationFiles(v2WithCoopE(), [
        ["coop-a", "coop-a"],
        ["coop-b", "mallory"],
      ]),
    );
    expectOnlyRejected(verify(forged), "federation/2.yaml", /^signed by 1 member\(s\) of version 1 \(coop-a\); it needs 2$/);
  });

  test("two keys of the same member count once", () => {
    // Version 1 where coop-a has two keys; the pin is this version's.
    const base = v1();
    const twoKeys: FederationVersion = {
      ...base,
      members: base.members.map((m) =>
        m.name === "coop-a"
          ? {
              ...m,
              keys: [
                ...m.keys,
                readFileSync(`${join(FIXTURE_KEYS_DIR, "coop-a-second")}.pub`, "utf8")
                  .trim()
                  .split(/\s+/)
                  .slice(0, 2)
                  .join(" "),
              ],
            }
          : m,
      ),
    };
    const first = federationFiles(twoKeys, []);
    const trust = { version: 1, sha256: sha256(first[0].content) };
    const next = { ...twoKeys, version: 2, threshold: 3 };
    const files = withFiles(
      fixtureRegistryFiles(),
      first,
      federationFiles(next, [
        ["coop-a", "coop-a"],
        ["coop-b", "coop-a-second"],
      ]),
      [
        // ... and under a name of its own, which is no member's.
        {
          path: "federation/2.yaml.coop-a-second.sig",
          content: signText(renderFederation(next), fixtureSigner("coop-a-second"), REGISTRY_NAMESPACE),
        },
      ],
    );
    const v = verify(files, { trust });
    expectOnlyRejected(v, "federation/2.yaml", /^signed by 1 member\(s\) of version 1 \(coop-a\); it needs 2$/);
    expect(v.version).toEqual(trust);
    // Either key of coop-a signs for coop-a, and one more member makes the threshold.
    const ok = verify(
      withFiles(
        files,
        federationFiles(next, [
          ["coop-a", "coop-a-second"],
          ["coop-c", "coop-c"],
        ]),
      ),
      { trust },
    );
    expect(ok.rejected).toEqual([]);
    expect(ok.version!.version).toBe(2);
    expect(ok.federation!.settings.threshold).toBe(3);
  });

  test("a version signed by a threshold of the version before chains; the member it admits can join", () => {
    // Before the admission, coop-e's node is nobody's.
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), signedFiles(e1(), coopE))),
      "nodes/e1.yaml",
      /^node name e1 is no member's in federation version 1/,
    );

    const v2 = federationFiles(v2WithCoopE(), [
      ["coop-a", "coop-a"],
      ["coop-c", "coop-c"],
    ]);
    const v = verify(withFiles(fixtureRegistryFiles(), v2, signedFiles(e1(), coopE)));
    expect(v.rejected).toEqual([]);
    expect(v.version).toEqual({ version: 2, sha256: sha256(v2[0].content) });
    expect(v.federation!.settings.members.map((m) => m.name)).toEqual([...FIXTURE_MEMBERS, "coop-e"]);
    expect(liveNodes(v)).toEqual(["a1", "b1", "c1", "e1"]);
    expect(v.held.federation).toMatchObject({ version: 2, content: v2[0].content });
    const b1 = plan(fixtureSpec("b1"), v.federation!);
    expect(b1.peers.map((p) => p.node)).toEqual(["a1", "c1", "e1"]);
    expect(b1.dns.secondaryZones.map((z) => z.name)).toContain("coop-e.example.");

    // Version 3 is counted against version 2's members: the new member's signature counts.
    const v3 = federationFiles({ ...v2WithCoopE(), version: 3, threshold: 3 }, [
      ["coop-e", coopE],
      ["coop-d", "coop-d"],
    ]);
    const third = verify(withFiles(fixtureRegistryFiles(), v2, v3, signedFiles(e1(), coopE)));
    expect(third.rejected).toEqual([]);
    expect(third.version!.version).toBe(3);

    // What the agent held is trusted next time without the earlier versions.
    const later = verify(withFiles(without(fixtureRegistryFiles(), "federation/1.yaml"), signedFiles(e1(), coopE)), { held: third.held });
    expect(later.rejected).toEqual([]);
    expect(later.version!.version).toBe(3);
  });

  test("a version that does not chain is refused, and so is every later one", () => {
    const v2 = federationFiles(v2WithCoopE(), [["coop-b", "coop-b"]]);
    const v3 = federationFiles({ ...v2WithCoopE(), version: 3 }, [
      ["coop-a", "coop-a"],
      ["coop-b", "coop-b"],
      ["coop-e", coopE],
    ]);
    const v = verify(withFiles(fixtureRegistryFiles(), v2, v3, signedFiles(e1(), coopE)));
    expectRejections(v, [
      ["federation/2.yaml", /^signed by 1 member\(s\) of version 1 \(coop-b\); it needs 2$/],
      ["federation/3.yaml", /^does not chain: version 2 is missing or not signed by enough members$/],
      ["nodes/e1.yaml", /^node name e1 is no member's in federation version 1/],
    ]);
    expect(v.version!.version).toBe(1);
    expect(liveNodes(v)).toEqual(ALL);
    // A gap is the same: version 3 without version 2.
    const gap = verify(withFiles(fixtureRegistryFiles(), v3));
    expectOnlyRejected(gap, "federation/3.yaml", /^does not chain: version 2 is missing/);
  });

  test("a version changed after signing, or numbered otherwise than its file, is refused", () => {
    const [file, ...signatures] = federationFiles(v2WithCoopE(), [
      ["coop-a", "coop-a"],
      ["coop-b", "coop-b"],
    ]);
    const changed = { ...file, content: file.content.replace("threshold: 2", "threshold: 1") };
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), [changed, ...signatures])),
      "federation/2.yaml",
      /^signed by 0 member\(s\) of version 1; it needs 2$/,
    );
    const misnumbered = federationFiles({ ...v2WithCoopE(), version: 5 }, [
      ["coop-a", "coop-a"],
      ["coop-b", "coop-b"],
    ]).map((f) => ({ ...f, path: f.path.replace("5.yaml", "2.yaml") }));
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), misnumbered)),
      "federation/2.yaml",
      /^says version 5 but is named federation\/2.yaml$/,
    );
    const invalid = federationFiles({ ...v2WithCoopE(), threshold: 9 }, [
      ["coop-a", "coop-a"],
      ["coop-b", "coop-b"],
    ]);
    expectOnlyRejected(
      verify(withFiles(fixtureRegistryFiles(), invalid)),
      "federation/2.yaml",
      /^threshold: threshold 9 is more than the 5 member\(s\)$/,
    );
  });

  test("a pinned version with another hash is refused, and nothing is trusted", () => {
    const edited = fixtureRegistryFiles().map((f) =>
      f.path === "federation/1.yaml" ? { ...f, content: f.content.replace("threshold: 2", "threshold: 1") } : f,
    );
    const v = verify(edited);
    expectRejections(v, [
      ["federation/1.yaml", /^does not match the pinned trust anchor \(sha256 [0-9a-f]{12}…, this file [0-9a-f]{12}…\)$/],
    ]);
    expect(v.federation).toBeUndefined();
    expect(v.held.nodes).toEqual({});
    // A registry without the pinned version says so.
    const missing = verify(without(fixtureRegistryFiles(), "federation/1.yaml"));
    expectRejections(missing, [["federation/1.yaml", /^the pinned federation version 1 \(sha256 [0-9a-f]{12}…\) is in no source$/]]);
    expect(missing.federation).toBeUndefined();

    const wrongPin = { version: 1, sha256: sha256("another federation") };
    expect(verify(fixtureRegistryFiles(), { trust: wrongPin }).federation).toBeUndefined();
    // `pulumi up` stops, saying what to do.
    try {
      loadRegistry(FIXTURE_REGISTRY, formatTrust(wrongPin));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BorealConfigError);
      expect((error as BorealConfigError).problems[0]).toMatchObject({
        key: "federation",
        message: expect.stringMatching(/^no trusted federation version: .*federation\/1.yaml: does not match the pinned trust anchor/),
        fix: expect.stringMatching(/boreal:trust/),
      });
    }
    expect(() => loadRegistry(FIXTURE_REGISTRY, "1:abc")).toThrow(/boreal:trust.*<version>:<sha256>/s);
  });

  test("a federation from before node names were bound: its nodes count once a next version gives the names", () => {
    const legacy = { ...v1(), members: v1().members.map(({ nodes: _nodes, ...m }) => m) } as unknown as FederationVersion;
    const first = federationFiles(legacy, []);
    const trust = { version: 1, sha256: sha256(first[0].content) };
    const nodes = fixtureRegistryFiles().filter((f) => f.path.startsWith("nodes/"));
    const before = verify([...first, ...nodes], { trust });
    expect(before.version).toEqual(trust);
    expect(liveNodes(before)).toEqual([]);
    expect(before.rejected.map((r) => r.reason)).toEqual(
      ALL.map((n) => expect.stringMatching(new RegExp(`^node name ${n} is no member's in federation version 1`))),
    );
    const next = federationFiles({ ...v1(), version: 2 }, [
      ["coop-a", "coop-a"],
      ["coop-b", "coop-b"],
    ]);
    const after = verify([...first, ...next, ...nodes], { trust });
    expect(after.rejected).toEqual([]);
    expect(after.version!.version).toBe(2);
    expect(liveNodes(after)).toEqual(ALL);
  });

  test("a held node whose member a later version removed is dropped", () => {
    const held = verify(fixtureRegistryFiles()).held;
    const base = v1();
    const v2 = federationFiles({ ...base, version: 2, members: base.members.filter((m) => m.name !== "coop-c") }, [
      ["coop-a", "coop-a"],
      ["coop-b", "coop-b"],
    ]);
    const v = verify(withFiles(fixtureRegistryFiles(), v2), { held });
    expectRejections(v, [
      ["nodes/c1.yaml", /^dropped: node name c1 is no member's in federation version 2/],
      ["nodes/c1.yaml", /^node name c1 is no member's in federation version 2/],
    ]);
    expect(v.rejected.map((r) => r.source).sort()).toEqual([MIRROR, "held state"]);
    expect(liveNodes(v)).toEqual(["a1", "b1"]);
    expect(v.held.nodes.c1).toBeUndefined();
  });
});

describe("hostile files", () => {
  test("files that are no part of a registry are refused by name", () => {
    const stray = [
      "notes.txt",
      "nodes/a1.yml",
      "federation/latest.yaml",
      "nodes/sub/x.yaml",
      "federation/1.yaml.Coop-A.sig",
      ".git/config",
    ];
    const v = verify(
      withFiles(
        fixtureRegistryFiles(),
        stray.map((path) => ({ path, content: "x: 1\n" })),
      ),
    );
    expectRejections(
      v,
      stray.map((path) => [path, /^is not part of a registry \(only federation\/<N>.yaml, nodes\/<node>.yaml and their .sig files are\)$/]),
    );
    expect(liveNodes(v)).toEqual(ALL);
  });

  test("symlinks and directories in a registry directory are refused unread", () => {
    const dir = join(work, "symlinks");
    cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
    symlinkSync("/etc/passwd", join(dir, "nodes", "x.yaml"));
    symlinkSync("/etc/passwd", join(dir, "nodes", "b1.yaml.sig.tmp"));
    rmSync(join(dir, "nodes", "c1.yaml.sig"));
    symlinkSync("/etc/passwd", join(dir, "nodes", "c1.yaml.sig"));
    mkdirSync(join(dir, "nodes", "d1.yaml"));
    const source = readRegistrySource(dir, MIRROR);
    expect(source.files.map((f) => f.path)).not.toContain("nodes/x.yaml");
    // A name no registry object has is refused by its name, without even a look at the file.
    expect(source.unreadable.map((r) => r.path)).toEqual(["nodes/c1.yaml.sig", "nodes/d1.yaml", "nodes/x.yaml"]);
    for (const r of source.unreadable) expect(r.reason).toBe("is not a regular file (symlinks and directories are refused)");
    const v = verifySources([source], fixtureTrustAnchor());
    const passwd = readFileSync("/etc/passwd", "utf8");
    const firstLine = passwd.split("\n")[0];
    for (const r of v.rejected) {
      expect(r.reason).not.toContain(firstLine);
      expect(r.reason).not.toMatch(/root:/);
    }
    expect(v.rejected).toContainEqual({
      source: MIRROR,
      path: "nodes/x.yaml",
      reason: "is not a regular file (symlinks and directories are refused)",
    });
    expect(v.rejected).toContainEqual({ source: MIRROR, path: "nodes/c1.yaml", reason: "unsigned: nodes/c1.yaml.sig is missing" });
    expect(liveNodes(v)).toEqual(["a1", "b1"]);
  });

  test("a symlinked nodes/ directory is not followed", () => {
    const dir = join(work, "symlinked-dir");
    cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
    const elsewhere = join(work, "elsewhere-nodes");
    cpSync(join(FIXTURE_REGISTRY, "nodes"), elsewhere, { recursive: true });
    rmSync(join(dir, "nodes"), { recursive: true });
    symlinkSync(elsewhere, join(dir, "nodes"));
    const source = readRegistrySource(dir, MIRROR);
    expect(source.files.filter((f) => f.path.startsWith("nodes/"))).toEqual([]);
    expect(liveNodes(verifySources([source], fixtureTrustAnchor()))).toEqual([]);
  });

  test("an oversize object is refused unread, from memory and from disk; so is an oversize signature", () => {
    const big = `# ${"x".repeat(MAX_NODE_OBJECT_BYTES)}\n${fixtureRegistryFiles().find((f) => f.path === "nodes/a1.yaml")!.content}`;
    const v = verify(withFiles(fixtureRegistryFiles(), [{ path: "nodes/a1.yaml", content: big }]));
    expectOnlyRejected(v, "nodes/a1.yaml", /^is 16\d{3} bytes, over the cap of 16384 bytes for a node object$/, ["b1", "c1"]);

    const dir = join(work, "oversize");
    cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
    writeFileSync(join(dir, "nodes", "a-huge.yaml"), Buffer.alloc(4 * 1024 * 1024, "a"));
    cpSync(join(dir, "nodes", "a1.yaml.sig"), join(dir, "nodes", "a-huge.yaml.sig"));
    writeFileSync(join(dir, "nodes", "b1.yaml.sig"), Buffer.alloc(MAX_SIGNATURE_BYTES + 1, "a"));
    writeFileSync(join(dir, "federation", "2.yaml"), Buffer.alloc(MAX_FEDERATION_BYTES + 1, "a"));
    const source = readRegistrySource(dir, MIRROR);
    expectRejections(verifySources([source], fixtureTrustAnchor()), [
      ["nodes/a-huge.yaml", /^is 4194304 bytes, over the cap of 16384 bytes for this kind of object \(not read\)$/],
      ["nodes/b1.yaml.sig", /^is 2049 bytes, over the cap of 2048 bytes for a signature \(not read\)$/],
      ["federation/2.yaml", /^is 262145 bytes, over the cap of 262144 bytes for this kind of object \(not read\)$/],
    ]);
  });

  test("YAML aliases are refused, quickly (no alias bomb)", () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
      "h: [*g, *g, *g, *g, *g, *g, *g, *g, *g]",
    ].join("\n");
    const started = Date.now();
    const v = verify(
      withFiles(
        fixtureRegistryFiles(),
        [{ path: "nodes/zbomb.yaml", content: bomb }],
        federationFiles({ ...v1(), version: 2 }, []).map((f) => ({ ...f, content: `${f.content}x: &x 1\ny: *x\n` })),
      ),
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expectRejections(v, [
      ["nodes/zbomb.yaml", /^node name zbomb is no member's/],
      // Unsigned: never parsed at all.
      ["federation/2.yaml", /^signed by 0 member\(s\) of version 1; it needs 2$/],
    ]);
    expect(liveNodes(v)).toEqual(ALL);
    // Even one alias in a descriptor otherwise well signed.
    const a1 = fixtureNode("a1");
    const aliased = `member: &m coop-a\nnode: a1\nserial: ${a1.serial + 1}\nendpoint: ${a1.endpoint}\npublicKey: ${a1.publicKey}\nkeyProof: ${a1.keyProof}\nmesh:\n  ipv4: ${a1.mesh.ipv4}\n  ipv6: ${a1.mesh.ipv6}\nzones: [coop-a.example.]\nexporter: ${a1.exporter}\nupdatedAt: ${a1.updatedAt}\nx: *m\n`;
    const signature = signText(aliased, fixtureSigner("coop-a"), REGISTRY_NAMESPACE);
    expectOnlyRejected(
      verify(
        withFiles(fixtureRegistryFiles(), [
          { path: "nodes/a1.yaml", content: aliased },
          { path: "nodes/a1.yaml.sig", content: signature },
        ]),
      ),
      "nodes/a1.yaml",
      /^is not valid YAML/,
      ["b1", "c1"],
    );
  });

  test("the issue's forgery: a hand-written nodes/evil.yaml is refused, and b1 gets no such peer or name server", () => {
    const evil = {
      member: "mallory",
      node: "evil",
      serial: 1,
      endpoint: "203.0.113.66:51820",
      publicKey: "RXZpbEV2aWxFdmlsRXZpbEV2aWxFdmlsRXZpbEV2aWw=",
      mesh: { ipv4: "100.64.0.200", ipv6: "fd42:b0:ea1::c8" },
      zones: ["bank.lab.test."],
      exporter: "100.64.0.200:9100",
      updatedAt: "2026-11-26T12:00:00Z",
    };
    const content = `member: mallory\nnode: evil\nserial: 1\nendpoint: 203.0.113.66:51820\npublicKey: ${evil.publicKey}\nmesh:\n  ipv4: 100.64.0.200\n  ipv6: fd42:b0:ea1::c8\nzones:\n  - bank.lab.test.\nexporter: 100.64.0.200:9100\nupdatedAt: 2026-11-26T12:00:00Z\n`;
    const unsigned = verify(withFiles(fixtureRegistryFiles(), [{ path: "nodes/evil.yaml", content }]));
    expectOnlyRejected(unsigned, "nodes/evil.yaml", /^node name evil is no member's in federation version 1/);
    const signed = verify(withFiles(fixtureRegistryFiles(), signedFiles(evil as unknown as NodeDescriptor, "mallory")));
    expectOnlyRejected(signed, "nodes/evil.yaml", /^node name evil is no member's in federation version 1/);
    for (const v of [unsigned, signed]) {
      const b1 = plan(fixtureSpec("b1"), v.federation!);
      expect(b1.peers.map((p) => p.node)).toEqual(["a1", "c1"]);
      expect(b1.peers.some((p) => p.publicKey === evil.publicKey)).toBe(false);
      for (const zone of b1.dns.primaryZones) expect(zone.nameServers.map((ns) => ns.node)).toEqual(["b1", "a1", "c1"]);
      expect(b1.dns.secondaryZones.map((z) => z.name)).not.toContain("bank.lab.test.");
      expect(JSON.stringify(b1)).not.toMatch(/evil|203\.0\.113\.66|bank\.lab\.test/);
    }
  });
});
