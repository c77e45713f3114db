// What `boreal registry`, `boreal label` and `boreal dns check` trust of a registry
// directory: read as every node reads it, verified from --trust (or, unpinned, from its
// lowest version, said loudly), with the chain of versions and who signed each.
//
// Everything a registry, a mirror or a member's file says is hostile: every name, path,
// reason and value from them is escaped (src/core/values/escape.ts) before it is printed, so a
// file name cannot forge a line of the report or drive the terminal.
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ConfigProblem } from "../core/values/problems";
import { escapeShort, escapeText } from "../core/values/escape";
import { FEDERATION_DIR, federationPath, FederationVersion, NODES_DIR, parseFederationVersion } from "../core/registry/format";
import {
  classifyPath,
  countVersionSignatures,
  formatTrust,
  HeldState,
  parseTrust,
  Rejection,
  sha256,
  SignatureRefusal,
  TrustAnchor,
  VerifiedRegistry,
} from "../core/registry/verify";
import { readRegistrySource, ReadSource, verifySources } from "../io/registry/read";
import { Parsed } from "./args";
import { BorealError, systemErrorText, usageError } from "./errors";
import { CliIo, hint } from "./output";

/** DIR, the registry directory: the one word of a registry verb that is not an option. */
export function registryDir(a: Parsed): string {
  const { positional } = a;
  if (positional.length === 0)
    throw usageError(
      "the registry directory DIR is missing",
      "give the registry directory (a clone holding federation/ and nodes/) first",
      "DIR",
    );
  if (positional.length > 1)
    throw usageError(
      `one registry directory expected, got ${positional.map((p) => JSON.stringify(p)).join(" ")}`,
      "give DIR once; every other value follows its --option",
    );
  return positional[0];
}

export function readSource(dir: string): ReadSource {
  const fix = "give the registry directory: a clone holding federation/ and nodes/";
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    throw new BorealError(
      `registry directory ${dir} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { where: dir, fix },
    );
  }
  if (!isDir) throw new BorealError(`${dir} is not a directory`, { where: dir, fix });
  try {
    return readRegistrySource(dir, basename(dir) || dir);
  } catch (error) {
    throw new BorealError(`registry directory ${dir} cannot be read: ${systemErrorText(error) ?? escapeShort((error as Error).message)}`, {
      where: dir,
      fix: "check the permissions of its federation/ and nodes/",
    });
  }
}

/** Names that could be registry objects (the verifier says which are); nothing else is read. */
export const isObjectLike = (path: string) => classifyPath(path).kind !== "junk";

/** The text of each file that could be a registry object, by path; a file that cannot be read is left to the verifier, which reports it. */
export function registryFiles(source: ReadSource): Map<string, string> {
  const files = new Map<string, string>();
  for (const file of source.files) {
    if (!isObjectLike(file.path)) continue;
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

export function versionsIn(files: Iterable<string>): number[] {
  const versions: number[] = [];
  for (const path of files) {
    const version = versionOfPath(path);
    if (version !== undefined) versions.push(version);
  }
  return versions.sort((a, b) => a - b);
}

/** federation/ files whose name looks like a version but is none a node reads (federation/00.yaml, 007.yaml). */
export function misnamedVersions(files: Iterable<string>): string[] {
  return [...files].filter((path) => new RegExp(`^${FEDERATION_DIR}/\\d+\\.yaml$`).test(path) && versionOfPath(path) === undefined);
}

/** The federation versions on disk (also files readRegistrySource would refuse). */
export function versionsOnDisk(dir: string): number[] {
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
export interface AnchorCandidates {
  /** How the warning names a file of it, e.g. `reg/federation/1.yaml` or `origin/main:federation/1.yaml`. */
  name: (path: string) => string;
  files: Map<string, string>;
  /** Every file name of the source, read or not. */
  paths: string[];
}

/** --trust, or (unpinned) the lowest version found, said loudly. */
export function trustAnchor(
  trustText: string | undefined,
  candidates: AnchorCandidates[],
  where: string,
  io: CliIo,
  command: string,
): { anchor: TrustAnchor; pinned: boolean } {
  if (trustText !== undefined) {
    const parsed = parseTrust(trustText);
    if (!parsed)
      throw usageError(
        `--trust ${JSON.stringify(trustText)} is not N:SHA256`,
        "copy the pin of your stack (boreal:trust), e.g. --trust 1:<64 hex digits>",
        "--trust",
      );
    return { anchor: parsed, pinned: true };
  }
  for (const { name, files, paths } of candidates) {
    const lowest = versionsIn(paths)[0];
    if (lowest === undefined) continue;
    const content = files.get(federationPath(lowest));
    if (content === undefined) {
      const file = escapeText(name(federationPath(lowest)));
      throw new BorealError(`${file} cannot be read (too large, not UTF-8 text, or not a regular file), so it cannot be trusted as found`, {
        where: file,
        fix: `${hint("registry check DIR --trust N:SHA256")} names the refusal; or mend the file`,
      });
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
    throw new BorealError(
      `${where} holds no federation version a node would read: ${misnamed.slice(0, 5).map(escapeText).join(", ")}${misnamed.length > 5 ? ", ..." : ""} ${misnamed.length === 1 ? "is not a version's name" : "are not versions' names"}`,
      {
        where,
        fix: `versions are named ${FEDERATION_DIR}/1.yaml, ${FEDERATION_DIR}/2.yaml, ... without leading zeros: rename the file (git mv), or pass --trust N:SHA256`,
      },
    );
  }
  throw new BorealError(`${where} holds no federation version (${FEDERATION_DIR}/<N>.yaml)`, {
    where,
    fix: `start a federation with ${hint("registry init")}, or give the directory of a registry clone`,
  });
}

/** Verifies DIR like the nodes do, against --trust or (unpinned) its lowest version. */
export function verifyDir(dir: string, trustText: string | undefined, io: CliIo, command = "boreal registry"): Trusted {
  const source = readSource(dir);
  const files = registryFiles(source);
  const { anchor, pinned } = trustAnchor(
    trustText,
    [{ name: (path) => join(dir, path), files, paths: source.files.map((f) => f.path) }],
    dir,
    io,
    command,
  );
  return verifiedTrusted(source, files, anchor, pinned);
}

/** The directory verified from the anchor, and (with `held`) also as a node holding `held` does. */
export function verifiedTrusted(
  source: ReadSource,
  files: Map<string, string>,
  anchor: TrustAnchor,
  pinned: boolean,
  held?: HeldState,
): Trusted {
  const fresh = verifySources([source], anchor);
  if (held === undefined) return { source, files, anchor, pinned, verified: fresh };
  return { source, files, anchor, pinned, verified: verifySources([source], anchor, structuredClone(held)), fresh };
}

export interface SignatureReport {
  signers: string[];
  bad: { path: string; reason: string }[];
  /** The signers reach the threshold of `signing` (the core's count). */
  enough: boolean;
}

/** Who of `signing`'s members signed federation/<version>.yaml, and the signature files that do not count. */
export function signaturesOf(files: Map<string, string>, version: number, signing: FederationVersion): SignatureReport {
  const prefix = `${federationPath(version)}.`;
  const signatures = new Map<string, string>();
  for (const [path, signature] of files)
    if (path.startsWith(prefix) && path.endsWith(".sig")) signatures.set(path.slice(prefix.length, -".sig".length), signature);
  const count = countVersionSignatures(files.get(federationPath(version)) ?? "", signatures, signing);
  const reason = (r: SignatureRefusal): string => {
    if (r.problem === "not-a-member")
      return `${r.member} is not a member of federation version ${signing.version}, whose members sign version ${version}`;
    if (r.problem === "bad-signature") return `bad signature: ${r.reason}`;
    return `signed by ${fingerprint(r.publicKey)}, which is not one of member ${r.member}'s keys in federation version ${signing.version}`;
  };
  return {
    signers: count.signers.map((m) => m.name),
    bad: count.refused.map((r) => ({ path: `${prefix}${r.member}.sig`, reason: reason(r) })),
    enough: count.enough,
  };
}

