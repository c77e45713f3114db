// `boreal dns check`: the wire codec, the signature checks and the verdict, on answers Knot
// really gave (test/fixtures/dns/answers.json, captured by test/fixtures/dns/capture.ts
// from a knotd signing with the kit's policy), judged at the time they were captured.
import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  CheckInput,
  evaluateDnsCheck,
  formatDnsCheck,
  judgeNode,
  NodeAnswer,
  NodeReplies,
  questionKey,
  Reply,
  sampleOf,
} from "../../src/core/dns/check";
import { parentDs } from "../../src/core/dns/parent";
import { ALGORITHMS, parseRrsig, serialAhead, signedData, verifyRrset } from "../../src/core/dns/dnssec";
import { canonicalNameWire, Dnskey, dsOf, keyTag } from "../../src/core/dns/ds";
import { decodeMessage, encodeQuery, readName, WireRecord } from "../../src/core/dns/message";
import { RECORD_TYPES } from "../../src/core/dns/zonefile";
import type { CapturedZone, DnsFixtures } from "../fixtures/dns/capture";
import { FIXTURE_DIR } from "../helpers/fixtures";

const fixtures = JSON.parse(readFileSync(join(FIXTURE_DIR, "dns/answers.json"), "utf8")) as DnsFixtures;
const capturedAt = new Date(fixtures.capturedAt);
const days = (n: number) => new Date(capturedAt.getTime() + n * 86400_000);

const ADDRESSES: Record<string, string> = { a1: "198.51.100.11:53", b1: "198.51.100.12:53", c1: "198.51.100.13:53" };

/** The captured answers as if node had given them. */
function repliesOf(captured: CapturedZone, node: string): NodeReplies {
  const replies = Object.fromEntries(
    Object.entries(captured.replies).map(([key, hex]) => [key, { message: decodeMessage(Buffer.from(hex, "hex")) } as Reply]),
  );
  return { node, address: ADDRESSES[node] ?? "198.51.100.99:53", replies };
}

/** The same replies with one record of one answer changed (octets at `at` set to `bytes`, in both its forms). */
function altered(
  replies: NodeReplies,
  key: string,
  pick: (r: WireRecord) => boolean,
  at: (r: WireRecord) => number,
  bytes: number[],
): NodeReplies {
  const reply = replies.replies[key] as { message: ReturnType<typeof decodeMessage> };
  const answer = reply.message.answer.map((r) => {
    if (!pick(r)) return r;
    const change = (b: Buffer) => {
      const copy = Buffer.from(b);
      copy.set(bytes, at(r) < 0 ? copy.length + at(r) : at(r));
      return copy;
    };
    return { ...r, rdata: change(r.rdata), canonical: change(r.canonical) };
  });
  return { ...replies, replies: { ...replies.replies, [key]: { message: { ...reply.message, answer } } } };
}

const isRrsigOf = (type: number) => (r: WireRecord) => r.type === RECORD_TYPES.RRSIG && r.rdata.readUInt16BE(0) === type;
const A = fixtures.ecdsa;
const sampleA = sampleOf(A.zone, A.records);
const good = (node: string) => judgeNode(A.zone, repliesOf(A, node), sampleA, capturedAt);
const input = (answers: NodeAnswer[], over: Partial<CheckInput> = {}): CheckInput => ({
  zone: A.zone,
  nodes: answers.map((a) => a.node),
  answers,
  parent: { asked: false, reason: "no --parent given" },
  now: capturedAt,
  ...over,
});

describe("DNS messages in wire form", () => {
  test("a query: no recursion, one question, EDNS0 with the DO bit and a 1232-octet payload", () => {
    const q = encodeQuery(0x1234, "Coop-A.example.", RECORD_TYPES.DNSKEY);
    expect(q.subarray(0, 12).toString("hex")).toBe("123400000001000000000001");
    expect(q.subarray(12, 32)).toEqual(Buffer.from("\x06coop-a\x07example\x00\x00\x30\x00\x01", "latin1"));
    expect(q.subarray(32).toString("hex")).toBe("00" + "0029" + "04d0" + "00008000" + "0000");
  });

  test("an answer Knot gave: AA, the question, names in RDATA expanded from compression pointers", () => {
    const m = decodeMessage(Buffer.from(A.replies["coop-a.example. SOA"], "hex"));
    expect(m).toMatchObject({
      authoritative: true,
      truncated: false,
      rcode: 0,
      question: [{ name: "coop-a.example.", type: RECORD_TYPES.SOA }],
    });
    const soa = m.answer.find((r) => r.type === RECORD_TYPES.SOA)!;
    expect(soa.rdata.length).toBeLessThan(soa.canonical.length);
    expect(readName(soa.canonical, 0).labels.map(String)).toEqual(["ns-a1", "coop-a", "example"]);
  });

  test("a compression pointer that points forward (a loop) is refused", () => {
    expect(() => readName(Buffer.from([0xc0, 0x00]), 0)).toThrow(/points forward/);
  });
});

