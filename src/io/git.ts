// The one git wrapper: `git -C dir`, never a prompt, never an optional lock for a read,
// C locale (messages are parsed), a timeout, and git's own last words in the error.
import { run, RunOptions, RunResult } from "./process";

export const GIT_TIMEOUT_MS = 60_000;

export interface GitOptions extends Pick<RunOptions, "input" | "timeoutMs" | "allowFailure" | "maxBuffer" | "purpose"> {
  /** Author for commits made by the kit (a node, the operator's tooling). */
  author?: { name: string; email: string };
}

/** Runs `git -C dir args` and returns the whole result (stdout as text and bytes). */
export function gitRun(dir: string, args: readonly string[], options: GitOptions = {}): RunResult {
  const identity = options.author ? ["-c", `user.name=${options.author.name}`, "-c", `user.email=${options.author.email}`] : [];
  return run("git", ["-C", dir, ...identity, ...args], {
    timeoutMs: options.timeoutMs ?? GIT_TIMEOUT_MS,
    input: options.input,
    allowFailure: options.allowFailure,
    maxBuffer: options.maxBuffer,
    purpose: options.purpose,
    env: { GIT_OPTIONAL_LOCKS: "0", LC_ALL: "C" },
  });
}

/** `git -C dir args`'s stdout; throws ProcessError when git fails. */
export function git(dir: string, args: readonly string[], options: GitOptions = {}): string {
  return gitRun(dir, args, options).stdout;
}
