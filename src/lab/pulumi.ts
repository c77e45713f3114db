// The one way the lab runs the project's Pulumi CLI: its own binary, the lab passphrase.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lastWords, ProcessError, run, runAsync, RunResult } from "../io/process";

/** Lab stacks are throwaway: their secrets use this passphrase unless one is exported. */
export const LAB_PASSPHRASE = "boreal-lab";

export function labStackName(machine: string): string {
  return `lab-${machine}`;
}

export function labPulumiEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE ?? LAB_PASSPHRASE, PULUMI_SKIP_UPDATE_CHECK: "true" };
}

/** A lab `pulumi up` of a fresh node takes minutes: one still running after a quarter of an hour hangs. */
export const PULUMI_TIMEOUT_MS = 900_000;
/** What the CLI may print (a `--diff` of every resource of a lab stack). */
const PULUMI_MAX_BUFFER = 256 * 1024 * 1024;

const pulumiBin = (projectDir: string) => join(projectDir, "node_modules", ".bin", "pulumi");

/** A run of the CLI as the lab reports it: its exit status (-1: killed, timed out or not run) and all it said. */
export interface PulumiRun {
  status: number;
  output: string;
}

const killedNote = (result: RunResult) => (result.timedOut ? `\n(killed: no end within ${PULUMI_TIMEOUT_MS / 1000} s)` : "");

function pulumiRun(result: RunResult): PulumiRun {
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}${killedNote(result)}` };
}

/** `env` is the CLI's whole environment (labPulumiEnv), nothing else of this process's. */
export function runPulumi(projectDir: string, args: string[], env: NodeJS.ProcessEnv, input?: string): PulumiRun {
  try {
    const options = {
      cwd: projectDir,
      env,
      inheritEnv: false,
      input,
      timeoutMs: PULUMI_TIMEOUT_MS,
      maxBuffer: PULUMI_MAX_BUFFER,
      allowFailure: true,
    };
    return pulumiRun(run(pulumiBin(projectDir), [...args, "--non-interactive"], options));
  } catch (error) {
    if (error instanceof ProcessError) return { status: -1, output: error.message };
    throw error;
  }
}

/**
 * The CLI in the background, in a process group of its own (detached), so that the whole
 * of it (launcher, engine, language host, plugins) can be killed at once like a closed laptop:
 * `pid` is the group's id. `output` is what it has said so far, stdout and stderr as they came.
 */
export function spawnPulumi(
  projectDir: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { pid: number | undefined; done: Promise<PulumiRun>; output: () => string } {
  let output = "";
  let pid: number | undefined;
  const done = runAsync(pulumiBin(projectDir), [...args, "--non-interactive"], {
    cwd: projectDir,
    env,
    inheritEnv: false,
    detached: true,
    timeoutMs: PULUMI_TIMEOUT_MS,
    maxBuffer: PULUMI_MAX_BUFFER,
    allowFailure: true,
    onStart: (started) => (pid = started),
    onOutput: (text) => (output += text),
  }).then(
    (result) => ({ status: result.status ?? -1, output: `${output}${killedNote(result)}` }),
    (error: Error) => ({ status: -1, output: `${output}${error.message}` }),
  );
  return { pid, done, output: () => output };
}

/** The command provider version package.json pins (boreal.toolchain.commandProvider). */
export function pinnedCommandProvider(projectDir: string): string {
  return (JSON.parse(readFileSync(join(projectDir, "package.json"), "utf8")) as { boreal: { toolchain: { commandProvider: string } } })
    .boreal.toolchain.commandProvider;
}

/** Whether the pinned command provider plugin is installed for the project's CLI. */
export function commandPluginInstalled(projectDir: string): boolean {
  const version = pinnedCommandProvider(projectDir);
  const listed = runPulumi(projectDir, ["plugin", "ls", "--json"], labPulumiEnv());
  if (listed.status !== 0) return false;
  try {
    return (JSON.parse(listed.output) as { name: string; version: string }[]).some((p) => p.name === "command" && p.version === version);
  } catch {
    return false;
  }
}

/** The real `pulumi up` needs the pinned command provider plugin: installed when missing. */
export function ensureCommandPlugin(projectDir: string, log: (line: string) => void): void {
  if (commandPluginInstalled(projectDir)) return;
  const version = pinnedCommandProvider(projectDir);
  log(`installing the command provider plugin ${version} (pulumi plugin install)`);
  const pulumi = join(projectDir, "node_modules/.bin/pulumi");
  let install: RunResult;
  try {
    // A download of a few tens of MB from the provider's releases.
    install = run(pulumi, ["plugin", "install", "resource", "command", version], { timeoutMs: 600_000, allowFailure: true });
  } catch (error) {
    if (!(error instanceof ProcessError)) throw error;
    install = error.result;
  }
  // What it said goes to the lab's log, with the rest of the lab's progress.
  for (const line of `${install.stdout}${install.stderr}`.split("\n").filter((l) => l.trim())) log(`  ${line}`);
  if (install.status === 0 && commandPluginInstalled(projectDir)) return;
  const said = lastWords(install);
  throw new Error(
    `the real pulumi up needs the command provider plugin ${version}, and it could not be installed (no internet?)${said ? `: ${said}` : ""}. ` +
      `See docs/how-to/offline-toolchain.md.`,
  );
}
