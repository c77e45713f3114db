#!/usr/bin/env node
// boreal-agent: runs on every node (Debian's nodejs), started by boreal-sync.timer and by
// `pulumi up`. It pulls the registry from every mirror, verifies it against the trust
// anchor and what it already holds, and applies the peer set with the kit's own planner.
//   sync [--rekey] [--fetched]
//                  one run (--rekey: re-apply WireGuard even if no file changed, for a new key;
//                  --fetched: from sync-gate, which fetched the mirrors it lists a moment ago)
//   attest         a round of label checks of the other members' nodes, signed and published
//   remove         undo what the agent applied and put the member's own files back
//   status         the last run, as JSON
//   prove-wireguard-key --federation F --node N [--key PUBLIC_KEY]
//                  the descriptor's keyProof: this node's WireGuard key signs for it (pulumi up asks)
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTemplates } from "../io/templates";
import { BorealConfigError } from "../core/values/problems";
import { escapeShort, escapeText } from "../core/values/escape";
import type { RegistryFile } from "../core/registry/format";
import { decideSync, SyncOutcome, syncMetrics } from "../core/node/sync";
import { parseAgentConfig } from "../core/spec/agent";
import { TemplateSources } from "../core/node/render";
import { CHECK_REFUSED, GATE_FETCHED_FLAG, installScript, removeScript, SERVICE_SCRIPTS } from "../core/node/scripts";
import { ReadSource, readRegistrySource, verifySources } from "../io/registry/read";
import { formatRejection, HeldState, sha256 } from "../core/registry/verify";
import { makeWireguardProof, wireguardPublicKey } from "../core/registry/keyproof";
import { attest } from "./attest";
import { checkoutDir, checkoutFetched, checkoutMirror, gitError, log, readJson, stateFile, writeAtomic } from "./io";
import { AGENT, AGENT_ROLES, KEY_FILE, TEXTFILE_DIR } from "../core/node/layout";

// The bundle carries the templates (esbuild `define`); run from the repository, they are read.
declare const BOREAL_TEMPLATES: TemplateSources | undefined;
const templates = (): TemplateSources => (typeof BOREAL_TEMPLATES !== "undefined" ? BOREAL_TEMPLATES : loadTemplates());

const statusFile = join(AGENT.stateDir, "status.json");

interface AgentState {
  held: HeldState;
  /** node → public key, as last applied. */
  peers: Record<string, string>;
  /** Paths the agent wrote: what `remove` undoes. */
  owned: string[];
  /** Roles whose apply failed last time: retried first. */
  pending: string[];
  /** Rejections already logged (each is logged once, when it appears). */
  reported: string[];
  /** Mirrors that did not answer last time (logged when they go down and come back). */
  unreachable?: string[];
  /** Unix seconds of the last run that completed with the registry reachable. */
  lastSuccess?: number;
  /** What the last full run started from (sources, config, program): the same again, nothing to decide. */
  inputs?: string;
  /** SHA-256 of each file the last full run left on disk. */
  written?: Record<string, string>;
  /** The last full run's counts, for the metrics of a run that had nothing to decide. */
  summary?: { version?: number; peers: number; rejected: number };
}

