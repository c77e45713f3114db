// The lab's member stacks driven with the real Pulumi CLI. Each member runs only its own
// `pulumi up`; the nodes' sync agents take the peers from the lab's mirror by themselves.
import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { LabState } from "./lab";
import type { RegistrarView } from "../core/dns/delegation";
import { labPulumiEnv, labStackName, runPulumi, spawnPulumi } from "./pulumi";

export interface StackOutputs {
  publicKey: string;
  meshIpv4: string;
  meshIpv6: string;
  zones: string[];
  descriptorPath: string;
  federationVersion: number;
  /** Per zone: what the member gives its registrar (src/program/index.ts). */
  delegations: Record<string, RegistrarView>;
}

export class LabStacks {
  /** Everything the CLI printed: the secrets check searches it. */
  readonly transcript: string[] = [];
  private readonly env: NodeJS.ProcessEnv;

  /**
   * `project`: the one Pulumi project of every stack (the kit's checkout, a workspace), or each
   * stack's own, by stack name: members' projects as `boreal init` makes them.
   */
  constructor(
    private readonly project: string | Readonly<Record<string, string>>,
    readonly state: LabState,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.env = labPulumiEnv(env);
  }

  stackOf(machine: string): string {
    return labStackName(machine);
  }

  /** The project a command runs in: the stack's, named by its -s. */
  projectOf(args: readonly string[]): string {
    if (typeof this.project === "string") return this.project;
    const at = args.findIndex((arg) => arg === "-s" || arg === "--stack");
    const dir = at >= 0 ? this.project[args[at + 1]] : undefined;
    if (dir === undefined)
      throw new Error(
        `pulumi ${args.join(" ")}: each stack is in its member's project; name one with -s (${Object.keys(this.project).join(", ")})`,
      );
    return dir;
  }

  run(args: string[]): { status: number; output: string } {
    const result = runPulumi(this.projectOf(args), args, this.env);
    this.transcript.push(`$ pulumi ${args.join(" ")}\n${result.output}`);
    return result;
  }

  must(args: string[]): string {
    const result = this.run(args);
    if (result.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${result.status}):\n${result.output}`);
    return result.output;
  }

  up(machine: string): StackOutputs {
    this.must(["up", "--yes", "--skip-preview", "-s", this.stackOf(machine)]);
    return JSON.parse(this.must(["stack", "output", "--json", "-s", this.stackOf(machine)])) as StackOutputs;
  }

  unchanged(machine: string): boolean {
    return this.preview(machine).status === 0;
  }

  /** `pulumi preview --expect-no-changes --diff`: what would change, if anything. */
  preview(machine: string): { status: number; output: string } {
    return this.run(["preview", "--expect-no-changes", "--diff", "-s", this.stackOf(machine)]);
  }

  /** `pulumi up` in the background. */
  upAsync(machine: string): Promise<{ status: number; output: string }> {
    const args = ["up", "--yes", "--skip-preview", "-s", this.stackOf(machine)];
    const { done } = spawnPulumi(this.projectOf(args), args, this.env);
    return done.then((result) => {
      this.transcript.push(`$ pulumi ${args.join(" ")}\n${result.output}`);
      return result;
    });
  }

  /** The stack's outputs, read in the background. */
  async outputsAsync(machine: string): Promise<StackOutputs> {
    const args = ["stack", "output", "--json", "-s", this.stackOf(machine)];
    const result = await spawnPulumi(this.projectOf(args), args, this.env).done;
    if (result.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${result.status}):\n${result.output}`);
    return JSON.parse(result.output) as StackOutputs;
  }

  /**
   * Starts `pulumi up` and kills its whole process group (SIGKILL, by its id) once a step
   * is under way on the node, and at least `ms` after the start: a fixed delay alone could
   * miss a run that finishes early.
   */
  async killDuring(machine: string, ms: number): Promise<string> {
    const args = ["up", "--yes", "--skip-preview", "-s", this.stackOf(machine)];
    const { pid: group, done, output } = spawnPulumi(this.projectOf(args), args, this.env);
    let finished = false;
    void done.then(() => (finished = true));
    const started = Date.now();
    while (!finished && (Date.now() - started < ms || !/(updating|creating) \(/.test(output())))
      await new Promise((r) => setTimeout(r, 100));
    if (finished || group === undefined) throw new Error(`pulumi up ended before it could be interrupted:\n${output()}`);
    // Pulumi starts its plugins in process groups of their own: the group's kill would leave
    // the command provider running, orphaned. A closed laptop ends them all; so does this.
    const plugins = descendants(group);
    process.kill(-group, "SIGKILL");
    for (const pid of plugins) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Ended with its group.
      }
    }
    const result = await done;
    this.transcript.push(`$ pulumi ${args.join(" ")} (killed after ${Date.now() - started} ms)\n${result.output}`);
    return `killed after ${((Date.now() - started) / 1000).toFixed(1)} s with a step under way`;
  }

  /**
   * The recovery after an interrupted `pulumi up` (docs/how-to/recover-an-interrupted-up.md):
   * run it again; if the stack is still locked by the dead run, `pulumi cancel`, then run it again.
   */
  recover(machine: string): string {
    const stack = this.stackOf(machine);
    const first = this.run(["up", "--yes", "--skip-preview", "-s", stack]);
    if (first.status === 0) return "the re-run converged at once";
    let restored = "";
    if (/failed to load checkpoint/i.test(first.output)) {
      // Killed while the CLI wrote the stack's state: the how-to's step puts back the copy it keeps.
      restored = `its checkpoint put back from ${restoreCheckpoint(this.backendDir(stack), stack)}; `;
    } else if (!/currently locked|locked by/i.test(first.output))
      throw new Error(`pulumi up after the interruption failed, and not because of a lock:\n${first.output}`);
    this.must(["cancel", "--yes", "-s", stack]);
    this.must(["up", "--yes", "--skip-preview", "-s", stack]);
    return `the re-run found the stack locked; ${restored}pulumi cancel, then pulumi up converged`;
  }

  /** The stack's file:// backend directory: PULUMI_BACKEND_URL's, which Pulumi prefers, else its project's (Pulumi.yaml). */
  private backendDir(stack: string): string {
    const project = this.projectOf(["-s", stack]);
    const url = this.env.PULUMI_BACKEND_URL ?? /^\s+url:\s*(\S+)/m.exec(readFileSync(join(project, "Pulumi.yaml"), "utf8"))?.[1] ?? "";
    if (!url.startsWith("file://")) throw new Error(`the stack's backend ${url || "(none)"} is no file:// directory`);
    return url.slice("file://".length).replace(/^~(?=\/)/, homedir());
  }
}

/**
 * Puts back the copy of a stack's checkpoint that Pulumi's file backend keeps beside it
 * (`<stack>.json.bak`, the state before the last write): what a run killed in the middle of
 * writing the state leaves readable. Returns the copy's path.
 */
export function restoreCheckpoint(backendDir: string, stack: string): string {
  const stacks = join(backendDir, ".pulumi", "stacks");
  const backup = readdirSync(stacks, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name === `${stack}.json.bak`)
    .map((e) => join(e.parentPath, e.name))[0];
  if (backup === undefined) throw new Error(`no ${stack}.json.bak under ${stacks}: nothing to put back`);
  copyFileSync(backup, backup.replace(/\.bak$/, ""));
  return backup;
}

/** Every process below `pid`, children first, read from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0;) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}
