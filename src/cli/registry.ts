// `boreal registry ...`: the federation registry for people. init starts a federation
// (version 1), admit drafts the next version, sign adds a member's signature to a
// version, check verifies a registry exactly as the nodes do (for its CI), and
// allowed-signers prints the file plain `ssh-keygen -Y verify` needs. boreal.ts only
// dispatches here.
//
// Exit codes: 0 done; 1 check found rejected objects (or nothing could be trusted);
// 2 nothing done: bad usage, unreadable input, or a refusal (the message says why and how).
//
// Everything a registry, a mirror or a member's file says is hostile: every name, path,
// reason and value from them is escaped (src/core/values/escape.ts) before it is printed, so a
// file name cannot forge a line of the report or drive the terminal.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { BorealConfigError, ConfigProblem, formatProblems, problemsFromZod } from "../core/values/problems";
import { escapeShort, escapeText } from "../core/values/escape";
import {
  descriptorPath,
  FEDERATION_DIR,
  federationPath,
  federationSchema,
  FederationVersion,
  NODES_DIR,
  parseFederationVersion,
} from "../core/registry/format";
import { memberShare } from "../core/mesh/allocate";
import { readRegistrySource, ReadSource, verifySources } from "../io/registry/read";
import { describeSigner, Signer, signerPublicKey } from "../io/registry/sign";
import { parseSshPublicKey, REGISTRY_NAMESPACE, verifySignature } from "../core/registry/sshsig";
import { formatTrust, HeldState, parseTrust, Rejection, sha256, TrustAnchor, VerifiedRegistry } from "../core/registry/verify";
import { writeFederationVersion, signFederationVersion } from "../io/registry/write";

const MEMBER_SPEC = "NAME:PUBKEYFILE:ZONE[,ZONE...]:MESHCIDR";
const NODES_SPEC = "NAME:NODE[,NODE...]";

const VERB_USAGE = {
  init: [
    `boreal registry init DIR --name NAME --domain DOMAIN --mesh-ipv4 CIDR --mesh-ipv6 ULA48 --threshold M --member ${MEMBER_SPEC}... [--nodes ${NODES_SPEC}...] [--allow-underlay documentation|private...] [--mirror URL...]`,
    "start a federation: write its version 1, federation/1.yaml",
  ],
  admit: [
    `boreal registry admit DIR [--member ${MEMBER_SPEC}...] [--nodes ${NODES_SPEC}...] [--remove NAME...] [--add-key NAME:PUBKEYFILE...] [--remove-key NAME:PUBKEYFILE...] [--threshold M] [--mirror URL...] [--trust N:SHA256]`,
    "draft the next federation version (unsigned) from the newest trusted one",
  ],
  sign: [
    "boreal registry sign DIR --version N --member NAME --key KEYFILE",
    "sign federation/<N>.yaml as member NAME (KEYFILE: a private key, or a .pub whose key is in ssh-agent)",
  ],
  check: [
    "boreal registry check DIR [--trust N:SHA256] [--since REV] [--held FILE] [--write-held FILE]",
    "verify a registry as the nodes do; exit 1 if anything is rejected (for its CI). --since REV (a git revision of DIR, e.g. origin/main), --held FILE (a node's state.json, or what --write-held wrote): also as the nodes holding it do (rollbacks, same-serial swaps, resurrections refused)",
  ],
  "allowed-signers": [
    "boreal registry allowed-signers DIR [--trust N:SHA256] [--version N]",
    "the allowed_signers file of a trusted version, for ssh-keygen -Y verify",
  ],
} as const;

export type RegistryVerb = keyof typeof VERB_USAGE;

const COLUMN = 61; // where boreal.ts's usage starts descriptions

function usageLines(verb: RegistryVerb): string {
  const [command, what] = VERB_USAGE[verb];
  const head = `  ${command}`;
  return head.length + 3 <= COLUMN ? `${head.padEnd(COLUMN)}${what}` : `${head}\n${" ".repeat(COLUMN)}${what}`;
}

/** The registry lines of `boreal`'s usage. */
export const REGISTRY_USAGE = (Object.keys(VERB_USAGE) as RegistryVerb[]).map(usageLines).join("\n");

export function isRegistryVerb(verb: string | undefined): verb is RegistryVerb {
  return verb !== undefined && Object.prototype.hasOwnProperty.call(VERB_USAGE, verb);
}

/** Something the user can fix: what is wrong (naming the flag or file) and how to fix it. */
export class CliError extends Error {
  constructor(message: string, readonly fix?: string, readonly usage = false) {
    super(message);
  }
}

export const usageError = (message: string, fix = "see the usage below") => new CliError(message, fix, true);

export interface RegistryIo {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Control characters left in a line (every registry value is escaped where it is printed;
 * this is the last guard): shown as escapes, so nothing reaches the terminal raw. Newlines
 * and tabs of our own layout stay.
 */
const STRAY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;
export function neutralize(text: string): string {
  return text.replace(STRAY_CONTROL, (char) => escapeText(char));
}

export const processIo: RegistryIo = {
  out: (line) => process.stdout.write(`${neutralize(line)}\n`),
  err: (line) => process.stderr.write(`${neutralize(line)}\n`),
};

/** Runs `boreal registry VERB ARGS...`; returns the exit code. Never throws. */
export function runRegistry(verb: RegistryVerb, args: string[], io: RegistryIo = processIo): number {
  try {
    switch (verb) {
      case "init":
        return init(args, io);
      case "admit":
        return admit(args, io);
      case "sign":
        return sign(args, io);
      case "check":
        return check(args, io);
      case "allowed-signers":
        return allowedSigners(args, io);
    }
  } catch (error) {
    return reportFailure(`boreal registry ${verb}`, usageLines(verb), error, io);
  }
}

/** What a command that failed says: the problem, its fix, the usage when it was misused. Exit code 2. */
export function reportFailure(command: string, usage: string, error: unknown, io: RegistryIo, env: NodeJS.ProcessEnv = process.env): number {
  for (const line of failureLines(command, error, env)) io.err(line);
  if (error instanceof CliError && error.usage) io.err(`usage:\n${usage}`);
  return 2;
}

/** BOREAL_DEBUG=1: an internal error shows its stack trace. */
export const DEBUG_VARIABLE = "BOREAL_DEBUG";
const debugging = (env: NodeJS.ProcessEnv) => ["1", "true", "yes"].includes((env[DEBUG_VARIABLE] ?? "").toLowerCase());

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: "does not exist",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "the name is too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EEXIST: "already exists",
  EIO: "input/output error",
  EBUSY: "busy",
  ETIMEDOUT: "timed out",
  ECONNREFUSED: "connection refused",
  EHOSTUNREACH: "host unreachable",
  ENOTFOUND: "name not found",
};

/** A refusal of the system (a missing file, a permission), in words; undefined for anything else. */
export function systemErrorText(error: unknown, withPath = true): string | undefined {
  const e = error as NodeJS.ErrnoException;
  if (!(error instanceof Error) || typeof e.code !== "string" || !/^E[A-Z]+$/.test(e.code) || (e.syscall === undefined && !(e.code in SYSTEM_ERRORS))) return undefined;
  const what = SYSTEM_ERRORS[e.code] ?? "failed";
  const where = withPath && typeof e.path === "string" ? `${escapeText(e.path)}: ` : "";
  return `${where}${what} (${e.code}${e.syscall ? `, ${escapeText(e.syscall)}` : ""})`;
}

/** An error with a message written for people: a CliError, a BorealConfigError, or a plain Error the kit threw with its words. */
function isWrittenForPeople(error: unknown): error is Error {
  if (error instanceof CliError || error instanceof BorealConfigError) return true;
  return error instanceof Error && Object.getPrototypeOf(error) === Error.prototype && (error as NodeJS.ErrnoException).code === undefined;
}

/**
 * What a failed command prints: bad input and the system's refusals in words, with their fix;
 * anything else is a bug in the kit, said as such, without Node.js's own message or a stack
 * trace unless BOREAL_DEBUG=1 asks for them. Every line is safe for a terminal.
 */
