// A member's own records: an RFC 1035 master file (as exported from a DNS host) or a few
// lines of the stack config, parsed into records with their line numbers, then checked
// against what the kit owns in the zone. Pure: text in, records and problems out.
//
// Written here rather than taken from npm: dns-zonefile (the one maintained parser) finds
// records by regular expressions per type, drops the types it does not know (TLSA, SSHFP,
// HTTPS…) without a word, cuts a TXT at its first ';' even inside quotes (every DKIM key
// has one), and keeps no line numbers, which every refusal here must name.
//
// The file is hostile input (a wrong path can point at any file of the member's machine):
// - A problem of a line that did not parse as a record never quotes the line: it names the
//   line, the column, and what is wrong (at most one offending character, by its code
//   point). Names and data of records that did parse are quoted, escaped (escapeShort).
// - Limits are Knot's: a name at most 255 octets and a label 63, a character-string at most
//   255 octets, a record's data at most 65535 octets; `\DDD` (000 to 255) and `\X` (X a
//   printable ASCII character other than a digit) are one octet each. A longer string of a
//   TXT or SPF record (a DKIM key written as one) is taken, as Knot takes it: cut into
//   strings of 255 octets (each with its length octet, counted against the 65535), and
//   rendered so cut, in quotes.
// - Encoding: the file is UTF-8 (decodeZoneFile refuses other bytes with their offset, line
//   and column; text that holds U+FFFD, what a lenient decoder puts for such bytes, is
//   refused the same way, never passed on). Knot takes printable ASCII only: a non-ASCII
//   character in a name is refused (names are written in their xn-- form); in data it is
//   kept as its exact UTF-8 octets, written `\DDD` in the rendered record. A raw control
//   character is refused everywhere but a tab inside quotes (kept, as `\009`).
// - Linear: every pass is one scan of the text or of the records, whatever their number
//   at one name (maps keyed by owner and by owner and type, no scans of a name's records).
import { isIP } from "../values/ip";
import { escapeShort } from "../values/escape";

/** One record of the member's, as written: rdata normalised but not decoded. */
export interface ZoneRecord {
  /** Line where the record starts (a record in parentheses may span several). */
  line: number;
  /** Fully qualified, lower case, escapes as written (`\.`, `\032`). */
  owner: string;
  /** Seconds; absent when neither the record nor a `$TTL` gave one (the zone's default applies). */
  ttl?: number;
  /** Upper case mnemonic (`TYPE65534` for a type given by number that has no mnemonic). */
  type: string;
  /** As written, upper case type token kept for generic (RFC 3597) data. */
  typeToken: string;
  /** Data fields joined by one space; names in them made absolute; printable ASCII only (other octets as `\DDD`). */
  rdata: string;
}

export interface ZoneProblem {
  line: number;
  /** Column (characters from 1) of the trouble, when one place is to blame. */
  column?: number;
  message: string;
  fix: string;
}

export interface ParsedZoneFile {
  records: ZoneRecord[];
  problems: ZoneProblem[];
}

/** Record types by mnemonic → number (those Knot's zone scanner knows). */
export const RECORD_TYPES: Readonly<Record<string, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MINFO: 14,
  MX: 15,
  TXT: 16,
  RP: 17,
  AFSDB: 18,
  RT: 21,
  KEY: 25,
  AAAA: 28,
  LOC: 29,
  SRV: 33,
  NAPTR: 35,
  KX: 36,
  CERT: 37,
  DNAME: 39,
  APL: 42,
  DS: 43,
  SSHFP: 44,
  IPSECKEY: 45,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  DHCID: 49,
  NSEC3: 50,
  NSEC3PARAM: 51,
  TLSA: 52,
  SMIMEA: 53,
  CDS: 59,
  CDNSKEY: 60,
  OPENPGPKEY: 61,
  CSYNC: 62,
  ZONEMD: 63,
  SVCB: 64,
  HTTPS: 65,
  SPF: 99,
  NID: 104,
  L32: 105,
  L64: 106,
  LP: 107,
  EUI48: 108,
  EUI64: 109,
  URI: 256,
  CAA: 257,
};
const TYPE_BY_NUMBER = new Map(Object.entries(RECORD_TYPES).map(([name, n]) => [n, name]));
/** Query-only types (RFC 6895): never data in a zone. */
const META_TYPES = new Set([0, 41, 128, 249, 250, 251, 252, 253, 254, 255]);
const META_MNEMONICS: Readonly<Record<string, number>> = {
  OPT: 41,
  TKEY: 249,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
};
/** Types other servers know and Knot does not: named in the refusal (a constant, not the file's text). */
const TYPES_KNOT_LACKS = new Set([
  "WKS",
  "MD",
  "MF",
  "MB",
  "MG",
  "MR",
  "NULL",
  "X25",
  "ISDN",
  "NSAP",
  "NSAP-PTR",
  "SIG",
  "PX",
  "GPOS",
  "NXT",
  "EID",
  "NIMLOC",
  "ATMA",
  "A6",
  "SINK",
  "NINFO",
  "RKEY",
  "TALINK",
  "HIP",
  "UINFO",
  "UID",
  "GID",
  "UNSPEC",
  "TA",
  "DLV",
  "AVC",
  "DOA",
  "AMTRELAY",
  "RESINFO",
  "WALLET",
]);

const CLASSES = new Set(["IN", "CH", "HS", "CS"]);
const MAX_TTL = 2 ** 31 - 1;
/** Knot's limits (RFC 1035 2.3.4, 3.3). */
const MAX_NAME = 255;
const MAX_LABEL = 63;
const MAX_STRING = 255;
const MAX_RDATA = 65535;

const TAB = 9,
  LF = 10,
  CR = 13,
  SPACE = 32,
  QUOTE = 34,
  LPAREN = 40,
  RPAREN = 41,
  STAR = 42,
  DOT = 46,
  SEMICOLON = 59,
  BACKSLASH = 92,
  DEL = 127;

