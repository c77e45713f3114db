// The bench's lab section: the kit and githubixx/ansible-role-wireguard on the same lab, side
// by side. Pure: the figures each run brings back, and the table made of them.
import { ROLE_INTERFACE, ROLE_PORT, ROLE_PREFIX, ROLE_RELEASE } from "./ansible";
import { BenchSection, formatBytes, formatDuration, median } from "./report";

/** A measured time, or why there is none. */
export type Figure = { ms: number; runs?: number[] } | { why: string };

export const notMeasured = (why: string): Figure => ({ why });
export const measured = (ms: number): { ms: number } => ({ ms });
/** The median of several runs, the runs kept for the note. */
export const medianOf = (runs: number[]): Figure => ({ ms: median(runs), runs });

export interface RoleRun {
  /** From the start of ansible-playbook on N bare machines until every pair pings over the role's addresses. */
  bare: Figure;
  /** ansible-playbook's own wall clock, start to exit. */
  barePlay: Figure;
  /** The play over N+1 hosts (one more added to the inventory), start to exit. */
  joinPlay: Figure;
  /** From the play's exit until the new host pings every other. */
  joinPing: Figure;
  /** The play again with nothing changed. */
  noop: Figure;
  /** What the recap of the no-op runs counted as changed (summed over hosts; the last run). */
  noopChanged?: number;
}

export interface KitRun {
  /** From the start of N `pulumi up`s at once (one a member) until every pair pings over the mesh. */
  bare: Figure;
  /** The slowest of those `pulumi up`s, start to exit. */
  bareSlowestUp: Figure;
  /** The (N+1)th member's `pulumi up`, start to exit. */
  joinUp: Figure;
  /** From that up's exit until the new node pings every other. */
  joinPing: Figure;
  noop: Figure;
  /** The same no-op of a Pulumi program with no resource: what any Pulumi no-op costs here. */
  noopFloor: Figure;
  /** What the last no-op `pulumi up` said it changed ("" when nothing). */
  noopChanges?: string;
  /** One node's key rotated (boreal:keyEpoch, its member's `pulumi up`): its outage seen by a neighbour pinging every 0.2 s. */
  rotationOutage: Figure;
  /** Percent lost between two other nodes meanwhile. */
  rotationLoss: number | { why: string };
  /** From the join's up exit until every node's Knot answers every member zone's SOA authoritatively. */
  zones: Figure;
  /** `pulumi destroy` of the last member's stack, start to exit. */
  leaveDestroy: Figure;
  /** From the destroy's exit until no other node has its key as a WireGuard peer. */
  leavePeers: Figure;
  /** CPU each machine used while the federation sat idle after the join (its cgroup), in percent of one core. */
  idleCpu: { perNode: Record<string, number>; seconds: number } | { why: string };
  /** Resident memory of the kit's services per node (bytes), and per service summed over the nodes. */
  rss: { perNode: Record<string, number>; perService: Record<string, number>; missing: string[] } | { why: string };
}

export interface LabRun {
  n: number;
  /** Runs of each short figure (the no-ops). */
  runs: number;
  role: RoleRun;
  kit: KitRun;
}

export function formatFigure(figure: Figure): string {
  return "ms" in figure ? formatDuration(figure.ms) : `not measured: ${figure.why}`;
}

/** kit ÷ role: below 1 the kit is faster. Nothing to divide: "—". */
export function formatRatio(kit: Figure, role: Figure): string {
  if (!("ms" in kit) || !("ms" in role) || role.ms <= 0) return "—";
  const ratio = kit.ms / role.ms;
  return `${ratio < 0.1 ? ratio.toFixed(3) : ratio < 10 ? ratio.toFixed(2) : ratio.toFixed(1)}×`;
}

/** The sum of two figures (one leg missing: why). */
export function sumFigures(a: Figure, b: Figure): Figure {
  if (!("ms" in a)) return a;
  if (!("ms" in b)) return b;
  return measured(a.ms + b.ms);
}

/** "name value, name value" of a figure per node or per service. */
const listed = (values: Record<string, number>, format: (value: number) => string) =>
  Object.entries(values)
    .map(([name, value]) => `${name} ${format(value)}`)
    .join(", ");
const runsNote = (figure: Figure) => ("runs" in figure && figure.runs ? `runs: ${figure.runs.map(formatDuration).join(", ")}` : "");
const joinNotes = (...notes: string[]) => notes.filter(Boolean).join("; ");

