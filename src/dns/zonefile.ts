// A member's own records: an RFC 1035 master file (as exported from a DNS host) or a few
// lines of the stack config, parsed into records with their line numbers, then checked
// against what the kit owns in the zone. Pure: text in, records and problems out.
//
// Written here rather than taken from npm: dns-zonefile (the one maintained parser) finds
// records by regular expressions per type, drops the types it does not know (TLSA, SSHFP,
// HTTPS…) without a word, cuts a TXT at its first ';' even inside quotes (every DKIM key
// has one), and keeps no line numbers, which every refusal here must name.
import { isIP } from "node:net";

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
  /** Data fields joined by one space; names in them made absolute. */
  rdata: string;
}

export interface ZoneProblem {
  line: number;
  message: string;
  fix: string;
}

export interface ParsedZoneFile {
  records: ZoneRecord[];
  problems: ZoneProblem[];
}

/** Record types by mnemonic → number (those Knot's zone scanner knows). */
export const RECORD_TYPES: Readonly<Record<string, number>> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MINFO: 14, MX: 15, TXT: 16, RP: 17, AFSDB: 18, RT: 21,
  KEY: 25, AAAA: 28, LOC: 29, SRV: 33, NAPTR: 35, KX: 36, CERT: 37, DNAME: 39, APL: 42, DS: 43, SSHFP: 44,
  IPSECKEY: 45, RRSIG: 46, NSEC: 47, DNSKEY: 48, DHCID: 49, NSEC3: 50, NSEC3PARAM: 51, TLSA: 52, SMIMEA: 53,
  CDS: 59, CDNSKEY: 60, OPENPGPKEY: 61, CSYNC: 62, ZONEMD: 63, SVCB: 64, HTTPS: 65, SPF: 99, NID: 104, L32: 105,
  L64: 106, LP: 107, EUI48: 108, EUI64: 109, URI: 256, CAA: 257,
};
const TYPE_BY_NUMBER = new Map(Object.entries(RECORD_TYPES).map(([name, n]) => [n, name]));
/** Query-only types (RFC 6895): never data in a zone. */
const META_TYPES = new Set([0, 41, 128, 249, 250, 251, 252, 253, 254, 255]);
const META_MNEMONICS: Readonly<Record<string, number>> = { OPT: 41, TKEY: 249, TSIG: 250, IXFR: 251, AXFR: 252, MAILB: 253, MAILA: 254, ANY: 255 };

const CLASSES = new Set(["IN", "CH", "HS", "CS"]);
const MAX_TTL = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------
// Tokens: RFC 1035 section 5.1 (comments, quotes, escapes, parentheses over lines).

interface Token {
  /** As written, escapes kept; without the quotes of a quoted string. */
  text: string;
  quoted: boolean;
}

interface Entry {
  line: number;
  /** The entry's first line starts with a blank: the owner is the previous record's. */
  blankOwner: boolean;
  tokens: Token[];
}

function tokenize(text: string, problems: ZoneProblem[]): Entry[] {
  const entries: Entry[] = [];
  let line = 1;
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
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
      if (depth === 0) {
        endEntry();
        atLineStart = true;
      }
      continue;
    }
    if (atLineStart) {
      atLineStart = false;
      if (c === " " || c === "\t") current().blankOwner = true;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === ";") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "(") {
      if (depth === 0) parenLine = line;
      depth++;
      current();
      i++;
      continue;
    }
    if (c === ")") {
      if (depth === 0) {
        problems.push({ line, message: "a ')' closes no '('", fix: "remove it, or open the parenthesis where the record starts" });
      } else depth--;
      i++;
      continue;
    }
    if (c === '"') {
      const start = line;
      let value = "";
      i++;
      while (i < text.length && text[i] !== '"' && text[i] !== "\n") {
        if (text[i] === "\\" && i + 1 < text.length) {
          if (text[i + 1] === "\n") line++;
          value += text.slice(i, i + 2);
          i += 2;
        } else value += text[i++];
      }
      if (text[i] !== '"') {
        problems.push({ line: start, message: "a quoted string is not closed on its line", fix: 'close it with " (write \\" for a quote inside it), or split a long text into several quoted strings in parentheses' });
        // Skip what remains of the line: the record cannot be read.
        entry = undefined;
        depth = 0;
        continue;
      }
      i++;
      current().tokens.push({ text: value, quoted: true });
      continue;
    }
    let word = "";
    while (i < text.length && !" \t\r\n;()".includes(text[i])) {
      if (text[i] === "\\" && i + 1 < text.length && text[i + 1] !== "\n") {
        word += text.slice(i, i + 2);
        i += 2;
      } else if (text[i] === '"') {
        // A quoted value inside a word (SVCB/HTTPS: alpn="h2,h3") stays part of it, quotes and all.
        const close = /^"(?:[^"\\\n]|\\.)*"/.exec(text.slice(i));
        if (!close) break;
        word += close[0];
        i += close[0].length;
      } else word += text[i++];
    }
    if (word === "") {
      // A lone backslash before a newline or at the end.
      i++;
      continue;
    }
    current().tokens.push({ text: word, quoted: false });
  }
  if (depth > 0) {
    problems.push({ line: parenLine, message: "a '(' is never closed", fix: "close the parenthesis at the end of the record's data" });
    entry = undefined;
  }
  endEntry();
  return entries;
}