export function failureLines(command: string, error: unknown, env: NodeJS.ProcessEnv = process.env): string[] {
  const lines: string[] = [];
  const system = systemErrorText(error);
  if (system !== undefined) {
    lines.push(`${command}: ${system}`, "  fix: check the path and its permissions, then run the command again");
  } else if (isWrittenForPeople(error)) {
    lines.push(...`${command}: ${error.message}`.split("\n"));
    if (error instanceof CliError && error.fix) lines.push(`  fix: ${error.fix}`);
  } else {
    lines.push(
      `${command}: internal error: this is a bug in boreal-kit, not a problem with your input`,
      `  fix: run the command again with ${DEBUG_VARIABLE}=1 to see the error and its stack trace, and report them with the command you ran`,
    );
    if (debugging(env)) {
      const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      lines.push(...`${DEBUG_VARIABLE}: ${detail}`.split("\n"));
    }
  }
  return lines.map(neutralize);
}

// ---------------------------------------------------------------- arguments

interface Args {
  dir: string;
  one(flag: string): string | undefined;
  all(flag: string): string[];
}

export interface Options {
  positional: string[];
  one(flag: string): string | undefined;
  all(flag: string): string[];
  /** A switch (a flag without a value) was given. */
  on(flag: string): boolean;
}

/** `--flag value` / `--flag=value` options, `switches` without a value; `multi` flags may repeat. */
export function parseOptions(args: string[], single: string[], multi: string[] = [], switches: string[] = []): Options {
  const values = new Map<string, string[]>();
  const positional: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (switches.includes(flag)) {
      if (eq >= 0) throw usageError(`${flag} takes no value`, `give ${flag} alone`);
      given.add(flag);
      continue;
    }
    if (!single.includes(flag) && !multi.includes(flag)) throw usageError(`unknown option ${flag}`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || value.startsWith("--")) throw usageError(`${flag} needs a value`);
      i++;
    }
    if (value === "") throw usageError(`${flag} needs a value`);
    const list = values.get(flag) ?? [];
    if (list.length > 0 && single.includes(flag)) throw usageError(`${flag} is given twice`, `give ${flag} once`);
    list.push(value);
    values.set(flag, list);
  }
  return { positional, one: (flag) => values.get(flag)?.[0], all: (flag) => values.get(flag) ?? [], on: (flag) => given.has(flag) };
}

/** DIR and options. */
function parseArgs(args: string[], single: string[], multi: string[] = []): Args {
  const { positional, one, all } = parseOptions(args, single, multi);
  if (positional.length === 0) throw usageError("the registry directory DIR is missing", "give the registry directory (a clone holding federation/ and nodes/) first");
  if (positional.length > 1) throw usageError(`one registry directory expected, got ${positional.map((p) => JSON.stringify(p)).join(" ")}`, "give DIR once; every other value follows its --option");
  return { dir: positional[0], one, all };
}

function wholeNumber(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min) throw usageError(`${flag} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`, `e.g. ${flag} ${Math.max(min, 2)}`);
  return Number(text);
}

function required(a: Args, flag: string, example: string): string {
  const value = a.one(flag);
  if (value === undefined) throw usageError(`${flag} is missing`, `add ${flag} ${example}`);
  return value;
}

/** The public keys in a file: one `ssh-ed25519 AAAA... comment` per line. */
function readPublicKeys(file: string, flag: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(`${flag}: cannot read public key file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, "give the path of the member's ssh-ed25519 public key, e.g. ~/.ssh/id_ed25519.pub");
  }
  if (/PRIVATE KEY/.test(text)) throw new CliError(`${flag}: ${file} is a private key`, "give the public half (the .pub file); a private key never leaves its member");
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  if (lines.length === 0) throw new CliError(`${flag}: ${file} holds no public key`, "give the member's key.pub (ssh-keygen -t ed25519 makes one)");
  return lines.map((line, i) => {
    try {
      return parseSshPublicKey(line).text;
    } catch (error) {
      throw new CliError(`${flag}: ${file}${lines.length > 1 ? ` (key ${i + 1})` : ""}: ${(error as Error).message}`, "members sign with ssh-ed25519 keys: ssh-keygen -t ed25519, then give the .pub file");
    }
  });
}

type Member = FederationVersion["members"][number];

function parseMemberSpec(text: string, flag: string): Member {
  const example = `${flag} coop-a:keys/coop-a.pub:coop-a.example.:100.64.0.16/28`;
  const last = text.lastIndexOf(":");
  const zonesAt = last > 0 ? text.lastIndexOf(":", last - 1) : -1;
  const first = text.indexOf(":");
  if (first < 0 || zonesAt <= first) throw usageError(`${flag} ${JSON.stringify(text)} is not ${MEMBER_SPEC}`, `e.g. ${example}`);
  const name = text.slice(0, first);
  const keyFile = text.slice(first + 1, zonesAt);
  const zones = text.slice(zonesAt + 1, last).split(",").filter(Boolean);
  const mesh = text.slice(last + 1);
  if (!name || !keyFile || zones.length === 0 || !mesh) throw usageError(`${flag} ${JSON.stringify(text)} is not ${MEMBER_SPEC} (a part is empty)`, `e.g. ${example}`);
  // The node names only this member may publish; --nodes gives others (a prefix ends in *).
  return { name, keys: readPublicKeys(keyFile, `${flag} ${name}`), zones, mesh, nodes: [`${name}-*`] };
}

/** --nodes coop-a:a1,a2 or coop-a:coop-a-*: the node names a member may publish (members[].nodes). */
function parseNodesSpec(text: string): { name: string; nodes: string[] } {
  const at = text.indexOf(":");
  const nodes = text.slice(at + 1).split(",").filter(Boolean);
  if (at <= 0 || nodes.length === 0) throw usageError(`--nodes ${JSON.stringify(text)} is not ${NODES_SPEC}`, 'e.g. --nodes coop-a:a1,a2 or --nodes "coop-a:coop-a-*"');
  return { name: text.slice(0, at), nodes };
}

/** Applies --nodes to the members of a draft, naming the option when a member is unknown. */
function applyNodes(members: { name: string; nodes: string[] }[], specs: string[]): void {
  for (const spec of specs) {
    const { name, nodes } = parseNodesSpec(spec);
    const member = members.find((m) => m.name === name);
    if (!member) throw usageError(`--nodes ${JSON.stringify(spec)}: ${name} is not a member of this draft`, `give --member ${name}:... first, or check the spelling`);
    member.nodes = nodes;
  }
}

function parseKeySpec(text: string, flag: string): { name: string; keys: string[] } {
  const at = text.indexOf(":");
  if (at <= 0 || at === text.length - 1) throw usageError(`${flag} ${JSON.stringify(text)} is not NAME:PUBKEYFILE`, `e.g. ${flag} coop-a:keys/coop-a-2027.pub`);
  const name = text.slice(0, at);
  return { name, keys: readPublicKeys(text.slice(at + 1), `${flag} ${name}`) };
}

// ---------------------------------------------------------------- registry reading

function readSource(dir: string): ReadSource {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    throw new CliError(`registry directory ${dir} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, "give the registry directory: a clone holding federation/ and nodes/");
  }
  if (!isDir) throw new CliError(`${dir} is not a directory`, "give the registry directory: a clone holding federation/ and nodes/");
  try {
    return readRegistrySource(dir, basename(dir) || dir);
  } catch (error) {
    throw new CliError(`registry directory ${dir} cannot be read: ${systemErrorText(error) ?? escapeShort((error as Error).message)}`, "check the permissions of its federation/ and nodes/");
  }
}

/** Names that could be registry objects (the verifier says which are); nothing else is read. */
const OBJECT_LIKE = new RegExp(`^(${FEDERATION_DIR}/\\d+\\.yaml(\\.[^/]+\\.sig)?|${NODES_DIR}/[^/]+\\.yaml(\\.sig)?)$`);

/** The text of each file that could be a registry object, by path; a file that cannot be read is left to the verifier, which reports it. */
function registryFiles(source: ReadSource): Map<string, string> {
  const files = new Map<string, string>();
  for (const file of source.files) {
    if (!OBJECT_LIKE.test(file.path)) continue;
    try {
      files.set(file.path, file.content);
    } catch {
      // Too large, not UTF-8, gone: the verifier refuses it by name and reason.
    }
  }
  return files;
}

