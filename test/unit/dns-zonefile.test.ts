import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { BorealConfigError } from "../../src/core/values/problems";
import { checkZoneText, inlineZoneRecords, recordsKey, withZoneFiles, zoneFilesKey, zoneRecordLines } from "../../src/core/dns/records";
import {
  absoluteName,
  checkMemberRecords,
  formatRecord,
  kitOwnsName,
  nameWithin,
  parseZoneFile,
  ZoneRecord,
} from "../../src/core/dns/zonefile";
import { FIXTURE_DIR } from "../helpers/fixtures";

const ZONE = "coop-a.example.";
const EXPORT = readFileSync(join(FIXTURE_DIR, "zones", "coop-a.example.zone"), "utf8");

const parse = (text: string) => parseZoneFile(text, { origin: ZONE });
const lines = (text: string) => parse(text).records.map(formatRecord);
/** Problems of a text as "line: message". */
const refusals = (text: string, node = "a1") => checkZoneText(text, ZONE, node).problems.map((p) => `${p.line}: ${p.message}`);

describe("parsing a master file (RFC 1035 5.1)", () => {
  test("an export from a DNS host: every record, its line, absolute names, TTLs from $TTL or the record", () => {
    const { records, problems } = parse(EXPORT);
    expect(problems).toEqual([]);
    expect(records.map((r) => `${r.line} ${formatRecord(r)}`)).toEqual([
      "5 coop-a.example.\t3600\tMX\t10 mail.coop-a.example.",
      "6 coop-a.example.\t3600\tMX\t20 mail.backup-host.example.",
      '7 coop-a.example.\t3600\tTXT\t"v=spf1 mx -all"',
      '8 coop-a.example.\t3600\tCAA\t0 issue "letsencrypt.org"',
      "9 coop-a.example.\t3600\tA\t203.0.113.80",
      "10 coop-a.example.\t3600\tAAAA\t2001:db8::80",
      "11 www.coop-a.example.\t300\tA\t203.0.113.80",
      "12 www.coop-a.example.\t300\tAAAA\t2001:db8::80",
      "13 blog.coop-a.example.\t3600\tCNAME\twww.coop-a.example.",
      "14 mail.coop-a.example.\t3600\tA\t203.0.113.25",
      "15 shop.coop-a.example.\t3600\tCNAME\tshops.hoster.example.",
      '16 selector1._domainkey.coop-a.example.\t3600\tTXT\t"v=DKIM1; k=rsa; " "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAw1yKx2Hq" "3YtVnQIDAQAB"',
      '19 _dmarc.coop-a.example.\t3600\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:dmarc@coop-a.example"',
      "20 _imaps._tcp.coop-a.example.\t3600\tSRV\t0 1 993 mail.coop-a.example.",
      "21 _443._tcp.www.coop-a.example.\t3600\tTLSA\t3 1 1 8cb0fc6c527506a053f4f14c8464bebbd5b2c4b8b1a0e4b9e3a1d2c4b8b1a0e4",
      "24 lists.coop-a.example.\t3600\tMX\t10 mail.coop-a.example.",
      "25 archive.lists.coop-a.example.\t3600\tCNAME\tlists.coop-a.example.",
      '26 quote.lists.coop-a.example.\t3600\tTXT\t"say \\"hello\\"; bye" unquoted\\;word',
      '27 lists.coop-a.example.\t3600\tHTTPS\t1 . alpn="h2,h3" port=443',
    ]);
    // Nothing in it is the kit's.
    expect(checkMemberRecords(records, { zone: ZONE, node: "a1" })).toEqual([]);
  });

  test("a written record parses again to itself, under any $ORIGIN", () => {
    const records = parse(EXPORT).records;
    const again = parseZoneFile(records.map(formatRecord).join("\n"), { origin: "elsewhere.example." }).records;
    expect(again.map(formatRecord)).toEqual(records.map(formatRecord));
  });

  test("owner: @, relative, absolute, blank (the previous one); TTL and class in either order or absent", () => {
    expect(
      lines(
        [
          "@ A 192.0.2.1",
          " AAAA 2001:db8::1",
          "www IN 60 A 192.0.2.2",
          "www.coop-a.example. 60 IN A 192.0.2.3",
          "\tIN TXT x",
          "FTP.Coop-A.Example. a 192.0.2.4",
        ].join("\n"),
      ),
    ).toEqual([
      "coop-a.example.\tA\t192.0.2.1",
      "coop-a.example.\tAAAA\t2001:db8::1",
      "www.coop-a.example.\t60\tA\t192.0.2.2",
      "www.coop-a.example.\t60\tA\t192.0.2.3",
      "www.coop-a.example.\tTXT\tx",
      "ftp.coop-a.example.\tA\t192.0.2.4",
    ]);
  });

  test("$TTL in seconds or units; a record's own TTL wins; without either the zone's default applies (no TTL written)", () => {
    expect(parse("a A 192.0.2.1\n$TTL 1d2h\nb A 192.0.2.2\nc 1w A 192.0.2.3\n$TTL 45\nd A 192.0.2.4").records.map((r) => r.ttl)).toEqual([
      undefined,
      93600,
      604800,
      45,
    ]);
  });

  test("parentheses over lines, comments anywhere, ';' and '(' inside quotes are text", () => {
    const text = ['dkim TXT ( "v=DKIM1; k=rsa; (not a paren"   ; the first part', '   "p=ABC" ) ; done', "next A 192.0.2.9"].join("\n");
    const { records, problems } = parse(text);
    expect(problems).toEqual([]);
    expect(records.map((r) => [r.line, r.rdata])).toEqual([
      [1, '"v=DKIM1; k=rsa; (not a paren" "p=ABC"'],
      [3, "192.0.2.9"],
    ]);
  });

  test("escapes in names and strings are kept as written", () => {
    expect(lines('a\\.b TXT "tab\\009quote\\"" \n\\042odd A 192.0.2.1')).toEqual([
      'a\\.b.coop-a.example.\tTXT\t"tab\\009quote\\""',
      "\\042odd.coop-a.example.\tA\t192.0.2.1",
    ]);
    expect(absoluteName("a\\.b", ZONE)).toEqual({ name: "a\\.b.coop-a.example." });
    // An escaped dot is not a label boundary: "x\.coop-a.example." is one label under "example."
    expect(nameWithin("x\\.coop-a.example.", ZONE)).toBe(false);
    expect(nameWithin("x.coop-a.example.", ZONE)).toBe(true);
    expect(nameWithin("xcoop-a.example.", ZONE)).toBe(false);
  });

  test("names in data are made absolute: MX, SRV, CNAME, NS below the apex, HTTPS target, @", () => {
    expect(
      lines(
        [
          "@ MX 0 .",
          "sub NS ns1.sub",
          "alias CNAME @",
          "@ HTTPS 1 . alpn=h2",
          "www HTTPS 1 cdn alpn=h3",
          "_sip._udp SRV 10 5 5060 sip",
        ].join("\n"),
      ),
    ).toEqual([
      "coop-a.example.\tMX\t0 .",
      "sub.coop-a.example.\tNS\tns1.sub.coop-a.example.",
      "alias.coop-a.example.\tCNAME\tcoop-a.example.",
      "coop-a.example.\tHTTPS\t1 . alpn=h2",
      "www.coop-a.example.\tHTTPS\t1 cdn.coop-a.example. alpn=h3",
      "_sip._udp.coop-a.example.\tSRV\t10 5 5060 sip.coop-a.example.",
    ]);
  });

  test("generic types (RFC 3597) and TYPEnnn of a known type", () => {
    expect(lines("x TYPE65280 \\# 3 abcdef\ny TYPE1 \\# 4 C0000201\nz TYPE1 192.0.2.1")).toEqual([
      "x.coop-a.example.\tTYPE65280\t\\# 3 abcdef",
      "y.coop-a.example.\tTYPE1\t\\# 4 C0000201",
      "z.coop-a.example.\tTYPE1\t192.0.2.1",
    ]);
    // A generic SOA is still an SOA.
    expect(refusals("@ TYPE6 \\# 1 00")).toEqual([
      "1: the kit writes the zone's SOA (serial, timers and name servers): a member's SOA is refused",
    ]);
  });

  test.each([
    ["$INCLUDE other.zone", "$INCLUDE is refused: the kit reads one file per zone, and an included file would not reach the node"],
    ["$GENERATE 1-10 host$ A 192.0.2.$", "$GENERATE is BIND's, not the master-file format"],
    ["$SECRET hunter2", "unknown directive (a word starting with $ at the start of the line)"],
    ["$ORIGIN", "$ORIGIN takes one name"],
    ["$TTL soon", "$TTL is not followed by one TTL"],
    ["  A 192.0.2.1", "the first record has no owner name (its line starts with a blank)"],
    ["www 300 IN", "no record type"],
    ["www 300 IN WKS 1.2.3.4 tcp", "record type WKS is not one Knot serves"],
    ["www 300 IN hunter2 1", "the word at column 12 is not a record type (after the owner, TTL and class comes the type)"],
    ["www ANY 1", "ANY is a query type, not data a zone holds"],
    ["www CH TXT hi", "class CH is not served: the kit serves class IN only"],
    ["www 4294967296 A 192.0.2.1", "the TTL is above 2147483647 seconds"],
    ["www A 192.0.2.300", "A data field 1 (column 7) is not an IPv4 address"],
    ["www A 2001:db8::1", "A data field 1 (column 7) is not an IPv4 address"],
    ["www AAAA 192.0.2.1", "AAAA data field 1 (column 10) is not an IPv6 address"],
    ["www A 192.0.2.1 192.0.2.2", "A record has more data than it holds: 1 field(s) too many, from column 17"],
    ["www A", "A record has no data"],
    ["@ MX mail", "MX data field 1 (column 6) is not a number from 0 to 65535"],
    ["@ MX 10", "MX record lacks data: 2 field(s) expected, 1 given"],
    ["@ MX 10 mail..example.", "MX data field 2: the name has an empty label (two dots in a row, or a leading dot) at column 14"],
    ["caf\u00e9 A 192.0.2.1", "owner name has a non-ASCII character U+00E9 at column 4"],
    ["www.\u{1F600} A 192.0.2.1", "owner name has a non-ASCII character U+1F600 at column 5"],
    ["a+b A 192.0.2.1", "owner name has U+002B (+) at column 2, which a name holds only escaped"],
    [`${"a".repeat(64)} A 192.0.2.1`, "owner name has a label of 64 octets at column 1, more than the 63 a label holds"],
    ["x SSHFP 4 2 xyz", "SSHFP data from field 3 (column 13) is not hexadecimal octets (an even number of digits 0-9, a-f)"],
    ['x TXT "unterminated', "a quoted string opened at column 7 is not closed on its line"],
    ["x TXT ( a", "a '(' is never closed"],
    ["x A 192.0.2.1 )", "a ')' at column 15 closes no '('"],
    ["x TYPE65280 \\# 4 abcdef", "generic data (\\#) does not match its length: 4 octets need 8 hexadecimal digits"],
    // A TXT string of more than 255 octets is cut as Knot cuts it (zone-hostile.test.ts); an HINFO's is refused, as Knot refuses it.
    [`x HINFO "${"a".repeat(256)}" os`, "HINFO data field 1 (column 10) is a string of 256 octets, more than the 255 a string holds"],
    [`x TXT "${"a".repeat(65280)}"`, "TXT data is 65536 octets, more than the 65535 a record holds"],
  ])("refuses %j with its reason", (text, message) => {
    const { problems } = parse(`; a comment first\n${text}`);
    expect(problems.map((p) => `${p.line}: ${p.message}`)).toEqual([`2: ${message}`]);
    expect(problems[0].fix.length).toBeGreaterThan(10);
  });

  test("a bad record does not hide the next ones", () => {
    const { records, problems } = parse('a A 1\nb A 192.0.2.1\nc TXT "open\nd A 192.0.2.2');
    expect(problems.map((p) => p.line)).toEqual([1, 3]);
    expect(records.map((r) => r.owner)).toEqual(["b.coop-a.example.", "d.coop-a.example."]);
  });
});

