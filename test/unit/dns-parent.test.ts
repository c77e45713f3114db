// What a parent zone holds for a member zone (src/core/dns/parent.ts): its referral read out
// of hand-built answers, every difference from the registry's delegation named by its record,
// and how `boreal dns check` prints them (src/core/dns/check.ts). The same cases against a
// real knotd serving a signed parent zone are in dns-check-knot.test.ts.
import { describe, expect, test } from "vitest";
import { evaluateDnsCheck, formatDnsCheck, CheckInput, DelegationAnswer } from "../../src/core/dns/check";
import { NodeForDelegation } from "../../src/core/dns/delegation";
import { dsOf, keyTag, parseDnskeys } from "../../src/core/dns/ds";
import { dnsMessage } from "../../src/core/dns/message";
import { delegationProblems, knownNameServers, ParentDelegation, parentDelegation, registryDelegation } from "../../src/core/dns/parent";
import { aaaaRecord, aRecord, dsRecord, nsRecord } from "../helpers/dns-wire";
import { fixtureFederation } from "../helpers/fixtures";

const ZONE = "coop-a.example.";

const ns = nsRecord;
const a = aRecord;
const aaaa = aaaaRecord;
const ds = dsRecord;
const message = dnsMessage;

/** A KSK made by Knot's keymgr (as in dns-delegation.test.ts). */
const [KSK] = parseDnskeys(
  "coop-a.example. DNSKEY 257 3 13 os6/BaJ/WititLrEKAkYX+sPmAaBfYTIyTxV++QLM73f91fxTmQVtxwwxnzvqN1jn291ibDWZEgYxbZKs8UQGQ==\n",
);

/** The fixture registry's live nodes: a1 (coop-a), b1 (coop-b), c1 (coop-c, a host name endpoint); a1's set is a1, b1, c1. */
const federation = fixtureFederation().nodes;
const expected = registryDelegation(ZONE, federation)!;

/** What a parent holding the registry's delegation exactly gives, with these changes. */
function parent(over: Partial<ParentDelegation> = {}): ParentDelegation {
  return {
    nameServers: ["ns-a1.coop-a.example.", "ns-b1.coop-b.example.", "wg.coop-c.net."],
    glue: [{ name: "ns-a1.coop-a.example.", type: "A", address: "198.51.100.11" }],
    ds: [dsOf(KSK)],
    ...over,
  };
}

describe("the registry's delegation of a zone", () => {
  test("the owner's nodes, then the other members' recorded in its descriptor; every live node's name known", () => {
    expect(expected).toMatchObject({ zone: ZONE, member: "coop-a" });
    expect(expected.nameServers).toEqual([
      {
        name: "ns-a1.coop-a.example.",
        node: "a1",
        member: "coop-a",
        addresses: [{ type: "A", address: "198.51.100.11" }],
        glue: [{ type: "A", address: "198.51.100.11" }],
      },
      { name: "ns-b1.coop-b.example.", node: "b1", member: "coop-b", addresses: [{ type: "A", address: "198.51.100.12" }], glue: [] },
      { name: "wg.coop-c.net.", node: "c1", member: "coop-c", addresses: [], glue: [] },
    ]);
    expect([...knownNameServers(federation)]).toEqual([
      ["ns-a1.coop-a.example.", { node: "a1", member: "coop-a" }],
      ["ns-b1.coop-b.example.", { node: "b1", member: "coop-b" }],
      ["wg.coop-c.net.", { node: "c1", member: "coop-c" }],
    ]);
    expect(registryDelegation("coop-z.example.", federation)).toBeUndefined();
  });
});

describe("the parent's delegation, read out of its answers", () => {
  test("a referral: NS in the authority section, glue in the additional one (other names' addresses left out), DS from the DS answer", () => {
    const referral = message({
      authority: [
        ns(ZONE, "wg.coop-c.net."),
        ns(ZONE, "ns-a1.coop-a.example."),
        ns(ZONE, "ns-b1.coop-b.example."),
        ns("coop-b.example.", "ns-b1.coop-b.example."),
      ],
      additional: [
        a("ns-a1.coop-a.example.", "198.51.100.11"),
        aaaa("ns-a1.coop-a.example.", "2001:db8::11"),
        a("ns-b1.coop-b.example.", "198.51.100.12"),
        a("ns.example.", "192.0.2.53"),
      ],
    });
    const dsAnswer = message({ authoritative: true, answer: [ds(dsOf(KSK)), ds({ ...dsOf(KSK), owner: "other.example." })] });
    expect(parentDelegation(ZONE, referral, dsAnswer)).toEqual({
      nameServers: ["ns-a1.coop-a.example.", "ns-b1.coop-b.example.", "wg.coop-c.net."],
      glue: [
        { name: "ns-a1.coop-a.example.", type: "A", address: "198.51.100.11" },
        { name: "ns-a1.coop-a.example.", type: "AAAA", address: "2001:db8::11" },
        { name: "ns-b1.coop-b.example.", type: "A", address: "198.51.100.12" },
      ],
      ds: [dsOf(KSK)],
    });
  });

  test("the NS set in the answer section (a server that also serves the zone); no delegation: nothing", () => {
    const own = message({ authoritative: true, answer: [ns(ZONE, "ns-a1.coop-a.example.")] });
    expect(parentDelegation(ZONE, own, message()).nameServers).toEqual(["ns-a1.coop-a.example."]);
    const none = message({ authoritative: true, rcode: 3 });
    expect(parentDelegation(ZONE, none, none)).toEqual({ nameServers: [], glue: [], ds: [] });
  });
});

