// The registry against a hostile mirror and a dishonest member (issue 23): bounded work,
// identities nobody else can take, signatures over bytes, addresses that go nowhere
// unexpected, reports that cannot be forged, and clear words. Every case reads a real
// directory through the kit's reader, as `pulumi up`, `registry check` and the agent do.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { descriptorPath, NodeDescriptor, parseNodeObject, RegistryFile, signaturePath } from "../../src/core/registry/format";
import { escapeText } from "../../src/core/values/escape";
import { readRegistrySource, verifySources } from "../../src/io/registry/read";
import { allocateMeshAddresses } from "../../src/core/mesh/allocate";
import {
  armorBody,
  attestationProofStatement,
  checkWireguardProof,
  makeWireguardProof,
  NODE_PROOF_NAMESPACE,
} from "../../src/core/registry/keyproof";
import { signText } from "../../src/io/registry/sign";
import { REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import { formatRejection, nodeNameProblem, verifyRegistry, VerifiedRegistry } from "../../src/core/registry/verify";
import { renderFederation, signedNodeObject } from "../../src/io/registry/write";
import { FIXTURE_NODES, fixtureFederationVersion, fixtureWireguardKey, withKeyProof } from "../fixtures/sign-fixtures";
import {
  FIXTURE_KEYS,
  FIXTURE_KEYS_DIR,
  FIXTURE_REGISTRY,
  fixtureRegistryCopy,
  fixtureRegistryFiles,
  fixtureSigner,
  fixtureSpec,
  fixtureTrustAnchor,
} from "../helpers/fixtures";

const work = mkdtempSync(join(tmpdir(), "boreal-hostile-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;

const registryWith = (files: Record<string, string | Buffer>): string => fixtureRegistryCopy(join(work, `registry-${++dirs}`), files);

const verifyDir = (dir: string, name = "mirror"): VerifiedRegistry => verifySources([readRegistrySource(dir, name)], fixtureTrustAnchor());
const live = (v: VerifiedRegistry) => v.federation?.nodes.map((n) => n.node);
const reasonOf = (v: VerifiedRegistry, path: string) => v.rejected.filter((r) => r.path === path).map((r) => r.reason);
const fixtureNode = (node: string): NodeDescriptor => structuredClone(FIXTURE_NODES.find((n) => n.node === node)!);

/** A new node of coop-a (a2), with its own key and proof, and `changes`; signed by coop-a. */
function a2(changes: Partial<NodeDescriptor> = {}): { content: string; signature: string } {
  const base = withKeyProof({
    ...fixtureNode("a1"),
    node: "a2",
    mesh: { ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" },
    zones: [],
    exporter: "100.64.0.2:9100",
    ...changes,
  });
  return signedNodeObject(base as NodeDescriptor, fixtureSigner("coop-a"));
}
const a2Files = (signed: { content: string; signature: string }) => ({
  "nodes/a2.yaml": signed.content,
  "nodes/a2.yaml.sig": signed.signature,
});

const seconds = (run: () => void): number => {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e9;
};

describe("bounded work", () => {
  test("a federation version with a huge number costs nothing: refused by its name, or as not chaining, at once", () => {
    const stray = {
      "federation/10000000000000000000.yaml": "version: 1\n",
      "federation/99999999.yaml": "version: 99999999\n",
      "federation/00.yaml": "x: 1\n",
      "federation/01.yaml": "x: 1\n",
      "federation/1000000.yaml": "version: 1000000\n",
    };
    const dir = registryWith(stray);
    let v!: VerifiedRegistry;
    expect(seconds(() => (v = verifyDir(dir)))).toBeLessThan(2);
    for (const path of ["federation/10000000000000000000.yaml", "federation/99999999.yaml", "federation/00.yaml", "federation/01.yaml"]) {
      expect(reasonOf(v, path), path).toEqual([
        "is not a federation version's name: versions are federation/1.yaml, federation/2.yaml, ... up to 1000000, without leading zeros",
      ]);
    }
    expect(reasonOf(v, "federation/1000000.yaml")).toEqual(["does not chain: version 2 is missing or not signed by enough members"]);
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  });

  test("junk files cost a directory listing: time stays linear (1,000 vs 20,000), none is read, and the report is bounded", () => {
    const junk = (count: number, prefix: string) => {
      const dir = registryWith({});
      for (let i = 0; i < count; i++) writeFileSync(join(dir, "nodes", `${prefix}-${i}.txt`), "x".repeat(100));
      return dir;
    };
    const small = junk(1000, "junk");
    const large = junk(20000, "junk");
    verifyDir(small); // warm
    const t1 = Math.min(...[0, 1, 2].map(() => seconds(() => verifyDir(small))));
    const t20 = Math.min(...[0, 1].map(() => seconds(() => verifyDir(large))));
    // 20 times the files: well under 20 × 4 times the time (linear, with a generous bound), and a few seconds at most.
    expect(t20, `1,000 junk files: ${t1.toFixed(3)} s; 20,000: ${t20.toFixed(3)} s`).toBeLessThan(Math.max(80 * t1, 0.5));
    expect(t20).toBeLessThan(5);
    console.log(`[registry] junk files: 1,000 in ${(t1 * 1000).toFixed(0)} ms, 20,000 in ${(t20 * 1000).toFixed(0)} ms`);
    const v = verifyDir(large);
    expect(v.rejected.length).toBe(21);
    expect(v.rejected[20].reason).toBe("19980 more files are not part of a registry (not read; the first 20 are named above)");
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  }, 120_000);

  test("3,000 files of 60 KB under a member's names are refused by their size, unread", () => {
    const dir = registryWith({});
    const big = Buffer.alloc(60 * 1024, "a");
    const sig = readFileSync(join(FIXTURE_REGISTRY, "nodes", "a1.yaml.sig"));
    for (let i = 0; i < 3000; i++) {
      writeFileSync(join(dir, "nodes", `a-big-${i}.yaml`), big);
      writeFileSync(join(dir, "nodes", `a-big-${i}.yaml.sig`), sig);
    }
    const heapBefore = process.memoryUsage().heapUsed;
    let v!: VerifiedRegistry;
    const took = seconds(() => (v = verifyDir(dir)));
    expect(took).toBeLessThan(5);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(reasonOf(v, "nodes/a-big-7.yaml")).toEqual(["is 61440 bytes, over the cap of 16384 bytes for this kind of object (not read)"]);
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  }, 120_000);

  test("unsigned objects under a member's names are never read; signed junk costs one signature check, never a parse", () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) files[`nodes/a-x${i}.yaml`] = "[".repeat(16000);
    const v = verifyDir(registryWith(files));
    expect(reasonOf(v, "nodes/a-x1.yaml")).toEqual(["unsigned: nodes/a-x1.yaml.sig is missing"]);
    const signedJunk = "[".repeat(5000);
    const signature = signText(signedJunk, fixtureSigner("coop-a"), REGISTRY_NAMESPACE);
    const deep = verifyDir(registryWith({ "nodes/a-deep.yaml": signedJunk, "nodes/a-deep.yaml.sig": signature }));
    expect(reasonOf(deep, "nodes/a-deep.yaml")).toEqual(["nests brackets deeper than 32 levels"]);
  }, 60_000);
});

describe("identities", () => {
  test("pulumi up refuses a node name its member may not publish, naming the key and the fix", () => {
    const federation = verifyDir(FIXTURE_REGISTRY).federation!.settings;
    expect(nodeNameProblem(federation, "coop-a", "a7")).toBeUndefined();
    expect(nodeNameProblem(federation, "coop-a", "b7")).toEqual({
      source: "stack config",
      key: "boreal:node",
      message: "node name b7 is member coop-b's in federation version 1, not coop-a's",
      fix: "pick a name coop-a may publish (a*), or have the members sign a version that gives it the name (boreal registry admit DIR --nodes coop-a:b7)",
    });
    expect(nodeNameProblem(federation, "coop-a", "zed")?.message).toBe(
      "node name zed is no member's in federation version 1 (coop-a's names: a*)",
    );
  });

  test("an attestation key copied from another node never counts: its proof names the other node", () => {
    const keyFile = join(work, "attestation-b1");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
    const key = readFileSync(`${keyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    const proofFor = (node: string) =>
      armorBody(
        signText(attestationProofStatement({ federation: "boreal-test", node, attestationKey: key }), { keyFile }, NODE_PROOF_NAMESPACE),
      );
    const b1 = withKeyProof({
      ...fixtureNode("b1"),
      serial: fixtureNode("b1").serial + 1,
      attestationKey: key,
      attestationKeyProof: proofFor("b1"),
    });
    const b1Signed = signedNodeObject(b1 as NodeDescriptor, fixtureSigner("coop-b"));
    const withB1 = { "nodes/b1.yaml": b1Signed.content, "nodes/b1.yaml.sig": b1Signed.signature };
    const good = verifyDir(registryWith(withB1));
    expect(good.rejected).toEqual([]);
    expect(good.federation!.nodes.find((n) => n.node === "b1")!.attestationKey).toBe(key);
    // coop-a copies it, with b1's proof, with a lower serial, into a fresh reader's view.
    const copy = verifyDir(
      registryWith({ ...withB1, ...a2Files(a2({ serial: 1, attestationKey: key, attestationKeyProof: proofFor("b1") })) }),
    );
    expect(reasonOf(copy, "nodes/a2.yaml")).toEqual([
      expect.stringMatching(/^attestationKeyProof does not verify: node a2's attestation key did not sign it/),
    ]);
    expect(live(copy)).toEqual(["a1", "b1", "c1"]);
    // Without a proof, a key is refused too.
    const bare = verifyDir(registryWith(a2Files(a2({ attestationKey: key }))));
    expect(reasonOf(bare, "nodes/a2.yaml")).toEqual([expect.stringMatching(/^attestationKeyProof is missing/)]);
  });
});

describe("signatures over bytes", () => {
  const a1 = () => readFileSync(join(FIXTURE_REGISTRY, "nodes", "a1.yaml"));
  const sshKeygenAccepts = (message: Buffer, signature: Buffer): boolean => {
    const allowed = join(work, "allowed");
    writeFileSync(allowed, `coop-a namespaces="boreal-registry" ${readFileSync(`${FIXTURE_KEYS["coop-a"]}.pub`, "utf8").trim()}\n`);
    const sig = join(work, "message.sig");
    writeFileSync(sig, signature);
    return (
      spawnSync("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", "coop-a", "-n", "boreal-registry", "-s", sig], { input: message })
        .status === 0
    );
  };
  const signBytes = (message: Buffer): Buffer => {
    const file = join(work, "to-sign");
    writeFileSync(file, message);
    rmSync(`${file}.sig`, { force: true });
    const made = spawnSync("ssh-keygen", ["-q", "-Y", "sign", "-f", FIXTURE_KEYS["coop-a"], "-n", "boreal-registry", file]);
    if (made.status !== 0) throw new Error(String(made.stderr));
    return readFileSync(`${file}.sig`);
  };

  test.each<[string, (bytes: Buffer) => Buffer]>([
    ["a byte 0xFF where U+FFFD was signed", (b) => Buffer.concat([b, Buffer.from("# \u{fffd}\n")])],
    ["a Latin-1 é", (b) => Buffer.concat([b, Buffer.from([0x23, 0x20, 0xe9, 0x0a])])],
    ["a CR before a newline", (b) => Buffer.from(b.toString("latin1").replace("\n", "\r\n"), "latin1")],
    ["a BOM in front", (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])],
  ])("what the kit accepts is exactly what ssh-keygen -Y verify accepts: %s", (_what, change) => {
    const signed = change(a1());
    const signature = signBytes(signed);
    // The signed bytes themselves: a non-UTF-8 file is refused as such, never as "changed".
    const asSigned = verifyDir(registryWith({ "nodes/a1.yaml": signed, "nodes/a1.yaml.sig": signature }));
    const utf8 = (() => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(signed);
        return true;
      } catch {
        return false;
      }
    })();
    expect(sshKeygenAccepts(signed, signature)).toBe(true);
    if (utf8) expect(reasonOf(asSigned, "nodes/a1.yaml").join()).not.toMatch(/signature/);
    else
      expect(reasonOf(asSigned, "nodes/a1.yaml")).toEqual([
        expect.stringMatching(
          /^is not UTF-8 text \(first invalid byte at offset \d+\): registry files are UTF-8; its signature was not checked$/,
        ),
      ]);
    // Bytes changed after signing: refused by both, whatever they decode to.
    const tampered = Buffer.from(signed);
    const at = tampered.lastIndexOf(0x0a, tampered.length - 2);
    tampered[at + 3] = tampered[at + 3] === 0xff ? 0xfe : 0xff;
    expect(sshKeygenAccepts(tampered, signature)).toBe(false);
    const changed = verifyDir(registryWith({ "nodes/a1.yaml": tampered, "nodes/a1.yaml.sig": signature }));
    expect(live(changed)).toEqual(["b1", "c1"]);
  });
});

describe("addresses", () => {
  test.each<[string, Partial<NodeDescriptor>, RegExp]>([
    ["loopback", { endpoint: "127.0.0.1:51820" }, /^endpoint 127\.0\.0\.1:51820 is in 127\.0\.0\.0\/8 \(loopback\)/],
    ["unspecified", { endpoint: "0.0.0.0:51820" }, /^endpoint 0\.0\.0\.0:51820 is/],
    ["multicast", { endpoint: "224.0.0.1:51820" }, /multicast/],
    ["broadcast", { endpoint: "255.255.255.255:51820" }, /broadcast/],
    ["IPv6 loopback", { endpoint: "[::1]:51820" }, /loopback/],
    ["localhost", { endpoint: "localhost:51820" }, /localhost/],
    ["a mesh address", { endpoint: "100.64.0.3:51820" }, /inside the federation's mesh/],
    ["link-local metadata", { endpoint: "169.254.169.254:80" }, /link-local/],
    ["a private address, not allowed by this federation", { endpoint: "10.0.0.1:51820" }, /private/],
    ["an exporter elsewhere", { exporter: "198.51.100.1:80" }, /^exporter 198\.51\.100\.1:80 is not node a2's own mesh address/],
    ["an exporter on another port", { exporter: "100.64.0.2:22" }, /is not at the kit's exporter port 9100/],
    [
      "the mesh prefix's network address",
      { mesh: { ipv4: "100.64.0.0", ipv6: "fd42:b0:ea1::2" }, exporter: "100.64.0.0:9100" },
      /^mesh address 100\.64\.0\.0 is the network address of 100\.64\.0\.0\/24/,
    ],
  ])("a descriptor whose %s is refused, signed and proven though it is", (_what, changes, reason) => {
    const v = verifyDir(registryWith(a2Files(a2(changes))));
    expect(reasonOf(v, "nodes/a2.yaml")).toEqual([expect.stringMatching(reason)]);
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  });

  test("an all-zero or small-order WireGuard key is refused by the schema", () => {
    const content = readFileSync(join(FIXTURE_REGISTRY, "nodes", "a1.yaml"), "utf8").replace(
      /publicKey: .*/,
      `publicKey: ${Buffer.alloc(32).toString("base64")}`,
    );
    const parsed = parseNodeObject({ path: "nodes/a1.yaml", content });
    expect(parsed.ok).toBe(false);
    expect(JSON.stringify(parsed)).toMatch(/publicKey/);
  });
});

describe("reports", () => {
  test("a file name with a newline or an escape sequence is reported escaped, never as a forged line", () => {
    const names = ["nodes/evil\n[ok] all good.yaml", "nodes/\u001b]0;pwned\u0007.yaml", "nodes/\u202eqwe.yaml"];
    const files: RegistryFile[] = [...fixtureRegistryFiles(), ...names.map((path) => ({ path, content: "x: 1\n" }))];
    const v = verifyRegistry({ sources: [{ name: "mirror\nforged", files }], trust: fixtureTrustAnchor() });
    const lines = v.rejected.map(formatRejection);
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
      expect(line.startsWith("mirror\\nforged: nodes/")).toBe(true);
    }
    expect(lines[0]).toContain("evil\\n[ok] all good.yaml");
    expect(escapeText("\u001b[31m")).toBe("\\x1b[31m");
  });

  test("hidden files are said, not skipped silently; nothing internal reaches the report", () => {
    const dir = registryWith({ "nodes/.a9.yaml": "x", "federation/.2.yaml": "x" });
    const v = verifyDir(dir);
    expect(v.rejected).toEqual(
      expect.arrayContaining([
        { source: "mirror", path: "nodes/.a9.yaml", reason: "is a hidden file: not part of a registry (not read)" },
        { source: "mirror", path: "federation/.2.yaml", reason: "is a hidden file: not part of a registry (not read)" },
      ]),
    );
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  });
});

describe("clear words", () => {
  const a1Text = () => readFileSync(join(FIXTURE_REGISTRY, descriptorPath("a1")), "utf8");
  test.each<[string, string, RegExp]>([
    ["serial 2^64", "serial: 18446744073709551616", /^serial 18446744073709552000 is above the cap of 281474976710656 \(2\^48\)$/],
    ["serial 1.5", "serial: 1.5", /^serial 1\.5 is not a whole number$/],
    ["serial as text", "serial: soon", /^serial must be a number$/],
  ])("%s", (_what, line, message) => {
    const parsed = parseNodeObject({ path: "nodes/a1.yaml", content: a1Text().replace(/serial: .*/, line) });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems[0].message).toMatch(message);
  });

  test.each<[string, RegExp]>([
    ['format: "2"', /^format: format "2" is not a format number: a whole number from 1 to 1000$/],
    ["format: -1", /^format: format -1 is not a format number/],
    ["format: 1e999", /^format: format Infinity is not a format number/],
    ["format: 99999999999999999999", /^format: format 100000000000000000000 is not a format number/],
    ["format: [ 2 ]", /^format: format \[2\] is not a format number/],
    ["format: 7", /^format: this object was written by a newer boreal-kit \(format 7\); upgrade to a kit that reads format 7/],
  ])("a new node's descriptor signed by its member with %s is refused naming format; every other node goes on", (line, reason) => {
    const content = a2().content.replace(/\n/, `\n${line}\n`);
    const v = verifyDir(
      registryWith({ "nodes/a2.yaml": content, "nodes/a2.yaml.sig": signText(content, fixtureSigner("coop-a"), REGISTRY_NAMESPACE) }),
    );
    expect(reasonOf(v, "nodes/a2.yaml")).toEqual([expect.stringMatching(reason)]);
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  });

  test("deep nesting is refused by name, not with a stack overflow", () => {
    for (const content of [`a: ${"[".repeat(100000)}`, `${"- ".repeat(5000)}x`]) {
      const parsed = parseNodeObject({ path: "nodes/a1.yaml", content });
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.problems[0].message).not.toMatch(/call stack/i);
    }
  });

  test("an unsigned descriptor under a signature path that is a directory is said, not crashed on", () => {
    const dir = registryWith({});
    rmSync(join(dir, signaturePath(descriptorPath("b1"))));
    const v = verifyDir(dir);
    expect(reasonOf(v, "nodes/b1.yaml")).toEqual(["unsigned: nodes/b1.yaml.sig is missing"]);
  });
});

describe("stable across runs", () => {
  test("the WireGuard key's proof is the same bytes each time the node makes it: an unchanged node's descriptor stays unchanged", () => {
    const { privateKey, publicKey } = fixtureWireguardKey("stable");
    const statement = { federation: "boreal-test", node: "a5", publicKey };
    expect(makeWireguardProof(privateKey, statement)).toBe(makeWireguardProof(privateKey, statement));
    expect(
      checkWireguardProof({ node: "a5", publicKey, keyProof: makeWireguardProof(privateKey, statement) }, "boreal-test"),
    ).toBeUndefined();
  });

  test("a version that renames the federation does not chain: every node's proofs name it", () => {
    const renamed = { ...fixtureFederationVersion(FIXTURE_KEYS_DIR), version: 2, name: "boreal-renamed" };
    const content = renderFederation(renamed);
    const files: RegistryFile[] = [
      ...fixtureRegistryFiles(),
      { path: "federation/2.yaml", content },
      ...(["coop-a", "coop-b"] as const).map((m) => ({
        path: `federation/2.yaml.${m}.sig`,
        content: signText(content, fixtureSigner(m), REGISTRY_NAMESPACE),
      })),
    ];
    const v = verifyRegistry({ sources: [{ name: "mirror", files }], trust: fixtureTrustAnchor() });
    expect(v.version!.version).toBe(1);
    expect(reasonOf(v, "federation/2.yaml")).toEqual([
      "renames the federation from boreal-test to boreal-renamed: a federation keeps its name (every node's key proofs carry it)",
    ]);
    expect(live(v)).toEqual(["a1", "b1", "c1"]);
  });

  test("a mesh address override peers would refuse is refused at pulumi up", () => {
    expect(() => fixtureSpec("a1", { meshAddress: { ipv4: "100.64.0.0" } })).not.toThrow();
    expect(() =>
      allocateMeshAddresses(verifyDir(FIXTURE_REGISTRY).federation!, { node: "a5", member: "coop-a", override: { ipv4: "100.64.0.0" } }),
    ).toThrow(/100\.64\.0\.0 is the network address of 100\.64\.0\.0\/24/);
  });
});
