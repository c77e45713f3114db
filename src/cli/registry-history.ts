// `boreal registry check --since REV`: the registry as it was at a git revision, read from
// git's objects into a private temporary directory (no checkout, nothing of DIR touched), so
// a change is checked as the nodes holding the earlier state would take it.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { escapeShort, escapeText } from "../core/values/escape";
import { FEDERATION_DIR, NODES_DIR } from "../core/registry/format";
import { Rejection } from "../core/registry/verify";
import { GIT_TIMEOUT_MS, gitRun } from "../io/git";
import { lastWords, ProcessError } from "../io/process";
import { readRegistrySource, ReadSource } from "../io/registry/read";
import { BorealError, unavailableError, usageError } from "./errors";
import { isObjectLike } from "./registry-trust";

/** Blobs up to this size are read whole (above every registry cap); a larger one is left as a sparse file of its size, which the reader refuses unread. */
const HISTORY_BLOB_CAP = 1024 * 1024;
/** All blobs of a previous revision together, at most. */
const HISTORY_TOTAL_CAP = 256 * 1024 * 1024;

/** git said no (its last line of complaint). */
class GitRefused extends Error {}

/** `git -C DIR ARGS...` through the kit's git wrapper; git's stdout as bytes. */
function git(dir: string, args: string[], input?: string, maxBuffer = 64 * 1024 * 1024): Buffer {
  let result;
  try {
    result = gitRun(dir, args, { input, maxBuffer, allowFailure: true });
  } catch (error) {
    if (error instanceof ProcessError && error.notInstalled)
      throw unavailableError(
        "--since needs git, which is not installed (or not on PATH)",
        "install git (apt install git), or give --held FILE instead",
        "--since",
      );
    throw error;
  }
  const bytes = result.stdoutBytes ?? Buffer.from(result.stdout, "utf8");
  if (result.timedOut)
    throw unavailableError(
      `--since: git ${args[0]} in ${dir} did not finish within ${GIT_TIMEOUT_MS / 1000} s`,
      "check the repository (git fsck), or give --held FILE instead",
      "--since",
    );
  if (result.status === null && bytes.length > maxBuffer) {
    throw new BorealError(`--since: git ${args[0]} in ${dir} answered more than ${Math.round(maxBuffer / 1024 / 1024)} MiB`, {
      where: "--since",
      fix: "a registry's federation/ and nodes/ are far smaller: check the revision",
    });
  }
  if (result.status !== 0) throw new GitRefused(escapeShort(lastWords(result) || `exited with ${result.status ?? result.signal}`, 300));
  return bytes;
}

export interface Revision {
  commit: string;
  /** DIR inside its repository, "" at its top ("registry/" when the registry is a subdirectory). */
  prefix: string;
}

export function resolveRevision(dir: string, rev: string): Revision {
  const example = "e.g. --since origin/main (the branch the change goes to) or --since HEAD~1";
  if (rev.startsWith("-") || /[\0\n]/.test(rev))
    throw usageError(`--since ${JSON.stringify(rev)} is not a git revision`, example, "--since");
  let prefix: string;
  try {
    prefix = git(dir, ["rev-parse", "--show-prefix"]).toString("utf8").replace(/\n$/, "");
  } catch (error) {
    if (!(error instanceof GitRefused)) throw error;
    throw new BorealError(`--since ${escapeText(rev)}: ${dir} is not in a git repository git can read (git: ${error.message})`, {
      where: "--since",
      fix: "run the check in a clone of the registry, or give --held FILE instead",
    });
  }
  try {
    const commit = git(dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`])
      .toString("utf8")
      .trim();
    return { commit, prefix };
  } catch (error) {
    if (!(error instanceof GitRefused)) throw error;
    throw new BorealError(`--since ${escapeText(rev)} is no commit of the git repository of ${dir}`, {
      where: "--since",
      fix: `fetch it first, e.g. git fetch origin main (a CI checkout is often shallow: fetch-depth: 0, or git fetch --deepen=1 for HEAD~1); ${example}`,
    });
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
  if (total > HISTORY_TOTAL_CAP)
    throw new BorealError(`--since: the previous revision's registry files add up to ${total} bytes, over ${HISTORY_TOTAL_CAP}`, {
      where: "--since",
      fix: "a registry is far smaller: check the revision",
    });
  const out = git(dir, ["cat-file", "--batch"], `${blobs.map((b) => b.oid).join("\n")}\n`, total + blobs.length * 128 + 1024 * 1024);
  let at = 0;
  for (const blob of blobs) {
    const end = out.indexOf(10, at);
    const [oid, type, size] = out.toString("utf8", at, end).split(" ");
    if (end < 0 || type !== "blob" || oid !== blob.oid)
      throw new BorealError(`--since: git object ${blob.oid} (${escapeText(blob.name)}) cannot be read (${type ?? "no answer"})`, {
        where: "--since",
        fix: "a partial or shallow clone? fetch the revision in full (git fetch --unshallow), then run again",
      });
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
export function withRevision<T>(dir: string, revision: Revision, name: string, use: (source: ReadSource) => T): T {
  const prefix = revision.prefix.replace(/\/$/, "");
  let root: string | undefined;
  try {
    root = git(dir, [
      "rev-parse",
      "--verify",
      "--quiet",
      "--end-of-options",
      prefix ? `${revision.commit}:${prefix}` : `${revision.commit}^{tree}`,
    ])
      .toString("utf8")
      .trim();
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
      const wanted = children.filter(
        (c) => c.type === "blob" && c.mode !== "120000" && (c.size ?? Infinity) <= HISTORY_BLOB_CAP && isObjectLike(`${sub}/${c.name}`),
      );
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
