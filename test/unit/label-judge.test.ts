// The label's live checks, judged from observations handed in (src/core/label/judge.ts): each
// rule passing and failing, with the detail people read. The DNSSEC answers are the ones
// Knot really gave (test/fixtures/dns/answers.json), judged at their capture time.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import type { NodeDescriptor } from "../../src/core/registry/format";
import { NodeReplies, Reply } from "../../src/core/dns/check";
import { canonicalNameWire } from "../../src/core/dns/ds";
import { decodeMessage, DnsMessage, WireRecord } from "../../src/core/dns/message";
import { RECORD_TYPES } from "../../src/core/dns/zonefile";
import { AttestationResult, buildAttestation, resultProblems } from "../../src/core/label/attestation";
import { judgePeer, metricValue, PeerObservations, PortState } from "../../src/core/label/judge";
import { liveFrom, Rule, RULES } from "../../src/core/label/rules";
import type { DnsFixtures } from "../fixtures/dns/capture";
import { FIXTURE_DIR, fixtureVerified } from "../helpers/fixtures";

const dns = JSON.parse(readFileSync(join(FIXTURE_DIR, "dns/answers.json"), "utf8")) as DnsFixtures;
const capturedAt = new Date(dns.capturedAt);
const verified = fixtureVerified();
const federation = verified.federation;
const node = (name: string) => federation.nodes.find((n) => n.node === name)!;
/** a1 of coop-a: zone coop-a.example., services tcp/22. b1 (coop-b) is the primary of coop-b.example. and b-mail.example., c1 (coop-c) of coop-c.example. */
const a1 = node("a1");
const ZONE = "coop-a.example.";
const nowS = capturedAt.getTime() / 1000;

/** Knot's captured answers for coop-a.example. (SOA, NS, DNSKEY and the sample), as a1's. */
function capturedReplies(): NodeReplies {
  return {
    node: "a1",
    address: "198.51.100.11:53",
    replies: Object.fromEntries(
      Object.entries(dns.ecdsa.replies).map(([k, hex]) => [k, { message: decodeMessage(Buffer.from(hex, "hex")) }]),
    ),
  };
}

function message(zone: string, over: Partial<DnsMessage> = {}): DnsMessage {
  return {
    id: 1,
    authoritative: true,
    truncated: false,
    rcode: 0,
    question: [{ name: zone, type: RECORD_TYPES.SOA }],
    answer: [],
    authority: [],
    additional: [],
    ...over,
  };
}

function soaRecord(zone: string, serial: number): WireRecord {
  const times = Buffer.alloc(20);
  [serial, 300, 60, 2419200, 300].forEach((v, i) => times.writeUInt32BE(v, i * 4));
  const canonical = Buffer.concat([canonicalNameWire(`ns.${zone}`), canonicalNameWire(`hostmaster.${zone}`), times]);
  return { owner: zone, type: RECORD_TYPES.SOA, class: 1, ttl: 300, rdata: canonical, canonical };
}

/** An authoritative SOA answer (AA, NOERROR), unless told otherwise. */
const soa = (zone: string, serial: number, over: Partial<DnsMessage> = {}): Reply => ({
  message: message(zone, { answer: [soaRecord(zone, serial)], ...over }),
});
const refused = (zone: string): Reply => ({ message: message(zone, { authoritative: false, rcode: 5 }) });

/** Every member zone at a1 and its primary, coop-a.example. at every node: all at serial 7. */
function meshSoa(serialOf: (zone: string, node: string) => Reply = (zone) => soa(zone, 7)): PeerObservations["mesh"]["soa"] {
  const zones: Record<string, string[]> = {
    "coop-a.example.": ["a1", "b1", "c1"],
    "coop-b.example.": ["a1", "b1"],
    "b-mail.example.": ["a1", "b1"],
    "coop-c.example.": ["a1", "c1"],
  };
  return Object.fromEntries(
    Object.entries(zones).map(([zone, nodes]) => [zone, Object.fromEntries(nodes.map((n) => [n, serialOf(zone, n)]))]),
  );
}