/** `U+00E9`: a character named by its code point, never shown raw. */
function codePoint(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The character at `index` of `text`, by code point (a surrogate pair is one). */
function codeAt(text: string, index: number): number {
  return text.codePointAt(index)!;
}

function octetsOfCodePoint(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

/** Its UTF-8 octets as `\DDD` escapes. */
function decimalEscapes(code: number): string {
  return [...Buffer.from(String.fromCodePoint(code), "utf8")].map((b) => `\\${String(b).padStart(3, "0")}`).join("");
}

// ---------------------------------------------------------------------------------------
// Bytes → text: UTF-8 or a refusal that names where.

/**
 * A zone file's bytes as text. They must be UTF-8 (a leading byte order mark is dropped);
 * else the problem names the first offending byte: its offset, line and column (never the
 * text around it).
 */
export function decodeZoneFile(bytes: Uint8Array): { text: string } | { problem: ZoneProblem & { offset: number } } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    // Not UTF-8: find where.
  }
  const bad = Math.max(0, firstInvalidUtf8(bytes));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < bad; i++) {
    if (bytes[i] === LF) {
      line++;
      lineStart = i + 1;
    }
  }
  const column = [...new TextDecoder("utf-8").decode(bytes.subarray(lineStart, bad))].length + 1;
  return {
    problem: {
      line,
      column,
      offset: bad,
      message: `the file is not UTF-8: byte 0x${bytes[bad].toString(16).toUpperCase().padStart(2, "0")} at offset ${bad} (line ${line}, column ${column}) is not part of a UTF-8 character`,
      fix: "save the file as UTF-8 (from Latin-1: iconv -f latin1 -t utf-8 FILE > FILE.new); a zone file is ASCII, and text may hold other octets written \\DDD (\\233 is the octet 0xE9)",
    },
  };
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629), or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let low = 0x80;
    let high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) more = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      more = 2;
      if (c === 0xe0) low = 0xa0;
      if (c === 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3;
      if (c === 0xf0) low = 0x90;
      if (c === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k <= more; k++) {
      const next = b[i + k];
      if (next === undefined || next < (k === 1 ? low : 0x80) || next > (k === 1 ? high : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Tokens: RFC 1035 section 5.1 (comments, quotes, escapes, parentheses over lines).

interface Token {
  /** As written, escapes kept; without the quotes of a quoted string. */
  text: string;
  quoted: boolean;
  line: number;
  /** Index in the file's text of the line the token is on, and of the token's text. */
  lineStart: number;
  at: number;
}

interface Entry {
  line: number;
  /** The entry's first line starts with a blank: the owner is the previous record's. */
  blankOwner: boolean;
  tokens: Token[];
}

/** Column (in characters, from 1) of index `at` on the line starting at `lineStart`. */
function columnOf(text: string, lineStart: number, at: number): number {
  return columns(text)(lineStart, at);
}

/**
 * Columns on the lines of `text`, counted on from the last one asked on the same line: many
 * asked left to right on one long line cost one pass over it, not one each.
 */
function columns(text: string): (lineStart: number, at: number) => number {
  let line = -1;
  let index = 0;
  let column = 1;
  return (lineStart, at) => {
    if (lineStart !== line || at < index) {
      line = lineStart;
      index = lineStart;
      column = 1;
    }
    for (; index < at; index++) {
      const c = text.charCodeAt(index);
      // The low half of a surrogate pair is not a character of its own.
      if (c < 0xdc00 || c > 0xdfff || index === lineStart || text.charCodeAt(index - 1) < 0xd800 || text.charCodeAt(index - 1) > 0xdbff)
        column++;
    }
    return column;
  };
}

function tokenize(text: string, problems: ZoneProblem[]): Entry[] {
  const entries: Entry[] = [];
  const columnOf = columns(text);
  const n = text.length;
  let line = 1;
  let lineStart = 0;
  let entry: Entry | undefined;
  let depth = 0;
  let parenLine = 0;
  let atLineStart = true;
  let i = 0;
  const current = (): Entry => (entry ??= { line, blankOwner: false, tokens: [] });
  const endEntry = () => {
    if (entry && entry.tokens.length > 0) entries.push(entry);
    entry = undefined;
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      line++;
      i++;
      lineStart = i;
      if (depth === 0) {
        endEntry();
        atLineStart = true;
      }
      continue;
    }
    if (atLineStart) {
      atLineStart = false;
      if (c === SPACE || c === TAB) current().blankOwner = true;
    }
    if (c === SPACE || c === TAB || c === CR) {
      i++;
      continue;
    }
    if (c === SEMICOLON) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === LPAREN) {
      if (depth === 0) parenLine = line;
      depth++;
      current();
      i++;
      continue;
    }
    if (c === RPAREN) {
      if (depth === 0) {
        const column = columnOf(lineStart, i);
        problems.push({
          line,
          column,
          message: `a ')' at column ${column} closes no '('`,
          fix: "remove it, or open the parenthesis where the record starts",
        });
      } else depth--;
      i++;
      continue;
    }
    if (c === QUOTE) {
      const start = i + 1;
      let j = start;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === QUOTE || d === LF) break;
        j += d === BACKSLASH && j + 1 < n && text.charCodeAt(j + 1) !== LF ? 2 : 1;
      }
      if (j >= n || text.charCodeAt(j) !== QUOTE) {
        const column = columnOf(lineStart, i);
        problems.push({
          line,
          column,
          message: `a quoted string opened at column ${column} is not closed on its line`,
          fix: 'close it with " (write \\" for a quote inside it), or split a long text into several quoted strings in parentheses',
        });
        // Skip what remains of the line: the record cannot be read.
        i = j;
        entry = undefined;
        depth = 0;
        continue;
      }
      current().tokens.push({ text: text.slice(start, j), quoted: true, line, lineStart, at: start });
      i = j + 1;
      continue;
    }
    const start = i;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === SPACE || d === TAB || d === CR || d === LF || d === SEMICOLON || d === LPAREN || d === RPAREN) break;
      if (d === BACKSLASH && i + 1 < n && text.charCodeAt(i + 1) !== LF) i += 2;
      else if (d === QUOTE && i > start) {
        // A quoted value inside a word (SVCB/HTTPS: alpn="h2,h3") stays part of it, quotes and all.
        let j = i + 1;
        while (j < n) {
          const e = text.charCodeAt(j);
          if (e === QUOTE || e === LF) break;
          j += e === BACKSLASH && j + 1 < n && text.charCodeAt(j + 1) !== LF ? 2 : 1;
        }
        if (j >= n || text.charCodeAt(j) !== QUOTE) break;
        i = j + 1;
      } else if (d === QUOTE) break;
      else i++;
    }
    if (i === start) {
      // A lone backslash before a newline or at the end.
      i++;
      continue;
    }
    current().tokens.push({ text: text.slice(start, i), quoted: false, line, lineStart, at: start });
  }
  if (depth > 0) {
    problems.push({ line: parenLine, message: "a '(' is never closed", fix: "close the parenthesis at the end of the record's data" });
    entry = undefined;
  }
  endEntry();
  return entries;
}

