// Verification of OpenSSH "SSHSIG" signatures (`ssh-keygen -Y sign`, OpenSSH's
// PROTOCOL.sshsig). Pure: no files, no processes, so peers can check what they pull
// without ssh-keygen, and anyone can re-check the same files with `ssh-keygen -Y verify`.
//
// The verdict is meant to be ssh-keygen's, byte for byte: for an ssh-ed25519 signature,
// verifySignature accepts a (message, signature file) pair exactly when
// `ssh-keygen -Y verify -n <namespace> -s <file.sig> < <message>` accepts it, with an
// allowed_signers line holding the returned key. The parser below therefore mirrors
// OpenSSH's own (sshsig.c sshsig_dearmor / sshsig_wrap_verify, base64.c b64_pton,
// sshbuf_get_cstring, ssh-ed25519.c) rather than a tidier reading of the format, and
// test/unit/sshsig-crosscheck.test.ts checks it against the real ssh-keygen.
//
// Deliberate differences, all refusals of files that no ssh-keygen ever writes:
// - Only ssh-ed25519 keys (no RSA, ECDSA, FIDO "sk-" keys or certificates): that is what the
//   federation uses, and a narrow parser is easier to trust. ssh-keygen accepts those other
//   key types; the kit refuses them.
// - Signature files over MAX_SIGNATURE_BYTES are refused unread (ssh-keygen reads any size).
// - Where OpenSSH releases disagree, the kit accepts only what they all accept, so a file the
//   kit takes verifies with the ssh-keygen of Debian 12 (OpenSSH 9.2) as with the newest. There
//   are three such cases, each refused with a reason naming it: a CRLF after the BEGIN line
//   (refused before 9.5), a key type spelled by its short name "ED25519" (refused since 10.0),
//   and a non-canonical Ed25519 signature, S >= L (refused since 10.3/10.4, and by RFC 8032).
import { Buffer } from "node:buffer";
import { createHash, createPublicKey, verify } from "node:crypto";

/** Namespace of signatures over registry objects (federation.yaml, node descriptors). */
export const REGISTRY_NAMESPACE = "boreal-registry";
/** Namespace of signatures over labels, so a registry signature can never pass for one. */
export const LABEL_NAMESPACE = "boreal-label";

/**
 * Largest signature file accepted, in bytes. An Ed25519 SSHSIG armor is about 300 bytes
 * (294 as ssh-keygen writes it); the cap leaves room for re-wrapping and stray whitespace
 * and keeps a hostile peer from handing over megabytes to parse.
 */
export const MAX_SIGNATURE_BYTES = 2048;

const ED25519 = "ssh-ed25519";
const MAGIC = Buffer.from("SSHSIG");
const MAX_VERSION = 1;
const HASHES = ["sha512", "sha256"]; // the two PROTOCOL.sshsig allows
const BEGIN = "-----BEGIN SSH SIGNATURE-----";
const END = "-----END SSH SIGNATURE-----";
const NOT_ARMORED = "signature is not an armored SSH signature";
/** The order of the Ed25519 group: a signature's S must be below it (RFC 8032 5.1.7). */
const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;

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
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
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
  /**
   * A string read as OpenSSH's sshbuf_get_cstring does: one NUL is allowed as its last byte
   * (and dropped), a NUL anywhere else is an error.
   */
  cstring(field: string): Buffer {
    const value = this.bytes(field);
    const nul = value.indexOf(0);
    if (nul === -1) return value;
    if (nul !== value.length - 1) throw new Error(`${this.what} has a NUL byte inside its ${field}`);
    return value.subarray(0, nul);
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

// Buffer.from(…, "base64") silently skips junk; a key must not have two spellings, so key
// lines only take canonical base64. (Signatures follow ssh-keygen's decoder instead: below.)
function strictBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, "base64");
  if (text.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text) || bytes.toString("base64") !== text) {
    throw new Error(`${what} is not valid base64`);
  }
  return bytes;
}

