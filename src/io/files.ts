// The one file writer: a reader never sees half a file (temp file in the same directory,
// then rename), and a crash leaves the old one.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
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
