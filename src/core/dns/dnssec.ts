// DNSSEC signatures checked here rather than trusted from a resolver's AD bit: an RRset in
// canonical form (RFC 4034 3.1.8.1 and 6), its RRSIGs' signer, key tag, algorithm and
// validity window, and the signature itself with Node's crypto. Pure: no I/O, the time is
// handed in.
import { createPublicKey, KeyObject, verify } from "node:crypto";
import { canonicalNameWire, Dnskey, keyTag, REVOKED, ZONE_KEY } from "./ds";
import { nameText, readName, typeName, WireRecord } from "./message";

export interface Rrsig {
  typeCovered: number;
  algorithm: number;
  labels: number;
  originalTtl: number;
  /** Seconds since the epoch, modulo 2^32 (RFC 4034 3.1.5). */
  expiration: number;
  inception: number;
  keyTag: number;
  signer: string;
  signature: Buffer;
  /** The RDATA before the signature, signer name in canonical form: the head of the signed data. */
  head: Buffer;
}

/** RFC 1982 serial arithmetic: a is ahead of b (SOA serials, and signature times of RFC 4034 3.1.5). */
export function serialAhead(a: number, b: number): boolean {
  return a !== b && ((a > b && a - b < 2 ** 31) || (a < b && b - a > 2 ** 31));
}

export function parseRrsig(record: WireRecord): Rrsig {
  const c = record.canonical;
  if (c.length < 19) throw new Error(`RRSIG of ${record.owner} is too short`);
  const signer = readName(c, 18);
  return {
    typeCovered: c.readUInt16BE(0),
    algorithm: c[2],
    labels: c[3],
    originalTtl: c.readUInt32BE(4),
    expiration: c.readUInt32BE(8),
    inception: c.readUInt32BE(12),
    keyTag: c.readUInt16BE(16),
    signer: nameText(signer.labels),
    signature: c.subarray(signer.end),
    head: c.subarray(0, signer.end),
  };
}

export function dnskeyOf(record: WireRecord): Dnskey {
  const r = record.rdata;
  if (r.length < 5) throw new Error(`DNSKEY of ${record.owner} is too short`);
  return { owner: record.owner, flags: r.readUInt16BE(0), protocol: r[2], algorithm: r[3], publicKey: Buffer.from(r.subarray(4)) };
}

/** The labels of a canonical wire name (the root has none). */
function wireLabels(wire: Buffer): Buffer[] {
  const labels: Buffer[] = [];
  for (let at = 0; wire[at] !== 0; at += wire[at] + 1) labels.push(wire.subarray(at, at + 1 + wire[at]));
  return labels;
}

// ---------------------------------------------------------------------------------------
// Algorithms (RFC 8624's "MUST"/"RECOMMENDED" for validation): the DNSKEY public key in the
// form Node's crypto takes (JWK), and the hash the signature is over.

const b64url = (b: Buffer) => b.toString("base64url");

function rsaKey(pub: Buffer): KeyObject {
  // RFC 3110 2: exponent length in one octet, or 0 then two octets; exponent; modulus.
  const long = pub[0] === 0;
  const expLength = long ? pub.readUInt16BE(1) : pub[0];
  const start = long ? 3 : 1;
  return createPublicKey({
    key: { kty: "RSA", e: b64url(pub.subarray(start, start + expLength)), n: b64url(pub.subarray(start + expLength)) },
    format: "jwk",
  });
}

function ecKey(crv: string, size: number) {
  return (pub: Buffer) => {
    if (pub.length !== size * 2) throw new Error(`a ${crv} key is ${size * 2} octets, this one ${pub.length}`);
    return createPublicKey({ key: { kty: "EC", crv, x: b64url(pub.subarray(0, size)), y: b64url(pub.subarray(size)) }, format: "jwk" });
  };
}

function edKey(crv: string) {
  return (pub: Buffer) => createPublicKey({ key: { kty: "OKP", crv, x: b64url(pub) }, format: "jwk" });
}

interface Algorithm {
  name: string;
  /** null: the algorithm hashes by itself (EdDSA). */
  hash: string | null;
  key(pub: Buffer): KeyObject;
  /** ECDSA signatures are r || s (RFC 6605 4), not DER. */
  rawEcdsa?: boolean;
}

export const ALGORITHMS: Readonly<Record<number, Algorithm>> = {
  8: { name: "RSASHA256", hash: "sha256", key: rsaKey },
  10: { name: "RSASHA512", hash: "sha512", key: rsaKey },
  13: { name: "ECDSAP256SHA256", hash: "sha256", key: ecKey("P-256", 32), rawEcdsa: true },
  14: { name: "ECDSAP384SHA384", hash: "sha384", key: ecKey("P-384", 48), rawEcdsa: true },
  15: { name: "ED25519", hash: null, key: edKey("Ed25519") },
  16: { name: "ED448", hash: null, key: edKey("Ed448") },
};

