// Signing with the real `ssh-keygen -Y sign`, so what we publish is exactly what anyone can
// check with `ssh-keygen -Y verify` (and what ./sshsig verifies without ssh-keygen).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSshPublicKey, verifySignature } from "../../core/registry/sshsig";
import { ProcessError, run, RunResult } from "../process";

/**
 * Who signs. `keyFile`: an OpenSSH private key, or a public key (".pub") whose private half
 * is in ssh-agent (SSH_AUTH_SOCK). `privateKey`: the private key's text (boreal:signingKey).
 */
export type Signer = { keyFile: string } | { privateKey: string };

const TEMP_PREFIX = "boreal-sign-";

/** For messages: never the key itself. */
export function describeSigner(signer: Signer): string {
  return "keyFile" in signer ? signer.keyFile : "the key in boreal:signingKey";
}

// ssh-keygen only takes keys from files: key text goes to a private temp directory that is
// removed whatever happens, so the key never stays on disk.
function withSignerFiles<T>(signer: Signer, use: (keyFile: string, dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX)); // mkdtemp creates it 0700
  try {
    if ("keyFile" in signer) return use(signer.keyFile, dir);
    const keyFile = join(dir, "key");
    writeFileSync(keyFile, normaliseKeyText(signer.privateKey), { mode: 0o600, flag: "wx" });
    return use(keyFile, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ssh-keygen refuses a key without its final newline or with CRLF ("error in libcrypto"),
// both of which a key pasted into a Pulumi secret easily gets.
function normaliseKeyText(text: string): string {
  return `${text.replace(/\r\n/g, "\n").trim()}\n`;
}

/** One signature or key takes milliseconds; a minute means ssh-keygen waits on something (an agent). */
const SSH_KEYGEN_TIMEOUT_MS = 60_000;

// The runner's errors name the key file; these name the signer (never a temp file's path).
function sshKeygen(args: string[], what: string, keyFile: string, signer: Signer): string {
  let result: RunResult;
  try {
    // No terminal: a passphrase prompt reads stdin, which is empty, and fails instead of hanging.
    result = run("ssh-keygen", args, { timeoutMs: SSH_KEYGEN_TIMEOUT_MS, allowFailure: true });
  } catch (error) {
    if (!(error instanceof ProcessError)) throw error;
    throw new Error(`${what} failed: cannot run ssh-keygen (${error.result.stderr || error.message}); is openssh-client installed?`);
  }
  if (result.status !== 0) {
    const stderr = result.stderr.split(keyFile).join(describeSigner(signer)).trim();
    const how = result.timedOut ? `timed out after ${SSH_KEYGEN_TIMEOUT_MS / 1000} s` : `exited with ${result.status ?? result.signal}`;
    throw new Error(`${what} failed (ssh-keygen ${how}): ${stderr || "no message"}`);
  }
  return result.stdout;
}

/** Signs `text` in `namespace`; returns the armored SSH signature. */
export function signText(text: string, signer: Signer, namespace: string): string {
  const what = `signing with ${describeSigner(signer)}`;
  return withSignerFiles(signer, (keyFile, dir) => {
    // A fresh file: if <file>.sig already exists, ssh-keygen asks before overwriting and,
    // without an answer, exits 0 having written nothing.
    const message = join(dir, "message");
    writeFileSync(message, text, "utf8");
    sshKeygen(["-Y", "sign", "-f", keyFile, "-n", namespace, message], what, keyFile, signer);
    const signature = readFileSync(`${message}.sig`, "utf8");
    // Refuse here rather than publish what peers will refuse (e.g. an RSA key).
    const check = verifySignature({ message: text, signature, namespace });
    if ("reason" in check) throw new Error(`${what} made a signature that does not verify: ${check.reason}`);
    return signature;
  });
}

/** The signer's public key, canonical "ssh-ed25519 AAAA…". */
export function signerPublicKey(signer: Signer): string {
  if ("keyFile" in signer && signer.keyFile.endsWith(".pub")) {
    let line: string;
    try {
      line = readFileSync(signer.keyFile, "utf8");
    } catch (error) {
      throw new Error(`cannot read public key ${signer.keyFile}: ${(error as Error).message}`);
    }
    try {
      return parseSshPublicKey(line).text;
    } catch (error) {
      throw new Error(`${signer.keyFile}: ${(error as Error).message}`);
    }
  }
  const what = `reading the public key of ${describeSigner(signer)}`;
  return withSignerFiles(signer, (keyFile) => {
    const line = sshKeygen(["-y", "-f", keyFile], what, keyFile, signer);
    try {
      return parseSshPublicKey(line).text;
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}`);
    }
  });
}