describe("signatures verified here (RFC 4034), on Knot's own answers", () => {
  test.each([
    ["ECDSA P-256 (13), the kit's policy", fixtures.ecdsa, 13],
    ["Ed25519 (15)", fixtures.ed25519, 15],
  ])("%s: every RRset verifies, the sample is as the member wrote it", (_label, captured, algorithm) => {
    const answer = judgeNode(captured.zone, repliesOf(captured, "a1"), sampleOf(captured.zone, captured.records), capturedAt);
    expect(answer).toMatchObject({ answered: true, signaturesValid: true, signatureProblems: [], sample: { problems: [] } });
    expect(answer.sample!.ok).toBe(captured.records.length);
    expect(answer.signingKsks.map((k) => k.algorithm)).toEqual([algorithm]);
  });

  test("a tampered signature does not verify", () => {
    const tampered = altered(repliesOf(A, "a1"), "coop-a.example. SOA", isRrsigOf(RECORD_TYPES.SOA), () => -1, [0x00]);
    const answer = judgeNode(A.zone, tampered, sampleA, capturedAt);
    expect(answer.signaturesValid).toBe(false);
    expect(answer.signatureProblems).toEqual([
      expect.stringMatching(/^coop-a.example. SOA: RRSIG by key \d+ \(algorithm 13\) does not verify/),
    ]);
  });

  test("tampered data: the signature fails and the sample says what is served instead", () => {
    const tampered = altered(
      repliesOf(A, "a1"),
      "www.coop-a.example. A",
      (r) => r.type === RECORD_TYPES.A,
      () => 3,
      [99],
    );
    const answer = judgeNode(A.zone, tampered, sampleA, capturedAt);
    expect(answer.signatureProblems).toEqual([expect.stringMatching(/^www.coop-a.example. A: RRSIG .* does not verify/)]);
    expect(answer.sample!.problems).toEqual([
      "www.coop-a.example. A: its signatures do not verify",
      "www.coop-a.example. A: answers 203.0.113.99 where the member's records have 203.0.113.80",
    ]);
  });

  test("a signature whose key tag names no key of the DNSKEY set", () => {
    const wrongTag = altered(repliesOf(A, "a1"), "coop-a.example. NS", isRrsigOf(RECORD_TYPES.NS), () => 16, [0x00, 0x01]);
    expect(judgeNode(A.zone, wrongTag, sampleA, capturedAt).signatureProblems).toEqual([
      "coop-a.example. NS: RRSIG by key 1 (algorithm 13): no such key in the trusted DNSKEY set (wrong key tag, or a key that is gone)",
    ]);
  });

  test("expired, and not yet valid: the window is checked against the time given", () => {
    const soaSig = parseRrsig(
      decodeMessage(Buffer.from(A.replies["coop-a.example. SOA"], "hex")).answer.find(isRrsigOf(RECORD_TYPES.SOA))!,
    );
    // The kit's policy signs for 42 days.
    expect(soaSig.expiration - soaSig.inception).toBeGreaterThanOrEqual(42 * 86400);
    const late = judgeNode(A.zone, repliesOf(A, "a1"), sampleA, days(60));
    expect(late.signaturesValid).toBe(false);
    expect(late.signatureProblems[0]).toMatch(/^coop-a.example. DNSKEY: RRSIG by key \d+ \(algorithm 13\) expired at 20\d\d-\d\d-\d\dT/);
    const early = judgeNode(A.zone, repliesOf(A, "a1"), sampleA, days(-2));
    expect(early.signatureProblems[0]).toMatch(/is not valid before/);
    // Signing time stamps wrap at 2^32 seconds: compared by serial arithmetic.
    expect(serialAhead(5, 4294967290)).toBe(true);
    expect(serialAhead(4294967290, 5)).toBe(false);
    expect(serialAhead(7, 7)).toBe(false);
  });

  test("an unsigned RRset, and keys of another zone, are refused", () => {
    const m = decodeMessage(Buffer.from(A.replies["coop-a.example. NS"], "hex"));
    const ns = m.answer.filter((r) => r.type === RECORD_TYPES.NS);
    expect(verifyRrset(A.zone, ns, [], [], capturedAt)).toEqual({
      valid: false,
      problems: ["coop-a.example. NS: no RRSIG (the set is unsigned)"],
      signers: [],
    });
    const otherKeys = judgeNode(fixtures.ed25519.zone, repliesOf(fixtures.ed25519, "b1"), [], capturedAt).signingKsks;
    expect(verifyRrset(A.zone, ns, m.answer, otherKeys, capturedAt).problems[0]).toMatch(/no such key in the trusted DNSKEY set/);
  });
});

