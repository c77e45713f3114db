// The one error type of every `boreal` verb and the one way a failure is printed: what is
// wrong, where (the option, file or config key), the fix, and the exit code it means.
import { BorealConfigError } from "../core/values/problems";
import { escapeText } from "../core/values/escape";
import { ProcessError } from "../io/process";
import { CliIo, neutralize } from "./output";

/** The exit codes every verb shares (printed in `boreal --help`). */
export const EXIT = {
  /** Done; a check found nothing wrong. */
  ok: 0,
  /** A check ran and found a problem (or what it checked is unhealthy). */
  problem: 1,
  /** Nothing done: bad usage or input (or a bug in boreal, said as one). */
  usage: 2,
  /** The check could not run: something did not answer, or a tool is missing or failed. */
  unavailable: 3,
  /** Nothing wrong, but something waits: a proposed federation version is still collecting signatures. */
  pending: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_USAGE = `exit codes, the same for every verb:
  0  done; the check found nothing wrong
  1  the check ran and found a problem (objects rejected, the federation unhealthy, a label that does not hold)
  2  nothing done: unknown verb or option, a missing or bad value, unreadable or invalid input, a refusal (or a bug in boreal, said as one)
  3  the check could not run: a node, mirror or server did not answer, or a tool (git, ssh, pulumi) is missing or failed
  4  nothing wrong, something waits: a proposed federation version is collecting signatures (registry check; a registry's CI may accept it)`;

/**
 * usage: misused (an unknown option, a missing value): the usage is printed too. input: an
 * input file or value is wrong, or the command refuses. unavailable: something needed did
 * not answer. problem: what was checked is wrong.
 */
export type ErrorKind = "usage" | "input" | "unavailable" | "problem";

export interface ErrorDetails {
  /** The option, file or config key at fault, e.g. "--trust" or "federation/2.yaml". */
  where?: string;
  /** What to do, in the user's words: a command, an option, a file to mend. */
  fix?: string;
  /** Default "input". */
  kind?: ErrorKind;
}

const KIND_EXIT: Record<ErrorKind, ExitCode> = {
  usage: EXIT.usage,
  input: EXIT.usage,
  unavailable: EXIT.unavailable,
  problem: EXIT.problem,
};

/** Something the user can act on: what is wrong, where, and the fix. */
export class BorealError extends Error {
  readonly where?: string;
  readonly fix?: string;
  readonly kind: ErrorKind;

  constructor(what: string, details: ErrorDetails = {}) {
    super(what);
    this.name = "BorealError";
    this.where = details.where;
    this.fix = details.fix;
    this.kind = details.kind ?? "input";
  }

  get exitCode(): ExitCode {
    return KIND_EXIT[this.kind];
  }

  /** The first line printed: the message, led by `where` unless it names it already. */
  get headline(): string {
    return this.where === undefined || this.message.includes(this.where) ? this.message : `${this.where}: ${this.message}`;
  }
}

/** Misuse: the usage is printed after the message. */
export const usageError = (what: string, fix = "see the usage below", where?: string) =>
  new BorealError(what, { kind: "usage", fix, where });

/** Bad input or a refusal: nothing was done. */
export const inputError = (what: string, fix?: string, where?: string) => new BorealError(what, { kind: "input", fix, where });

/** Something needed did not answer or is missing: the same command may work later. */
export const unavailableError = (what: string, fix: string, where?: string) => new BorealError(what, { kind: "unavailable", fix, where });

/** BOREAL_DEBUG=1: an internal error shows its stack trace. */
export const DEBUG_VARIABLE = "BOREAL_DEBUG";
const debugging = (env: NodeJS.ProcessEnv) => ["1", "true", "yes"].includes((env[DEBUG_VARIABLE] ?? "").toLowerCase());

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: "does not exist",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "the name is too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EEXIST: "already exists",
  EIO: "input/output error",
  EBUSY: "busy",
  ETIMEDOUT: "timed out",
  ECONNREFUSED: "connection refused",
  EHOSTUNREACH: "host unreachable",
  ENOTFOUND: "name not found",
};

