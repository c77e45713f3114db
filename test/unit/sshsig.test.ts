import { spawnSync, SpawnSyncOptions } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { describeSigner, signerPublicKey, signText } from "../../src/io/registry/sign";
import {
  inspectSignature,
  LABEL_NAMESPACE,
  MAX_SIGNATURE_BYTES,
  parseSshPublicKey,
  REGISTRY_NAMESPACE,
  sameKey,
  verifySignature,
} from "../../src/core/registry/sshsig";

const MESSAGE = "member: coop-a\nnode: a1\nserial: 7\n";

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options });
  if (result.error) throw result.error;
  return { status: result.status, stdout: String(result.stdout), stderr: String(result.stderr) };
}

function mustRun(cmd: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = run(cmd, args, options);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

const hasAgent = run("sh", ["-c", "command -v ssh-agent && command -v ssh-add"]).status === 0;

let work: string; // keys and messages
let temp: string; // TMPDIR of the code under test: must be empty after every test
let savedTmpdir: string | undefined;
let agentPid: number | undefined;
let agentSocket = "";
const key = (name: string) => join(work, name);
const pub = (name: string) => readFileSync(`${key(name)}.pub`, "utf8");

/** Signs a file with plain ssh-keygen, as a member would by hand. */
function plainSign(keyName: string, message: string | Buffer, namespace = REGISTRY_NAMESPACE, extra: string[] = []): string {
  const dir = mkdtempSync(join(work, "plain-"));
  writeFileSync(join(dir, "msg"), message);
  mustRun("ssh-keygen", ["-Y", "sign", "-f", key(keyName), "-n", namespace, ...extra, join(dir, "msg")]);
  return readFileSync(join(dir, "msg.sig"), "utf8");
}

/** Re-armors a signature after editing its decoded blob. */
function editBlob(armored: string, edit: (blob: Buffer) => Buffer): string {
  const body = armored.trim().split("\n").slice(1, -1).join("");
  const b64 = edit(Buffer.from(body, "base64")).toString("base64");
  return `-----BEGIN SSH SIGNATURE-----\n${b64.match(/.{1,70}/g)!.join("\n")}\n-----END SSH SIGNATURE-----\n`;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "sshsig-test-"));
  for (const name of ["a", "b"]) mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test`, "-f", key(name)]);
  mustRun("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key("rsa")]);
  mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret", "-f", key("locked")]);
  temp = join(work, "tmp");
  mkdirSync(temp);
  savedTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = temp; // os.tmpdir() follows it
});

afterEach(() => {
  expect(readdirSync(temp)).toEqual([]);
});

afterAll(() => {
  if (agentPid) {
    process.kill(agentPid);
    // ssh-agent unlinks its socket as it exits; removing the directory meanwhile can leave it behind.
    const deadline = Date.now() + 5000;
    while (existsSync(agentSocket) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("parseSshPublicKey and sameKey", () => {
  test("parses a key line and drops its comment", () => {
    const line = pub("a");
    const parsed = parseSshPublicKey(line);
    const [type, base64, comment] = line.trim().split(" ");
    expect(comment).toBe("a@test");
    expect(parsed.type).toBe("ssh-ed25519");
    expect(parsed.text).toBe(`${type} ${base64}`);
    expect(parsed.raw).toHaveLength(32);
    expect(parsed.blob.toString("base64")).toBe(base64);
    expect(parsed.blob.subarray(-32).equals(parsed.raw)).toBe(true);
  });

  test("errors name the problem", () => {
    const blobOf = (type: string, raw: Buffer) => {
      const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
      return Buffer.concat([str(Buffer.from(type)), str(raw)]).toString("base64");
    };
    const rsaBase64 = pub("rsa").split(" ")[1];
    expect(() => parseSshPublicKey("")).toThrow("public key is empty");
    expect(() => parseSshPublicKey(pub("rsa"))).toThrow('public key is of type "ssh-rsa": only ssh-ed25519 keys are supported');
    expect(() => parseSshPublicKey("ssh-ed25519")).toThrow("no base64 part");
    expect(() => parseSshPublicKey("ssh-ed25519 AAAA*not-base64")).toThrow("public key is not valid base64");
    expect(() => parseSshPublicKey(`${pub("a").split(" ").slice(0, 2).join(" ")}=`)).toThrow("public key is not valid base64");
    expect(() => parseSshPublicKey(`ssh-ed25519 ${rsaBase64}`)).toThrow('public key blob is of type "ssh-rsa"');
    expect(() => parseSshPublicKey(`ssh-ed25519 ${blobOf("ssh-ed25519", Buffer.alloc(31, 1))}`)).toThrow(
      "31-byte Ed25519 key, expected 32",
    );
    expect(() => parseSshPublicKey(`ssh-ed25519 ${Buffer.from([0, 0, 0, 11]).toString("base64")}`)).toThrow("truncated");
    const trailing = Buffer.concat([Buffer.from(blobOf("ssh-ed25519", Buffer.alloc(32, 1)), "base64"), Buffer.from([0])]);
    expect(() => parseSshPublicKey(`ssh-ed25519 ${trailing.toString("base64")}`)).toThrow("1 unexpected trailing bytes");
  });

  test("sameKey ignores comments only", () => {
    const [type, base64] = pub("a").split(" ");
    expect(sameKey(pub("a"), `${type} ${base64} someone-else@elsewhere`)).toBe(true);
    expect(sameKey(pub("a"), `  ${type}   ${base64}\n`)).toBe(true);
    expect(sameKey(pub("a"), pub("b"))).toBe(false);
    expect(sameKey(pub("a"), type)).toBe(false);
    expect(sameKey("", "")).toBe(false);
  });
});

describe("signText and verifySignature", () => {
  test("a signature from signText verifies here and with ssh-keygen -Y verify", () => {
    const signature = signText(MESSAGE, { keyFile: key("a") }, REGISTRY_NAMESPACE);
    expect(verifySignature({ message: MESSAGE, signature, namespace: REGISTRY_NAMESPACE })).toEqual({
      ok: true,
      publicKey: parseSshPublicKey(pub("a")).text,
    });
    expect(inspectSignature(signature)).toEqual({
      publicKey: parseSshPublicKey(pub("a")).text,
      namespace: REGISTRY_NAMESPACE,
      hashAlgorithm: "sha512",
    });

    writeFileSync(join(work, "allowed_signers"), `coop-a namespaces="${REGISTRY_NAMESPACE}" ${pub("a")}`);
    writeFileSync(join(work, "file.sig"), signature);
    const verify = (message: string) =>
      run(
        "ssh-keygen",
        ["-Y", "verify", "-f", join(work, "allowed_signers"), "-I", "coop-a", "-n", REGISTRY_NAMESPACE, "-s", join(work, "file.sig")],
        { input: message, stdio: ["pipe", "pipe", "pipe"] },
      );
    const good = verify(MESSAGE);
    expect(good.status).toBe(0);
    expect(good.stdout).toContain(`Good "${REGISTRY_NAMESPACE}" signature for coop-a`);
    expect(verify(MESSAGE.replace("7", "8")).status).not.toBe(0); // the harness can fail
  });

  test("a signature from plain ssh-keygen -Y sign verifies and names its key (sha512 and sha256)", () => {
    for (const [extra, hash] of [
      [[], "sha512"],
      [["-O", "hashalg=sha256"], "sha256"],
    ] as const) {
      const signature = plainSign("b", MESSAGE, REGISTRY_NAMESPACE, [...extra]);
      expect(inspectSignature(signature).hashAlgorithm).toBe(hash);
      const result = verifySignature({ message: Buffer.from(MESSAGE), signature, namespace: REGISTRY_NAMESPACE });
      expect(result).toEqual({ ok: true, publicKey: parseSshPublicKey(pub("b")).text });
      expect(verifySignature({ message: MESSAGE + " ", signature, namespace: REGISTRY_NAMESPACE }).ok).toBe(false);
    }
  });

  test("signing with the key's text gives the key file's signature and leaves no file behind", () => {
    const text = readFileSync(key("a"), "utf8");
    const fromFile = signText(MESSAGE, { keyFile: key("a") }, LABEL_NAMESPACE);
    expect(signText(MESSAGE, { privateKey: text }, LABEL_NAMESPACE)).toBe(fromFile);
    // As pasted into a Pulumi secret: no final newline, or CRLF.
    expect(signText(MESSAGE, { privateKey: text.trimEnd() }, LABEL_NAMESPACE)).toBe(fromFile);
    expect(signText(MESSAGE, { privateKey: text.replace(/\n/g, "\r\n") }, LABEL_NAMESPACE)).toBe(fromFile);
    expect(signerPublicKey({ privateKey: text })).toBe(parseSshPublicKey(pub("a")).text);
    expect(readdirSync(temp)).toEqual([]);
  });

  test("the key text is written 0600 in a 0700 directory while ssh-keygen runs", () => {
    // A wrapper ssh-keygen first in PATH records what the real one is given.
    const real = mustRun("sh", ["-c", "command -v ssh-keygen"]).trim();
    const bin = mkdtempSync(join(work, "bin-"));
    const log = join(bin, "log");
    writeFileSync(
      join(bin, "ssh-keygen"),
      `#!/bin/sh\nprev=\nfor a in "$@"; do [ "$prev" = -f ] && stat -c '%a' "$(dirname "$a")" "$a" >> '${log}'; prev=$a; done\nexec '${real}' "$@"\n`,
    );
    chmodSync(join(bin, "ssh-keygen"), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      signText(MESSAGE, { privateKey: readFileSync(key("a"), "utf8") }, REGISTRY_NAMESPACE);
    } finally {
      process.env.PATH = savedPath;
    }
    expect(readFileSync(log, "utf8").split("\n").filter(Boolean)).toEqual(["700", "600"]);
  });

  test("a failure names what failed and ssh-keygen's reason, never the key", () => {
    const text = readFileSync(key("locked"), "utf8");
    let message = "";
    try {
      signText(MESSAGE, { privateKey: text }, REGISTRY_NAMESPACE);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^signing with the key in boreal:signingKey failed \(ssh-keygen exited with 255\): .*incorrect passphrase/s);
    expect(message).not.toContain(temp);
    for (const line of text.split("\n").filter((l) => l.length > 20)) expect(message).not.toContain(line);
    expect(describeSigner({ privateKey: text })).toBe("the key in boreal:signingKey");
    expect(describeSigner({ keyFile: "/k/id" })).toBe("/k/id");
    expect(() => signText(MESSAGE, { keyFile: join(work, "missing") }, REGISTRY_NAMESPACE)).toThrow(
      `signing with ${join(work, "missing")} failed`,
    );
    expect(() => signText(MESSAGE, { keyFile: key("rsa") }, REGISTRY_NAMESPACE)).toThrow(
      /made a signature that does not verify: .*"ssh-rsa": only ssh-ed25519/,
    );
  });

  test("signerPublicKey reads private and public key files", () => {
    expect(signerPublicKey({ keyFile: key("b") })).toBe(parseSshPublicKey(pub("b")).text);
    expect(signerPublicKey({ keyFile: `${key("b")}.pub` })).toBe(parseSshPublicKey(pub("b")).text);
    expect(() => signerPublicKey({ keyFile: `${key("rsa")}.pub` })).toThrow(`${key("rsa")}.pub: public key is of type "ssh-rsa"`);
    expect(() => signerPublicKey({ keyFile: join(work, "missing.pub") })).toThrow("cannot read public key");
  });
});

