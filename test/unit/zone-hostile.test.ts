// A member's zone file is hostile input (issue #23): the parser takes what Knot takes and no
// more, in linear time, and a refusal never echoes a line that did not parse. Knot's own
// check, when it refuses, names the member's file and line, not the rendered file's.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { knotRefusalProblems, precheckFiles } from "../../src/program/components/precheck";
import { BorealConfigError } from "../../src/core/values/problems";
import { sampleOf } from "../../src/core/dns/check";
import {
  fileZoneRecords,
  MAX_LISTED_PROBLEMS,
  recordsConfigProblems,
  recordsKey,
  withZoneFiles,
  zoneFilesKey,
} from "../../src/core/dns/records";
import { decodeZoneFile, formatRecord, parseZoneFile } from "../../src/core/dns/zonefile";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { zoneFileCheck } from "../../src/core/node/scripts";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

const ZONE = "coop-a.example.";
const parse = (text: string) => parseZoneFile(text, { origin: ZONE });
const messages = (text: string) => parse(text).problems.map((p) => `${p.line}: ${p.message}`);
const hasKnotc = spawnSync("sh", ["-c", "command -v knotc"]).status === 0;
const work = mkdtempSync(join(tmpdir(), "boreal-zone-hostile-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Knot's verdict (the kit's own zoneFileCheck, so `knotc zone-check`) on lines after a minimal SOA, NS and glue. */
function knot(lines: string[]): { ok: boolean; output: string } {
  const staged = join(work, `${ZONE}zone`);
  writeFileSync(
    staged,
    [`$ORIGIN ${ZONE}`, "$TTL 300", "@ SOA ns hostmaster 1 300 60 2419200 300", "@ NS ns", "ns A 192.0.2.1", ...lines, ""].join("\n"),
    "utf8",
  );
  const result = spawnSync("sh", ["-c", `set -eu\nstaged='${staged}'\n${zoneFileCheck(ZONE)}`], { encoding: "utf8" });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

const hasKzonesign = spawnSync("sh", ["-c", "command -v kzonesign"]).status === 0;
let signed = 0;
/**
 * The data of the records of `type` at x.<zone> as Knot stores them: the zone (lines after a
 * minimal SOA, NS and glue) signed offline by kzonesign, which writes the zone back in Knot's
 * own presentation (a long string as Knot cut it).
 */
function knotStored(lines: string[], type: string): string[] {
  const dir = join(work, `sign-${signed++}`);
  for (const sub of ["db", "keys", "out"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(
    join(dir, "in.zone"),
    [`$ORIGIN ${ZONE}`, "$TTL 300", "@ SOA ns hostmaster 1 300 60 2419200 300", "@ NS ns", "ns A 192.0.2.1", ...lines, ""].join("\n"),
    "utf8",
  );
  const conf = [
    "database:",
    `  storage: "${dir}/db"`,
    "keystore:",
    "  - id: keys",
    `    config: "${dir}/keys"`,
    "policy:",
    "  - id: offline",
    "    keystore: keys",
    "zone:",
    `  - domain: ${ZONE}`,
    `    file: "${dir}/in.zone"`,
    "    dnssec-signing: on",
    "    dnssec-policy: offline",
    "",
  ].join("\n");
  writeFileSync(join(dir, "knot.conf"), conf);
  const result = spawnSync("kzonesign", ["-c", join(dir, "knot.conf"), "-o", join(dir, "out"), ZONE], { encoding: "utf8" });
  expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
  return readFileSync(join(dir, "out", "in.zone"), "utf8")
    .split("\n")
    .map((l) => l.split("\t"))
    .filter((f) => f[0].trim() === `x.${ZONE}` && f[2] === type)
    .map((f) => f.slice(3).join("\t"));
}

const a = (n: number, char = "a") => char.repeat(n);
/** `n` character-strings of 255 octets, then one of `last` octets: RDATA of n × 256 + 1 + last octets. */
const bigTxt = (n: number, last: number) => `big TXT ${Array.from({ length: n }, () => `"${a(255)}"`).join(" ")} "${a(last, "b")}"`;
/** Three labels of 63 octets and one of `last` under the zone (16 octets): 3 × 64 + last + 1 + 16. */
const longName = (last: number) => `${a(last, "d")}.${a(63)}.${a(63, "b")}.${a(63, "c")}`;

describe("the parser's limits are Knot's", () => {
  test("a record's data holds at most 65535 octets", () => {
    expect(messages(bigTxt(255, 254))).toEqual([]);
    expect(messages(bigTxt(255, 255))).toEqual(["1: TXT data is 65536 octets, more than the 65535 a record holds"]);
    expect(messages(`x TYPE65280 \\# 65536 ${a(2 * 65536, "0")}`)).toEqual([
      "1: generic data (\\#) of 65536 octets: more than the 65535 a record holds",
    ]);
    expect(parse(`x TYPE65280 \\# 65535 ${a(2 * 65535, "0")}`).problems).toEqual([]);
  });

  test("a character-string holds at most 255 octets, \\DDD and \\X one octet each, other characters their UTF-8 octets", () => {
    for (const string of [a(255), a(255, "\\065"), a(255, '\\"'), a(127, "é"), `${a(251)}😀`]) {
      expect(messages(`x HINFO "${string}" "os"`), string).toEqual([]);
      expect(
        parse(`x TXT "${string}"`).records.map((r) => r.rdata.split('" "').length),
        string,
      ).toEqual([1]);
    }
    for (const string of [a(256), a(256, "\\065"), a(256, "\\\\"), a(128, "é"), `${a(252)}😀`]) {
      expect(messages(`x HINFO "${string}" "os"`)[0], string).toMatch(
        /^1: HINFO data field 1 \(column 10\) is a string of 256 octets, more than the 255 a string holds$/,
      );
      // A TXT string is cut instead (next test): 255 octets, then 1.
      expect(
        parse(`x TXT "${string}"`).records.map((r) => r.rdata.split('" "').length),
        string,
      ).toEqual([2]);
    }
    expect(messages(`x NAPTR 100 10 "${a(256)}" "" "" .`)).toEqual([
      "1: NAPTR data field 3 (column 17) is a string of 256 octets, more than the 255 a string holds",
    ]);
  });

  test("a TXT or SPF string of more than 255 octets is cut into strings of 255, as Knot cuts it; the whole data still counts against 65535", () => {
    const rdata = (line: string) => parse(line).records.map((r) => r.rdata);
    // A DKIM key written as one string, quoted or not: cut, in quotes.
    expect(rdata(`x TXT ${a(300)}`)).toEqual([`"${a(255)}" "${a(45)}"`]);
    expect(rdata(`x TXT "${a(300)}"`)).toEqual([`"${a(255)}" "${a(45)}"`]);
    expect(rdata(`x SPF "${a(600)}" "b"`)).toEqual([`"${a(255)}" "${a(255)}" "${a(90)}" "b"`]);
    // By octets, an escape never cut: é is two (\195\169), \" one.
    expect(rdata(`x TXT "${a(254)}é\\"x y"`)).toEqual([`"${a(254)}\\195" "\\169\\"x y"`]);
    expect(rdata(`x TXT ${a(254)}\\065\\ b`)).toEqual([`"${a(254)}\\065" "\\ b"`]);
    // 255 octets or fewer: as written.
    expect(rdata(`x TXT ${a(255)}`)).toEqual([a(255)]);
    // The rendered line reads back as itself (agent.json carries it; planning parses it again).
    const [cut] = parse(`x TXT "${a(254)}é\\"x y"`).records;
    expect(parse(formatRecord(cut)).records.map(formatRecord)).toEqual([formatRecord(cut)]);
    // Each string of 255 has its length octet: one string of 65279 octets is 65279 + 256 = 65535.
    expect(messages(`x TXT "${a(65279)}"`)).toEqual([]);
    expect(messages(`x TXT "${a(65280)}"`)).toEqual(["1: TXT data is 65536 octets, more than the 65535 a record holds"]);
    expect(messages(`x TXT ${a(65280)}`)).toEqual(["1: TXT data is 65536 octets, more than the 65535 a record holds"]);
  });

  test("names: labels of at most 63 octets and names of at most 255, escapes counted as one octet", () => {
    expect(messages(`${longName(46)} A 192.0.2.1`)).toEqual([]);
    expect(messages(`${longName(47)} A 192.0.2.1`)).toEqual([
      "1: owner name is 256 octets long with the zone's name appended, more than the 255 a name holds",
    ]);
    expect(messages(`${a(63, "\\065")} A 192.0.2.1`)).toEqual([]);
    expect(messages(`${a(64, "\\065")} A 192.0.2.1`)).toEqual([
      "1: owner name has a label of 64 octets at column 1, more than the 63 a label holds",
    ]);
    expect(messages(`www MX 10 ${a(64)}.example.`)).toEqual([
      "1: MX data field 2: the name has a label of 64 octets at column 11, more than the 63 a label holds",
    ]);
    expect(messages(`${a(62)}\\. A 192.0.2.1`)).toEqual([]);
  });

  test("escapes as Knot reads them: \\DDD of three digits up to 255, \\ before a printable character", () => {
    expect(messages('x TXT "a\\256" "b\\25x" "c\\\\" "d\\ e"')).toEqual([
      "1: TXT data holds a \\DDD escape that is not three digits from 000 to 255 at column 9",
    ]);
    expect(messages('x TXT "b\\25x"')).toEqual(["1: TXT data holds a \\DDD escape that is not three digits from 000 to 255 at column 9"]);
    expect(messages("x\\300 A 192.0.2.1")).toEqual([
      "1: owner name has a \\DDD escape that is not three digits from 000 to 255 at column 2",
    ]);
    expect(messages('x TXT "\\é"')[0]).toMatch(/^1: TXT data holds a backslash before a control or non-ASCII character/);
    expect(messages('x TXT "c\\\\" "d\\ e" \\255')).toEqual([]);
  });

  test("raw control characters are refused (a tab inside quotes is kept, as \\009); a quote inside an unquoted string too", () => {
    expect(messages('x TXT "a\u001b[31mb"')).toEqual(["1: TXT data holds a control character U+001B at column 9"]);
    expect(messages("x TXT a\u0000b")).toEqual(["1: TXT data holds a control character U+0000 at column 8"]);
    expect(messages("x\u007f A 192.0.2.1")).toEqual(["1: owner name has a control character U+007F at column 2"]);
    expect(parse('x TXT "a\tb"').records.map(formatRecord)).toEqual(['x.coop-a.example.\tTXT\t"a\\009b"']);
    expect(messages('x TXT a"b"c')).toEqual(["1: TXT data has a double quote inside an unquoted string at column 8"]);
  });

  test.runIf(hasKnotc)(
    "Knot agrees: what the parser takes Knot loads as the kit renders it, and what it refuses at these limits Knot refuses as written",
    () => {
      const cases = [
        bigTxt(255, 254),
        bigTxt(255, 255),
        `x HINFO "${a(255)}" "os"`,
        `x HINFO "${a(256)}" "os"`,
        `x HINFO "${a(255, "\\065")}" "os"`,
        `x HINFO "${a(256, "\\065")}" "os"`,
        `x NAPTR 100 10 "${a(256)}" "" "" .`,
        `${longName(46)} A 192.0.2.1`,
        `${longName(47)} A 192.0.2.1`,
        `${a(63, "\\065")} A 192.0.2.1`,
        `${a(64, "\\065")} A 192.0.2.1`,
        'x TXT "a\\256"',
        'x TXT "b\\25x"',
        'x TXT "c\\\\" "d\\ e" \\255',
        'x TXT "a\u001bb"',
        'x TXT "a\tb"',
        'x TXT a"b"c',
        // Long TXT and SPF strings (Knot cuts them, and so does the kit), to the limit of 65535 octets and past it
        // (Knot reads printable ASCII only: é written as its octets).
        `x TXT ${a(300)}`,
        `x TXT "${a(300)}"`,
        `x TXT "${a(254)}\\195\\169\\"x y" z`,
        `x SPF ${a(600)}`,
        `x TXT "${a(65279)}"`,
        `x TXT "${a(65280)}"`,
        `x TXT ${a(65280)}`,
        "café A 192.0.2.1",
        "a+b A 192.0.2.1",
        "x\u0001 A 192.0.2.1",
      ];
      for (const line of cases) {
        const ours = parse(line);
        const theirs = knot([line]);
        expect(
          ours.problems.length === 0,
          `${line.slice(0, 60)}: the kit ${ours.problems.length === 0 ? "takes" : "refuses"} it, Knot says ${theirs.output}`,
        ).toBe(theirs.ok);
        if (ours.problems.length === 0) expect(knot(ours.records.map(formatRecord)).ok, line.slice(0, 60)).toBe(true);
      }
    },
    60_000,
  );

  test.runIf(hasKzonesign)(
    "Knot stores a long TXT string as the kit renders it: cut into the same strings of 255",
    () => {
      for (const line of [
        `x TXT ${a(300)}`,
        `x TXT "${a(300)}"`,
        `x TXT "${a(254)}\\195\\169\\"x y" "z"`,
        `x SPF "${a(600)}" "b"`,
        `x TXT "${a(250)}" "${a(65000, "c")}"`,
      ]) {
        const [record] = parse(line).records;
        // Knot's own presentation of what the member wrote is the kit's rendering, string for string…
        expect(knotStored([line], record.type), line.slice(0, 40)).toEqual([record.rdata]);
        // …and the kit's rendering is the same record to Knot.
        expect(knotStored([formatRecord(record)], record.type), line.slice(0, 40)).toEqual([record.rdata]);
      }
    },
    60_000,
  );

  test("where the kit is stricter than Knot, on purpose", () => {
    // Knot 3.2 takes `\256` and a mid-label `*` in a name.
    for (const line of ["x\\256 A 192.0.2.1", "a*b A 192.0.2.1"]) expect(parse(line).problems, line.slice(0, 40)).toHaveLength(1);
  });
});

describe("encoding: UTF-8 or refused, never replaced", () => {
  test("bytes that are not UTF-8: the first bad byte's value, offset, line and column, never the text around it", () => {
    const latin1 = Buffer.from('www A 192.0.2.1\n; Caf\u00e9 Sant\u00e9\nmail TXT "r\u00e9sum\u00e9 secret"\n', "latin1");
    const decoded = decodeZoneFile(latin1);
    expect("problem" in decoded && decoded.problem).toEqual({
      line: 2,
      column: 6,
      offset: 21,
      message: "the file is not UTF-8: byte 0xE9 at offset 21 (line 2, column 6) is not part of a UTF-8 character",
      fix: expect.stringMatching(/iconv -f latin1 -t utf-8/),
    });
    expect(JSON.stringify(decoded)).not.toMatch(/Caf|Sant|sum|secret/);
    // Malformed sequences of every kind: overlong, surrogate, above U+10FFFF, cut short, a lone continuation byte.
    for (const [bytes, offset] of [
      [[0x61, 0xc0, 0x80], 1],
      [[0xed, 0xa0, 0x80], 0],
      [[0x61, 0x61, 0xf4, 0x90, 0x80, 0x80], 2],
      [[0x61, 0xe2, 0x82], 1],
      [[0x80], 0],
    ] as const) {
      const result = decodeZoneFile(Uint8Array.from(bytes));
      expect("problem" in result && result.problem.offset, bytes.join(",")).toBe(offset);
    }
    expect(decodeZoneFile(Buffer.from('x TXT "é 😀 \u00a0"\n', "utf8"))).toEqual({ text: 'x TXT "é 😀 \u00a0"\n' });
    // A byte order mark is not part of the zone.
    expect(decodeZoneFile(Buffer.from("\ufeffwww A 192.0.2.1\n", "utf8"))).toEqual({ text: "www A 192.0.2.1\n" });
    expect(parse("\ufeffwww A 192.0.2.1").records.map(formatRecord)).toEqual(["www.coop-a.example.\tA\t192.0.2.1"]);
  });

  test("text decoded leniently (readFileSync 'utf8' of a Latin-1 file): U+FFFD is refused where it stands, not passed on", () => {
    const text = Buffer.from('www A 192.0.2.1\nmail TXT "r\u00e9sum\u00e9"\n', "latin1").toString("utf8");
    expect(text).toContain("\ufffd");
    expect(parse(text).problems).toEqual([
      {
        line: 2,
        column: 12,
        message:
          "holds U+FFFD, the replacement character (what a reader puts for bytes that are not UTF-8) at column 12: the file was not valid UTF-8",
        fix: expect.stringMatching(/save the file as UTF-8/),
      },
    ]);
    expect(messages('x TXT "\ud800"')).toEqual(["1: holds a lone surrogate U+D800 at column 8: the file was not valid UTF-8"]);
    const spec = { node: "a1", zones: [ZONE], zoneFiles: { [ZONE]: "zones/latin1.zone" } };
    expect(() => withZoneFiles(spec, () => text)).toThrow(/zones\/latin1\.zone: line 2: holds U\+FFFD/);
    // Given the bytes, the refusal names the offset too.
    expect(() => withZoneFiles(spec, () => Buffer.from(text.replace(/\ufffd/g, "\u00e9"), "latin1"))).toThrow(
      /zones\/latin1\.zone: line 2: the file is not UTF-8: byte 0xE9 at offset 27 \(line 2, column 12\)/,
    );
  });

  test("non-ASCII text in data is kept as its exact UTF-8 octets, written \\DDD (Knot takes printable ASCII only)", () => {
    const [record] = parse('x TXT "café 😀" \u00a0').records;
    expect(record.rdata).toBe('"caf\\195\\169 \\240\\159\\152\\128" \\194\\160');
    // The octets written are the UTF-8 of what the member wrote, nothing replaced.
    const octets = (s: string) =>
      Buffer.from(
        s.replace(/\\(\d{3})/g, (_, d: string) => String.fromCharCode(Number(d))),
        "latin1",
      );
    expect(octets("caf\\195\\169 \\240\\159\\152\\128").toString("utf8")).toBe("café 😀");
    if (hasKnotc) {
      expect(knot([formatRecord(record)]).ok).toBe(true);
      expect(knot(['x TXT "café"']).ok).toBe(false);
    }
  });

  test("a non-ASCII character in a name: its code point and column, and the xn-- form as the fix", () => {
    const [problem] = parse("www.café A 192.0.2.1").problems;
    expect(problem).toEqual({
      line: 1,
      column: 8,
      message: "owner name has a non-ASCII character U+00E9 at column 8",
      fix: expect.stringMatching(/^write internationalised names in their xn-- \(punycode\) form/),
    });
    expect(messages("www CNAME bücher.example.")).toEqual([
      "1: CNAME data field 1: the name has a non-ASCII character U+00FC at column 12",
    ]);
  });
});

describe("a file that is not a zone is refused without a word of it", () => {
  // What a wrong path may point at: a shadow file, a .env, a private key, a shell history.
  const SECRETS = [
    "Qm9vYmFyU2FsdA",
    "C3NzaC1lZDI1NTE5",
    "dW50ZXIy",
    "cGFzc3dvcmRoYXNoc2VjcmV0",
    "hunter2",
    "correct-horse",
    "battery",
    "DB_PASSWORD",
    "b3BlbnNzaC1rZXktdjE",
    "mysqladmin",
    "s3cr3t",
  ];
  const SHADOW = [
    "root:$y$j9T$Qm9vYmFyU2FsdA$cGFzc3dvcmRoYXNoc2VjcmV0:19700:0:99999:7:::",
    "daemon:*:19700:0:99999:7:::",
    "DB_PASSWORD=correct-horse battery staple",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "AAAAC3NzaC1lZDI1NTE5AAAAIHVudGVyMnNlY3JldA",
    "mysqladmin -u root -ps3cr3t password hunter2",
    '"hunter2" is the password',
    "$SECRET hunter2",
    "  indented hunter2",
    'x TXT "s3cr3t',
    "x.hunter2 A 1.2.3",
    "",
  ].join("\n");

  test("each problem names the file, the line and what is wrong; none quotes the file", () => {
    let error: unknown;
    try {
      withZoneFiles({ node: "a1", zones: [ZONE], zoneFiles: { [ZONE]: "/etc/shadow" } }, () => Buffer.from(SHADOW));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BorealConfigError);
    const problems = (error as BorealConfigError).problems;
    expect(problems.map((p) => `${p.source}: ${p.key}: ${p.message}`)).toEqual([
      "/etc/shadow: the whole file: not one of its lines is a record: it does not read as a zone's master file",
      "/etc/shadow: line 1: owner name has U+003A (:) at column 5, which a name holds only escaped",
      "/etc/shadow: line 2: owner name has U+003A (:) at column 7, which a name holds only escaped",
      "/etc/shadow: line 3: owner name has U+003D (=) at column 12, which a name holds only escaped",
      "/etc/shadow: line 4: the word at column 12 is not a record type (after the owner, TTL and class comes the type)",
      "/etc/shadow: line 5: owner name has a label of 70 octets at column 1, more than the 63 a label holds",
      "/etc/shadow: line 6: no record type",
      "/etc/shadow: line 7: the word at column 12 is not a record type (after the owner, TTL and class comes the type)",
      "/etc/shadow: line 8: a record cannot start with a quoted string",
      "/etc/shadow: line 9: unknown directive (a word starting with $ at the start of the line)",
      "/etc/shadow: line 10: the word at column 3 is not a record type (after the owner, TTL and class comes the type)",
      "/etc/shadow: line 11: a quoted string opened at column 7 is not closed on its line",
      "/etc/shadow: line 12: A data field 1 (column 13) is not an IPv4 address",
    ]);
    const text = (error as BorealConfigError).message;
    for (const secret of SECRETS) expect(text.toLowerCase(), secret).not.toContain(secret.toLowerCase());
  });

  test("a binary file: refused at its first byte that is not UTF-8, nothing of it shown", () => {
    const binary = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x68, 0x75, 0x6e, 0x74, 0x65, 0x72, 0x32, 0xff, 0x00]);
    expect(fileZoneRecords(ZONE, "a1", binary, "backup.tar.gz").problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      "line 1: the file is not UTF-8: byte 0x8B at offset 1 (line 1, column 2) is not part of a UTF-8 character",
    ]);
  });

  test("a long file of non-records: the first problems listed, the rest counted", () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `user${i}:$6$salt$hash${i}:19700:0:99999:7:::`).join("\n");
    const { problems } = fileZoneRecords(ZONE, "a1", lines, "passwd");
    expect(problems).toHaveLength(MAX_LISTED_PROBLEMS + 1);
    expect(problems.at(-1)).toMatchObject({
      source: "passwd",
      key: "further lines",
      message: `${5000 + 1 - MAX_LISTED_PROBLEMS} more problem(s) not listed (the first ${MAX_LISTED_PROBLEMS} are)`,
    });
    expect(problems[0]).toMatchObject({
      key: "the whole file",
      fix: 'check that boreal:zoneFiles["coop-a.example."] names the zone\'s master file (RFC 1035 format, as a DNS host exports it)',
    });
    expect(JSON.stringify(problems)).not.toMatch(/salt|hash\d|user\d/);
  });

  test("records that did parse are quoted, escaped (escapeText: a backslash shown doubled, nothing raw)", () => {
    const problems = fileZoneRecords(
      ZONE,
      "a1",
      "evil\\027\\[2J.other.example. A 192.0.2.1\nx\\.y CNAME a\nx\\.y TXT b\n",
      "zones/a.zone",
    ).problems;
    expect(problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      "line 1: evil\\\\027\\\\[2j.other.example. is outside zone coop-a.example.",
      "line 3: x\\\\.y.coop-a.example. has CNAME and TXT records: a CNAME must be alone at its name (the first on line 2)",
    ]);
    // The path is escaped where it is shown.
    expect(fileZoneRecords(ZONE, "a1", "www A 1", "zones/\u001b[31mred.zone").problems[0].source).toBe("zones/\\x1b[31mred.zone");
  });
});