/** System errors of the network: what was asked did not answer. */
const NETWORK_ERRORS = new Set(["ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND"]);
const isNetworkError = (error: unknown) => NETWORK_ERRORS.has(String((error as NodeJS.ErrnoException | undefined)?.code));

/** A refusal of the system (a missing file, a permission), in words; undefined for anything else. */
export function systemErrorText(error: unknown, withPath = true): string | undefined {
  const e = error as NodeJS.ErrnoException;
  if (
    !(error instanceof Error) ||
    typeof e.code !== "string" ||
    !/^E[A-Z]+$/.test(e.code) ||
    (e.syscall === undefined && !(e.code in SYSTEM_ERRORS))
  )
    return undefined;
  const what = SYSTEM_ERRORS[e.code] ?? "failed";
  const where = withPath && typeof e.path === "string" ? `${escapeText(e.path)}: ` : "";
  return `${where}${what} (${e.code}${e.syscall ? `, ${escapeText(e.syscall)}` : ""})`;
}

/** A message written for people: the kit's own errors, a program's failure, or a plain Error the kit threw with its words. */
function isWrittenForPeople(error: unknown): error is Error {
  if (error instanceof BorealError || error instanceof BorealConfigError || error instanceof ProcessError) return true;
  return error instanceof Error && Object.getPrototypeOf(error) === Error.prototype && (error as NodeJS.ErrnoException).code === undefined;
}

/**
 * The exit code an error means: its kind for a BorealError; the network's refusals, a program
 * that did not run or answer, or a plain Error of the lab's: could not run (3); a bad config
 * or a refusal of the file system: bad input (2); a bug: 2 as well, said as one.
 */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof BorealError) return error.exitCode;
  if (systemErrorText(error) !== undefined && isNetworkError(error)) return EXIT.unavailable;
  if (error instanceof BorealConfigError || systemErrorText(error) !== undefined) return EXIT.usage;
  if (error instanceof ProcessError) return EXIT.unavailable;
  if (isWrittenForPeople(error)) return EXIT.unavailable;
  return EXIT.usage;
}

/**
 * What a failed command prints: bad input and the system's refusals in words, with their fix;
 * anything else is a bug in the kit, said as such, without Node.js's own message or a stack
 * trace unless BOREAL_DEBUG=1 asks for them. Every line is safe for a terminal.
 */
export function failureLines(command: string, error: unknown, env: NodeJS.ProcessEnv = process.env): string[] {
  const lines: string[] = [];
  const system = systemErrorText(error);
  if (system !== undefined) {
    const fix = isNetworkError(error) ? "check that it is up and reachable from here" : "check the path and its permissions";
    lines.push(`${command}: ${system}`, `  fix: ${fix}, then run the command again`);
  } else if (isWrittenForPeople(error)) {
    lines.push(...`${command}: ${error instanceof BorealError ? error.headline : error.message}`.split("\n"));
    if (error instanceof BorealError && error.fix) lines.push(`  fix: ${error.fix}`);
  } else {
    lines.push(
      `${command}: internal error: this is a bug in boreal-kit, not a problem with your input`,
      `  fix: run the command again with ${DEBUG_VARIABLE}=1 to see the error and its stack trace, and report them with the command you ran`,
    );
    if (debugging(env)) {
      const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
      lines.push(...`${DEBUG_VARIABLE}: ${detail}`.split("\n"));
    }
  }
  return lines.map(neutralize);
}

/** The one handler of a failed command: its lines, the usage when it was misused; returns the exit code. */
export function reportFailure(command: string, usage: string, error: unknown, io: CliIo, env: NodeJS.ProcessEnv = process.env): number {
  for (const line of failureLines(command, error, env)) io.err(line);
  if (error instanceof BorealError && error.kind === "usage") io.err(`usage:\n${usage}`);
  return exitCodeOf(error);
}
