// The node's watch of its zones' parents: the pure steps (src/core/dns/parent-discovery.ts),
// the RD bit of the kit's queries, the agent's walk from the node's resolver to the parent's
// servers (src/agent/delegation.ts) against a scripted DNS, its metrics and journal lines,
// and the units and the config key that run it.
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Asker, checkZones, DelegationContext } from "../../src/agent/delegation";
import type { Question, Reply } from "../../src/core/dns/check";
import { Dnskey, DsRecord, canonicalNameWire, dsOf, formatDs, keyTag } from "../../src/core/dns/ds";
import { decodeMessage, DnsMessage, dnsMessage, encodeQuery, RECURSION_DESIRED, typeName, WireRecord } from "../../src/core/dns/message";
import {
  addressesIn,
  delegationLogLines,
  delegationMetrics,
  DnsServer,
  enclosingZone,
  expectedDelegation,
  nameServersIn,
  ownKnotServer,
  parentAnswerProblem,
  parentFromDsAnswer,
  parseResolvConf,
  promLabel,
  resolverAnswerProblem,
  servedKsks,
  zoneVerdict,
} from "../../src/core/dns/parent-discovery";
import { RECORD_TYPES } from "../../src/core/dns/zonefile";
import { plan } from "../../src/core/node/plan";
import { DELEGATION_DRIFT_CHECKS, renderNode } from "../../src/core/node/render";
import { DELEGATION_RUN } from "../../src/core/node/layout";
import { AGENT_TRIGGERS, SERVICE_SCRIPTS } from "../../src/core/node/scripts";
import { parseAgentConfig, renderAgentConfig } from "../../src/core/spec/agent";
import { splitPrivateKey } from "../../src/core/spec/stack";
import { ask } from "../../src/io/dns/transport";
import type { DnsFixtures } from "../fixtures/dns/capture";
import { aaaaRecord, aRecord, dsRecord, nsRecord, wireRecord } from "../helpers/dns-wire";
import { FIXTURE_DIR, fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";
import { hasKnot, Knotd, renderedZone, startKnotd } from "../helpers/knotd";

// ---- DNS messages, as a decoder would give them -------------------------------------------

const record = (owner: string, type: string, rdata: Buffer) => wireRecord(owner, type, rdata, 3600);
const below = (label: string, name: string) => (name === "." ? `${label}.` : `${label}.${name}`);
const soaRecord = (owner: string) =>
  record(
    owner,
    "SOA",
    Buffer.concat([canonicalNameWire(below("ns", owner)), canonicalNameWire(below("hostmaster", owner)), Buffer.alloc(20)]),
  );
function rrsigRecord(owner: string, covered: string, signer: string): WireRecord {
  const head = Buffer.alloc(18);
  head.writeUInt16BE(RECORD_TYPES[covered], 0);
  head[2] = 13;
  head[3] = owner.split(".").length - 1;
  return record(owner, "RRSIG", Buffer.concat([head, canonicalNameWire(signer), Buffer.alloc(64, 1)]));
}
const message = dnsMessage;

// ---- the fixtures: a1's zone coop-a.example., its KSK as a real Knot served it -------------

const fixtures = JSON.parse(readFileSync(join(FIXTURE_DIR, "dns/answers.json"), "utf8")) as DnsFixtures;
const capturedAt = new Date(fixtures.capturedAt);
const ZONE = "coop-a.example.";
const knotDnskey = decodeMessage(Buffer.from(fixtures.ecdsa.replies[`${ZONE} DNSKEY`], "hex"));
const federation = fixtureFederation();
const a1 = plan(fixtureSpec("a1"), federation);
const zone = a1.dns.primaryZones[0];
const served = servedKsks(ZONE, knotDnskey, capturedAt);
const ksk = (served as { ksks: Dnskey[] }).ksks[0];
const goodDs = dsOf(ksk);

describe("parent discovery, pure", () => {
  test("resolv.conf: its nameserver lines in order, comments and what is no IP address skipped, three at most; none is the local host", () => {
    const text = [
      "# written by dhclient",
      "search example.net",
      "nameserver 192.0.2.53 # the site's",
      "nameserver 2001:db8::53",
      "; nameserver 192.0.2.99",
      "nameserver fe80::1%eth0",
      "nameserver resolver.example.",
      "nameserver 192.0.2.53",
      "  nameserver\t198.51.100.53",
      "nameserver 203.0.113.53",
      "options edns0 trust-ad",
    ].join("\n");
    expect(parseResolvConf(text)).toEqual([
      { host: "192.0.2.53", port: 53 },
      { host: "2001:db8::53", port: 53 },
      { host: "198.51.100.53", port: 53 },
    ]);
    expect(parseResolvConf("")).toEqual([{ host: "127.0.0.1", port: 53 }]);
    expect(parseResolvConf("search lab.test\n")).toEqual([{ host: "127.0.0.1", port: 53 }]);
  });

  test("the parent from a resolver's DS answer: the signer of the DS's RRSIG, or the SOA of a NODATA; never the zone itself", () => {
    const signed = message({ answer: [dsRecord(goodDs), rrsigRecord(ZONE, "DS", "example.")] });
    expect(parentFromDsAnswer(ZONE, signed)).toBe("example.");
    // An RRSIG over something else names no parent.
    expect(parentFromDsAnswer(ZONE, message({ answer: [rrsigRecord(ZONE, "DNSKEY", ZONE)] }))).toBeUndefined();
    expect(parentFromDsAnswer(ZONE, message({ authority: [soaRecord("example.")] }))).toBe("example.");
    expect(parentFromDsAnswer(ZONE, message({ rcode: 3, authority: [soaRecord(".")] }))).toBe(".");
    // A resolver that asked the child answers with the child's SOA: not a parent.
    expect(parentFromDsAnswer(ZONE, message({ authority: [soaRecord(ZONE)] }))).toBeUndefined();
    expect(parentFromDsAnswer(ZONE, message({ authority: [soaRecord("other.example.")] }))).toBeUndefined();
    // An unsigned parent's DS: neither; the zone that holds the parent name says.
    expect(parentFromDsAnswer(ZONE, message({ answer: [dsRecord(goodDs)] }))).toBeUndefined();
    expect(enclosingZone("example.", message({ answer: [soaRecord("example.")] }))).toBe("example.");
    expect(enclosingZone("sub.example.", message({ authority: [soaRecord("example.")] }))).toBe("example.");
    expect(enclosingZone("sub.example.", message({ authority: [soaRecord("elsewhere.")] }))).toBeUndefined();
  });

  test("the parent's name servers and their addresses from a resolver's answers", () => {
    const ns = message({
      answer: [nsRecord("example.", "B.nic.example."), nsRecord("example.", "a.nic.example."), nsRecord("other.", "x.")],
    });
    expect(nameServersIn("example.", ns)).toEqual(["a.nic.example.", "b.nic.example."]);
    const addresses = message({
      answer: [record("a.nic.example.", "CNAME", canonicalNameWire("ns.example.")), aRecord("ns.example.", "192.0.2.1")],
    });
    expect(addressesIn(addresses)).toEqual(["192.0.2.1"]);
    expect(addressesIn(message({ answer: [aaaaRecord("ns.example.", "2001:db8::1")] }))).toEqual(["2001:db8::1"]);
    expect(resolverAnswerProblem(message({ rcode: 2 }))).toBe("answered SERVFAIL");
    expect(resolverAnswerProblem(message({ rcode: 3 }))).toBeUndefined();
  });

  test("a parent server's answers are judged only when the DS is authoritative and the NS a referral (or an authoritative answer)", () => {
    const referral = message({ authority: [nsRecord(ZONE, "ns-a1.coop-a.example.")] });
    const ds = message({ authoritative: true, answer: [dsRecord(goodDs)] });
    expect(parentAnswerProblem(ZONE, referral, ds)).toBeUndefined();
    // No such delegation at all, said with authority: judged (every name server is missing).
    expect(
      parentAnswerProblem(ZONE, message({ rcode: 3, authoritative: true }), message({ rcode: 3, authoritative: true })),
    ).toBeUndefined();
    expect(parentAnswerProblem(ZONE, referral, message({ answer: [dsRecord(goodDs)] }))).toMatch(/not authoritative for the parent zone/);
    expect(parentAnswerProblem(ZONE, message({ rcode: 5 }), ds)).toBe(`answered ${ZONE} NS with REFUSED`);
    // An upward referral (a server that is not the parent's): nothing to judge.
    expect(parentAnswerProblem(ZONE, message({ authority: [nsRecord(".", "a.root-servers.net.")] }), ds)).toMatch(/neither a referral/);
  });

  test("the KSKs served: SEP keys whose signature over the DNSKEY set verifies, as Knot served them", () => {
    expect(served).toEqual({ ksks: [expect.objectContaining({ owner: ZONE, flags: 257, algorithm: 13 })] });
    // Long after the capture, the signatures have expired: no KSK is vouched for, and the DS is not compared.
    expect(servedKsks(ZONE, knotDnskey, new Date(capturedAt.getTime() + 400 * 86400_000))).toEqual({
      error: "no key-signing key's signature over the DNSKEY set verifies",
    });
    expect(servedKsks(ZONE, message({ rcode: 5 }), capturedAt)).toEqual({ error: "answered REFUSED" });
    expect(servedKsks(ZONE, message(), capturedAt)).toMatchObject({ error: expect.stringMatching(/no DNSKEY/) });
  });

  test("the node's own Knot is asked where resolvers ask it: its endpoint's address; loopback for a host name", () => {
    expect(ownKnotServer("198.51.100.11:53")).toEqual({ host: "198.51.100.11", port: 53 });
    expect(ownKnotServer("[2001:db8::11]:53")).toEqual({ host: "2001:db8::11", port: 53 });
    expect(ownKnotServer("wg.coop-c.net:53")).toEqual({ host: "127.0.0.1", port: 53 });
  });

  test("what the parent should hold: the zone's set, every live node's name server name, the KSKs", () => {
    const expected = expectedDelegation(zone, "coop-a", federation.nodes, [ksk]);
    expect(expected.nameServers).toBe(zone.nameServers);
    expect([...expected.known.entries()].sort()).toEqual([
      ["ns-a1.coop-a.example.", { node: "a1", member: "coop-a" }],
      ["ns-b1.coop-b.example.", { node: "b1", member: "coop-b" }],
      ["wg.coop-c.net.", { node: "c1", member: "coop-c" }],
    ]);
    expect(expected.ksks).toEqual([ksk]);
    expect("ksks" in expectedDelegation(zone, "coop-a", federation.nodes, undefined)).toBe(false);
  });

  test("the verdict: each difference once, naming the servers when not all say it; no server answering is no drift", () => {
    const verdict = zoneVerdict(ZONE, [
      { server: "a.nic.example.", problems: ["one", "two"] },
      { server: "b.nic.example.", problems: ["two"] },
      { server: "c.nic.example.", error: "could not be asked (at 192.0.2.3: no answer within 3 s)" },
    ]);
    expect(verdict).toEqual({
      zone: ZONE,
      answered: true,
      problems: ["one (at a.nic.example.)", "two"],
      notes: ["parent server c.nic.example. could not be asked (at 192.0.2.3: no answer within 3 s)"],
    });
    const silent = zoneVerdict(ZONE, [{ server: "a.nic.example.", error: "could not be asked (x)" }], ["a note"]);
    expect(silent).toMatchObject({ answered: false, problems: [] });
    expect(silent.notes).toEqual([
      "a note",
      "parent server a.nic.example. could not be asked (x)",
      "the parent's delegation is not checked this time (no parent server answered)",
    ]);
  });

  test("metrics for node-exporter: problems and whether the parent answered per zone, and when", () => {
    const text = delegationMetrics(
      [
        { zone: ZONE, answered: true, problems: ["x", "y"], notes: [] },
        { zone: 'we"ird\\.example.', answered: false, problems: [], notes: ["n"] },
      ],
      1700000000,
    );
    expect(text).toContain(`boreal_delegation_problems{zone="${ZONE}"} 2\n`);
    expect(text).toContain(`boreal_delegation_parent_answered{zone="${ZONE}"} 1\n`);
    expect(text).toContain('boreal_delegation_problems{zone="we\\"ird\\\\.example."} 0\n');
    expect(text).toContain('boreal_delegation_parent_answered{zone="we\\"ird\\\\.example."} 0\n');
    expect(text).toMatch(/\nboreal_delegation_checked_timestamp_seconds 1700000000\n$/);
    expect(text.match(/^# TYPE \S+ gauge$/gm)).toHaveLength(3);
    expect(promLabel("a\nb")).toBe("a\\nb");
  });

  test("journal lines: every difference and note, escaped", () => {
    const lines = delegationLogLines({ zone: ZONE, answered: true, problems: ["NS evil.\n forged line \u202e"], notes: ["n"] });
    expect(lines).toEqual([`delegation: ${ZONE}: NS evil.\\n forged line \\u202e`, `delegation: ${ZONE}: n`]);
  });
});

describe("the RD bit: resolvers are asked to recurse, authoritative servers are not", () => {
  test("encodeQuery sets RD only when asked", () => {
    expect(encodeQuery(1, ZONE, RECORD_TYPES.DS).readUInt16BE(2)).toBe(0);
    expect(encodeQuery(1, ZONE, RECORD_TYPES.DS, true).readUInt16BE(2)).toBe(RECURSION_DESIRED);
  });

  test("the transport sends it over the wire", async () => {
    const flags: number[] = [];
    const server = createSocket("udp4");
    server.on("message", (query, from) => {
      flags.push(query.readUInt16BE(2));
      // The query itself as its answer (QR set): a NOERROR with no record.
      const answer = Buffer.from(query);
      answer.writeUInt16BE(query.readUInt16BE(2) | 0x8000, 2);
      server.send(answer, from.port, from.address);
    });
    await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
    try {
      const at = { host: "127.0.0.1", port: server.address().port };
      const asked = await Promise.all([
        ask(at, { name: ZONE, type: RECORD_TYPES.DS }, 2000, { recursion: true }),
        ask(at, { name: ZONE, type: RECORD_TYPES.NS }, 2000),
      ]);
      expect(asked.every((r) => "message" in r)).toBe(true);
      expect(flags.map((f) => f & RECURSION_DESIRED).sort()).toEqual([0, RECURSION_DESIRED]);
    } finally {
      server.close();
    }
  });
});

// ---- the agent's walk against a scripted DNS ---------------------------------------------

const RESOLVER: DnsServer = { host: "192.0.2.53", port: 53 };
const OWN: DnsServer = { host: "198.51.100.11", port: 53 };
const OWN_GLUE = "198.51.100.11";

/** What the parent holds for coop-a.example.: NS names, glue, DS. */
interface ParentHolds {
  nameServers: string[];
  glue: [string, string][];
  ds: DsRecord[];
}
const exact: ParentHolds = {
  nameServers: zone.nameServers.map((ns) => ns.name),
  glue: [["ns-a1.coop-a.example.", OWN_GLUE]],
  ds: [goodDs],
};

type Script = Record<string, Reply | (() => Reply)>;
const key = (server: DnsServer, q: Question) => `${server.host} ${q.name} ${typeName(q.type)}`;

/** The world as the node sees it: its resolver, the parent's two servers (each holding what it is given), its own Knot. */
function world(parents: { a: ParentHolds | "down"; b: ParentHolds | "down" }, over: Script = {}): Script {
  const resolver = (name: string, type: string, m: Partial<DnsMessage>) => [`${RESOLVER.host} ${name} ${type}`, { message: message(m) }];
  const parent = (host: string, holds: ParentHolds | "down") =>
    holds === "down"
      ? []
      : [
          [
            `${host} ${ZONE} NS`,
            {
              message: message({
                authority: holds.nameServers.map((n) => nsRecord(ZONE, n)),
                additional: holds.glue.map(([n, address]) => aRecord(n, address)),
              }),
            },
          ],
          [`${host} ${ZONE} DS`, { message: message({ authoritative: true, answer: holds.ds.map(dsRecord) }) }],
        ];
  return {
    ...Object.fromEntries([
      resolver(ZONE, "DS", { answer: [dsRecord(goodDs), rrsigRecord(ZONE, "DS", "example.")] }),
      resolver("example.", "NS", { answer: [nsRecord("example.", "a.nic.example."), nsRecord("example.", "b.nic.example.")] }),
      resolver("a.nic.example.", "A", { answer: [aRecord("a.nic.example.", "192.0.2.1")] }),
      resolver("a.nic.example.", "AAAA", { answer: [aaaaRecord("a.nic.example.", "2001:db8::1")] }),
      resolver("b.nic.example.", "A", { answer: [aRecord("b.nic.example.", "192.0.2.2")] }),
      resolver("b.nic.example.", "AAAA", { authority: [soaRecord("example.")] }),
      ...parent("192.0.2.1", parents.a),
      ...parent("192.0.2.2", parents.b),
      [`${OWN.host} ${ZONE} DNSKEY`, { message: knotDnskey }],
    ]),
    ...over,
  };
}

/** Runs the check of a1's zone in that world; the questions asked, with their RD, are kept. */
async function run(script: Script) {
  const asked: string[] = [];
  const asker: Asker = async (server, question, options) => {
    asked.push(`${options.recursion ? "RD " : ""}${key(server, question)}`);
    const answer = script[key(server, question)];
    return typeof answer === "function" ? answer() : (answer ?? { error: "no answer within 3 s" });
  };
  const context: DelegationContext = {
    member: "coop-a",
    nodes: federation.nodes,
    ownServer: OWN,
    resolvers: [RESOLVER],
    now: capturedAt,
    ask: asker,
  };
  const [check] = await checkZones([zone], context);
  return { check, asked };
}

describe("boreal-agent delegation, against a scripted DNS", () => {
  test("a parent holding exactly the federation's delegation: no problem; resolvers asked with RD, the parent's servers and Knot without", async () => {
    const { check, asked } = await run(world({ a: exact, b: exact }));
    expect(check).toEqual({ zone: ZONE, answered: true, problems: [], notes: [] });
    expect(asked.filter((q) => q.startsWith("RD "))).toEqual([
      `RD 192.0.2.53 ${ZONE} DS`,
      "RD 192.0.2.53 example. NS",
      "RD 192.0.2.53 a.nic.example. A",
      "RD 192.0.2.53 a.nic.example. AAAA",
      "RD 192.0.2.53 b.nic.example. A",
      "RD 192.0.2.53 b.nic.example. AAAA",
    ]);
    expect(asked.filter((q) => !q.startsWith("RD ")).sort()).toEqual([
      `192.0.2.1 ${ZONE} DS`,
      `192.0.2.1 ${ZONE} NS`,
      `192.0.2.2 ${ZONE} DS`,
      `192.0.2.2 ${ZONE} NS`,
      `198.51.100.11 ${ZONE} DNSKEY`,
    ]);
    expect(delegationMetrics([check], 1)).toContain(`boreal_delegation_problems{zone="${ZONE}"} 0\n`);
  });

  test("a stale parent: an NS removed, the glue changed on one server, a DS matching no KSK; each named once", async () => {
    const wrongDs = { ...goodDs, digest: goodDs.digest.replace(/^./, (c) => (c === "0" ? "1" : "0")) };
    const stale: ParentHolds = { nameServers: exact.nameServers.filter((n) => n !== "wg.coop-c.net."), glue: exact.glue, ds: [wrongDs] };
    const { check } = await run(world({ a: stale, b: { ...stale, glue: [["ns-a1.coop-a.example.", "198.51.100.98"]] } }));
    expect(check.answered).toBe(true);
    expect(check.problems).toEqual([
      `${ZONE} NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar`,
      expect.stringMatching(/^only 1 name server\(s\) of other members at the parent for coop-a\.example\./),
      expect.stringMatching(
        new RegExp(
          `^${ZONE.replace(/\./g, "\\.")} DS ${goodDs.keyTag}/13 at the parent matches no KSK the zone is signed with \\(${keyTag(ksk)}/13\\)`,
        ),
      ),
      expect.stringMatching(/^glue ns-a1\.coop-a\.example\. A 198\.51\.100\.98 at the parent is stale: .* \(at b\.nic\.example\.\)$/),
    ]);
    const metrics = delegationMetrics([check], 1);
    expect(metrics).toContain(`boreal_delegation_problems{zone="${ZONE}"} 4\n`);
    expect(metrics).toContain(`boreal_delegation_parent_answered{zone="${ZONE}"} 1\n`);
    expect(delegationLogLines(check)[0]).toBe(`delegation: ${ZONE}: ${check.problems[0]}`);
  });

  test("a lame name server left at the parent is named as such", async () => {
    const { check } = await run(world({ a: { ...exact, nameServers: [...exact.nameServers, "ns-gone.example.net."] }, b: "down" }));
    expect(check.problems).toEqual([
      expect.stringMatching(/NS ns-gone\.example\.net\. at the parent names no node of the federation .* lame/),
    ]);
    expect(check.notes).toEqual([
      expect.stringMatching(/^parent server b\.nic\.example\. could not be asked \(at 192\.0\.2\.2: no answer within 3 s\)$/),
    ]);
  });

  test("a parent server's first address silent: its next one is asked", async () => {
    const { check, asked } = await run(
      world(
        { a: "down", b: "down" },
        {
          [`2001:db8::1 ${ZONE} NS`]: {
            message: message({
              authority: exact.nameServers.map((n) => nsRecord(ZONE, n)),
              additional: [aRecord("ns-a1.coop-a.example.", OWN_GLUE)],
            }),
          },
          [`2001:db8::1 ${ZONE} DS`]: { message: message({ authoritative: true, answer: [dsRecord(goodDs)] }) },
        },
      ),
    );
    expect(asked).toContain(`2001:db8::1 ${ZONE} NS`);
    expect(check).toMatchObject({ answered: true, problems: [] });
    expect(check.notes).toEqual([expect.stringMatching(/^parent server b\.nic\.example\. could not be asked/)]);
  });

  test("the resolver failing, or no parent server answering: not answered, no drift counted, and the journal says why", async () => {
    const broken = await run(world({ a: exact, b: exact }, { [`${RESOLVER.host} ${ZONE} DS`]: { message: message({ rcode: 2 }) } }));
    expect(broken.check).toMatchObject({ answered: false, problems: [] });
    expect(broken.check.notes).toEqual([
      `the parent zone could not be found: the node's resolvers (192.0.2.53, /etc/resolv.conf) did not answer ${ZONE} DS: 192.0.2.53 answered SERVFAIL`,
      "the parent's delegation is not checked this time (no parent server to ask)",
    ]);
    const silent = await run(world({ a: "down", b: "down" }));
    expect(silent.check).toMatchObject({ answered: false, problems: [] });
    expect(silent.check.notes.at(-1)).toBe("the parent's delegation is not checked this time (no parent server answered)");
    const metrics = delegationMetrics([silent.check], 1);
    expect(metrics).toContain(`boreal_delegation_problems{zone="${ZONE}"} 0\n`);
    expect(metrics).toContain(`boreal_delegation_parent_answered{zone="${ZONE}"} 0\n`);
  });

  test("an unsigned parent (a DS with no RRSIG): the zone holding the parent name is asked", async () => {
    const { check, asked } = await run(
      world(
        { a: exact, b: exact },
        {
          [`${RESOLVER.host} ${ZONE} DS`]: { message: message({ answer: [dsRecord(goodDs)] }) },
          [`${RESOLVER.host} example. SOA`]: { message: message({ answer: [soaRecord("example.")] }) },
        },
      ),
    );
    expect(asked).toContain("RD 192.0.2.53 example. SOA");
    expect(check).toMatchObject({ answered: true, problems: [] });
  });

  test("the node's own Knot silent: the DS is not compared (a note), the rest is", async () => {
    const wrongDs = { ...goodDs, keyTag: 1, digest: "00".repeat(32) };
    const { check } = await run(
      world(
        { a: { ...exact, ds: [wrongDs] }, b: { ...exact, ds: [wrongDs] } },
        { [`${OWN.host} ${ZONE} DNSKEY`]: { error: "connection refused at port 53" } },
      ),
    );
    expect(check).toMatchObject({ answered: true, problems: [] });
    expect(check.notes).toEqual([
      `the node's own Knot at 198.51.100.11 gives no KSK of ${ZONE} (connection refused at port 53): the DS is not compared`,
    ]);
  });
});

describe("the units, the alert's wait and the config key", () => {
  test("boreal-delegation.service and .timer are the agent's, at the stack's interval; its timer is installed and removed with the others", () => {
    const files = renderNode(plan(fixtureSpec("b1", { delegationCheckInterval: 15 }), federation), templates);
    const content = (path: string) => files.find((f) => f.path === path)!.content;
    const service = files.find((f) => f.path === "/etc/systemd/system/boreal-delegation.service")!;
    expect(service.role).toBe("agent");
    expect(service.content).toContain(`ExecStart=${DELEGATION_RUN}\n`);
    expect(service.content).toMatch(/^Type=oneshot$/m);
    expect(service.content).toMatch(/^Nice=10$/m);
    expect(DELEGATION_RUN).toBe("flock -n -E 0 /run/boreal-delegation.lock node /usr/local/lib/boreal-agent.js delegation");
    expect(content("/etc/systemd/system/boreal-delegation.timer")).toMatch(/^OnUnitActiveSec=15s$/m);
    expect(content("/etc/prometheus/boreal-rules.yml")).toMatch(
      new RegExp(
        `- alert: BorealDelegationDrift\\n\\s+expr: boreal_delegation_problems\\{member="coop-b", job="boreal-node"\\} > 0\\n\\s+for: ${DELEGATION_DRIFT_CHECKS * 15}s\\n`,
      ),
    );
    const byDefault = renderNode(plan(fixtureSpec("b1"), federation), templates);
    expect(byDefault.find((f) => f.path === "/etc/systemd/system/boreal-delegation.timer")!.content).toMatch(/^OnUnitActiveSec=300s$/m);
    expect(byDefault.find((f) => f.path === "/etc/prometheus/boreal-rules.yml")!.content).toMatch(
      /BorealDelegationDrift\n.*\n\s+for: 900s\n/,
    );
    expect(AGENT_TRIGGERS).toContain("boreal-delegation.timer");
    expect(SERVICE_SCRIPTS.agent.undo).toContain("boreal-delegation.service");
    expect(SERVICE_SCRIPTS.monitoring.undo).toContain('"$textfiles/boreal-delegation.prom"');
  });

  test("the key stays off the node's agent config, which the agent reads with the default", () => {
    const { spec } = splitPrivateKey(fixtureSpec("b1", { delegationCheckInterval: 15 }));
    expect(spec.delegationCheckInterval).toBe(15);
    const text = renderAgentConfig(spec, { ipv4: "100.64.0.17", ipv6: "fd42:b0:ea1::11" });
    expect(text).not.toContain("delegationCheckInterval");
    expect(parseAgentConfig(text, "/etc/boreal/agent.json").spec.delegationCheckInterval).toBe(300);
  });
});

describe.runIf(hasKnot)("boreal-agent delegation against real Knot servers on loopback", () => {
  // The node's own Knot serves a1's zone signed with the kit's policy; another knotd serves the
  // parent zone example. (signed too), and stands in for the node's resolver as well (it
  // answers for its own zone whatever the RD bit). Only 127.0.0.1 is ever asked.
  const served = renderedZone(fixtureSpec("a1"), ZONE);
  let own: Knotd;
  let parent: Knotd;
  let ds: string;
  const parentZone = (delegation: string[]) => ({
    name: "example.",
    text: [
      "example. 300 SOA ns.example. hostmaster.example. 1 300 60 2419200 300",
      "example. 300 NS ns.example.",
      "ns.example. 300 A 192.0.2.1",
      ...delegation,
      "",
    ].join("\n"),
  });
  const delegation = () => [...zone.nameServers.map((ns) => `${ZONE} 300 NS ${ns.name}`), `ns-a1.${ZONE} 300 A ${OWN_GLUE}`, ds];
  const check = async () => {
    const port: Record<string, number> = { [RESOLVER.host]: parent.port, "192.0.2.1": parent.port, [OWN.host]: own.port };
    const asker: Asker = (server, question, options) => ask({ host: "127.0.0.1", port: port[server.host] }, question, 2000, options);
    const context: DelegationContext = {
      member: "coop-a",
      nodes: federation.nodes,
      ownServer: OWN,
      resolvers: [RESOLVER],
      now: new Date(),
      ask: asker,
    };
    return (await checkZones([zone], context))[0];
  };

  beforeAll(async () => {
    own = await startKnotd([served.zone], served.policy);
    const keys = await ask({ host: "127.0.0.1", port: own.port }, { name: ZONE, type: RECORD_TYPES.DNSKEY }, 2000);
    const ksks = servedKsks(ZONE, (keys as { message: DnsMessage }).message, new Date());
    ds = `${formatDs(dsOf((ksks as { ksks: Dnskey[] }).ksks[0]))}`.replace(" DS ", " 300 DS ");
    parent = await startKnotd([parentZone(delegation())], served.policy);
  }, 20_000);
  afterAll(async () => {
    await Promise.all([own?.stop(), parent?.stop()]);
  });

  test("the parent holding the federation's delegation: found through the resolver, asked directly, no difference", async () => {
    expect(await check()).toEqual({ zone: ZONE, answered: true, problems: [], notes: [] });
  });

  test("the parent gone stale (an NS removed, the glue moved, another DS): each named", async () => {
    const stale = delegation()
      .filter((line) => !line.endsWith(" NS wg.coop-c.net."))
      .map((line) => line.replace(` A ${OWN_GLUE}`, " A 198.51.100.98").replace(/ [0-9A-F]{64}$/i, ` ${"AB".repeat(32)}`));
    await parent.reload(parentZone(stale));
    try {
      const result = await check();
      expect(result.answered).toBe(true);
      expect(result.problems).toEqual([
        `${ZONE} NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar`,
        expect.stringMatching(/^glue ns-a1\.coop-a\.example\. A 198\.51\.100\.98 at the parent is stale/),
        expect.stringMatching(/^only 1 name server\(s\) of other members/),
        expect.stringMatching(/DS \d+\/13 at the parent matches no KSK the zone is signed with/),
      ]);
    } finally {
      await parent.reload(parentZone(delegation()));
    }
  });
});
