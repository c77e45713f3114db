// The one way the lab runs the project's Pulumi CLI: its own binary, the lab passphrase.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Lab stacks are throwaway: their secrets use this passphrase unless one is exported. */
export const LAB_PASSPHRASE = "boreal-lab";

export function labStackName(machine: string): string {
  return `lab-${machine}`;
}

export function labPulumiEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE ?? LAB_PASSPHRASE, PULUMI_SKIP_UPDATE_CHECK: "true" };
}

export function runPulumi(projectDir: string, args: string[], env: NodeJS.ProcessEnv, input?: string): { status: number; output: string } {
  const result = spawnSync(join(projectDir, "node_modules", ".bin", "pulumi"), [...args, "--non-interactive"], { cwd: projectDir, env, input, encoding: "utf8", timeout: 900_000, maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status ?? -1, output: `${result.stdout ?? ""}${result.stderr ?? ""}` };
}

/**
 * The CLI in the background, in a process group of its own (detached), so that the whole
 * of it (launcher, engine, language host, plugins) can be killed at once like a closed laptop.
 */
export function spawnPulumi(projectDir: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<{ status: number; output: string }>; output: () => string } {
  const child = spawn(join(projectDir, "node_modules", ".bin", "pulumi"), [...args, "--non-interactive"], { cwd: projectDir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const done = new Promise<{ status: number; output: string }>((resolve) => child.on("close", (code) => resolve({ status: code ?? -1, output })));
  return { child, done, output: () => output };
}

/** The command provider version package.json pins (boreal.toolchain.commandProvider). */
export function pinnedCommandProvider(projectDir: string): string {
  return (JSON.parse(readFileSync(join(projectDir, "package.json"), "utf8")) as { boreal: { toolchain: { commandProvider: string } } }).boreal.toolchain.commandProvider;
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
  if (spawnSync(pulumi, ["plugin", "install", "resource", "command", version], { stdio: "inherit" }).status === 0 && commandPluginInstalled(projectDir)) return;
  throw new Error(`the real pulumi up needs the command provider plugin ${version}, and it could not be installed (no internet?). See the README's "Offline machines" section.`);
}
