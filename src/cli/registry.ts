// `boreal registry ...`: the federation registry for people. init starts a federation
// (version 1), admit drafts the next version, sign adds a member's signature to a
// version, check verifies a registry exactly as the nodes do (for its CI), and
// allowed-signers prints the file plain `ssh-keygen -Y verify` needs. boreal.ts only
// dispatches here.
//
// Exit codes: 0 done; 1 check found rejected objects (or nothing could be trusted);
// 2 nothing done: bad usage, unreadable input, or a refusal (the message says why and how).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { formatProblems, problemsFromZod } from "../config/errors";
import {
  FEDERATION_DIR,
  federationPath,
  federationSchema,
  FederationVersion,
  NODES_DIR,
  parseFederationVersion,
} from "../config/registry";
import { memberShare } from "../model/allocate";
import { readRegistrySource, ReadSource, verifySources } from "../registry";
import { describeSigner, Signer, signerPublicKey } from "../registry/sign";
import { parseSshPublicKey, REGISTRY_NAMESPACE, verifySignature } from "../registry/sshsig";
import { formatTrust, parseTrust, Rejection, sha256, TrustAnchor, VerifiedRegistry } from "../registry/verify";
import { writeFederationVersion, signFederationVersion } from "../registry/write";

const MEMBER_SPEC = "NAME:PUBKEYFILE:ZONE[,ZONE...]:MESHCIDR";

const VERB_USAGE = {
  init: [
    `boreal registry init DIR --name NAME --domain DOMAIN --mesh-ipv4 CIDR --mesh-ipv6 ULA48 --threshold M --member ${MEMBER_SPEC}... [--mirror URL...]`,
    "start a federation: write its version 1, federation/1.yaml",
  ],
  admit: [
    `boreal registry admit DIR [--member ${MEMBER_SPEC}...] [--remove NAME...] [--add-key NAME:PUBKEYFILE...] [--remove-key NAME:PUBKEYFILE...] [--threshold M] [--mirror URL...] [--trust N:SHA256]`,
    "draft the next federation version (unsigned) from the newest trusted one",
  ],
  sign: [
    "boreal registry sign DIR --version N --member NAME --key KEYFILE",
    "sign federation/<N>.yaml as member NAME (KEYFILE: a private key, or a .pub whose key is in ssh-agent)",
  ],
  check: ["boreal registry check DIR [--trust N:SHA256]", "verify a registry as the nodes do; exit 1 if anything is rejected (for its CI)"],
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

export const processIo: RegistryIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
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
export function reportFailure(command: string, usage: string, error: unknown, io: RegistryIo): number {
  if (error instanceof CliError) {
    io.err(`${command}: ${error.message}`);
    if (error.fix) io.err(`  fix: ${error.fix}`);
    if (error.usage) io.err(`usage:\n${usage}`);
  } else {
    // A bug or an unexpected system error: still no stack trace for the user.
    io.err(`${command}: ${(error as Error).message ?? String(error)}`);
  }
  return 2;
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
  return { name, keys: readPublicKeys(keyFile, `${flag} ${name}`), zones, mesh };
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
    throw new CliError(`registry directory ${dir} cannot be read: ${(error as Error).message}`, "check the permissions of its federation/ and nodes/");
  }
}

function versionsIn(files: Iterable<string>): number[] {
  const versions: number[] = [];
  for (const path of files) {
    const m = new RegExp(`^${FEDERATION_DIR}/(\\d+)\\.yaml$`).exec(path);
    if (m) versions.push(Number(m[1]));
  }
  return versions.sort((a, b) => a - b);
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
  verified: VerifiedRegistry;
}

/** Verifies DIR like the nodes do, against --trust or (unpinned) its lowest version. */
export function verifyDir(dir: string, trustText: string | undefined, io: RegistryIo, command = "boreal registry"): Trusted {
  const source = readSource(dir);
  const files = new Map(source.files.map((f) => [f.path, f.content]));
  let anchor: TrustAnchor;
  let pinned = true;
  if (trustText !== undefined) {
    const parsed = parseTrust(trustText);
    if (!parsed) throw usageError(`--trust ${JSON.stringify(trustText)} is not N:SHA256`, "copy the pin of your stack (boreal:trust), e.g. --trust 1:<64 hex digits>");
    anchor = parsed;
  } else {
    const lowest = versionsIn(files.keys())[0];
    if (lowest === undefined) throw new CliError(`${dir} holds no federation version (${FEDERATION_DIR}/<N>.yaml)`, "start a federation with boreal registry init, or give the directory of a registry clone");
    anchor = { version: lowest, sha256: sha256(files.get(federationPath(lowest))!) };
    pinned = false;
    io.err(
      `${command}: WARNING: UNPINNED. No --trust given, so ${join(dir, federationPath(lowest))} is trusted as found (sha256 ${anchor.sha256}). ` +
        "Anyone who can write to this directory could have written it: compare that sha256 with the federation's published pin, or pass --trust N:SHA256 (your stack's boreal:trust).",
    );
  }
  return { source, files, anchor, pinned, verified: verifySources([source], anchor) };
}

