// The one way the kit runs another program: no shell unless asked, always a timeout, no
// prompt, and one error format naming the command, how it ended and its own last words.
import { spawn, spawnSync } from "node:child_process";

export interface RunOptions {
  cwd?: string;
  /** Fed to stdin; without it stdin is empty (a prompt reads nothing and fails, never hangs). */
  input?: string | Buffer;
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
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

function environment(extra: RunOptions["env"]): NodeJS.ProcessEnv {
  return { ...process.env, GIT_TERMINAL_PROMPT: "0", SSH_ASKPASS_REQUIRE: "never", ...extra };
}

/** Runs `command args` to its end; throws ProcessError unless it exits 0 (or allowFailure). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): RunResult {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const spawned = spawnSync(command, args, {
    cwd: options.cwd,
    input: options.input ?? "",
    env: environment(options.env),
    timeout,
    maxBuffer: options.maxBuffer ?? 64 * 1024 * 1024,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const code = (spawned.error as NodeJS.ErrnoException | undefined)?.code;
  const result: RunResult = {
    command,
    args,
    status: spawned.status,
    signal: spawned.signal,
    stdout: spawned.stdout?.toString("utf8") ?? "",
    stdoutBytes: spawned.stdout ?? Buffer.alloc(0),
    stderr: spawned.stderr?.toString("utf8") || (spawned.error ? String(spawned.error.message) : ""),
    timedOut: code === "ETIMEDOUT",
  };
  if (code === "ENOENT") throw new ProcessError(result, options.purpose, true);
  if (result.status !== 0 && !options.allowFailure) throw new ProcessError(result, options.purpose);
  return result;
}

/** `sh -c script`, for the kit's own rendered scripts (values filled in by shellQuote). */
export function runShell(script: string, options: RunOptions = {}): RunResult {
  return run("sh", ["-c", script], options);
}

/** As run, without blocking the event loop (probes, servers talked to at once). */
export function runAsync(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: environment(options.env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const limit = options.maxBuffer ?? 64 * 1024 * 1024;
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout.length < limit ? (stdout += d) : undefined));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr.length < limit ? (stderr += d) : undefined));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
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