// ---------------------------------------------------------------------------------------
// Escapes and characters.

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * The escape at `index` (a backslash): `\DDD` (three digits, at most 255) or `\X` (X a
 * printable ASCII character other than a digit, space included): how many characters it
 * takes, or what is wrong with it.
 */
function escapeAt(text: string, index: number): { length: number } | { error: string } {
  const next = text.charCodeAt(index + 1);
  if (Number.isNaN(next)) return { error: "a lone backslash at the end" };
  if (isDigit(next)) {
    const digits = text.slice(index + 1, index + 4);
    if (!/^\d{3}$/.test(digits) || Number(digits) > 255) return { error: "a \\DDD escape that is not three digits from 000 to 255" };
    return { length: 4 };
  }
  if (next < SPACE || next >= DEL)
    return { error: "a backslash before a control or non-ASCII character (an escape is \\DDD, or \\ before a printable ASCII character)" };
  return { length: 2 };
}

/** Letters, digits, hyphen, underscore, slash: what Knot takes unescaped in a label. */
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 45 || c === 95 || c === 47;
}

interface Trouble {
  error: string;
  fix: string;
  /** Index in the text given of the trouble. */
  index: number;
}

const IDN_FIX = "write internationalised names in their xn-- (punycode) form, e.g. xn--caf-dma for café (idn2 café prints it)";

/** What is wrong with the character at `index` of a name, without showing more than it. */
function nameCharTrouble(text: string, index: number, column: (index: number) => number): Trouble {
  const code = codeAt(text, index);
  const at = column(index);
  if (code >= 0x80) return { error: `has a non-ASCII character ${codePoint(code)} at column ${at}`, fix: IDN_FIX, index };
  if (code < SPACE || code === DEL)
    return {
      error: `has a control character ${codePoint(code)} at column ${at}`,
      fix: "remove it: a name holds letters, digits, hyphens and underscores between dots",
      index,
    };
  const char = String.fromCharCode(code);
  return {
    error: `has ${codePoint(code)} (${char}) at column ${at}, which a name holds only escaped`,
    fix:
      code === STAR
        ? "a wildcard is * alone as the first label (*.example); elsewhere write \\*"
        : `write it \\${char} if it belongs in the name, or use letters, digits, hyphens and underscores between dots`,
    index,
  };
}

/** Wire length of an absolute name as the kit stores it (escapes as written, already checked). */
function nameOctets(name: string): number {
  if (name === ".") return 1;
  let octets = 1;
  for (let i = 0; i < name.length;) {
    const c = name.charCodeAt(i);
    if (c === BACKSLASH) i += isDigit(name.charCodeAt(i + 1)) ? 4 : 2;
    else i++;
    octets++;
  }
  return octets;
}

/**
 * A name as written (absolute, relative to the origin, or `@`) → fully qualified, lower
 * case, with its wire length; or what is wrong with it (the message never quotes it).
 * `column` turns an index in `written` into the column the member sees.
 */
function scanName(
  written: string,
  origin: string,
  column: (index: number) => number = (i) => i + 1,
): { name: string; octets: number } | Trouble {
  if (written === "@") return { name: origin, octets: nameOctets(origin) };
  if (written === ".") return { name: ".", octets: 1 };
  const n = written.length;
  let octets = 0;
  let label = 0;
  let labelStart = 0;
  let absolute = false;
  for (let i = 0; i < n;) {
    const c = written.charCodeAt(i);
    if (c === DOT) {
      if (label === 0)
        return {
          error: `has an empty label (two dots in a row, or a leading dot) at column ${column(i)}`,
          fix: "remove the extra dot",
          index: i,
        };
      if (label > MAX_LABEL)
        return {
          error: `has a label of ${label} octets at column ${column(labelStart)}, more than the ${MAX_LABEL} a label holds`,
          fix: "shorten the label",
          index: labelStart,
        };
      octets += label + 1;
      label = 0;
      i++;
      labelStart = i;
      if (i === n) absolute = true;
      continue;
    }
    if (c === BACKSLASH) {
      const escape = escapeAt(written, i);
      if ("error" in escape)
        return {
          error: `has ${escape.error} at column ${column(i)}`,
          fix: "write \\DDD with three digits from 000 to 255, or \\ before a printable character",
          index: i,
        };
      label++;
      i += escape.length;
      continue;
    }
    if (isNameChar(c) || (c === STAR && i === 0 && (n === 1 || written.charCodeAt(1) === DOT))) {
      label++;
      i++;
      continue;
    }
    return nameCharTrouble(written, i, column);
  }
  if (!absolute) {
    if (label > MAX_LABEL)
      return {
        error: `has a label of ${label} octets at column ${column(labelStart)}, more than the ${MAX_LABEL} a label holds`,
        fix: "shorten the label",
        index: labelStart,
      };
    octets += label + 1 + nameOctets(origin);
  } else octets += 1;
  if (octets > MAX_NAME) {
    return {
      error: `is ${octets} octets long${absolute ? "" : " with the zone's name appended"}, more than the ${MAX_NAME} a name holds`,
      fix: "shorten the name",
      index: 0,
    };
  }
  const name = (absolute ? written : origin === "." ? `${written}.` : `${written}.${origin}`).toLowerCase();
  return { name, octets };
}

