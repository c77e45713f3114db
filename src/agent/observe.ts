// What a checking node sees of a peer, for the label's live checks (./judge.ts judges it):
// over the underlay (the host of the peer's WireGuard endpoint) a TCP connect scan, its
// zones' signed answers and an AXFR attempt; over the mesh its zones' SOA at every node,
// a scrape of its exporter's clock and our WireGuard handshake with its key.
//
// Runs on the node inside the agent bundle, on Debian's nodejs (18 on Debian 12): node:
// APIs of Node 18 only, every probe with its own timeout. A network failure never throws:
// it is an observation, and becomes a failed result naming it.
//
// Every address connected to comes from the verified federation and passes the pure checks
// of src/core/values/scope.ts first: the underlay host is resolved once, every address it resolves
// to must be one an endpoint may be (never loopback, the mesh, link-local, ...), and every
// probe goes to the resolved address, never to the name again; mesh probes go only to usable
// hosts of the federation's mesh; the exporter is scraped only at the node's own mesh address
// and the kit's exporter port. A refusal is an observation too (the rule fails, naming it),
// and is logged, escaped.
import { lookup } from "node:dns/promises";
import { ClientRequest, get as httpGet } from "node:http";
import { performance } from "node:perf_hooks";
import { connect, isIP } from "node:net";
import { escapeShort, escapeText } from "../core/values/escape";
import { parseEndpoint } from "../core/values/fields";
import type { Federation, NodeDescriptor } from "../core/registry/format";
import type { NodeReplies, Reply } from "../core/dns/check";
import { questionsFor } from "../core/dns/check";
import { ask, askNode, askTcp, Server } from "../io/dns/transport";
import { deadline, isNoAnswer, noAnswer } from "../io/deadline";
import { runAsync, RunResult } from "../io/process";
import { RECORD_TYPES } from "../core/dns/zonefile";
import {
  ConnectScope,
  connectScope,
  exporterTarget,
  meshAddressProblem,
  resolvedEndpointProblem,
  underlayEndpointProblem,
} from "../core/values/scope";
import { EXPORTER_PORT } from "../core/values/ports";
import type { AttestationResult } from "../core/label/attestation";
import {
  declaredTcp,
  judgePeer,
  memberZones,
  meshOnlyPorts,
  MeshObservations,
  PeerObservations,
  PortState,
  Scrape,
  UnderlayObservations,
} from "../core/label/judge";
import { ProbeSchedule } from "../core/label/probes";

export interface ObserveContext {
  /** Verified, every live node. */
  federation: Federation;
  self: { member: string; node: string };
  /** WireGuard public key → unix seconds of its latest handshake (0: never); read after the mesh probes. */
  handshakes: () => Promise<Map<string, number>>;
  now?: () => Date;
  /** Per probe (DNS question, AXFR, scrape), default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Overrides for tests: the DNS port (default 53) and the ports scanned (default SCAN_PORTS). */
  dnsPort?: number;
  scanPorts?: number[];
  /** Override for tests: the port a peer's exporter must be at (default the kit's, 9100). */
  exporterPort?: number;
  /** Tests only: the peers are listeners on this machine's loopback, which every check otherwise refuses. */
  allowLoopback?: boolean;
  /** Override for tests: every address a host name resolves to (default the system resolver's). */
  resolve?: (host: string) => Promise<string[]>;
  /** Where a refused address is reported (the agent's journal), once per round and reason; escaped. */
  log?: (line: string) => void;
}

export const DEFAULT_TIMEOUT_MS = 1500;
/** A TCP connect that has not completed in this time is filtered (a firewall dropping). */
export const CONNECT_TIMEOUT_MS = 1000;
/** Sockets of a scan at once: about 1060 ports take 6 rounds against a firewall that drops. */
export const SCAN_CONCURRENCY = 200;
/** Peers observed at once: the node has little CPU, and each peer already runs ~200 sockets. */
export const PEERS_AT_ONCE = 2;
const AXFR = 252;
/** The exporter's whole output is a few hundred KiB; anything far larger is not an exporter. */
const MAX_SCRAPE_BYTES = 4 * 1024 * 1024;