export function labRows(run: LabRun): string[][] {
  const { n, role, kit } = run;
  const N = String(n);
  const compared = (measurement: string, k: Figure, r: Figure, note: string) => [measurement, N, formatFigure(k), formatFigure(r), formatRatio(k, r), note];
  const kitOnly = (measurement: string, k: string, roleCell: string, note: string) => [measurement, N, k, roleCell, "—", note];
  const rss = kit.rss;
  const rssCells: [string, string] =
    "why" in rss
      ? [`not measured: ${rss.why}`, ""]
      : [
          formatBytes(median(Object.values(rss.perNode))),
          `median of ${Object.keys(rss.perNode).length} nodes; per node ${listed(rss.perNode, formatBytes)}; ` +
            `per service, summed over the nodes: ${listed(rss.perService, formatBytes)}` +
            `${rss.missing.length ? `; not running: ${rss.missing.join(", ")}` : ""}`,
        ];
  return [
    compared("bare → full mesh (every pair pings)", kit.bare, role.bare, joinNotes(
      `kit: ${n} pulumi ups at once, the slowest ${formatFigure(kit.bareSlowestUp)}`,
      `role: ansible-playbook ${formatFigure(role.barePlay)}`,
    )),
    compared("join: the apply (kit: the new member's pulumi up; role: the play over N+1 hosts)", kit.joinUp, role.joinPlay, "once"),
    compared("join: from the apply's exit until the new node pings every other", kit.joinPing, role.joinPing, "the kit's goal: ≤ 20 s"),
    compared("join: apply + pings", sumFigures(kit.joinUp, kit.joinPing), sumFigures(role.joinPlay, role.joinPing), "what a member waits for"),
    compared(`no-op apply (median of ${run.runs})`, kit.noop, role.noop, joinNotes(
      "the kit's goal: < 3 s",
      runsNote(kit.noop) && `kit ${runsNote(kit.noop)}`,
      runsNote(role.noop) && `role ${runsNote(role.noop)}`,
      kit.noopChanges !== undefined ? `kit's up: ${kit.noopChanges || "no change"}` : "",
      role.noopChanged !== undefined ? `role's recap: changed=${role.noopChanged} over all hosts` : "",
    )),
    kitOnly(
      `no-op of a Pulumi program with no resource (median of ${run.runs})`,
      formatFigure(kit.noopFloor),
      "—",
      "Pulumi's own floor on this machine (CLI, language host, Node.js and the SDK), run the same way: the kit's no-op less this is what the kit adds",
    ),
    kitOnly(
      "key rotation of one node: its outage seen by a neighbour (ping every 0.2 s)",
      formatFigure(kit.rotationOutage),
      "no rotation",
      "the role reads each host's key back from its config: a key changes only when someone deletes that file or sets wireguard_private_key, " +
        "then re-runs the play",
    ),
    kitOnly(
      "key rotation: loss between two other nodes meanwhile",
      typeof kit.rotationLoss === "number" ? `${kit.rotationLoss}%` : `not measured: ${kit.rotationLoss.why}`,
      "no rotation",
      "",
    ),
    kitOnly("every member zone's SOA answered at every node, from the join's exit", formatFigure(kit.zones), "— (no DNS)", "Knot on each node, asked at 127.0.0.1"),
    kitOnly(
      "leave: pulumi destroy of the last member's stack",
      formatFigure(kit.leaveDestroy),
      "— (no leave)",
      "the role has no task or variable for a host leaving: take it out of the inventory and re-run; the host keeps its wg1 until cleaned by hand",
    ),
    kitOnly("leave: from the destroy's exit until no node has it as a peer", formatFigure(kit.leavePeers), "— (no leave)", ""),
    kitOnly("RSS of the kit's services per node", rssCells[0], "— (WireGuard only)", rssCells[1]),
    kitOnly(
      "CPU of an idle node (% of one core)",
      "why" in kit.idleCpu ? `not measured: ${kit.idleCpu.why}` : `${median(Object.values(kit.idleCpu.perNode)).toFixed(1)}%`,
      "—",
      "why" in kit.idleCpu
        ? ""
        : `median of ${Object.keys(kit.idleCpu.perNode).length} machines over ${kit.idleCpu.seconds} s after the join, ` +
          `each machine's whole cgroup (its services, timers, sshd); per node ${listed(kit.idleCpu.perNode, (pct) => `${pct.toFixed(1)}%`)}`,
    ),
  ];
}

export function labSection(runs: LabRun[], context: { suite: string; cores: number; memoryBytes: number }): BenchSection {
  const counts = runs[0]?.runs ?? 0;
  return {
    title: `The kit and githubixx/ansible-role-wireguard ${ROLE_RELEASE} on the lab`,
    header: ["measurement", "N", "kit", "role", "kit/role", "note"],
    rows: runs.flatMap(labRows),
    howToRead: [
      `Lab: N+1 Debian ${context.suite} machines (systemd-nspawn, one bridge, no internet) on a host of ${context.cores} cores and ` +
        `${formatBytes(context.memoryBytes)}; a fresh lab for the role, then a fresh one for the kit, so neither sees the other's leftovers. ` +
        "WireGuard is wireguard-go in the lab for both (a container cannot load the kernel module).",
      "N is the number of members at the start; the join adds the (N+1)th. The role runs one play over every host, as its README asks " +
        `(forks = hosts, so every host at once); its tunnel is ${ROLE_INTERFACE} on port ${ROLE_PORT} with addresses in ${ROLE_PREFIX}.0/24. ` +
        "The kit runs one `pulumi up` per member, the first N at once; the nodes' sync agents do the rest.",
      "A full mesh is when every machine pings every other over the tunnel's addresses (one ping each, 1 s timeout, every pair of a machine " +
        "at once, rounds over SSH until all have answered): a time is good to about a second. Times are wall clock.",
      "The kit's clocks pay for reading its stack outputs (`pulumi stack output`, about a second) wherever the mesh addresses are needed first: " +
        "after the bare ups, and before the zones are asked for after the join; the join's pings to the others need no output.",
      `kit/role divides the kit's time by the role's: below 1 the kit is faster. The no-op rows are medians of ${counts} runs; ` +
        "every other row is one run per N (a lab run takes minutes).",
      "The role's no-op still connects to every host and gathers facts; the kit's no-op still runs the Pulumi engine, the program and every command's diff.",
      "Rows the role has no counterpart for (rotation, DNS, leave, the monitoring services) say so in its column and have no ratio.",
      "The kit's lab stacks run with a member's defaults: a timer pull every 300 s (boreal:syncInterval), the nudge of every publication at once, " +
        "and the label's checks every 900 s (boreal:attestInterval): how soon others see a join follows the nudge, the load of an idle federation the timers.",
      "N = 10 is CPU-bound on 2 cores: eleven machines each running wireguard-go (and, for the kit, Knot, a Prometheus scraping every peer and the agents) plus the applies.",
    ],
  };
}
