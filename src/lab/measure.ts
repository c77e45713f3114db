// Measuring on lab machines, shared by the lab bench (src/bench/lab.ts) and the end-to-end
// test (test/helpers/federation-checks.ts): waiting for a condition, and a key rotation seen
// by a watcher's pings.
import type { LabMachine } from "./lab";

export async function eventually<T>(what: string, seconds: number, probe: () => T | undefined | false, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: not true after ${seconds}s${last ? `; last error: ${String(last)}` : ""}`);
}

/** The longest gap (seconds) between two replies in `ping -D` output: the outage a watcher saw. */
export function pingOutage(output: string): number {
  const replies = output
    .split("\n")
    .filter((l) => l.includes("bytes from"))
    .map((l) => Number(/^\[(\d+\.\d+)\]/.exec(l)?.[1]));
  if (replies.length < 2 || replies.some(Number.isNaN))
    throw new Error(`fewer than two timestamped replies in ping's output:\n${output.slice(-500)}`);
  return Math.max(...replies.slice(1).map((t, i) => t - replies[i]));
}

export type Exec<N> = (node: N, command: string) => { status: number; output: string };

/** What ping's output says: probes sent, replies received (late ones too), the lost, and the slowest reply. */
export interface PingTally {
  transmitted: number;
  received: number;
  /**
   * Probes that got no reply though they had time to: sent at least `inFlightSeconds` before
   * ping stopped. Ping stopped by SIGINT prints its summary at once, counting the probes still
   * on their way as sent, and a loaded lab's round trip can outlast the 0.2 s between probes.
   */
  lost: number;
  /** The lost probes' icmp_seq: where in the run they were, for the message that names them. */
  lostSeqs: number[];
  /** Probes unanswered when ping stopped but sent too late to be judged. */
  inFlight: number;
  /** Seconds, the longest `time=` of a reply: a reply that waited in WireGuard's queue shows here, not as a loss. */
  slowest: number;
}

/** `ping -i intervalSeconds` output → its tally; probes of the last `inFlightSeconds` are judged only when answered. */
export function pingTally(output: string, intervalSeconds = 0.2, inFlightSeconds = 2): PingTally {
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (!summary) throw new Error(`no summary line in ping's output:\n${output.slice(-500)}`);
  const transmitted = Number(summary[1]);
  const answered = new Set([...output.matchAll(/bytes from .* icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
  const judgedUpTo = transmitted - Math.max(1, Math.round(inFlightSeconds / intervalSeconds));
  const lostSeqs: number[] = [];
  let inFlight = 0;
  for (let seq = 1; seq <= transmitted; seq++) {
    if (answered.has(seq)) continue;
    if (seq > judgedUpTo) inFlight++;
    else lostSeqs.push(seq);
  }
  const times = [...output.matchAll(/time=(\d+(?:\.\d+)?) ms/g)].map((m) => Number(m[1]) / 1000);
  return { transmitted, received: Number(summary[2]), lost: lostSeqs.length, lostSeqs, inFlight, slowest: Math.max(0, ...times) };
}

/** A tally's losses in words: "2 lost (icmp_seq 7, 9)", or "0 lost". */
export function lostInWords(tally: PingTally): string {
  return `${tally.lost} lost${tally.lost > 0 ? ` (icmp_seq ${tally.lostSeqs.join(", ")})` : ""}`;
}

/** Several pings' tallies added up; which probes were lost is said per ping (RotationPings.losses). */
export type PingTotals = Omit<PingTally, "lostSeqs">;

/** A node as the lossless rotation's pings see it: both its mesh addresses. */
export interface DualMeshNode {
  machine: LabMachine;
  mesh: { ipv4: string; ipv6: string };
}

export interface RotationPings {
  /** Every other node's pings to the rotated node, over mesh IPv4 and IPv6, summed. */
  toRotated: PingTotals;
  /** Each other node's pings to the next other node (mesh IPv4), summed: traffic the rotation must not touch. */
  between: PingTotals;
  /** Each ping that lost probes, and which: "node3 to node2 (mesh IPv6): 1 lost (icmp_seq 402) of 450". */
  losses: string[];
}

/**
 * Rotates `rotated`'s key with `rotate` while every other node pings it every 0.2 s over both
 * mesh families and pings its neighbour among the others; `settled` says when the rotation is
 * done everywhere (each peer on the new key). The pings stop 3 s after that, so that a reply
 * still queued in WireGuard counts as received if it comes.
 */
export async function measureRotationPings<N extends DualMeshNode, R>(
  exec: Exec<N>,
  nodes: N[],
  rotated: N,
  rotate: () => Promise<R> | R,
  settled: (after: R) => Promise<void>,
): Promise<RotationPings & { after: R }> {
  const others = nodes.filter((n) => n !== rotated);
  const ok = (node: N, command: string) => {
    const result = exec(node, command);
    if (result.status !== 0) throw new Error(`${node.machine.name}: \`${command}\` exited ${result.status}:\n${result.output}`);
    return result.output;
  };
  const files = ["/tmp/rotation-v4", "/tmp/rotation-v6", "/tmp/rotation-between"];
  const background = (address: string, file: string) => `(ping -D -i 0.2 -w 900 ${address} > ${file} 2>&1 &)`;
  for (const [i, node] of others.entries()) {
    const neighbour = others[(i + 1) % others.length];
    ok(
      node,
      `rm -f ${files.join(" ")}; ${background(rotated.mesh.ipv4, files[0])}; ${background(rotated.mesh.ipv6, files[1])}; ${background(neighbour.mesh.ipv4, files[2])}`,
    );
  }
  await new Promise((r) => setTimeout(r, 2000));
  const after = await rotate();
  await settled(after);
  await new Promise((r) => setTimeout(r, 3000));
  const sum = (tallies: PingTally[]): PingTotals => ({
    transmitted: tallies.reduce((n, t) => n + t.transmitted, 0),
    received: tallies.reduce((n, t) => n + t.received, 0),
    lost: tallies.reduce((n, t) => n + t.lost, 0),
    inFlight: tallies.reduce((n, t) => n + t.inFlight, 0),
    slowest: Math.max(0, ...tallies.map((t) => t.slowest)),
  });
  const toRotated: PingTally[] = [];
  const between: PingTally[] = [];
  const losses: string[] = [];
  const read = (node: N, file: string, what: string) => {
    const tally = pingTally(ok(node, `cat ${file}`));
    if (tally.lost > 0) losses.push(`${node.machine.name} to ${what}: ${lostInWords(tally)} of ${tally.transmitted}`);
    return tally;
  };
  for (const [i, node] of others.entries()) {
    const neighbour = others[(i + 1) % others.length];
    ok(node, "pkill -INT -x ping; sleep 1; true");
    toRotated.push(
      read(node, files[0], `${rotated.machine.name} (mesh IPv4)`),
      read(node, files[1], `${rotated.machine.name} (mesh IPv6)`),
    );
    between.push(read(node, files[2], `${neighbour.machine.name} (mesh IPv4)`));
  }
  return { toRotated: sum(toRotated), between: sum(between), losses, after };
}