/**
 * A name as written (absolute, relative to the origin, or `@`) → fully qualified, lower
 * case; or the reason it is not a name (which never quotes it).
 */
export function absoluteName(written: string, origin: string): { name: string } | { error: string } {
  const scanned = scanName(written, origin);
  return "name" in scanned ? { name: scanned.name } : { error: scanned.error };
}

/** Splits a name on dots that are not escaped. */
function labelsOf(name: string): string[] {
  const labels: string[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === DOT) {
      labels.push(name.slice(start, i));
      start = i + 1;
    }
  }
  labels.push(name.slice(start));
  return labels;
}

/** The parent of a fully qualified name (`a\.b.example.` → `example.`); undefined for the root. */
export function parentName(name: string): string | undefined {
  if (name === ".") return undefined;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === DOT) return i === name.length - 1 ? "." : name.slice(i + 1);
  }
  return undefined;
}

/** True when name is the zone or lies below it. */
export function nameWithin(name: string, zone: string): boolean {
  if (zone === ".") return true;
  if (name === zone) return true;
  if (!name.endsWith(`.${zone}`)) return false;
  // The dot before the zone must not be escaped.
  const head = name.slice(0, name.length - zone.length - 1);
  return (/(\\*)$/.exec(head)?.[1].length ?? 0) % 2 === 0;
}

// ---------------------------------------------------------------------------------------
// TTLs: seconds, or BIND's units (1w2d3h4m5s).

function parseTtl(text: string): number | undefined {
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (/^(\d+[wdhms])+$/i.test(text)) {
    const unit: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
    seconds = [...text.toLowerCase().matchAll(/(\d+)([wdhms])/g)].reduce((sum, m) => sum + Number(m[1]) * unit[m[2]], 0);
  } else return undefined;
  return seconds <= MAX_TTL ? seconds : Number.NaN;
}

function typeOf(token: string): { type: string; number: number } | undefined {
  const upper = token.toUpperCase();
  if (upper in RECORD_TYPES) return { type: upper, number: RECORD_TYPES[upper] };
  if (upper in META_MNEMONICS) return { type: upper, number: META_MNEMONICS[upper] };
  const generic = /^TYPE(\d{1,5})$/.exec(upper);
  if (!generic || Number(generic[1]) > 65535) return undefined;
  const number = Number(generic[1]);
  return { type: TYPE_BY_NUMBER.get(number) ?? `TYPE${number}`, number };
}

// ---------------------------------------------------------------------------------------
// Rdata: the cheap checks, and names made absolute so the record reads the same under any $ORIGIN.

/**
 * name, u8, u16, ipv4, ipv6: what they say; string: one character-string (at most 255
 * octets); text: the rest of the data as one string (CAA's value, URI's target); hex: the
 * rest as hexadecimal octets; strings: one or more character-strings (TXT, SPF; one longer
 * than 255 octets is cut into strings of 255, as Knot does: cutString); rest: one or
 * more tokens of anything (Knot's own check reads them).
 */
type Field = "name" | "u8" | "u16" | "ipv4" | "ipv6" | "string" | "text" | "hex" | "strings" | "rest";

/** Leading fields each type must have. */
const LAYOUT: Readonly<Record<string, readonly Field[]>> = {
  A: ["ipv4"],
  AAAA: ["ipv6"],
  NS: ["name"],
  CNAME: ["name"],
  DNAME: ["name"],
  PTR: ["name"],
  MX: ["u16", "name"],
  KX: ["u16", "name"],
  RT: ["u16", "name"],
  AFSDB: ["u16", "name"],
  LP: ["u16", "name"],
  SRV: ["u16", "u16", "u16", "name"],
  RP: ["name", "name"],
  MINFO: ["name", "name"],
  NAPTR: ["u16", "u16", "string", "string", "string", "name"],
  SVCB: ["u16", "name"],
  HTTPS: ["u16", "name"],
  TXT: ["strings"],
  SPF: ["strings"],
  HINFO: ["string", "string"],
  CAA: ["u8", "string", "text"],
  URI: ["u16", "u16", "text"],
  SSHFP: ["u8", "u8", "hex"],
  TLSA: ["u8", "u8", "u8", "hex"],
  SMIMEA: ["u8", "u8", "u8", "hex"],
  DS: ["u16", "u8", "u8", "hex"],
  CDS: ["u16", "u8", "u8", "hex"],
  DNSKEY: ["u16", "u8", "u8", "rest"],
  CDNSKEY: ["u16", "u8", "u8", "rest"],
};
/** Types whose data ends after their layout (more tokens are an error). */
const EXACT = new Set([
  "A",
  "AAAA",
  "NS",
  "CNAME",
  "DNAME",
  "PTR",
  "MX",
  "KX",
  "RT",
  "AFSDB",
  "LP",
  "SRV",
  "RP",
  "MINFO",
  "NAPTR",
  "HINFO",
  "CAA",
  "URI",
]);

/**
 * One data token as the rendered file holds it (non-ASCII characters as the `\DDD` escapes
 * of their UTF-8 octets, a tab in quotes as `\009`), with its length in octets once escapes
 * are decoded; or what is wrong with it: a bad escape, a raw control character, a quote
 * inside an unquoted character-string.
 */
