// Registry I/O: read a registry directory as an untrusted source, and verify it. Objects
// are written by the Registration component (a local command, so writing and removal
// follow the stack) and by `boreal registry` for people.
import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { BorealConfigError } from "../../core/values/problems";
import { FORMATS, withFormat } from "../../core/registry/formats";
import {
  descriptorPath,
  FEDERATION_DIR,
  MAX_DIRECTORY_ENTRIES,
  MAX_FEDERATION_BYTES,
  MAX_NODE_OBJECT_BYTES,
  MAX_OBJECT_BYTES,
  MAX_SIGNATURE_BYTES,
  NODES_DIR,
  NodeDescriptor,
  RegistryFile,
  signaturePath,
  Tombstone,
  UnreadableFile,
} from "../../core/registry/format";
import {
  classifyPath,
  formatRejection,
  HeldState,
  parseTrust,
  Rejection,
  RegistrySource,
  TrustAnchor,
  VerifiedRegistry,
  verifyRegistry,
} from "../../core/registry/verify";

export interface ReadSource extends RegistrySource {
  /** Entries refused before reading: not regular files (a symlink could point anywhere), hidden, too many. */
  unreadable: Rejection[];
}

/** Entries of one kind named one by one in a report; the rest are counted in one line. */
const READ_REPORTED = 20;

/** The cap of a registry file by its name: signatures, node objects and federation versions differ. */
function capOf(path: string): number {
  if (path.endsWith(".sig")) return MAX_SIGNATURE_BYTES;
  return path.startsWith(`${NODES_DIR}/`) ? MAX_NODE_OBJECT_BYTES : MAX_FEDERATION_BYTES;
}

/**
 * Reads federation/ and nodes/ of a registry directory. Hostile input: only regular files
 * (never through a symlink), each refused by its size above its cap, each read only when
 * the verifier asks for it (a mirror full of junk costs a directory listing), as strict UTF-8.
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
      entries = readdirSync(join(dir, sub));
    } catch {
      continue;
    }
    if (entries.length > MAX_DIRECTORY_ENTRIES) {
      const reason = `holds ${entries.length} entries, over the cap of ${MAX_DIRECTORY_ENTRIES}: this source's ${sub}/ is refused as a whole (other mirrors still count)`;
      unreadable.push({ source: name, path: sub, reason });
      continue;
    }
    let hidden = 0;
    let irregular = 0;
    for (const entry of entries.sort()) {
      const path = `${sub}/${entry}`;
      if (entry.startsWith(".")) {
        // Our own temp files (nodes/.<node>.boreal.tmp) and editors': said, never read.
        if (++hidden <= 5) unreadable.push({ source: name, path, reason: "is a hidden file: not part of a registry (not read)" });
        continue;
      }
      if (classifyPath(path).kind === "junk") {
        // Refused by its name alone (the verifier says why): neither looked at nor read.
        files.push(unreadFile(path));
        continue;
      }
      const stat = lstatSync(join(dir, path), { throwIfNoEntry: false });
      if (!stat?.isFile()) {
        const reason = stat ? "is not a regular file (symlinks and directories are refused)" : "vanished while the directory was read";
        if (++irregular <= READ_REPORTED) unreadable.push({ source: name, path, reason });
        continue;
      }
      files.push(lazyFile(path, join(dir, path), stat.size, `${stat.size}:${stat.mtimeMs}:${stat.ino}`));
    }
    if (hidden > 5) unreadable.push({ source: name, path: `${sub}/.*`, reason: `${hidden - 5} more hidden files (not read)` });
    if (irregular > READ_REPORTED) {
      const reason = `${irregular - READ_REPORTED} more entries are not regular files (not read; the first ${READ_REPORTED} are named above)`;
      unreadable.push({ source: name, path: `${sub}/(more)`, reason });
    }
  }
  return { name, files, unreadable };
}

function unreadFile(path: string): RegistryFile {
  return {
    path,
    stamp: "unread",
    get content(): string {
      throw new UnreadableFile("is not part of a registry (not read)");
    },
  };
}

/** A registry file read from disk on first use; its size is known from the directory, so a file over its cap is never read. */
function lazyFile(path: string, fullPath: string, size: number, stamp: string): RegistryFile {
  return {
    path,
    stamp,
    get content(): string {
      const cap = capOf(path);
      if (size > cap)
        throw new UnreadableFile(
          `is ${size} bytes, over the cap of ${cap} bytes for ${path.endsWith(".sig") ? "a signature" : "this kind of object"} (not read)`,
        );
      return readText(fullPath, cap);
    },
  };
}

