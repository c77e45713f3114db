// The WireGuard key's proof of possession (src/core/registry/keyproof.ts): XEdDSA against the real
// `wg`, against fixed vectors computed independently, and against curve25519-js (Signal's
// curve25519 signatures, which XEdDSA's are a case of).
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import * as curve25519 from "curve25519-js";
import { describe, expect, test } from "vitest";
import {
  checkWireguardProof,
  makeWireguardProof,
  signXEdDSA,
  verifyXEdDSA,
  wireguardProofStatement,
  wireguardPublicKey,
} from "../../src/core/registry/keyproof";

const P = 2n ** 255n - 19n;
const Q = 2n ** 252n + 27742317777372353535851937790883648493n;
const FEDERATION = "fed-test";

const hex = (text: string) => Buffer.from(text, "hex");
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const fromBytes = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).reverse().toString("hex")}`);
const toBytes = (n: bigint) => Buffer.from(n.toString(16).padStart(64, "0"), "hex").reverse();
const statement = (node: string, publicKey: string, federation = FEDERATION) =>
  Buffer.from(wireguardProofStatement({ federation, node, publicKey }));

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  for (base %= P; exponent > 0n; exponent >>= 1n, base = (base * base) % P) if (exponent & 1n) result = (result * base) % P;
  return result;
}
/** The spec's u_to_y: (u - 1) / (u + 1) mod p, with 1/0 = 0. */
const edwardsY = (u: bigint) => (((u - 1n + P) % P) * power(u + 1n, P - 2n)) % P;

function wgAvailable(): string | undefined {
  const result = spawnSync("wg", ["--version"], { encoding: "utf8" });
  return result.error || result.status !== 0 ? "wg is not installed (apt-get install -y wireguard-tools)" : undefined;
}
const noWg = wgAvailable();
if (noWg) console.log(`keyproof: skipping the tests against the real wg: ${noWg}`);

function wg(args: string[], input?: string): string {
  const result = spawnSync("wg", args, { input, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`wg ${args.join(" ")}: ${result.stderr}`);
  return result.stdout.trim();
}

/** The sign bit of kB, the key's Edwards twin: curve25519-js keeps it in the top bit of its s. */
const edwardsSignBit = (privateKey: Uint8Array) => curve25519.sign(privateKey, Buffer.from("sign bit"), new Uint8Array(64))[63] >> 7;

/** wg keys until both Edwards sign bits are among them (XEdDSA negates the key for one of them). */
function wgKeys(): { privateKey: string; publicKey: string; signBit: number }[] {
  const keys: { privateKey: string; publicKey: string; signBit: number }[] = [];
  while (keys.length < 4 || new Set(keys.map((k) => k.signBit)).size < 2) {
    if (keys.length > 64) throw new Error("64 wg keys, all with one Edwards sign bit");
    const privateKey = wg(["genkey"]);
    keys.push({ privateKey, publicKey: wg(["pubkey"], `${privateKey}\n`), signBit: edwardsSignBit(Buffer.from(privateKey, "base64")) });
  }
  return keys;
}

describe("the statement", () => {
  test("names the federation, the node and the key, one per line", () => {
    expect(wireguardProofStatement({ federation: "nordic", node: "a1", publicKey: "KEY=" })).toBe(
      "boreal-wireguard-key-proof v1\nfederation nordic\nnode a1\nkey KEY=\n",
    );
  });
});

describe.skipIf(noWg !== undefined)("against the real wg", () => {
  const keys = noWg ? [] : wgKeys();

  test("the public key derived from the private key is wg pubkey's", () => {
    for (const key of keys) expect(wireguardPublicKey(key.privateKey)).toBe(key.publicKey);
  });

  test("a proof made with the key verifies for its node and federation, whatever the Edwards sign bit", () => {
    for (const key of keys) {
      const keyProof = makeWireguardProof(key.privateKey, { federation: FEDERATION, node: "a1", publicKey: key.publicKey });
      expect(Buffer.from(keyProof, "base64")).toHaveLength(64);
      expect(checkWireguardProof({ node: "a1", publicKey: key.publicKey, keyProof }, FEDERATION)).toBeUndefined();
    }
  });

  test("the proof does not carry over: another node, another federation, another key, a tampered statement", () => {
    const [mine, theirs] = keys;
    const keyProof = makeWireguardProof(mine.privateKey, { federation: FEDERATION, node: "a1", publicKey: mine.publicKey });
    const refused = (descriptor: { node: string; publicKey: string; keyProof?: string }, federation = FEDERATION) =>
      checkWireguardProof(descriptor, federation);
    expect(refused({ node: "b1", publicKey: mine.publicKey, keyProof }), "the same key and proof under another node's name").toMatch(
      /^keyProof does not verify: the node's WireGuard key did not sign it for node b1 of federation fed-test/,
    );
    expect(refused({ node: "a1", publicKey: mine.publicKey, keyProof }, "other-fed")).toMatch(/^keyProof does not verify/);
    // The dishonest member's case: another node's key, with a proof of its own key's making.
    const ownProof = makeWireguardProof(theirs.privateKey, { federation: FEDERATION, node: "a1", publicKey: theirs.publicKey });
    expect(refused({ node: "a1", publicKey: mine.publicKey, keyProof: ownProof })).toMatch(/^keyProof does not verify/);
    const tampered = Buffer.from(statement("a1", mine.publicKey));
    tampered[tampered.length - 2] ^= 1;
    expect(verifyXEdDSA(Buffer.from(mine.publicKey, "base64"), tampered, Buffer.from(keyProof, "base64"))).toBe(false);
    expect(refused({ node: "a1", publicKey: mine.publicKey })).toMatch(/^keyProof is missing: node a1's descriptor/);
    expect(refused({ node: "a1", publicKey: mine.publicKey, keyProof: "bm90IGEgc2lnbmF0dXJl" })).toMatch(/^keyProof does not verify/);
  });

  test("a proof is made only over the private key's own public key", () => {
    const [mine, theirs] = keys;
    expect(() => makeWireguardProof(mine.privateKey, { federation: FEDERATION, node: "a1", publicKey: theirs.publicKey })).toThrow(
      `is that of ${mine.publicKey}, not of ${theirs.publicKey}`,
    );
  });

  test("curve25519-js, an independent implementation, agrees", () => {
    for (const key of keys) {
      const privateKey = Buffer.from(key.privateKey, "base64");
      const publicKey = Buffer.from(key.publicKey, "base64");
      const message = statement("a1", key.publicKey);
      // Ours verify there: its verifier takes the Edwards sign bit from s's top bit, 0 in XEdDSA.
      expect(curve25519.verify(publicKey, message, signXEdDSA(privateKey, message))).toBe(true);
      // Its signatures are XEdDSA's when kB's sign bit is 0. When it is 1, it keeps the bit in
      // s's top bit instead of negating the key, an s ≥ 2^253 that XEdDSA's verifier refuses.
      expect(verifyXEdDSA(publicKey, message, curve25519.sign(privateKey, message, new Uint8Array(64).fill(7)))).toBe(key.signBit === 0);
    }
  });
});

describe("fixed vectors", () => {
  test("the public key of RFC 7748's and libsignal's test private keys", () => {
    // RFC 7748 section 6.1 (Alice), then libsignal-protocol-c tests/test_curve25519.c.
    const vectors = [
      [
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
      ],
      [
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
      ],
      [
        "c806439dc9d2c476ffed8f2580c0888d58ab406bf7ae3698879021b96bb4bf59",
        "1bb75966f2e93a3691dfff942bb2a466a1c08b8d78ca3f4d6df8b8bfa2e4ee28",
      ],
      [
        "c097248412e58bf05df48796820513279417 8e367637f5818f81e0e6ce73e865".replace(" ", ""),
        "ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64",
      ],
    ];
    for (const [privateKey, publicKey] of vectors)
      expect(Buffer.from(wireguardPublicKey(b64(hex(privateKey))), "base64").toString("hex")).toBe(publicKey);
  });

  // Computed with libsodium (Debian's python3-nacl 1.5.0), the spec's steps one by one:
  // k = clamp(key); E = crypto_scalarmult_ed25519_base_noclamp(k); a = k mod q, negated
  // (crypto_core_ed25519_scalar_negate) when E's sign bit is 1; A = E with that bit cleared;
  // r = reduce(SHA-512(0xFE 0xFF×31 || a || M || Z)); R = base_noclamp(r);
  // h = reduce(SHA-512(R || A || M)); s = r + h·a (scalar_add, scalar_mul). Z = bytes 0..63,
  // M = the statement for node a1 of fed-test. One key of each Edwards sign bit.
  const SIGNED = [
    {
      privateKey: "01".repeat(32),
      signBit: 0,
      signature:
        "eec45f5f28390fff6b9ae1ad352684d2131caab918dc250d05e7b4d534bf2229f734d4c440f4b44e62ac6e81cc349f9f404bb212f40815a7a8d07b2df3d9940f",
    },
    {
      privateKey: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
      signBit: 1,
      signature:
        "a7ee16535ad2552fc0e77ba2cd8a24c6f2e1a6e06fefd6d62c9042db404e14923657446d778cacd63aa1d757b215d01e7e5f639152eddf623680c576a877cf0e",
    },
  ];
  const Z = Uint8Array.from({ length: 64 }, (_, i) => i);

  test.each(SIGNED)("XEdDSA signature, Edwards sign bit $signBit, byte for byte", ({ privateKey, signBit, signature }) => {
    const key = hex(privateKey);
    expect(edwardsSignBit(key)).toBe(signBit);
    const publicKey = wireguardPublicKey(b64(key));
    const message = statement("a1", publicKey);
    expect(Buffer.from(signXEdDSA(key, message, Z)).toString("hex")).toBe(signature);
    expect(verifyXEdDSA(Buffer.from(publicKey, "base64"), message, hex(signature))).toBe(true);
  });

  test("a libsignal signature that keeps the sign bit in s is not XEdDSA's, and is refused", () => {
    // libsignal-protocol-c tests/test_curve25519.c: aliceIdentityPublic signs aliceEphemeralPublic.
    const publicKey = hex("ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64");
    const message = hex("05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a");
    const signature = hex(
      "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfbede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88",
    );
    expect(curve25519.verify(publicKey, message, signature)).toBe(true);
    expect(verifyXEdDSA(publicKey, message, signature)).toBe(false);
  });
});

describe("what the verifier refuses", () => {
  const privateKey = hex("01".repeat(32));
  const publicKey = Buffer.from(wireguardPublicKey(b64(privateKey)), "base64");
  const message = statement("a1", b64(publicKey));
  const signature = signXEdDSA(privateKey, message);
  const withS = (s: bigint) => Buffer.concat([signature.subarray(0, 32), toBytes(s)]);
  const s = fromBytes(signature.subarray(32));

  test("the genuine signature passes (the cases below change one thing each)", () => {
    expect(verifyXEdDSA(publicKey, message, signature)).toBe(true);
    expect(verifyXEdDSA(publicKey, message, withS(s))).toBe(true);
  });

  test("a non-canonical s: s + q, and s with libsignal's sign bit set", () => {
    expect(verifyXEdDSA(publicKey, message, withS(s + Q))).toBe(false);
    expect(verifyXEdDSA(publicKey, message, withS(s | (1n << 255n)))).toBe(false);
  });

  test("u ≥ p: the same key as u + p", () => {
    expect(verifyXEdDSA(toBytes(fromBytes(publicKey) + P), message, signature)).toBe(false);
  });

  test("an R that is not on the curve, a u on the twist, wrong lengths", () => {
    const offCurve = (y: bigint) => {
      const y2 = (y * y) % P;
      const d = (P - ((121665n * power(121666n, P - 2n)) % P)) % P;
      const x2 = (((y2 - 1n + P) % P) * power((d * y2 + 1n) % P, P - 2n)) % P;
      return power(x2, (P - 1n) / 2n) === P - 1n; // no square root: no x for this y
    };
    let y = 2n;
    while (!offCurve(y)) y++;
    expect(verifyXEdDSA(publicKey, message, Buffer.concat([toBytes(y), signature.subarray(32)]))).toBe(false);
    // u on the twist: u³ + 486662u² + u is not a square, so its Edwards y has no x either.
    let u = 2n;
    while (power((u * u * u + 486662n * u * u + u) % P, (P - 1n) / 2n) !== P - 1n) u++;
    expect(verifyXEdDSA(toBytes(u), message, signature)).toBe(false);
    expect(verifyXEdDSA(publicKey.subarray(1), message, signature)).toBe(false);
    expect(verifyXEdDSA(publicKey, message, signature.subarray(1))).toBe(false);
    expect(() => signXEdDSA(privateKey.subarray(1), message)).toThrow(/32 bytes/);
    expect(() => signXEdDSA(privateKey, message, new Uint8Array(32))).toThrow(/64 bytes/);
  });

  // Every u of small order on Curve25519 (the X25519 blocklist: libsodium's, among others),
  // and p - 1, off the curve but mapped by the spec's 1/0 = 0 to the order-4 y = 0.
  const SMALL_ORDER_U = [
    0n,
    1n,
    325606250916557431795983626356110631294008115727848805560023387167927233504n,
    39382357235489614581723060781553021112529911719440698176882885853963445705823n,
    P - 1n,
  ];

  test.each(SMALL_ORDER_U.map((u) => ({ u: u.toString().slice(0, 12) + (u > 10n ** 12n ? "…" : ""), value: u })))(
    "small order u = $u, even with a signature anyone can make",
    ({ value }) => {
      // A = the key's Edwards point of sign 0; 8A is the identity. Forged: R = rB for a known
      // r (an Ed25519 key node:crypto makes from a seed), a message whose h is a multiple of 8,
      // then s = r satisfies sB = R + hA. curve25519-js, which has no such check, takes it.
      // (Node 24's OpenSSL refuses small-order Ed25519 keys itself; the check here does not
      // count on the OpenSSL of the node's nodejs doing so.)
      const A = toBytes(edwardsY(value));
      const seed = createHash("sha256").update("forger").digest();
      const ed = createPrivateKey({ key: Buffer.concat([hex("302e020100300506032b657004220420"), seed]), format: "der", type: "pkcs8" });
      const R = Buffer.from(createPublicKey(ed).export({ format: "jwk" }).x!, "base64url");
      const expanded = createHash("sha512").update(seed).digest().subarray(0, 32);
      expanded[0] &= 248;
      expanded[31] = (expanded[31] & 127) | 64;
      const r = fromBytes(expanded) % Q;
      let forged: Buffer | undefined;
      for (let i = 0; !forged; i++) {
        const candidate = Buffer.from(`forged ${i}`);
        const h = fromBytes(createHash("sha512").update(R).update(A).update(candidate).digest()) % Q;
        if (h % 8n === 0n) forged = candidate;
      }
      const forgedSignature = Buffer.concat([R, toBytes(r)]);
      expect(curve25519.verify(toBytes(value), forged, forgedSignature), "a forgery that a verifier without the check takes").toBe(true);
      expect(verifyXEdDSA(toBytes(value), forged, forgedSignature)).toBe(false);
      expect(verifyXEdDSA(toBytes(value), message, signature)).toBe(false);
    },
  );

  test("the all-zero key, in a descriptor", () => {
    const zero = b64(new Uint8Array(32));
    const keyProof = b64(signature);
    expect(checkWireguardProof({ node: "a1", publicKey: zero, keyProof }, FEDERATION)).toMatch(/^keyProof does not verify/);
  });
});