/** A healthy a1 seen from b1; `over` changes part of it. */
function observations(
  over: {
    peer?: Partial<NodeDescriptor>;
    underlay?: Partial<PeerObservations["underlay"]>;
    mesh?: Partial<PeerObservations["mesh"]>;
    now?: Date;
  } = {},
): PeerObservations {
  const sentMs = capturedAt.getTime() - 20;
  return {
    peer: { ...a1, ...over.peer },
    federation,
    now: over.now ?? capturedAt,
    underlay: {
      address: "198.51.100.11",
      ports: new Map<number, PortState>([
        [22, "open"],
        [53, "open"],
        [80, "closed"],
        [443, "filtered"],
        [9100, "filtered"],
        [9090, "filtered"],
        [9093, "filtered"],
      ]),
      zones: { [ZONE]: capturedReplies() },
      axfr: { [ZONE]: { message: message(ZONE, { authoritative: false, rcode: 9 }) } },
      ...over.underlay,
    },
    mesh: {
      soa: meshSoa(),
      scrape: {
        sentMs,
        receivedMs: sentMs + 8,
        body: `# TYPE node_time_seconds gauge\nnode_time_seconds ${((sentMs + 4) / 1000 + 0.25).toExponential(12)}\nnode_timex_sync_status 0\n`,
      },
      handshake: { at: nowS - 30, readAt: capturedAt },
      ...over.mesh,
    },
  };
}

const judged = (o: PeerObservations, rule: string): AttestationResult => {
  const found = judgePeer(o).filter((r) => r.rule === rule);
  expect(found).toHaveLength(1);
  return found[0];
};
const silentUnderlay = {
  ports: new Map<number, PortState>([
    [22, "filtered"],
    [53, "filtered"],
  ]),
  zones: { [ZONE]: { node: "a1", address: "x", replies: {} } },
  axfr: { [ZONE]: { error: "no answer within 1.5 s" } },
};

describe("the results of a peer", () => {
  test("one per rule and place checked live, nothing else; the rule set and buildAttestation accept them", () => {
    const results = judgePeer(observations());
    expect(results.map((r) => `${r.rule} ${r.observedFrom}`)).toEqual(RULES.flatMap((r) => liveFrom(r).map((from) => `${r.id} ${from}`)));
    expect(results).toHaveLength(7);
    expect(results.every((r) => r.passed)).toBe(true);
    expect(resultProblems(results)).toEqual([]);
    const { statement } = buildAttestation({
      subject: { descriptor: a1, content: verified.held.nodes.a1.content },
      checker: { member: "coop-b", node: "b1" },
      observedAt: capturedAt,
      validityDays: 7,
      results,
    });
    expect(statement.predicate.results).toEqual(results);
  });

  test("details stay short, however much there is to name", () => {
    const ports = new Map<number, PortState>(Array.from({ length: 300 }, (_, i) => [1000 + i, "open"]));
    const zones = Array.from({ length: 40 }, (_, i) => `zone-number-${i}.coop-a.example.`);
    const results = judgePeer(observations({ peer: { zones }, underlay: { ports, zones: {}, axfr: {} } }));
    for (const r of results) expect(r.detail.length).toBeLessThan(200);
    expect(results.find((r) => r.rule === "underlay-declared-only")!.detail).toMatch(
      /^open but not declared: tcp\/1000, .*, tcp\/1009 and 290 more \(300 TCP ports scanned\)$/,
    );
  });

  test("a rule with a live check this checker does not know: a failed result, never a silent pass", () => {
    const extra: Rule = { id: "new-rule", rationale: "x", level: "mandatory", checks: [{ at: "live-mesh", what: "x" }] };
    expect(judgePeer(observations(), [...RULES, extra]).find((r) => r.rule === "new-rule")).toEqual({
      rule: "new-rule",
      passed: false,
      observedFrom: "mesh",
      detail: "this checker has no check of new-rule from the mesh",
    });
  });
});