// ---------------------------------------------------------------------------------------
// Names.

/** Splits a name on dots that are not escaped. */
function labelsOf(name: string): string[] {
  const labels: string[] = [];
  let label = "";
  for (let i = 0; i < name.length; i++) {
    if (name[i] === "\\" && i + 1 < name.length) {
      label += name.slice(i, i + 2);
      i++;
    } else if (name[i] === ".") {
      labels.push(label);
      label = "";
    } else label += name[i];
  }
  labels.push(label);
  return labels;
}

/** Wire length of a label written with escapes (`\DDD` and `\X` are one octet each). */
function labelLength(label: string): number {
  let n = 0;
  for (let i = 0; i < label.length; n++) {
    if (label[i] === "\\") i += /^\d{3}/.test(label.slice(i + 1, i + 4)) ? 4 : 2;
    else {
      const char = String.fromCodePoint(label.codePointAt(i)!);
      n += Buffer.byteLength(char) - 1;
      i += char.length;
    }
  }
  return n;
}

function isAbsolute(name: string): boolean {
  const trailing = /(\\*)\.$/.exec(name);
  return trailing !== null && trailing[1].length % 2 === 0;
}

/**
 * A name as written (absolute, relative to the origin, or `@`) → fully qualified, lower
 * case; or the reason it is not a name.
 */
