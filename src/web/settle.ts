// Runs the kit's synchronous core against Web Crypto (see ./crypto-oracle.ts): run, answer
// what it asked, run again from a fresh instance, until a run asks nothing new.
import { CryptoOracle, CryptoQuestion } from "./crypto-oracle";

/** The part of Web Crypto's SubtleCrypto the page uses (the browser's, or Node's in the tests). */
export interface Subtle {
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
  importKey(format: "raw", keyData: Uint8Array, algorithm: { name: string }, extractable: boolean, usages: "verify"[]): Promise<unknown>;
  verify(algorithm: { name: string }, key: never, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
}

/** Each run answers at least one more question; a registry needs a handful (pin, then descriptors, then attestations). */
export const MAX_RUNS = 16;

export interface Settled<T> {
  result: T;
  runs: number;
  digests: number;
  verifications: number;
}

async function answer(subtle: Subtle, q: CryptoQuestion): Promise<Uint8Array | boolean> {
  if (q.kind === "digest") return new Uint8Array(await subtle.digest(q.algorithm === "sha256" ? "SHA-256" : "SHA-512", q.input));
  try {
    const key = await subtle.importKey("raw", q.publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await subtle.verify({ name: "Ed25519" }, key as never, q.signature, q.data);
  } catch (error) {
    // A browser without Ed25519 must not make every signature look forged.
    if ((error as Error).name === "NotSupportedError")
      throw new Error(
        "this browser's Web Crypto has no Ed25519, so it cannot check the signatures: use a current browser, or the commands below",
      );
    // A key Web Crypto will not take verifies nothing.
    return false;
  }
}

export async function settle<T>(run: (oracle: CryptoOracle) => T, subtle: Subtle): Promise<Settled<T>> {
  const answers = new Map<string, Uint8Array | boolean>();
  for (let runs = 1; runs <= MAX_RUNS; runs++) {
    const oracle: CryptoOracle = { answers, questions: new Map() };
    const result = run(oracle);
    if (oracle.questions.size === 0) {
      const values = [...answers.values()];
      return {
        result,
        runs,
        digests: values.filter((v) => v instanceof Uint8Array).length,
        verifications: values.filter((v) => typeof v === "boolean").length,
      };
    }
    const asked = [...oracle.questions];
    const answered = await Promise.all(asked.map(([, q]) => answer(subtle, q)));
    asked.forEach(([key], i) => answers.set(key, answered[i]));
  }
  throw new Error(`the checks did not settle in ${MAX_RUNS} runs: this page cannot judge the bundle (use the commands below)`);
}
