import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  chooseDelegation,
  delegation,
  DelegationNameServer,
  delegationRecords,
  MAX_NAME_SERVERS,
  nameServerOf,
  NodeForDelegation,
  otherMembersCount,
  recordDelegation,
  registrarView,
  validNameServer,
  zoneNameServers,
} from "../../src/core/dns/delegation";
import { canonicalNameWire, dsForZone, dsOf, formatDs, keyTag, parseDnskeys, parseDsRecords } from "../../src/core/dns/ds";
import { imagePath, LAB_SUITES, labRecipe } from "../../src/lab/image";
import { plan } from "../../src/core/node/plan";
import { fixtureFederation, fixtureSpec } from "../helpers/fixtures";
import { imageUsable, inImage } from "../helpers/image";

/** RFC 4509 section 2.3: a DNSKEY and its SHA-256 DS (key id 60485). */
const RFC4509_DNSKEY = `dskey.example.com. 86400 IN DNSKEY 256 3 5 ( AQOeiiR0GOMYkDshWoSKz9Xz
                                             fwJr1AYtsmx3TGkJaNXVbfi/
                                             2pHm822aJ5iI9BMzNXxeYCmZ
                                             DRD99WYwYqUSdjMmmAphXdvx
                                             egXd/M5+X7OrzKBaMbCVdFLU
                                             Uh6DhweJBjEVv5f2wwjM9Xzc
                                             nOf+EPbtG9DMBmADjFDc2w/r
                                             ljwvFw==
                                             ) ;  key id = 60485`;
const RFC4509_DS = "D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A";

/** A KSK made by Knot's keymgr (3.2.6 and 3.4.6 print the same), `keymgr coop-a.example. dnskey` and `ds`. */
const KEYMGR_DNSKEY =
  "coop-a.example. DNSKEY 257 3 13 os6/BaJ/WititLrEKAkYX+sPmAaBfYTIyTxV++QLM73f91fxTmQVtxwwxnzvqN1jn291ibDWZEgYxbZKs8UQGQ==\n";