/** federation/<N>.yaml as a version number: only the names nodes read (1, 2, ..., no leading zero). */
function versionOfPath(path: string): number | undefined {
  const m = new RegExp(`^${FEDERATION_DIR}/(\\d+)\\.yaml$`).exec(path);
  if (!m) return undefined;
  const version = Number(m[1]);
  return Number.isSafeInteger(version) && version >= 1 && String(version) === m[1] ? version : undefined;
}

function versionsIn(files: Iterable<string>): number[] {
  const versions: number[] = [];
  for (const path of files) {
    const version = versionOfPath(path);
    if (version !== undefined) versions.push(version);
  }
  return versions.sort((a, b) => a - b);
}

/** federation/ files whose name looks like a version but is none a node reads (federation/00.yaml, 007.yaml). */
function misnamedVersions(files: Iterable<string>): string[] {
  return [...files].filter((path) => new RegExp(`^${FEDERATION_DIR}/\\d+\\.yaml$`).test(path) && versionOfPath(path) === undefined);
}

/** The federation versions on disk (also files readRegistrySource would refuse). */
function versionsOnDisk(dir: string): number[] {
  try {
    return versionsIn(readdirSync(join(dir, FEDERATION_DIR)).map((f) => `${FEDERATION_DIR}/${f}`));
  } catch {
    return [];
  }
}

export interface Trusted {
  source: ReadSource;
  files: Map<string, string>;
  anchor: TrustAnchor;
  pinned: boolean;
  /** As a node verifies it: from `held` when one was given (--since, --held), else from the anchor alone. */
  verified: VerifiedRegistry;
  /** With `held`: the same directory as a node that holds nothing yet (a new member) verifies it. */
  fresh?: VerifiedRegistry;
}

/** Where an unpinned check takes its anchor from: the lowest version of the first set that has one. */
interface AnchorCandidates {
  /** How the warning names a file of it, e.g. `reg/federation/1.yaml` or `origin/main:federation/1.yaml`. */
  name: (path: string) => string;
  files: Map<string, string>;
  /** Every file name of the source, read or not. */
  paths: string[];
}

/** --trust, or (unpinned) the lowest version found, said loudly. */
function trustAnchor(trustText: string | undefined, candidates: AnchorCandidates[], where: string, io: RegistryIo, command: string): { anchor: TrustAnchor; pinned: boolean } {
  if (trustText !== undefined) {
    const parsed = parseTrust(trustText);
    if (!parsed) throw usageError(`--trust ${JSON.stringify(trustText)} is not N:SHA256`, "copy the pin of your stack (boreal:trust), e.g. --trust 1:<64 hex digits>");
    return { anchor: parsed, pinned: true };
  }
  for (const { name, files, paths } of candidates) {
    const lowest = versionsIn(paths)[0];
    if (lowest === undefined) continue;
    const content = files.get(federationPath(lowest));
    if (content === undefined) {
      throw new CliError(`${escapeText(name(federationPath(lowest)))} cannot be read (too large, not UTF-8 text, or not a regular file), so it cannot be trusted as found`, "boreal registry check --trust N:SHA256 names the refusal; or mend the file");
    }
    const anchor = { version: lowest, sha256: sha256(content) };
    io.err(
      `${command}: WARNING: UNPINNED. No --trust given, so ${escapeText(name(federationPath(lowest)))} is trusted as found (sha256 ${anchor.sha256}). ` +
        "Anyone who can write to this directory could have written it: compare that sha256 with the federation's published pin, or pass --trust N:SHA256 (your stack's boreal:trust).",
    );
    return { anchor, pinned: false };
  }
  const misnamed = candidates.flatMap((c) => misnamedVersions(c.paths));
  if (misnamed.length > 0) {
    throw new CliError(
      `${where} holds no federation version a node would read: ${misnamed.slice(0, 5).map(escapeText).join(", ")}${misnamed.length > 5 ? ", ..." : ""} ${misnamed.length === 1 ? "is not a version's name" : "are not versions' names"}`,
      `versions are named ${FEDERATION_DIR}/1.yaml, ${FEDERATION_DIR}/2.yaml, ... without leading zeros: rename the file (git mv), or pass --trust N:SHA256`,
    );
  }
  throw new CliError(`${where} holds no federation version (${FEDERATION_DIR}/<N>.yaml)`, "start a federation with boreal registry init, or give the directory of a registry clone");
}

/** Verifies DIR like the nodes do, against --trust or (unpinned) its lowest version. */
export function verifyDir(dir: string, trustText: string | undefined, io: RegistryIo, command = "boreal registry"): Trusted {
  const source = readSource(dir);
  const files = registryFiles(source);
  const { anchor, pinned } = trustAnchor(trustText, [{ name: (path) => join(dir, path), files, paths: source.files.map((f) => f.path) }], dir, io, command);
  return verifiedTrusted(source, files, anchor, pinned);
}

/** The directory verified from the anchor, and (with `held`) also as a node holding `held` does. */
function verifiedTrusted(source: ReadSource, files: Map<string, string>, anchor: TrustAnchor, pinned: boolean, held?: HeldState): Trusted {
  const fresh = verifySources([source], anchor);
  if (held === undefined) return { source, files, anchor, pinned, verified: fresh };
  return { source, files, anchor, pinned, verified: verifySources([source], anchor, structuredClone(held)), fresh };
}

interface SignatureReport {
  signers: string[];
  bad: { path: string; reason: string }[];
}

/** Who of `signing`'s members signed federation/<version>.yaml, and the signature files that do not count. */
function signaturesOf(files: Map<string, string>, version: number, signing: FederationVersion): SignatureReport {
  const content = files.get(federationPath(version)) ?? "";
  const report: SignatureReport = { signers: [], bad: [] };
  const prefix = `${federationPath(version)}.`;
  for (const [path, signature] of files) {
    if (!path.startsWith(prefix) || !path.endsWith(".sig")) continue;
    const name = path.slice(prefix.length, -".sig".length);
    const member = signing.members.find((m) => m.name === name);
    if (!member) {
      report.bad.push({ path, reason: `${name} is not a member of federation version ${signing.version}, whose members sign version ${version}` });
      continue;
    }
    const check = verifySignature({ message: content, signature, namespace: REGISTRY_NAMESPACE });
    if ("reason" in check) report.bad.push({ path, reason: `bad signature: ${check.reason}` });
    else if (!member.keys.includes(check.publicKey)) report.bad.push({ path, reason: `signed by ${fingerprint(check.publicKey)}, which is not one of member ${name}'s keys in federation version ${signing.version}` });
    else report.signers.push(name);
  }
  // The same order as the version lists its members.
  report.signers.sort((a, b) => signing.members.findIndex((m) => m.name === a) - signing.members.findIndex((m) => m.name === b));
  return report;
}

