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
   * Probes that got no reply. The last probe alone unanswered is not lost: ping stopped by
   * SIGINT counts the probe still on its way as sent and never waits for its reply.
   */
  lost: number;
  /** Seconds, the longest `time=` of a reply: a reply that waited in WireGuard's queue shows here, not as a loss. */
  slowest: number;
}

export function pingTally(output: string): PingTally {
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (!summary) throw new Error(`no summary line in ping's output:\n${output.slice(-500)}`);
  const transmitted = Number(summary[1]);
  const answered = new Set([...output.matchAll(/bytes from .* icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
  let lost = 0;
  for (let seq = 1; seq <= transmitted; seq++) if (!answered.has(seq)) lost++;
  const onItsWay = transmitted > 1 && !answered.has(transmitted) && answered.has(transmitted - 1);
  const times = [...output.matchAll(/time=(\d+(?:\.\d+)?) ms/g)].map((m) => Number(m[1]) / 1000);
  return { transmitted, received: Number(summary[2]), lost: onItsWay ? lost - 1 : lost, slowest: Math.max(0, ...times) };
}

/** A node as the lossless rotation's pings see it: both its mesh addresses. */
export interface DualMeshNode {
  machine: LabMachine;
  mesh: { ipv4: string; ipv6: string };
}

export interface RotationPings {
  /** Every other node's pings to the rotated node, over mesh IPv4 and IPv6, summed. */
  toRotated: PingTally;
  /** Each other node's pings to the next other node (mesh IPv4), summed: traffic the rotation must not touch. */
  between: PingTally;
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
  const sum = (tallies: PingTally[]): PingTally => ({
    transmitted: tallies.reduce((n, t) => n + t.transmitted, 0),
    received: tallies.reduce((n, t) => n + t.received, 0),
    lost: tallies.reduce((n, t) => n + t.lost, 0),
    slowest: Math.max(0, ...tallies.map((t) => t.slowest)),
  });
  const toRotated: PingTally[] = [];
  const between: PingTally[] = [];
  for (const node of others) {
    ok(node, "pkill -INT -x ping; sleep 1; true");
    toRotated.push(pingTally(ok(node, `cat ${files[0]}`)), pingTally(ok(node, `cat ${files[1]}`)));
    between.push(pingTally(ok(node, `cat ${files[2]}`)));
  }
  return { toRotated: sum(toRotated), between: sum(between), after };
}
