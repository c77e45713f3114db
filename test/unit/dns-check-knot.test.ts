// `boreal dns check` against a real knotd of ours on loopback, serving the zone the kit
// renders for a1 (the member's fixture records) signed with the kit's own DNSSEC policy,
// and a parent zone holding (or not) its DS; then a second knotd serving only a signed
// parent zone, whose referral (NS set and glue) is compared with the fixture registry's
// delegation. Only 127.0.0.1 is ever asked.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runDns } from "../../src/cli/dns";
import { evaluateDnsCheck, judgeNode, questionsFor, sampleOf } from "../../src/core/dns/check";
import { formatDs, parseDsRecords } from "../../src/core/dns/ds";
import { withZoneFiles } from "../../src/core/dns/records";
import { ask, askNode } from "../../src/io/dns/transport";
import { RECORD_TYPES } from "../../src/core/dns/zonefile";
import { FIXTURE_DIR, FIXTURE_REGISTRY, fixtureSpec, fixtureTrust } from "../helpers/fixtures";
import { freePort, hasKnot, Knotd, renderedZone, startKnotd } from "../helpers/knotd";

const ZONE = "coop-a.example.";
const { spec } = withZoneFiles(fixtureSpec("a1", { zoneFiles: { [ZONE]: "zones/coop-a.example.zone" } }), (path) =>
  readFileSync(join(FIXTURE_DIR, path)),
);
const served = renderedZone(spec, ZONE);
/** Five strings of 250 octets, six times: more than a 1232-octet UDP answer holds, so Knot truncates. */
const BIG_TXT = Array.from(
  { length: 6 },
  (_, i) => `big\t300\tTXT\t${Array.from({ length: 5 }, () => `"${String(i).repeat(250)}"`).join(" ")}`,
).join("\n");
const zoneText = `${served.zone.text}\n${BIG_TXT}\n`;
const parentZone = (ds: string[]) => ({
  name: "example.",
  signed: false,
  text: [
    "example. 300 SOA ns.example. hostmaster.example. 1 300 60 2419200 300",
    "example. 300 NS ns.example.",
    "ns.example. 300 A 127.0.0.1",
    `${ZONE} 300 NS ns-a1.${ZONE}`,
    `ns-a1.${ZONE} 300 A 198.51.100.11`,
    ...ds,
    "",
  ].join("\n"),
});

