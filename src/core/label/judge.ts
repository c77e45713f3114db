// A checking node's verdict on one peer: from what ./observe.ts saw of it over the underlay
// and over the mesh, one result per rule and place the rule set checks live
// (./rules.ts liveFrom), ready for buildAttestation (./attestation.ts). Pure: the
// observations and the time are handed in.
//
// A node that cannot be observed cannot be attested: when its underlay answers nothing at
// all, the underlay rules fail rather than pass on the absence of evidence.
import type { Federation, NodeDescriptor } from "../registry/format";
import { parseEndpoint } from "../values/fields";
import { judgeNode, NodeAnswer, NodeReplies, questionKey, Reply } from "../dns/check";
import { RECORD_TYPES } from "../dns/zonefile";
import { MESH_ONLY_SERVICES } from "../firewall/spec";
import type { AttestationResult } from "./attestation";
import { liveFrom, ObservedFrom, Rule, RULES } from "./rules";
import { PortRange, parsePortSpec, rangesOverlap } from "../values/ports";

/** What a TCP connect gave: connected, refused (the host answered), or nothing within the timeout. */
export type PortState = "open" | "closed" | "filtered";

export interface UnderlayObservations {
  /** The address probed: the endpoint's host, resolved. */
  address: string;
  /** Why nothing was probed (the endpoint's host did not resolve); the rest is then empty. */
  unprobed?: string;
  /** Every TCP port tried (the scan, the mesh-only ports, the declared ones) and what a connect gave. */
  ports: Map<number, PortState>;
  /** Per zone of the peer: its answers to the zone's SOA, NS and DNSKEY (with DO). */
  zones: Record<string, NodeReplies>;
  /** Per zone of the peer: the first message of an AXFR over TCP, or why there was none. */
  axfr: Record<string, Reply>;
  /** A peer without zones: its answer to one SOA question, only to see whether its DNS answers. */
  dns?: Reply;
}

/** Answer to a scrape of the exporter: local clock (ms) when the request went and when the body was in. */
export type Scrape = { sentMs: number; receivedMs: number; body: string } | { error: string };

export interface MeshObservations {
  /**
   * Zone → node → that node's answer to the zone's SOA over the mesh: for every member zone
   * the peer's and the zone's primary's; for the peer's own zones every live node's.
   */
  soa: Record<string, Record<string, Reply>>;
  scrape: Scrape;
  /**
   * The latest WireGuard handshake with the peer's key (unix seconds, 0: never), read after the
   * mesh probes; its age is judged at `readAt`, the end of the peer's probes.
   */
  handshake: { at: number; readAt: Date } | { error: string };
}

export interface PeerObservations {
  peer: NodeDescriptor;
  federation: Federation;
  /** When the checks ran: signatures' validity windows are judged at this time. */
  now: Date;
  underlay: UnderlayObservations;
  mesh: MeshObservations;
}

/** A WireGuard peer without a handshake this recent is down (WireGuard re-keys every 2 minutes under traffic). */
export const HANDSHAKE_MAX_AGE_S = 180;
/** How far the peer's clock may be from the checker's. */
export const MAX_CLOCK_OFFSET_S = 1;
/** Replicas a zone needs, and how many of them other members' nodes (rule zones-replicated). */
export const MIN_REPLICAS = 3;
export const MIN_OTHER_MEMBERS_REPLICAS = 2;
/** Results are read by people in a table: one short line each. */
export const MAX_JUDGE_DETAIL = 199;
const MAX_LISTED = 10;

type Verdict = { passed: boolean; detail: string };
type Judge = (o: PeerObservations) => Verdict;

const pass = (detail: string): Verdict => ({ passed: true, detail });
const fail = (detail: string): Verdict => ({ passed: false, detail });

function short(text: string): string {
  return text.length <= MAX_JUDGE_DETAIL ? text : `${text.slice(0, MAX_JUDGE_DETAIL - 1)}…`;
}

