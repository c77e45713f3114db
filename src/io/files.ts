// The one file writer: a reader never sees half a file (temp file in the same directory,
// then rename), and a crash leaves the old one.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface WriteOptions {
  /** File mode; default 0644. */
  mode?: number;
  /** Mode of directories made on the way; default 0755. */
  dirMode?: number;
  /**
   * The temp file's name starts with a dot (.<name>.<pid>.tmp): for directories whose readers
   * skip hidden entries (a registry), so a write under way is never taken for an object.
   */
  hiddenTemp?: boolean;
}

export function writeAtomic(path: string, content: string | Buffer, options: WriteOptions = {}): void {
  mkdirSync(dirname(path), { recursive: true, mode: options.dirMode ?? 0o755 });
  // This process's own temp name: two writers of one path never rename each other's half.
  const temp = options.hiddenTemp ? join(dirname(path), `.${basename(path)}.${process.pid}.tmp`) : `${path}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: options.mode ?? 0o644 });
  renameSync(temp, path);
}

/** A JSON file's value, or `fallback` when it is absent or not JSON. */
export function readJson<T>(path: string, fallback: T): T {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return fallback;
  }
}

/**
 * Writes a directory of files as one: into a temp directory beside it, then renamed into
 * place, so a web server never serves half of it. A directory already at `path` is replaced
 * only when `replaceable` says it may be (the caller's own earlier output).
 */
export function writeDirectory(
  path: string,
  files: readonly { path: string; content: string }[],
  replaceable: (existing: string) => boolean,
): void {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat && !(stat.isDirectory() && (readdirSync(path).length === 0 || replaceable(path))))
    throw new Error(`${path} exists and is not a directory this command wrote`);
  const temp = `${path}.${process.pid}.tmp`;
  rmSync(temp, { recursive: true, force: true });
  for (const f of files) {
    mkdirSync(dirname(join(temp, f.path)), { recursive: true, mode: 0o755 });
    writeFileSync(join(temp, f.path), f.content, { mode: 0o644 });
  }
  const old = `${path}.${process.pid}.old`;
  if (stat) renameSync(path, old);
  renameSync(temp, path);
  rmSync(old, { recursive: true, force: true });
}