function dataToken(token: Token, characterString: boolean, column: (index: number) => number): { text: string; octets: number } | Trouble {
  const text = token.text;
  let out: string | undefined;
  let copied = 0;
  let octets = 0;
  const replace = (from: number, to: number, by: string) => {
    out = (out ?? "") + text.slice(copied, from) + by;
    copied = to;
  };
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) {
      const escape = escapeAt(text, i);
      if ("error" in escape)
        return {
          error: `holds ${escape.error} at column ${column(i)}`,
          fix: "write \\DDD with three digits from 000 to 255 (the octet's value), or \\ before a printable character",
          index: i,
        };
      octets++;
      i += escape.length;
    } else if (c === TAB && token.quoted) {
      replace(i, i + 1, "\\009");
      octets++;
      i++;
    } else if (c < SPACE || c === DEL) {
      return {
        error: `holds a control character ${codePoint(c)} at column ${column(i)}`,
        fix: `remove it, or write it \\${String(c).padStart(3, "0")} if it belongs in the data`,
        index: i,
      };
    } else if (c === QUOTE && characterString && !token.quoted) {
      return {
        error: `has a double quote inside an unquoted string at column ${column(i)}`,
        fix: 'quote the whole string, and write \\" for a quote inside it',
        index: i,
      };
    } else if (c >= 0x80) {
      const code = codeAt(text, i);
      const width = code > 0xffff ? 2 : 1;
      replace(i, i + width, decimalEscapes(code));
      octets += octetsOfCodePoint(code);
      i += width;
    } else {
      octets++;
      i++;
    }
  }
  const kept = out === undefined ? text : out + text.slice(copied);
  return { text: token.quoted ? `"${kept}"` : kept, octets };
}

/**
 * A character-string of more than 255 octets (as dataToken renders it: printable ASCII and
 * escapes), cut into quoted strings of 255 octets, the last shorter: where Knot cuts it when
 * it reads the string whole, so the record is the same either way. An escape is one octet
 * and never cut; an unquoted string holds no raw blank, quote, parenthesis or semicolon,
 * so in quotes it reads the same.
 */
function cutString(text: string, quoted: boolean): string {
  const body = quoted ? text.slice(1, -1) : text;
  const parts: string[] = [];
  let start = 0;
  let octets = 0;
  for (let i = 0; i < body.length;) {
    if (octets === MAX_STRING) {
      parts.push(`"${body.slice(start, i)}"`);
      start = i;
      octets = 0;
    }
    i += body.charCodeAt(i) === BACKSLASH ? (isDigit(body.charCodeAt(i + 1)) ? 4 : 2) : 1;
    octets++;
  }
  parts.push(`"${body.slice(start)}"`);
  return parts.join(" ");
}

type RdataResult = { rdata: string } | { error: string; fix: string; token?: Token; index?: number };

