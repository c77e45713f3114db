import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { delegation, delegationRecords } from "../../src/core/node/delegation";
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

  test("NS names of every node, glue for those inside the zone, the SHA-256 DS of the KSK", () => {
    const d = delegation(zone, parseDsRecords(KEYMGR_DS));
    expect(d).toEqual({
      zone: "coop-a.example.",
      nameServers: [
        { name: "ns-a1.coop-a.example.", node: "a1", glue: [{ type: "A", address: "198.51.100.11" }] },
        { name: "ns-b1.coop-a.example.", node: "b1", glue: [{ type: "A", address: "198.51.100.12" }] },
        { name: "wg.coop-c.net.", node: "c1", glue: [] },
      ],
      ds: [expect.objectContaining({ keyTag: 35217, digestType: 2 })],
    });
    expect(delegationRecords(d)).toEqual([
      "coop-a.example. NS ns-a1.coop-a.example.",
      "coop-a.example. NS ns-b1.coop-a.example.",
      "coop-a.example. NS wg.coop-c.net.",
      "ns-a1.coop-a.example. A 198.51.100.11",
      "ns-b1.coop-a.example. A 198.51.100.12",
      "coop-a.example. DS 35217 13 2 9C56C6D920B1BAF4B8BFCD27EEF471C1C5AD138E576147F861983713AEE09EEF",
    ]);
  });

  test("DS of another zone are not this zone's", () => {
    expect(delegation(zone, parseDsRecords(KEYMGR_DS.replaceAll("coop-a.", "coop-b."))).ds).toEqual([]);
  });
});
