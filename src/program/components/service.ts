// A service's files, then one command that applies them (create and update) and undoes
// that on delete. Monitoring and Firewall are components of only this; SyncAgent waits
// for the WireGuard key as well.
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { renderScript } from "../../core/node/render";
import type { AgentProgram } from "../../agent/bundle";
import { NodeConnection, nodeCommand } from "./ssh";
import { hashesOf, nodeFiles } from "./files";
import { serviceScripts, ServiceScripts } from "../../core/node/scripts";
import type { TemplateSources } from "../../core/node/render";
import { AGENT, RenderedFile } from "../../core/node/layout";

export interface ServiceArgs extends ServiceScripts {
  connection: NodeConnection;
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
    const program = agentProgram(name, args, { parent: this, dependsOn: args.after });
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

/** Where a user other than root gets the agent's program over SFTP (relative: in its home), before sudo installs it. */
export const STAGED_PROGRAM = ".boreal-agent.js";

/**
 * The agent's program on the node, as a file asset: the state keeps the bundle's hash, not
 * its text. Root copies it in place; another user copies it into its home (SFTP runs as the
 * user, who may not write /usr/local) and a command installs it through sudo.
 */
function agentProgram(
  name: string,
  args: { connection: NodeConnection; templates: TemplateSources; program: AgentProgram },
  opts: pulumi.CustomResourceOptions,
): pulumi.Resource {
  const root = args.connection.user === "root";
  const copy = new remote.CopyToRemote(
    `${name}-program`,
    {
      connection: args.connection,
      source: new pulumi.asset.FileAsset(args.program.path),
      remotePath: root ? AGENT.program : STAGED_PROGRAM,
    },
    opts,
  );
  if (root) return copy;
  // The bundle's hash in the script: a new program is an update, installed anew.
  const install = `# boreal: program ${args.program.hash}\n${renderScript(args.templates, "run/agent-program-install.sh.hbs", { staged: STAGED_PROGRAM, program: AGENT.program })}`;
  return nodeCommand(
    `${name}-program-install`,
    { connection: args.connection, create: install, update: install },
    { ...opts, dependsOn: [copy] },
  );
}

export class Firewall extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:firewall:Firewall", name, { ...args, ...serviceScripts(args.templates).firewall }, opts);
  }
}