/** `ssh-keygen -l` style: SHA256:<unpadded base64 of the key blob's sha256>. */
export function fingerprint(key: string): string {
  const blob = Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

interface ChainEntry {
  version: number;
  sha256: string;
  /** Undefined: trusted from what was held (--since, --held), but not in the directory. */
  value?: FederationVersion;
  how: string;
}

/** The accepted versions from the anchor to the newest, with who signed each. */
function chainOf(t: Trusted, extraRejections: Rejection[]): ChainEntry[] {
  const newest = t.verified.version;
  if (newest === undefined) return [];
  const held = t.verified.held.federation;
  const chain: ChainEntry[] = [];
  let previous: FederationVersion | undefined;
  const bad = (report: SignatureReport) => extraRejections.push(...report.bad.map((b) => ({ source: t.source.name, ...b })));
  for (let version = t.anchor.version; version <= newest.version; version++) {
    // The newest is what the verifier trusts, byte for byte (with --since or --held, what was held).
    const content = version === newest.version && held?.version === version ? held.content : t.files.get(federationPath(version));
    const value = content === undefined ? undefined : parsedContent(version, content);
    if (content === undefined || value === undefined) {
      chain.push({ version, sha256: "(not in the directory)", how: "trusted from what was held" });
      previous = undefined;
      continue;
    }
    let how: string;
    if (version === t.anchor.version) {
      how = t.pinned ? "trusted by --trust (the pin)" : "UNPINNED: trusted as found";
      if (version === 1) {
        const founders = signaturesOf(t.files, 1, value);
        bad(founders);
        how += `; founders' signatures: ${founders.signers.length ? founders.signers.map(escapeText).join(", ") : "none"}`;
      }
    } else if (previous === undefined) {
      how = "trusted from what was held";
    } else {
      const report = signaturesOf(t.files, version, previous);
      bad(report);
      how = `signed by ${report.signers.map(escapeText).join(", ")} (${report.signers.length} of version ${previous.version}'s ${previous.members.length} members; threshold ${previous.threshold})`;
    }
    chain.push({ version, sha256: sha256(content), value, how });
    previous = value;
  }
  // The signatures of the version waiting for enough signers: report forged ones now.
  const pending = newest.version + 1;
  if (t.files.has(federationPath(pending)) && previous !== undefined) bad(signaturesOf(t.files, pending, previous));
  return chain;
}

function parsedContent(version: number, content: string): FederationVersion | undefined {
  const parsed = parseFederationVersion({ path: federationPath(version), content });
  return "value" in parsed ? parsed.value : undefined;
}

/** Signature files whose object is not in the registry (nodes ignore them; CI should not). */
function orphanSignatures(t: Trusted): Rejection[] {
  const orphans: Rejection[] = [];
  for (const path of t.files.keys()) {
    const fed = new RegExp(`^(${FEDERATION_DIR}/\\d+\\.yaml)\\.[a-z0-9-]+\\.sig$`).exec(path);
    const node = new RegExp(`^(${NODES_DIR}/[^/]+\\.yaml)\\.sig$`).exec(path);
    const object = fed?.[1] ?? node?.[1];
    if (object !== undefined && !t.files.has(object)) orphans.push({ source: t.source.name, path, reason: `signs ${object}, which is not in the registry` });
  }
  return orphans;
}

export function table(rows: string[][], indent = "  "): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => indent + r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
}

function pinLine(entry: { version: number; sha256: string }): string {
  return `pulumi config set boreal:trust ${formatTrust(entry)}`;
}

// ---------------------------------------------------------------- check

/** A rejection's line: every field it carries, escaped. */
export function rejectionLine(r: Rejection, indent = "  "): string {
  const more = Object.entries(r)
    .filter(([key, value]) => !["source", "path", "reason"].includes(key) && value !== undefined)
    .map(([key, value]) => ` (${escapeText(key)}: ${escapeShort(typeof value === "string" ? value : JSON.stringify(value) ?? String(value))})`);
  return `${indent}${escapeText(r.path)}: ${escapeText(r.reason)}${more.join("")}`;
}

/** What the directory is checked against beside the anchor: what nodes held before (--since, --held). */
interface History {
  /** Where the held state came from, for the report: "--held FILE", "origin/main (1a2b3c4d)". */
  from: string[];
  /** Refusals found by comparing with the previous revision (a changed or removed federation version). */
  rejected: Rejection[];
  notes: string[];
}

function check(args: string[], io: RegistryIo): number {
  const command = "boreal registry check";
  const a = parseArgs(args, ["--trust", "--since", "--held", "--write-held"]);
  const since = a.one("--since");
  const heldFile = a.one("--held");
  const writeHeld = a.one("--write-held");
  const given = heldFile === undefined ? undefined : readHeldFile(heldFile);
  const source = readSource(a.dir);
  const files = registryFiles(source);
  const here: AnchorCandidates = { name: (path) => join(a.dir, path), files, paths: source.files.map((f) => f.path) };
  const history: History = { from: heldFile === undefined ? [] : [`--held ${heldFile}`], rejected: [], notes: [] };
  let t: Trusted;
  if (since === undefined) {
    const { anchor, pinned } = trustAnchor(a.one("--trust"), [here], a.dir, io, command);
    t = verifiedTrusted(source, files, anchor, pinned, given);
  } else {
    const revision = resolveRevision(a.dir, since);
    history.from.push(`${since} (${revision.commit.slice(0, 12)})`);
    t = withRevision(a.dir, revision, `${basename(a.dir) || a.dir}@${since}`, (previous) => {
      const before = registryFiles(previous);
      // Unpinned, the anchor is the previous revision's lowest version: a change cannot bring its own.
      const { anchor, pinned } = trustAnchor(a.one("--trust"), [{ name: (path) => `${since}:${path}`, files: before, paths: previous.files.map((f) => f.path) }, here], a.dir, io, command);
      const earlier = verifySources([previous], anchor, given && structuredClone(given));
      compareWithPrevious(since, before, earlier, anchor, files, history);
      return verifiedTrusted(source, files, anchor, pinned, earlier.held);
    });
  }

  const extra: Rejection[] = [];
  const chain = chainOf(t, extra);
  extra.push(...orphanSignatures(t));
  // Only what the directory holds fails the check; what nodes drop of what they held is said apart.
  const rejected: Rejection[] = [];
  const dropped: Rejection[] = [];
  const seen = new Set<string>();
  const add = (list: Rejection[], r: Rejection) => {
    const key = `${r.path}\0${r.reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    list.push(r);
  };
  for (const r of t.verified.rejected) add(r.source === "held state" ? dropped : rejected, r);
  for (const r of t.fresh?.rejected ?? []) add(rejected, r);
  for (const r of [...history.rejected, ...extra]) add(rejected, r);
  for (const path of misnamedVersions(here.paths)) {
    if (!rejected.some((r) => r.path === path)) add(rejected, { source: t.source.name, path, reason: `is not a federation version's name: versions are ${FEDERATION_DIR}/1.yaml, ${FEDERATION_DIR}/2.yaml, ... without leading zeros (nodes never read it)` });
  }

  const unpinned = t.pinned ? "" : " (UNPINNED: no --trust given)";
  const federation = t.verified.federation;
  if (!federation) {
    io.out(`${a.dir}: no trusted federation version, ${rejected.length} rejected object(s)${unpinned}`);
  } else {
    const settings = federation.settings;
    io.out(`${a.dir}: federation ${escapeText(settings.name)} version ${settings.version}, ${federation.nodes.length} node(s), ${rejected.length === 0 ? "valid" : `${rejected.length} rejected object(s)`}${unpinned}`);
  }
  if (history.from.length > 0) {
    const held = t.fresh ? heldSummary(t) : "";
    io.out(`checked as a new node and as the nodes holding what ${history.from.join(", then ")} held${held}: rollbacks, same-serial swaps and lower serials after a tombstone are refused`);
  }
  for (const note of history.notes) io.out(`note: ${note}`);
  if (federation) {
    const settings = federation.settings;
    io.out("versions:");
    for (const line of table(chain.map((c) => [String(c.version), `sha256 ${c.sha256}`, c.how]))) io.out(line);
    const mirrors = settings.mirrors.length ? `, mirrors ${settings.mirrors.map((m) => escapeShort(m)).join(" ")}` : "";
    io.out(`members of version ${settings.version} (domain ${escapeText(settings.domain)}, threshold ${settings.threshold} of ${settings.members.length}${mirrors}):`);
    const memberRows = settings.members.map((m) => {
      const share = memberShare(settings, m.name)!;
      return [escapeText(m.name), `mesh ${escapeText(m.mesh)} ${share.ipv6.text}`, `zones ${m.zones.map(escapeText).join(" ")}`, `keys ${m.keys.map(fingerprint).join(" ")}`];
    });
    for (const line of table(memberRows)) io.out(line);
    io.out(`nodes (${federation.nodes.length}):`);
    const nodeRows = federation.nodes.map((n) => [`${escapeText(n.node)} (${escapeText(n.member)})`, `serial ${n.serial}`, escapeText(n.mesh.ipv4), escapeText(n.mesh.ipv6), n.zones.map(escapeText).join(" ")]);
    for (const line of table(nodeRows)) io.out(line);
    const held = t.verified.held.nodes;
    if (t.verified.departed.length > 0) {
      io.out(`departed (${t.verified.departed.length}):`);
      for (const line of table(t.verified.departed.map((node) => [`${escapeText(node)} (${escapeText(held[node]?.member ?? "?")})`, `serial ${held[node]?.serial ?? "?"}`, "left"]))) io.out(line);
    }
    if (t.fresh) {
      // An object disappearing removes nothing from a node (only a signed tombstone does).
      const missing = Object.keys(held).filter((node) => !files.has(descriptorPath(node))).sort();
      if (missing.length > 0) {
        io.out(`held, but not in ${a.dir} (${missing.length}): the nodes holding it keep it (only a signed tombstone removes a node); a new node never learns it`);
        for (const node of missing) io.out(`  ${escapeText(descriptorPath(node))} (serial ${held[node].serial}${held[node].left ? ", a tombstone" : ""})`);
      }
    }
  }
  if (rejected.length > 0) {
    io.out(`rejected (${rejected.length}):`);
    for (const r of rejected) io.out(rejectionLine(r));
  }
  if (dropped.length > 0) {
    io.out(`dropped from what was held (${dropped.length}), as the nodes holding it drop them:`);
    for (const r of dropped) io.out(rejectionLine(r));
  }
  const newest = chain[chain.length - 1];
  if (newest && federation) {
    io.out(
      t.pinned
        ? "pin of the newest trusted version, for each stack of the federation:"
        : "pin of the newest version (UNPINNED check: compare it with the other members over a channel you trust before you use it):",
    );
    io.out(`  ${pinLine({ version: newest.version, sha256: t.verified.version!.sha256 })}`);
  }
  if (writeHeld !== undefined) {
    if (!federation) io.err(`${command}: --write-held ${writeHeld} not written: nothing of ${a.dir} could be trusted`);
    else {
      writeHeldFile(writeHeld, t.verified.held, { registry: a.dir, since, held: heldFile });
      io.out(`wrote ${writeHeld}: what a node holds after this check (federation version ${federation.settings.version}, ${Object.keys(t.verified.held.nodes).length} node object(s)); give it to the next check with --held ${writeHeld}`);
    }
  }
  return rejected.length === 0 && federation ? 0 : 1;
}