/** `ssh-keygen -l` style: SHA256:<unpadded base64 of the key blob's sha256>. */
export function fingerprint(key: string): string {
  const blob = Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

export interface ChainEntry {
  version: number;
  sha256: string;
  /** Undefined: trusted from what was held (--since, --held), but not in the directory. */
  value?: FederationVersion;
  how: string;
}

/** The accepted versions from the anchor to the newest, with who signed each. */
export function chainOf(t: Trusted, extraRejections: Rejection[]): ChainEntry[] {
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
export function orphanSignatures(t: Trusted): Rejection[] {
  const orphans: Rejection[] = [];
  for (const path of t.files.keys()) {
    const fed = new RegExp(`^(${FEDERATION_DIR}/\\d+\\.yaml)\\.[a-z0-9-]+\\.sig$`).exec(path);
    const node = new RegExp(`^(${NODES_DIR}/[^/]+\\.yaml)\\.sig$`).exec(path);
    const object = fed?.[1] ?? node?.[1];
    if (object !== undefined && !t.files.has(object))
      orphans.push({ source: t.source.name, path, reason: `signs ${object}, which is not in the registry` });
  }
  return orphans;
}

export function pinLine(entry: { version: number; sha256: string }): string {
  return `pulumi config set boreal:trust ${formatTrust(entry)}`;
}

/** A rejection's line: every field it carries, escaped. */
export function rejectionLine(r: Rejection, indent = "  "): string {
  const more = Object.entries(r)
    .filter(([key, value]) => !["source", "path", "reason"].includes(key) && value !== undefined)
    .map(
      ([key, value]) =>
        ` (${escapeText(key)}: ${escapeShort(typeof value === "string" ? value : (JSON.stringify(value) ?? String(value)))})`,
    );
  return `${indent}${escapeText(r.path)}: ${escapeText(r.reason)}${more.join("")}`;
}

/** Problems whose text came from a file: escaped before they are printed. */
export function escapedProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.map((p) => ({
    source: escapeText(p.source),
    key: escapeText(p.key),
    message: escapeText(p.message),
    fix: escapeText(p.fix),
  }));
}
