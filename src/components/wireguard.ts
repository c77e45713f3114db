// WireGuard: the key is born on the node and never leaves it; only the public key comes
// back. The interface itself is the sync agent's: wg0.conf holds the peers.
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { nodeCommand } from "./ssh";
import { KEY_DELETE, keyScript } from "../render/scripts";

export interface WireGuardArgs {
  connection: types.input.remote.ConnectionArgs;
  keyEpoch: number;
}

export class WireGuard extends pulumi.ComponentResource {
  readonly publicKey: pulumi.Output<string>;
  readonly key: pulumi.Resource;

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
    this.key = key;
    this.publicKey = key.stdout.apply((out) => out.trim());
    this.registerOutputs({ publicKey: this.publicKey });
  }
}
