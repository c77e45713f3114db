// What the agent's commands share on the node: its templates, its state files (root-only),
// its log, and its git checkouts of the mirrors (sync reads them; attest also commits and
// pushes from them).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TemplateSources } from "../core/node/render";
import { AGENT } from "../core/node/layout";
import { writeAtomic } from "../io/files";
import { git } from "../io/git";
import { lastWords, ProcessError } from "../io/process";
import { loadTemplates } from "../io/templates";

export { readJson } from "../io/files";

// The bundle carries the templates (esbuild `define`); run from the repository, they are read.
declare const BOREAL_TEMPLATES: TemplateSources | undefined;
export const templates = (): TemplateSources => (typeof BOREAL_TEMPLATES !== "undefined" ? BOREAL_TEMPLATES : loadTemplates());

export const MIRROR_TIMEOUT_MS = 20_000;
export const stateFile = join(AGENT.stateDir, "state.json");
export const statusFile = join(AGENT.stateDir, "status.json");
/** What a sync run that is changing the node would leave if killed: the state until its report. */
export const intentFile = join(AGENT.stateDir, "intent.json");

/** Who commits on the node (attestations). */
export const AGENT_AUTHOR = { name: "boreal-agent", email: "boreal-agent@localhost" };

export const log = (line: string) => process.stdout.write(`${line}\n`);

/** Root-only, and never half-written (a crash leaves the old file). */
export function writeRootOnly(path: string, content: string): void {
  writeAtomic(path, content, { mode: 0o600, dirMode: 0o700 });
}

/** A checkout of the agent's own per mirror URL, under `<stateDir>/<kind>/`. */
export function checkoutDir(kind: "mirrors" | "inbox", url: string): string {
  return join(AGENT.stateDir, kind, createHash("sha256").update(url).digest("hex").slice(0, 16));
}

const mirrorGit = (dir: string, args: string[]): string => git(dir, args, { timeoutMs: MIRROR_TIMEOUT_MS, author: AGENT_AUTHOR });

/** The mirror's newest tree in `dir` (made if absent), replacing whatever was there; throws when it does not answer. */
export function checkoutMirror(dir: string, url: string): void {
  if (!existsSync(join(dir, ".git"))) {
    mkdirSync(dir, { recursive: true });
    mirrorGit(dir, ["init", "--quiet"]);
  }
  // For sync-gate, which fetches it between runs to see whether anything moved.
  mirrorGit(dir, ["config", "boreal.url", url]);
  mirrorGit(dir, ["fetch", "--quiet", "--depth", "1", "--no-tags", url, "HEAD"]);
  checkoutFetched(dir);
}

/** What was last fetched into `dir` (by checkoutMirror, or by sync-gate's tick), checked out. */
export function checkoutFetched(dir: string): void {
  mirrorGit(dir, ["reset", "--quiet", "--hard", "FETCH_HEAD"]);
}

/** Whether any of `paths` in the checkout differs from its last commit (or is new). */
export function changedIn(dir: string, paths: string[]): boolean {
  return mirrorGit(dir, ["status", "--porcelain", "--", ...paths]).trim() !== "";
}

/** git's own last line of complaint, for a log line. */
export function gitError(error: unknown): string {
  const detail = error instanceof ProcessError ? lastWords(error.result) || error.message : (error as Error).message;
  return detail.split("\n").pop() ?? detail;
}