describe("what the kit owns in a member's zone", () => {
  test.each([
    ["@ 3600 SOA ns1 hostmaster 1 2 3 4 5", "the kit writes the zone's SOA (serial, timers and name servers): a member's SOA is refused"],
    [
      "@ NS ns1.old-host.example.",
      "the kit writes the NS records of coop-a.example. (every node of the federation): a member's apex NS is refused",
    ],
    [
      "ns-a1 A 192.0.2.53",
      "ns-a1.coop-a.example. is the kit's: it writes the name servers' glue at ns-<node> names and node a1's mesh addresses at a1.coop-a.example.",
    ],
    [
      "ns-z9 AAAA 2001:db8::53",
      "ns-z9.coop-a.example. is the kit's: it writes the name servers' glue at ns-<node> names and node a1's mesh addresses at a1.coop-a.example.",
    ],
    [
      "a1 CNAME elsewhere.example.",
      "a1.coop-a.example. is the kit's: it writes the name servers' glue at ns-<node> names and node a1's mesh addresses at a1.coop-a.example.",
    ],
    ["@ CNAME www", "a CNAME at the apex of coop-a.example. is refused: the apex holds the SOA and NS"],
    ["@ DNAME other.example.", "a DNAME at the apex of coop-a.example. would send all of the zone's names elsewhere"],
    ["www.coop-b.example. A 192.0.2.1", "www.coop-b.example. is outside zone coop-a.example."],
    ["coop-a.example.org. A 192.0.2.1", "coop-a.example.org. is outside zone coop-a.example."],
    ["@ DNSKEY 257 3 13 AAAA", "Knot manages the zone's DNSKEY at the apex (its keys and their CDS/CDNSKEY)"],
    ["@ CDS 1 13 2 abcd", "Knot manages the zone's CDS at the apex (its keys and their CDS/CDNSKEY)"],
    ["@ DS 1 13 2 abcd", "a DS for coop-a.example. belongs in the parent zone, not in the zone itself"],
    [
      "www RRSIG A 13 3 300 20300101000000 20200101000000 1 coop-a.example. AAAA",
      "RRSIG is made by the signer: Knot signs the zone itself",
    ],
    ["www NSEC next A RRSIG", "NSEC is made by the signer: Knot signs the zone itself"],
  ])("refuses %j", (text, message) => {
    expect(refusals(`www2 A 192.0.2.7\n${text}`)).toEqual([`2: ${message}`]);
  });

  test("allowed: a delegation with its DS and glue below the apex, names that only look like the kit's", () => {
    expect(
      refusals(
        [
          "sub NS ns1.sub",
          "sub DS 12345 13 2 ABCDEF0123",
          "ns1.sub A 192.0.2.53",
          "ns A 192.0.2.1",
          "nsx A 192.0.2.2",
          "a1x A 192.0.2.3",
          "www.ns-a1 TXT deeper",
          "b1 A 192.0.2.4",
        ].join("\n"),
      ),
    ).toEqual([]);
    expect(kitOwnsName("ns-b1.coop-a.example.", { zone: ZONE, node: "a1" })).toBe(true);
    expect(kitOwnsName("b1.coop-a.example.", { zone: ZONE, node: "a1" })).toBe(false);
    expect(kitOwnsName("coop-a.example.", { zone: ZONE, node: "a1" })).toBe(false);
  });

  test("a CNAME beside other data at one name, or twice, is refused at the other record's line", () => {
    expect(refusals("blog CNAME www\nother A 192.0.2.1\nblog TXT hello\nblog CNAME www2")).toEqual([
      "3: blog.coop-a.example. has CNAME and TXT records: a CNAME must be alone at its name (the first on line 1)",
      "4: blog.coop-a.example. has two CNAME records: a CNAME must be alone at its name (the first on line 1)",
    ]);
  });

  test("the records of one name and type share one TTL", () => {
    expect(refusals("@ 300 MX 10 mail\n@ 600 MX 20 mail2\n@ 300 TXT a\n@ 300 TXT b")).toEqual([
      "2: coop-a.example. MX has TTL 600 here and 300 on line 1: the records of one name and type share one TTL",
    ]);
  });

  test("problems come sorted by line, parse and check together", () => {
    expect(refusals("@ SOA a b 1 2 3 4 5\nwww A nope\n@ NS x.example.").map((p) => p.split(":")[0])).toEqual(["1", "2", "3"]);
  });
});