describe("underlay-declared-only", () => {
  test("only DNS and the declared services open: passed, with the count scanned", () => {
    expect(judged(observations(), "underlay-declared-only")).toEqual({
      rule: "underlay-declared-only",
      passed: true,
      observedFrom: "underlay",
      detail: "7 TCP ports scanned, open only tcp/22, tcp/53: DNS or declared (UDP not scanned)",
    });
  });

  test("undeclared ports open: failed, naming them in order", () => {
    const ports = new Map<number, PortState>([
      [22, "open"],
      [8080, "open"],
      [3306, "open"],
      [53, "closed"],
    ]);
    expect(judged(observations({ underlay: { ports } }), "underlay-declared-only")).toMatchObject({
      passed: false,
      detail: "open but not declared: tcp/3306, tcp/8080 (4 TCP ports scanned)",
    });
  });

  test("a descriptor from before services (c1's) declares nothing: its SSH port open fails; a declared range covers its ports", () => {
    const ports = new Map<number, PortState>([
      [22, "open"],
      [6005, "open"],
    ]);
    expect(judged(observations({ peer: { services: undefined }, underlay: { ports } }), "underlay-declared-only")).toMatchObject({
      passed: false,
      detail: "open but not declared: tcp/22, tcp/6005 (2 TCP ports scanned)",
    });
    expect(
      judged(observations({ peer: { services: ["tcp/22", "tcp/6000-6010", "udp/6005"] }, underlay: { ports } }), "underlay-declared-only")
        .passed,
    ).toBe(true);
    // A UDP declaration does not open the TCP port.
    expect(judged(observations({ peer: { services: ["tcp/22", "udp/6005"] }, underlay: { ports } }), "underlay-declared-only").detail).toBe(
      "open but not declared: tcp/6005 (2 TCP ports scanned)",
    );
  });

  test("an underlay that answers nothing at all cannot be attested: failed", () => {
    expect(judged(observations({ underlay: silentUnderlay }), "underlay-declared-only")).toMatchObject({
      passed: false,
      detail: "underlay did not answer (198.51.100.11: 2 TCP ports filtered, no DNS answer)",
    });
    // A refused connect is an answer of the host.
    expect(
      judged(observations({ underlay: { ...silentUnderlay, ports: new Map([[22, "closed"]]) } }), "underlay-declared-only").passed,
    ).toBe(true);
    expect(
      judged(
        observations({ underlay: { unprobed: "wg.coop-a.net does not resolve (ENOTFOUND)", ports: new Map(), zones: {}, axfr: {} } }),
        "underlay-declared-only",
      ),
    ).toMatchObject({
      passed: false,
      detail: "underlay not probed: wg.coop-a.net does not resolve (ENOTFOUND)",
    });
  });
});

describe("mesh-only-internals", () => {
  test("the mesh-only ports do not connect and AXFR is refused: passed", () => {
    expect(judged(observations(), "mesh-only-internals")).toMatchObject({
      passed: true,
      detail: "tcp/9090, tcp/9093, tcp/9100 do not connect; AXFR of 1 zone(s) not transferred (NOTAUTH)",
    });
    const closedConnection = observations({ underlay: { axfr: { [ZONE]: { error: "the connection closed before a whole answer" } } } });
    expect(judged(closedConnection, "mesh-only-internals").detail).toMatch(
      /not transferred \(the connection closed before a whole answer\)$/,
    );
  });

  test("the exporter open on the underlay, or a zone transferred: failed, named", () => {
    const ports = new Map<number, PortState>([
      [53, "open"],
      [9100, "open"],
    ]);
    expect(judged(observations({ underlay: { ports } }), "mesh-only-internals")).toMatchObject({
      passed: false,
      detail: "connects over the underlay: node exporter tcp/9100",
    });
    const axfr = { [ZONE]: { message: message(ZONE, { answer: [soaRecord(ZONE, 7)] }) } };
    expect(judged(observations({ underlay: { axfr } }), "mesh-only-internals")).toMatchObject({
      passed: false,
      detail: "AXFR transferred: coop-a.example.",
    });
    // An exporter on another port than 9100 is checked at its own port.
    const moved = observations({
      peer: { exporter: "100.64.0.1:9200" },
      underlay: {
        ports: new Map([
          [53, "open"],
          [9200, "open"],
        ]),
      },
    });
    expect(judged(moved, "mesh-only-internals").detail).toBe("connects over the underlay: node exporter tcp/9200");
  });

  test("an underlay that answers nothing: failed", () => {
    expect(judged(observations({ underlay: silentUnderlay }), "mesh-only-internals")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/^underlay did not answer/),
    });
  });
});