function parseRdata(type: string, tokens: Token[], origin: string, column: (token: Token, index: number) => number): RdataResult {
  const example = `see the ${type} format, e.g. ${EXAMPLES[type] ?? "its usual presentation form (RFC of the type)"}`;
  if (tokens.length === 0) return { error: `${type} record has no data`, fix: `write the ${type} data after the type; ${example}` };
  const at = (token: Token) => (index: number) => column(token, index);
  // RFC 3597: \# <length> <hex>, for any type.
  if (!tokens[0].quoted && tokens[0].text === "\\#") {
    const lengthText = tokens[1]?.text ?? "";
    const length = /^\d{1,5}$/.test(lengthText) ? Number(lengthText) : Number.NaN;
    const hex = tokens
      .slice(2)
      .map((t) => t.text)
      .join("");
    if (Number.isNaN(length) || tokens.slice(1).some((t) => t.quoted))
      return {
        error: `generic data (\\#) needs its length in octets, then the octets in hexadecimal`,
        fix: "write \\# <octets> <hex digits>, twice as many digits as octets (RFC 3597)",
        token: tokens[1] ?? tokens[0],
        index: 0,
      };
    if (length > MAX_RDATA)
      return {
        error: `generic data (\\#) of ${length} octets: more than the ${MAX_RDATA} a record holds`,
        fix: "split the data over several records, or shorten it",
        token: tokens[1],
        index: 0,
      };
    if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== length * 2) {
      return {
        error: `generic data (\\#) does not match its length: ${length} octets need ${length * 2} hexadecimal digits`,
        fix: "write \\# <octets> <hex digits>, twice as many digits as octets (RFC 3597)",
        token: tokens[1],
        index: 0,
      };
    }
    return { rdata: tokens.map((t) => t.text).join(" ") };
  }
  const layout = LAYOUT[type];
  const out: string[] = [];
  let octets = 0;
  const tooLong = (): RdataResult => ({
    error: `${type} data is ${octets} octets, more than the ${MAX_RDATA} a record holds`,
    fix:
      type === "TXT" || type === "SPF"
        ? "split the text over several TXT records at the name (each a record of its own), or shorten it"
        : "shorten the data",
  });
  if (!layout) {
    for (const t of tokens) {
      const data = dataToken(t, false, at(t));
      if ("error" in data) return { error: `${type} data ${data.error}`, fix: data.fix, token: t, index: data.index };
      out.push(data.text);
    }
    return { rdata: out.join(" ") };
  }
  for (const [position, field] of layout.entries()) {
    const number = position + 1;
    if (field === "strings" || field === "rest") {
      if (position >= tokens.length) return { error: `${type} record lacks data`, fix: example };
      const strings: { text: string; quoted: boolean; octets: number }[] = [];
      for (const t of tokens.slice(position)) {
        const data = dataToken(t, field === "strings", at(t));
        if ("error" in data) return { error: `${type} data ${data.error}`, fix: data.fix, token: t, index: data.index };
        // A string of more than 255 octets is cut into strings of 255 (Knot does the same):
        // one length octet for each.
        if (field === "strings") octets += data.octets + Math.max(1, Math.ceil(data.octets / MAX_STRING));
        strings.push({ text: data.text, quoted: t.quoted, octets: data.octets });
      }
      // Counted first, cut after: a string far too long costs no cutting.
      if (octets > MAX_RDATA) return tooLong();
      for (const string of strings)
        out.push(field === "strings" && string.octets > MAX_STRING ? cutString(string.text, string.quoted) : string.text);
      return { rdata: out.join(" ") };
    }
    const token = tokens[position];
    if (!token) return { error: `${type} record lacks data: ${layout.length} field(s) expected, ${tokens.length} given`, fix: example };
    const t = token.text;
    const where = `field ${number} (column ${column(token, 0)})`;
    switch (field) {
      case "u8":
      case "u16": {
        const max = field === "u8" ? 255 : 65535;
        if (token.quoted || !/^\d{1,5}$/.test(t) || Number(t) > max)
          return { error: `${type} data ${where} is not a number from 0 to ${max}`, fix: example, token, index: 0 };
        out.push(String(Number(t)));
        octets += field === "u8" ? 1 : 2;
        break;
      }
      case "ipv4":
      case "ipv6":
        if (token.quoted || isIP(t) !== (field === "ipv4" ? 4 : 6))
          return { error: `${type} data ${where} is not an ${field === "ipv4" ? "IPv4" : "IPv6"} address`, fix: example, token, index: 0 };
        out.push(t.toLowerCase());
        octets += field === "ipv4" ? 4 : 16;
        break;
      case "name": {
        if (token.quoted) return { error: `${type} data ${where} must be a name, not a quoted string`, fix: example, token, index: 0 };
        const name = scanName(t, origin, at(token));
        if ("error" in name)
          return { error: `${type} data field ${number}: the name ${name.error}`, fix: name.fix, token, index: name.index };
        out.push(name.name);
        octets += name.octets;
        break;
      }
      case "string":
      case "text": {
        const data = dataToken(token, field === "string", at(token));
        if ("error" in data) return { error: `${type} data ${where} ${data.error}`, fix: data.fix, token, index: data.index };
        if (field === "string" && data.octets > MAX_STRING)
          return {
            error: `${type} data ${where} is a string of ${data.octets} octets, more than the ${MAX_STRING} a string holds`,
            fix: `shorten it to ${MAX_STRING} octets (an ASCII character or a \\DDD escape is one, another character its UTF-8 octets)`,
            token,
            index: 0,
          };
        out.push(data.text);
        octets += data.octets + (field === "string" ? 1 : 0);
        break;
      }
      case "hex": {
        const rest = tokens.slice(position);
        const hex = rest.map((x) => x.text).join("");
        if (rest.some((x) => x.quoted) || !/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0) {
          return {
            error: `${type} data from ${where} is not hexadecimal octets (an even number of digits 0-9, a-f)`,
            fix: example,
            token,
            index: 0,
          };
        }
        octets += hex.length / 2;
        if (octets > MAX_RDATA) return tooLong();
        out.push(hex.toLowerCase());
        return { rdata: out.join(" ") };
      }
    }
  }
  const rest = tokens.slice(layout.length);
  if (rest.length > 0 && EXACT.has(type)) {
    return {
      error: `${type} record has more data than it holds: ${rest.length} field(s) too many, from column ${column(rest[0], 0)}`,
      fix: example,
      token: rest[0],
      index: 0,
    };
  }
  if (octets > MAX_RDATA) return tooLong();
  for (const t of rest) {
    const data = dataToken(t, false, at(t));
    if ("error" in data) return { error: `${type} data ${data.error}`, fix: data.fix, token: t, index: data.index };
    out.push(data.text);
  }
  return { rdata: out.join(" ") };
}

const EXAMPLES: Record<string, string> = {
  A: "www A 203.0.113.80",
  AAAA: "www AAAA 2001:db8::80",
  NS: "sub NS ns1.example.net.",
  CNAME: "blog CNAME www",
  MX: "@ MX 10 mail",
  SRV: "_imaps._tcp SRV 0 1 993 mail",
  TXT: '@ TXT "v=spf1 mx -all"',
  CAA: '@ CAA 0 issue "letsencrypt.org"',
  TLSA: "_443._tcp.www TLSA 3 1 1 <sha-256 hex>",
  SSHFP: "host SSHFP 4 2 <sha-256 hex>",
  DS: "sub DS 12345 13 2 <sha-256 hex>",
  HTTPS: '@ HTTPS 1 . alpn="h2,h3"',
};

// ---------------------------------------------------------------------------------------
// The file.

export interface ParseOptions {
  /** The zone's name, fully qualified: the initial $ORIGIN. */
  origin: string;
}

/**
 * U+FFFD (what a lenient decoder puts for bytes that are not UTF-8) and lone surrogates:
 * refused, never passed on as if the member had written them. One problem, at the first.
 */
function undecodable(text: string): ZoneProblem | undefined {
  const replaced = text.indexOf("\uFFFD");
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
  const at = replaced < 0 ? lone?.index : lone === null ? replaced : Math.min(replaced, lone.index);
  if (at === undefined) return undefined;
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  const column = columnOf(text, lineStart, at);
  const what =
    text.charCodeAt(at) === 0xfffd
      ? "U+FFFD, the replacement character (what a reader puts for bytes that are not UTF-8)"
      : `a lone surrogate ${codePoint(text.charCodeAt(at))}`;
  return {
    line,
    column,
    message: `holds ${what} at column ${column}: the file was not valid UTF-8`,
    fix: "save the file as UTF-8 (from Latin-1: iconv -f latin1 -t utf-8 FILE > FILE.new); text may hold other octets written \\DDD (\\233 is the octet 0xE9)",
  };
}