function parsedVersion(files: Map<string, string>, version: number): FederationVersion | undefined {
  const content = files.get(federationPath(version));
  if (content === undefined) return undefined;
  const parsed = parseFederationVersion({ path: federationPath(version), content });
  return "value" in parsed ? parsed.value : undefined;
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
  value: FederationVersion;
  how: string;
}

/** The accepted versions from the anchor to the newest, with who signed each. */
function chainOf(t: Trusted, extraRejections: Rejection[]): ChainEntry[] {
  const newest = t.verified.version?.version;
  if (newest === undefined) return [];
  const chain: ChainEntry[] = [];
  for (let version = t.anchor.version; version <= newest; version++) {
    const value = parsedVersion(t.files, version)!;
    const hash = sha256(t.files.get(federationPath(version))!);
    let how: string;
    if (version === t.anchor.version) {
      how = t.pinned ? "trusted by --trust (the pin)" : "UNPINNED: trusted as found";
      if (version === 1) {
        const founders = signaturesOf(t.files, 1, value);
        extraRejections.push(...founders.bad.map((b) => ({ source: t.source.name, ...b })));
        how += `; founders' signatures: ${founders.signers.length ? founders.signers.join(", ") : "none"}`;
      }
    } else {
      const previous = chain[chain.length - 1].value;
      const report = signaturesOf(t.files, version, previous);
      extraRejections.push(...report.bad.map((b) => ({ source: t.source.name, ...b })));
      how = `signed by ${report.signers.join(", ")} (${report.signers.length} of version ${previous.version}'s ${previous.members.length} members; threshold ${previous.threshold})`;
    }
    chain.push({ version, sha256: hash, value, how });
  }
  // The signatures of the version waiting for enough signers: report forged ones now.
  const pending = newest + 1;
  if (t.files.has(federationPath(pending))) {
    const report = signaturesOf(t.files, pending, chain[chain.length - 1].value);
    extraRejections.push(...report.bad.map((b) => ({ source: t.source.name, ...b })));
  }
  return chain;
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

function check(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--trust"]);
  const t = verifyDir(a.dir, a.one("--trust"), io);
  const extra: Rejection[] = [];
  const chain = chainOf(t, extra);
  extra.push(...orphanSignatures(t));
  const rejected = [...t.verified.rejected];
  for (const r of extra) if (!rejected.some((x) => x.path === r.path && x.reason === r.reason)) rejected.push(r);
  const unpinned = t.pinned ? "" : " (UNPINNED: no --trust given)";
  const federation = t.verified.federation;
  if (!federation) {
    io.out(`${a.dir}: no trusted federation version, ${rejected.length} rejected object(s)${unpinned}`);
  } else {
    const settings = federation.settings;
    io.out(`${a.dir}: federation ${settings.name} version ${settings.version}, ${federation.nodes.length} node(s), ${rejected.length === 0 ? "valid" : `${rejected.length} rejected object(s)`}${unpinned}`);
    io.out("versions:");
    for (const line of table(chain.map((c) => [String(c.version), `sha256 ${c.sha256}`, c.how]))) io.out(line);
    io.out(`members of version ${settings.version} (domain ${settings.domain}, threshold ${settings.threshold} of ${settings.members.length}${settings.mirrors.length ? `, mirrors ${settings.mirrors.join(" ")}` : ""}):`);
    const memberRows = settings.members.map((m) => {
      const share = memberShare(settings, m.name)!;
      return [m.name, `mesh ${m.mesh} ${share.ipv6.text}`, `zones ${m.zones.join(" ")}`, `keys ${m.keys.map(fingerprint).join(" ")}`];
    });
    for (const line of table(memberRows)) io.out(line);
    io.out(`nodes (${federation.nodes.length}):`);
    for (const line of table(federation.nodes.map((n) => [`${n.node} (${n.member})`, `serial ${n.serial}`, n.mesh.ipv4, n.mesh.ipv6, n.zones.join(" ")]))) io.out(line);
    if (t.verified.departed.length > 0) {
      io.out(`departed (${t.verified.departed.length}):`);
      const held = t.verified.held.nodes;
      for (const line of table(t.verified.departed.map((node) => [`${node} (${held[node]?.member ?? "?"})`, `serial ${held[node]?.serial ?? "?"}`, "left"]))) io.out(line);
    }
  }
  if (rejected.length > 0) {
    io.out(`rejected (${rejected.length}):`);
    for (const r of rejected) io.out(`  ${r.path}: ${r.reason}`);
  }
  const newest = chain[chain.length - 1];
  if (newest) {
    io.out(
      t.pinned
        ? "pin of the newest trusted version, for each stack of the federation:"
        : "pin of the newest version (UNPINNED check: compare it with the other members over a channel you trust before you use it):",
    );
    io.out(`  ${pinLine(newest)}`);
  }
  return rejected.length === 0 && federation ? 0 : 1;
}

// ---------------------------------------------------------------- allowed-signers

function allowedSigners(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--trust", "--version"]);
  const wanted = wholeNumber(a.one("--version"), "--version", 1);
  const t = verifyDir(a.dir, a.one("--trust"), io);
  const chain = chainOf(t, []);
  if (chain.length === 0) {
    io.err(`boreal registry allowed-signers: ${a.dir} has no trusted federation version:`);
    for (const r of t.verified.rejected) io.err(`  ${r.path}: ${r.reason}`);
    io.err("  fix: check --trust against your stack's boreal:trust, or update the clone (git pull)");
    return 1;
  }
  const entry = wanted === undefined ? chain[chain.length - 1] : chain.find((c) => c.version === wanted);
  if (!entry) throw new CliError(`--version ${wanted} is not a trusted version of ${a.dir} (trusted: ${chain.map((c) => c.version).join(", ")})`, "pick one of the trusted versions, or pin an earlier one with --trust");
  const v = entry.value;
  io.out(`# allowed_signers of federation ${v.name} version ${v.version} (sha256 ${entry.sha256}), namespace ${REGISTRY_NAMESPACE}.`);
  const verify = (sig: string, object: string) => `ssh-keygen -Y verify -f allowed_signers -I MEMBER -n ${REGISTRY_NAMESPACE} -s ${sig} < ${object}`;
  const uses: [string, string][] = [];
  if (entry === chain[chain.length - 1]) uses.push(["a node object", verify("nodes/NODE.yaml.sig", "nodes/NODE.yaml")]);
  if (v.version === 1) uses.push(["a founder's signature of version 1", verify("federation/1.yaml.MEMBER.sig", "federation/1.yaml")]);
  uses.push([`a signature of version ${v.version + 1}`, verify(`federation/${v.version + 1}.yaml.MEMBER.sig`, `federation/${v.version + 1}.yaml`)]);
  io.out("# Check a signature with plain OpenSSH, in the registry directory:");
  for (const line of table(uses.map(([what, command]) => [`${what}:`, command]), "#   ")) io.out(line);
  for (const m of v.members) for (const key of m.keys) io.out(`${m.name} namespaces="${REGISTRY_NAMESPACE}" ${key}`);
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
    if (member) return `${key} (member ${draft.members?.[Number(member[1])]?.name ?? "?"}: --member)`;
    const flags: Record<string, string> = { name: "--name", domain: "--domain", "mesh.ipv4": "--mesh-ipv4", "mesh.ipv6": "--mesh-ipv6", threshold: "--threshold", members: "--member" };
    const flag = flags[key] ?? (key.startsWith("mirrors") ? "--mirror" : undefined);
    return flag ? `${key} (${flag})` : key;
  };
}

