// One run of the sync agent, as a pure decision: from the verified registry and the
// node's own settings to the files to write and the services to re-apply. The same
// plan() and renderNode() that `pulumi up` uses; src/agent/main.ts does the I/O.
import { BorealConfigError } from "../values/problems";
import type { PlanSpec } from "../spec/stack";
import { plan } from "./plan";
import { renderNode, TemplateSources } from "./render";
import { formatRejection, VerifiedRegistry } from "../registry/verify";
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
  if (!federation) throw new BorealConfigError([{ source: "registry", key: "federation", message: `no trusted federation version: ${args.verified.rejected.map(formatRejection).join("; ")}`, fix: "check the mirrors and the trust pin in /etc/boreal/agent.json" }]);
  const nodePlan = plan(args.spec, federation);
  const owned = renderNode(nodePlan, args.templates).filter((f) => AGENT_ROLES.includes(f.role));
  const write = owned.filter((f) => args.onDisk(f.path) !== f.content);
  const apply = AGENT_ROLES.filter((role) => (args.rekey && role === "wireguard") || write.some((f) => f.role === role));
  return { write, apply, owned, changes: peerChanges(args.previousPeers, nodePlan.peers), peers: peerMap(nodePlan.peers) };
}

export function peerMap(peers: { node: string; publicKey: string }[]): Record<string, string> {
  return Object.fromEntries(peers.map((p) => [p.node, p.publicKey]));
}

function peerChanges(before: Record<string, string>, peers: { node: string; publicKey: string }[]): string[] {
  const after = peerMap(peers);
  const changes: string[] = [];
  for (const [node, key] of Object.entries(after)) {
    if (!Object.prototype.hasOwnProperty.call(before, node)) changes.push(`peer ${node} joined (key ${key.slice(0, 8)}…)`);
    else if (before[node] !== key) changes.push(`peer ${node} rotated its key (${before[node].slice(0, 8)}… → ${key.slice(0, 8)}…)`);
  }
  for (const node of Object.keys(before)) if (!Object.prototype.hasOwnProperty.call(after, node)) changes.push(`peer ${node} left`);
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
  gauge("boreal_sync_last_success_timestamp_seconds", "When a run last completed with the registry reachable.", [["", outcome.lastSuccess]]);
  gauge("boreal_sync_success", "Whether the last run completed with the registry reachable.", [["", outcome.succeeded ? 1 : 0]]);
  gauge("boreal_sync_interval_seconds", "Seconds between two runs (boreal:syncInterval).", [["", outcome.interval]]);
  gauge("boreal_sync_federation_version", "The federation version the node follows.", [["", outcome.federationVersion]]);
  gauge("boreal_sync_peers", "Peers in the applied peer set.", [["", outcome.peers]]);
  gauge("boreal_sync_rejected_objects", "Registry objects refused by the last run.", [["", outcome.rejected]]);
  gauge("boreal_sync_mirrors", "Mirrors by whether they answered the last run.", [['{state="up"}', outcome.mirrors?.up], ['{state="down"}', outcome.mirrors?.down]]);
  return `${lines.join("\n")}\n`;
}