/**
 * Higher TCP ports commonly left open by mistake, scanned beside 1–1024: proxies (1080,
 * 3128, 8080, 8888), databases (1433, 1521, 3306, 5432, 6379, 9200, 9300, 11211, 27017),
 * NFS (2049), Docker (2375, 2376), Kubernetes (6443, 10250), remote desktops (3389, 5900),
 * dashboards and app servers (3000, 5000, 5601, 8000, 8008, 8081, 8443, 9000), and the
 * monitoring stack (Prometheus 9090, Alertmanager 9093/9094, node exporter 9100, blackbox 9115).
 */
const COMMON_HIGH_PORTS = [
  1080, 1433, 1521, 2049, 2375, 2376, 3000, 3128, 3306, 3389, 5000, 5432, 5601, 5900, 6379, 6443, 8000, 8008, 8080, 8081, 8443, 8888, 9000,
  9090, 9093, 9094, 9100, 9115, 9200, 9300, 10250, 11211, 27017,
];

/** The TCP ports every peer is scanned on (beside its mesh-only ports and its declared single ports). */
export const SCAN_PORTS: readonly number[] = [...Array.from({ length: 1024 }, (_, i) => i + 1), ...COMMON_HIGH_PORTS];

/** The ports scanned on one peer: the base list, the mesh-only ones, and its declared single TCP ports. */
export function scanList(peer: NodeDescriptor, base: readonly number[] = SCAN_PORTS): number[] {
  const declared = declaredTcp(peer)
    .filter((r) => r.first === r.last)
    .map((r) => r.first);
  return [...new Set([...base, ...meshOnlyPorts(peer).keys(), ...declared])].sort((a, b) => a - b);
}

/** Runs fn over items, at most `limit` at a time, results in the items' order. */
export async function inPool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** One TCP connect: "open" only when it completes (closed at once, nothing sent); refused is "closed". */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<PortState> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (state: PortState) => {
      timer.clear();
      socket.destroy();
      resolve(state);
    };
    const timer = deadline(timeoutMs, () => done("filtered"));
    socket.on("connect", () => done("open"));
    // Unreachable host or network: nothing answered for the port, as with a drop.
    socket.on("error", (error: NodeJS.ErrnoException) => done(error.code === "ECONNREFUSED" ? "closed" : "filtered"));
  });
}

/** A connect that does not complete is "filtered", as a firewall's drop is: one pass, never asked again (ProbeSchedule). */
async function scanTcp(host: string, ports: number[], timeoutMs: number, schedule: ProbeSchedule): Promise<Map<number, PortState>> {
  const states = await inPool(ports, SCAN_CONCURRENCY, (port) => schedule.probe(() => probeTcp(host, port, timeoutMs)));
  return new Map(ports.map((port, i) => [port, states[i]]));
}

/** Where this round may connect: the federation's underlay setting and mesh (and loopback, for tests). */
function scopeOf(ctx: ObserveContext): ConnectScope {
  return { ...connectScope(ctx.federation.settings), loopback: ctx.allowLoopback === true };
}

const logged = new WeakMap<ObserveContext, Set<string>>();

/** Logs a refusal once per context (a round), naming the node. `reason` comes escaped from src/core/values/scope.ts. */
function logRefusal(ctx: ObserveContext, node: NodeDescriptor, what: "underlay" | "mesh" | "exporter", reason: string): void {
  if (!ctx.log) return;
  const line = `not connecting to node ${escapeText(node.node)} (${what}): ${reason}`;
  const seen = logged.get(ctx) ?? new Set<string>();
  logged.set(ctx, seen);
  if (seen.has(line)) return;
  seen.add(line);
  ctx.log(line);
}

/** The message of a scope check without its fix: short enough for a result's detail. */
const withoutFix = (problem: string) => problem.split("; fix: ")[0];

/** Every address `host` resolves to, as the system resolver gives them (an IP literal is itself). */
async function resolveHost(host: string, ctx: ObserveContext): Promise<{ addresses: string[] } | { error: string }> {
  if (isIP(host)) return { addresses: [host] };
  try {
    return { addresses: ctx.resolve ? await ctx.resolve(host) : (await lookup(host, { all: true })).map((a) => a.address) };
  } catch (error) {
    return {
      error: `${escapeShort(host)} does not resolve (${escapeShort((error as NodeJS.ErrnoException).code ?? (error as Error).message)})`,
    };
  }
}