describe("the two routes of the stack config, through one validator", () => {
  test("inline: a list of entries, keyed by entry (and line within a multi-line entry)", () => {
    const { records, problems } = inlineZoneRecords(ZONE, "a1", [
      "www 300 A 203.0.113.80",
      "@ CNAME www",
      'dkim TXT ( "a"\n "b" ) extra(',
      "blog CNAME www",
      "blog A 192.0.2.1",
    ]);
    expect(records.map((r) => r.owner)).toEqual(["www.coop-a.example.", "coop-a.example.", "blog.coop-a.example.", "blog.coop-a.example."]);
    expect(problems).toEqual([
      {
        source: "stack config",
        key: 'boreal:records["coop-a.example."][2] line 2',
        message: "a '(' is never closed",
        fix: expect.any(String),
      },
      {
        source: "stack config",
        key: 'boreal:records["coop-a.example."][1]',
        message: "a CNAME at the apex of coop-a.example. is refused: the apex holds the SOA and NS",
        fix: expect.stringMatching(/A\/AAAA records at the apex/),
      },
      {
        source: "stack config",
        key: 'boreal:records["coop-a.example."][4]',
        message: "blog.coop-a.example. has CNAME and A records: a CNAME must be alone at its name (the first in entry [3])",
        fix: expect.any(String),
      },
    ]);
  });

  test("inline: one text (a YAML block), keyed by its line; an empty entry is refused", () => {
    expect(
      inlineZoneRecords(ZONE, "a1", "www A 192.0.2.1\n\nmail A 192.0.2.2\nwww CNAME mail").problems.map((p) => `${p.key}: ${p.message}`),
    ).toEqual([
      'boreal:records["coop-a.example."] line 4: www.coop-a.example. has A and CNAME records: a CNAME must be alone at its name (the first on line 1)',
    ]);
    expect(inlineZoneRecords(ZONE, "a1", ["; nothing"]).problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      'boreal:records["coop-a.example."][0]: holds no record',
    ]);
  });

  test("zone files: read through the reader, refused by file and line, and turned into records lines", () => {
    const files: Record<string, string> = {
      "zones/a.zone": EXPORT,
      "zones/bad.zone": "www A 192.0.2.1\n@ NS ns.old.example.\n$INCLUDE x\n",
    };
    const spec = { node: "a1", zones: [ZONE, "lists.coop-a.example."], zoneFiles: { [ZONE]: "zones/a.zone" } };
    const read = (path: string) => {
      if (!(path in files)) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
      return files[path];
    };
    const { spec: done, origins } = withZoneFiles(spec, read);
    expect("zoneFiles" in done).toBe(false);
    // Where each record line came from, returned with them (nothing kept aside).
    expect(origins.get(zoneFilesKey(ZONE))?.get(done.records![ZONE][0] as string)?.where).toMatch(/^zones\/a\.zone:\d+$/);
    expect(done.records![ZONE]).toEqual(parse(EXPORT).records.map(formatRecord));
    // What planning gets from those lines is the same records.
    expect(zoneRecordLines(ZONE, done)).toEqual(done.records![ZONE]);

    let error: unknown;
    try {
      withZoneFiles({ ...spec, zoneFiles: { [ZONE]: "zones/bad.zone", "lists.coop-a.example.": "zones/missing.zone" } }, read);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BorealConfigError);
    expect((error as BorealConfigError).problems.map((p) => `${p.source}: ${p.key}: ${p.message}`)).toEqual([
      "zones/bad.zone: line 2: the kit writes the NS records of coop-a.example. (every node of the federation): a member's apex NS is refused",
      "zones/bad.zone: line 3: $INCLUDE is refused: the kit reads one file per zone, and an included file would not reach the node",
      'stack config: boreal:zoneFiles["lists.coop-a.example."]: cannot read zones/missing.zone (ENOENT)',
    ]);
    expect((error as BorealConfigError).message).toMatch(/zones\/bad\.zone: line 2: .*\n    fix: remove the apex NS records/);
  });

  test("without zone files the spec is returned as it was", () => {
    const spec = { node: "a1", zones: [ZONE], records: { [ZONE]: ["www A 192.0.2.1"] } };
    const { spec: same, origins } = withZoneFiles(spec, () => {
      throw new Error("not read");
    });
    expect(same).toEqual(spec);
    // The inline records' origins come back all the same.
    expect([...origins.get(recordsKey(ZONE))!.values()]).toEqual([
      { where: 'boreal:records["coop-a.example."][0]', owner: "www.coop-a.example." },
    ]);
  });

  test("planning refuses records that do not check (e.g. an agent.json edited by hand)", () => {
    expect(() => zoneRecordLines(ZONE, { node: "a1", records: { [ZONE]: ["@ NS x.example."] } })).toThrow(
      /boreal:records\["coop-a.example."\]\[0\]: the kit writes the NS records/,
    );
    expect(zoneRecordLines("other.example.", { node: "a1", records: { [ZONE]: ["www A 192.0.2.1"] } })).toEqual([]);
  });

  test("records keep their line numbers for the file route (a ZoneRecord is what the checks report)", () => {
    const r: ZoneRecord[] = parse("\n\nwww A 192.0.2.1").records;
    expect(r[0].line).toBe(3);
  });
});
