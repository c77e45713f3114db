// Verification of OpenSSH "SSHSIG" signatures (`ssh-keygen -Y sign`, OpenSSH's
// PROTOCOL.sshsig). Pure: no files, no processes, so peers can check what they pull
// without ssh-keygen, and anyone can re-check the same files with `ssh-keygen -Y verify`.
// Only ssh-ed25519 keys are accepted: that is what the federation uses, and a narrow
// parser is easier to trust than a general one.
import { Buffer } from "node:buffer";
import { createHash, createPublicKey, verify } from "node:crypto";

/** Namespace of signatures over registry objects (federation.yaml, node descriptors). */
export const REGISTRY_NAMESPACE = "boreal-registry";
/** Namespace of signatures over labels, so a registry signature can never pass for one. */
export const LABEL_NAMESPACE = "boreal-label";

const ED25519 = "ssh-ed25519";
const MAGIC = Buffer.from("SSHSIG");
const VERSION = 1;
const HASHES = ["sha512", "sha256"]; // the two PROTOCOL.sshsig allows
const BEGIN = "-----BEGIN SSH SIGNATURE-----";
const END = "-----END SSH SIGNATURE-----";

export interface SshPublicKey {
  type: "ssh-ed25519";
  /** The wire-format key blob (what the base64 of a key line decodes to). */
  blob: Buffer;
  /** The raw 32-byte Ed25519 public key. */
  raw: Buffer;
  /** Canonical "ssh-ed25519 AAAA…", without comment. */
  text: string;
}

export interface SignatureInfo {
  publicKey: string;
  namespace: string;
  hashAlgorithm: string;
}

export type VerifyResult = { ok: true; publicKey: string } | { ok: false; reason: string };

// Reads SSH wire-format fields (RFC 4251: uint32, and string = uint32 length + bytes).
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer, private readonly what: string) {}
  uint32(): number {
    if (this.at + 4 > this.buf.length) throw new Error(`${this.what} is truncated`);
    const value = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }
  bytes(field: string): Buffer {
    const length = this.uint32();
    if (this.at + length > this.buf.length) throw new Error(`${this.what} is truncated (in its ${field})`);
    const value = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
  string(field: string): string {
    return this.bytes(field).toString("latin1");
  }
  fixed(length: number, field: string): Buffer {
    if (this.at + length > this.buf.length) throw new Error(`${this.what} is truncated (in its ${field})`);
    const value = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
  end(): void {
    if (this.at !== this.buf.length) throw new Error(`${this.what} has ${this.buf.length - this.at} unexpected trailing bytes`);
  }
}

function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

// Buffer.from(…, "base64") silently skips junk; a key or signature must not have two
// spellings, so only canonical base64 is accepted.
function strictBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, "base64");
  if (text.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text) || bytes.toString("base64") !== text) {
    throw new Error(`${what} is not valid base64`);
  }
  return bytes;
}

function keyFromBlob(blob: Buffer, what: string): SshPublicKey {
  const reader = new Reader(blob, what);
  const type = reader.string("key type");
  if (type !== ED25519) throw new Error(`${what} is of type ${JSON.stringify(type)}: only ${ED25519} keys are supported`);
  const raw = reader.bytes("key");
  if (raw.length !== 32) throw new Error(`${what} has a ${raw.length}-byte Ed25519 key, expected 32 bytes`);
  reader.end();
  return { type: ED25519, blob, raw, text: `${ED25519} ${blob.toString("base64")}` };
}

/** Parses an OpenSSH public key line "ssh-ed25519 AAAA… [comment]". */
export function parseSshPublicKey(line: string): SshPublicKey {
  const [type, base64] = line.trim().split(/\s+/);
  if (!type) throw new Error("public key is empty");
  if (type !== ED25519) throw new Error(`public key is of type ${JSON.stringify(type)}: only ${ED25519} keys are supported`);
  if (!base64) throw new Error("public key has no base64 part after its type");
  return keyFromBlob(strictBase64(base64, "public key"), "public key blob");
}

