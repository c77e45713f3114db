// The bench's lab section: the kit, githubixx/ansible-role-wireguard and Nebula on the same
// lab, side by side. Pure: the figures each run brings back, and the table made of them.
import { ROLE_INTERFACE, ROLE_PORT, ROLE_PREFIX, ROLE_RELEASE } from "./ansible";
import { NEBULA_INTERFACE, NEBULA_PORT, NEBULA_PREFIX, NEBULA_PREFIX_LENGTH, NEBULA_RELEASE } from "./nebula";
import { BenchSection, formatBytes, formatDuration, median } from "./report";

/** A measured time, or why there is none. */
export type Figure = { ms: number; runs?: number[] } | { why: string };

export const notMeasured = (why: string): Figure => ({ why });
export const measured = (ms: number): { ms: number } => ({ ms });
/** The median of several runs, the runs kept for the note. */
export const medianOf = (runs: number[]): Figure => ({ ms: median(runs), runs });

/** Pings every 0.2 s (ping -D) from one host during a rotation: what was sent and answered, and the longest silence. */
export interface RotationTally {
  /** The watcher's pings to the rotated host. */
  sent: number;
  received: number;
  /** The longest gap between two replies from the rotated host (ms): the outage the watcher saw. */
  outageMs: number;
  /** The slowest reply (ms): a reply that waited in a queue shows here, not as a loss. */
  slowestMs: number;
  /** The watcher's pings to a bystander meanwhile. */
  betweenSent: number;
  betweenReceived: number;
}

export type Rotation = RotationTally | { why: string };

/** CPU each machine used while the overlay sat idle after the join (its cgroup), in percent of one core. */
export type IdleCpu = { perNode: Record<string, number>; seconds: number } | { why: string };

export interface RoleRun {
  /** From the start of ansible-playbook on N bare machines until every pair pings over the role's addresses. */
  bare: Figure;
  /** ansible-playbook's own wall clock, start to exit. */
  barePlay: Figure;
  /** The play over N+1 hosts (one more added to the inventory), start to exit. */
  joinPlay: Figure;
  /** From the play's exit until the new host pings every other. */
  joinPing: Figure;
  /** From the play's exit until every other host pings the new one. */
  joinPinged: Figure;
  /** The play again with nothing changed. */
  noop: Figure;
  /** What the recap of the no-op runs counted as changed (summed over hosts; the last run). */
  noopChanged?: number;
  idleCpu: IdleCpu;
}

export interface KitRun {
  /** The commit the kit's column ran (HEAD, unpacked apart from the working tree). */
  commit?: string;
  /** From the start of N `pulumi up`s at once (one a member) until every pair pings over the mesh. */
  bare: Figure;
  /** The slowest of those `pulumi up`s, start to exit. */
  bareSlowestUp: Figure;
  /** The (N+1)th member's `pulumi up`, start to exit. */
  joinUp: Figure;
  /** From that up's exit until the new node pings every other. */
  joinPing: Figure;
  /** From that up's exit until every other node pings the new one. */
  joinPinged: Figure;
  noop: Figure;
  /** The same no-op of a Pulumi program with no resource: what any Pulumi no-op costs here. */
  noopFloor: Figure;
  /** What the last no-op `pulumi up` said it changed ("" when nothing). */
  noopChanges?: string;
  /** One node's key rotated (boreal:keyEpoch, its member's `pulumi up`), seen by a neighbour's pings. */
  rotation: Rotation;
  /** From the join's up exit until every node's Knot answers every member zone's SOA authoritatively. */
  zones: Figure;
  /** `pulumi destroy` of the last member's stack, start to exit. */
  leaveDestroy: Figure;
  /** From the destroy's exit until no other node has its key as a WireGuard peer. */
  leavePeers: Figure;
  idleCpu: IdleCpu;
  /** Resident memory of the kit's services per node (bytes), and per service summed over the nodes. */
  rss: { perNode: Record<string, number>; perService: Record<string, number>; missing: string[] } | { why: string };
}

