// The lab's member stacks driven with the real Pulumi CLI. Each member runs only its own
// `pulumi up`; the nodes' sync agents take the peers from the lab's mirror by themselves.
import type { LabState } from "./lab";
import { labPulumiEnv, labStackName, runPulumi } from "./pulumi";

export interface StackOutputs {
  publicKey: string;
  meshIpv4: string;
  meshIpv6: string;
  zones: string[];
  descriptorPath: string;
  federationVersion: number;
}

export class LabStacks {
  /** Everything the CLI printed: the secrets check searches it. */
  readonly transcript: string[] = [];
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly projectDir: string, readonly state: LabState, env: NodeJS.ProcessEnv = process.env) {
    this.env = labPulumiEnv(env);
  }

  stackOf(machine: string): string {
    return labStackName(machine);
  }

  run(args: string[]): { status: number; output: string } {
    const result = runPulumi(this.projectDir, args, this.env);
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
}