/** Parses master-file text into records; every problem names its line (and column), never its text. */
export function parseZoneFile(text: string, options: ParseOptions): ParsedZoneFile {
  const problems: ZoneProblem[] = [];
  const records: ZoneRecord[] = [];
  // A byte order mark (some editors write one): not part of the zone, and never rendered.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const notDecoded = undecodable(text);
  if (notDecoded) problems.push(notDecoded);
  let origin = options.origin.toLowerCase();
  let defaultTtl: number | undefined;
  let previousOwner: string | undefined;
  const columnAt = columns(text);
  const column = (token: Token, index: number) => columnAt(token.lineStart, token.at + index);
  for (const entry of tokenize(text, problems)) {
    const { line, tokens } = entry;
    const refuse = (message: string, fix: string, token?: Token, index = 0) =>
      problems.push({ line: token?.line ?? line, ...(token ? { column: column(token, index) } : {}), message, fix });
    const first = tokens[0];
    if (!entry.blankOwner && !first.quoted && first.text.startsWith("$")) {
      const directive = first.text.toUpperCase();
      if (directive === "$ORIGIN") {
        if (tokens.length !== 2 || tokens[1].quoted)
          refuse("$ORIGIN takes one name", "write $ORIGIN followed by one absolute name, e.g. $ORIGIN coop-a.example.", first);
        else {
          const name = scanName(tokens[1].text, origin, (i) => column(tokens[1], i));
          if ("error" in name) refuse(`$ORIGIN: the name ${name.error}`, name.fix, tokens[1], name.index);
          else origin = name.name;
        }
      } else if (directive === "$TTL") {
        const ttl = tokens.length === 2 && !tokens[1].quoted ? parseTtl(tokens[1].text) : undefined;
        if (ttl === undefined || Number.isNaN(ttl))
          refuse(
            "$TTL is not followed by one TTL",
            "write $TTL followed by seconds (3600) or units (1h), at most 2147483647 s",
            tokens[1] ?? first,
          );
        else defaultTtl = ttl;
      } else if (directive === "$INCLUDE") {
        refuse(
          "$INCLUDE is refused: the kit reads one file per zone, and an included file would not reach the node",
          "paste the included file's records in place of the $INCLUDE line",
          first,
        );
      } else if (directive === "$GENERATE") {
        refuse("$GENERATE is BIND's, not the master-file format", "expand it into plain records; $ORIGIN and $TTL are understood", first);
      } else {
        refuse(
          "unknown directive (a word starting with $ at the start of the line)",
          "expand it into plain records; $ORIGIN and $TTL are understood",
          first,
        );
      }
      continue;
    }
    let rest = tokens;
    let owner: string;
    if (entry.blankOwner) {
      if (previousOwner === undefined) {
        refuse(
          "the first record has no owner name (its line starts with a blank)",
          "write the owner name (or @ for the zone itself) at the very start of the line",
        );
        continue;
      }
      owner = previousOwner;
    } else {
      if (first.quoted) {
        refuse("a record cannot start with a quoted string", "start the line with the owner name, or @", first);
        continue;
      }
      const name = scanName(first.text, origin, (i) => column(first, i));
      if ("error" in name) {
        refuse(`owner name ${name.error}`, name.fix, first, name.index);
        continue;
      }
      owner = previousOwner = name.name;
      rest = tokens.slice(1);
    }
    let ttl: number | undefined;
    let klass: string | undefined;
    let badTtl: Token | undefined;
    let classToken: Token | undefined;
    let next = 0;
    while (next < rest.length && !rest[next].quoted) {
      const word = rest[next].text.toUpperCase();
      if (klass === undefined && (CLASSES.has(word) || /^CLASS\d{1,5}$/.test(word))) {
        klass = word;
        classToken = rest[next];
      } else if (ttl === undefined && badTtl === undefined && parseTtl(word) !== undefined) {
        ttl = parseTtl(word);
        if (Number.isNaN(ttl)) badTtl = rest[next];
      } else break;
      next++;
    }
    rest = rest.slice(next);
    if (badTtl) {
      refuse("the TTL is above 2147483647 seconds", "use a TTL of at most 2147483647 s (a day, 86400, is usual)", badTtl);
      continue;
    }
    if (klass !== undefined && klass !== "IN") {
      refuse(`class ${klass} is not served: the kit serves class IN only`, "remove the record, or write IN", classToken);
      continue;
    }
    if (rest.length === 0) {
      refuse("no record type", "write the type after the owner, TTL and class, e.g. www 3600 IN A 203.0.113.80");
      continue;
    }
    const typeToken = rest[0].text.toUpperCase();
    const type = rest[0].quoted ? undefined : typeOf(typeToken);
    if (!type) {
      const known = !rest[0].quoted && TYPES_KNOT_LACKS.has(typeToken);
      refuse(
        known
          ? `record type ${typeToken} is not one Knot serves`
          : `the word at column ${column(rest[0], 0)} is not a record type (after the owner, TTL and class comes the type)`,
        `use a type Knot knows (${Object.keys(RECORD_TYPES).join(", ")}) or TYPEnnn with \\# data (RFC 3597)`,
        rest[0],
      );
      continue;
    }
    if (META_TYPES.has(type.number)) {
      refuse(`${type.type} is a query type, not data a zone holds`, "remove the record", rest[0]);
      continue;
    }
    const rdata = parseRdata(type.type, rest.slice(1), origin, column);
    if ("error" in rdata) {
      refuse(rdata.error, rdata.fix, rdata.token, rdata.index);
      continue;
    }
    records.push({ line, owner, ttl: ttl ?? defaultTtl, type: type.type, typeToken, rdata: rdata.rdata });
  }
  return { records, problems: problems.sort((a, b) => a.line - b.line) };
}

/** One record as the kit writes it into the zone: absolute owner, tab separated, one line. */
export function formatRecord(record: ZoneRecord): string {
  return [record.owner, ...(record.ttl === undefined ? [] : [String(record.ttl)]), record.typeToken, record.rdata].join("\t");
}

// ---------------------------------------------------------------------------------------
// The zone: what the kit owns in it.

export interface ZoneOwnership {
  /** The zone, fully qualified. */
  zone: string;
  /** The node serving it as primary: the kit publishes the node's mesh addresses at <node>.<zone>. */
  node: string;
}

