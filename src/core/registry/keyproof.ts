// Proof of possession of a node's WireGuard key. A member could copy another node's public
// key into its own node's descriptor; the proof is a signature made with the WireGuard
// private key itself over a statement naming the federation, the node and the key, which
// only the node holding that key can make. The key is X25519 (Montgomery), so the signature
// is XEdDSA (https://signal.org/docs/specifications/xeddsa/): Ed25519 with the Montgomery
// key converted to its Edwards twin of sign bit 0.
//
// Pure: no I/O. node:crypto gives SHA-512, the random Z and the final Ed25519 check (it
// cannot sign with an X25519 key: hence the Edwards arithmetic here, in BigInt). Signing
// is not constant-time: a node signs once per key, locally, where no one can time it;
// verifying handles only public values.
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { verifySignature } from "./sshsig";

/** The statement a node's WireGuard key signs: the federation, the node, and the key itself. */
export function wireguardProofStatement(args: { federation: string; node: string; publicKey: string }): string {
  return `boreal-wireguard-key-proof v1\nfederation ${args.federation}\nnode ${args.node}\nkey ${args.publicKey}\n`;
}

/** The base64 XEdDSA signature of the statement, with the node's private key (`wg genkey`'s output). */
export function makeWireguardProof(privateKeyBase64: string, statement: { federation: string; node: string; publicKey: string }): string {
  const derived = wireguardPublicKey(privateKeyBase64);
  // A proof over another key's name would only be refused later, far from its cause.
  if (derived !== statement.publicKey) throw new Error(`the WireGuard private key is that of ${derived}, not of ${statement.publicKey}`);
  const key = decodeKey(privateKeyBase64, "private key");
  const message = Buffer.from(wireguardProofStatement(statement));
  // Z from the key and the statement, not random: proving again (any re-run of the node's
  // proof step) gives the same bytes, so an unchanged node's descriptor stays unchanged.
  // Safe: r = hash1(a || M || Z) already holds the secret a (as Ed25519's own nonce does).
  const z = createHash("sha512").update("boreal-xeddsa-z").update(key).update(message).digest();
  return Buffer.from(signXEdDSA(key, message, z)).toString("base64");
}

/** Undefined when the descriptor's keyProof is its key's signature for this node and federation; else why not. */
export function checkWireguardProof(
  descriptor: { node: string; publicKey: string; keyProof?: string },
  federation: string,
): string | undefined {
  if (!descriptor.keyProof) {
    return `keyProof is missing: node ${descriptor.node}'s descriptor must carry the signature its WireGuard key makes for it (pulumi up has the node make it)`;
  }
  const key = Buffer.from(descriptor.publicKey, "base64");
  const proof = Buffer.from(descriptor.keyProof, "base64");
  const statement = Buffer.from(wireguardProofStatement({ federation, node: descriptor.node, publicKey: descriptor.publicKey }));
  if (key.length === 32 && proof.length === 64 && verifyXEdDSA(key, statement, proof)) return undefined;
  return `keyProof does not verify: the node's WireGuard key did not sign it for node ${descriptor.node} of federation ${federation} (a key copied from another node cannot bring its proof along)`;
}

/** The X25519 public key (`wg pubkey`) of a private key, in base64. */
export function wireguardPublicKey(privateKeyBase64: string): string {
  const { y, z } = multiply(BASE, clamp(decodeKey(privateKeyBase64, "private key")));
  // Montgomery u = (1 + y) / (1 - y), in projective coordinates.
  return Buffer.from(toBytes(field((z + y) * inverse(z - y)))).toString("base64");
}