function keyText(raw: Buffer): string {
  return `${ED25519} ${Buffer.concat([sshString(Buffer.from(ED25519)), sshString(raw)]).toString("base64")}`;
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

// ---- The armor, as sshsig_dearmor reads it ----

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUE = new Int16Array(256).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d; // "="
/** isspace() in the C locale: space, \t, \n, \v, \f, \r. Never Unicode spaces such as U+00A0. */
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/**
 * OpenSSH's b64_pton (openbsd-compat/base64.c), which ssh-keygen decodes signatures with:
 * whitespace is skipped anywhere, any other character outside the alphabet is an error, the
 * "=" padding is required (it may be split by whitespace, and only whitespace may follow it),
 * and the unused low bits before the padding must be zero.
 */
function sshBase64(text: Buffer): Buffer {
  const fail = (why: string) => new Error(`signature is not valid base64 (${why})`);
  const out = Buffer.alloc(text.length + 1);
  let state = 0;
  let at = 0; // out index
  let i = 0;
  let padded = false;
  while (i < text.length) {
    const c = text[i++];
    if (isSpace(c)) continue;
    if (c === PAD) {
      padded = true;
      break;
    }
    const v = BASE64_VALUE[c];
    if (v < 0) throw fail(`byte 0x${c.toString(16).padStart(2, "0")} is neither base64 nor whitespace`);
    switch (state) {
      case 0:
        out[at] = v << 2;
        state = 1;
        break;
      case 1:
        out[at] |= v >> 4;
        out[at + 1] = (v & 0x0f) << 4;
        at++;
        state = 2;
        break;
      case 2:
        out[at] |= v >> 2;
        out[at + 1] = (v & 0x03) << 6;
        at++;
        state = 3;
        break;
      default:
        out[at] |= v;
        at++;
        state = 0;
    }
  }
  if (!padded) {
    if (state !== 0) throw fail("its padding is missing");
    return out.subarray(0, at);
  }
  if (state === 0 || state === 1) throw fail("its padding is misplaced");
  if (state === 2) {
    while (i < text.length && isSpace(text[i])) i++;
    if (i >= text.length || text[i] !== PAD) throw fail("its padding is incomplete");
    i++;
  }
  for (; i < text.length; i++) if (!isSpace(text[i])) throw fail("something follows its padding");
  if (out[at] !== 0) throw fail("the bits before its padding are not zero");
  return out.subarray(0, at);
}

function signatureBytes(signature: string | Buffer): Buffer {
  const bytes = typeof signature === "string" ? Buffer.from(signature, "utf8") : signature;
  if (bytes.length > MAX_SIGNATURE_BYTES) {
    throw new Error(
      `signature is ${bytes.length} bytes, over the ${MAX_SIGNATURE_BYTES}-byte cap on signature files (an Ed25519 SSH signature is about 300 bytes)`,
    );
  }
  return bytes;
}

/**
 * The signature blob inside the armor, found as ssh-keygen finds it: the file must start with
 * the BEGIN line itself (nothing before it, not even whitespace) ended by "\n"; the base64 runs
 * up to the first "\n-----END SSH SIGNATURE-----"; whatever follows that (the rest of the END
 * line, more lines, a second signature) is ignored, as ssh-keygen ignores it.
 */
function dearmor(bytes: Buffer): Buffer {
  const begin = Buffer.from(`${BEGIN}\n`);
  if (!bytes.subarray(0, begin.length).equals(begin)) {
    if (bytes.subarray(0, BEGIN.length + 2).equals(Buffer.from(`${BEGIN}\r\n`))) {
      // OpenSSH 9.5 and later take a CRLF here; 9.2 (Debian 12) refuses it.
      throw new Error(
        `${NOT_ARMORED}: its first line ends in CRLF, which ssh-keygen before OpenSSH 9.5 refuses (convert it to LF line endings)`,
      );
    }
    throw new Error(`${NOT_ARMORED}: it must start with the line ${BEGIN}, with nothing before it`);
  }
  const rest = bytes.subarray(begin.length);
  const end = rest.indexOf(`\n${END}`);
  if (end === -1) throw new Error(`${NOT_ARMORED}: no ${END} line`);
  let body = rest.subarray(0, end);
  // sshbuf_dup_string: one NUL is allowed as the very last byte; b64_pton stops there anyway.
  const nul = body.indexOf(0);
  if (nul !== -1) {
    if (nul !== body.length - 1) throw new Error("signature is not valid base64 (it holds a NUL byte)");
    body = body.subarray(0, nul);
  }
  return sshBase64(body);
}

// ---- The blob, as sshsig_wrap_verify reads it ----

interface ParsedSignature extends SignatureInfo {
  raw: Buffer; // the signing key
  hashBytes: Buffer;
  namespaceBytes: Buffer;
  signature: Buffer; // R || S
}

// sshkey_froms, narrowed to ssh-ed25519.
function signingKey(blob: Buffer): Buffer {
  const reader = new Reader(blob, "signing key");
  const type = reader.cstring("key type").toString("latin1");
  if (type !== ED25519) {
    if (type.toLowerCase() === "ed25519") {
      // OpenSSH up to 9.9 also took key type short names here; 10.0 and later refuse them.
      throw new Error(
        `signing key is of type ${JSON.stringify(type)}, a short name that ssh-keygen refuses since OpenSSH 10.0: only ${ED25519} keys are supported`,
      );
    }
    // Deliberate narrowing: ssh-keygen takes other key types (RSA, ECDSA, sk-, certificates).
    throw new Error(`signing key is of type ${JSON.stringify(type)}: only ${ED25519} keys are supported`);
  }
  const raw = reader.bytes("key");
  if (raw.length !== 32) throw new Error(`signing key has a ${raw.length}-byte Ed25519 key, expected 32 bytes`);
  reader.end();
  return raw;
}

function parseSignature(armored: string | Buffer): ParsedSignature {
  const blob = dearmor(signatureBytes(armored));
  const reader = new Reader(blob, "signature");
  if (!reader.fixed(MAGIC.length, "magic").equals(MAGIC)) throw new Error("signature does not start with the SSHSIG magic");
  // Version 0 is taken too, as ssh-keygen takes it: the version is not signed, only checked.
  const version = reader.uint32();
  if (version > MAX_VERSION) throw new Error(`signature has version ${version}, only versions up to ${MAX_VERSION} are supported`);
  const keyBlob = reader.bytes("public key");
  const namespaceBytes = reader.cstring("namespace");
  // ssh-keygen reads the reserved field and ignores it: what is signed always has it empty.
  reader.bytes("reserved field");
  const hashBytes = reader.cstring("hash algorithm");
  const sigBlob = reader.bytes("signature");
  reader.end();

  const raw = signingKey(keyBlob);
  const hashAlgorithm = hashBytes.toString("latin1");
  if (!HASHES.includes(hashAlgorithm))
    throw new Error(`signature uses hash ${JSON.stringify(hashAlgorithm)}: only ${HASHES.join(" and ")} are supported`);

  // ssh_ed25519_verify
  const sigReader = new Reader(sigBlob, "signature value");
  const sigType = sigReader.cstring("type").toString("latin1");
  if (sigType !== ED25519) throw new Error(`signature value is of type ${JSON.stringify(sigType)} but the key is ${ED25519}`);
  const signature = sigReader.bytes("Ed25519 signature");
  sigReader.end();
  if (signature.length !== 64) throw new Error(`Ed25519 signature is ${signature.length} bytes, expected 64`);
  if (signature[63] & 0xe0) throw new Error("signature is malformed (its S is out of range)"); // every OpenSSH refuses these
  // OpenSSH before 10.3 reduces S modulo L, so S + L passes there too: a second spelling of the
  // same signature that anyone can make. Newer OpenSSH and RFC 8032 refuse it; so does the kit.
  const s = BigInt(`0x${Buffer.from(signature.subarray(32)).reverse().toString("hex")}`);
  if (s >= ED25519_L)
    throw new Error(
      "signature is not canonical (its S is not below the group order L, a malleated signature that ssh-keygen refuses since OpenSSH 10.3)",
    );
  return { publicKey: keyText(raw), namespace: namespaceBytes.toString("utf8"), namespaceBytes, hashAlgorithm, hashBytes, raw, signature };
}

/** Reads who signed and for what namespace, without checking the signature. */
export function inspectSignature(armored: string | Buffer): SignatureInfo {
  const { publicKey, namespace, hashAlgorithm } = parseSignature(armored);
  return { publicKey, namespace, hashAlgorithm };
}

/**
 * Checks an armored SSHSIG signature over `message` in `namespace`. Never throws. It only
 * proves the returned key signed the message: the caller must check that this key belongs
 * to the expected signer.
 *
 * The message is checked byte for byte, as `ssh-keygen -Y verify` checks a file: pass a file's
 * content as the Buffer read from it. A string is encoded as UTF-8 first (lone surrogates
 * become U+FFFD), so a file that is not valid UTF-8, once decoded to a string, no longer
 * verifies. The signature is a file's bytes too: a string is encoded as UTF-8.
 */
export function verifySignature(args: { message: string | Buffer; signature: string | Buffer; namespace: string }): VerifyResult {
  if (!args.namespace) return { ok: false, reason: "no namespace to check the signature against" };
  let parsed: ParsedSignature;
  try {
    parsed = parseSignature(args.signature);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  // A signature is only valid for the purpose it was made for (PROTOCOL.sshsig's domain separation).
  const namespace = Buffer.from(args.namespace, "utf8");
  if (!parsed.namespaceBytes.equals(namespace)) {
    return {
      ok: false,
      reason: `signature is for namespace ${JSON.stringify(parsed.namespace)}, expected ${JSON.stringify(args.namespace)}`,
    };
  }
  const message = typeof args.message === "string" ? Buffer.from(args.message, "utf8") : args.message;
  // What was signed, rebuilt as sshsig_wrap_verify does: the expected namespace, an empty
  // reserved field whatever the blob holds, and the hash algorithm without any final NUL.
  const signed = Buffer.concat([
    MAGIC,
    sshString(namespace),
    sshString(Buffer.alloc(0)),
    sshString(parsed.hashBytes),
    sshString(createHash(parsed.hashAlgorithm).update(message).digest()),
  ]);
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: parsed.raw.toString("base64url") }, format: "jwk" });
    if (!verify(null, signed, key, parsed.signature)) {
      return { ok: false, reason: "signature does not match the message (the message or the signature was changed)" };
    }
  } catch (error) {
    return { ok: false, reason: `signature cannot be checked: ${(error as Error).message}` };
  }
  return { ok: true, publicKey: parsed.publicKey };
}