describe("verifySignature refuses with a precise reason", () => {
  let signature: string;
  beforeAll(() => {
    signature = plainSign("a", MESSAGE);
  });
  const check = (sig: string, message: string | Buffer = MESSAGE, namespace = REGISTRY_NAMESPACE) =>
    verifySignature({ message, signature: sig, namespace });

  test("the baseline verifies", () => {
    expect(check(signature)).toEqual({ ok: true, publicKey: parseSshPublicKey(pub("a")).text });
  });

  test("a message changed by one byte", () => {
    const changed = Buffer.from(MESSAGE);
    changed[changed.length - 2] ^= 1;
    expect(check(signature, changed)).toEqual({
      ok: false,
      reason: "signature does not match the message (the message or the signature was changed)",
    });
  });

  test("a signature value changed by one bit", () => {
    const tampered = editBlob(signature, (blob) => {
      const copy = Buffer.from(blob);
      copy[copy.length - 1] ^= 1;
      return copy;
    });
    expect(check(tampered)).toMatchObject({ ok: false, reason: expect.stringContaining("does not match the message") });
  });

  test("another namespace", () => {
    expect(check(signature, MESSAGE, LABEL_NAMESPACE)).toEqual({
      ok: false,
      reason: 'signature is for namespace "boreal-registry", expected "boreal-label"',
    });
    expect(check(plainSign("a", MESSAGE, LABEL_NAMESPACE))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('namespace "boreal-label"'),
    });
    expect(check(signature, MESSAGE, "")).toMatchObject({ ok: false });
  });

  test("another key verifies, but names that other key for the caller to refuse", () => {
    const result = check(plainSign("b", MESSAGE));
    expect(result).toEqual({ ok: true, publicKey: parseSshPublicKey(pub("b")).text });
    expect(result.ok && sameKey(result.publicKey, pub("a"))).toBe(false);
  });

  test("truncated or garbage armor", () => {
    expect(check("")).toMatchObject({ ok: false, reason: expect.stringContaining("not an armored SSH signature") });
    expect(check(signature.replace("-----END SSH SIGNATURE-----", ""))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("not an armored SSH signature"),
    });
    expect(check("-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n")).toEqual({
      ok: false,
      reason: "signature is not valid base64 (byte 0x21 is neither base64 nor whitespace)",
    });
    expect(check(editBlob(signature, (blob) => blob.subarray(0, blob.length - 10)))).toEqual({
      ok: false,
      reason: "signature is truncated (in its signature)",
    });
    expect(check(editBlob(signature, (blob) => Buffer.concat([Buffer.from("SSHSIH"), blob.subarray(6)])))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("SSHSIG magic"),
    });
    expect(check(editBlob(signature, (blob) => Buffer.concat([blob, Buffer.from([0])])))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("trailing"),
    });
    expect(() => inspectSignature("garbage")).toThrow("not an armored SSH signature");
  });

  test("another version or hash algorithm", () => {
    const version2 = editBlob(signature, (blob) => {
      const copy = Buffer.from(blob);
      copy.writeUInt32BE(2, 6);
      return copy;
    });
    expect(check(version2)).toEqual({ ok: false, reason: "signature has version 2, only versions up to 1 are supported" });
    const sha384 = editBlob(signature, (blob) => Buffer.from(blob.toString("latin1").replace("sha512", "sha384"), "latin1"));
    expect(check(sha384)).toEqual({ ok: false, reason: 'signature uses hash "sha384": only sha512 and sha256 are supported' });
  });

  test("a signature file over the size cap is refused unread", () => {
    const big = `${signature}${"#".repeat(MAX_SIGNATURE_BYTES - signature.length + 1)}`;
    expect(MAX_SIGNATURE_BYTES).toBe(2048);
    expect(check(big)).toEqual({
      ok: false,
      reason: `signature is ${MAX_SIGNATURE_BYTES + 1} bytes, over the 2048-byte cap on signature files (an Ed25519 SSH signature is about 300 bytes)`,
    });
    expect(check(big.slice(0, -1)).ok).toBe(true); // ssh-keygen ignores what follows the END line, so does the kit
  });

  test("spellings some OpenSSH releases refuse are refused, naming the release", () => {
    expect(check(signature.replace(/\n/g, "\r\n"))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("first line ends in CRLF, which ssh-keygen before OpenSSH 9.5 refuses"),
    });
    const shortName = editBlob(signature, (blob) =>
      Buffer.from(
        blob
          .toString("latin1")
          .replace(
            "\u0000\u0000\u0000\u0033\u0000\u0000\u0000\u000bssh-ed25519",
            "\u0000\u0000\u0000\u002f\u0000\u0000\u0000\u0007ED25519",
          ),
        "latin1",
      ),
    );
    expect(check(shortName)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('"ED25519", a short name that ssh-keygen refuses since OpenSSH 10.0'),
    });
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    const malleated = editBlob(signature, (blob) => {
      const copy = Buffer.from(blob);
      const s = BigInt(`0x${Buffer.from(copy.subarray(-32)).reverse().toString("hex")}`) + L;
      Buffer.from(s.toString(16).padStart(64, "0"), "hex")
        .reverse()
        .copy(copy, copy.length - 32);
      return copy;
    });
    expect(check(malleated)).toMatchObject({ ok: false, reason: expect.stringContaining("not canonical") });
  });

  test("what ssh-keygen ignores is ignored: the reserved field, a NUL ending a string", () => {
    const withReserved = editBlob(signature, (blob) =>
      Buffer.from(
        blob
          .toString("latin1")
          .replace("\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0006sha512", "\u0000\u0000\u0000\u0003abc\u0000\u0000\u0000\u0006sha512"),
        "latin1",
      ),
    );
    expect(withReserved).not.toBe(signature);
    expect(check(withReserved)).toEqual({ ok: true, publicKey: parseSshPublicKey(pub("a")).text });
    // The key is named in its canonical spelling, whatever spelling the signature used.
    const nulType = editBlob(signature, (blob) =>
      Buffer.from(
        blob
          .toString("latin1")
          .replace(
            "\u0000\u0000\u0000\u0033\u0000\u0000\u0000\u000bssh-ed25519",
            "\u0000\u0000\u0000\u0034\u0000\u0000\u0000\u000cssh-ed25519\u0000",
          ),
        "latin1",
      ),
    );
    expect(nulType).not.toBe(signature);
    expect(check(nulType)).toEqual({ ok: true, publicKey: parseSshPublicKey(pub("a")).text });
  });
});

