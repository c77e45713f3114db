// The one way the kit runs another program: no shell unless asked, always a timeout, no
// prompt, and one error format naming the command, how it ended and its own last words.
import { spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import { closeSync, openSync } from "node:fs";

export interface RunOptions {
  cwd?: string;
  /** Fed to stdin; without it stdin is empty (a prompt reads nothing and fails, never hangs). */
  input?: string | Buffer;
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  /** false: the environment is `env` alone (with the no-prompt settings), nothing of this process's. */
  inheritEnv?: boolean;
  /** Default 60 s: a command that hangs is an error, not a hung `pulumi up`. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit status is not 0. */
  allowFailure?: boolean;
  maxBuffer?: number;
  /** What the command is for, for the error message ("signing nodes/a1.yaml"). */
  purpose?: string;
}

export interface RunResult {
  command: string;
  args: readonly string[];
  /** null when killed (timeout or signal). */
  status: number | null;
  signal: string | null;
  stdout: string;
  /** stdout as it came, for binary or strictly checked text (run only). */
  stdoutBytes?: Buffer;
  stderr: string;
  timedOut: boolean;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/** A command that did not start, timed out or exited non-zero. */
export class ProcessError extends Error {
  constructor(
    readonly result: RunResult,
    readonly purpose?: string,
    readonly notInstalled = false,
  ) {
    super(describeFailure(result, purpose, notInstalled));
    this.name = "ProcessError";
  }
}

/** The command line as a person would type it, for messages. */
export function commandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** The last non-empty line of what the command said, preferring stderr. */
export function lastWords(result: Pick<RunResult, "stdout" | "stderr">): string {
  const lines = (result.stderr.trim() || result.stdout.trim()).split("\n");
  return lines[lines.length - 1]?.trim() ?? "";
}

function describeFailure(result: RunResult, purpose: string | undefined, notInstalled: boolean): string {
  const what = purpose ? `${purpose}: ` : "";
  const line = commandLine(result.command, result.args);
  const shown = line.length > 160 ? `${line.slice(0, 157)}...` : line;
  if (notInstalled) return `${what}${result.command} is not installed or not on the PATH (running ${shown})`;
  const how = result.timedOut ? "timed out" : result.signal ? `was killed by ${result.signal}` : `exited ${result.status}`;
  const said = lastWords(result);
  return `${what}${shown} ${how}${said ? `: ${said}` : ""}`;
}

function environment(extra: RunOptions["env"], inherit = true): NodeJS.ProcessEnv {
  return { ...(inherit ? process.env : {}), GIT_TERMINAL_PROMPT: "0", SSH_ASKPASS_REQUIRE: "never", ...extra };
}

/** Runs `command args` to its end; throws ProcessError unless it exits 0 (or allowFailure). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): RunResult {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const spawned = spawnSync(command, args, {
    cwd: options.cwd,
    input: options.input ?? "",
    env: environment(options.env, options.inheritEnv),
    timeout,
    maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024,
    stdio: ["pipe", "pipe", "pipe"],
  });
  return settled(command, args, spawned, options);
}

/** `sh -c script`, for the kit's own rendered scripts (values filled in by shellQuote). */
export function runShell(script: string, options: RunOptions = {}): RunResult {
  return run("sh", ["-c", script], options);
}

/** What runAsync takes beyond run's options: what only a child still running allows. */
export interface AsyncRunOptions extends RunOptions {
  /** Each piece of its output as it comes, stdout and stderr alike (progress, one interleaved transcript). */
  onOutput?: (text: string) => void;
  /** In a process group of its own (its pid is the group's id), so the caller can end all of it; a timeout kills the group. */
  detached?: boolean;
  /** Called with its pid once it runs. */
  onStart?: (pid: number) => void;
}

/** As run, without blocking the event loop (probes, servers talked to at once). */
export function runAsync(command: string, args: readonly string[], options: AsyncRunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: environment(options.env, options.inheritEnv),
      stdio: ["pipe", "pipe", "pipe"],
      detached: options.detached ?? false,
    });
    if (child.pid !== undefined) options.onStart?.(child.pid);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const limit = options.maxBuffer ?? 64 * 1024 * 1024;
    const take = (d: string, into: "stdout" | "stderr") => {
      if (into === "stdout" && stdout.length < limit) stdout += d;
      if (into === "stderr" && stderr.length < limit) stderr += d;
      options.onOutput?.(d);
    };
    child.stdout.setEncoding("utf8").on("data", (d: string) => take(d, "stdout"));
    child.stderr.setEncoding("utf8").on("data", (d: string) => take(d, "stderr"));
    const timer = setTimeout(() => {
      timedOut = true;
      killChild(child.pid, options.detached ?? false, () => child.kill("SIGKILL"));
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const result: RunResult = { command, args, status: null, signal: null, stdout, stderr: stderr || error.message, timedOut };
      reject(new ProcessError(result, options.purpose, error.code === "ENOENT"));
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      const result: RunResult = { command, args, status, signal, stdout, stderr, timedOut };
      if (status !== 0 && !options.allowFailure) reject(new ProcessError(result, options.purpose));
      else resolvePromise(result);
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** SIGKILL to the child, or to its whole process group when it has one of its own. */
function killChild(pid: number | undefined, group: boolean, fallback: () => void): void {
  if (!group || pid === undefined) return fallback();
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    fallback();
  }
}

export interface DetachedOptions {
  cwd?: string;
  /** The file its stdout and stderr go to: appended to ("a", the default) or emptied first ("w"). */
  log: string;
  logFlags?: "a" | "w";
  /** Added to this process's environment (or, with inheritEnv false, the whole of it). */
  env?: Record<string, string | undefined>;
  inheritEnv?: boolean;
  /** What it is for, for the error message. */
  purpose?: string;
}

/**
 * Starts a daemon that outlives this call (and may outlive this process): in a session of
 * its own (no terminal, so no prompt; the caller stops it by its pid), stdin empty, its
 * output to a log file. Returns its pid; throws ProcessError when it could not start. The
 * one exception to "always a timeout": a daemon is meant to run until stopped.
 */
export function startDetached(command: string, args: readonly string[], options: DetachedOptions): number {
  const log = openSync(options.log, options.logFlags ?? "a");
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      // Without the no-prompt settings: in a session of its own it has no terminal to prompt on.
      env: { ...(options.inheritEnv === false ? {} : process.env), ...options.env },
      detached: true,
      stdio: ["ignore", log, log],
    });
    // A start that failed is reported here, by the missing pid, not as an unhandled event later.
    child.on("error", () => undefined);
    child.unref();
    if (child.pid === undefined) {
      const result: RunResult = { command, args, status: null, signal: null, stdout: "", stderr: "", timedOut: false };
      throw new ProcessError(result, options.purpose, true);
    }
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Blocks this thread for `ms`: the wait between two polls of a synchronous loop, no process started. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** What runAttached takes: a program on this terminal. */
export interface AttachedOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  /** "terminal": stdin is this process's, for a person to type (no no-prompt settings then); default empty. */
  stdin?: "terminal" | "empty";
  /** "terminal" (the default): shown as it comes; "capture": into the result. Its stderr always shows. */
  stdout?: "terminal" | "capture";
  /** Default none: a person's session, or a build whose progress shows, ends when it ends. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit status is not 0. */
  allowFailure?: boolean;
  /** What the command is for, for the error message. */
  purpose?: string;
}

