// WireGuard: the key is born on the node; config applied with `wg syncconf` (no restart).
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { nodeCommand } from "./ssh";
import { hashesOf, nodeFiles } from "./files";
import type { RenderedFile } from "../render";
import { KEY_DELETE, keyScript, SERVICE_SCRIPTS } from "../render/scripts";

export interface WireGuardArgs {
  connection: types.input.remote.ConnectionArgs;
  files: RenderedFile[];
  keyEpoch: number;
}

export class WireGuard extends pulumi.ComponentResource {
  readonly publicKey: pulumi.Output<string>;
  readonly applied: pulumi.Resource;

  constructor(name: string, args: WireGuardArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:wireguard:WireGuard", name, {}, opts);
    const key = nodeCommand(
      `${name}-key`,
      {
        connection: args.connection,
        create: keyScript(args.keyEpoch),
        update: keyScript(args.keyEpoch),
        delete: KEY_DELETE,
        triggers: [args.keyEpoch],
      },
      { parent: this },
    );
    this.publicKey = key.stdout.apply((out) => out.trim());
    const files = nodeFiles(name, { files: args.files, connection: args.connection }, { parent: this, dependsOn: [key] });
    this.applied = nodeCommand(
      `${name}-apply`,
      {
        connection: args.connection,
        create: SERVICE_SCRIPTS.wireguard.apply,
        update: SERVICE_SCRIPTS.wireguard.apply,
        delete: SERVICE_SCRIPTS.wireguard.undo,
        // The public key is a trigger so that a rotated key is loaded into the interface.
        triggers: [...hashesOf(args.files), this.publicKey],
      },
      { parent: this, dependsOn: files },
    );
    this.registerOutputs({ publicKey: this.publicKey });
  }
}
