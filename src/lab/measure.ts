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

/** The packet loss (percent) in ping's summary. */
export function pingLoss(output: string): number {
  const match = /(\d+(?:\.\d+)?)% packet loss/.exec(output);
  if (!match) throw new Error(`no packet loss line in ping's output:\n${output.slice(-500)}`);
  return Number(match[1]);
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

/** A node as a rotation sees it: its machine and its mesh address. */
export interface MeshNode {
  machine: LabMachine;
  mesh: { ipv4: string };
}

export type Exec<N> = (node: N, command: string) => { status: number; output: string };

/**
 * Rotates `rotated`'s key with `rotate` while `watcher` pings both the rotated node and
 * `bystander` every 0.2 s. Returns the loss towards the bystander (percent) and the rotated
 * node's outage (seconds, the longest gap between two replies).
 */
export async function measureRotation<N extends MeshNode, R>(
  exec: Exec<N>,
  watcher: N,
  rotated: N,
  bystander: N,
  rotate: () => Promise<R> | R,
): Promise<{ lossToBystander: number; outage: number; after: R }> {
  const ok = (command: string) => {
    const result = exec(watcher, command);
    if (result.status !== 0) throw new Error(`${watcher.machine.name}: \`${command}\` exited ${result.status}:\n${result.output}`);
    return result.output;
  };
  const pingInBackground = (address: string, file: string) => `(ping -D -i 0.2 -w 120 ${address} > ${file} 2>&1 &)`;
  ok(
    `rm -f /tmp/ping-bystander /tmp/ping-rotated; ${pingInBackground(bystander.mesh.ipv4, "/tmp/ping-bystander")}; ${pingInBackground(rotated.mesh.ipv4, "/tmp/ping-rotated")}`,
  );
  await new Promise((r) => setTimeout(r, 2000));
  const after = await rotate();
  await eventually(
    `${watcher.machine.name} reaches ${rotated.machine.name} with its new key`,
    30,
    () => exec(watcher, `ping -c 1 -W 2 ${rotated.mesh.ipv4}`).status === 0,
  );
  await new Promise((r) => setTimeout(r, 2000));
  ok("pkill -INT ping; sleep 1; true");
  return { lossToBystander: pingLoss(ok("cat /tmp/ping-bystander")), outage: pingOutage(ok("cat /tmp/ping-rotated")), after };
}
