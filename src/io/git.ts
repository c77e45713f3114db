// The one git wrapper: `git -C dir`, never a prompt, never an optional lock for a read,
// C locale (messages are parsed), a timeout, and git's own last words in the error.
import { lastWords, run, RunOptions, RunResult, runShell } from "./process";

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

/**
 * The one commit-and-push-with-retry of registry files, templates/run/registry-publish.sh.hbs:
 * shell, because `pulumi destroy` runs the registration's command as it was stored. The
 * registration gives it to a Pulumi command; a node's agent runs it through commitAndPush.
 */
export const REGISTRY_PUBLISH_TEMPLATE = "run/registry-publish.sh.hbs";

export interface RegistryPublish {
  /** The registry clone (or the agent's checkout of a mirror) to commit in. */
  registry: string;
  /** Paths in it to commit; the first names them in messages. */
  files: string[];
  message: string;
  /** The git remote (a name or a URL) to push to; "": only write, the member pushes. */
  publish: string;
  /** A node object to write first, as nodes/<node>.yaml and its .sig (the registration's). */
  object?: { node: string; content: string; signature: string };
}

export interface PushOptions {
  /** The branch pushed to; "HEAD": the one the remote's HEAD names; default the clone's own. */
  branch?: string;
  /** Pushes tried before giving up (the script's default: 12). */
  attempts?: number;
  /** Seconds each git command that talks to the remote may take (needs coreutils' timeout). */
  gitTimeoutSeconds?: number;
}

/**
 * The script's environment: its whole interface (no value goes into its text). Every variable
 * it reads is set, empty when unused, so that none comes from the caller's own environment.
 */
export function registryPublishEnv(what: RegistryPublish, options: PushOptions = {}): Record<string, string> {
  return {
    REGISTRY: what.registry,
    FILES: what.files.join(" "),
    MESSAGE: what.message,
    PUBLISH: what.publish,
    NODE: what.object?.node ?? "",
    CONTENT: what.object?.content ?? "",
    SIGNATURE: what.object?.signature ?? "",
    BRANCH: options.branch ?? "",
    ATTEMPTS: options.attempts === undefined ? "" : String(options.attempts),
    GIT_TIMEOUT: options.gitTimeoutSeconds === undefined ? "" : String(options.gitTimeoutSeconds),
    REPORT: "",
  };
}

export interface PushResult {
  published: boolean;
  /** "pushed", "pushed (attempt N)" or "not published: <why>" (or, with no remote, what was written). */
  outcome: string;
}

/** Runs the script (the template's text) for a program: bounded as a whole, its outcome read back; never throws for git. */
export function commitAndPush(script: string, what: RegistryPublish, options: PushOptions & Pick<GitOptions, "author"> = {}): PushResult {
  const attempts = options.attempts ?? 12;
  const perCommand = options.gitTimeoutSeconds ?? GIT_TIMEOUT_MS / 1000;
  const author = options.author;
  const identity = author && {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  const env = { ...registryPublishEnv(what, options), REPORT: "1", LC_ALL: "C", ...identity };
  // Each attempt a push and a pull, the branch asked once, and the waits between them.
  const timeoutMs = ((2 * attempts + 1) * perCommand + 2 * attempts) * 1000;
  const result = runShell(script, { env, allowFailure: true, timeoutMs, purpose: `publishing ${what.files[0]}` });
  const lines = result.stdout.trim().split("\n");
  const said = lines[lines.length - 1] ?? "";
  if (result.status === 0) return { published: true, outcome: said || "pushed" };
  if (said.startsWith("not published: ")) return { published: false, outcome: said };
  const why = result.timedOut ? `no end within ${timeoutMs / 1000} s` : lastWords(result) || `exited ${result.status}`;
  return { published: false, outcome: `not published: ${why}` };
}