export interface NebulaRun {
  /** From the CA's creation until every pair of the first N hosts pings over the overlay. */
  bare: Figure;
  /** The CA, N certificates, every host's files copied and Nebula started: the apply. */
  bareSetup: Figure;
  /** The new host's certificate signed and its files copied (nothing changes on any other host). */
  joinSetup: Figure;
  /** From Nebula's start on the new host until it pings every other. */
  joinPing: Figure;
  /** From Nebula's start on the new host until every other pings it. */
  joinPinged: Figure;
  /** A new key and certificate for one host, copied and reloaded (SIGHUP), seen by a neighbour's pings. */
  rotation: Rotation;
  /** The left host's fingerprint added to every other host's blocklist and reloaded, start to end. */
  leaveSend: Figure;
  /** From the blocklist's distribution's end until no other host reaches the left one. */
  leaveGone: Figure;
  idleCpu: IdleCpu;
  /** Resident memory of nebula per machine (bytes). */
  rss: { perNode: Record<string, number> } | { why: string };
}

/** The host's load averages (1, 5 and 15 min, /proc/loadavg) at the start and the end of one tool's run. */
export interface ToolLoad {
  tool: string;
  seconds: number;
  before: number[];
  after: number[];
}

export interface LabRun {
  n: number;
  /** Runs of each short figure (the no-ops). */
  runs: number;
  role: RoleRun;
  kit: KitRun;
  nebula: NebulaRun;
  /** The machine's load during each tool's run (a tool left out has none). */
  loads: ToolLoad[];
}

export function formatFigure(figure: Figure): string {
  return "ms" in figure ? formatDuration(figure.ms) : `not measured: ${figure.why}`;
}

/** a ÷ b, the kit's figure over a peer's: below 1 the kit is faster (or lighter). Nothing to divide: "—". */
export function formatQuotient(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b <= 0) return "—";
  const ratio = a / b;
  return `${ratio < 0.1 ? ratio.toFixed(3) : ratio < 10 ? ratio.toFixed(2) : ratio.toFixed(1)}×`;
}

const msOf = (figure: Figure) => ("ms" in figure ? figure.ms : undefined);

/** kit ÷ peer for two times. */
export function formatRatio(kit: Figure, peer: Figure): string {
  return formatQuotient(msOf(kit), msOf(peer));
}

/** The sum of two figures (one leg missing: why). */
export function sumFigures(a: Figure, b: Figure): Figure {
  if (!("ms" in a)) return a;
  if (!("ms" in b)) return b;
  return measured(a.ms + b.ms);
}

/** The later of two figures measured from the same start (one missing: why). */
export function laterOf(a: Figure, b: Figure): Figure {
  if (!("ms" in a)) return a;
  if (!("ms" in b)) return b;
  return measured(Math.max(a.ms, b.ms));
}

/** "name value, name value" of a figure per node or per service. */
const listed = (values: Record<string, number>, format: (value: number) => string) =>
  Object.entries(values)
    .map(([name, value]) => `${name} ${format(value)}`)
    .join(", ");
const runsNote = (figure: Figure) => ("runs" in figure && figure.runs ? `runs: ${figure.runs.map(formatDuration).join(", ")}` : "");
const joinNotes = (...notes: string[]) => notes.filter(Boolean).join("; ");

const lostOf = (sent: number, received: number) => `${sent - received} of ${sent} lost`;
const rotationLost = (r: Rotation) => ("why" in r ? `not measured: ${r.why}` : lostOf(r.sent, r.received));
const rotationBetween = (r: Rotation) => ("why" in r ? `not measured: ${r.why}` : lostOf(r.betweenSent, r.betweenReceived));
const rotationOutage = (r: Rotation): Figure => ("why" in r ? notMeasured(r.why) : measured(r.outageMs));
const rotationSlowest = (r: Rotation) => ("why" in r ? "" : `slowest reply ${formatDuration(r.slowestMs)}`);