describe("the other algorithms, with keys made here (Knot signed 13 and 15 above)", () => {
  /** The DNSKEY public key field of a Node key pair (RFC 3110, 6605, 8080). */
  function dnskeyField(jwk: { kty?: string; n?: string; e?: string; x?: string; y?: string }): Buffer {
    const b = (v?: string) => Buffer.from(v!, "base64url");
    if (jwk.kty === "RSA") return Buffer.concat([Buffer.from([b(jwk.e).length]), b(jwk.e), b(jwk.n)]);
    return jwk.kty === "EC" ? Buffer.concat([b(jwk.x), b(jwk.y)]) : b(jwk.x);
  }
  const KEYS = {
    8: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
    10: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
    14: () => generateKeyPairSync("ec", { namedCurve: "P-384" }),
    16: () => generateKeyPairSync("ed448"),
  } as const;

  test.each(Object.keys(KEYS).map(Number))(
    "algorithm %i: a signature made with the key verifies, one over other data does not",
    (algorithm) => {
      const pair = KEYS[algorithm as keyof typeof KEYS]();
      const key: Dnskey = {
        owner: "coop-a.example.",
        flags: 257,
        protocol: 3,
        algorithm,
        publicKey: dnskeyField(pair.publicKey.export({ format: "jwk" })),
      };
      const record = (rdata: Buffer): WireRecord => ({
        owner: "www.coop-a.example.",
        type: RECORD_TYPES.A,
        class: 1,
        ttl: 300,
        rdata,
        canonical: rdata,
      });
      const a = [record(Buffer.from([203, 0, 113, 80]))];
      const head = Buffer.alloc(18);
      head.writeUInt16BE(RECORD_TYPES.A, 0);
      head.writeUInt8(algorithm, 2);
      head.writeUInt8(3, 3);
      head.writeUInt32BE(300, 4);
      head.writeUInt32BE(capturedAt.getTime() / 1000 + 86400, 8);
      head.writeUInt32BE(capturedAt.getTime() / 1000 - 86400, 12);
      head.writeUInt16BE(keyTag(key), 16);
      const unsigned = Buffer.concat([head, canonicalNameWire("coop-a.example.")]);
      const rrsigOver = (records: WireRecord[]) => {
        const data = signedData(parseRrsig({ ...record(unsigned), type: RECORD_TYPES.RRSIG }), records);
        const signature = sign(
          ALGORITHMS[algorithm].hash,
          data,
          ALGORITHMS[algorithm].rawEcdsa ? { key: pair.privateKey, dsaEncoding: "ieee-p1363" } : pair.privateKey,
        );
        const rdata = Buffer.concat([unsigned, signature]);
        return { ...record(rdata), type: RECORD_TYPES.RRSIG };
      };
      expect(verifyRrset("coop-a.example.", a, [rrsigOver(a)], [key], capturedAt)).toMatchObject({ valid: true, problems: [] });
      const other = rrsigOver([record(Buffer.from([203, 0, 113, 81]))]);
      expect(verifyRrset("coop-a.example.", a, [other], [key], capturedAt).problems).toEqual([expect.stringMatching(/does not verify/)]);
    },
  );
});