/** True when two key lines hold the same key, whatever their comments. */
export function sameKey(a: string, b: string): boolean {
  const [typeA, keyA] = a.trim().split(/\s+/);
  const [typeB, keyB] = b.trim().split(/\s+/);
  return Boolean(typeA && keyA) && typeA === typeB && keyA === keyB;
}

interface ParsedSignature extends SignatureInfo {
  key: SshPublicKey;
  namespaceBytes: Buffer;
  reserved: Buffer;
  signature: Buffer;
}

function parseSignature(armored: string): ParsedSignature {
  const lines = armored.trim().split(/\r?\n/).map((line) => line.trim());
  if (lines.length < 3 || lines[0] !== BEGIN || lines[lines.length - 1] !== END) {
    throw new Error(`signature is not an armored SSH signature (${BEGIN} … ${END})`);
  }
  const blob = strictBase64(lines.slice(1, -1).join(""), "signature");
  const reader = new Reader(blob, "signature");
  if (!reader.fixed(MAGIC.length, "magic").equals(MAGIC)) throw new Error("signature does not start with the SSHSIG magic");
  const version = reader.uint32();
  if (version !== VERSION) throw new Error(`signature has version ${version}, only version ${VERSION} is supported`);
  const keyBlob = reader.bytes("public key");
  const namespace = reader.bytes("namespace");
  const reserved = reader.bytes("reserved field");
  const hashAlgorithm = reader.string("hash algorithm");
  const sigBlob = reader.bytes("signature");
  reader.end();

  const key = keyFromBlob(keyBlob, "signing key");
  if (!HASHES.includes(hashAlgorithm)) throw new Error(`signature uses hash ${JSON.stringify(hashAlgorithm)}: only ${HASHES.join(" and ")} are supported`);
  const sigReader = new Reader(sigBlob, "signature value");
  const sigType = sigReader.string("type");
  if (sigType !== ED25519) throw new Error(`signature value is of type ${JSON.stringify(sigType)} but the key is ${ED25519}`);
  const signature = sigReader.bytes("Ed25519 signature");
  if (signature.length !== 64) throw new Error(`Ed25519 signature is ${signature.length} bytes, expected 64`);
  sigReader.end();
  return { publicKey: key.text, namespace: namespace.toString("utf8"), namespaceBytes: namespace, hashAlgorithm, key, reserved, signature };
}

/** Reads who signed and for what namespace, without checking the signature. */
export function inspectSignature(armored: string): SignatureInfo {
  const { publicKey, namespace, hashAlgorithm } = parseSignature(armored);
  return { publicKey, namespace, hashAlgorithm };
}

/**
 * Checks an armored SSHSIG signature over `message` in `namespace`. Never throws. It only
 * proves the returned key signed the message: the caller must check that this key belongs
 * to the expected signer.
 */
export function verifySignature(args: { message: string | Buffer; signature: string; namespace: string }): VerifyResult {
  if (!args.namespace) return { ok: false, reason: "no namespace to check the signature against" };
  let parsed: ParsedSignature;
  try {
    parsed = parseSignature(args.signature);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  // A signature is only valid for the purpose it was made for (PROTOCOL.sshsig's domain separation).
  if (!parsed.namespaceBytes.equals(Buffer.from(args.namespace, "utf8"))) {
    return { ok: false, reason: `signature is for namespace ${JSON.stringify(parsed.namespace)}, expected ${JSON.stringify(args.namespace)}` };
  }
  const message = typeof args.message === "string" ? Buffer.from(args.message, "utf8") : args.message;
  const signed = Buffer.concat([
    MAGIC,
    sshString(parsed.namespaceBytes),
    sshString(parsed.reserved),
    sshString(Buffer.from(parsed.hashAlgorithm)),
    sshString(createHash(parsed.hashAlgorithm).update(message).digest()),
  ]);
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: parsed.key.raw.toString("base64url") }, format: "jwk" });
    if (!verify(null, signed, key, parsed.signature)) {
      return { ok: false, reason: "signature does not match the message (the message or the signature was changed)" };
    }
  } catch (error) {
    return { ok: false, reason: `signature cannot be checked: ${(error as Error).message}` };
  }
  return { ok: true, publicKey: parsed.publicKey };
}