/**
 * The underlay address to probe, resolved once: the endpoint must pass as an endpoint, and
 * every address its name resolves to as well, or nothing is probed.
 */
async function underlayAddress(
  peer: NodeDescriptor,
  ctx: ObserveContext,
): Promise<{ address: string } | { shown: string; unprobed: string }> {
  const scope = scopeOf(ctx);
  const endpoint = parseEndpoint(peer.endpoint);
  const shown = escapeShort(endpoint?.host ?? peer.endpoint);
  const before = underlayEndpointProblem(peer.endpoint, scope);
  if (before || !endpoint) {
    const reason = before ?? `endpoint ${escapeShort(peer.endpoint)} is not host:port`;
    logRefusal(ctx, peer, "underlay", reason);
    return { shown, unprobed: `refused: ${withoutFix(reason)}` };
  }
  const resolved = await resolveHost(endpoint.host, ctx);
  if ("error" in resolved) return { shown, unprobed: resolved.error };
  const after = resolvedEndpointProblem(peer.endpoint, resolved.addresses, scope);
  if (after) {
    logRefusal(ctx, peer, "underlay", after);
    return { shown, unprobed: `refused: ${withoutFix(after)}` };
  }
  return { address: resolved.addresses[0] };
}

/** One round's probes: its context, the bound of each probe, and the schedule they all go through. */
interface Round {
  ctx: ObserveContext;
  timeoutMs: number;
  schedule: ProbeSchedule;
}

function newRound(ctx: ObserveContext): Round {
  return { ctx, timeoutMs: ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS, schedule: new ProbeSchedule(() => performance.now()) };
}

/** A second timeout says so: the peer did not answer when asked alone either. */
const againAlone = <T extends object>(second: T): T =>
  isNoAnswer(second) ? { ...second, error: `${(second as { error: string }).error}, twice (once alone)` } : second;

/** A probe whose timeout would fail a rule: asked again alone when it times out among the round's others. */
const probeOrAgain = <T extends object>(round: Round, ask: () => Promise<T>): Promise<T> =>
  round.schedule.probe(ask, isNoAnswer, againAlone);

async function observeUnderlay(peer: NodeDescriptor, round: Round): Promise<UnderlayObservations> {
  const { ctx, timeoutMs, schedule } = round;
  const resolved = await underlayAddress(peer, ctx);
  if ("unprobed" in resolved) return { address: resolved.shown, unprobed: resolved.unprobed, ports: new Map(), zones: {}, axfr: {} };
  const server: Server = { host: resolved.address, port: ctx.dnsPort ?? 53 };
  const [ports, zoneReplies, transfers, dns] = await Promise.all([
    scanTcp(resolved.address, scanList(peer, ctx.scanPorts), Math.min(CONNECT_TIMEOUT_MS, timeoutMs), schedule),
    Promise.all(
      peer.zones.map((zone) => askNode(peer.node, server, questionsFor(zone, []), timeoutMs, (question) => probeOrAgain(round, question))),
    ),
    // A transfer that times out is not transferred, which passes: one pass.
    Promise.all(peer.zones.map((zone) => schedule.probe(() => askTcp(server, { name: zone, type: AXFR }, timeoutMs)))),
    // Without zones of its own, one question just to see whether its DNS answers at all.
    peer.zones.length === 0
      ? probeOrAgain(round, () => ask(server, { name: ctx.federation.settings.domain, type: RECORD_TYPES.SOA }, timeoutMs))
      : undefined,
  ]);
  const zones: Record<string, NodeReplies> = {};
  const axfr: Record<string, Reply> = {};
  peer.zones.forEach((zone, i) => {
    zones[zone] = zoneReplies[i];
    axfr[zone] = transfers[i];
  });
  return { address: resolved.address, ports, zones, axfr, dns };
}

/** Zone → the nodes asked its SOA over the mesh: the peer and the primary for every member zone, every node for the peer's own. */
function soaQuestions(peer: NodeDescriptor, federation: Federation): Map<string, NodeDescriptor[]> {
  const asked = new Map<string, NodeDescriptor[]>();
  for (const [zone, primary] of memberZones(federation)) {
    const nodes = peer.zones.includes(zone) ? federation.nodes : [peer, primary];
    asked.set(zone, [...new Map(nodes.map((n) => [n.node, n])).values()]);
  }
  for (const zone of peer.zones) if (!asked.has(zone)) asked.set(zone, federation.nodes);
  return asked;
}