/**
 * Runs a program on this terminal: its stderr (and by default its stdout) shown as it comes,
 * for a person's session (`boreal lab ssh`) or a long build. The other exception to "always a
 * timeout": someone is watching it. Throws ProcessError as run does.
 */
export function runAttached(command: string, args: readonly string[], options: AttachedOptions = {}): RunResult {
  const typed = options.stdin === "terminal";
  const spawned = spawnSync(command, args, {
    cwd: options.cwd,
    input: typed ? undefined : "",
    env: typed ? { ...process.env, ...options.env } : environment(options.env),
    timeout: options.timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    stdio: [typed ? "inherit" : "pipe", options.stdout === "capture" ? "pipe" : "inherit", "inherit"],
  });
  return settled(command, args, spawned, options);
}

/** A finished synchronous spawn as a RunResult; throws ProcessError as `run` promises. */
function settled(
  command: string,
  args: readonly string[],
  spawned: SpawnSyncReturns<Buffer>,
  options: Pick<RunOptions, "allowFailure" | "purpose">,
): RunResult {
  const code = (spawned.error as NodeJS.ErrnoException | undefined)?.code;
  const result: RunResult = {
    command,
    args,
    status: spawned.status,
    signal: spawned.signal,
    stdout: spawned.stdout?.toString("utf8") ?? "",
    stdoutBytes: spawned.stdout ?? Buffer.alloc(0),
    // Attached commands' stderr went to the terminal: only a failure to start is kept.
    stderr: spawned.stderr?.toString("utf8") || (spawned.error ? String(spawned.error.message) : ""),
    timedOut: code === "ETIMEDOUT",
  };
  if (code === "ENOENT") throw new ProcessError(result, options.purpose, true);
  if (result.status !== 0 && !options.allowFailure) throw new ProcessError(result, options.purpose);
  return result;
}