export function absoluteName(written: string, origin: string): { name: string } | { error: string } {
  if (written === "@") return { name: origin };
  const name = (isAbsolute(written) ? written : origin === "." ? `${written}.` : `${written}.${origin}`).toLowerCase();
  if (name === ".") return { name };
  const labels = labelsOf(name.slice(0, -1));
  if (labels.some((l) => l === "")) return { error: `"${written}" has an empty label (two dots in a row, or a leading dot)` };
  for (const [index, label] of labels.entries()) {
    if (label === "*" && index === 0) continue;
    if (labelLength(label) > 63) return { error: `"${written}" has a label longer than 63 octets` };
    const plain = label.replace(/\\(\d{3}|.)/g, "");
    const bad = /[^a-z0-9_\-/]/.exec(plain);
    if (bad) return { error: `"${written}" holds "${bad[0]}", which a name may hold only escaped (\\${bad[0]}); an international name is written in its xn-- form` };
  }
  if (labels.reduce((n, l) => n + labelLength(l) + 1, 1) > 255) return { error: `"${written}" is longer than 255 octets` };
  return { name };
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

type Field = "name" | "u8" | "u16" | "ipv4" | "ipv6" | "string" | "hex" | "rest";

/** Leading fields each type must have; "rest" takes one or more tokens of anything. */
const LAYOUT: Readonly<Record<string, readonly Field[]>> = {
  A: ["ipv4"], AAAA: ["ipv6"], NS: ["name"], CNAME: ["name"], DNAME: ["name"], PTR: ["name"],
  MX: ["u16", "name"], KX: ["u16", "name"], RT: ["u16", "name"], AFSDB: ["u16", "name"], LP: ["u16", "name"],
  SRV: ["u16", "u16", "u16", "name"], RP: ["name", "name"], MINFO: ["name", "name"],
  NAPTR: ["u16", "u16", "string", "string", "string", "name"],
  SVCB: ["u16", "name"], HTTPS: ["u16", "name"],
  TXT: ["rest"], SPF: ["rest"], HINFO: ["string", "string"],
  CAA: ["u8", "string", "string"], URI: ["u16", "u16", "string"],
  SSHFP: ["u8", "u8", "hex"], TLSA: ["u8", "u8", "u8", "hex"], SMIMEA: ["u8", "u8", "u8", "hex"],
  DS: ["u16", "u8", "u8", "hex"], CDS: ["u16", "u8", "u8", "hex"],
  DNSKEY: ["u16", "u8", "u8", "rest"], CDNSKEY: ["u16", "u8", "u8", "rest"],
};
/** Types whose data ends after their layout (more tokens are an error). */
const EXACT = new Set(["A", "AAAA", "NS", "CNAME", "DNAME", "PTR", "MX", "KX", "RT", "AFSDB", "LP", "SRV", "RP", "MINFO", "NAPTR", "HINFO", "CAA", "URI"]);

function rdataText(token: Token): string {
  return token.quoted ? `"${token.text}"` : token.text;
}

/** A TXT character-string: at most 255 octets once escapes are decoded. */
function stringLength(text: string): number {
  return labelLength(text);
}

function parseRdata(type: string, tokens: Token[], origin: string): { rdata: string } | { error: string; fix: string } {
  if (tokens.length === 0) return { error: `${type} record has no data`, fix: `write the ${type} data after the type` };
  // RFC 3597: \# <length> <hex>, for any type.
  if (!tokens[0].quoted && tokens[0].text === "\\#") {
    const length = Number(tokens[1]?.text);
    const hex = tokens.slice(2).map((t) => t.text).join("");
    if (!Number.isInteger(length) || !/^[0-9a-fA-F]*$/.test(hex) || hex.length !== length * 2) {
      return { error: `generic data "${tokens.map(rdataText).join(" ")}" does not match its length`, fix: "write \\# <octets> <hex digits>, twice as many digits as octets (RFC 3597)" };
    }
    return { rdata: tokens.map((t) => t.text).join(" ") };
  }
  const layout = LAYOUT[type];
  if (!layout) return { rdata: tokens.map(rdataText).join(" ") };
  const out: string[] = [];
  const example = `see the ${type} format (RFC of the type), e.g. ${EXAMPLES[type] ?? "its usual presentation form"}`;
  for (const [index, field] of layout.entries()) {
    if (field === "rest") {
      if (index >= tokens.length) return { error: `${type} record lacks data`, fix: example };
      for (const t of tokens.slice(index)) {
        if ((type === "TXT" || type === "SPF") && stringLength(t.text) > 255) {
          return { error: `a ${type} string is longer than 255 octets`, fix: 'split it into several quoted strings: "first part" "second part" (resolvers join them)' };
        }
        out.push(rdataText(t));
      }
      return { rdata: out.join(" ") };
    }
    const token = tokens[index];
    if (!token) return { error: `${type} record lacks data: ${layout.length} field(s) expected, ${tokens.length} given`, fix: example };
    const t = token.text;
    switch (field) {
      case "u8":
      case "u16": {
        const max = field === "u8" ? 255 : 65535;
        if (token.quoted || !/^\d+$/.test(t) || Number(t) > max) return { error: `${type} field "${t}" is not a number from 0 to ${max}`, fix: example };
        out.push(String(Number(t)));
        break;
      }
      case "ipv4":
      case "ipv6":
        if (token.quoted || isIP(t) !== (field === "ipv4" ? 4 : 6)) return { error: `"${t}" is not an ${field === "ipv4" ? "IPv4" : "IPv6"} address`, fix: example };
        out.push(t.toLowerCase());
        break;
      case "name": {
        if (token.quoted) return { error: `${type} field "${t}" must be a name, not a quoted string`, fix: example };
        const name = t === "." ? { name: "." } : absoluteName(t, origin);
        if ("error" in name) return { error: `${type} data: ${name.error}`, fix: example };
        out.push(name.name);
        break;
      }
      case "string":
        out.push(rdataText(token));
        break;
      case "hex": {
        const hex = tokens.slice(index).map((x) => x.text).join("");
        if (tokens.slice(index).some((x) => x.quoted) || !/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0) {
          return { error: `${type} data "${hex}" is not hexadecimal octets`, fix: example };
        }
        out.push(hex.toLowerCase());
        return { rdata: out.join(" ") };
      }
    }
  }
  const rest = tokens.slice(layout.length);
  if (rest.length > 0 && EXACT.has(type)) {
    return { error: `${type} record has more data than it holds: "${rest.map(rdataText).join(" ")}"`, fix: example };
  }
  return { rdata: [...out, ...rest.map(rdataText)].join(" ") };
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

/** Parses master-file text into records; every problem names its line. */
export function parseZoneFile(text: string, options: ParseOptions): ParsedZoneFile {
  const problems: ZoneProblem[] = [];
  const records: ZoneRecord[] = [];
  let origin = options.origin.toLowerCase();
  let defaultTtl: number | undefined;
  let previousOwner: string | undefined;
  for (const entry of tokenize(text, problems)) {
    const { line, tokens } = entry;
    const refuse = (message: string, fix: string) => problems.push({ line, message, fix });
    const first = tokens[0];
    if (!entry.blankOwner && !first.quoted && first.text.startsWith("$")) {
      const directive = first.text.toUpperCase();
      if (directive === "$ORIGIN") {
        const name = tokens.length === 2 && !tokens[1].quoted ? absoluteName(tokens[1].text, origin) : { error: "$ORIGIN takes one name" };
        if ("error" in name) refuse(`$ORIGIN: ${name.error}`, "write $ORIGIN followed by one absolute name, e.g. $ORIGIN coop-a.example.");
        else origin = name.name;
      } else if (directive === "$TTL") {
        const ttl = tokens.length === 2 ? parseTtl(tokens[1].text) : undefined;
        if (ttl === undefined || Number.isNaN(ttl)) refuse(`$TTL "${tokens.slice(1).map(rdataText).join(" ")}" is not a TTL`, "write $TTL followed by seconds (3600) or units (1h), at most 2147483647 s");
        else defaultTtl = ttl;
      } else if (directive === "$INCLUDE") {
        refuse("$INCLUDE is refused: the kit reads one file per zone, and an included file would not reach the node", "paste the included file's records in place of the $INCLUDE line");
      } else {
        refuse(`unknown directive ${first.text}`, "expand it into plain records ($GENERATE is BIND's, not the master-file format); $ORIGIN and $TTL are understood");
      }
      continue;
    }
    let rest = tokens;
    let owner: string;
    if (entry.blankOwner) {
      if (previousOwner === undefined) {
        refuse("the first record has no owner name (its line starts with a blank)", "write the owner name (or @ for the zone itself) at the very start of the line");
        continue;
      }
      owner = previousOwner;
    } else {
      if (first.quoted) {
        refuse("a record cannot start with a quoted string", "start the line with the owner name, or @");
        continue;
      }
      const name = absoluteName(first.text, origin);
      if ("error" in name) {
        refuse(`owner name ${name.error}`, "use letters, digits, hyphens and underscores between dots; @ is the zone itself");
        continue;
      }
      owner = previousOwner = name.name;
      rest = tokens.slice(1);
    }
    let ttl: number | undefined;
    let klass: string | undefined;
    let badTtl = false;
    while (rest.length > 0 && !rest[0].quoted) {
      const word = rest[0].text.toUpperCase();
      if (klass === undefined && (CLASSES.has(word) || /^CLASS\d+$/.test(word))) klass = word;
      else if (ttl === undefined && !badTtl && parseTtl(word) !== undefined) {
        ttl = parseTtl(word);
        if (Number.isNaN(ttl)) badTtl = true;
      } else break;
      rest = rest.slice(1);
    }
    if (badTtl) {
      refuse("the TTL is above 2147483647 seconds", "use a TTL of at most 2147483647 s (a day, 86400, is usual)");
      continue;
    }
    if (klass !== undefined && klass !== "IN") {
      refuse(`class ${klass} is not served: the kit serves class IN only`, "remove the record, or write IN");
      continue;
    }
    if (rest.length === 0) {
      refuse("no record type", "write the type after the owner, TTL and class, e.g. www 3600 IN A 203.0.113.80");
      continue;
    }
    const typeToken = rest[0].text.toUpperCase();
    const type = rest[0].quoted ? undefined : typeOf(typeToken);
    if (!type) {
      refuse(`unknown record type "${rest[0].text}"`, `use a type Knot knows (${Object.keys(RECORD_TYPES).join(", ")}) or TYPEnnn with \\# data (RFC 3597)`);
      continue;
    }
    if (META_TYPES.has(type.number)) {
      refuse(`${typeToken} is a query type, not data a zone holds`, "remove the record");
      continue;
    }
    const rdata = parseRdata(type.type, rest.slice(1), origin);
    if ("error" in rdata) {
      refuse(rdata.error, rdata.fix);
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

/** Refuses what the member may not write in the zone; every problem names its record's line. */
export function checkMemberRecords(records: ZoneRecord[], ownership: ZoneOwnership): ZoneProblem[] {
  const problems: ZoneProblem[] = [];
  const zone = ownership.zone;
  const kept: ZoneRecord[] = [];
  for (const r of records) {
    const refuse = (message: string, fix: string) => problems.push({ line: r.line, message, fix });
    const apex = r.owner === zone;
    if (!nameWithin(r.owner, zone)) refuse(`${r.owner} is outside zone ${zone}`, `write names relative to the zone (www), or absolute ending in .${zone}; another zone's records go in that zone's own file`);
    else if (r.type === "SOA") refuse("the kit writes the zone's SOA (serial, timers and name servers): a member's SOA is refused", "remove the SOA record from the file");
    else if (r.type === "NS" && apex) refuse(`the kit writes the NS records of ${zone} (every node of the federation): a member's apex NS is refused`, "remove the apex NS records; an NS below the apex (a delegation to a subzone) is fine");
    else if (SIGNER_OUTPUT.has(r.type)) refuse(`${r.type} is made by the signer: Knot signs the zone itself`, "export the zone unsigned from your previous host, or remove its RRSIG/NSEC/NSEC3 records");
    else if (apex && SIGNER_APEX.has(r.type)) refuse(`Knot manages the zone's ${r.type} at the apex (its keys and their CDS/CDNSKEY)`, "remove the record: the zone's keys are born on the node");
    else if (apex && r.type === "DS") refuse(`a DS for ${zone} belongs in the parent zone, not in the zone itself`, "remove it; give the DS records the stack outputs to your registrar");
    else if (apex && r.type === "CNAME") refuse(`a CNAME at the apex of ${zone} is refused: the apex holds the SOA and NS`, "use A/AAAA records at the apex (or HTTPS/SVCB with a target), and a CNAME only for names below it");
    else if (apex && r.type === "DNAME") refuse(`a DNAME at the apex of ${zone} would send all of the zone's names elsewhere`, "remove it, or write it at a name below the apex");
    else if (kitOwnsName(r.owner, ownership)) {
      refuse(`${r.owner} is the kit's: it writes the name servers' glue at ns-<node> names and node ${ownership.node}'s mesh addresses at ${ownership.node}.${zone}`, "rename the record (names starting with ns- directly under the zone are kept for the federation's name servers)");
    } else kept.push(r);
  }
  // CNAME: alone at its name (RFC 1034 3.6.2; DNSSEC's own records aside, which the signer adds).
  const byOwner = new Map<string, ZoneRecord[]>();
  for (const r of kept) byOwner.set(r.owner, [...(byOwner.get(r.owner) ?? []), r]);
  for (const [owner, at] of byOwner) {
    if (at.length < 2 || !at.some((r) => r.type === "CNAME")) continue;
    const [first, ...others] = [...at].sort((a, b) => a.line - b.line);
    for (const other of others) {
      problems.push({
        line: other.line,
        message: `${owner} has ${other.type === first.type ? `two ${other.type} records` : `${first.type} and ${other.type} records`}: a CNAME must be alone at its name (the first on line ${first.line})`,
        fix: "keep either the CNAME or the other records at that name (an alias has no data of its own)",
      });
    }
  }
  // One TTL per RRset (RFC 2181 5.2): Knot would keep one of them without a word.
  const rrsets = new Map<string, ZoneRecord[]>();
  for (const r of kept) rrsets.set(`${r.owner} ${r.type}`, [...(rrsets.get(`${r.owner} ${r.type}`) ?? []), r]);
  for (const set of rrsets.values()) {
    const first = set[0];
    for (const r of set.slice(1)) {
      if (r.ttl !== first.ttl) {
        problems.push({
          line: r.line,
          message: `${r.owner} ${r.type} has TTL ${r.ttl ?? "(default)"} here and ${first.ttl ?? "(default)"} on line ${first.line}: the records of one name and type share one TTL`,
          fix: "give every record of that name and type the same TTL",
        });
      }
    }
  }
  return problems.sort((a, b) => a.line - b.line);
}