/** "a, b, c and 4 more". */
function listed(items: string[], max = MAX_LISTED): string {
  return items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

const answeredDns = (reply: Reply | undefined) => reply !== undefined && "message" in reply;

/** The underlay showed some sign of life: a port connected or refused, or DNS answered anything. */
function underlayAnswered(u: UnderlayObservations): boolean {
  if ([...u.ports.values()].some((s) => s !== "filtered")) return true;
  const replies = [...Object.values(u.zones).flatMap((r) => Object.values(r.replies)), ...Object.values(u.axfr), u.dns];
  return replies.some(answeredDns);
}

/** Why the underlay rules cannot be judged, if they cannot. */
function underlaySilence(u: UnderlayObservations): string | undefined {
  if (u.unprobed) return `underlay not probed: ${u.unprobed}`;
  if (!underlayAnswered(u)) return `underlay did not answer (${u.address}: ${u.ports.size} TCP ports filtered, no DNS answer)`;
  return undefined;
}

const openPorts = (u: UnderlayObservations) =>
  [...u.ports.entries()]
    .filter(([, s]) => s === "open")
    .map(([p]) => p)
    .sort((a, b) => a - b);

/** The declared TCP services: what may be open on the underlay beside DNS. */
export function declaredTcp(peer: NodeDescriptor): PortRange[] {
  return (peer.services ?? []).map(parsePortSpec).filter((r): r is PortRange => r !== undefined && r.protocol === "tcp");
}

/** TCP ports only the mesh may reach on the peer: the kit's mesh-only services and the descriptor's exporter port. */
export function meshOnlyPorts(peer: NodeDescriptor): Map<number, string> {
  const ports = new Map<number, string>();
  for (const s of MESH_ONLY_SERVICES) if (s.protocol === "tcp") for (let p = s.first; p <= s.last; p++) ports.set(p, s.description);
  const exporterPort = parseEndpoint(peer.exporter)?.port;
  if (exporterPort !== undefined && !ports.has(exporterPort)) ports.set(exporterPort, "node exporter");
  return ports;
}

// UDP is not scanned: a UDP port that drops and one that listens silently look alike, so a
// scan would report noise. WireGuard (UDP) says nothing to a stranger by design.
const underlayDeclaredOnly: Judge = ({ peer, underlay }) => {
  const silent = underlaySilence(underlay);
  if (silent) return fail(silent);
  const allowed: PortRange[] = [{ protocol: "tcp", first: 53, last: 53 }, ...declaredTcp(peer)];
  const open = openPorts(underlay);
  const undeclared = open.filter((p) => !allowed.some((r) => rangesOverlap(r, { protocol: "tcp", first: p, last: p })));
  const scanned = `${underlay.ports.size} TCP ports scanned`;
  if (undeclared.length > 0) return fail(`open but not declared: ${listed(undeclared.map((p) => `tcp/${p}`))} (${scanned})`);
  return pass(`${scanned}, open only ${open.length ? open.map((p) => `tcp/${p}`).join(", ") : "none"}: DNS or declared (UDP not scanned)`);
};

const meshOnlyInternals: Judge = ({ peer, underlay }) => {
  const silent = underlaySilence(underlay);
  if (silent) return fail(silent);
  const internal = meshOnlyPorts(peer);
  const exposed = [...internal.entries()].filter(([p]) => underlay.ports.get(p) === "open").map(([p, what]) => `${what} tcp/${p}`);
  const transferred: string[] = [];
  const refusals: string[] = [];
  for (const zone of peer.zones) {
    const reply = underlay.axfr[zone];
    if (reply === undefined) continue;
    if ("error" in reply) refusals.push(reply.error);
    else if (reply.message.answer.some((r) => r.owner === zone && r.type === RECORD_TYPES.SOA)) transferred.push(zone);
    else refusals.push(rcodeText(reply));
  }
  const problems = [
    ...(exposed.length ? [`connects over the underlay: ${exposed.join(", ")}`] : []),
    ...(transferred.length ? [`AXFR transferred: ${listed(transferred, 3)}`] : []),
  ];
  if (problems.length > 0) return fail(problems.join("; "));
  const ports = [...internal.keys()]
    .sort((a, b) => a - b)
    .map((p) => `tcp/${p}`)
    .join(", ");
  const axfr =
    peer.zones.length === 0
      ? "no zones to transfer"
      : `AXFR of ${peer.zones.length} zone(s) not transferred (${[...new Set(refusals)].join(", ")})`;
  return pass(`${ports} do not connect; ${axfr}`);
};

function rcodeText(reply: { message: { rcode: number; answer: unknown[] } }): string {
  const names: Record<number, string> = { 0: "NOERROR, no SOA", 5: "REFUSED", 9: "NOTAUTH" };
  return names[reply.message.rcode] ?? `rcode ${reply.message.rcode}`;
}

const dnssecValid: Judge = ({ peer, underlay, now }) => {
  if (peer.zones.length === 0) return pass("no zones of its own");
  if (underlay.unprobed) return fail(`underlay not probed: ${underlay.unprobed}`);
  const problems: string[] = [];
  let soonest = Infinity;
  for (const zone of peer.zones) {
    const replies = underlay.zones[zone];
    if (!replies) {
      problems.push(`${zone} not asked`);
      continue;
    }
    const answer = judgeNode(zone, replies, [], now);
    if (!answer.answered) problems.push(`${zone}: ${answer.error ?? "no answer"}`);
    else if (!answer.signaturesValid) problems.push(answer.signatureProblems[0]);
    else soonest = Math.min(soonest, answer.expiration ?? Infinity);
  }
  if (problems.length > 0) return fail(problems.join("; "));
  const until = Number.isFinite(soonest) ? `, valid until ${new Date(soonest * 1000).toISOString().slice(0, 16)}Z` : "";
  return pass(`${listed(peer.zones, 3)}: SOA, NS and DNSKEY signatures validate${until}`);
};

/** What one SOA reply says: the serial the node serves authoritatively (AA, NOERROR, SOA in the answer), or why not. Signatures are not read. */
function soaAnswer(zone: string, node: string, reply: Reply | undefined): NodeAnswer | undefined {
  if (!reply) return undefined;
  return judgeNode(
    zone,
    { node, address: node, replies: { [questionKey({ name: zone, type: RECORD_TYPES.SOA })]: reply } },
    [],
    new Date(0),
  );
}

const descriptorCurrent: Judge = ({ peer, mesh }) => {
  const dnsReplies = Object.values(mesh.soa)
    .map((byNode) => byNode[peer.node])
    .filter((r): r is Reply => r !== undefined);
  const viaDns = dnsReplies.some(answeredDns);
  // The exporter counts only where the descriptor puts it on the mesh address itself.
  const viaExporter = "body" in mesh.scrape && parseEndpoint(peer.exporter)?.host === peer.mesh.ipv4;
  const where = `mesh ${peer.mesh.ipv4}`;
  if (!viaDns && !viaExporter) {
    const dnsWhy = dnsReplies.find((r): r is { error: string } => "error" in r)?.error ?? "not asked";
    const exporterWhy = "error" in mesh.scrape ? mesh.scrape.error : `at ${peer.exporter}, not on the mesh address`;
    return fail(`no answer on ${where} (DNS: ${dnsWhy}; exporter: ${exporterWhy})`);
  }
  const answered = `answers on ${where} (${[viaDns && "DNS", viaExporter && "exporter"].filter(Boolean).join(", ")})`;
  const key = `${peer.publicKey.slice(0, 8)}…`;
  if ("error" in mesh.handshake) return fail(`${answered}; WireGuard handshakes not read: ${mesh.handshake.error}`);
  if (mesh.handshake.at === 0) return fail(`${answered}; no WireGuard handshake ever with key ${key}`);
  const age = Math.round(mesh.handshake.readAt.getTime() / 1000 - mesh.handshake.at);
  if (age > HANDSHAKE_MAX_AGE_S) return fail(`${answered}; latest handshake with key ${key} ${age} s ago (over ${HANDSHAKE_MAX_AGE_S} s)`);
  return pass(`${answered}; handshake with key ${key} ${Math.max(age, 0)} s ago`);
};

/** The value of an unlabelled metric in Prometheus' text format. */
export function metricValue(body: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?[ \\t]+(\\S+)`, "m").exec(body);
  if (!m) return undefined;
  const value = Number(m[1]);
  return Number.isFinite(value) ? value : undefined;
}

// Judged by agreement with the checker's clock only: node_timex_sync_status is reported but
// not judged, since containers sharing a host kernel read it as unsynchronised (adjtimex
// TIME_ERROR) however good the host's clock is.
const timeSynchronised: Judge = ({ peer, mesh }) => {
  const { scrape } = mesh;
  if ("error" in scrape) return fail(`exporter ${peer.exporter} not scraped: ${scrape.error}`);
  const nodeTime = metricValue(scrape.body, "node_time_seconds");
  if (nodeTime === undefined) return fail(`no node_time_seconds in the metrics of ${peer.exporter}`);
  const offset = nodeTime - (scrape.sentMs + scrape.receivedMs) / 2000;
  const syncStatus = metricValue(scrape.body, "node_timex_sync_status");
  const measured = `offset ${offset >= 0 ? "+" : ""}${offset.toFixed(3)} s (round trip ${Math.round(scrape.receivedMs - scrape.sentMs)} ms)`;
  const status = syncStatus === undefined ? "" : `; node_timex_sync_status ${syncStatus} (not judged)`;
  if (Math.abs(offset) > MAX_CLOCK_OFFSET_S)
    return fail(`clock ${measured}, more than ${MAX_CLOCK_OFFSET_S} s from the checker's${status}`);
  return pass(`clock ${measured}${status}`);
};

const zonesReplicated: Judge = ({ peer, federation, mesh }) => {
  if (peer.zones.length === 0) return pass("no zones of its own");
  const memberOf = new Map(federation.nodes.map((n) => [n.node, n.member]));
  const lines: string[] = [];
  let passed = true;
  for (const zone of peer.zones) {
    const serving = Object.entries(mesh.soa[zone] ?? {})
      .filter(([node, reply]) => soaAnswer(zone, node, reply)?.answered)
      .map(([node]) => node)
      .sort();
    const others = serving.filter((n) => memberOf.get(n) !== peer.member).length;
    const ok = serving.length >= MIN_REPLICAS && others >= MIN_OTHER_MEMBERS_REPLICAS;
    passed &&= ok;
    lines.push(`${zone} ${serving.length} node(s)${serving.length ? ` (${listed(serving, 5)})` : ""}, ${others} of other members`);
  }
  const need = `need ${MIN_REPLICAS}, ${MIN_OTHER_MEMBERS_REPLICAS} of other members`;
  return passed ? pass(`authoritative: ${lines.join("; ")}`) : fail(`${lines.join("; ")}: ${need}`);
};

/** Every member zone and the node that lists it as its own (its primary). */
export function memberZones(federation: Federation): Map<string, NodeDescriptor> {
  const zones = new Map<string, NodeDescriptor>();
  for (const n of federation.nodes) for (const z of n.zones) if (!zones.has(z)) zones.set(z, n);
  return zones;
}

const serialAgrees: Judge = ({ peer, federation, mesh }) => {
  const zones = memberZones(federation);
  const missing: string[] = [];
  const behind: string[] = [];
  const uncompared: string[] = [];
  for (const [zone, primary] of zones) {
    const here = soaAnswer(zone, peer.node, mesh.soa[zone]?.[peer.node]);
    if (!here?.answered) {
      missing.push(`${zone} (${here?.error ?? "not asked"})`);
      continue;
    }
    if (primary.node === peer.node) continue;
    const there = soaAnswer(zone, primary.node, mesh.soa[zone]?.[primary.node]);
    if (!there?.answered) uncompared.push(`${zone} (primary ${primary.node}: ${there?.error ?? "not asked"})`);
    else if (there.serial !== here.serial) behind.push(`${zone} ${here.serial} vs ${there.serial} on ${primary.node}`);
  }
  const notCompared = uncompared.length ? `; not compared: ${listed(uncompared, 3)}` : "";
  if (missing.length || behind.length) {
    const parts = [
      ...(missing.length ? [`does not serve ${listed(missing, 4)}`] : []),
      ...(behind.length ? [`serial differs: ${listed(behind, 4)}`] : []),
    ];
    return fail(`${parts.join("; ")}${notCompared}`);
  }
  return pass(`serves all ${zones.size} member zone(s), serials as on their primaries${notCompared}`);
};

const JUDGES: Record<string, Partial<Record<ObservedFrom, Judge>>> = {
  "underlay-declared-only": { underlay: underlayDeclaredOnly },
  "mesh-only-internals": { underlay: meshOnlyInternals },
  "dnssec-valid": { underlay: dnssecValid },
  "descriptor-current": { mesh: descriptorCurrent },
  "time-synchronised": { mesh: timeSynchronised },
  "zones-replicated": { mesh: zonesReplicated },
  "serial-agrees": { mesh: serialAgrees },
};

/** One result per rule and place the rule set checks live: what a checking node attests of the peer. */
export function judgePeer(o: PeerObservations, rules: readonly Rule[] = RULES): AttestationResult[] {
  return rules.flatMap((rule) =>
    liveFrom(rule).map((from) => {
      const judge = JUDGES[rule.id]?.[from];
      // A rule added without its check here: never a silent pass.
      const verdict = judge ? judge(o) : fail(`this checker has no check of ${rule.id} from the ${from}`);
      return { rule: rule.id, passed: verdict.passed, observedFrom: from, detail: short(verdict.detail) };
    }),
  );
}