// One buffer for every read (reads are synchronous and the bytes are decoded at once).
let readBuffer: Buffer | undefined;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The file's text: at most `cap` bytes, decoded as strict UTF-8 so that the text is exactly
 * the bytes that were signed (a lenient decoder would turn different bytes into the same
 * text). Throws UnreadableFile with the reason.
 */
export function readText(path: string, cap: number = MAX_OBJECT_BYTES): string {
  const buffer =
    readBuffer && readBuffer.length > cap ? readBuffer : (readBuffer = Buffer.allocUnsafe(Math.max(cap, MAX_OBJECT_BYTES) + 1));
  let length: number;
  try {
    const fd = openSync(path, "r");
    try {
      length = readSync(fd, buffer, 0, cap + 1, 0);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new UnreadableFile(`cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (length > cap) throw new UnreadableFile(`is over the cap of ${cap} bytes (not read further)`);
  const bytes = buffer.subarray(0, length);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new UnreadableFile(
      `is not UTF-8 text (first invalid byte at offset ${firstInvalidUtf8(bytes)}): registry files are UTF-8; its signature was not checked`,
    );
  }
}

/** The offset of the first byte that is not part of a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let at = 0; at < bytes.length;) {
    const b = bytes[at];
    const length = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (length === 0) return at;
    try {
      strictUtf8.decode(bytes.subarray(at, at + length));
    } catch {
      return at;
    }
    at += length;
  }
  return bytes.length;
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
  if (!trust)
    throw new BorealConfigError([
      {
        source: "stack config",
        key: "boreal:trust",
        message: `"${trustText}" is not <version>:<sha256>`,
        fix: "copy the pin `boreal registry check` prints",
      },
    ]);
  let source: ReadSource;
  try {
    readdirSync(dir);
    source = readRegistrySource(dir);
  } catch {
    throw new BorealConfigError([
      {
        source: "stack config",
        key: "boreal:registry",
        message: `registry directory ${dir} cannot be read`,
        fix: "point boreal:registry at the federation registry (a clone holding federation/ and nodes/)",
      },
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
  return { ...verified, federation: verified.federation, files: acceptedFiles(source, verified) };
}

/**
 * The files behind what was accepted, as plain text (the node's agent is seeded with them):
 * the federation versions up to the trusted one with their signatures, and each held node
 * object with its signature. Nothing refused, nothing unread.
 */
function acceptedFiles(source: ReadSource, verified: VerifiedRegistry): RegistryFile[] {
  const trusted = verified.version?.version ?? 0;
  const files: RegistryFile[] = [];
  for (const file of source.files) {
    const kind = classifyPath(file.path);
    if ((kind.kind === "version" || kind.kind === "version-signature") && kind.version <= trusted) {
      try {
        files.push({ path: file.path, content: file.content });
      } catch (error) {
        if (!(error instanceof UnreadableFile)) throw error;
      }
    }
  }
  for (const [node, held] of Object.entries(verified.held.nodes)) {
    files.push(
      { path: descriptorPath(node), content: held.content },
      { path: signaturePath(descriptorPath(node)), content: held.signature },
    );
  }
  return files;
}

/** A registry object as written to nodes/<node>.yaml: stable key order, no secrets. */
export function renderNodeObject(object: NodeDescriptor | Tombstone): string {
  const what = "left" in object ? "the tombstone of node" : "the descriptor of node";
  // In the lowest format that expresses it (src/core/registry/formats.ts): `format` only when above 1.
  return `# Managed by boreal-kit: ${what} ${object.node}, signed by member ${object.member}.\n${stringify(withFormat(object, FORMATS.node))}`;
}