describe("the checks are linear in the records, whatever their number at one name", () => {
  /** `n` records at one owner (A records, or one CNAME among them: every other record is then refused). */
  const zoneText = (n: number, cname = false) => {
    const lines: string[] = cname ? ["www CNAME elsewhere.example."] : [];
    for (let i = 0; i < n; i++) lines.push(`www 300 A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    return `${lines.join("\n")}\n`;
  };
  /** Best of `runs` (less noise from a busy machine), seconds, of parse + check + the lines planning takes + the sample. */
  const time = (n: number, cname = false, runs = 1) => {
    const text = Buffer.from(zoneText(n, cname));
    let best = Infinity;
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      const { records, problems } = fileZoneRecords(ZONE, "a1", text, "zones/big.zone");
      sampleOf(ZONE, records.map(formatRecord));
      best = Math.min(best, (performance.now() - started) / 1000);
      expect(records).toHaveLength(n + (cname ? 1 : 0));
      expect(problems).toHaveLength(cname ? MAX_LISTED_PROBLEMS + 1 : 0);
    }
    return best;
  };

  test("100,000 records at one owner check in a few seconds, and 20× the records take about 20× the time", () => {
    time(2000); // warm up the JIT
    const small = time(5000, false, 5);
    const large = time(100_000, false, 2);
    // Linear: 20× (measured 10 to 30× on a busy machine: the collector's share grows with the
    // heap); quadratic would be 400×, as the checks of before were (20,000 records: 42 s,
    // 40,000: 310 s). Bounds generous enough for a loaded CI machine.
    expect(large, `5k: ${small.toFixed(3)} s, 100k: ${large.toFixed(3)} s`).toBeLessThan(Math.max(100 * small, 2));
    expect(large).toBeLessThan(20);
    // One CNAME among them: every other record is a problem, still linear.
    const refused = time(100_000, true);
    expect(refused).toBeLessThan(Math.max(100 * time(5000, true, 5), 2));
  }, 180_000);
});

describe("the sample of `boreal dns check`, in one pass too", () => {
  test("names at or below any of 50,000 delegations are left out, by their labels (an escaped dot is no boundary)", () => {
    const cuts = Array.from({ length: 50_000 }, (_, i) => `sub${i}.${ZONE}\tNS\tns.elsewhere.example.`);
    const lines = [
      ...cuts,
      `a.b.sub7.${ZONE}\tA\t192.0.2.1`,
      `sub7.${ZONE}\tDS\t1 13 2 abcd`,
      `a\\.sub7.${ZONE}\tA\t192.0.2.2`,
      `www.${ZONE}\tA\t192.0.2.3`,
    ];
    const started = performance.now();
    const sample = sampleOf(ZONE, lines);
    expect((performance.now() - started) / 1000).toBeLessThan(5);
    expect(sample.map((x) => x.owner)).toEqual([`a\\.sub7.${ZONE}`, `www.${ZONE}`]);
  });
});

describe("one long hostile line costs one pass over it", () => {
  test.each([
    ["stray parentheses", ")".repeat(300_000)],
    ["quotes", '"'.repeat(300_000)],
    ["quotes inside words", `x TXT ${'a"b'.repeat(100_000)}`],
    ["strings", `x TXT ${'"a" '.repeat(100_000)}`],
    ["escapes", `x TXT ${"\\065".repeat(100_000)}`],
    ["non-ASCII", `x TXT "${"é".repeat(300_000)}"`],
    ["a name", `${"a.".repeat(150_000)} A 192.0.2.1`],
    ["parentheses and comments", `x TXT ${"( ; c\n".repeat(50_000)}${")".repeat(50_000)}`],
  ])("%s", (_label, line) => {
    const started = performance.now();
    const { problems } = fileZoneRecords(ZONE, "a1", line, "zones/long.zone");
    expect((performance.now() - started) / 1000).toBeLessThan(5);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.length).toBeLessThanOrEqual(MAX_LISTED_PROBLEMS + 2);
  });
});

describe("Knot's refusal names the member's file and line, not the rendered file's", () => {
  const origins = new Map([
    ["w.coop-a.example.\tHTTPS\t1 . foo=bar", { where: "zones/coop-a.example.zone:4", owner: "w.coop-a.example." }],
    ["x.coop-a.example.\tDNAME\ty.example.", { where: "zones/coop-a.example.zone:6", owner: "x.coop-a.example." }],
    ["b.x.coop-a.example.\tA\t192.0.2.1", { where: "zones/coop-a.example.zone:7", owner: "b.x.coop-a.example." }],
  ]);
  const file = {
    path: "/var/lib/knot/zones/coop-a.example.zone",
    content: [
      "$ORIGIN coop-a.example.",
      "@ SOA ns hostmaster 1 300 60 2419200 300",
      "@ NS ns",
      "ns A 192.0.2.1",
      ...origins.keys(),
      "",
    ].join("\n"),
  };

  test("a line Knot names → the record's file and line; a name → its records'; the kit's own lines by config key; every word escaped", () => {
    const output = [
      "error: [coop-a.example.] zone loader, error in zone, file '/var/lib/knot/zones/coop-a.example.zone', line 5 (invalid parameter)",
      "error: [coop-a.example.] check, node x.coop-a.example., child record exists under DNAME",
      "error: [coop-a.example.] zone loader, error in zone, file '/var/lib/knot/zones/coop-a.example.zone', line 2 (bad \u001b[31m thing)",
      "error: [coop-a.example.] zone loader, failed to load zone, file '/var/lib/knot/zones/coop-a.example.zone', 2 errors",
      "rendered line 5: w.coop-a.example.\tHTTPS\t1 . foo=bar",
    ].join("\n");
    expect(knotRefusalProblems(file, output, zoneFilesKey(ZONE), origins)).toEqual([
      {
        source: "knotc zone-check",
        key: "zones/coop-a.example.zone:4",
        message: "Knot refuses the record w.coop-a.example. HTTPS 1 . foo=bar: invalid parameter",
        fix: expect.stringMatching(/^mend that record/),
      },
      {
        source: "knotc zone-check",
        key: "zones/coop-a.example.zone:6",
        message: "Knot refuses x.coop-a.example.: child record exists under DNAME",
        fix: expect.stringMatching(/^mend that record/),
      },
      {
        source: "knotc zone-check",
        key: 'boreal:zoneFiles["coop-a.example."]',
        message:
          "/var/lib/knot/zones/coop-a.example.zone as rendered is refused by Knot: error: [coop-a.example.] zone loader, error in zone, file '/var/lib/knot/zones/coop-a.example.zone', line 2 (bad \\x1b[31m thing)",
        fix: expect.stringMatching(/the line is the rendered file's/),
      },
    ]);
    // Without a line map (an older caller), Knot's words by config key, as before.
    expect(knotRefusalProblems(file, output, zoneFilesKey(ZONE), undefined)).toEqual([
      expect.objectContaining({
        key: 'boreal:zoneFiles["coop-a.example."]',
        message: expect.stringMatching(
          /refused by Knot: error: .*line 5 \(invalid parameter\)\n {6}error: .*child record exists under DNAME/s,
        ),
      }),
    ]);
  });

  test("inline records map to their config key and line, returned with the spec (no state kept between calls)", () => {
    const list = { node: "a1", zones: [ZONE], records: { [ZONE]: ["www A 192.0.2.1", "w HTTPS 1 . foo=bar"] } };
    const text = { node: "a1", zones: [ZONE], records: { [ZONE]: "www A 192.0.2.1\n\nw HTTPS 1 . foo=bar\n" } };
    expect(recordsConfigProblems(list)).toEqual([]);
    const fromList = withZoneFiles(list, () => Buffer.from("")).origins;
    const fromText = withZoneFiles(text, () => Buffer.from("")).origins;
    expect(fromList.get(recordsKey(ZONE))?.get("w.coop-a.example.\tHTTPS\t1 . foo=bar")).toEqual({
      where: 'boreal:records["coop-a.example."][1]',
      owner: "w.coop-a.example.",
    });
    expect(fromText.get(recordsKey(ZONE))?.get("w.coop-a.example.\tHTTPS\t1 . foo=bar")?.where).toBe(
      'boreal:records["coop-a.example."] line 3',
    );
    // The first call's origins are its own: the second did not overwrite them.
    expect(fromList.get(recordsKey(ZONE))?.get("w.coop-a.example.\tHTTPS\t1 . foo=bar")?.where).toBe(
      'boreal:records["coop-a.example."][1]',
    );
    // A zone not served, or given by a file too (refused by recordsConfigProblems), has no inline origins.
    expect(withZoneFiles({ ...list, zones: [] }, () => Buffer.from("")).origins.size).toBe(0);
    expect([...withZoneFiles({ ...list, zoneFiles: { [ZONE]: "zones/empty.zone" } }, () => Buffer.from("")).origins.keys()]).toEqual([
      zoneFilesKey(ZONE),
    ]);
  });

  test.runIf(hasKnotc)("end to end: a zone file the kit takes and Knot refuses, checked on the member's machine", () => {
    const member = [
      "; coop-a.example., records Knot refuses but the kit's parser passes on",
      "$TTL 3600",
      "www A 203.0.113.80",
      "w HTTPS 1 . foo=bar",
      "mail A 203.0.113.25",
      "x DNAME y.example.",
      "b.x A 192.0.2.1",
      "",
    ].join("\n");
    const { spec, origins } = withZoneFiles(fixtureSpec("a1", { zoneFiles: { [ZONE]: "zones/coop-a.example.zone" } }), () =>
      Buffer.from(member),
    );
    expect(origins.get(zoneFilesKey(ZONE))?.get("w.coop-a.example.\t3600\tHTTPS\t1 . foo=bar")).toEqual({
      where: "zones/coop-a.example.zone:4",
      owner: "w.coop-a.example.",
    });
    const zoneFile = renderNode(plan(spec, fixtureFederation()), templates).find((f) => f.path === `/var/lib/knot/zones/${ZONE}zone`)!;
    // Without the origins, Knot's words by config key (as before they were mapped).
    expect(() => precheckFiles([zoneFile], () => zoneFilesKey(ZONE))).toThrow(
      /knotc zone-check: boreal:zoneFiles\["coop-a\.example\."\]: .* as rendered is refused by Knot/,
    );
    let error: unknown;
    try {
      precheckFiles([zoneFile], () => zoneFilesKey(ZONE), origins);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BorealConfigError);
    const problems = (error as BorealConfigError).problems.map((p) => `${p.source}: ${p.key}: ${p.message}`);
    expect(problems).toContain(
      "knotc zone-check: zones/coop-a.example.zone:4: Knot refuses the record w.coop-a.example. 3600 HTTPS 1 . foo=bar: invalid parameter",
    );
    // Knot stops at the first parse error of a file; with it mended, the DNAME's child is named by name.
    const mended = withZoneFiles(fixtureSpec("a1", { zoneFiles: { [ZONE]: "zones/coop-a.example.zone" } }), () =>
      Buffer.from(member.replace("foo=bar", "alpn=h2")),
    );
    const again = renderNode(plan(mended.spec, fixtureFederation()), templates).find((f) => f.path === `/var/lib/knot/zones/${ZONE}zone`)!;
    expect(() => precheckFiles([again], () => zoneFilesKey(ZONE), mended.origins)).toThrow(
      /knotc zone-check: zones\/coop-a\.example\.zone:6: Knot refuses x\.coop-a\.example\.: child record exists under DNAME/,
    );
  });

  test.runIf(hasKnotc)("on the node, the refusal names the rendered record after Knot's line", () => {
    const result = knot(["w HTTPS 1 . foo=bar"]);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/line 6 \(invalid parameter\)[\s\S]*\nrendered line 6: w HTTPS 1 \. foo=bar\n/);
  });
});
