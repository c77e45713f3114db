// The lab's time server, for the VM backend: SNTP answers (RFC 4330's server side) from the
// host's clock, on the lab's host address, to the VMs' chrony. A VM keeps its own clock
// (set from its RTC at boot, to the second, then kept by its emulated timer): without an NTP
// source, as a server without one, it is off by up to a second from boot and drifts, so the
// label's time-synchronised rule (1 s) could not hold between two of them. The containers share
// the host's clock and need none. This file is run on its own (startTimeServer transpiles it
// with esbuild): it imports nothing but Node's.
import { createSocket, Socket } from "node:dgram";

export const NTP_PORT = 123;
/** Seconds from NTP's epoch (1900) to Unix's (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
/** A local clock served without an upstream of its own, as chrony's `local stratum 10` does. */
export const TIME_SERVER_STRATUM = 10;
const MODE_CLIENT = 3;
const MODE_SERVER = 4;
/** The clock read (performance.timeOrigin + performance.now()) resolves microseconds: 2^-17 s is about 8 µs. */
const PRECISION_LOG2 = -17;

/** A Unix time in milliseconds as NTP's 64-bit timestamp (seconds since 1900, then a 32-bit fraction). */
export function ntpTimestamp(unixMs: number): Buffer {
  const buffer = Buffer.alloc(8);
  const seconds = Math.floor(unixMs / 1000);
  buffer.writeUInt32BE((seconds + NTP_UNIX_OFFSET_S) >>> 0, 0);
  buffer.writeUInt32BE(Math.min(Math.floor(((unixMs - seconds * 1000) / 1000) * 2 ** 32), 2 ** 32 - 1), 4);
  return buffer;
}

/** NTP's 64-bit timestamp at `offset` as a Unix time in milliseconds. */
export function unixMsOf(buffer: Buffer, offset: number): number {
  return (buffer.readUInt32BE(offset) - NTP_UNIX_OFFSET_S) * 1000 + (buffer.readUInt32BE(offset + 4) / 2 ** 32) * 1000;
}

/**
 * The server's answer to one datagram: a client's request (mode 3, version 1 to 4, 48 bytes
 * or more) received at receivedMs, to be sent at sentMs (Unix ms, the host's clock). The
 * origin timestamp is the request's transmit timestamp, as the client checks. Anything else
 * (another mode, a short packet) gets no answer.
 */
export function ntpAnswer(request: Buffer, receivedMs: number, sentMs: number): Buffer | undefined {
  if (request.length < 48) return undefined;
  const version = (request[0] >> 3) & 7;
  if ((request[0] & 7) !== MODE_CLIENT || version < 1 || version > 4) return undefined;
  const answer = Buffer.alloc(48);
  answer[0] = (0 << 6) | (version << 3) | MODE_SERVER; // leap indicator 0: no warning, synchronised
  answer[1] = TIME_SERVER_STRATUM;
  answer[2] = request[2]; // the client's poll interval
  answer.writeInt8(PRECISION_LOG2, 3);
  // Root delay and root dispersion (bytes 4 to 11) stay 0: the served clock is the reference.
  answer.write("LOCL", 12, "latin1");
  ntpTimestamp(receivedMs).copy(answer, 16); // reference: when the clock was last read
  request.copy(answer, 24, 40, 48); // origin
  ntpTimestamp(receivedMs).copy(answer, 32); // receive
  ntpTimestamp(sentMs).copy(answer, 40); // transmit
  return answer;
}

const clockMs = () => performance.timeOrigin + performance.now();

/** Answers on address:port until the process ends; resolves once it listens. */
export function serveTime(address: string, port = NTP_PORT, log: (line: string) => void = console.log): Promise<Socket> {
  const socket = createSocket(address.includes(":") ? "udp6" : "udp4");
  const clients = new Set<string>();
  socket.on("message", (request, from) => {
    const receivedMs = clockMs();
    const answer = ntpAnswer(request, receivedMs, clockMs());
    if (answer === undefined) return;
    socket.send(answer, from.port, from.address);
    if (!clients.has(from.address)) {
      clients.add(from.address);
      log(`first request from ${from.address}`);
    }
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, address, () => {
      socket.off("error", reject);
      socket.on("error", (error) => log(`error: ${error.message}`));
      log(`serving the host's clock on ${address}:${port} (stratum ${TIME_SERVER_STRATUM})`);
      resolve(socket);
    });
  });
}

/** The daemon: `node time-server.js ADDRESS [PORT]`. */
export function main(argv: string[]): void {
  const [address, port] = argv;
  if (!address) {
    console.error("usage: time-server ADDRESS [PORT]");
    process.exit(2);
  }
  serveTime(address, port === undefined ? NTP_PORT : Number(port)).catch((error: Error) => {
    console.error(`cannot serve time on ${address}: ${error.message}`);
    process.exit(1);
  });
}
