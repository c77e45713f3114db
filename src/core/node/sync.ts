// One run of the sync agent, as pure decisions: from the verified registry and the node's
// own settings to the files to write and the services to re-apply (the same plan() and
// renderNode() that `pulumi up` uses), and from what the run did to the state it leaves.
// src/agent/ does the I/O, phase by phase.
import { BorealConfigError } from "../values/problems";
import type { PlanSpec } from "../spec/stack";
import { plan } from "./plan";
import { renderNode, TemplateSources } from "./render";
import { formatRejection, HeldState, sha256, VerifiedRegistry } from "../registry/verify";
import { AGENT_ROLES, FileRole, RenderedFile } from "./layout";

export interface SyncDecision {
  /** Files of the agent's roles whose content differs from what the node has. */
  write: RenderedFile[];
  /** Roles to re-apply, in order (WireGuard before DNS: zone transfers ride the mesh). */
  apply: FileRole[];
  /** Every file the agent owns now: what `remove` undoes. */
  owned: RenderedFile[];
  /** One line per peer change, for the log. */
  changes: string[];
  /** The peer set now, node → public key (what the next run compares with). */
  peers: Record<string, string>;
}

export function decideSync(args: {
  spec: PlanSpec;
  verified: VerifiedRegistry;
  templates: TemplateSources;
  /** Current content of each owned path on the node (undefined: absent). */
  onDisk: (path: string) => string | undefined;
  /** Peers applied by the previous run, node → public key. */
  previousPeers: Record<string, string>;
  /** Re-apply WireGuard even if no file changed: a rotated key lives outside the files. */
  rekey: boolean;
}): SyncDecision {
  const federation = args.verified.federation;
  if (!federation)
    throw new BorealConfigError([
      {
        source: "registry",
        key: "federation",
        message: `no trusted federation version: ${args.verified.rejected.map(formatRejection).join("; ")}`,
        fix: "check the mirrors and the trust pin in /etc/boreal/agent.json",
      },
    ]);
  const nodePlan = plan(args.spec, federation);
  const owned = renderNode(nodePlan, args.templates).filter((f) => AGENT_ROLES.includes(f.role));
  const write = owned.filter((f) => args.onDisk(f.path) !== f.content);
  const apply = AGENT_ROLES.filter((role) => (args.rekey && role === "wireguard") || write.some((f) => f.role === role));
  return { write, apply, owned, changes: peerChanges(args.previousPeers, nodePlan.peers), peers: peerMap(nodePlan.peers) };
}

const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);

export function peerMap(peers: { node: string; publicKey: string }[]): Record<string, string> {
  return Object.fromEntries(peers.map((p) => [p.node, p.publicKey]));
}

function peerChanges(before: Record<string, string>, peers: { node: string; publicKey: string }[]): string[] {
  const after = peerMap(peers);
  const changes: string[] = [];
  for (const [node, key] of Object.entries(after)) {
    if (!hasOwn(before, node)) changes.push(`peer ${node} joined (key ${key.slice(0, 8)}…)`);
    else if (before[node] !== key) changes.push(`peer ${node} rotated its key (${before[node].slice(0, 8)}… → ${key.slice(0, 8)}…)`);
  }
  for (const node of Object.keys(before)) if (!hasOwn(after, node)) changes.push(`peer ${node} left`);
  return changes;
}

export interface SyncOutcome {
  /** Unix seconds of this run. */
  at: number;
  /** The run completed and, if the federation has mirrors, at least one answered. */
  succeeded: boolean;
  /** Unix seconds of the last run that succeeded (this one included), if any. */
  lastSuccess?: number;
  interval: number;
  federationVersion?: number;
  peers?: number;
  rejected?: number;
  /** Of those, objects a newer boreal-kit wrote (a format above this agent's): this node's kit needs an upgrade. */
  newer?: number;
  mirrors?: { up: number; down: number };
}

/** The run as node-exporter textfile metrics: what the BorealSyncFailing alert watches. */
export function syncMetrics(outcome: SyncOutcome): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: [string, number | undefined][]) => {
    const present = samples.filter((s): s is [string, number] => s[1] !== undefined);
    if (present.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...present.map(([labels, value]) => `${name}${labels} ${value}`));
  };
  gauge("boreal_sync_last_run_timestamp_seconds", "When the sync agent last ran.", [["", outcome.at]]);
  gauge(
    "boreal_sync_last_success_timestamp_seconds",
    "When a run last completed with the registry reachable and no object in it too new for this kit.",
    [["", outcome.lastSuccess]],
  );
  gauge("boreal_sync_success", "Whether the last run completed with the registry reachable and no object in it too new for this kit.", [
    ["", outcome.succeeded ? 1 : 0],
  ]);
  gauge("boreal_sync_interval_seconds", "Seconds between two runs (boreal:syncInterval).", [["", outcome.interval]]);
  gauge("boreal_sync_federation_version", "The federation version the node follows.", [["", outcome.federationVersion]]);
  gauge("boreal_sync_peers", "Peers in the applied peer set.", [["", outcome.peers]]);
  gauge("boreal_sync_rejected_objects", "Registry objects refused by the last run.", [["", outcome.rejected]]);
  gauge("boreal_sync_newer_format_objects", "Registry objects refused because a newer boreal-kit wrote them: upgrade this node's kit.", [
    ["", outcome.newer],
  ]);
  gauge("boreal_sync_mirrors", "Mirrors by whether they answered the last run.", [
    ['{state="up"}', outcome.mirrors?.up],
    ['{state="down"}', outcome.mirrors?.down],
  ]);
  return `${lines.join("\n")}\n`;
}

