// DS records (RFC 4034 section 5) of a zone's keys: key tag (appendix B) and digest over the
// owner name in canonical wire form followed by the DNSKEY RDATA. Pure.
import { createHash } from "node:crypto";
import { parseZoneFile, ZoneRecord } from "./zonefile";

export interface Dnskey {
  /** Fully qualified, lower case. */
  owner: string;
  flags: number;
  protocol: number;
  algorithm: number;
  publicKey: Buffer;
}

export interface DsRecord {
  owner: string;
  keyTag: number;
  algorithm: number;
  /** 2: SHA-256 (RFC 4509), the one every registrar takes; 4: SHA-384. */
  digestType: number;
  /** Upper-case hex, as registrars show it. */
  digest: string;
}

/** DNSKEY flags: zone key (bit 7), revoked (bit 8, RFC 5011), secure entry point (bit 15). */
export const ZONE_KEY = 0x0100;
export const REVOKED = 0x0080;
export const SEP = 0x0001;

const DIGESTS: Record<number, string> = { 2: "sha256", 4: "sha384" };

/** The DNSKEY records in text (a zone file's, `keymgr ZONE dnskey`'s or `kdig DNSKEY`'s answer lines). */
export function parseDnskeys(text: string): Dnskey[] {
  return recordsOfType(text, "DNSKEY").map((r) => {
    const [flags, protocol, algorithm, ...key] = r.rdata.split(" ");
    const publicKey = Buffer.from(key.join(""), "base64");
    if (publicKey.length === 0 || !/^[A-Za-z0-9+/]+=*$/.test(key.join("")))
      throw new Error(`DNSKEY of ${r.owner} (line ${r.line}): the key is not base64`);
    return { owner: r.owner, flags: Number(flags), protocol: Number(protocol), algorithm: Number(algorithm), publicKey };
  });
}

/** The records of one type in master-file text (dig-like output's ';;' lines are comments; other types are passed over). */
function recordsOfType(text: string, type: string): ZoneRecord[] {
  const parsed = parseZoneFile(text, { origin: "." });
  if (parsed.problems.length > 0) throw new Error(`line ${parsed.problems[0].line} of the ${type} text: ${parsed.problems[0].message}`);
  return parsed.records.filter((r) => r.type === type);
}

/** DNSKEY RDATA in wire form: flags (2), protocol (1), algorithm (1), public key. */
export function dnskeyRdata(key: Dnskey): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(key.flags, 0);
  head.writeUInt8(key.protocol, 2);
  head.writeUInt8(key.algorithm, 3);
  return Buffer.concat([head, key.publicKey]);
}

/** RFC 4034 appendix B (every algorithm but RSAMD5, which RFC 8624 forbids anyway). */
export function keyTag(key: Dnskey): number {
  if (key.algorithm === 1) throw new Error("algorithm 1 (RSAMD5) has another key tag and must not be used (RFC 8624)");
  const rdata = dnskeyRdata(key);
  let sum = 0;
  for (let i = 0; i < rdata.length; i++) sum += i & 1 ? rdata[i] : rdata[i] << 8;
  sum += (sum >> 16) & 0xffff;
  return sum & 0xffff;
}

/** A name in canonical wire form (RFC 4034 6.2): lower case, each label's length then its octets. */
export function canonicalNameWire(name: string): Buffer {
  const parts: Buffer[] = [];
  const text = name.endsWith(".") ? name.slice(0, -1) : name;
  if (text !== "") {
    let label: number[] = [];
    const flush = () => {
      if (label.length === 0 || label.length > 63) throw new Error(`name ${name} has an empty or over-long label`);
      parts.push(Buffer.from([label.length, ...label]));
      label = [];
    };
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "\\") {
        const ddd = /^\d{3}/.exec(text.slice(i + 1, i + 4));
        if (ddd) {
          label.push(Number(ddd[0]));
          i += 3;
        } else label.push(...Buffer.from(text[++i]));
      } else if (c === ".") flush();
      else label.push(...Buffer.from(c));
    }
    flush();
  }
  parts.push(Buffer.from([0]));
  return Buffer.from(Buffer.concat(parts).map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b)));
}

/** The DS of a key: digest over owner (canonical wire) + DNSKEY RDATA. */
export function dsOf(key: Dnskey, digestType = 2): DsRecord {
  const hash = DIGESTS[digestType];
  if (!hash) throw new Error(`digest type ${digestType} is not computed here (2 is SHA-256, 4 is SHA-384)`);
  const digest = createHash(hash).update(canonicalNameWire(key.owner)).update(dnskeyRdata(key)).digest("hex").toUpperCase();
  return { owner: key.owner, keyTag: keyTag(key), algorithm: key.algorithm, digestType, digest };
}

/** The DS records to publish at the parent: one per key-signing key (SEP, not revoked). */
export function dsForZone(keys: Dnskey[], zone: string, digestType = 2): DsRecord[] {
  return keys
    .filter((k) => k.owner === zone.toLowerCase() && k.flags & ZONE_KEY && k.flags & SEP && !(k.flags & REVOKED))
    .map((k) => dsOf(k, digestType));
}

/** `keymgr ZONE ds` prints "zone. DS <tag> <alg> <type> <hex>" a line (types 2 and 4); also reads DS lines of a zone file or kdig. */
export function parseDsRecords(text: string): DsRecord[] {
  return recordsOfType(text, "DS").map((r) => {
    const [keyTagText, algorithm, digestType, digest] = r.rdata.split(" ");
    return {
      owner: r.owner,
      keyTag: Number(keyTagText),
      algorithm: Number(algorithm),
      digestType: Number(digestType),
      digest: digest.toUpperCase(),
    };
  });
}

export function formatDs(ds: DsRecord): string {
  return `${ds.owner} DS ${ds.keyTag} ${ds.algorithm} ${ds.digestType} ${ds.digest}`;
}

export function sameDs(a: DsRecord, b: DsRecord): boolean {
  return (
    a.owner === b.owner &&
    a.keyTag === b.keyTag &&
    a.algorithm === b.algorithm &&
    a.digestType === b.digestType &&
    a.digest.toUpperCase() === b.digest.toUpperCase()
  );
}
