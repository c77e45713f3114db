// DNS messages in wire form (RFC 1035 4.1, EDNS0 of RFC 6891): a query to encode and an
// answer to decode, keeping each record's RDATA as received plus its canonical form
// (RFC 4034 6.2: names expanded and lower case), which is what signatures are made over.
// Pure: bytes in, bytes out.
//
// Written here rather than taken from npm: dns-packet (the maintained codec) decodes
// records into text objects (labels as UTF-8 strings, dots inside labels lost, CAA flags
// folded into a boolean) and keeps no raw RDATA, so the exact bytes an RRSIG covers cannot
// be rebuilt from what it returns.
import { canonicalNameWire } from "./ds";
import { RECORD_TYPES } from "./zonefile";

const OPT = 41;
export const CLASS_IN = 1;
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  9: "NOTAUTH",
};

/** One resource record; the owner and RDATA names already expanded from compression pointers. */
export interface WireRecord {
  /** Presentation form, lower case, fully qualified. */
  owner: string;
  type: number;
  class: number;
  ttl: number;
  /** RDATA as received (names in it may still be compression pointers into the message). */
  rdata: Buffer;
  /** RDATA in canonical form (RFC 4034 6.2): names expanded, lower case where the RFC says so. */
  canonical: Buffer;
}

export interface DnsMessage {
  id: number;
  /** Answer from an authoritative server (AA). */
  authoritative: boolean;
  /** TC: the answer did not fit; ask again over TCP. */
  truncated: boolean;
  rcode: number;
  question: { name: string; type: number }[];
  answer: WireRecord[];
  authority: WireRecord[];
  additional: WireRecord[];
}

/** A message with nothing in it but what `over` gives: what a question not asked leaves. */
export const dnsMessage = (over: Partial<DnsMessage> = {}): DnsMessage => ({
  id: 0,
  authoritative: false,
  truncated: false,
  rcode: 0,
  question: [],
  answer: [],
  authority: [],
  additional: [],
  ...over,
});

/** EDNS0 payload size a query offers: the DNS Flag Day 2020 value, no IP fragmentation. */
export const UDP_PAYLOAD = 1232;

/** RD in a header's flags (RFC 1035 4.1.1): the server may recurse to answer. */
export const RECURSION_DESIRED = 0x0100;

/**
 * A query with the DNSSEC OK bit (RFC 3225); no recursion asked (authoritative servers)
 * unless `recursionDesired` (a resolver, e.g. the node's own from /etc/resolv.conf).
 */
export function encodeQuery(id: number, name: string, type: number, recursionDesired = false): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  if (recursionDesired) header.writeUInt16BE(RECURSION_DESIRED, 2);
  header.writeUInt16BE(1, 4); // one question
  header.writeUInt16BE(1, 10); // one additional: the OPT record
  const question = Buffer.alloc(4);
  question.writeUInt16BE(type, 0);
  question.writeUInt16BE(CLASS_IN, 2);
  const opt = Buffer.alloc(11);
  opt.writeUInt8(0, 0); // root owner
  opt.writeUInt16BE(OPT, 1);
  opt.writeUInt16BE(UDP_PAYLOAD, 3);
  opt.writeUInt32BE(0x8000, 5); // extended rcode 0, version 0, DO
  return Buffer.concat([header, canonicalNameWire(name), question, opt]);
}

/**
 * Where names sit in the RDATA of the types that hold them (RFC 4034 6.2's list): a number
 * is that many octets copied, "name" an expanded lower-case name, "keepcase" one left as
 * sent (NSEC's next name, RFC 6840 5.1), "string" a character-string, "rest" the remainder.
 */
type Part = number | "name" | "keepcase" | "string" | "rest";
const NAME_LAYOUTS: Readonly<Record<number, readonly Part[]>> = {
  2: ["name"],
  3: ["name"],
  4: ["name"],
  5: ["name"],
  7: ["name"],
  8: ["name"],
  9: ["name"],
  12: ["name"],
  39: ["name"],
  6: ["name", "name", 20],
  14: ["name", "name"],
  17: ["name", "name"],
  15: [2, "name"],
  18: [2, "name"],
  21: [2, "name"],
  36: [2, "name"],
  26: [2, "name", "name"],
  33: [6, "name"],
  35: [4, "string", "string", "string", "name"],
  24: [18, "name", "rest"],
  46: [18, "name", "rest"],
  47: ["keepcase", "rest"],
};