/** XEdDSA sign (the spec's xeddsa_sign): `random` is its Z, 64 bytes. */
export function signXEdDSA(privateKey: Uint8Array, message: Uint8Array, random: Uint8Array = randomBytes(64)): Uint8Array {
  if (privateKey.length !== 32) throw new Error(`an X25519 private key is 32 bytes, not ${privateKey.length}`);
  if (random.length !== 64) throw new Error(`XEdDSA's Z is 64 bytes, not ${random.length}`);
  // calculate_key_pair: E = kB; A is E with sign bit 0, and a is negated when E's was 1.
  const k = clamp(privateKey);
  const E = affine(multiply(BASE, k));
  const a = E.x & 1n ? scalar(-k) : scalar(k);
  const A = toBytes(E.y);
  // a as the spec hashes it, reduced mod q (libsignal hashes k unreduced: another r, as valid).
  const r = scalar(fromBytes(hash(HASH1_PREFIX, toBytes(a), message, random)));
  const R = encode(multiply(BASE, r));
  const h = scalar(fromBytes(hash(R, A, message)));
  return concat(R, toBytes(scalar(r + h * a)));
}

/** XEdDSA verify (the spec's xeddsa_verify), stricter on encodings: only what an honest signer makes. */
export function verifyXEdDSA(publicKeyU: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKeyU.length !== 32 || signature.length !== 64) return false;
  const u = fromBytes(publicKeyU);
  // Non-canonical encodings of u, R's y and s: an honest signer never makes them, and
  // accepting them would make one key or one signature many.
  if (u >= P || fromBytes(signature.subarray(0, 32)) % 2n ** 255n >= P || fromBytes(signature.subarray(32)) >= Q) return false;
  // convert_mont: the Edwards y of u, sign bit 0 (inv(0) = 0, as the spec's u_to_y).
  const y = field((u - 1n) * inverse(u + 1n));
  // A key of small order satisfies a signature of anyone's making: refused (WireGuard
  // would refuse it too). An A off the curve, or an R off it, fails the check below.
  if (SMALL_ORDER_Y.has(y)) return false;
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(toBytes(y)).toString("base64url") }, format: "jwk" });
    // R == sB - hA, byte for byte: the computed side is always on the curve and canonical.
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

// Curve25519 as the twisted Edwards curve -x² + y² = 1 + d x² y² over GF(p), of prime order q.
const P = 2n ** 255n - 19n;
const Q = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
/** hash_1's prefix: 2^256 - 1 - 1, as 32 little-endian bytes (0xFE then 0xFF × 31). */
const HASH1_PREFIX = toBytes(2n ** 256n - 2n);
/**
 * The y of every point of order 1, 2, 4 or 8 (the curve's cofactor is 8): 1, -1, 0 and ±y8.
 * y8 is the y of the order-8 points (their encodings are listed in "Taming the many EdDSAs").
 */
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
const SMALL_ORDER_Y = new Set([1n, P - 1n, 0n, Y8, P - Y8]);

/** A point in extended coordinates: x = X/Z, y = Y/Z, xy = T/Z. */
interface Point {
  x: bigint;
  y: bigint;
  z: bigint;
  t: bigint;
}

const BASE: Point = extended(
  15112221349535400772501151409588531511454012693041857206046113283949847762202n,
  46316835694926478169428394003475163141307993866256225615783033603165251855960n,
);
const IDENTITY: Point = extended(0n, 1n);

function extended(x: bigint, y: bigint): Point {
  return { x, y, z: 1n, t: field(x * y) };
}

