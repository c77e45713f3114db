// The lab's git mirror: `git daemon` on the host, bound to the lab bridge address only,
// serving the bare repositories under <labDir>/mirrors to the lab machines (git://).
// Members write to a repository by its path on the host. Over git:// the registry takes
// one kind of push: nodes' attestations, through its inbox hook (src/io/registry/inbox.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { git } from "../io/git";
import { sleepSync, startDetached } from "../io/process";
import { installAttestationInbox } from "../io/registry/inbox";
import { output } from "./net";

export const MIRROR_PORT = 9418;

export const mirrorsDir = (labDir: string) => resolve(labDir, "mirrors");
export const mirrorLog = (labDir: string) => resolve(labDir, "mirror.log");

/** Makes (or re-initialises, keeping its content) the bare repository <labDir>/mirrors/<name>.git; returns its path. */
export function createMirrorRepo(labDir: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes(".."))
    throw new Error(`mirror repository name must be a plain name, got ${JSON.stringify(name)}`);
  const path = join(mirrorsDir(labDir), `${name}.git`);
  mkdirSync(mirrorsDir(labDir), { recursive: true });
  git(mirrorsDir(labDir), ["init", "--quiet", "--bare", "-b", "main", path]);
  installAttestationInbox(path);
  return path;
}

export function mirrorUrl(hostAddress: string, name: string): string {
  return `git://${hostAddress}/${name}.git`;
}

/** The daemon binary itself (not the `git` wrapper), so the pid recorded is the daemon's. */
function daemonBinary(dir: string): string {
  const execPath = git(dir, ["--exec-path"]).trim();
  const binary = join(execPath, "git-daemon");
  if (!existsSync(binary)) throw new Error(`git daemon is not installed (no ${binary}): apt-get install git`);
  return binary;
}

/**
 * Starts `git daemon` detached, listening on <hostAddress>:9418 only, and waits until that
 * very process holds the port. Returns its pid. Throws with the daemon's log tail otherwise.
 */
export function startMirror(labDir: string, hostAddress: string, timeoutMs = 10_000): number {
  const base = mirrorsDir(labDir);
  mkdirSync(base, { recursive: true });
  const holder = listeners().find((l) => l.address === hostAddress);
  if (holder)
    throw new Error(
      `${hostAddress}:${MIRROR_PORT} is already taken by ${holder.process} (pid ${holder.pid}): stop it first (boreal lab down in its lab directory)`,
    );
  const logFile = mirrorLog(labDir);
  const pid = startDetached(
    daemonBinary(base),
    [
      `--listen=${hostAddress}`,
      `--port=${MIRROR_PORT}`,
      `--base-path=${base}`,
      "--export-all",
      "--reuseaddr",
      // Pushes only where a repository says so (daemon.receivepack: the registry's inbox);
      // upload-archive stays off.
      "--disable=receive-pack",
      "--allow-override=receive-pack",
      "--disable=upload-archive",
      "--forbid-override=upload-archive",
      "--informative-errors",
      "--verbose",
      "--init-timeout=10",
      "--timeout=120",
      // Only what lies under the base path is served.
      base,
    ],
    { log: logFile, logFlags: "w", cwd: base, purpose: "starting the lab's registry mirror" },
  );
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) throw new Error(`git daemon (pid ${pid}) exited at start:\n${logTail(logFile)}`);
    const mine = listeners().filter((l) => l.pid === pid);
    if (mine.some((l) => l.address === hostAddress)) return pid;
    sleepSync(100);
  }
  stopMirror(pid);
  throw new Error(
    `git daemon (pid ${pid}) did not listen on ${hostAddress}:${MIRROR_PORT} within ${timeoutMs / 1000}s:\n${logTail(logFile)}`,
  );
}

/**
 * Stops a git daemon by its pid: SIGTERM, then SIGKILL after 5 s. A pid that is not a git
 * daemon (any more: pids are reused) is left alone. Returns whether there was one to stop.
 */
export function stopMirror(pid: number): boolean {
  if (!isGitDaemon(commandLine(pid))) return false;
  signal(pid, "SIGTERM");
  const deadline = Date.now() + 5_000;
  while (alive(pid) && Date.now() < deadline) sleepSync(100);
  if (alive(pid)) signal(pid, "SIGKILL");
  return true;
}

/** git daemons serving this lab directory's mirrors, found by their command line (also after a crash lost the state). */
export function mirrorProcesses(labDir: string): number[] {
  const basePath = `--base-path=${mirrorsDir(labDir)}`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      const argv = commandLine(pid);
      return isGitDaemon(argv) && argv.includes(basePath);
    });
}

/** Who listens on TCP port 9418, by local address (from `ss -ltnp`). */
export function listeners(): { address: string; pid?: number; process: string }[] {
  return output("ss", ["-H", "-l", "-t", "-n", "-p", `sport = :${MIRROR_PORT}`])
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const local = line.trim().split(/\s+/)[3] ?? "";
      const address = local
        .slice(0, local.lastIndexOf(":"))
        .replace(/^\[|\]$/g, "")
        .replace(/%.*$/, "");
      const pid = /pid=(\d+)/.exec(line)?.[1];
      return { address, pid: pid ? Number(pid) : undefined, process: /users:\(\("([^"]+)"/.exec(line)?.[1] ?? "an unknown process" };
    });
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

function isGitDaemon(argv: string[]): boolean {
  return argv.length > 0 && (basename(argv[0]) === "git-daemon" || (basename(argv[0]) === "git" && argv[1] === "daemon"));
}

/** Alive and not a zombie (a daemon started by this very process stays one until reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n").trim() || "(its log is empty)";
  } catch {
    return "(no log)";
  }
}
