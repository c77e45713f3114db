// The node's file layout: every path the kit owns on a server has its home here, with the
// shape of a rendered file. Templates mirror these paths under templates/.

/** The WireGuard interface the kit manages (wg-quick@wg0, /etc/wireguard/wg0.conf). */
export const WIREGUARD_INTERFACE = "wg0";

/** The sync agent on the node: its program, its config (from `pulumi up`) and its state. */
export const AGENT = {
  // Beside /usr/local/lib/boreal/, not in it: it is copied before anything creates that.
  program: "/usr/local/lib/boreal-agent.js",
  config: "/etc/boreal/agent.json",
  seed: "/var/lib/boreal/seed.json",
  stateDir: "/var/lib/boreal",
  lock: "/run/boreal-sync.lock",
  /** The mirrors sync-gate fetched in the tick that started the agent (space-separated URLs). */
  gateFetched: "/var/lib/boreal/mirrors-fetched",
} as const;

/** How sync-gate starts the agent: it says the mirrors it fetched (AGENT.gateFetched) need no second fetch. */
export const GATE_FETCHED_FLAG = "--fetched";

/** Runs the agent the way its service does: one run at a time. */
export function agentCommand(args: string): string {
  return `flock ${AGENT.lock} node ${AGENT.program} ${args}`;
}

/** The least time between two syncs the nudges start: a publication's is at once, a flood's one per this. */
export const NUDGE_SPACING_SECONDS = 5;

/** The kit's own scripts on the node (wg-apply, sync-gate, the metrics writers). */
export const LIB_DIR = "/usr/local/lib/boreal";

/** What boreal-nudge.socket starts: reads the datagrams that came, starts the sync for a nudge. */
export const NUDGE_GATE = `${LIB_DIR}/nudge-gate`;

/** Applies wg0.conf to the running interface (the WireGuard role's apply runs it). */
export const WG_APPLY = `${LIB_DIR}/wg-apply`;

/** The kit's settings on the node (the agent's config, the attestation key). */
export const ETC_DIR = "/etc/boreal";

/** A round of the label's checks holds this lock (never the sync's). */
export const ATTEST_LOCK = "/run/boreal-attest.lock";

/** A round of label checks, one at a time (a round still going when another is due is no failure), never waiting on the sync's lock. */
export const ATTEST_RUN = `flock -n -E 0 ${ATTEST_LOCK} node ${AGENT.program} attest`;

/** A check of the parents' delegations holds this lock (never the sync's, nor the label's). */
export const DELEGATION_LOCK = "/run/boreal-delegation.lock";

/** A check of the parent's delegation of each of the node's zones, one at a time (one still going when another is due is no failure). */
export const DELEGATION_RUN = `flock -n -E 0 ${DELEGATION_LOCK} node ${AGENT.program} delegation`;

/** The node's resolver, as the system has it: the delegation check finds each parent zone's servers through it. */
export const RESOLV_CONF = "/etc/resolv.conf";

/** The node's own key for signing its attestations of peers (the label): made on the node, never leaving it. */
export const ATTESTATION_KEY_FILE = `${ETC_DIR}/attestation_key`;

/** The node's WireGuard private key, made on the node, and the key epoch it was made for. */
export const KEY_FILE = `/etc/wireguard/${WIREGUARD_INTERFACE}.key`;

/** A rotation's next key, made beside the one in use and switched to right before it is published. */
export const NEXT_KEY_FILE = `${KEY_FILE}.next`;

export const WIREGUARD_CONF = `/etc/wireguard/${WIREGUARD_INTERFACE}.conf`;

/**
 * Units of Debian packages the kit enables, whose enablement before the kit is the member's
 * (Debian enables knot and the exporter on install; nftables is disabled by default; a
 * member may run WireGuard or Knot already). The kit's own units (boreal-*) are not here.
 */
export const UNIT_STATE_DIR = "/var/lib/boreal-kit-units";

/**
 * The member's own nftables tables: /etc/nftables.conf is the kit's while it manages the
 * node, and includes *.nft from here at boot, before the kit's table.
 */
export const NFTABLES_MEMBER_DIR = "/etc/nftables.d";
export const NFTABLES_CONF = "/etc/nftables.conf";

/** node-exporter's textfile collector: the kit's own metrics (WireGuard, zones, the agent). */
export const TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";

/** The delegation check's metrics (BorealDelegationDrift reads them). */
export const DELEGATION_METRICS = `${TEXTFILE_DIR}/boreal-delegation.prom`;

/** Prometheus's file-based service discovery: the agent rewrites these, Prometheus re-reads them by itself. */
export const TARGETS_DIR = "/etc/prometheus/boreal-targets";

export const BLACKBOX_BINARY = "/usr/bin/prometheus-blackbox-exporter";
export const BLACKBOX_CONF = "/etc/prometheus/blackbox.yml";
export const PROMETHEUS_CONF = "/etc/prometheus/prometheus.yml";
export const ALERTMANAGER_CONF = "/etc/prometheus/alertmanager.yml";
export const NODE_EXPORTER_DEFAULTS = "/etc/default/prometheus-node-exporter";

/** Knot's config: rendered on the node by its agent, and at plan time for the policy pack's facts. */
export const KNOT_CONF = "/etc/knot/knot.conf";

/** Where Knot keeps the zones it serves as a secondary (the peers'). */
export const KNOT_SECONDARY_DIR = "/var/lib/knot/secondary";

/** Knot's catalog database: which member zones each interpreted catalog holds. */
export const KNOT_CATALOG_DIR = "/var/lib/knot/catalog";

/** The restart key of the knot.conf Knot was last (re)started with (the file keeps its first name). */
export const KNOT_RESTART_MARK = "/var/lib/knot/.boreal-server-section";

export function zoneFilePath(zone: string): string {
  return `/var/lib/knot/zones/${zone}zone`;
}

/** Which component puts a file on the node and which service reloads it. */
export type FileRole = "wireguard" | "dns" | "probes" | "monitoring" | "firewall" | "agent";

/**
 * Who writes a role's files. The node's sync agent owns what depends on the peer set
 * (WireGuard, Knot, and what Prometheus probes), rendered on the node from the verified
 * registry; `pulumi up` owns the rest. One writer per file, so the two never fight.
 */
export const AGENT_ROLES: readonly FileRole[] = ["wireguard", "dns", "probes"];

export interface RenderedFile {
  /** Absolute path on the node. */
  path: string;
  content: string;
  mode: string;
  owner: string;
  role: FileRole;
  /**
   * A shell check of the staged file ("$staged") that must pass before it replaces the one in
   * place: what the service would refuse never reaches it, and the service keeps the old.
   */
  check?: string;
}
