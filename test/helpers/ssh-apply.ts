// Applies a node the way BorealNode does — the same plan, rendered files and on-node
// scripts, in the same order (host → key → files → apply, monitoring after WireGuard) —
// but over plain SSH instead of the command provider, which cannot be installed here.
// It exists so the lab can check what the servers really do with what the kit renders.
import { labExec, LabMachine, LabState } from "../../src/lab/lab";
import type { NodePlan } from "../../src/model/plan";
import type { FileRole, RenderedFile } from "../../src/render";
import { HOST_PROBE, installScript, KEY_DELETE, keyScript, packagesScript, removeScript, SERVICE_SCRIPTS } from "../../src/render/scripts";

const ORDER: FileRole[] = ["wireguard", "dns", "firewall", "monitoring"];

export class SshApplier {
  /** Everything the servers printed: the secrets test searches it. */
  readonly transcript: string[] = [];

  constructor(private readonly state: LabState, private readonly dir: string) {}

  run(machine: LabMachine, script: string, input?: string): string {
    const result = labExec(this.state, machine, script, this.dir, input);
    this.transcript.push(`$ [${machine.name}] ${script.split("\n")[0]}\n${result.output}`);
    if (result.status !== 0) {
      throw new Error(`on ${machine.name} (exit ${result.status}):\n${script}\n--- the server said:\n${result.output}\nLook closer: npm run lab -- ssh ${machine.name}`);
    }
    return result.output;
  }

  /** Returns the node's WireGuard public key, as the key command's stdout. */
  apply(machine: LabMachine, plan: NodePlan, files: RenderedFile[]): string {
    this.run(machine, HOST_PROBE);
    this.run(machine, packagesScript());
    const publicKey = this.run(machine, keyScript(plan.keyEpoch)).trim();
    for (const role of ORDER) {
      const mine = files.filter((f) => f.role === role);
      if (mine.length === 0) continue;
      for (const file of mine) this.run(machine, installScript(file), file.content);
      this.run(machine, SERVICE_SCRIPTS[role].apply);
    }
    return publicKey;
  }

  /** What `pulumi destroy` runs: deletes in reverse dependency order. */
  destroy(machine: LabMachine, files: RenderedFile[]): void {
    for (const role of [...ORDER].reverse()) {
      const mine = files.filter((f) => f.role === role);
      if (mine.length === 0) continue;
      this.run(machine, SERVICE_SCRIPTS[role].undo);
      for (const file of mine) this.run(machine, removeScript(file));
    }
    this.run(machine, KEY_DELETE);
  }
}
