// The agent's runs as named phases: fetch, verify, decide, install, apply, report. The sync
// run (main.ts) goes through all of them; the round of label checks (attest.ts) shares the
// reading of its inputs, fetch and verify, and has its own decide and report. The decisions
// are pure (src/core/node/sync.ts); these do the I/O, and only report writes the state (a run
// about to change the node records its intent first, so that one killed on the way is redone).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { RegistryFile } from "../core/registry/format";
import { formatRejection, Rejection, sha256, VerifiedRegistry } from "../core/registry/verify";
import { formatsRead } from "../core/registry/formats";
import { AGENT, FileRole, RenderedFile, TEXTFILE_DIR } from "../core/node/layout";
import { AgentConfig, parseAgentConfig } from "../core/spec/agent";
import { SYNC_INTERVAL_DEFAULT } from "../core/spec/stack";
import {
  AgentState,
  appliedState,
  decideSync,
  DecidedRun,
  emptyAgentState,
  failedState,
  MirrorsAsked,
  rolesToApply,
  syncMetrics,
  SyncOutcome,
  syncOutcome,
  unchangedState,
} from "../core/node/sync";
import { CHECK_REFUSED, installScript, SERVICE_SCRIPTS } from "../core/node/scripts";
import { BorealConfigError } from "../core/values/problems";
import { escapeShort, escapeText } from "../core/values/escape";
import { ReadSource, readRegistrySource, verifySources } from "../io/registry/read";
import { writeAtomic } from "../io/files";
import { runShell } from "../io/process";
import {
  checkoutDir,
  checkoutFetched,
  checkoutMirror,
  gitError,
  intentFile,
  log,
  readJson,
  stateFile,
  statusFile,
  templates,
  writeRootOnly,
} from "./io";

/** As long as boreal-sync.service gives a whole run: a script that hangs ends, and is named. */
export const SCRIPT_TIMEOUT_MS = 300_000;

// ---- inputs ---------------------------------------------------------------------------

/** What a run starts from: the agent's config, its state, and the registry `pulumi up` seeded. */
export interface RunInputs {
  /** The config as read: its digest is part of the run's inputs. */
  configText: string;
  config: AgentConfig;
  state: AgentState;
  seed: ReadSource;
}

export function readInputs(): RunInputs {
  const configText = readFileSync(AGENT.config, "utf8");
  const config = parseAgentConfig(configText, AGENT.config);
  const seed: ReadSource = {
    name: "pulumi up",
    files: readJson<{ files: RegistryFile[] }>(AGENT.seed, { files: [] }).files,
    unreadable: [],
  };
  return { configText, config, state: readState(), seed };
}

/** The state the last run left: its report's, or the intent of a run killed before its report. */
export function readState(): AgentState {
  const saved =
    readJson<Partial<AgentState> | undefined>(intentFile, undefined) ?? readJson<Partial<AgentState> | undefined>(stateFile, undefined);
  return { ...emptyAgentState(), ...saved };
}

// ---- fetch ----------------------------------------------------------------------------

export interface MirrorFetch {
  url: string;
  /** The mirror's tree, read; absent when it did not answer (then `error` says why). */
  source?: ReadSource;
  error?: string;
}

export interface Fetched {
  /** The seed, then every mirror that answered. */
  sources: ReadSource[];
  /** Every mirror the trusted federation lists, in its order. */
  mirrors: MirrorFetch[];
}

/**
 * Every mirror's newest tree, in checkouts of the agent's own (`mirrors` for the sync, which
 * sync-gate fetches into; `inbox` for the label's round, which commits there). The mirrors
 * are listed by the federation itself: the version trusted so far names them.
 */
export function fetch(inputs: RunInputs, checkouts: "mirrors" | "inbox", fetchedByGate: ReadonlySet<string> = new Set()): Fetched {
  const known = verifySources([inputs.seed], inputs.config.trust, inputs.state.held);
  const mirrors = (known.federation?.settings.mirrors ?? []).map((url) => fetchMirror(url, checkoutDir(checkouts, url), fetchedByGate));
  return { sources: [inputs.seed, ...mirrors.flatMap((m) => (m.source ? [m.source] : []))], mirrors };
}