describe.runIf(hasKnot)("boreal dns check against a knotd on loopback", () => {
  let knotd: Knotd;
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
  const check = async (...args: string[]) => {
    out.length = 0;
    const code = await runDns("check", [ZONE, "--server", `127.0.0.1:${knotd.port}`, "--timeout", "2", ...args], {
      projectDir: process.cwd(),
      io,
    });
    return { code, text: out.join("\n") };
  };

  beforeAll(async () => {
    knotd = await startKnotd([{ name: ZONE, text: zoneText }, parentZone([])], served.policy);
  }, 15_000);
  afterAll(() => knotd?.stop());

  test("the member's records, asked and verified: every signature valid, every sample RRset as written", async () => {
    const sample = sampleOf(ZONE, served.records);
    expect(sample).toHaveLength(6);
    const replies = await askNode("a1", { host: "127.0.0.1", port: knotd.port }, questionsFor(ZONE, sample), 2000);
    const answer = judgeNode(ZONE, replies, sample, new Date());
    expect(answer).toMatchObject({
      answered: true,
      signaturesValid: true,
      signatureProblems: [],
      sample: { checked: 6, ok: 6, problems: [] },
    });
    // The kit's policy: ECDSA P-256 (13), signatures for 42 days.
    expect(answer.signingKsks.map((k) => k.algorithm)).toEqual([13]);
    expect(answer.expiration! - Date.now() / 1000).toBeGreaterThan(41 * 86400);
    const result = evaluateDnsCheck({
      zone: ZONE,
      nodes: ["a1"],
      answers: [answer],
      parent: { asked: false, reason: "no --parent given" },
      now: new Date(),
    });
    expect(result.exitCode).toBe(0);
  });

  test("an answer too big for UDP comes over TCP", async () => {
    const reply = await ask({ host: "127.0.0.1", port: knotd.port }, { name: `big.${ZONE}`, type: RECORD_TYPES.TXT }, 2000);
    expect("message" in reply && reply.message.answer.filter((r) => r.type === RECORD_TYPES.TXT)).toHaveLength(6);
  });

  test("healthy with the parent's DS: exit 0; then a wrong DS, and a second server that does not answer: exit 1, named", async () => {
    const noDs = await check("--parent", `127.0.0.1:${knotd.port}`);
    expect(noDs.code).toBe(1);
    expect(noDs.text).toMatch(/problem: the parent has no DS for coop-a.example./);
    const ds = /DS of the zone's KSK: (.*)/.exec(noDs.text)![1];

    await knotd.reload(parentZone([ds]));
    const healthy = await check("--parent", `127.0.0.1:${knotd.port}`);
    expect(healthy.text).toMatch(/^127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\s+yes\s+\d+\s+valid\s+matches\s+4\/4 ok$/m);
    // --server alone: no registry to say what the NS set should be, so only the DS is compared.
    expect(healthy.text).toMatch(
      /^NS at the parent: not compared \(no registry to compare with: --server only; give --registry DIR \(or --stack\) for the NS set and glue\)$/m,
    );
    expect(healthy.text).toMatch(/\nok$/);
    expect(healthy.code).toBe(0);
    const json = await check("--parent", `127.0.0.1:${knotd.port}`, "--json");
    expect(JSON.parse(json.text)).toMatchObject({
      exitCode: 0,
      parent: "matches",
      problems: [],
      rows: [{ answered: "yes", signatures: "valid", parentDs: "matches" }],
    });

    await knotd.reload(parentZone([formatDs({ ...parseDsRecords(ds)[0], digest: "00".repeat(32) })]));
    const mismatch = await check("--parent", `127.0.0.1:${knotd.port}`);
    expect(mismatch.code).toBe(1);
    expect(mismatch.text).toMatch(/problem: no DS at the parent matches a KSK of coop-a.example./);

    // A port where nothing listens: refused at once over loopback.
    const dead = await check("--server", `127.0.0.1:${await freePort()}`);
    expect(dead.code).toBe(1);
    expect(dead.text).toMatch(/problem: 127\.0\.0\.1:\d+: did not answer for coop-a.example.: connection refused/);
  });
});

/** The fixture registry's delegation of coop-a.example. (a1's recorded set: a1, b1, c1) as a parent zone holds it. */
const DELEGATION = [
  `${ZONE} 300 NS ns-a1.${ZONE}`,
  `${ZONE} 300 NS ns-b1.coop-b.example.`,
  `${ZONE} 300 NS wg.coop-c.net.`,
  `ns-a1.${ZONE} 300 A 198.51.100.11`,
];
/** A signed parent zone of its own: the delegation given, and a sibling's (coop-b.example., whose glue Knot hands out with coop-a's referral). */
const signedParent = (delegation: string[]) => ({
  name: "example.",
  text: [
    "example. 300 SOA ns.example. hostmaster.example. 1 300 60 2419200 300",
    "example. 300 NS ns.example.",
    "ns.example. 300 A 127.0.0.1",
    "coop-b.example. 300 NS ns-b1.coop-b.example.",
    "ns-b1.coop-b.example. 300 A 198.51.100.12",
    ...delegation,
    "",
  ].join("\n"),
});