describe("every difference from the registry's delegation, one line naming the record", () => {
  test("the parent holding the delegation: no problem; another zone's glue handed out with the referral is not this zone's", () => {
    expect(delegationProblems(expected, parent())).toEqual([]);
    // Knot adds a sibling's glue (coop-b.example.'s) to the referral: not a problem of coop-a's registrar.
    const sibling = parent({ glue: [...parent().glue, { name: "ns-b1.coop-b.example.", type: "A", address: "198.51.100.12" }] });
    expect(delegationProblems(expected, sibling)).toEqual([]);
    // Addresses in another written form are the same address.
    const v6 = registryDelegation(ZONE, [{ ...federation[0], endpoint: "[2001:DB8:0::11]:51820" }, ...federation.slice(1)])!;
    expect(delegationProblems(v6, parent({ glue: [{ name: "ns-a1.coop-a.example.", type: "AAAA", address: "2001:db8::11" }] }))).toEqual(
      [],
    );
  });

  test.each<[string, Partial<ParentDelegation>, string[]]>([
    [
      "an NS removed: missing, and too few of other members left",
      { nameServers: ["ns-a1.coop-a.example.", "ns-b1.coop-b.example."] },
      [
        "coop-a.example. NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar",
        "only 1 name server(s) of other members at the parent for coop-a.example. (at least 2): it fails whenever member coop-a's own nodes are down",
      ],
    ],
    [
      "an NS of a node that left: lame",
      { nameServers: [...parent().nameServers, "ns-a2.coop-a.example."] },
      [
        "coop-a.example. NS ns-a2.coop-a.example. at the parent names no node of the federation (one that left, or a typo): it is lame; remove it at the registrar",
      ],
    ],
    [
      "a glue address changed: stale",
      { glue: [{ name: "ns-a1.coop-a.example.", type: "A", address: "198.51.100.99" }] },
      ["glue ns-a1.coop-a.example. A 198.51.100.99 at the parent is stale: node a1's address is 198.51.100.11; change it at the registrar"],
    ],
    [
      "the glue gone, and an address the node does not have",
      { glue: [{ name: "ns-a1.coop-a.example.", type: "AAAA", address: "2001:db8::99" }] },
      [
        "glue ns-a1.coop-a.example. A 198.51.100.11 is missing at the parent: add it at the registrar",
        "glue ns-a1.coop-a.example. AAAA 2001:db8::99 at the parent is not node a1's address: remove it at the registrar",
      ],
    ],
    [
      "the right glue beside a wrong one of the same type",
      { glue: [...parent().glue, { name: "ns-a1.coop-a.example.", type: "A", address: "198.51.100.99" }] },
      ["glue ns-a1.coop-a.example. A 198.51.100.99 at the parent is not node a1's address: remove it at the registrar"],
    ],
    [
      "no delegation at all",
      { nameServers: [], glue: [], ds: [] },
      [
        "coop-a.example. NS ns-a1.coop-a.example. (node a1, member coop-a) is missing at the parent: add it at the registrar",
        "coop-a.example. NS ns-b1.coop-b.example. (node b1, member coop-b) is missing at the parent: add it at the registrar",
        "coop-a.example. NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar",
        "only 0 name server(s) of other members at the parent for coop-a.example. (at least 2): it fails whenever member coop-a's own nodes are down",
      ],
    ],
  ])("%s", (_label, over, lines) => {
    expect(delegationProblems(expected, parent(over))).toEqual(lines);
  });

  test("a node the zone's set does not list: named with its node, to remove", () => {
    const d1: NodeForDelegation = { node: "d1", member: "coop-d", endpoint: "198.51.100.14:51820", zones: ["coop-d.example."] };
    const withD1 = registryDelegation(ZONE, [...federation, d1])!;
    // a1's recorded set has two other members: a join changes nothing.
    expect(withD1.nameServers.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
    expect(delegationProblems(withD1, parent({ nameServers: [...parent().nameServers, "ns-d1.coop-d.example."] }))).toEqual([
      "coop-a.example. NS ns-d1.coop-d.example. at the parent is node d1's (member coop-d), which the zone's set no longer lists: remove it at the registrar",
    ]);
  });

  test("fewer than two name servers of other members, even with the parent holding the set exactly", () => {
    const two = registryDelegation(ZONE, federation.slice(0, 2))!;
    expect(two.nameServers.map((n) => n.node)).toEqual(["a1", "b1"]);
    expect(delegationProblems(two, parent({ nameServers: ["ns-a1.coop-a.example.", "ns-b1.coop-b.example."] }))).toEqual([
      "only 1 name server(s) of other members at the parent for coop-a.example. (at least 2): it fails whenever member coop-a's own nodes are down",
    ]);
  });

  test("a name inside the zone whose node has a host name endpoint: its glue cannot be checked, but it must be there", () => {
    const c1 = federation.find((n) => n.node === "c1")!;
    const inZone = registryDelegation("coop-c.example.", [
      ...federation.filter((n) => n.node !== "c1"),
      { ...c1, endpoint: "wg.coop-c.example:51820", nameServer: undefined },
    ])!;
    const own = inZone.nameServers[0];
    expect(own).toMatchObject({ name: "wg.coop-c.example.", node: "c1", glue: [] });
    const names = inZone.nameServers.map((n) => n.name).sort();
    expect(delegationProblems(inZone, { nameServers: names, glue: [], ds: [] })).toEqual([
      "glue wg.coop-c.example. is missing at the parent: the name lies inside coop-c.example., so resolvers cannot reach node c1 without it; add its address(es) at the registrar",
    ]);
    expect(
      delegationProblems(inZone, { nameServers: names, glue: [{ name: "wg.coop-c.example.", type: "A", address: "192.0.2.7" }], ds: [] }),
    ).toEqual([]);
  });

  test("with the KSKs given (the node's watch), the DS too: none, or one that matches no KSK", () => {
    const withKsks = { ...expected, ksks: [KSK] };
    expect(delegationProblems(withKsks, parent())).toEqual([]);
    expect(delegationProblems(withKsks, parent({ ds: [] }))).toEqual([
      "coop-a.example. has no DS at the parent: resolvers do not validate it; enter the zone's DS at the registrar",
    ]);
    expect(delegationProblems(withKsks, parent({ ds: [{ ...dsOf(KSK), digest: "00".repeat(32) }] }))).toEqual([
      `coop-a.example. DS ${keyTag(KSK)}/13 at the parent matches no KSK the zone is signed with (${keyTag(KSK)}/13): validating resolvers see it as bogus; replace it at the registrar`,
    ]);
    // Without them (boreal dns check judges the DS itself), the DS is not compared here.
    expect(delegationProblems(expected, parent({ ds: [] }))).toEqual([]);
  });
});

describe("boreal dns check's verdict with the parent's NS set", () => {
  const base: CheckInput = { zone: ZONE, nodes: [], answers: [], parent: { asked: false, reason: "no --parent given" }, now: new Date() };
  const compared = (p: ParentDelegation): DelegationAnswer => ({
    compared: true,
    expected: expected.nameServers.map((n) => ({ name: n.name, node: n.node })),
    problems: delegationProblems(expected, p),
  });
  const summary = (text: string) =>
    text.split("\n").filter((l) => /^(NS at the parent|problem|note):/.test(l) || /problem\(s\)$|^ok$/.test(l));

  test("matching: the set's nodes named, exit 0", () => {
    const result = evaluateDnsCheck({ ...base, delegation: compared(parent()) });
    expect(result).toMatchObject({ delegation: "matches (a1, b1, c1)", problems: [], exitCode: 0 });
    expect(summary(formatDnsCheck(result))).toEqual(["NS at the parent: matches (a1, b1, c1)", "ok"]);
  });

  test("drift: each difference a problem line, the count on the NS line, exit 1", () => {
    const result = evaluateDnsCheck({
      ...base,
      delegation: compared(parent({ nameServers: ["ns-a1.coop-a.example.", "ns-b1.coop-b.example."] })),
    });
    expect(result.exitCode).toBe(1);
    expect(summary(formatDnsCheck(result))).toEqual([
      "NS at the parent: 2 problem(s)",
      "problem: coop-a.example. NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar",
      "problem: only 1 name server(s) of other members at the parent for coop-a.example. (at least 2): it fails whenever member coop-a's own nodes are down",
      "2 problem(s)",
    ]);
  });

  test("not compared, or the parent not answering: said once", () => {
    expect(evaluateDnsCheck(base)).toMatchObject({ delegation: "not compared (no --parent given)", exitCode: 0 });
    const noRegistry = evaluateDnsCheck({ ...base, delegation: { compared: false, reason: "no registry to compare with" } });
    expect(noRegistry).toMatchObject({ delegation: "not compared (no registry to compare with)", problems: [], exitCode: 0 });
    const error = "127.0.0.1:53: no answer within 3 s";
    const down = evaluateDnsCheck({ ...base, parent: { asked: true, error }, delegation: { compared: true, error } });
    expect(down.delegation).toBe(`unreachable (${error})`);
    expect(down.problems).toEqual([`the parent could not be asked for the DS of ${ZONE}: ${error}`]);
    const nsOnly = evaluateDnsCheck({
      ...base,
      parent: { asked: true, ds: [] },
      delegation: { compared: true, error: "127.0.0.1 answered REFUSED" },
    });
    expect(nsOnly.problems).toContain(`the parent could not be asked for the NS set of ${ZONE}: 127.0.0.1 answered REFUSED`);
  });
});