describe("dnssec-valid", () => {
  test("Knot's signed answers at their capture time: passed, with the soonest expiry", () => {
    expect(judged(observations(), "dnssec-valid")).toMatchObject({
      passed: true,
      observedFrom: "underlay",
      detail: expect.stringMatching(/^coop-a\.example\.: SOA, NS and DNSKEY signatures validate, valid until 20\d\d-\d\d-\d\dT\d\d:\d\dZ$/),
    });
  });

  test("the same answers 60 days later: failed, the expired RRSIG named", () => {
    const later = new Date(capturedAt.getTime() + 60 * 86400_000);
    expect(judged(observations({ now: later }), "dnssec-valid")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/^coop-a\.example\. DNSKEY: RRSIG by key \d+ \(algorithm 13\) expired at /),
    });
  });

  test("an altered signature, no answer, no zones", () => {
    const replies = capturedReplies();
    const soaReply = replies.replies[`${ZONE} SOA`] as { message: DnsMessage };
    const answer = soaReply.message.answer.map((r) =>
      r.type === RECORD_TYPES.RRSIG
        ? { ...r, canonical: Buffer.concat([r.canonical.subarray(0, -1), Buffer.from([r.canonical[r.canonical.length - 1] ^ 1])]) }
        : r,
    );
    replies.replies[`${ZONE} SOA`] = { message: { ...soaReply.message, answer } };
    expect(judged(observations({ underlay: { zones: { [ZONE]: replies } } }), "dnssec-valid")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/^coop-a\.example\. SOA: RRSIG by key \d+ \(algorithm 13\) does not verify/),
    });
    const silent = { node: "a1", address: "x", replies: { [`${ZONE} SOA`]: { error: "no answer within 1.5 s" } } };
    expect(judged(observations({ underlay: { zones: { [ZONE]: silent } } }), "dnssec-valid")).toMatchObject({
      passed: false,
      detail: "coop-a.example.: no answer within 1.5 s",
    });
    expect(judged(observations({ peer: { zones: [] } }), "dnssec-valid")).toMatchObject({ passed: true, detail: "no zones of its own" });
  });
});

describe("descriptor-current", () => {
  test("answers on its mesh address and a handshake 30 s old: passed", () => {
    expect(judged(observations(), "descriptor-current")).toMatchObject({
      passed: true,
      observedFrom: "mesh",
      detail: "answers on mesh 100.64.0.1 (DNS, exporter); handshake with key yZ04QQaf… 30 s ago",
    });
    const exporterOnly = observations({
      mesh: { soa: meshSoa((zone, n) => (n === "a1" ? { error: "no answer within 1.5 s" } : soa(zone, 7))) },
    });
    expect(judged(exporterOnly, "descriptor-current")).toMatchObject({
      passed: true,
      detail: "answers on mesh 100.64.0.1 (exporter); handshake with key yZ04QQaf… 30 s ago",
    });
  });

  test("no answer on the mesh, an old handshake, none ever, handshakes unreadable: failed", () => {
    const silent = observations({
      mesh: {
        soa: meshSoa((zone, n) => (n === "a1" ? { error: "no answer within 1.5 s" } : soa(zone, 7))),
        scrape: { error: "no answer within 1.5 s" },
      },
    });
    expect(judged(silent, "descriptor-current")).toMatchObject({
      passed: false,
      detail: "no answer on mesh 100.64.0.1 (DNS: no answer within 1.5 s; exporter: no answer within 1.5 s)",
    });
    const elsewhere = observations({ peer: { exporter: "100.64.0.99:9100" }, mesh: { soa: silent.mesh.soa } });
    expect(judged(elsewhere, "descriptor-current")).toMatchObject({
      passed: false,
      detail: "no answer on mesh 100.64.0.1 (DNS: no answer within 1.5 s; exporter: at 100.64.0.99:9100, not on the mesh address)",
    });
    expect(judged(observations({ mesh: { handshake: { at: nowS - 181, readAt: capturedAt } } }), "descriptor-current")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/; latest handshake with key yZ04QQaf… 181 s ago \(over 180 s\)$/),
    });
    expect(judged(observations({ mesh: { handshake: { at: nowS - 180, readAt: capturedAt } } }), "descriptor-current").passed).toBe(true);
    expect(judged(observations({ mesh: { handshake: { at: 0, readAt: capturedAt } } }), "descriptor-current")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/; no WireGuard handshake ever with key yZ04QQaf…$/),
    });
    expect(
      judged(
        observations({ mesh: { handshake: { error: "wg show wg0 latest-handshakes: Unable to access interface" } } }),
        "descriptor-current",
      ),
    ).toMatchObject({ passed: false, detail: expect.stringMatching(/; WireGuard handshakes not read: wg show wg0/) });
  });
});