describe.runIf(hasKnot)("boreal dns check --parent: the parent's NS set and glue against the registry's delegation", () => {
  let child: Knotd;
  let parent: Knotd;
  let ds: string;
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
  const check = async (...args: string[]) => {
    out.length = 0;
    const code = await runDns(
      "check",
      [ZONE, "--server", `127.0.0.1:${child.port}`, "--registry", FIXTURE_REGISTRY, "--trust", fixtureTrust(), "--timeout", "2", ...args],
      { projectDir: process.cwd(), io },
    );
    return { code, text: out.join("\n") };
  };
  const againstParent = async (delegation: string[], ...args: string[]) => {
    await parent.reload(signedParent(delegation));
    return check("--parent", `127.0.0.1:${parent.port}`, ...args);
  };
  const problems = (text: string) => text.split("\n").filter((l) => l.startsWith("problem: "));
  const nsLine = (text: string) => /^NS at the parent: .*$/m.exec(text)?.[0];

  beforeAll(async () => {
    [child, parent] = await Promise.all([
      startKnotd([{ name: ZONE, text: zoneText }], served.policy),
      startKnotd([signedParent(DELEGATION)], served.policy),
    ]);
    // The DS of the KSK the child signs with, as the check prints it for the registrar.
    ds = /DS of the zone's KSK: (.*)/.exec((await check()).text)![1];
  }, 30_000);
  afterAll(async () => {
    await Promise.all([child?.stop(), parent?.stop()]);
  });

  test("the parent holding the registry's delegation and the DS: the set's nodes named, exit 0", async () => {
    const { code, text } = await againstParent([...DELEGATION, ds]);
    expect(problems(text)).toEqual([]);
    expect(text).toMatch(/^DS at the parent: matches$/m);
    expect(nsLine(text)).toBe("NS at the parent: matches (a1, b1, c1)");
    expect(text).toMatch(/\nok$/);
    expect(code).toBe(0);
  });

  test.each<[string, (lines: string[]) => string[], string[]]>([
    [
      "an NS removed",
      (lines) => lines.filter((l) => !l.endsWith(" NS wg.coop-c.net.")),
      [
        "problem: coop-a.example. NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar",
        // Left with one other member's name server: fewer than two.
        "problem: only 1 name server(s) of other members at the parent for coop-a.example. (at least 2): it fails whenever member coop-a's own nodes are down",
      ],
    ],
    [
      "an NS of a node that left",
      (lines) => [...lines, `${ZONE} 300 NS ns-a2.${ZONE}`, `ns-a2.${ZONE} 300 A 198.51.100.21`],
      [
        "problem: coop-a.example. NS ns-a2.coop-a.example. at the parent names no node of the federation (one that left, or a typo): it is lame; remove it at the registrar",
      ],
    ],
    [
      "a glue address changed",
      (lines) => lines.map((l) => l.replace(" A 198.51.100.11", " A 198.51.100.99")),
      [
        "problem: glue ns-a1.coop-a.example. A 198.51.100.99 at the parent is stale: node a1's address is 198.51.100.11; change it at the registrar",
      ],
    ],
    [
      "only the owner's own name server left: no other member's",
      (lines) => lines.filter((l) => !/ NS (ns-b1|wg)\./.test(l)),
      [
        "problem: coop-a.example. NS ns-b1.coop-b.example. (node b1, member coop-b) is missing at the parent: add it at the registrar",
        "problem: coop-a.example. NS wg.coop-c.net. (node c1, member coop-c) is missing at the parent: add it at the registrar",
        "problem: only 0 name server(s) of other members at the parent for coop-a.example. (at least 2): it fails whenever member coop-a's own nodes are down",
      ],
    ],
  ])("%s: each difference a problem line naming the record, exit 1", async (_label, change, expected) => {
    const { code, text } = await againstParent([...change(DELEGATION), ds]);
    expect(problems(text)).toEqual(expected);
    expect(nsLine(text)).toBe(`NS at the parent: ${expected.length} problem(s)`);
    expect(text).toMatch(/^DS at the parent: matches$/m);
    expect(code).toBe(1);
  });

  test("a DS changed: named once, by the DS check; the NS set still matches", async () => {
    const wrong = formatDs({ ...parseDsRecords(ds)[0], digest: "00".repeat(32) });
    const { code, text } = await againstParent([...DELEGATION, wrong]);
    expect(problems(text)).toEqual([
      expect.stringMatching(
        /^problem: no DS at the parent matches a KSK of coop-a\.example\. \(parent: \d+\/13; zone: \d+\/13\): validating resolvers see the zone as bogus; replace the DS at the registrar$/,
      ),
    ]);
    expect(text).toMatch(/^DS at the parent: mismatch$/m);
    expect(nsLine(text)).toBe("NS at the parent: matches (a1, b1, c1)");
    expect(code).toBe(1);
  });

  test("--json: the parent's NS set and glue, the set expected, and the differences, as data", async () => {
    const { code, text } = await againstParent([...DELEGATION.map((l) => l.replace(" A 198.51.100.11", " A 198.51.100.99")), ds], "--json");
    expect(code).toBe(1);
    const data = JSON.parse(text) as Record<string, unknown>;
    const stale =
      "glue ns-a1.coop-a.example. A 198.51.100.99 at the parent is stale: node a1's address is 198.51.100.11; change it at the registrar";
    expect(data).toMatchObject({
      exitCode: 1,
      parent: "matches",
      delegation: "problems",
      delegationDetail: null,
      parentNs: [
        { name: "ns-a1.coop-a.example.", node: "a1", member: "coop-a" },
        { name: "ns-b1.coop-b.example.", node: "b1", member: "coop-b" },
        { name: "wg.coop-c.net.", node: "c1", member: "coop-c" },
      ],
      // The sibling's glue as the parent gave it: data, not a problem of coop-a's.
      parentGlue: [
        { name: "ns-a1.coop-a.example.", type: "A", address: "198.51.100.99" },
        { name: "ns-b1.coop-b.example.", type: "A", address: "198.51.100.12" },
      ],
      expectedNs: [
        { name: "ns-a1.coop-a.example.", node: "a1", member: "coop-a", glue: [{ type: "A", address: "198.51.100.11" }] },
        { name: "ns-b1.coop-b.example.", node: "b1", member: "coop-b", glue: [] },
        { name: "wg.coop-c.net.", node: "c1", member: "coop-c", glue: [] },
      ],
      delegationProblems: [stale],
      problems: [stale],
    });
  });

  test("a server that also serves the zone answers its own NS set: compared, with a note saying so", async () => {
    const { text } = await check("--parent", `127.0.0.1:${child.port}`);
    expect(text).toMatch(
      new RegExp(
        `^note: 127\\.0\\.0\\.1:${child.port} also serves coop-a\\.example\\.: it answered the zone's own NS set, not the parent's referral`,
        "m",
      ),
    );
  });
});

describe("boreal dns check: what it refuses before asking anything", () => {
  const run = async (...args: string[]) => {
    const lines: string[] = [];
    const code = await runDns("check", args, { projectDir: process.cwd(), io: { out: (l) => lines.push(l), err: (l) => lines.push(l) } });
    return { code, text: lines.join("\n") };
  };

  test.each<[string, string[], RegExp]>([
    ["no zone", ["--server", "127.0.0.1"], /ZONE is missing/],
    [
      "a server that is not ADDR[:PORT]",
      ["coop-a.example.", "--server", "127.0.0.1:99999"],
      /--server "127.0.0.1:99999" is not ADDR\[:PORT\]/,
    ],
    [
      "a zone no node of the registry serves",
      ["coop-z.example", "--registry", FIXTURE_REGISTRY, "--trust", fixtureTrust()],
      /no node of the registry serves coop-z.example. as its primary/,
    ],
  ])("%s: exit 2, the reason and the fix", async (_label, args, expected) => {
    const { code, text } = await run(...args);
    expect(code).toBe(2);
    expect(text).toMatch(expected);
    expect(text).toMatch(/fix: /);
  });
});
