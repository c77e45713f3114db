// What the agent's commands share on the node: its state files, its log, and its git
// checkouts of the mirrors (sync reads them; attest also writes and pushes).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { AGENT } from "../core/node/layout";

export const MIRROR_TIMEOUT_MS = 20_000;
export const stateFile = join(AGENT.stateDir, "state.json");

export const log = (line: string) => process.stdout.write(`${line}\n`);

export function readJson<T>(path: string, fallback: T): T {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return fallback;
  }
}

/** Root-only, and never half-written (a crash leaves the old file). */
export function writeAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, content, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** A checkout of the agent's own per mirror URL, under `<stateDir>/<kind>/`. */
export function checkoutDir(kind: string, url: string): string {
  return join(AGENT.stateDir, kind, createHash("sha256").update(url).digest("hex").slice(0, 16));
}

export function gitIn(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-C", dir, "-c", "user.name=boreal-agent", "-c", "user.email=boreal-agent@localhost", ...args], {
    timeout: MIRROR_TIMEOUT_MS,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0" },
  });
}

/** The mirror's newest tree in `dir` (made if absent), replacing whatever was there; throws when it does not answer. */
export function checkoutMirror(dir: string, url: string): void {
  if (!existsSync(join(dir, ".git"))) {
    mkdirSync(dir, { recursive: true });
    gitIn(dir, "init", "--quiet");
  }
  // For sync-gate, which fetches it between runs to see whether anything moved.
  gitIn(dir, "config", "boreal.url", url);
  gitIn(dir, "fetch", "--quiet", "--depth", "1", "--no-tags", url, "HEAD");
  checkoutFetched(dir);
}

/** What was last fetched into `dir` (by checkoutMirror, or by sync-gate's tick), checked out. */
export function checkoutFetched(dir: string): void {
  gitIn(dir, "reset", "--quiet", "--hard", "FETCH_HEAD");
}

/** git's own last line of complaint, for a log line. */
export function gitError(error: unknown): string {
  const detail = (error as { stderr?: Buffer | string }).stderr?.toString().trim() || (error as Error).message;
  return detail.split("\n").pop() ?? detail;
}