const idleMedian = (cpu: IdleCpu) => ("why" in cpu ? undefined : median(Object.values(cpu.perNode)));
const idleCell = (cpu: IdleCpu) => ("why" in cpu ? `not measured: ${cpu.why}` : `${idleMedian(cpu)!.toFixed(2)}%`);
const idleNote = (tool: string, cpu: IdleCpu) =>
  "why" in cpu ? "" : `${tool}: per machine ${listed(cpu.perNode, (pct) => `${pct.toFixed(2)}%`)}`;

export function labRows(run: LabRun): string[][] {
  const { n, role, kit, nebula } = run;
  const N = String(n);
  const row = (measurement: string, cells: [kit: string, role: string, nebula: string], ratios: [string, string], note: string) => [
    measurement,
    N,
    ...cells,
    ...ratios,
    note,
  ];
  const timed = (measurement: string, k: Figure, r: Figure | string, b: Figure | string, note: string) =>
    row(
      measurement,
      [formatFigure(k), typeof r === "string" ? r : formatFigure(r), typeof b === "string" ? b : formatFigure(b)],
      [typeof r === "string" ? "—" : formatRatio(k, r), typeof b === "string" ? "—" : formatRatio(k, b)],
      note,
    );
  const kitRss = kit.rss;
  const kitRssMedian = "why" in kitRss ? undefined : median(Object.values(kitRss.perNode));
  const nebulaRssMedian = "why" in nebula.rss ? undefined : median(Object.values(nebula.rss.perNode));
  const joinTotal = (apply: Figure, ping: Figure, pinged: Figure) => sumFigures(apply, laterOf(ping, pinged));
  return [
    timed("bare → every pair pings", kit.bare, role.bare, nebula.bare, joinNotes(
      `kit${kit.commit ? ` (commit ${kit.commit})` : ""}: ${n} pulumi ups at once, the slowest ${formatFigure(kit.bareSlowestUp)}`,
      `role: ansible-playbook ${formatFigure(role.barePlay)}`,
      `nebula: CA, ${n} certificates, files copied and nebula started ${formatFigure(nebula.bareSetup)}`,
    )),
    timed(
      "join: the apply",
      kit.joinUp,
      role.joinPlay,
      nebula.joinSetup,
      "kit: the new member's pulumi up; role: the play over N+1 hosts; nebula: the new host's certificate signed and its files copied, no other host touched",
    ),
    timed("join: from the apply's exit (nebula: the new host's start) until the new node pings every other", kit.joinPing, role.joinPing, nebula.joinPing, "the kit's goal: ≤ 20 s"),
    timed("join: from the same moment until every other pings the new node", kit.joinPinged, role.joinPinged, nebula.joinPinged, ""),
    timed(
      "join: apply + pings both ways",
      joinTotal(kit.joinUp, kit.joinPing, kit.joinPinged),
      joinTotal(role.joinPlay, role.joinPing, role.joinPinged),
      joinTotal(nebula.joinSetup, nebula.joinPing, nebula.joinPinged),
      "what a member waits for",
    ),
    timed(`no-op apply (median of ${run.runs})`, kit.noop, role.noop, "— (nothing to apply)", joinNotes(
      "the kit's goal: < 3 s",
      runsNote(kit.noop) && `kit ${runsNote(kit.noop)}`,
      runsNote(role.noop) && `role ${runsNote(role.noop)}`,
      kit.noopChanges !== undefined ? `kit's up: ${kit.noopChanges || "no change"}` : "",
      role.noopChanged !== undefined ? `role's recap: changed=${role.noopChanged} over all hosts` : "",
    )),
    timed(
      `no-op of a Pulumi program with no resource (median of ${run.runs})`,
      kit.noopFloor,
      "—",
      "—",
      "Pulumi's own floor on this machine, run the same way: the kit's no-op less this is what the kit adds",
    ),
    row(
      "key rotation of one node: pings lost, a neighbour to it (every 0.2 s)",
      [rotationLost(kit.rotation), "no rotation", rotationLost(nebula.rotation)],
      ["—", "—"],
      joinNotes(
        "kit: boreal:keyEpoch and its member's pulumi up, pings from the rotation's start until every peer has the new key and the old one is gone, + 3 s",
        "nebula: a new key and certificate copied to the host and nebula reloaded (SIGHUP), pings until the host re-handshook with the neighbour, + 3 s",
        "the role has no rotation: a key changes only when someone deletes it on the host or sets wireguard_private_key, then re-runs the play",
      ),
    ),
    timed(
      "key rotation: the longest gap between two replies (the outage the neighbour saw)",
      rotationOutage(kit.rotation),
      "no rotation",
      rotationOutage(nebula.rotation),
      joinNotes(rotationSlowest(kit.rotation) && `kit: ${rotationSlowest(kit.rotation)}`, rotationSlowest(nebula.rotation) && `nebula: ${rotationSlowest(nebula.rotation)}`, "0.2 s is no gap at all"),
    ),
    row("key rotation: pings lost between the neighbour and another node meanwhile", [rotationBetween(kit.rotation), "no rotation", rotationBetween(nebula.rotation)], ["—", "—"], ""),
    timed("every member zone's SOA answered at every node, from the join's exit", kit.zones, "— (no DNS)", "— (no DNS)", "Knot on each node, asked at 127.0.0.1"),
    timed(
      "leave: the apply",
      kit.leaveDestroy,
      "— (no leave)",
      nebula.leaveSend,
      "kit: pulumi destroy of the last member's stack; nebula: the left host's fingerprint written into every other host's pki.blocklist and nebula reloaded, all hosts at once; " +
        "the role has no leave: take the host out of the inventory and re-run, its wg1 stays until cleaned by hand",
    ),
    timed(
      "leave: from the apply's exit until it is dropped",
      kit.leavePeers,
      "— (no leave)",
      nebula.leaveGone,
      "kit: until no other node has its key as a WireGuard peer; nebula: until no other host's ping reaches it (the tunnels with a blocked certificate are closed at the next check)",
    ),
    row(
      "resident memory per machine",
      ["why" in kitRss ? `not measured: ${kitRss.why}` : formatBytes(kitRssMedian!), "— (WireGuard only)", "why" in nebula.rss ? `not measured: ${nebula.rss.why}` : formatBytes(nebulaRssMedian!)],
      ["—", formatQuotient(kitRssMedian, nebulaRssMedian)],
      joinNotes(
        "why" in kitRss
          ? ""
          : `kit: its services (Knot and the monitoring), median of ${Object.keys(kitRss.perNode).length} nodes; per service, summed over the nodes: ${listed(kitRss.perService, formatBytes)}` +
              `${kitRss.missing.length ? `; not running: ${kitRss.missing.join(", ")}` : ""}`,
        "why" in nebula.rss ? "" : `nebula: the nebula process; per machine ${listed(nebula.rss.perNode, formatBytes)}`,
      ),
    ),
    row(
      "CPU of an idle machine (% of one core)",
      [idleCell(kit.idleCpu), idleCell(role.idleCpu), idleCell(nebula.idleCpu)],
      [formatQuotient(idleMedian(kit.idleCpu), idleMedian(role.idleCpu)), formatQuotient(idleMedian(kit.idleCpu), idleMedian(nebula.idleCpu))],
      joinNotes(
        "median over the N+1 machines, each machine's whole cgroup (its services, timers, sshd) over 60 s after the join",
        idleNote("kit", kit.idleCpu),
        idleNote("role", role.idleCpu),
        idleNote("nebula", nebula.idleCpu),
      ),
    ),
  ];
}

