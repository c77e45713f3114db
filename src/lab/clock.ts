// The lab's time service for its VMs: src/lab/time-server.ts run on the host, on the lab's host
// address (as the registry's mirror is), found again by its command line, stopped by `lab down`.
import { transformSync } from "esbuild";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { sleepSync, startDetached } from "../io/process";
import { pidAlive, stopProcesses } from "./net";
import { NTP_PORT } from "./time-server";

const script = (labDir: string) => resolve(labDir, "time-server.js");
export const timeServerLog = (labDir: string) => resolve(labDir, "time-server.log");

/** The daemon's one file: time-server.ts transpiled (or tsc's output of it, when run from dist/), then its main. */
function daemonSource(): string {
  const ts = join(__dirname, "time-server.ts");
  const code = existsSync(ts)
    ? transformSync(readFileSync(ts, "utf8"), { loader: "ts", format: "cjs", platform: "node", target: "node18" }).code
    : readFileSync(join(__dirname, "time-server.js"), "utf8");
  return `${code}\nmodule.exports.main(process.argv.slice(2));\n`;
}

/** Starts the time server on hostAddress:port and waits until it listens; returns its pid. */
export function startTimeServer(labDir: string, hostAddress: string, port = NTP_PORT, timeoutMs = 10_000): number {
  for (const pid of timeServerProcesses(labDir)) stopProcesses([pid]);
  writeFileSync(script(labDir), daemonSource());
  const log = timeServerLog(labDir);
  const pid = startDetached(process.execPath, [script(labDir), hostAddress, String(port)], {
    log,
    logFlags: "w",
    purpose: "starting the lab's time server",
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const said = existsSync(log) ? readFileSync(log, "utf8") : "";
    if (said.includes("serving the host's clock")) return pid;
    if (!pidAlive(pid) || Date.now() > deadline) {
      stopProcesses([pid]);
      throw new Error(`the lab's time server did not listen on ${hostAddress}:${port}: ${said.trim() || "(its log is empty)"}`);
    }
    sleepSync(100);
  }
}

/** Time servers of this lab directory, by their command line (also after a crash lost the state). */
export function timeServerProcesses(labDir: string): number[] {
  const mine = script(labDir);
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[1] === mine;
      } catch {
        return false;
      }
    });
}