function scrapeOnce(host: string, port: number, path: string, timeoutMs: number): Promise<Scrape> {
  return new Promise((resolve) => {
    let settled = false;
    let request: ClientRequest | undefined;
    const done = (result: Scrape) => {
      if (settled) return;
      settled = true;
      timer.clear();
      request?.destroy();
      resolve(result);
    };
    const timer = deadline(timeoutMs, () => done({ error: noAnswer(timeoutMs) }));
    const sentMs = Date.now();
    try {
      request = httpGet({ host, port, path, headers: { accept: "text/plain" }, agent: false }, (response) => {
        // The exporter reads the clock before it sends its headers: the midpoint is taken up to here.
        const receivedMs = Date.now();
        if (response.statusCode !== 200) return done({ error: `HTTP ${response.statusCode}` });
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_SCRAPE_BYTES) done({ error: `more than ${MAX_SCRAPE_BYTES} bytes of metrics` });
          else chunks.push(chunk);
        });
        response.on("end", () => done({ sentMs, receivedMs, body: Buffer.concat(chunks).toString("utf8") }));
        response.on("error", (error) => done({ error: error.message }));
      });
    } catch (error) {
      return done({ error: (error as Error).message });
    }
    request.on("error", (error: NodeJS.ErrnoException) =>
      done({ error: error.code === "ECONNREFUSED" ? `connection refused at port ${port}` : (error.code ?? error.message) }),
    );
  });
}

/**
 * The exporter's clock: only the time collectors asked (a small answer, a tight midpoint), all
 * metrics if it refuses the filter. Only at the peer's own mesh address and the exporter port.
 */
async function scrapeClock(peer: NodeDescriptor, { ctx, timeoutMs }: Round): Promise<Scrape> {
  const target = exporterTarget(peer, scopeOf(ctx), ctx.exporterPort ?? EXPORTER_PORT);
  if ("problem" in target) {
    logRefusal(ctx, peer, "exporter", target.problem);
    return { error: `refused: ${withoutFix(target.problem)}` };
  }
  const filtered = await scrapeOnce(target.host, target.port, "/metrics?collect[]=time&collect[]=timex", timeoutMs);
  if ("error" in filtered && filtered.error.startsWith("HTTP 4")) return scrapeOnce(target.host, target.port, "/metrics", timeoutMs);
  return filtered;
}

/** A node's SOA over the mesh, at its mesh address only if that is a usable host of the federation's mesh. */
function askOverMesh(node: NodeDescriptor, zone: string, round: Round): Promise<Reply> {
  const { ctx, timeoutMs } = round;
  const problem = meshAddressProblem(node.mesh.ipv4, scopeOf(ctx), `node ${escapeText(node.node)}'s mesh.ipv4`);
  if (problem) {
    logRefusal(ctx, node, "mesh", problem);
    return Promise.resolve({ error: `refused: ${withoutFix(problem)}` });
  }
  return probeOrAgain(round, () =>
    ask({ host: node.mesh.ipv4, port: ctx.dnsPort ?? 53 }, { name: zone, type: RECORD_TYPES.SOA }, timeoutMs),
  );
}

/** Zone → node → its SOA over the mesh (./judge.ts MeshObservations.soa). */
async function observeSoa(peer: NodeDescriptor, round: Round): Promise<MeshObservations["soa"]> {
  const questions = [...soaQuestions(peer, round.ctx.federation)].flatMap(([zone, nodes]) => nodes.map((node) => ({ zone, node })));
  const replies = await Promise.all(questions.map((q) => askOverMesh(q.node, q.zone, round)));
  const soa: MeshObservations["soa"] = {};
  questions.forEach((q, i) => ((soa[q.zone] ??= {})[q.node.node] = replies[i]));
  return soa;
}

/**
 * Every peer's WireGuard handshake, read once for the round (one `wg` process, not one per
 * peer), each judged as at the end of that peer's probes: a round of many peers on a busy
 * node takes minutes, and reading at its end must not age a handshake the peer made in time.
 * One made after its probes is younger still, and is as good a sign of its key.
 */
