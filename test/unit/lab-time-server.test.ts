// The lab's time server for its VMs: SNTP answers from the host's clock (src/lab/time-server.ts),
// the packet alone, then the daemon as the lab starts it, asked over UDP on the loopback.
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { startTimeServer, timeServerProcesses } from "../../src/lab/clock";
import { stopProcesses } from "../../src/lab/net";
import { ntpAnswer, ntpTimestamp, TIME_SERVER_STRATUM, unixMsOf } from "../../src/lab/time-server";

/** A client's request as chrony sends one: version 4, mode 3, its poll, its transmit timestamp. */
function request(transmitMs: number, first = (4 << 3) | 3): Buffer {
  const packet = Buffer.alloc(48);
  packet[0] = first;
  packet[2] = 6;
  ntpTimestamp(transmitMs).copy(packet, 40);
  return packet;
}

describe("SNTP answers", () => {
  test("NTP timestamps carry a Unix time to the microsecond, from the 1900 epoch", () => {
    const at = Date.UTC(2026, 11, 6, 1, 2, 3) + 456.789;
    expect(unixMsOf(ntpTimestamp(at), 0)).toBeCloseTo(at, 3);
    expect(ntpTimestamp(0).readUInt32BE(0)).toBe(2_208_988_800);
  });

  test("a client's request gets a synchronised server's answer: its version, its poll, its transmit time as the origin", () => {
    const sent = Date.UTC(2026, 11, 6, 1, 0, 0) + 0.25;
    const ask = request(sent);
    const answer = ntpAnswer(ask, sent + 1.5, sent + 1.75)!;
    expect(answer).toHaveLength(48);
    expect(answer[0] >> 6, "leap indicator: no warning (3 would say unsynchronised)").toBe(0);
    expect((answer[0] >> 3) & 7).toBe(4);
    expect(answer[0] & 7, "mode 4, server").toBe(4);
    expect(answer[1]).toBe(TIME_SERVER_STRATUM);
    expect(answer[2]).toBe(6);
    expect(answer.subarray(12, 16).toString("latin1")).toBe("LOCL");
    expect(answer.subarray(24, 32).equals(ask.subarray(40, 48)), "origin = the request's transmit timestamp").toBe(true);
    expect(unixMsOf(answer, 32)).toBeCloseTo(sent + 1.5, 3);
    expect(unixMsOf(answer, 40)).toBeCloseTo(sent + 1.75, 3);
    expect(ntpAnswer(request(sent, (3 << 3) | 3), sent, sent)![0] & 0x38, "an NTPv3 client gets version 3").toBe(3 << 3);
  });

  test("anything but a client's request gets no answer", () => {
    expect(ntpAnswer(request(0, (4 << 3) | 4), 0, 0), "a server's packet (mode 4)").toBeUndefined();
    expect(ntpAnswer(request(0, (4 << 3) | 1), 0, 0), "symmetric active (mode 1)").toBeUndefined();
    expect(ntpAnswer(request(0, (0 << 3) | 3), 0, 0), "version 0").toBeUndefined();
    expect(ntpAnswer(Buffer.alloc(47, 0x23), 0, 0), "47 bytes").toBeUndefined();
  });
});

describe("the time server daemon", () => {
  const dir = mkdtempSync(join(tmpdir(), "boreal-time-"));
  afterAll(() => {
    stopProcesses(timeServerProcesses(dir));
    rmSync(dir, { recursive: true, force: true });
  });

  test("started as the lab starts it, it answers on its address with the host's clock, and is found by its command line", async () => {
    const port = 20_000 + (process.pid % 20_000);
    const pid = startTimeServer(dir, "127.0.0.1", port);
    expect(timeServerProcesses(dir)).toEqual([pid]);
    const client = createSocket("udp4");
    try {
      const sentMs = Date.now();
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no answer within 5 s")), 5_000);
        client.once("message", (message) => {
          clearTimeout(timer);
          resolve(message);
        });
        client.send(request(sentMs), port, "127.0.0.1");
      });
      const receivedMs = Date.now();
      expect(answer[0] & 7).toBe(4);
      expect(unixMsOf(answer, 24)).toBeCloseTo(sentMs, 0);
      // The host's clock, read between the request and its answer (to the millisecond).
      expect(unixMsOf(answer, 40)).toBeGreaterThanOrEqual(sentMs - 1);
      expect(unixMsOf(answer, 40)).toBeLessThanOrEqual(receivedMs + 1);
    } finally {
      client.close();
    }
    stopProcesses([pid]);
    expect(timeServerProcesses(dir)).toEqual([]);
  });
});