function heldSummary(t: Trusted): string {
  const held = t.verified.held;
  const nodes = Object.values(held.nodes);
  const version = held.federation ? `federation version ${held.federation.version}, ` : "";
  return ` (they then hold ${version}${nodes.length} node object(s), ${nodes.filter((n) => n.left).length} of them tombstones)`;
}

/**
 * What the previous revision accepted must stay as it was: every federation version of its
 * chain, byte for byte (a node pinned to an early version chains through them all). And a
 * previous revision that nothing of can be trusted cannot vouch for anything.
 */
function compareWithPrevious(since: string, before: Map<string, string>, earlier: VerifiedRegistry, anchor: TrustAnchor, files: Map<string, string>, history: History): void {
  const source = `${since}`;
  if (!earlier.version) {
    if (versionsIn(before.keys()).length === 0) {
      history.notes.push(`${escapeText(since)} holds no federation version: nothing was held before, so nothing can be rolled back`);
      return;
    }
    history.rejected.push({ source, path: `${since}:${FEDERATION_DIR}/`, reason: "nothing of the previous revision can be trusted with this pin, so it cannot be compared: check --trust (your stack's boreal:trust)" });
    for (const r of earlier.rejected.filter((x) => x.path.startsWith(`${FEDERATION_DIR}/`))) history.rejected.push({ ...r, path: `${since}:${r.path}` });
    return;
  }
  for (let version = anchor.version; version <= earlier.version.version; version++) {
    const path = federationPath(version);
    const was = version === earlier.version.version && earlier.held.federation?.version === version ? earlier.held.federation.content : before.get(path);
    if (was === undefined) continue;
    const now = files.get(path);
    if (now === undefined) {
      history.rejected.push({ source, path, reason: `removed since ${since}, where it was accepted: a federation version stays (nodes pinned to an earlier version chain through it)` });
    } else if (now !== was) {
      history.rejected.push({
        source,
        path,
        reason: `changed since ${since}, where it was accepted (sha256 ${sha256(was).slice(0, 12)}… → ${sha256(now).slice(0, 12)}…): an accepted version never changes; draft the next one (boreal registry admit)`,
      });
    }
  }
}

// ---------------------------------------------------------------- held state (--held, --write-held)

const MAX_HELD_FILE_BYTES = 256 * 1024 * 1024;
const HELD_FIX = "give the agent's /var/lib/boreal/state.json, or a file boreal registry check --write-held wrote";

const heldFileSchema = z.looseObject({
  held: z.looseObject({
    federation: z.looseObject({ version: z.number().int().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), content: z.string() }).optional(),
    nodes: z.record(z.string(), z.looseObject({ serial: z.number(), left: z.boolean(), member: z.string(), content: z.string(), signature: z.string() })),
  }),
});

/** Problems whose text came from a file: escaped before they are printed. */
function escapedProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.map((p) => ({ source: escapeText(p.source), key: escapeText(p.key), message: escapeText(p.message), fix: escapeText(p.fix) }));
}

/** The held state in FILE: the agent's state.json, or what --write-held wrote (both keep it under "held"). */
function readHeldFile(file: string): HeldState {
  let text: string;
  try {
    if (statSync(file).size > MAX_HELD_FILE_BYTES) throw new CliError(`--held ${file} is over ${MAX_HELD_FILE_BYTES / 1024 / 1024} MiB: no held state is that large`, HELD_FIX);
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`--held ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? escapeText((error as Error).message)})`, HELD_FIX);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--held ${file} is not JSON: ${escapeShort((error as Error).message)}`, HELD_FIX);
  }
  const parsed = heldFileSchema.safeParse(value);
  if (!parsed.success) {
    throw new CliError(formatProblems(escapedProblems(problemsFromZod(parsed.error, file, ""))).replace(/^boreal-kit found/, `--held ${file} is not a held state:`), HELD_FIX);
  }
  const held = parsed.data.held as HeldState;
  if (held.federation && sha256(held.federation.content) !== held.federation.sha256) {
    throw new CliError(`--held ${file}: held.federation.content does not match its sha256 (the file was changed by hand or damaged)`, HELD_FIX);
  }
  return held;
}

function writeHeldFile(file: string, held: HeldState, about: { registry: string; since?: string; held?: string }): void {
  const content = {
    about: "boreal registry check --write-held: what a node holds after this registry; give it to boreal registry check --held. Keep it where only the CI writes: it is trusted as a node trusts its own state.",
    writtenAt: new Date().toISOString(),
    ...about,
    held,
  };
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o644 });
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new CliError(`--write-held ${file} cannot be written (${(error as NodeJS.ErrnoException).code ?? escapeText((error as Error).message)})`, "give a file in a directory you can write to");
  }
}

// ---------------------------------------------------------------- a previous revision (--since)

const GIT_TIMEOUT_MS = 60_000;
/** Blobs up to this size are read whole (above every registry cap); a larger one is left as a sparse file of its size, which the reader refuses unread. */
const HISTORY_BLOB_CAP = 1024 * 1024;
/** All blobs of a previous revision together, at most. */
const HISTORY_TOTAL_CAP = 256 * 1024 * 1024;

/** git said no (its last line of complaint). */
class GitRefused extends Error {}

/** `git -C DIR ARGS...`: no shell, a timeout, git's stdout. */
function git(dir: string, args: string[], input?: string, maxBuffer = 64 * 1024 * 1024): Buffer {
  const result = spawnSync("git", ["-C", dir, ...args], {
    input,
    timeout: GIT_TIMEOUT_MS,
    maxBuffer,
    stdio: ["pipe", "pipe", "pipe"],
    // Never a prompt, never a lock taken for a read.
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" },
  });
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") throw new CliError("--since needs git, which is not installed (or not on PATH)", "install git (apt install git), or give --held FILE instead");
  if (code === "ETIMEDOUT") throw new CliError(`--since: git ${args[0]} in ${dir} did not finish within ${GIT_TIMEOUT_MS / 1000} s`, "check the repository (git fsck), or give --held FILE instead");
  if (code === "ENOBUFS") throw new CliError(`--since: git ${args[0]} in ${dir} answered more than ${Math.round(maxBuffer / 1024 / 1024)} MiB`, "a registry's federation/ and nodes/ are far smaller: check the revision");
  if (result.error) throw result.error;
  if (result.status !== 0) {
    const lines = result.stderr.toString("utf8").trim().split("\n");
    throw new GitRefused(escapeShort(lines[lines.length - 1] || `exited with ${result.status ?? result.signal}`, 300));
  }
  return result.stdout;
}

interface Revision {
  commit: string;
  /** DIR inside its repository, "" at its top ("registry/" when the registry is a subdirectory). */
  prefix: string;
}

function resolveRevision(dir: string, rev: string): Revision {
  const example = "e.g. --since origin/main (the branch the change goes to) or --since HEAD~1";
  if (rev.startsWith("-") || /[\0\n]/.test(rev)) throw usageError(`--since ${JSON.stringify(rev)} is not a git revision`, example);
  let prefix: string;
  try {
    prefix = git(dir, ["rev-parse", "--show-prefix"]).toString("utf8").replace(/\n$/, "");
  } catch (error) {
    if (!(error instanceof GitRefused)) throw error;
    throw new CliError(`--since ${escapeText(rev)}: ${dir} is not in a git repository git can read (git: ${error.message})`, "run the check in a clone of the registry, or give --held FILE instead");
  }
  try {
    const commit = git(dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`]).toString("utf8").trim();
    return { commit, prefix };
  } catch (error) {
    if (!(error instanceof GitRefused)) throw error;
    throw new CliError(
      `--since ${escapeText(rev)} is no commit of the git repository of ${dir}`,
      `fetch it first, e.g. git fetch origin main (a CI checkout is often shallow: fetch-depth: 0, or git fetch --deepen=1 for HEAD~1); ${example}`,
    );
  }
}

interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  size?: number;
  name: string;
}

function lsTree(dir: string, tree: string): TreeEntry[] {
  const text = git(dir, ["ls-tree", "-z", "-l", "--full-tree", tree]).toString("utf8");
  return text
    .split("\0")
    .filter(Boolean)
    .map((record) => {
      const tab = record.indexOf("\t");
      const [mode, type, oid, size] = record.slice(0, tab).split(/ +/);
      return { mode, type, oid, size: /^\d+$/.test(size ?? "") ? Number(size) : undefined, name: record.slice(tab + 1) };
    });
}

/** The blobs' bytes, through one `git cat-file --batch`. */
function readBlobs(dir: string, blobs: TreeEntry[]): Map<string, Buffer> {
  const contents = new Map<string, Buffer>();
  if (blobs.length === 0) return contents;
  const total = blobs.reduce((sum, b) => sum + (b.size ?? 0), 0);
  if (total > HISTORY_TOTAL_CAP) throw new CliError(`--since: the previous revision's registry files add up to ${total} bytes, over ${HISTORY_TOTAL_CAP}`, "a registry is far smaller: check the revision");
  const out = git(dir, ["cat-file", "--batch"], `${blobs.map((b) => b.oid).join("\n")}\n`, total + blobs.length * 128 + 1024 * 1024);
  let at = 0;
  for (const blob of blobs) {
    const end = out.indexOf(10, at);
    const [oid, type, size] = out.toString("utf8", at, end).split(" ");
    if (end < 0 || type !== "blob" || oid !== blob.oid) throw new CliError(`--since: git object ${blob.oid} (${escapeText(blob.name)}) cannot be read (${type ?? "no answer"})`, "a partial or shallow clone? fetch the revision in full (git fetch --unshallow), then run again");
    contents.set(blob.oid, out.subarray(end + 1, end + 1 + Number(size)));
    at = end + 1 + Number(size) + 1;
  }
  return contents;
}

/** One tree entry as a file the registry reader judges like any other: a file, a sparse file of its size (not read from git), a symlink or a directory. */
function placeEntry(path: string, entry: TreeEntry, contents: Map<string, Buffer>): void {
  if (entry.type === "tree" || entry.type === "commit") mkdirSync(path);
  else if (entry.mode === "120000") symlinkSync("(a symbolic link in git)", path);
  else if (contents.has(entry.oid)) writeFileSync(path, contents.get(entry.oid)!, { flag: "wx" });
  else {
    writeFileSync(path, "", { flag: "wx" });
    truncateSync(path, entry.size ?? HISTORY_BLOB_CAP + 1);
  }
}

/**
 * Runs `use` on the registry as it was at `revision`: its federation/ and nodes/ written from
 * git's objects into a private temporary directory (no checkout, nothing of DIR touched) and
 * read by the same reader as a directory, so its files are judged as every node judges them.
 */