function init(args: string[], io: RegistryIo): number {
  const a = parseArgs(args, ["--name", "--domain", "--mesh-ipv4", "--mesh-ipv6", "--threshold"], ["--member", "--mirror"]);
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
  const draft = { version: 1, name, domain, mesh: { ipv4, ipv6 }, threshold, mirrors: a.all("--mirror"), members };
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
  const a = parseArgs(args, ["--threshold", "--trust"], ["--member", "--remove", "--add-key", "--remove-key", "--mirror"]);
  const threshold = wholeNumber(a.one("--threshold"), "--threshold", 1);
  const changes = ["--member", "--remove", "--add-key", "--remove-key", "--mirror"].some((f) => a.all(f).length > 0) || threshold !== undefined;
  if (!changes) throw usageError("nothing to change", "give --member, --remove, --add-key, --remove-key, --threshold or --mirror");
  const t = verifyDir(a.dir, a.one("--trust"), io);
  const settings = t.verified.federation?.settings;
  if (!settings) {
    throw new CliError(
      `${a.dir} has no trusted federation version to draft from: ${t.verified.rejected.map((r) => `${r.path}: ${r.reason}`).join("; ")}`,
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
    if (!m) throw new CliError(`${flag} ${spec}: ${name} is not a member of version ${current} (members: ${draft.members.map((x) => x.name).join(", ")})`, "check the spelling of the member's name");
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
  io.out(`it counts once ${settings.threshold} of version ${current}'s ${settings.members.length} members sign it (${settings.members.map((m) => m.name).join(", ")}); each runs:`);
  for (const m of settings.members) io.out(`  boreal registry sign ${a.dir} --version ${next} --member ${m.name} --key ~/.ssh/id_ed25519`);
  io.out(`then: boreal registry check ${a.dir} --trust <your pin> accepts version ${next}; commit and push it with its .sig files`);
  return 0;
}

/** What a version changes against the one before, one line each, for people to review. */
function describeChanges(before: FederationVersion, after: FederationVersion): string[] {
  const lines: string[] = [];
  const show = (m: Member) => `zones ${m.zones.join(" ")}, mesh ${m.mesh}, keys ${m.keys.map(fingerprint).join(" ")}`;
  for (const m of before.members) if (!after.members.some((x) => x.name === m.name)) lines.push(`- member ${m.name} (${show(m)})`);
  for (const m of after.members) {
    const old = before.members.find((x) => x.name === m.name);
    if (!old) {
      lines.push(`+ member ${m.name} (${show(m)})`);
      continue;
    }
    for (const key of m.keys) if (!old.keys.includes(key)) lines.push(`+ key ${fingerprint(key)} of ${m.name}`);
    for (const key of old.keys) if (!m.keys.includes(key)) lines.push(`- key ${fingerprint(key)} of ${m.name}`);
    if (old.zones.join(" ") !== m.zones.join(" ")) lines.push(`~ zones of ${m.name}: ${old.zones.join(" ")} -> ${m.zones.join(" ")}`);
    if (old.mesh !== m.mesh) lines.push(`~ mesh share of ${m.name}: ${old.mesh} -> ${m.mesh}`);
  }
  if (before.threshold !== after.threshold) lines.push(`~ threshold: ${before.threshold} -> ${after.threshold} (of ${after.members.length} members)`);
  for (const url of after.mirrors) if (!before.mirrors.includes(url)) lines.push(`+ mirror ${url}`);
  for (const url of before.mirrors) if (!after.mirrors.includes(url)) lines.push(`- mirror ${url}`);
  for (const key of ["name", "domain", "mesh", "defaults", "label"] as const) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) lines.push(`~ ${key}: ${JSON.stringify(before[key])} -> ${JSON.stringify(after[key])}`);
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
    if ("problems" in parsed) throw new CliError(formatProblems(parsed.problems).replace(/^boreal-kit found/, `${file} is not a valid federation version:`), "do not sign it: have it drafted again (boreal registry admit)");
    if (parsed.value.version !== v) throw new CliError(`${file} says version ${parsed.value.version}`, "do not sign it: a version's file name and its version field must agree");
    return { content, value: parsed.value };
  };
  const target = read(version, "the version to sign");
  const signing = version === 1 ? target.value : read(version - 1, `its members sign version ${version}`).value;
  const role = version === 1 ? "version 1 (the founders sign it themselves)" : `version ${version - 1}, whose members sign version ${version}`;
  const member = signing.members.find((m) => m.name === memberName);
  if (!member) {
    throw new CliError(`--member ${memberName} is not a member of ${role}`, `the members who can sign: ${signing.members.map((m) => m.name).join(", ")}`);
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
  const missing = signing.members.filter((m) => !report.signers.includes(m.name)).map((m) => m.name);
  if (version === 1) io.out(`founders who signed: ${report.signers.join(", ")}${missing.length ? `; not yet: ${missing.join(", ")}` : " (all)"}`);
  else {
    const enough = report.signers.length >= signing.threshold;
    io.out(`signatures of version ${version - 1}'s members: ${report.signers.length} of the ${signing.threshold} needed (${report.signers.join(", ")})${enough ? ": enough, version " + version + " is valid once pushed" : `; not yet: ${missing.join(", ")}`}`);
  }
  for (const b of report.bad) io.out(`  does not count: ${b.path}: ${b.reason}`);
  io.out(`check the file yourself: boreal registry allowed-signers ${a.dir} --trust <your pin> --version ${signing.version} > allowed_signers; ssh-keygen -Y verify -f allowed_signers -I ${memberName} -n ${REGISTRY_NAMESPACE} -s ${join(a.dir, path)} < ${join(a.dir, federationPath(version))}`);
  return 0;
}