async function readHandshakes(ctx: ObserveContext): Promise<(key: string, probedAt: Date) => MeshObservations["handshake"]> {
  try {
    const handshakes = await ctx.handshakes();
    return (key, probedAt) => ({ at: handshakes.get(key) ?? 0, readAt: probedAt });
  } catch (error) {
    const failed = { error: (error as Error).message.split("\n")[0] };
    return () => failed;
  }
}

/** What the round asked again alone, for its log: how many, how many answered then, and how fast. */
function logSecondTries(round: Round): void {
  const { retried } = round.schedule;
  if (retried.length === 0 || !round.ctx.log) return;
  const answered = retried.filter((r) => !isNoAnswer(r.second as object));
  const ms = answered.map((r) => Math.round(r.secondMs)).sort((a, b) => a - b);
  const took = ms.length > 0 ? ` (in ${ms[0]}${ms.length > 1 ? ` to ${ms[ms.length - 1]}` : ""} ms)` : "";
  round.ctx.log(
    `${retried.length} probe(s) timed out among the round's others and were asked again alone: ${answered.length} answered${took}, ${retried.length - answered.length} did not`,
  );
}

/**
 * Everything seen of the peers, a few at a time, every probe through the round's schedule
 * (src/core/label/probes.ts: a probe that times out among the others is asked again alone).
 * Every peer's clock first, while nothing else of the round is under way: the offset's
 * midpoint is only as good as the checker's promptness, and the port scan and DNS questions
 * keep a slow checker busy. The handshakes last, once, after every probe that gave WireGuard
 * a reason to handshake.
 */
async function observeRound(peers: NodeDescriptor[], ctx: ObserveContext): Promise<PeerObservations[]> {
  const now = ctx.now ?? (() => new Date());
  const round = newRound(ctx);
  const clocks = await inPool(peers, PEERS_AT_ONCE, (peer) => probeOrAgain(round, () => scrapeClock(peer, round)));
  const probed = await inPool(
    peers.map((peer, i) => ({ peer, scrape: clocks[i] })),
    PEERS_AT_ONCE,
    async ({ peer, scrape }) => {
      const at = now();
      const [underlay, soa] = await Promise.all([observeUnderlay(peer, round), observeSoa(peer, round)]);
      return { peer, at, underlay, soa, scrape, probedAt: now() };
    },
  );
  const handshakeOf = await readHandshakes(ctx);
  logSecondTries(round);
  return probed.map(({ peer, at, underlay, soa, scrape, probedAt }) => ({
    peer,
    federation: ctx.federation,
    now: at,
    underlay,
    mesh: { soa, scrape, handshake: handshakeOf(peer.publicKey, probedAt) },
  }));
}

/** One peer's results: one per rule and place checked live (./judge.ts). Never throws for the network. */
export async function observePeer(peer: NodeDescriptor, ctx: ObserveContext): Promise<AttestationResult[]> {
  return judgePeer((await observeRound([peer], ctx))[0]);
}

/**
 * Every live node of other members (a member never attests its own): node → results. Judged
 * once every probe of the round has ended: checking signatures takes CPU that a probe still
 * waiting for its answer would need.
 */
export async function observePeers(ctx: ObserveContext): Promise<Map<string, AttestationResult[]>> {
  const peers = ctx.federation.nodes.filter((n) => n.member !== ctx.self.member);
  const observed = await observeRound(peers, ctx);
  return new Map(observed.map((o) => [o.peer.node, judgePeer(o)]));
}

/** `wg show <iface> latest-handshakes`: "<public key>\t<unix seconds>" lines → key → seconds (0: never). */
export function parseHandshakes(text: string): Map<string, number> {
  const handshakes = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S{44})\s+(\d+)\s*$/.exec(line);
    if (m) handshakes.set(m[1], Number(m[2]));
  }
  return handshakes;
}

/** The kernel's latest handshake per peer of the interface (needs CAP_NET_ADMIN, as the agent has). */
export async function wgHandshakes(iface = "wg0"): Promise<Map<string, number>> {
  const what = `wg show ${iface} latest-handshakes`;
  let result: RunResult;
  try {
    result = await runAsync("wg", ["show", iface, "latest-handshakes"], { timeoutMs: 5000, allowFailure: true });
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  }
  if (result.status !== 0)
    throw new Error(`${what}: ${result.timedOut ? "timed out after 5 s" : result.stderr.trim() || `exited ${result.status}`}`);
  return parseHandshakes(result.stdout);
}