/** Complete addition for a = -1 (Hisil–Wong–Carter–Dawson 2008): it doubles too. */
function add(p: Point, q: Point): Point {
  const a = field((p.y - p.x) * (q.y - q.x));
  const b = field((p.y + p.x) * (q.y + q.x));
  const c = field(2n * D * p.t * q.t);
  const d = field(2n * p.z * q.z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { x: field(e * f), y: field(g * h), z: field(f * g), t: field(e * h) };
}

function multiply(point: Point, n: bigint): Point {
  let result = IDENTITY;
  for (let bit = BigInt(n.toString(2).length - 1); bit >= 0n; bit--) {
    result = add(result, result);
    if ((n >> bit) & 1n) result = add(result, point);
  }
  return result;
}

function affine(point: Point): { x: bigint; y: bigint } {
  const zInverse = inverse(point.z);
  return { x: field(point.x * zInverse), y: field(point.y * zInverse) };
}

/** y in 255 bits, x's low bit as bit 255 (RFC 8032). */
function encode(point: Point): Uint8Array {
  const { x, y } = affine(point);
  return toBytes(y | ((x & 1n) << 255n));
}

/** RFC 7748's decodeScalar25519, as `wg` and X25519 use the key. */
function clamp(key: Uint8Array): bigint {
  const bytes = Uint8Array.from(key);
  bytes[0] &= 248;
  bytes[31] = (bytes[31] & 127) | 64;
  return fromBytes(bytes);
}

function field(n: bigint): bigint {
  const r = n % P;
  return r < 0n ? r + P : r;
}

function scalar(n: bigint): bigint {
  const r = n % Q;
  return r < 0n ? r + Q : r;
}

/** 1/n mod p by the extended Euclidean algorithm (much faster than Fermat's n^(p-2) in BigInt); 0 for 0. */
function inverse(n: bigint): bigint {
  let [r0, r1] = [P, field(n)];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const quotient = r0 / r1;
    [r0, r1] = [r1, r0 - quotient * r1];
    [t0, t1] = [t1, t0 - quotient * t1];
  }
  return field(t0);
}

function hash(...parts: Uint8Array[]): Uint8Array {
  const sha = createHash("sha512");
  for (const part of parts) sha.update(part);
  return sha.digest();
}

function fromBytes(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).reverse().toString("hex")}`);
}

/** 32 bytes, little-endian. */
function toBytes(n: bigint): Uint8Array {
  return Buffer.from(n.toString(16).padStart(64, "0"), "hex").reverse();
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

function decodeKey(base64: string, what: string): Uint8Array {
  const bytes = Buffer.from(base64.trim(), "base64");
  if (bytes.length !== 32) throw new Error(`a WireGuard ${what} is 32 bytes in base64, not ${bytes.length}`);
  return bytes;
}

/** Namespace of the attestation key's proof, so that it can pass for no other signature. */
export const NODE_PROOF_NAMESPACE = "boreal-node-proof";

/** The statement a node's attestation key signs (ssh-keygen -Y sign, on the node): the federation, the node and the key. */
export function attestationProofStatement(args: { federation: string; node: string; attestationKey: string }): string {
  return `boreal-attestation-key-proof v1\nfederation ${args.federation}\nnode ${args.node}\nkey ${args.attestationKey}\n`;
}

/** An SSHSIG armor's body as one base64 line (how a descriptor carries attestationKeyProof), and back. */
export function armorBody(armor: string): string {
  return armor
    .split("\n")
    .filter((line) => line && !line.startsWith("-----"))
    .join("");
}

export function armorOf(body: string): string {
  const lines = body.match(/.{1,70}/g) ?? [];
  return `-----BEGIN SSH SIGNATURE-----\n${lines.join("\n")}\n-----END SSH SIGNATURE-----\n`;
}

/** Undefined when attestationKeyProof is the attestation key's signature for this node and federation; else why not. */
export function checkAttestationKeyProof(
  descriptor: { node: string; attestationKey?: string; attestationKeyProof?: string },
  federation: string,
): string | undefined {
  if (!descriptor.attestationKey) return undefined;
  if (!descriptor.attestationKeyProof) {
    return `attestationKeyProof is missing: node ${descriptor.node}'s attestation key must sign for it (pulumi up has the node make it)`;
  }
  const statement = attestationProofStatement({ federation, node: descriptor.node, attestationKey: descriptor.attestationKey });
  const check = verifySignature({
    message: statement,
    signature: armorOf(descriptor.attestationKeyProof),
    namespace: NODE_PROOF_NAMESPACE,
  });
  if ("publicKey" in check && check.publicKey === descriptor.attestationKey) return undefined;
  return `attestationKeyProof does not verify: node ${descriptor.node}'s attestation key did not sign it for federation ${federation} (a key copied from another node cannot bring its proof along)`;
}
