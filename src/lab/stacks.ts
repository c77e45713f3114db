// The lab's member stacks driven with the real Pulumi CLI: join in turn, then re-apply
// until every preview is empty (peers learn about new nodes only by re-applying, for now).
import type { LabState } from "./lab";
import { labPulumiEnv, labStackName, runPulumi } from "./pulumi";

export interface StackOutputs {
  publicKey: string;
  meshIpv4: string;
  meshIpv6: string;
  zones: string[];
  descriptorPath: string;
}

export class LabStacks {
  /** Everything the CLI printed: the secrets check searches it. */
  readonly transcript: string[] = [];
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly projectDir: string, private readonly state: LabState, env: NodeJS.ProcessEnv = process.env) {
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
    return this.run(["preview", "--expect-no-changes", "-s", this.stackOf(machine)]).status === 0;
  }

  /** Re-applies (pulumi up, no config change) until no stack has changes; returns how many. */
  converge(machines: string[] = this.state.machines.map((m) => m.name), onApply: (machine: string, outputs: StackOutputs) => void = () => {}): number {
    let reapplies = 0;
    for (let round = 0; round < 5; round++) {
      const stale = machines.filter((m) => !this.unchanged(m));
      if (stale.length === 0) return reapplies;
      for (const machine of stale) onApply(machine, this.up(machine));
      reapplies += stale.length;
    }
    throw new Error("the lab federation did not converge in 5 rounds of re-applies");
  }
}