function withRevision<T>(dir: string, revision: Revision, name: string, use: (source: ReadSource) => T): T {
  const prefix = revision.prefix.replace(/\/$/, "");
  let root: string | undefined;
  try {
    root = git(dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", prefix ? `${revision.commit}:${prefix}` : `${revision.commit}^{tree}`]).toString("utf8").trim();
  } catch (error) {
    if (!(error instanceof GitRefused)) throw error;
    root = undefined; // DIR did not exist yet: nothing was held
  }
  const work = mkdtempSync(join(tmpdir(), "boreal-since-"));
  try {
    const refused: Rejection[] = [];
    const top = root === undefined ? [] : lsTree(dir, root);
    for (const sub of [FEDERATION_DIR, NODES_DIR]) {
      const entry = top.find((e) => e.name === sub);
      if (!entry) continue;
      if (entry.type !== "tree") {
        placeEntry(join(work, sub), entry, new Map());
        continue;
      }
      mkdirSync(join(work, sub));
      const children = lsTree(dir, entry.oid);
      // Only what could be a registry object is read from git; anything else is refused by its name unread.
      const wanted = children.filter((c) => c.type === "blob" && c.mode !== "120000" && (c.size ?? Infinity) <= HISTORY_BLOB_CAP && OBJECT_LIKE.test(`${sub}/${c.name}`));
      const contents = readBlobs(dir, wanted);
      for (const child of children) {
        const path = `${sub}/${child.name}`;
        if (child.name === "" || child.name === "." || child.name === ".." || child.name.includes("/")) {
          refused.push({ source: name, path, reason: "is not a valid file name (not read)" });
          continue;
        }
        try {
          placeEntry(join(work, sub, child.name), child, contents);
        } catch (error) {
          refused.push({ source: name, path, reason: `cannot be read from git (${(error as NodeJS.ErrnoException).code ?? "error"})` });
        }
      }
    }
    const source = readRegistrySource(work, name);
    return use({ ...source, unreadable: [...source.unreadable, ...refused] });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- allowed-signers

function allowedSigners(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--trust", "--version"]);
  const wanted = wholeNumber(a.one("--version"), "--version", 1);
  const t = verifyDir(a.dir, a.one("--trust"), io);
  const chain = chainOf(t, []);
  if (chain.length === 0) {
    io.err(`boreal registry allowed-signers: ${a.dir} has no trusted federation version:`);
    for (const r of t.verified.rejected) io.err(rejectionLine(r));
    io.err("  fix: check --trust against your stack's boreal:trust, or update the clone (git pull)");
    return 1;
  }
  const entry = wanted === undefined ? chain[chain.length - 1] : chain.find((c) => c.version === wanted);
  if (!entry?.value) throw new CliError(`--version ${wanted} is not a trusted version of ${a.dir} (trusted: ${chain.map((c) => c.version).join(", ")})`, "pick one of the trusted versions, or pin an earlier one with --trust");
  const v = entry.value;
  io.out(`# allowed_signers of federation ${escapeText(v.name)} version ${v.version} (sha256 ${entry.sha256}), namespace ${REGISTRY_NAMESPACE}.`);
  const verify = (sig: string, object: string) => `ssh-keygen -Y verify -f allowed_signers -I MEMBER -n ${REGISTRY_NAMESPACE} -s ${sig} < ${object}`;
  const uses: [string, string][] = [];
  if (entry === chain[chain.length - 1]) uses.push(["a node object", verify("nodes/NODE.yaml.sig", "nodes/NODE.yaml")]);
  if (v.version === 1) uses.push(["a founder's signature of version 1", verify("federation/1.yaml.MEMBER.sig", "federation/1.yaml")]);
  uses.push([`a signature of version ${v.version + 1}`, verify(`federation/${v.version + 1}.yaml.MEMBER.sig`, `federation/${v.version + 1}.yaml`)]);
  io.out("# Check a signature with plain OpenSSH, in the registry directory:");
  for (const line of table(uses.map(([what, command]) => [`${what}:`, command]), "#   ")) io.out(line);
  // One line per key: an escape keeps a hostile name or key on its line (it then matches nothing).
  for (const m of v.members) for (const key of m.keys) io.out(`${escapeText(m.name)} namespaces="${REGISTRY_NAMESPACE}" ${escapeText(key)}`);
  return 0;
}

// ---------------------------------------------------------------- init

/** Validates a federation version as the nodes will parse it; problems name the flags. */
function validate(draft: unknown, where: string, flagOf: (key: string) => string): FederationVersion {
  const parsed = federationSchema.safeParse(draft);
  if (parsed.success) return parsed.data;
  const problems = problemsFromZod(parsed.error, where, "").map((p) => ({ ...p, key: flagOf(p.key) }));
  throw new CliError(formatProblems(problems).replace(/^boreal-kit found/, "the federation version would not be valid:"), "correct the options named above and run the command again");
}

function flagOfKey(draft: { members?: { name?: string }[] }) {
  return (key: string): string => {
    const member = /^members\[(\d+)\]/.exec(key);
    if (member) return `${key} (member ${draft.members?.[Number(member[1])]?.name ?? "?"}: ${/\.nodes/.test(key) ? "--nodes" : "--member"})`;
    const flags: Record<string, string> = { name: "--name", domain: "--domain", "mesh.ipv4": "--mesh-ipv4", "mesh.ipv6": "--mesh-ipv6", threshold: "--threshold", members: "--member", underlay: "--allow-underlay" };
    const flag = flags[key] ?? (key.startsWith("mirrors") ? "--mirror" : undefined);
    return flag ? `${key} (${flag})` : key;
  };
}

function init(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--name", "--domain", "--mesh-ipv4", "--mesh-ipv6", "--threshold"], ["--member", "--mirror", "--nodes", "--allow-underlay"]);
  const name = required(a, "--name", "coops-north");
  const domain = required(a, "--domain", "federation.example.");
  const ipv4 = required(a, "--mesh-ipv4", "100.64.0.0/24");
  const ipv6 = required(a, "--mesh-ipv6", "fd42:b0:ea1::/48");
  const threshold = wholeNumber(required(a, "--threshold", "2"), "--threshold", 1)!;
  if (a.all("--member").length === 0) throw usageError("--member is missing: a federation starts with its founding members", `add one --member ${MEMBER_SPEC} per founder`);
  if (existsSync(a.dir) && !statSync(a.dir).isDirectory()) throw new CliError(`${a.dir} is not a directory`, "give the directory of the registry (a new git repository)");
  const existing = versionsOnDisk(a.dir);
  if (existing.length > 0) {
    throw new CliError(
      `${join(a.dir, FEDERATION_DIR)} already holds version(s) ${existing.join(", ")}: a federation starts only once and init never overwrites a version`,
      `to change the federation, draft the next version: boreal registry admit ${a.dir} ...`,
    );
  }
  const members = a.all("--member").map((spec) => parseMemberSpec(spec, "--member"));
  applyNodes(members, a.all("--nodes"));
  const allow = a.all("--allow-underlay");
  const draft = { version: 1, name, domain, mesh: { ipv4, ipv6 }, threshold, ...(allow.length ? { underlay: { allow } } : {}), mirrors: a.all("--mirror"), members };
  const version = validate(draft, join(a.dir, federationPath(1)), flagOfKey(draft));
  const path = writeFederationVersion(a.dir, version);
  const hash = sha256(readFileSync(join(a.dir, path), "utf8"));
  io.out(`wrote ${join(a.dir, path)}: federation ${version.name} version 1, ${version.members.length} founding member(s), threshold ${version.threshold} (sha256 ${hash})`);
  io.out("next:");
  io.out(`  1. each founder reads ${path} and signs it with a key it lists for them (this records their consent; the nodes trust version 1 by its pin):`);
  for (const m of version.members) io.out(`       boreal registry sign ${a.dir} --version 1 --member ${m.name} --key ~/.ssh/id_ed25519`);
  io.out(`  2. each founder runs boreal registry check ${a.dir} on their own clone and compares the pin it prints with the other founders'`);
  io.out("     over a channel they trust (a call, a meeting): the same 64 hex digits for everyone. Every stack pins it:");
  io.out(`       ${pinLine({ version: 1, sha256: hash })}`);
  io.out(`  3. commit ${FEDERATION_DIR}/ and push it to every mirror; later versions need ${version.threshold} of the ${version.members.length} founders' signatures (boreal registry admit)`);
  return 0;
}

// ---------------------------------------------------------------- admit

function admit(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--threshold", "--trust"], ["--member", "--nodes", "--remove", "--add-key", "--remove-key", "--mirror"]);
  const threshold = wholeNumber(a.one("--threshold"), "--threshold", 1);
  const changes = ["--member", "--nodes", "--remove", "--add-key", "--remove-key", "--mirror"].some((f) => a.all(f).length > 0) || threshold !== undefined;
  if (!changes) throw usageError("nothing to change", "give --member, --nodes, --remove, --add-key, --remove-key, --threshold or --mirror");
  const t = verifyDir(a.dir, a.one("--trust"), io);
  const settings = t.verified.federation?.settings;
  if (!settings) {
    throw new CliError(
      `${a.dir} has no trusted federation version to draft from: ${t.verified.rejected.map((r) => `${escapeText(r.path)}: ${escapeText(r.reason)}`).join("; ")}`,
      "check --trust against your stack's boreal:trust, or update the clone (git pull)",
    );
  }
  const current = settings.version;
  const next = current + 1;
  const later = versionsOnDisk(a.dir).filter((v) => v > current);
  const pendingSignatures = [...t.files.keys()].filter((p) => p.startsWith(`${federationPath(next)}.`));
  if (later.length > 0 || pendingSignatures.length > 0) {
    throw new CliError(
      `version ${current} is the newest trusted one, but ${later.length ? `${later.map((v) => join(a.dir, federationPath(v))).join(", ")} already exist(s)` : `${pendingSignatures.join(", ")} already exist(s)`} (a draft not yet signed by ${settings.threshold} of version ${current}'s members?); admit never overwrites a version`,
      `collect the signatures it needs (boreal registry sign ${a.dir} --version ${next} ...), or delete it and its .sig files to draft again`,
    );
  }

  const draft: FederationVersion = structuredClone({ ...settings, version: next });
  const memberNamed = (name: string, flag: string, spec: string) => {
    const m = draft.members.find((x) => x.name === name);
    if (!m) throw new CliError(`${flag} ${spec}: ${name} is not a member of version ${current} (members: ${draft.members.map((x) => escapeText(x.name)).join(", ")})`, "check the spelling of the member's name");
    return m;
  };
  for (const name of a.all("--remove")) {
    memberNamed(name, "--remove", name);
    draft.members = draft.members.filter((m) => m.name !== name);
  }
  for (const spec of a.all("--member")) {
    const member = parseMemberSpec(spec, "--member");
    if (draft.members.some((m) => m.name === member.name)) {
      throw new CliError(`--member ${spec}: ${member.name} is already a member`, `for a new key use --add-key ${member.name}:PUBKEYFILE; to change its zones or mesh share, give --remove ${member.name} too`);
    }
    draft.members.push(member);
  }
  applyNodes(draft.members, a.all("--nodes"));
  for (const spec of a.all("--add-key")) {
    const { name, keys } = parseKeySpec(spec, "--add-key");
    const m = memberNamed(name, "--add-key", spec);
    for (const key of keys) {
      if (m.keys.includes(key)) throw new CliError(`--add-key ${spec}: ${fingerprint(key)} is already one of ${name}'s keys`, "give the new key's .pub file");
      m.keys.push(key);
    }
  }
  for (const spec of a.all("--remove-key")) {
    const { name, keys } = parseKeySpec(spec, "--remove-key");
    const m = memberNamed(name, "--remove-key", spec);
    for (const key of keys) {
      if (!m.keys.includes(key)) throw new CliError(`--remove-key ${spec}: ${fingerprint(key)} is not one of ${name}'s keys`, `its keys: ${m.keys.map(fingerprint).join(", ")}`);
      m.keys = m.keys.filter((k) => k !== key);
    }
    if (m.keys.length === 0) throw new CliError(`--remove-key ${spec} would leave ${name} without a signing key`, `add its new key in the same draft: --add-key ${name}:NEWKEY.pub`);
  }
  for (const url of a.all("--mirror")) if (!draft.mirrors.includes(url)) draft.mirrors.push(url);
  if (threshold !== undefined) draft.threshold = threshold;

  const version = validate(draft, join(a.dir, federationPath(next)), flagOfKey(draft));
  const path = writeFederationVersion(a.dir, version);
  const hash = sha256(readFileSync(join(a.dir, path), "utf8"));
  io.out(`drafted ${join(a.dir, path)} (unsigned, sha256 ${hash}) from trusted version ${current}:`);
  for (const line of describeChanges(settings, version)) io.out(`  ${line}`);
  io.out(`it counts once ${settings.threshold} of version ${current}'s ${settings.members.length} members sign it (${settings.members.map((m) => escapeText(m.name)).join(", ")}); each runs:`);
  for (const m of settings.members) io.out(`  boreal registry sign ${a.dir} --version ${next} --member ${escapeText(m.name)} --key ~/.ssh/id_ed25519`);
  io.out(`then: boreal registry check ${a.dir} --trust <your pin> accepts version ${next}; commit and push it with its .sig files`);
  return 0;
}

/** What a version changes against the one before, one line each, for people to review (every value from the files escaped). */
function describeChanges(before: FederationVersion, after: FederationVersion): string[] {
  const lines: string[] = [];
  const e = escapeText;
  const zones = (m: Member) => m.zones.map(e).join(" ");
  const show = (m: Member) => `zones ${zones(m)}, mesh ${e(m.mesh)}, nodes ${m.nodes.map(e).join(" ")}, keys ${m.keys.map(fingerprint).join(" ")}`;
  for (const m of before.members) if (!after.members.some((x) => x.name === m.name)) lines.push(`- member ${e(m.name)} (${show(m)})`);
  for (const m of after.members) {
    const old = before.members.find((x) => x.name === m.name);
    if (!old) {
      lines.push(`+ member ${e(m.name)} (${show(m)})`);
      continue;
    }
    for (const key of m.keys) if (!old.keys.includes(key)) lines.push(`+ key ${fingerprint(key)} of ${e(m.name)}`);
    for (const key of old.keys) if (!m.keys.includes(key)) lines.push(`- key ${fingerprint(key)} of ${e(m.name)}`);
    if (old.zones.join(" ") !== m.zones.join(" ")) lines.push(`~ zones of ${e(m.name)}: ${zones(old)} -> ${zones(m)}`);
    if (old.mesh !== m.mesh) lines.push(`~ mesh share of ${e(m.name)}: ${e(old.mesh)} -> ${e(m.mesh)}`);
    if (old.nodes.join(" ") !== m.nodes.join(" ")) lines.push(`~ node names of ${e(m.name)}: ${old.nodes.map(e).join(" ")} -> ${m.nodes.map(e).join(" ")}`);
  }
  if (before.threshold !== after.threshold) lines.push(`~ threshold: ${before.threshold} -> ${after.threshold} (of ${after.members.length} members)`);
  for (const url of after.mirrors) if (!before.mirrors.includes(url)) lines.push(`+ mirror ${escapeShort(url)}`);
  for (const url of before.mirrors) if (!after.mirrors.includes(url)) lines.push(`- mirror ${escapeShort(url)}`);
  for (const key of ["name", "domain", "mesh", "defaults", "label", "underlay"] as const) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) lines.push(`~ ${key}: ${e(JSON.stringify(before[key]) ?? "(none)")} -> ${e(JSON.stringify(after[key]) ?? "(none)")}`);
  }
  return lines.length ? lines : ["(no change)"];
}

// ---------------------------------------------------------------- sign

function sign(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--version", "--member", "--key"]);
  const version = wholeNumber(required(a, "--version", "2"), "--version", 1)!;
  const memberName = required(a, "--member", "coop-a");
  const keyFile = required(a, "--key", "~/.ssh/id_ed25519");
  readSource(a.dir); // a readable directory
  const read = (v: number, why: string): { content: string; value: FederationVersion } => {
    const file = join(a.dir, federationPath(v));
    let content: string;
    try {
      content = readFileSync(file, "utf8");
    } catch (error) {
      throw new CliError(`${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ${why}`, v === version ? `draft it first (boreal registry admit ${a.dir} ...), or check --version` : "update the clone (git pull): it needs the version before");
    }
    const parsed = parseFederationVersion({ path: federationPath(v), content }, file);
    if ("problems" in parsed) throw new CliError(formatProblems(escapedProblems(parsed.problems)).replace(/^boreal-kit found/, `${file} is not a valid federation version:`), "do not sign it: have it drafted again (boreal registry admit)");
    if (parsed.value.version !== v) throw new CliError(`${file} says version ${parsed.value.version}`, "do not sign it: a version's file name and its version field must agree");
    return { content, value: parsed.value };
  };
  const target = read(version, "the version to sign");
  const signing = version === 1 ? target.value : read(version - 1, `its members sign version ${version}`).value;
  const role = version === 1 ? "version 1 (the founders sign it themselves)" : `version ${version - 1}, whose members sign version ${version}`;
  const member = signing.members.find((m) => m.name === memberName);
  if (!member) {
    throw new CliError(`--member ${memberName} is not a member of ${role}`, `the members who can sign: ${signing.members.map((m) => escapeText(m.name)).join(", ")}`);
  }
  const signer: Signer = { keyFile };
  let publicKey: string;
  try {
    publicKey = signerPublicKey(signer);
  } catch (error) {
    throw new CliError(`--key ${keyFile}: ${(error as Error).message}`, "give your ssh-ed25519 private key file, or its .pub with the private key loaded in ssh-agent (ssh-add) if it has a passphrase");
  }
  if (!member.keys.includes(publicKey)) {
    throw new CliError(
      `--key ${keyFile} (${fingerprint(publicKey)}) is not one of member ${memberName}'s keys in ${role}`,
      `sign with a key listed for ${memberName} in ${federationPath(signing.version)} (${member.keys.map(fingerprint).join(", ")}); a new key must be admitted first (boreal registry admit --add-key ${memberName}:KEY.pub)`,
    );
  }
  if (version > 1) {
    io.out(`federation/${version}.yaml changes against version ${version - 1}:`);
    for (const line of describeChanges(signing, target.value)) io.out(`  ${line}`);
  }
  let path: string;
  try {
    path = signFederationVersion(a.dir, version, memberName, signer, target.content);
  } catch (error) {
    throw new CliError(`--key ${describeSigner(signer)}: ${(error as Error).message}`, "a key with a passphrase must be in ssh-agent (ssh-add KEYFILE), then give KEYFILE.pub as --key");
  }
  io.out(`wrote ${join(a.dir, path)}: member ${memberName} signs federation/${version}.yaml (sha256 ${sha256(target.content)}) with ${fingerprint(publicKey)}`);
  const files = new Map<string, string>([[federationPath(version), target.content]]);
  try {
    for (const f of readdirSync(join(a.dir, FEDERATION_DIR))) if (f.startsWith(`${version}.yaml.`) && f.endsWith(".sig")) files.set(`${FEDERATION_DIR}/${f}`, readFileSync(join(a.dir, FEDERATION_DIR, f), "utf8"));
  } catch {
    /* the count is informative only */
  }
  const report = signaturesOf(files, version, signing);
  const missing = signing.members.filter((m) => !report.signers.includes(m.name)).map((m) => escapeText(m.name));
  const signers = report.signers.map(escapeText);
  if (version === 1) io.out(`founders who signed: ${signers.join(", ")}${missing.length ? `; not yet: ${missing.join(", ")}` : " (all)"}`);
  else {
    const enough = report.signers.length >= signing.threshold;
    io.out(`signatures of version ${version - 1}'s members: ${report.signers.length} of the ${signing.threshold} needed (${signers.join(", ")})${enough ? ": enough, version " + version + " is valid once pushed" : `; not yet: ${missing.join(", ")}`}`);
  }
  for (const b of report.bad) io.out(`  does not count: ${escapeText(b.path)}: ${escapeText(b.reason)}`);
  io.out(`check the file yourself: boreal registry allowed-signers ${a.dir} --trust <your pin> --version ${signing.version} > allowed_signers; ssh-keygen -Y verify -f allowed_signers -I ${memberName} -n ${REGISTRY_NAMESPACE} -s ${join(a.dir, path)} < ${join(a.dir, federationPath(version))}`);
  return 0;
}