/** The octets an RRSIG signs: its RDATA head, then every RR of the set in canonical form and order. */
export function signedData(rrsig: Rrsig, records: WireRecord[]): Buffer {
  const owner = canonicalNameWire(records[0].owner);
  const labels = wireLabels(owner);
  // A wildcard's expansion is signed as the wildcard itself (RFC 4035 5.3.2).
  const signedOwner =
    rrsig.labels < labels.length
      ? Buffer.concat([Buffer.from([1, 0x2a]), ...labels.slice(labels.length - rrsig.labels), Buffer.from([0])])
      : owner;
  const rdatas = [...new Map(records.map((r) => [r.canonical.toString("hex"), r.canonical])).values()].sort(Buffer.compare);
  const rrs = rdatas.map((rdata) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(records[0].type, 0);
    fixed.writeUInt16BE(records[0].class, 2);
    fixed.writeUInt32BE(rrsig.originalTtl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    return Buffer.concat([signedOwner, fixed, rdata]);
  });
  return Buffer.concat([rrsig.head, ...rrs]);
}

/** The signature verifies with that key (false, never a throw, for a key the algorithm cannot read). */
export function signatureVerifies(rrsig: Rrsig, records: WireRecord[], key: Dnskey): boolean {
  const algorithm = ALGORITHMS[rrsig.algorithm];
  if (!algorithm || key.algorithm !== rrsig.algorithm) return false;
  try {
    const publicKey = algorithm.key(key.publicKey);
    return verify(
      algorithm.hash,
      signedData(rrsig, records),
      algorithm.rawEcdsa ? { key: publicKey, dsaEncoding: "ieee-p1363" } : publicKey,
      rrsig.signature,
    );
  } catch {
    return false;
  }
}

export interface RrsetCheck {
  /** At least one RRSIG verifies with a key given, within its window, and none fails. */
  valid: boolean;
  /** One line per failing RRSIG (or the lack of any), naming the RRset. */
  problems: string[];
  /** The keys whose signatures verified. */
  signers: Dnskey[];
  /** Expiration (epoch seconds) of the soonest-ending valid signature. */
  expiration?: number;
}

function utc(seconds: number, now: number): string {
  // Signature times are modulo 2^32: place them in the era nearest now.
  const era = Math.round((now - seconds) / 2 ** 32) * 2 ** 32;
  return new Date((seconds + era) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * Checks the RRSIGs (among `signatures`, those covering the set's type) of one RRset of the
 * zone against `keys` (the zone keys to trust for it). Strict, as an operator wants it: a
 * failing signature is a problem even when another one verifies, since some resolvers try
 * only one.
 */
export function verifyRrset(zone: string, records: WireRecord[], signatures: WireRecord[], keys: Dnskey[], now: Date): RrsetCheck {
  const { owner, type } = records[0];
  const what = `${owner} ${typeName(type)}`;
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const now32 = nowSeconds % 2 ** 32;
  const rrsigs = signatures.filter((s) => s.owner === owner && s.rdata.length >= 2 && s.rdata.readUInt16BE(0) === type).map(parseRrsig);
  if (rrsigs.length === 0) return { valid: false, problems: [`${what}: no RRSIG (the set is unsigned)`], signers: [] };
  const problems: string[] = [];
  const expirations: number[] = [];
  const signers: Dnskey[] = [];
  const ownerLabels = wireLabels(canonicalNameWire(owner)).length;
  for (const sig of rrsigs) {
    const tag = `RRSIG by key ${sig.keyTag} (algorithm ${sig.algorithm})`;
    const candidates = keys.filter(
      (k) => k.algorithm === sig.algorithm && keyTag(k) === sig.keyTag && k.flags & ZONE_KEY && !(k.flags & REVOKED),
    );
    if (sig.signer !== zone) problems.push(`${what}: ${tag} names signer ${sig.signer}, not the zone ${zone}`);
    else if (sig.labels > ownerLabels) problems.push(`${what}: ${tag} counts ${sig.labels} labels, more than the owner has`);
    else if (!ALGORITHMS[sig.algorithm]) {
      // An algorithm this check cannot verify is not counted either way (RFC 4035 5.2: a resolver ignores it too).
      continue;
    } else if (candidates.length === 0)
      problems.push(`${what}: ${tag}: no such key in the trusted DNSKEY set (wrong key tag, or a key that is gone)`);
    else if (serialAhead(sig.inception, now32)) problems.push(`${what}: ${tag} is not valid before ${utc(sig.inception, nowSeconds)}`);
    else if (serialAhead(now32, sig.expiration)) problems.push(`${what}: ${tag} expired at ${utc(sig.expiration, nowSeconds)}`);
    else {
      const signer = candidates.find((k) => signatureVerifies(sig, records, k));
      if (!signer) problems.push(`${what}: ${tag} does not verify (the data or the signature was altered, or another key signed it)`);
      else {
        signers.push(signer);
        expirations.push(sig.expiration);
      }
    }
  }
  if (signers.length === 0 && problems.length === 0)
    problems.push(
      `${what}: signed only with algorithms this check does not verify (${[...new Set(rrsigs.map((s) => s.algorithm))].join(", ")})`,
    );
  const soonest = expirations.sort((a, b) => (serialAhead(a, b) ? 1 : -1))[0];
  return {
    valid: signers.length > 0 && problems.length === 0,
    problems,
    signers,
    expiration: soonest === undefined ? undefined : Date.parse(utc(soonest, nowSeconds)) / 1000,
  };
}