/**
 * A mirror sync-gate fetched in the tick that started this run is checked out as it fetched
 * it: asking again would cost every run a round trip, and the mirror a second upload.
 */
function fetchMirror(url: string, dir: string, fetchedByGate: ReadonlySet<string>): MirrorFetch {
  try {
    if (fetchedByGate.has(url)) {
      try {
        checkoutFetched(dir);
        return { url, source: readRegistrySource(dir, url) };
      } catch {
        // Its FETCH_HEAD went missing after all: ask the mirror, as a run started otherwise does.
      }
    }
    checkoutMirror(dir, url);
    return { url, source: readRegistrySource(dir, url) };
  } catch (error) {
    return { url, error: gitError(error) };
  }
}

export function mirrorsAsked(fetched: Fetched): MirrorsAsked {
  return { listed: fetched.mirrors.length, unreachable: fetched.mirrors.filter((m) => !m.source).map((m) => m.url) };
}

/** The sync's log of its mirrors: a mirror is named when it goes down and when it comes back. */
export function logMirrors(fetched: Fetched, wasDown: readonly string[]): void {
  for (const mirror of fetched.mirrors) {
    if (mirror.error !== undefined && !wasDown.includes(mirror.url))
      log(`mirror ${escapeShort(mirror.url)} did not answer: ${escapeShort(mirror.error, 300)}`);
    if (mirror.source && wasDown.includes(mirror.url)) log(`mirror ${escapeShort(mirror.url)} answers again`);
  }
  const listed = fetched.mirrors.length;
  if (listed > 0 && fetched.sources.length === 1 && wasDown.length < listed) log("no mirror answered: keeping the last good peer set");
}

// ---- verify ---------------------------------------------------------------------------

/** The registry as this node trusts it: from what it holds, the seed and the mirrors. */
export function verify(inputs: RunInputs, fetched: Fetched): VerifiedRegistry {
  return verifySources(fetched.sources, inputs.config.trust, inputs.state.held);
}

/**
 * The sync's log of refusals: each rejection once, when it appears. Returns them all, formatted.
 * An object a newer boreal-kit wrote adds a line that says what this node reads and what to do.
 */
export function logRejections(verified: VerifiedRegistry, reported: readonly string[]): string[] {
  const rejected = verified.rejected.map(formatRejection);
  const before = new Set(reported);
  for (const line of rejected) if (!before.has(line)) log(`rejected ${line}`);
  const newer = verified.rejected.filter((r, i) => r.newer !== undefined && !before.has(rejected[i]));
  if (newer.length > 0) log(newerLine(newer));
  return rejected;
}

/** What a node says when a newer kit wrote objects it cannot read (src/core/registry/formats.ts). */
export function newerLine(newer: readonly Rejection[]): string {
  const read = Object.entries(formatsRead())
    .map(([kind, format]) => `${kind} ${format}`)
    .join(", ");
  const objects = [...new Set(newer.map((r) => `${escapeShort(r.path)} (format ${r.newer})`))].join(", ");
  return `a newer boreal-kit wrote ${objects}: this node's agent reads formats ${read}; it keeps what it held of those and applies everything else. Upgrade the member's kit and run pulumi up (docs/how-to/upgrade.md)`;
}

// ---- decide ---------------------------------------------------------------------------

/** The run's inputs in one digest: the agent's config, every source's files, and the program itself (its templates). */
export function inputsDigest(inputs: RunInputs, fetched: Fetched): string {
  const hash = createHash("sha256")
    .update(inputs.configText)
    .update(readFileSync(process.argv[1] ?? AGENT.program));
  for (const source of fetched.sources) {
    hash.update(`\0source ${source.name}\0`);
    for (const file of source.files) hash.update(`${file.path}\0${contentDigest(file)}\0`);
    for (const refused of source.unreadable) hash.update(`unreadable ${JSON.stringify(refused)}\0`);
  }
  return hash.digest("hex");
}

/** A source file's digest (for a file on disk its size, time and inode: git writes a changed file anew), or why it cannot be read. */
function contentDigest(file: RegistryFile): string {
  if (file.stamp !== undefined) return file.stamp;
  try {
    return sha256(file.content);
  } catch (error) {
    return `unreadable ${(error as Error).message}`;
  }
}