/** Types that exist only as Knot's signing output. */
const SIGNER_OUTPUT = new Set(["RRSIG", "NSEC", "NSEC3"]);
/** Types Knot keeps at the apex of a signed zone. */
const SIGNER_APEX = new Set(["DNSKEY", "CDS", "CDNSKEY", "NSEC3PARAM", "ZONEMD"]);

/**
 * Names the kit writes in every member zone: `ns-<node>` (the glue of each node of the
 * federation, present and future, so the whole `ns-` prefix is kept) and `<node>` (this
 * node's mesh addresses).
 */
export function kitOwnsName(name: string, ownership: ZoneOwnership): boolean {
  if (!nameWithin(name, ownership.zone) || name === ownership.zone) return false;
  const relative = labelsOf(name.slice(0, name.length - ownership.zone.length - 1));
  return relative.length === 1 && (relative[0].startsWith("ns-") || relative[0] === ownership.node);
}

/**
 * Refuses what the member may not write in the zone; every problem names its record's line.
 * Linear in the records: one pass to refuse, one to group by owner and by owner and type.
 * `at(line)` words a reference to another record ("on line 3" by default).
 */
export function checkMemberRecords(
  records: ZoneRecord[],
  ownership: ZoneOwnership,
  at: (line: number) => string = (line) => `on line ${line}`,
): ZoneProblem[] {
  const problems: ZoneProblem[] = [];
  const zone = ownership.zone;
  const kept: ZoneRecord[] = [];
  for (const r of records) {
    const refuse = (message: string, fix: string) => problems.push({ line: r.line, message, fix });
    const apex = r.owner === zone;
    if (!nameWithin(r.owner, zone))
      refuse(
        `${escapeShort(r.owner)} is outside zone ${zone}`,
        `write names relative to the zone (www), or absolute ending in .${zone}; another zone's records go in that zone's own file`,
      );
    else if (r.type === "SOA")
      refuse(
        "the kit writes the zone's SOA (serial, timers and name servers): a member's SOA is refused",
        "remove the SOA record from the file",
      );
    else if (r.type === "NS" && apex)
      refuse(
        `the kit writes the NS records of ${zone} (every node of the federation): a member's apex NS is refused`,
        "remove the apex NS records; an NS below the apex (a delegation to a subzone) is fine",
      );
    else if (SIGNER_OUTPUT.has(r.type))
      refuse(
        `${r.type} is made by the signer: Knot signs the zone itself`,
        "export the zone unsigned from your previous host, or remove its RRSIG/NSEC/NSEC3 records",
      );
    else if (apex && SIGNER_APEX.has(r.type))
      refuse(
        `Knot manages the zone's ${r.type} at the apex (its keys and their CDS/CDNSKEY)`,
        "remove the record: the zone's keys are born on the node",
      );
    else if (apex && r.type === "DS")
      refuse(
        `a DS for ${zone} belongs in the parent zone, not in the zone itself`,
        "remove it; give the DS records the stack outputs to your registrar",
      );
    else if (apex && r.type === "CNAME")
      refuse(
        `a CNAME at the apex of ${zone} is refused: the apex holds the SOA and NS`,
        "use A/AAAA records at the apex (or HTTPS/SVCB with a target), and a CNAME only for names below it",
      );
    else if (apex && r.type === "DNAME")
      refuse(
        `a DNAME at the apex of ${zone} would send all of the zone's names elsewhere`,
        "remove it, or write it at a name below the apex",
      );
    else if (kitOwnsName(r.owner, ownership)) {
      refuse(
        `${escapeShort(r.owner)} is the kit's: it writes the name servers' glue at ns-<node> names and node ${ownership.node}'s mesh addresses at ${ownership.node}.${zone}`,
        "rename the record (names starting with ns- directly under the zone are kept for the federation's name servers)",
      );
    } else kept.push(r);
  }
  // Per owner: its first record (by line) and whether it holds a CNAME; per owner and type:
  // the first record, whose TTL the others must share.
  const byOwner = new Map<string, { first: ZoneRecord; count: number; cname: boolean }>();
  const rrsets = new Map<string, ZoneRecord>();
  for (const r of kept) {
    const seen = byOwner.get(r.owner);
    if (!seen) byOwner.set(r.owner, { first: r, count: 1, cname: r.type === "CNAME" });
    else {
      seen.count++;
      if (r.type === "CNAME") seen.cname = true;
      if (r.line < seen.first.line) seen.first = r;
    }
    const key = `${r.type} ${r.owner}`;
    const first = rrsets.get(key);
    if (!first || r.line < first.line) rrsets.set(key, r);
  }
  for (const r of kept) {
    // CNAME: alone at its name (RFC 1034 3.6.2; DNSSEC's own records aside, which the signer adds).
    const group = byOwner.get(r.owner)!;
    if (group.cname && group.count > 1 && r !== group.first) {
      const first = group.first;
      problems.push({
        line: r.line,
        message: `${escapeShort(r.owner)} has ${r.type === first.type ? `two ${r.type} records` : `${first.type} and ${r.type} records`}: a CNAME must be alone at its name (the first ${at(first.line)})`,
        fix: "keep either the CNAME or the other records at that name (an alias has no data of its own)",
      });
    }
    // One TTL per RRset (RFC 2181 5.2): Knot would keep one of them without a word.
    const first = rrsets.get(`${r.type} ${r.owner}`)!;
    if (r !== first && r.ttl !== first.ttl) {
      problems.push({
        line: r.line,
        message: `${escapeShort(r.owner)} ${r.type} has TTL ${r.ttl ?? "(default)"} here and ${first.ttl ?? "(default)"} ${at(first.line)}: the records of one name and type share one TTL`,
        fix: "give every record of that name and type the same TTL",
      });
    }
  }
  return problems.sort((a, b) => a.line - b.line);
}
