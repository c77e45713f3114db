// A service component: its files, then one command that applies them (create and update)
// and undoes that on delete. Dns, Monitoring and Firewall are this shape.
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { nodeCommand } from "./ssh";
import { hashesOf, nodeFiles } from "./files";
import type { RenderedFile } from "../render";
import { SERVICE_SCRIPTS, ServiceScripts } from "../render/scripts";

export interface ServiceArgs extends ServiceScripts {
  connection: types.input.remote.ConnectionArgs;
  files: RenderedFile[];
}

export abstract class NodeService extends pulumi.ComponentResource {
  readonly applied: pulumi.Resource;

  protected constructor(type: string, name: string, args: ServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
    const files = nodeFiles(name, { files: args.files, connection: args.connection }, { parent: this });
    this.applied = nodeCommand(
      `${name}-apply`,
      { connection: args.connection, create: args.apply, update: args.apply, delete: args.undo, triggers: hashesOf(args.files) },
      { parent: this, dependsOn: files },
    );
    this.registerOutputs({});
  }
}

type ComponentArgs = Omit<ServiceArgs, "apply" | "undo">;

export class Dns extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:dns:Dns", name, { ...args, ...SERVICE_SCRIPTS.dns }, opts);
  }
}

export class Monitoring extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:monitoring:Monitoring", name, { ...args, ...SERVICE_SCRIPTS.monitoring }, opts);
  }
}

export class Firewall extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:firewall:Firewall", name, { ...args, ...SERVICE_SCRIPTS.firewall }, opts);
  }
}
