// Registration: this node's descriptor in the federation registry, removed on destroy.
import * as pulumi from "@pulumi/pulumi";
import { local } from "@pulumi/command";
import { resolve } from "node:path";
import { descriptorPath, NodeDescriptor } from "../config/registry";
import { renderDescriptor } from "../registry";

export interface RegistrationArgs {
  registryDir: string;
  node: string;
  descriptor: pulumi.Output<NodeDescriptor>;
}

export class Registration extends pulumi.ComponentResource {
  readonly path: string;

  constructor(name: string, args: RegistrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:registry:Registration", name, {}, opts);
    this.path = resolve(args.registryDir, descriptorPath(args.node));
    // Temp file + rename: a peer reading the registry never sees half a descriptor.
    const write = 'set -eu\nmkdir -p "$REGISTRY/nodes"\ncat > "$REGISTRY/nodes/.$NODE.yaml.tmp"\nmv -f "$REGISTRY/nodes/.$NODE.yaml.tmp" "$REGISTRY/nodes/$NODE.yaml"';
    new local.Command(
      `${name}-descriptor`,
      {
        create: write,
        update: write,
        delete: 'rm -f "$REGISTRY/nodes/$NODE.yaml"',
        environment: { REGISTRY: resolve(args.registryDir), NODE: args.node },
        stdin: args.descriptor.apply(renderDescriptor),
        interpreter: ["/bin/sh", "-c"],
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