describe("the verdict over every node", () => {
  test("every node alike, valid, the parent's DS matching: exit 0, and the table", () => {
    const answers = [good("a1"), good("b1")];
    const ksk = answers[0].signingKsks[0];
    const result = evaluateDnsCheck(input(answers, { parent: { asked: true, ds: [dsOf(ksk, 2)] } }));
    expect(result.exitCode).toBe(0);
    const serial = String(answers[0].serial);
    expect(formatDnsCheck(result)).toBe(
      [
        "zone coop-a.example.",
        "NODE  ADDRESS           ANSWERED  SERIAL      SIGNATURES  DS AT PARENT  SAMPLE",
        `a1    198.51.100.11:53  yes       ${serial}  valid       matches       4/4 ok`,
        `b1    198.51.100.12:53  yes       ${serial}  valid       matches       4/4 ok`,
        "DS at the parent: matches",
        `DS of the zone's KSK: coop-a.example. DS ${keyTag(ksk)} 13 2 ${dsOf(ksk).digest}`,
        "NS at the parent: not compared (no --parent given)",
        "ok",
        "",
      ].join("\n"),
    );
    // A SHA-384 DS of the same key matches too; the parent's DS read from its wire answer.
    expect(evaluateDnsCheck(input(answers, { parent: { asked: true, ds: [dsOf(ksk, 4)] } })).parent).toBe("matches");
  });

  test("the parent's NS set compared: the set's nodes on the NS line; each difference after the DS's, exit 1", () => {
    const answers = [good("a1"), good("b1")];
    const ksk = answers[0].signingKsks[0];
    const expected = [
      { name: "ns-a1.coop-a.example.", node: "a1" },
      { name: "ns-b1.coop-b.example.", node: "b1" },
    ];
    const matching = evaluateDnsCheck(
      input(answers, { parent: { asked: true, ds: [dsOf(ksk)] }, delegation: { compared: true, expected, problems: [] } }),
    );
    expect(matching.exitCode).toBe(0);
    expect(formatDnsCheck(matching)).toMatch(/\nDS of the zone's KSK: .*\nNS at the parent: matches \(a1, b1\)\nok\n$/);
    const lame = "coop-a.example. NS ns-gone.example.net. at the parent names no node of the federation";
    const drift = evaluateDnsCheck(
      input(answers, { parent: { asked: true, ds: [] }, delegation: { compared: true, expected, problems: [lame], notes: ["a note"] } }),
    );
    expect(drift).toMatchObject({ exitCode: 1, delegation: "1 problem(s)", notes: ["a note"] });
    expect(drift.problems).toEqual([expect.stringMatching(/^the parent has no DS for coop-a.example./), lame]);
    expect(formatDnsCheck(drift)).toMatch(/\nNS at the parent: 1 problem\(s\)\n/);
  });

  test.each<[string, () => Partial<CheckInput>, RegExp]>([
    [
      "a node that does not answer",
      () => ({
        answers: [
          good("a1"),
          judgeNode(
            A.zone,
            {
              node: "b1",
              address: "198.51.100.12:53",
              replies: Object.fromEntries(Object.keys(A.replies).map((k) => [k, { error: "no answer within 3 s" }])),
            },
            sampleA,
            capturedAt,
          ),
        ],
      }),
      /^b1 \(198.51.100.12:53\): did not answer for coop-a.example.: no answer within 3 s$/m,
    ],
    [
      "a node that refuses the zone",
      () => ({ answers: [good("a1"), judgeNode(A.zone, { node: "b1", address: "198.51.100.12:53", replies: {} }, sampleA, capturedAt)] }),
      /^b1 \(198.51.100.12:53\): did not answer for coop-a.example.: not asked$/m,
    ],
    [
      "serials disagreeing",
      () => ({ answers: [good("a1"), judgeNode(A.zone, repliesOf(fixtures.ecdsaLater, "b1"), sampleA, capturedAt)] }),
      /^a1 \(198.51.100.11:53\): serves serial \d+, behind \d+: its transfer is late or failing$/m,
    ],
    ["a node of the zone not asked", () => ({ nodes: ["a1", "b1", "c1"], answers: [good("a1"), good("b1")] }), /^c1: was not asked$/m],
    [
      "an answer from a node that does not serve the zone",
      () => ({ nodes: ["a1"], answers: [good("a1"), good("x9")] }),
      /^x9 \(198.51.100.99:53\): answered but does not serve the zone/m,
    ],
    [
      "no DS at the parent",
      () => ({ parent: { asked: true, ds: [] } }),
      /^the parent has no DS for coop-a.example.: resolvers do not validate it/m,
    ],
    [
      "a DS at the parent for another key",
      () => ({ parent: { asked: true, ds: [{ ...dsOf(good("a1").signingKsks[0]), digest: "00".repeat(32) }] } }),
      /^no DS at the parent matches a KSK of coop-a.example. \(parent: \d+\/13; zone: \d+\/13\): validating resolvers see the zone as bogus/m,
    ],
    [
      "the parent unreachable",
      () => ({ parent: { asked: true, error: "127.0.0.1:53: no answer within 3 s" } }),
      /^the parent could not be asked for the DS of coop-a.example.: 127.0.0.1:53: no answer within 3 s$/m,
    ],
    [
      "a node serving another zone's keys",
      () => ({
        answers: [
          good("a1"),
          good("b1"),
          { ...good("c1"), signingKsks: judgeNode(fixtures.ed25519.zone, repliesOf(fixtures.ed25519, "c1"), [], capturedAt).signingKsks },
        ],
      }),
      /^c1 \(198.51.100.13:53\): signs its DNSKEY set with KSK \d+\/15, the other nodes with \d+\/13$/m,
    ],
  ])("%s: exit 1, the node and the problem named", (_label, over, expected) => {
    const base = input([good("a1"), good("b1")]);
    const result = evaluateDnsCheck({ ...base, ...over(), nodes: over().nodes ?? (over().answers ?? base.answers).map((a) => a.node) });
    expect(result.exitCode).toBe(1);
    expect(result.problems.join("\n")).toMatch(expected);
    expect(formatDnsCheck(result)).toMatch(/problem\(s\)\n$/);
  });

  test("the parent's DS as its answer carries it; a stale DS beside the matching one is a note", () => {
    const ksk = good("a1").signingKsks[0];
    const stale = { ...dsOf(ksk), keyTag: 4242, digest: "AB".repeat(32) };
    const result = evaluateDnsCheck(input([good("a1")], { parent: { asked: true, ds: [dsOf(ksk), stale] } }));
    expect(result).toMatchObject({
      exitCode: 0,
      parent: "matches",
      notes: [expect.stringMatching(/keys the zone does not sign with \(4242\)/)],
    });
    // parentDs reads DS records out of an answer's wire form.
    const m = decodeMessage(Buffer.from(A.replies["coop-a.example. DNSKEY"], "hex"));
    expect(parentDs(A.zone, m)).toEqual([]);
  });

  test("signatures near their end are a note, not a problem", () => {
    const result = evaluateDnsCheck(input([judgeNode(A.zone, repliesOf(A, "a1"), sampleA, days(38))], { now: days(38) }));
    expect(result.exitCode).toBe(0);
    expect(result.notes).toEqual([expect.stringMatching(/^a signature expires at .*: the primary re-signs long before/)]);
  });
});

describe("the sample", () => {
  test("the member's first RRsets (a record given twice counts once), delegations left out; without records, the apex's usual types", () => {
    const lines = [
      "sub.coop-a.example.\tNS\tns.elsewhere.example.",
      "a.sub.coop-a.example.\tA\t192.0.2.1",
      ...Array.from({ length: 8 }, (_, i) => `h${i}.coop-a.example.\tA\t192.0.2.${i}`),
      "h0.coop-a.example.\tA\t192.0.2.100",
      "h0.coop-a.example.\tA\t192.0.2.100",
    ];
    const sample = sampleOf("coop-a.example.", lines);
    expect(sample.map((s) => questionKey({ name: s.owner, type: s.type }))).toEqual(
      ["h0", "h1", "h2", "h3", "h4", "h5"].map((h) => `${h}.coop-a.example. A`),
    );
    expect(sample[0].expected).toEqual(["192.0.2.0", "192.0.2.100"]);
    expect(sampleOf("coop-a.example.", undefined).map((s) => questionKey({ name: s.owner, type: s.type }))).toEqual(
      ["A", "AAAA", "MX", "TXT"].map((t) => `coop-a.example. ${t}`),
    );
  });

  test("without the member's records, nodes at one serial are compared with each other", () => {
    // The apex types the capture asked (MX, TXT), as the check asks them without records.
    const apex = sampleOf(A.zone, undefined).filter((s) => questionKey({ name: s.owner, type: s.type }) in A.replies);
    expect(apex).toHaveLength(2);
    const a1 = judgeNode(A.zone, repliesOf(A, "a1"), apex, capturedAt);
    const b1 = judgeNode(A.zone, repliesOf(A, "b1"), apex, capturedAt);
    const c1 = { ...judgeNode(A.zone, repliesOf(A, "c1"), apex, capturedAt) };
    c1.sample = { ...c1.sample!, fingerprints: { ...c1.sample!.fingerprints, "coop-a.example. MX": "other" } };
    const result = evaluateDnsCheck(input([a1, b1, c1]));
    expect(result.problems).toEqual([
      "c1 (198.51.100.13:53): coop-a.example. MX: answers differently from the other nodes at the same serial",
    ]);
  });
});