/** What the agent keeps between runs (state.json, root-only). */
export interface AgentState {
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
  /**
   * Unix seconds of the last run that completed with the registry reachable, and met no object
   * a newer boreal-kit wrote: such a node applies all it can read, and BorealSyncFailing says
   * it must upgrade.
   */
  lastSuccess?: number;
  /** What the last full run started from (sources, config, program): the same again, nothing to decide. */
  inputs?: string;
  /** SHA-256 of each file the last full run left on disk. */
  written?: Record<string, string>;
  /** The last full run's counts, for the metrics of a run that had nothing to decide. */
  summary?: { version?: number; peers: number; rejected: number; newer?: number };
}

export const emptyAgentState = (): AgentState => ({ held: { nodes: {} }, peers: {}, owned: [], pending: [], reported: [] });

/** The mirrors the federation lists, and those that did not answer this run. */
export interface MirrorsAsked {
  listed: number;
  unreachable: string[];
}

/** A run reached the registry when the federation lists no mirror, or one answered. */
export const registryReached = (mirrors: MirrorsAsked): boolean => mirrors.listed === 0 || mirrors.unreachable.length < mirrors.listed;

/**
 * A run succeeded when it reached the registry and could read all of it: an object in a
 * format newer than this kit reads is refused (what was held of it stays) and everything else
 * applied, but the run does not count as a success, so that BorealSyncFailing says so.
 */
const succeeded = (mirrors: MirrorsAsked, newer: number | undefined): boolean => registryReached(mirrors) && !newer;

/** How many of the refused objects a newer boreal-kit wrote (src/core/registry/formats.ts). */
export const newerObjects = (verified: Pick<VerifiedRegistry, "rejected">): number =>
  verified.rejected.filter((r) => r.newer !== undefined).length;

/** The roles a run applies, in order: what the decision says and what failed last time. */
export function rolesToApply(decision: SyncDecision, pending: readonly string[]): FileRole[] {
  return AGENT_ROLES.filter((role) => decision.apply.includes(role) || pending.includes(role));
}

/** A run that got as far as a decision. */
export interface DecidedRun {
  /** Unix seconds. */
  at: number;
  mirrors: MirrorsAsked;
  verified: Pick<VerifiedRegistry, "held" | "version" | "rejected">;
  /** Every rejection, formatted (what the next run compares with, to log only new ones). */
  rejected: string[];
  decision: SyncDecision;
  roles: FileRole[];
  /** The digest of the run's inputs. */
  inputs: string;
}

/** The state a run leaves when its inputs were those of the last full run: only the mirrors and the time move. */
export function unchangedState(state: AgentState, at: number, mirrors: MirrorsAsked): AgentState {
  return { ...state, unreachable: mirrors.unreachable, lastSuccess: succeeded(mirrors, state.summary?.newer) ? at : state.lastSuccess };
}

/** The state a full run leaves (its refused files included: they are reported, and checked again next run). */
export function appliedState(state: AgentState, run: DecidedRun): AgentState {
  const newer = newerObjects(run.verified);
  return {
    held: run.verified.held,
    peers: run.decision.peers,
    owned: ownedPaths(state, run.decision),
    pending: [],
    reported: run.rejected,
    unreachable: run.mirrors.unreachable,
    lastSuccess: succeeded(run.mirrors, newer) ? run.at : state.lastSuccess,
    inputs: run.inputs,
    written: Object.fromEntries(run.decision.owned.map((f) => [f.path, sha256(f.content)])),
    summary: {
      version: run.verified.version?.version,
      peers: Object.keys(run.decision.peers).length,
      rejected: run.rejected.length,
      ...(newer > 0 ? { newer } : {}),
    },
  };
}

/**
 * The state a run leaves when installing or applying failed, or would leave if it were killed
 * on the way: its roles stay pending and the peers as last applied; what it verified is held,
 * and every path it may have written is owned. Nothing to skip on next time.
 */
export function failedState(state: AgentState, run: DecidedRun): AgentState {
  return {
    held: run.verified.held,
    peers: state.peers,
    owned: ownedPaths(state, run.decision),
    pending: run.roles,
    reported: run.rejected,
    unreachable: run.mirrors.unreachable,
    lastSuccess: state.lastSuccess,
  };
}

function ownedPaths(state: AgentState, decision: SyncDecision): string[] {
  return [...new Set([...state.owned, ...decision.owned.map((f) => f.path)])];
}

/** A run's metrics, from the state it left. */
export function syncOutcome(state: AgentState, at: number, interval: number, mirrors: MirrorsAsked): SyncOutcome {
  const down = mirrors.unreachable.length;
  const summary = state.summary;
  return {
    at,
    succeeded: succeeded(mirrors, summary?.newer),
    lastSuccess: state.lastSuccess,
    interval,
    federationVersion: summary?.version,
    peers: summary?.peers,
    rejected: summary?.rejected,
    ...(summary?.newer ? { newer: summary.newer } : {}),
    mirrors: { up: mirrors.listed - down, down },
  };
}