/** Reads a name at offset, following compression pointers (backwards only, so no loop). */
export function readName(message: Buffer, offset: number): { labels: Buffer[]; end: number } {
  const labels: Buffer[] = [];
  let at = offset;
  let end: number | undefined;
  let length = 1;
  for (;;) {
    if (at >= message.length) throw new Error("a name runs past the end of the message");
    const len = message[at];
    if ((len & 0xc0) === 0xc0) {
      const target = message.readUInt16BE(at) & 0x3fff;
      if (target >= at) throw new Error("a compression pointer points forward");
      end ??= at + 2;
      at = target;
    } else if (len & 0xc0) throw new Error(`label type 0x${len.toString(16)} is unknown`);
    else if (len === 0) return { labels, end: end ?? at + 1 };
    else {
      length += len + 1;
      if (length > 255 || at + 1 + len > message.length) throw new Error("a name is longer than 255 octets or the message");
      labels.push(message.subarray(at + 1, at + 1 + len));
      at += 1 + len;
    }
  }
}

function nameWire(labels: Buffer[], lowerCase: boolean): Buffer {
  const wire = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
  return lowerCase ? Buffer.from(wire.map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b))) : wire;
}

/** A name in presentation form, lower case, with RFC 1035 escapes for dots, backslashes and unprintable octets. */
export function nameText(labels: Buffer[]): string {
  if (labels.length === 0) return ".";
  const label = (l: Buffer) =>
    [...l]
      .map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b))
      .map((b) =>
        b === 0x2e || b === 0x5c
          ? `\\${String.fromCharCode(b)}`
          : b > 0x20 && b < 0x7f
            ? String.fromCharCode(b)
            : `\\${String(b).padStart(3, "0")}`,
      )
      .join("");
  return `${labels.map(label).join(".")}.`;
}

/** RDATA with its names expanded: canonical (lower case) or as sent, by the type's layout. */
function expandRdata(message: Buffer, type: number, start: number, length: number): Buffer {
  const layout = NAME_LAYOUTS[type];
  const end = start + length;
  if (!layout) return Buffer.from(message.subarray(start, end));
  const parts: Buffer[] = [];
  let at = start;
  for (const part of layout) {
    if (typeof part === "number") {
      parts.push(message.subarray(at, at + part));
      at += part;
    } else if (part === "string") {
      const len = message[at] + 1;
      parts.push(message.subarray(at, at + len));
      at += len;
    } else if (part === "rest") {
      parts.push(message.subarray(at, end));
      at = end;
    } else {
      const name = readName(message, at);
      parts.push(nameWire(name.labels, part === "name"));
      at = name.end;
    }
    if (at > end) throw new Error(`the RDATA of a type ${type} record is shorter than its fields`);
  }
  if (at !== end) throw new Error(`the RDATA of a type ${type} record is longer than its fields`);
  return Buffer.concat(parts);
}

function readRecord(message: Buffer, offset: number): { record: WireRecord; end: number } {
  const owner = readName(message, offset);
  let at = owner.end;
  if (at + 10 > message.length) throw new Error("a record runs past the end of the message");
  const type = message.readUInt16BE(at);
  const klass = message.readUInt16BE(at + 2);
  const ttl = message.readUInt32BE(at + 4);
  const length = message.readUInt16BE(at + 8);
  at += 10;
  if (at + length > message.length) throw new Error("a record's RDATA runs past the end of the message");
  const rdata = Buffer.from(message.subarray(at, at + length));
  return {
    record: { owner: nameText(owner.labels), type, class: klass, ttl, rdata, canonical: expandRdata(message, type, at, length) },
    end: at + length,
  };
}

export function decodeMessage(message: Buffer): DnsMessage {
  if (message.length < 12) throw new Error(`a DNS message of ${message.length} octets is shorter than its header`);
  const flags = message.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((at) => message.readUInt16BE(at));
  let at = 12;
  const question: DnsMessage["question"] = [];
  for (let i = 0; i < counts[0]; i++) {
    const name = readName(message, at);
    question.push({ name: nameText(name.labels), type: message.readUInt16BE(name.end) });
    at = name.end + 4;
  }
  const sections: WireRecord[][] = [[], [], []];
  sections.forEach((section, s) => {
    for (let i = 0; i < counts[s + 1]; i++) {
      const { record, end } = readRecord(message, at);
      section.push(record);
      at = end;
    }
  });
  const opt = sections[2].find((r) => r.type === OPT);
  // The OPT record's TTL carries the upper 8 bits of a 12-bit rcode (RFC 6891 6.1.3).
  const rcode = (flags & 0x0f) | (opt ? (opt.ttl >>> 24) << 4 : 0);
  return {
    id: message.readUInt16BE(0),
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    rcode,
    question,
    answer: sections[0],
    authority: sections[1],
    additional: sections[2],
  };
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** A type's mnemonic (the zone parser's table read backwards), TYPEnnn otherwise. */
export function typeName(type: number): string {
  return Object.entries(RECORD_TYPES).find(([, n]) => n === type)?.[0] ?? `TYPE${type}`;
}