describe("verifySignature checks the message's bytes", () => {
  const raw = Buffer.from([0x6e, 0x6f, 0x74, 0x65, 0x3a, 0x20, 0xff, 0xe9, 0x0a]); // "note: " then bytes that are not UTF-8
  test("a file that is not UTF-8 verifies as a Buffer, not once decoded to a string", () => {
    const signature = plainSign("a", raw);
    expect(verifySignature({ message: raw, signature, namespace: REGISTRY_NAMESPACE }).ok).toBe(true);
    expect(verifySignature({ message: raw.toString("utf8"), signature, namespace: REGISTRY_NAMESPACE })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("does not match"),
    });
    expect(verifySignature({ message: raw, signature: Buffer.from(signature), namespace: REGISTRY_NAMESPACE }).ok).toBe(true);
  });

  test("a string message is its UTF-8", () => {
    const text = "note: café\n";
    const signature = plainSign("a", Buffer.from(text, "utf8"));
    expect(verifySignature({ message: text, signature, namespace: REGISTRY_NAMESPACE }).ok).toBe(true);
    expect(verifySignature({ message: Buffer.from(text, "latin1"), signature, namespace: REGISTRY_NAMESPACE }).ok).toBe(false);
  });
});

describe("verifySignature refuses other key types", () => {
  const check = (sig: string) => verifySignature({ message: MESSAGE, signature: sig, namespace: REGISTRY_NAMESPACE });

  test("an RSA signature is refused as an unsupported key type", () => {
    const rsa = plainSign("rsa", MESSAGE);
    expect(check(rsa)).toEqual({ ok: false, reason: 'signing key is of type "ssh-rsa": only ssh-ed25519 keys are supported' });
    expect(() => inspectSignature(rsa)).toThrow('"ssh-rsa"');
  });
});