function shell(script: string, input?: string): void {
  const result = spawnSync("sh", ["-c", script], { input: input ?? "", encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${script.split("\n").find((l) => l && l !== "set -eu")} … exited ${result.status}: ${(result.stderr || result.stdout).trim()}`);
}

/**
 * The mirror's newest tree, in a checkout of our own; undefined (and why) when it does not
 * answer. A mirror sync-gate fetched in the tick that started this run is checked out as it
 * fetched it: asking again would cost every run a round trip, and the mirror a second upload.
 */
function fetchMirror(url: string, fetchedByGate: ReadonlySet<string>): ReadSource | { error: string } {
  const dir = checkoutDir("mirrors", url);
  try {
    if (fetchedByGate.has(url)) {
      try {
        checkoutFetched(dir);
        return readRegistrySource(dir, url);
      } catch {
        // Its FETCH_HEAD went missing after all: ask the mirror, as a run started otherwise does.
      }
    }
    checkoutMirror(dir, url);
    return readRegistrySource(dir, url);
  } catch (error) {
    return { error: gitError(error) };
  }
}

/** The mirrors sync-gate says it fetched (GATE_FETCHED_FLAG); none when the agent was started otherwise. */
function mirrorsFetchedByGate(flags: string[]): Set<string> {
  if (!flags.includes(GATE_FETCHED_FLAG) || !existsSync(AGENT.gateFetched)) return new Set();
  return new Set(readFileSync(AGENT.gateFetched, "utf8").split(" ").filter(Boolean));
}

const emptyState = (): AgentState => ({ held: { nodes: {} }, peers: {}, owned: [], pending: [], reported: [] });

/** For node-exporter's textfile collector; a failed run is reported too (then rethrown). */
function writeSyncMetrics(outcome: SyncOutcome): void {
  if (!existsSync(TEXTFILE_DIR)) return;
  const path = join(TEXTFILE_DIR, "boreal-sync.prom");
  writeFileSync(`${path}.tmp`, syncMetrics(outcome), { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}


/** The run's inputs in one digest: the agent's config, every source's files, and the program itself (its templates). */
function inputsDigest(configText: string, sources: ReadSource[]): string {
  const hash = createHash("sha256").update(configText).update(readFileSync(process.argv[1] ?? AGENT.program));
  for (const source of sources) {
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

/** Every file the last full run wrote is still there as it wrote it. */
function ownedIntact(written: Record<string, string> | undefined): boolean {
  if (!written) return false;
  return Object.entries(written).every(([path, digest]) => existsSync(path) && sha256(readFileSync(path, "utf8")) === digest);
}

function syncAndReport(rekey: boolean, fetchedByGate: ReadonlySet<string>): number {
  const at = Math.floor(Date.now() / 1000);
  try {
    const outcome = sync(rekey, at, fetchedByGate);
    writeSyncMetrics(outcome);
    return 0;
  } catch (error) {
    const state = readJson<AgentState>(stateFile, emptyState());
    let interval = 60;
    try {
      interval = parseAgentConfig(readFileSync(AGENT.config, "utf8"), AGENT.config).spec.syncInterval;
    } catch {
      // The config itself is what failed: the default interval will do for the alert.
    }
    writeSyncMetrics({ at, succeeded: false, lastSuccess: state.lastSuccess, interval });
    throw error;
  }
}

/** Seconds since `since`, and the clock reset: each phase of a run, in the status file. */
function lap(phases: Record<string, number>, name: string, since: { at: number }): void {
  const now = Date.now();
  phases[name] = Math.round(now - since.at) / 1000;
  since.at = now;
}

function sync(rekey: boolean, at: number, fetchedByGate: ReadonlySet<string>): SyncOutcome {
  const started = Date.now();
  // Where a run's time goes (a join waits on the others' runs): `boreal-agent status` shows it.
  const phases: Record<string, number> = {};
  const clock = { at: started };
  const configText = readFileSync(AGENT.config, "utf8");
  const config = parseAgentConfig(configText, AGENT.config);
  const state = readJson<AgentState>(stateFile, emptyState());
  const seedFiles = readJson<{ files: RegistryFile[] }>(AGENT.seed, { files: [] }).files;
  const seed: ReadSource = { name: "pulumi up", files: seedFiles, unreadable: [] };

  // The mirrors are listed by the federation itself: the version trusted so far names them.
  const known = verifySources([seed], config.trust, state.held);
  const mirrors = known.federation?.settings.mirrors ?? [];
  const sources: ReadSource[] = [seed];
  const mirrorReport: { url: string; ok: boolean; error?: string }[] = [];
  const wasDown = state.unreachable ?? [];
  for (const url of mirrors) {
    const fetched = fetchMirror(url, fetchedByGate);
    if ("error" in fetched) {
      mirrorReport.push({ url, ok: false, error: fetched.error });
      if (!wasDown.includes(url)) log(`mirror ${escapeShort(url)} did not answer: ${escapeShort(fetched.error, 300)}`);
    } else {
      mirrorReport.push({ url, ok: true });
      sources.push(fetched);
      if (wasDown.includes(url)) log(`mirror ${escapeShort(url)} answers again`);
    }
  }
  lap(phases, "fetch", clock);
  const unreachable = mirrorReport.filter((m) => !m.ok).map((m) => m.url);
  if (mirrors.length > 0 && sources.length === 1 && wasDown.length < mirrors.length) log("no mirror answered: keeping the last good peer set");
  const succeeded = mirrors.length === 0 || unreachable.length < mirrors.length;

  // Most runs find what the last one found: then verifying, planning and rendering again
  // would only cost CPU (every node, every interval). Not when asked to re-key, when a role
  // is still pending, or when a file the agent owns was changed on disk.
  const inputs = inputsDigest(configText, sources);
  if (!rekey && state.pending.length === 0 && state.inputs === inputs && state.summary && ownedIntact(state.written)) {
    const next: AgentState = { ...state, unreachable, lastSuccess: succeeded ? at : state.lastSuccess };
    writeAtomic(stateFile, JSON.stringify(next));
    return { at, succeeded, lastSuccess: next.lastSuccess, interval: config.spec.syncInterval, federationVersion: state.summary.version, peers: state.summary.peers, rejected: state.summary.rejected, mirrors: { up: mirrors.length - unreachable.length, down: unreachable.length } };
  }

  const verified = verifySources(sources, config.trust, state.held);
  const rejected = verified.rejected.map(formatRejection);
  const reported = new Set(state.reported);
  for (const line of rejected) if (!reported.has(line)) log(`rejected ${line}`);

  const decision = decideSync({
    spec: config.spec,
    verified,
    templates: templates(),
    onDisk: (path) => (existsSync(path) ? readFileSync(path, "utf8") : undefined),
    previousPeers: state.peers,
    rekey,
  });
  lap(phases, "decide", clock);
  const roles = AGENT_ROLES.filter((role) => decision.apply.includes(role) || state.pending.includes(role));
  const next: AgentState = { held: verified.held, peers: state.peers, owned: [...new Set([...state.owned, ...decision.owned.map((f) => f.path)])], pending: roles, reported: rejected, unreachable };
  writeAtomic(stateFile, JSON.stringify(next));

  // A file its check refuses (a zone Knot would not load) stays as it was; everything else
  // goes on (peers, keys), and the run fails at the end, naming it, until the member mends it.
  // Role by role, WireGuard first: a joining peer is in the mesh as soon as wg0 has it, not
  // after Knot and the probes have taken their files too (seconds on a busy node).
  const refused: { path: string; why: string }[] = [];
  for (const role of AGENT_ROLES) {
    const files = decision.write.filter((f) => f.role === role);
    for (const file of files) {
      const installed = spawnSync("sh", ["-c", installScript(file)], { input: file.content, encoding: "utf8" });
      if (installed.status === CHECK_REFUSED && file.check) refused.push({ path: file.path, why: installed.stderr.trim() });
      else if (installed.status !== 0) throw new Error(`installing ${file.path} exited ${installed.status}: ${(installed.stderr || installed.stdout).trim()}`);
    }
    const applies = roles.includes(role);
    if (applies) shell(SERVICE_SCRIPTS[role].apply);
    if (applies || files.length > 0) lap(phases, role, clock);
  }
  for (const change of decision.changes) log(escapeText(change));

  next.peers = decision.peers;
  next.pending = [];
  next.lastSuccess = succeeded ? at : state.lastSuccess;
  next.inputs = inputs;
  next.written = Object.fromEntries(decision.owned.map((f) => [f.path, sha256(f.content)]));
  next.summary = { version: verified.version?.version, peers: Object.keys(decision.peers).length, rejected: rejected.length };
  writeAtomic(stateFile, JSON.stringify(next));
  const summary = {
    at: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    phases,
    federation: verified.version,
    peers: Object.keys(decision.peers),
    departed: verified.departed,
    mirrors: mirrorReport,
    rejected,
    wrote: decision.write.map((f) => f.path),
    refused: refused.map((r) => r.why),
    applied: roles,
  };
  writeAtomic(statusFile, `${JSON.stringify(summary, null, 2)}\n`);
  if (refused.length > 0) {
    throw new BorealConfigError(
      refused.map(({ path, why }) => ({ source: "node", key: path, message: why, fix: "mend the record named (boreal:records or boreal:zoneFiles) and run pulumi up again; the zone keeps serving its previous content meanwhile" })),
    );
  }
  const took = `${summary.seconds.toFixed(1)} s: ${Object.entries(phases).map(([phase, seconds]) => `${phase} ${seconds.toFixed(1)}`).join(", ")}`;
  if (decision.write.length > 0 || roles.length > 0) log(`applied ${roles.join(", ") || "nothing"}; wrote ${decision.write.length} file(s); ${Object.keys(decision.peers).length} peer(s); federation version ${verified.version?.version} (${took})`);
  return {
    at,
    succeeded,
    lastSuccess: next.lastSuccess,
    interval: config.spec.syncInterval,
    federationVersion: verified.version?.version,
    peers: Object.keys(decision.peers).length,
    rejected: rejected.length,
    mirrors: { up: mirrors.length - unreachable.length, down: unreachable.length },
  };
}

function remove(): number {
  const state = readJson<AgentState>(stateFile, emptyState());
  for (const role of [...AGENT_ROLES].reverse()) shell(SERVICE_SCRIPTS[role].undo);
  for (const path of state.owned) shell(removeScript({ path }));
  log(`removed ${state.owned.length} file(s) the agent had written`);
  return 0;
}

/**
 * Prints the proof that this node holds its WireGuard key (src/core/registry/keyproof.ts), made
 * here because the private key never leaves the node. With --key, only for that key: the one
 * `pulumi up` read back and will publish beside the proof.
 */
function proveWireguardKey(flags: string[]): number {
  const option = (name: string) => (flags.includes(name) ? flags[flags.indexOf(name) + 1] : undefined);
  const [federation, node, expected] = [option("--federation"), option("--node"), option("--key")];
  if (!federation || !node) {
    log("usage: boreal-agent prove-wireguard-key --federation NAME --node NAME [--key PUBLIC_KEY]");
    return 2;
  }
  const privateKey = readFileSync(KEY_FILE, "utf8");
  const publicKey = wireguardPublicKey(privateKey);
  if (expected !== undefined && expected !== publicKey) {
    throw new BorealConfigError([{ source: "node", key: KEY_FILE, message: `holds the key ${publicKey}, not ${expected}: it changed since pulumi up read it`, fix: "run pulumi up again: it reads the key anew" }]);
  }
  process.stdout.write(`${makeWireguardProof(privateKey, { federation, node, publicKey })}\n`);
  return 0;
}

function main(argv: string[]): number | Promise<number> {
  const [command, ...flags] = argv;
  if (command === "sync") return syncAndReport(flags.includes("--rekey"), mirrorsFetchedByGate(flags));
  if (command === "attest") return attest();
  if (command === "remove") return remove();
  if (command === "prove-wireguard-key") return proveWireguardKey(flags);
  if (command === "status") {
    process.stdout.write(existsSync(statusFile) ? readFileSync(statusFile, "utf8") : "{}\n");
    return 0;
  }
  log(`usage: boreal-agent sync [--rekey] [${GATE_FETCHED_FLAG}] | attest | remove | status | prove-wireguard-key --federation F --node N [--key K]`);
  return 2;
}

// Bad input names its file and fix; anything else is a bug worth its stack.
function fail(error: unknown): void {
  const text = error instanceof BorealConfigError ? error.message : ((error as Error).stack ?? String(error));
  log(`boreal-agent: ${text.split("\n").map(escapeText).join("\n")}`);
  process.exitCode = 1;
}

try {
  Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = code;
  }, fail);
} catch (error) {
  fail(error);
}