export function labSection(runs: LabRun[], context: { suite: string; cores: number; memoryBytes: number }): BenchSection {
  const counts = runs[0]?.runs ?? 0;
  return {
    title: `The kit, githubixx/ansible-role-wireguard ${ROLE_RELEASE} and Nebula ${NEBULA_RELEASE} on the lab`,
    header: ["measurement", "N", "kit", "role", "nebula", "kit/role", "kit/nebula", "note"],
    rows: runs.flatMap(labRows),
    howToRead: [
      `Lab: N+1 Debian ${context.suite} machines (systemd-nspawn, one bridge, no internet) on a host of ${context.cores} cores and ` +
        `${formatBytes(context.memoryBytes)}; a fresh lab for each tool, so none sees another's leftovers. ` +
        "WireGuard is wireguard-go in the lab for the kit and the role (a container cannot load the kernel module); Nebula is its own userspace program.",
      "N is the number of members at the start; the join adds the (N+1)th. The role runs one play over every host, as its README asks " +
        `(forks = hosts, so every host at once); its tunnel is ${ROLE_INTERFACE} on port ${ROLE_PORT} with addresses in ${ROLE_PREFIX}.0/24. ` +
        "The kit runs one `pulumi up` per member, the first N at once; the nodes' sync agents do the rest.",
      `Nebula ${NEBULA_RELEASE} is built at bench time from the Go module proxy (nebula and nebula-cert, cached outside the repository). ` +
        `One CA made with nebula-cert on the lab's host; one lighthouse, on the first machine (as Nebula's quick start has it); every host on ` +
        `${NEBULA_INTERFACE}, port ${NEBULA_PORT}, overlay ${NEBULA_PREFIX}.0/${NEBULA_PREFIX_LENGTH}, knowing only the lighthouse's address; ` +
        "its firewall lets in ICMP alone. Files are copied over SSH and nebula runs as a transient systemd unit: what a small configuration tool would do.",
      "Every pair pings when every machine pings every other over the tunnel's addresses (one ping each, 1 s timeout, every pair of a machine " +
        "at once, rounds over SSH until all have answered): a time is good to about a second. Times are wall clock.",
      "The join is timed the same way for all three: the apply (what an operator runs), then from its exit (Nebula: from the new host's start) " +
        "until the new node pings every other, and until every other pings it.",
      "The rotation is seen by a neighbour (the third machine) pinging the rotated one (the second) and a bystander (the fourth) every 0.2 s with ping -D, " +
        "from 2 s before the rotation until 3 s after it has settled: lost pings, and the longest gap between two replies.",
      "The kit's clocks pay for reading its stack outputs (`pulumi stack output`, about a second) after the bare ups and before the zones are asked for.",
      `kit/role and kit/nebula divide the kit's figure by the peer's: below 1 the kit is faster or lighter. The no-op rows are medians of ${counts} runs; ` +
        "every other row is one run per N (a lab run takes minutes).",
      "The role's no-op still connects to every host and gathers facts; the kit's no-op still runs the Pulumi engine, the program and every command's diff.",
      "Rows a peer has no counterpart for (rotation and leave for the role, DNS and the no-op for Nebula) say so in its column and have no ratio.",
      "The kit's column runs the committed kit (HEAD, unpacked beside the run) with a member's defaults: a timer pull every 300 s (boreal:syncInterval), " +
        "the nudge of every publication at once, the label's checks every 900 s (boreal:attestInterval) and the parent's delegation every 300 s " +
        "(boreal:delegationCheckInterval): how soon others see a change follows the nudge, the load of an idle federation the timers.",
      "The idle CPU is each machine's whole cgroup: the kit's includes Knot, a Prometheus scraping every peer, Alertmanager and the exporters, " +
        "which neither peer has; the role's and Nebula's are the tunnel and the base system.",
      "N = 10 is CPU-bound on 2 cores: eleven machines each running their tunnel (and, for the kit, its services and agents) plus the applies.",
    ],
  };
}

/** The machine's load during each tool's run: the lab shares the host's 2 cores with whatever else runs there. */
export function loadSection(runs: LabRun[]): BenchSection {
  const averages = (values: number[]) => values.map((v) => v.toFixed(2)).join(" / ");
  return {
    title: "The machine's load during each run",
    header: ["tool", "N", "run", "load at its start (1 / 5 / 15 min)", "load at its end (1 / 5 / 15 min)"],
    rows: runs.flatMap((run) => run.loads.map((l) => [l.tool, String(run.n), formatDuration(l.seconds * 1000), averages(l.before), averages(l.after)])),
    howToRead: [
      "The host's load averages (/proc/loadavg) when each tool's lab came up and when it was taken down: the run's own machines, and anything else on the host " +
        "(other people's builds and tests share it). At the end, the 5 min average covers most of a short run and the 15 min one most of a long one.",
    ],
  };
}