/**
 * Most runs find what the last one found: then verifying, planning and rendering again would
 * only cost CPU (every node, every interval). Not when asked to re-key, when a role is still
 * pending, or when a file the agent owns was changed on disk.
 */
export function nothingToDecide(state: AgentState, inputs: string, rekey: boolean): boolean {
  return !rekey && state.pending.length === 0 && state.inputs === inputs && state.summary !== undefined && ownedIntact(state.written);
}

/** Every file the last full run wrote is still there as it wrote it. */
function ownedIntact(written: Record<string, string> | undefined): boolean {
  if (!written) return false;
  return Object.entries(written).every(([path, digest]) => existsSync(path) && sha256(readFileSync(path, "utf8")) === digest);
}

/** The files to write and the roles to apply, from the verified registry (src/core/node/sync.ts decides). */
export function decide(inputs: RunInputs, verified: VerifiedRegistry, rekey: boolean): Pick<DecidedRun, "decision" | "roles"> {
  const decision = decideSync({
    spec: inputs.config.spec,
    verified,
    templates: templates(),
    onDisk: (path) => (existsSync(path) ? readFileSync(path, "utf8") : undefined),
    previousPeers: inputs.state.peers,
    rekey,
  });
  return { decision, roles: rolesToApply(decision, inputs.state.pending) };
}

// ---- install, apply -------------------------------------------------------------------

/**
 * Before a run touches the node: what it would leave if it were killed on the way (its roles
 * pending, every path it may write owned), read in place of the state until its report.
 * Without it, a file installed but not applied would look done to the next run.
 */
export function recordIntent(state: AgentState, run: DecidedRun): void {
  if (run.roles.length > 0 || run.decision.write.length > 0) writeRootOnly(intentFile, JSON.stringify(failedState(state, run)));
}

/** A file its check refused (a zone Knot would not load): the one in place stays. */
export interface Refusal {
  path: string;
  why: string;
}

/** Puts each file in place after its own check; returns the refused ones, throws on anything else. */
export function install(files: RenderedFile[]): Refusal[] {
  const refused: Refusal[] = [];
  for (const file of files) {
    const installed = runShell(installScript(file), { input: file.content, allowFailure: true, timeoutMs: SCRIPT_TIMEOUT_MS });
    if (installed.status === CHECK_REFUSED && file.check) refused.push({ path: file.path, why: installed.stderr.trim() });
    else if (installed.status !== 0)
      throw new Error(`installing ${file.path} ${ended(installed)}: ${(installed.stderr || installed.stdout).trim()}`);
  }
  return refused;
}

/** Re-applies a role's service (WireGuard's interface, Knot, the blackbox exporter). */
export function apply(role: FileRole): void {
  shell(SERVICE_SCRIPTS[role].apply);
}

/** Runs one of the kit's node scripts; its failure names its first line and says what it said. */
export function shell(script: string): void {
  const result = runShell(script, { allowFailure: true, timeoutMs: SCRIPT_TIMEOUT_MS });
  if (result.status !== 0)
    throw new Error(
      `${script.split("\n").find((l) => l && l !== "set -eu")} … ${ended(result)}: ${(result.stderr || result.stdout).trim()}`,
    );
}

const ended = (result: { status: number | null; timedOut: boolean }) =>
  result.timedOut ? `timed out after ${SCRIPT_TIMEOUT_MS / 1000} s` : `exited ${result.status}`;

// ---- report ---------------------------------------------------------------------------

/** Where a run's time goes (a join waits on the others' runs): `boreal-agent status` shows it. */
export class PhaseClock {
  readonly started = Date.now();
  readonly phases: Record<string, number> = {};
  private since = this.started;

  /** Seconds since the last lap, as the phase `name`. */
  lap(name: string): void {
    const now = Date.now();
    this.phases[name] = Math.round(now - this.since) / 1000;
    this.since = now;
  }

  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }
}

/** How a sync run ended, for its report. */
export type SyncEnding =
  /** Its inputs were the last full run's: nothing decided. */
  | { kind: "unchanged"; at: number; mirrors: MirrorsAsked }
  /** Installing or applying threw: the run ends with that error, once reported. */
  | ({ kind: "failed"; error: unknown } & DecidedRun)
  /** Every role applied; some files may have been refused by their checks. */
  | ({ kind: "applied"; verified: VerifiedRegistry; fetched: Fetched; refused: Refusal[]; clock: PhaseClock } & DecidedRun);

