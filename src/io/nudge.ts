// Sending nudges (src/core/node/nudge.ts): the node's agent after its member published, and
// the lab's harness after it pushed to the mirror by hand.
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { nudgeMessage, NudgeTarget, NUDGE_PORT } from "../core/node/nudge";

/** Where each target's nudge went, or why it did not. */
export interface NudgeReport {
  sent: string[];
  failed: string[];
}

/**
 * One datagram to each target's underlay host and to each of its mesh addresses: the underlay
 * reaches a peer that does not know this node yet, the mesh one whose underlay is filtered.
 * A host name is resolved here (every address it has). Never throws: a lost nudge only means
 * that peer learns at its next timer run.
 */
export async function sendNudges(federation: string, targets: NudgeTarget[], port = NUDGE_PORT): Promise<NudgeReport> {
  const message = nudgeMessage(federation);
  const sockets = { 4: createSocket("udp4"), 6: createSocket("udp6") };
  for (const socket of Object.values(sockets)) socket.on("error", () => undefined);
  const report: NudgeReport = { sent: [], failed: [] };
  const addressesOf = async (host: string): Promise<string[]> =>
    isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  try {
    for (const target of targets) {
      for (const host of [target.underlay, ...target.mesh].filter(Boolean)) {
        try {
          for (const address of await addressesOf(host)) {
            const socket = sockets[isIP(address) === 6 ? 6 : 4];
            await new Promise<void>((resolve, reject) => socket.send(message, port, address, (e) => (e ? reject(e) : resolve())));
          }
          report.sent.push(`${target.node} ${host}`);
        } catch (error) {
          report.failed.push(`${target.node} ${host}: ${(error as Error).message}`);
        }
      }
    }
  } finally {
    for (const socket of Object.values(sockets)) socket.close();
  }
  return report;
}
