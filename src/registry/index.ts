// Registry I/O: read a registry directory as an untrusted source, and verify it. Objects
// are written by the Registration component (a local command, so writing and removal
// follow the stack) and by `boreal registry` for people.
import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { BorealConfigError } from "../config/errors";
import { FEDERATION_DIR, MAX_OBJECT_BYTES, NODES_DIR, NodeDescriptor, RegistryFile, Tombstone } from "../config/registry";
import { formatRejection, HeldState, parseTrust, Rejection, RegistrySource, TrustAnchor, VerifiedRegistry, verifyRegistry } from "./verify";

export interface ReadSource extends RegistrySource {
  /** Entries refused before reading: not regular files (a symlink could point anywhere). */
  unreadable: Rejection[];
}

/**
 * Reads federation/ and nodes/ of a registry directory. Hostile input: only regular files
 * are read (never through a symlink), each at most MAX_OBJECT_BYTES + 1 bytes.
 */
export function readRegistrySource(dir: string, name: string = basename(dir) || dir): ReadSource {
  const files: RegistryFile[] = [];
  const unreadable: Rejection[] = [];
  for (const sub of [FEDERATION_DIR, NODES_DIR]) {
    let entries: string[];
    try {
      const stat = lstatSync(join(dir, sub));
      if (!stat.isDirectory()) {
        unreadable.push({ source: name, path: sub, reason: "is not a directory (symlinks are refused)" });
        continue;
      }
      entries = readdirSync(join(dir, sub)).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.startsWith(".")) continue; // editors' and our own temp files
      const path = `${sub}/${entry}`;
      const stat = lstatSync(join(dir, path));
      if (!stat.isFile()) {
        unreadable.push({ source: name, path, reason: "is not a regular file (symlinks and directories are refused)" });
        continue;
      }
      files.push({ path, content: readCapped(join(dir, path)) });
    }
  }
  return { name, files, unreadable };
}

// One buffer for every read (reads are synchronous and the bytes are copied into a string at
// once): a fresh zero-filled 64 KiB buffer per file was a fifth of verifying a 250-node registry.
let readBuffer: Buffer | undefined;

/** At most MAX_OBJECT_BYTES + 1 bytes of a file: enough to tell that it is too large. */
export function readCapped(path: string): string {
  const buffer = (readBuffer ??= Buffer.allocUnsafe(MAX_OBJECT_BYTES + 1));
  const fd = openSync(path, "r");
  try {
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Verifies sources against a trust anchor; the read-time refusals join the report. */
export function verifySources(sources: ReadSource[], trust: TrustAnchor, held?: HeldState): VerifiedRegistry {
  const verified = verifyRegistry({ sources, trust, held });
  return { ...verified, rejected: [...sources.flatMap((s) => s.unreadable), ...verified.rejected] };
}

/**
 * The registry as `pulumi up` sees it: verified like everywhere else. Bad objects are
 * returned in `rejected` (for warnings); only a federation that cannot be trusted at all
 * stops the program.
 */
export type LoadedRegistry = VerifiedRegistry & { federation: NonNullable<VerifiedRegistry["federation"]>; files: RegistryFile[] };

export function loadRegistry(dir: string, trustText: string): LoadedRegistry {
  const trust = parseTrust(trustText);
  if (!trust) throw new BorealConfigError([{ source: "stack config", key: "boreal:trust", message: `"${trustText}" is not <version>:<sha256>`, fix: "copy the pin `boreal registry check` prints" }]);
  let source: ReadSource;
  try {
    readdirSync(dir);
    source = readRegistrySource(dir);
  } catch {
    throw new BorealConfigError([
      { source: "stack config", key: "boreal:registry", message: `registry directory ${dir} cannot be read`, fix: "point boreal:registry at the federation registry (a clone holding federation/ and nodes/)" },
    ]);
  }
  const verified = verifySources([source], trust);
  if (!verified.federation) {
    throw new BorealConfigError([
      {
        source: dir,
        key: "federation",
        message: `no trusted federation version: ${verified.rejected.map(formatRejection).join("; ")}`,
        fix: "update the registry clone (git pull), or check boreal:trust against the federation's published pin",
      },
    ]);
  }
  return { ...verified, federation: verified.federation, files: source.files };
}

/** A registry object as written to nodes/<node>.yaml: stable key order, no secrets. */
export function renderNodeObject(object: NodeDescriptor | Tombstone): string {
  const what = "left" in object ? "the tombstone of node" : "the descriptor of node";
  return `# Managed by boreal-kit: ${what} ${object.node}, signed by member ${object.member}.\n${stringify(object)}`;
}