describe("ssh-agent", () => {
  test.runIf(hasAgent)("signs with a .pub key file whose private half is only in ssh-agent", () => {
    const socket = (agentSocket = join(work, "agent.sock"));
    const out = mustRun("ssh-agent", ["-s", "-a", socket]);
    agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
    const authSock = /SSH_AUTH_SOCK=([^;]+)/.exec(out)?.[1];
    expect(agentPid).toBeGreaterThan(0);
    expect(authSock).toBe(socket);

    // The .pub alone in its directory: ssh-keygen would otherwise fall back to the private
    // key beside it and the agent would prove nothing.
    const lone = mkdtempSync(join(work, "lone-"));
    copyFileSync(`${key("b")}.pub`, join(lone, "b.pub"));
    const signer = { keyFile: join(lone, "b.pub") };
    const savedSock = process.env.SSH_AUTH_SOCK;
    try {
      delete process.env.SSH_AUTH_SOCK;
      expect(() => signText(MESSAGE, signer, REGISTRY_NAMESPACE)).toThrow(`signing with ${signer.keyFile} failed`);
      mustRun("ssh-add", ["-q", key("b")], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      process.env.SSH_AUTH_SOCK = socket;
      const signature = signText(MESSAGE, signer, REGISTRY_NAMESPACE);
      expect(verifySignature({ message: MESSAGE, signature, namespace: REGISTRY_NAMESPACE })).toEqual({
        ok: true,
        publicKey: parseSshPublicKey(pub("b")).text,
      });
      expect(signature).toBe(plainSign("b", MESSAGE));
      expect(signerPublicKey(signer)).toBe(parseSshPublicKey(pub("b")).text);
    } finally {
      if (savedSock === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = savedSock;
    }
  });
});
