// A service's files, then one command that applies them (create and update) and undoes
// that on delete. Monitoring and Firewall are components of only this; SyncAgent waits
// for the WireGuard key as well.
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import type { AgentProgram } from "../../agent/bundle";
import { nodeCommand } from "./ssh";
import { hashesOf, nodeFiles } from "./files";
import { serviceScripts, ServiceScripts } from "../../core/node/scripts";
import type { TemplateSources } from "../../core/node/render";
import { AGENT, RenderedFile } from "../../core/node/layout";

export interface ServiceArgs extends ServiceScripts {
  connection: types.input.remote.ConnectionArgs;
  files: RenderedFile[];
  templates: TemplateSources;
}

export interface FilesAndApplyOptions {
  parent: pulumi.Resource;
  /** What the files wait for (besides the component's own dependencies). */
  filesAfter?: pulumi.Resource[];
  /** What the apply waits for besides the files. */
  applyAfter?: pulumi.Resource[];
  /** More text whose change re-runs the apply command. */
  alsoAfter?: pulumi.Input<string>;
}

/** Children `${name}-file-<path>` and `${name}-apply`. */
export function filesAndApply(
  name: string,
  args: ServiceArgs,
  options: FilesAndApplyOptions,
): { files: pulumi.Resource[]; applied: pulumi.Resource } {
  const files = nodeFiles(
    name,
    { files: args.files, connection: args.connection, templates: args.templates },
    { parent: options.parent, dependsOn: options.filesAfter },
  );
  // The files' hashes ride in a comment of the command: a changed file changes the command,
  // which the provider runs as an update. (`triggers` would replace the resource instead,
  // create-before-delete, and the old resource's delete would undo the new apply.)
  const apply = pulumi.interpolate`# boreal: after ${hashesOf(args.files)} ${options.alsoAfter ?? ""}\n${args.apply}`;
  const applied = nodeCommand(
    `${name}-apply`,
    { connection: args.connection, create: apply, update: apply, delete: args.undo },
    { parent: options.parent, dependsOn: [...files, ...(options.applyAfter ?? [])] },
  );
  return { files, applied };
}

export abstract class NodeService extends pulumi.ComponentResource {
  readonly applied: pulumi.Resource;

  protected constructor(
    type: string,
    name: string,
    args: ServiceArgs & Pick<FilesAndApplyOptions, "applyAfter">,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, name, {}, opts);
    this.applied = filesAndApply(name, args, { parent: this, applyAfter: args.applyAfter }).applied;
    this.registerOutputs({});
  }
}

type ComponentArgs = Omit<ServiceArgs, "apply" | "undo">;
/** A service whose apply also waits for something besides its files (Monitoring: the agent's run). */
type WaitingComponentArgs = ComponentArgs & Pick<FilesAndApplyOptions, "applyAfter">;

export class Monitoring extends NodeService {
  constructor(name: string, args: WaitingComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:monitoring:Monitoring", name, { ...args, ...serviceScripts(args.templates).monitoring }, opts);
  }
}

/**
 * The sync agent: its program, its config (the node's own settings) and a seed of the
 * registry as this `pulumi up` saw it, then one run that applies WireGuard and Knot. The
 * agent's timer keeps the peer set current afterwards, with no `pulumi up` anywhere.
 */
export class SyncAgent extends pulumi.ComponentResource {
  readonly applied: pulumi.Resource;
  /** Its program and files on the node: what its run waits for. */
  readonly written: pulumi.Resource[];

  constructor(
    name: string,
    args: ComponentArgs & { program: AgentProgram; after: pulumi.Resource[] },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("boreal:sync:SyncAgent", name, {}, opts);
    // A file asset: the state keeps the bundle's hash, not its text.
    const program = new remote.CopyToRemote(
      `${name}-program`,
      { connection: args.connection, source: new pulumi.asset.FileAsset(args.program.path), remotePath: AGENT.program },
      { parent: this, dependsOn: args.after },
    );
    const { files, applied } = filesAndApply(
      name,
      { connection: args.connection, files: args.files, templates: args.templates, ...serviceScripts(args.templates).agent },
      // A new program is a new run, though no file changed. A rotated key is not: the key's
      // own switch puts it in use (src/program/components/wireguard.ts).
      {
        parent: this,
        filesAfter: [...args.after, program],
        alsoAfter: pulumi.interpolate`program:${args.program.hash}`,
      },
    );
    this.applied = applied;
    this.written = [program, ...files];
    this.registerOutputs({});
  }
}

export class Firewall extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:firewall:Firewall", name, { ...args, ...serviceScripts(args.templates).firewall }, opts);
  }
}
