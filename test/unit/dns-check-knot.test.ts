// `boreal dns check` against a real knotd of ours on loopback, serving the zone the kit
// renders for a1 (the member's fixture records) signed with the kit's own DNSSEC policy,
// and a parent zone holding (or not) its DS. Only 127.0.0.1 is ever asked.
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