const KEYMGR_DS = [
  "coop-a.example. DS 35217 13 2 9c56c6d920b1baf4b8bfcd27eef471c1c5ad138e576147f861983713aee09eef",
  "coop-a.example. DS 35217 13 4 274e677bdb0002adbc813e7edc800c828ec1b69d524051671be5d9797dd9d31fdd1b4fa3138f98243ff7defe1e7d1208",
  "",
].join("\n");

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const work = mkdtempSync(join(tmpdir(), "boreal-ds-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("DS records (RFC 4034 5, SHA-256 of RFC 4509)", () => {
  test("the RFC 4509 example: key tag 60485 and its SHA-256 digest, from a DNSKEY written over several lines", () => {
    const [key] = parseDnskeys(RFC4509_DNSKEY);
    expect(key).toMatchObject({ owner: "dskey.example.com.", flags: 256, protocol: 3, algorithm: 5 });
    expect(keyTag(key)).toBe(60485);
    expect(dsOf(key)).toEqual({ owner: "dskey.example.com.", keyTag: 60485, algorithm: 5, digestType: 2, digest: RFC4509_DS });
    // A zone-signing key (no SEP bit) gets no DS at the parent.
    expect(dsForZone([key], "dskey.example.com.")).toEqual([]);
  });

  test("a KSK made by keymgr: the DS keymgr prints, both digest types", () => {
    const keys = parseDnskeys(KEYMGR_DNSKEY);
    expect(dsForZone(keys, "coop-a.example.").map(formatDs)).toEqual([
      "coop-a.example. DS 35217 13 2 9C56C6D920B1BAF4B8BFCD27EEF471C1C5AD138E576147F861983713AEE09EEF",
    ]);
    expect(dsOf(keys[0], 4).digest).toBe(
      "274E677BDB0002ADBC813E7EDC800C828EC1B69D524051671BE5D9797DD9D31FDD1B4FA3138F98243FF7DEFE1E7D1208",
    );
    expect(parseDsRecords(KEYMGR_DS)).toEqual([dsOf(keys[0], 2), dsOf(keys[0], 4)]);
    expect(() => dsOf(keys[0], 1)).toThrow(/digest type 1 is not computed here/);
  });

  test("revoked keys, other owners and RSAMD5 are left out or refused", () => {
    const [ksk] = parseDnskeys(KEYMGR_DNSKEY);
    expect(dsForZone([{ ...ksk, flags: 257 | 0x80 }], "coop-a.example.")).toEqual([]);
    expect(dsForZone([ksk], "coop-b.example.")).toEqual([]);
    expect(() => keyTag({ ...ksk, algorithm: 1 })).toThrow(/RSAMD5/);
  });

  test("the owner in canonical wire form: lower case, escapes decoded", () => {
    expect(canonicalNameWire("Coop-A.Example.").toString("hex")).toBe(Buffer.from("\x06coop-a\x07example\x00", "latin1").toString("hex"));
    expect(canonicalNameWire("\\065b\\.c.x.")).toEqual(Buffer.from("\x04ab.c\x01x\x00", "latin1"));
    expect(canonicalNameWire(".")).toEqual(Buffer.from([0]));
  });

  test("DNSKEY and DS lines are found among the other lines of a dig answer", () => {
    const answer = [
      ";; ANSWER SECTION:",
      `coop-a.example.\t300\tIN\tRRSIG\tDNSKEY 13 2 300 20300101000000 20200101000000 35217 coop-a.example. AAAA`,
      KEYMGR_DNSKEY.replace(" DNSKEY", "\t300\tIN\tDNSKEY"),
      ";; Received 300 B",
    ].join("\n");
    expect(parseDnskeys(answer).map((k) => keyTag(k))).toEqual([35217]);
    expect(() => parseDnskeys("coop-a.example. DNSKEY 257 3 13 not!base64")).toThrow(/the key is not base64/);
  });

  test.runIf(has("keymgr"))("a key made here by keymgr: the DS computed from its DNSKEY is the one keymgr prints", () => {
    const dir = mkdtempSync(join(work, "kasp-"));
    const run = (...args: string[]) => {
      const r = spawnSync("keymgr", ["-D", dir, ...args], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    run("coop-a.example.", "generate", "algorithm=ecdsap256sha256", "ksk=yes");
    const keys = parseDnskeys(run("coop-a.example.", "dnskey"));
    expect(dsForZone(keys, "coop-a.example.")).toEqual(parseDsRecords(run("coop-a.example.", "ds")).filter((d) => d.digestType === 2));
  });
});

describe.each(LAB_SUITES)("DS against the keymgr of Debian %s (the lab image)", (suite) => {
  test.runIf(imageUsable(suite))("the DS computed from a fresh KSK's DNSKEY is the one keymgr prints", () => {
    const out = inImage(
      imagePath(labRecipe(suite)),
      {},
      "keymgr -D /mnt coop-a.example. generate algorithm=ecdsap256sha256 ksk=yes >/dev/null && keymgr -D /mnt coop-a.example. dnskey && keymgr -D /mnt coop-a.example. ds",
    );
    const ds = parseDsRecords(out).filter((d) => d.digestType === 2);
    expect(ds).toHaveLength(1);
    expect(dsForZone(parseDnskeys(out), "coop-a.example.")).toEqual(ds);
  });
});

describe("the delegation a member enters at its registrar", () => {
  const zone = plan(fixtureSpec("a1"), fixtureFederation()).dns.primaryZones[0];

  test("its own node with glue in the zone, other members' by their own names without glue, the SHA-256 DS of the KSK", () => {
    const d = delegation(zone.name, zone.nameServers, parseDsRecords(KEYMGR_DS));
    expect(d).toEqual({
      zone: "coop-a.example.",
      nameServers: [
        { name: "ns-a1.coop-a.example.", node: "a1", member: "coop-a", addresses: [A11], glue: [A11] },
        { name: "ns-b1.coop-b.example.", node: "b1", member: "coop-b", addresses: [{ type: "A", address: "198.51.100.12" }], glue: [] },
        { name: "wg.coop-c.net.", node: "c1", member: "coop-c", addresses: [], glue: [] },
      ],
      ds: [expect.objectContaining({ keyTag: 35217, digestType: 2 })],
    });
    expect(delegationRecords(d)).toEqual([
      "coop-a.example. NS ns-a1.coop-a.example.",
      "coop-a.example. NS ns-b1.coop-b.example.",
      "coop-a.example. NS wg.coop-c.net.",
      "ns-a1.coop-a.example. A 198.51.100.11",
      "coop-a.example. DS 35217 13 2 9C56C6D920B1BAF4B8BFCD27EEF471C1C5AD138E576147F861983713AEE09EEF",
    ]);
  });

  test("DS of another zone are not this zone's", () => {
    expect(delegation(zone.name, zone.nameServers, parseDsRecords(KEYMGR_DS.replaceAll("coop-a.", "coop-b."))).ds).toEqual([]);
  });

  test("the stack output says since when the set holds, and what is missing while other members are too few", () => {
    const d = delegation(zone.name, zone.nameServers, parseDsRecords(KEYMGR_DS));
    const view = registrarView(d, "coop-a", "2026-12-01T00:00:00.000Z");
    expect(view).toMatchObject({ since: "2026-12-01T00:00:00.000Z", ds: [expect.stringMatching(/^coop-a.example. DS 35217 13 2 /)] });
    expect(view).not.toHaveProperty("note");
    const alone = delegation(zone.name, zone.nameServers.slice(0, 2), []);
    expect(registrarView(alone, "coop-a", "2026-12-01T00:00:00.000Z").note).toMatch(
      /^only 1 name server\(s\) of other members .* coop-a.example. fails whenever member coop-a's own nodes are down\. Once other members have joined, pull the registry, run pulumi up again/,
    );
  });
});

const A11 = { type: "A", address: "198.51.100.11" };

/** A node of the model: one per member unless said, an IP endpoint, one zone. */
function n(node: string, member = `m-${node}`, extra: Partial<NodeForDelegation> = {}): NodeForDelegation {
  const index = Number(node.replace(/\D/g, "")) || 1;
  return { node, member, endpoint: `198.51.100.${10 + index}:51820`, zones: [`${node}.${member}.example.`], ...extra };
}

describe("the delegation model: each member's name servers, chosen once, kept through joins", () => {
  test("a node's name server name: ns-<node> in its zone, its endpoint's host name, none without a zone", () => {
    expect(nameServerOf(n("a1", "coop-a"))).toBe("ns-a1.a1.coop-a.example.");
    expect(nameServerOf(n("c1", "coop-c", { endpoint: "WG.coop-c.net:51820" }))).toBe("wg.coop-c.net.");
    expect(nameServerOf(n("z1", "coop-z", { zones: [] }))).toBeUndefined();
    // The name it had stays while it keeps that zone, whatever the zones' order; gone, the first zone's.
    const two = n("b1", "coop-b", { zones: ["first.example.", "second.example."], nameServer: "ns-b1.second.example." });
    expect(nameServerOf(two)).toBe("ns-b1.second.example.");
    expect(nameServerOf({ ...two, zones: ["first.example."] })).toBe("ns-b1.first.example.");
    expect(validNameServer({ ...two, nameServer: "ns-a1.second.example." })).toBe(false);
  });

  test("a founder alone delegates to itself; once others joined, the kit tops its set up to three other members, one per member", () => {
    const founder = n("a1", "coop-a");
    expect(chooseDelegation(founder, [])).toEqual(["a1"]);
    const others = [n("b1"), n("b2", "m-b1"), n("c1"), n("d1"), n("e1")];
    const chosen = chooseDelegation({ ...founder, delegation: { nameServers: ["a1"], since: "t" } }, others);
    expect(chosen[0]).toBe("a1");
    expect(chosen).toHaveLength(4);
    const members = chosen.slice(1).map((name) => others.find((o) => o.node === name)!.member);
    expect(new Set(members).size, `one per member: ${chosen}`).toBe(3);
  });

  test("a join changes nobody's recorded set; departures change it only when fewer than two of other members remain", () => {
    const nodes = Array.from({ length: 8 }, (_, i) => n(`x${i + 1}`));
    const owner = n("a1", "coop-a");
    const first = chooseDelegation(owner, nodes);
    const recorded = { ...owner, delegation: { nameServers: first, since: "t" } };
    const joined = [...nodes, ...Array.from({ length: 30 }, (_, i) => n(`y${i + 1}`))];
    expect(chooseDelegation(recorded, joined)).toEqual(first);
    // Two of other members are enough to hold: more joins add none.
    const two = { ...owner, delegation: { nameServers: first.slice(0, 3), since: "t" } };
    expect(chooseDelegation(two, joined)).toEqual(first.slice(0, 3));
    const [, gone, ...kept] = first;
    // One left, two remain: the set holds with them, no newcomer needed.
    const after = chooseDelegation(
      recorded,
      joined.filter((x) => x.node !== gone),
    );
    expect(after).toEqual(["a1", ...kept]);
    // Two left, one remains: the kit tops it up again to three, keeping the one.
    const thin = chooseDelegation(
      recorded,
      joined.filter((x) => x.node !== gone && x.node !== kept[0]),
    );
    expect(thin.slice(0, 2)).toEqual(["a1", kept[1]]);
    expect(thin).toHaveLength(4);
    expect(thin).not.toContain(gone);
  });

  test("the member's own nodes come first, all of them; a member with many nodes is capped at 13 name servers", () => {
    const own = Array.from({ length: 20 }, (_, i) => n(`a${i + 2}`, "coop-a"));
    const chosen = chooseDelegation(n("a1", "coop-a"), [...own, n("b1"), n("c1")]);
    expect(chosen).toHaveLength(MAX_NAME_SERVERS);
    expect(chosen.slice(0, 3)).toEqual(["a1", "a10", "a11"]);
    expect(otherMembersCount(zoneNameServers("z.", n("a1", "coop-a"), [n("b1"), n("c1", "coop-a")]), "coop-a")).toBe(1);
  });

  test("another member's address change touches no other member's delegation: only its own glue", () => {
    const b1 = n("b1", "coop-b");
    const before = zoneNameServers("a1.coop-a.example.", n("a1", "coop-a"), [b1]);
    const after = zoneNameServers("a1.coop-a.example.", n("a1", "coop-a"), [{ ...b1, endpoint: "198.51.100.99:51820" }]);
    const records = (ns: DelegationNameServer[]) => delegationRecords(delegation("a1.coop-a.example.", ns, []));
    expect(records(after)).toEqual(records(before));
    expect(zoneNameServers("b1.coop-b.example.", { ...b1, endpoint: "198.51.100.99:51820" }, [n("a1", "coop-a")])[0].glue).toEqual([
      { type: "A", address: "198.51.100.99" },
    ]);
  });

  test("the descriptor's record keeps its since while the set stays", () => {
    expect(recordDelegation(["a1", "b1"], { delegation: { nameServers: ["a1", "b1"], since: "then" } }, "now")).toEqual({
      nameServers: ["a1", "b1"],
      since: "then",
    });
    expect(recordDelegation(["a1", "c1"], { delegation: { nameServers: ["a1", "b1"], since: "then" } }, "now").since).toBe("now");
    expect(recordDelegation(["a1"], undefined, "now").since).toBe("now");
  });
});