describe("time-synchronised", () => {
  const scrape = (offsetS: number, extra = "") => {
    const sentMs = capturedAt.getTime();
    return { sentMs, receivedMs: sentMs + 10, body: `node_time_seconds ${(sentMs + 5) / 1000 + offsetS}\n${extra}` };
  };

  test("within 1 s of the checker's clock: passed; node_timex_sync_status reported, not judged", () => {
    expect(judged(observations(), "time-synchronised")).toMatchObject({
      passed: true,
      observedFrom: "mesh",
      detail: "clock offset +0.250 s (round trip 8 ms); node_timex_sync_status 0 (not judged)",
    });
    expect(judged(observations({ mesh: { scrape: scrape(-1) } }), "time-synchronised")).toMatchObject({
      passed: true,
      detail: "clock offset -1.000 s (round trip 10 ms)",
    });
  });

  test("more than 1 s off, either way: failed", () => {
    expect(judged(observations({ mesh: { scrape: scrape(5, "node_timex_sync_status 1\n") } }), "time-synchronised")).toMatchObject({
      passed: false,
      detail: "clock offset +5.000 s (round trip 10 ms), more than 1 s from the checker's; node_timex_sync_status 1 (not judged)",
    });
    expect(judged(observations({ mesh: { scrape: scrape(-1.2) } }), "time-synchronised").detail).toBe(
      "clock offset -1.200 s (round trip 10 ms), more than 1 s from the checker's",
    );
  });

  test("no metric, no scrape: failed", () => {
    expect(
      judged(observations({ mesh: { scrape: { sentMs: 0, receivedMs: 1, body: "node_load1 0.1\n" } } }), "time-synchronised"),
    ).toMatchObject({ passed: false, detail: "no node_time_seconds in the metrics of 100.64.0.1:9100" });
    expect(judged(observations({ mesh: { scrape: { error: "HTTP 500" } } }), "time-synchronised")).toMatchObject({
      passed: false,
      detail: "exporter 100.64.0.1:9100 not scraped: HTTP 500",
    });
  });

  test("metric values in the text format: plain, exponent, labels; not a prefix of another name", () => {
    expect(metricValue("node_time_seconds 1.7950e+09\n", "node_time_seconds")).toBe(1.795e9);
    expect(metricValue('node_time_seconds{a="b"} 12\n', "node_time_seconds")).toBe(12);
    expect(metricValue("node_time_seconds_total 3\n", "node_time_seconds")).toBeUndefined();
  });
});

describe("zones-replicated (advisory)", () => {
  test("3 nodes answer authoritatively, 2 of other members: passed", () => {
    expect(judged(observations(), "zones-replicated")).toMatchObject({
      passed: true,
      observedFrom: "mesh",
      detail: "authoritative: coop-a.example. 3 node(s) (a1, b1, c1), 2 of other members",
    });
  });

  test("one of them not authoritative: failed, with what was found and what is needed", () => {
    const soaOf = (zone: string, n: string) => (n === "c1" && zone === ZONE ? soa(zone, 7, { authoritative: false }) : soa(zone, 7));
    expect(judged(observations({ mesh: { soa: meshSoa(soaOf) } }), "zones-replicated")).toMatchObject({
      passed: false,
      detail: "coop-a.example. 2 node(s) (a1, b1), 1 of other members: need 3, 2 of other members",
    });
    expect(judged(observations({ peer: { zones: [] } }), "zones-replicated")).toMatchObject({
      passed: true,
      detail: "no zones of its own",
    });
  });
});

describe("serial-agrees (advisory)", () => {
  test("every member zone at the primary's serial: passed", () => {
    expect(judged(observations(), "serial-agrees")).toMatchObject({
      passed: true,
      observedFrom: "mesh",
      detail: "serves all 4 member zone(s), serials as on their primaries",
    });
  });

  test("a serial behind, a zone not served: failed, named; a primary that does not answer is not compared", () => {
    const soaOf = (zone: string, n: string): Reply => {
      if (zone === "coop-b.example." && n === "b1") return soa(zone, 9);
      if (zone === "coop-c.example." && n === "a1") return refused(zone);
      if (zone === "b-mail.example." && n === "b1") return { error: "no answer within 1.5 s" };
      return soa(zone, 7);
    };
    expect(judged(observations({ mesh: { soa: meshSoa(soaOf) } }), "serial-agrees")).toMatchObject({
      passed: false,
      detail:
        "does not serve coop-c.example. (REFUSED); serial differs: coop-b.example. 7 vs 9 on b1; not compared: b-mail.example. (primary b1: no answer within 1.5 s)",
    });
  });
});
