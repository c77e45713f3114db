// WireGuard: the key is born on the node; config applied with `wg syncconf` (no restart).
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { nodeCommand } from "./ssh";
import { filesAndApply } from "./service";
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
        // The epoch is in the script: bumping it is an update that makes a new key. Not a
        // trigger: a replacement would run the old delete after the new create (no key).
        create: keyScript(args.keyEpoch),
        update: keyScript(args.keyEpoch),
        delete: KEY_DELETE,
      },
      { parent: this },
    );
    this.publicKey = key.stdout.apply((out) => out.trim());
    this.applied = filesAndApply(
      name,
      { connection: args.connection, files: args.files, ...SERVICE_SCRIPTS.wireguard },
      // After the public key too: a rotated key must be loaded into the interface.
      { parent: this, filesAfter: [key], alsoAfter: pulumi.interpolate`key:${this.publicKey}` },
    );
    this.registerOutputs({ publicKey: this.publicKey });
  }
}
