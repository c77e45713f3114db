// node:crypto for the kit's code in the browser (esbuild puts this file where src/core says
// `node:crypto`). The core hashes and verifies synchronously; Web Crypto only answers
// asynchronously. So the core runs against an oracle: every digest and Ed25519 check it asks
// for is answered from what Web Crypto already computed, or recorded as a question with a
// provisional answer. settle() (./settle.ts) then has Web Crypto answer the questions and
// runs the core again, from scratch, until a run asks nothing new: that run saw only real
// answers, so it is exactly the run `boreal label verify` makes with Node's crypto.
import { Buffer } from "./buffer";

export type CryptoQuestion =
  | { kind: "digest"; algorithm: "sha256" | "sha512"; input: Uint8Array }
  | { kind: "verify"; publicKey: Uint8Array; data: Uint8Array; signature: Uint8Array };

export interface CryptoOracle {
  answers: Map<string, Uint8Array | boolean>;
  /** What the current run asked that has no answer yet, by key. */
  questions: Map<string, CryptoQuestion>;
}

/** The oracle of the kit instance this module belongs to: settle() builds a fresh instance per run (makeKit). */
declare const __borealOracle: CryptoOracle;

const DIGEST_BYTES = { sha256: 32, sha512: 64 } as const;

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

export function digestKey(algorithm: string, input: Uint8Array): string {
  return `${algorithm}\0${latin1(input)}`;
}

export function verifyKey(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): string {
  return `ed25519\0${latin1(publicKey)}\0${latin1(signature)}\0${latin1(data)}`;
}

function bytes(data: string | Uint8Array, encoding?: string): Uint8Array {
  return typeof data === "string" ? Buffer.from(data, encoding) : data;
}

class Hash {
  private readonly parts: Uint8Array[] = [];
  constructor(private readonly algorithm: "sha256" | "sha512") {}
  update(data: string | Uint8Array, encoding?: string): this {
    this.parts.push(bytes(data, encoding));
    return this;
  }
  digest(): Buffer;
  digest(encoding: string): string;
  digest(encoding?: string): Buffer | string {
    const input = Buffer.concat(this.parts);
    const key = digestKey(this.algorithm, input);
    let answer = __borealOracle.answers.get(key);
    if (!(answer instanceof Uint8Array)) {
      __borealOracle.questions.set(key, { kind: "digest", algorithm: this.algorithm, input });
      answer = new Uint8Array(DIGEST_BYTES[this.algorithm]);
    }
    const out = Buffer.from(answer);
    return encoding ? out.toString(encoding) : out;
  }
}

export function createHash(algorithm: string): Hash {
  if (algorithm !== "sha256" && algorithm !== "sha512") throw new Error(`hash ${algorithm} is not available in the browser`);
  return new Hash(algorithm);
}

export class KeyObject {
  constructor(readonly raw: Uint8Array) {}
}

/** Only what the core makes: an Ed25519 public key as a JWK. */
export function createPublicKey(input: { key: { kty?: string; crv?: string; x?: string }; format: string }): KeyObject {
  const { key, format } = input;
  if (format !== "jwk" || key.kty !== "OKP" || key.crv !== "Ed25519" || typeof key.x !== "string")
    throw new Error("only Ed25519 public keys are checked in the browser");
  const raw = Buffer.from(key.x, "base64url");
  if (raw.length !== 32) throw new Error(`Invalid JWK: an Ed25519 key is 32 bytes, not ${raw.length}`);
  return new KeyObject(raw);
}

export function verify(algorithm: null | undefined, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  if (algorithm) throw new Error(`verify(${algorithm}) is not available in the browser: Ed25519 only`);
  const id = verifyKey(key.raw, data, signature);
  const answer = __borealOracle.answers.get(id);
  if (typeof answer === "boolean") return answer;
  __borealOracle.questions.set(id, { kind: "verify", publicKey: key.raw, data: Buffer.from(data), signature: Buffer.from(signature) });
  // Provisionally good: the run goes as far as a good signature would take it, so it asks every
  // question that run needs at once.
  return true;
}

export function randomBytes(): never {
  throw new Error("randomBytes is not available in the browser: nothing the page checks needs it");
}