/**
 * The run's one write of its state, its status for `boreal-agent status` (a full run), and
 * its log line; a run whose files were refused fails here, naming them, once all is written.
 */
export function report(inputs: RunInputs, ending: SyncEnding): SyncOutcome {
  const interval = inputs.config.spec.syncInterval;
  if (ending.kind === "unchanged") {
    const next = unchangedState(inputs.state, ending.at, ending.mirrors);
    writeState(next);
    return syncOutcome(next, ending.at, interval, ending.mirrors);
  }
  if (ending.kind === "failed") {
    writeState(failedState(inputs.state, ending));
    throw ending.error;
  }
  for (const change of ending.decision.changes) log(escapeText(change));
  const next = appliedState(inputs.state, ending);
  writeState(next);
  const seconds = ending.clock.seconds();
  writeRootOnly(statusFile, `${JSON.stringify(runStatus(ending, seconds), null, 2)}\n`);
  if (ending.refused.length > 0) throw refusedError(ending.refused);
  if (ending.decision.write.length > 0 || ending.roles.length > 0) log(appliedLine(ending, seconds));
  return syncOutcome(next, ending.at, interval, ending.mirrors);
}

type Applied = Extract<SyncEnding, { kind: "applied" }>;

/** status.json: what the last full run saw and did, and where its time went. */
function runStatus(run: Applied, seconds: number): object {
  return {
    at: new Date().toISOString(),
    seconds,
    phases: run.clock.phases,
    federation: run.verified.version,
    peers: Object.keys(run.decision.peers),
    departed: run.verified.departed,
    mirrors: run.fetched.mirrors.map(({ url, source, error }) => (source ? { url, ok: true } : { url, ok: false, error })),
    rejected: run.rejected,
    // What this agent reads, and the objects a newer kit wrote (refused; what was held of them stays).
    formats: formatsRead(),
    newer: run.verified.rejected.flatMap((r) => (r.newer === undefined ? [] : [{ source: r.source, path: r.path, format: r.newer }])),
    wrote: run.decision.write.map((f) => f.path),
    refused: run.refused.map((r) => r.why),
    applied: run.roles,
  };
}

function appliedLine(run: Applied, seconds: number): string {
  const took = `${seconds.toFixed(1)} s: ${Object.entries(run.clock.phases)
    .map(([phase, s]) => `${phase} ${s.toFixed(1)}`)
    .join(", ")}`;
  const applied = run.roles.join(", ") || "nothing";
  const peers = Object.keys(run.decision.peers).length;
  return `applied ${applied}; wrote ${run.decision.write.length} file(s); ${peers} peer(s); federation version ${run.verified.version?.version} (${took})`;
}

/** The state file, and the run's intent done with. */
function writeState(state: AgentState): void {
  writeRootOnly(stateFile, JSON.stringify(state));
  rmSync(intentFile, { force: true });
}

/** Everything else went on (peers, keys); the run fails, naming the file, until the member mends it. */
function refusedError(refused: Refusal[]): BorealConfigError {
  const fix =
    "mend the record named (boreal:records or boreal:zoneFiles) and run pulumi up again; the zone keeps serving its previous content meanwhile";
  return new BorealConfigError(refused.map(({ path, why }) => ({ source: "node", key: path, message: why, fix })));
}

/** For node-exporter's textfile collector; a failed run is reported too. */
export function writeSyncMetrics(outcome: SyncOutcome): void {
  if (!existsSync(TEXTFILE_DIR)) return;
  writeAtomic(join(TEXTFILE_DIR, "boreal-sync.prom"), syncMetrics(outcome), { mode: 0o644 });
}

/** A failed run's metrics: the last success as the state has it, the interval if the config still reads. */
export function failedOutcome(at: number): SyncOutcome {
  const state = readState();
  let interval = SYNC_INTERVAL_DEFAULT;
  try {
    interval = parseAgentConfig(readFileSync(AGENT.config, "utf8"), AGENT.config).spec.syncInterval;
  } catch {
    // The config itself is what failed: the default interval will do for the alert.
  }
  return { at, succeeded: false, lastSuccess: state.lastSuccess, interval };
}
