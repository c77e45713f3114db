// WireGuard: the key is born on the node and never leaves it; only the public key comes
// back, and the node's proof that it holds the key. The interface itself is the sync
// agent's: wg0.conf holds the peers.
import * as pulumi from "@pulumi/pulumi";
import { NodeConnection, nodeCommand } from "./ssh";
import { keyDeleteScript, keyProofScript, keyScript } from "../../core/node/scripts";
import type { TemplateSources } from "../../core/node/render";

export interface WireGuardArgs {
  connection: NodeConnection;
  templates: TemplateSources;
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
        create: keyScript(args.keyEpoch, args.templates),
        update: keyScript(args.keyEpoch, args.templates),
        delete: keyDeleteScript(args.templates),
      },
      { parent: this },
    );
    this.key = key;
    this.publicKey = key.stdout.apply((out) => out.trim());
    this.registerOutputs({ publicKey: this.publicKey });
  }
}

export interface WireGuardKeyProofArgs {
  connection: NodeConnection;
  templates: TemplateSources;
  /** The key to prove, as the key step read it back. */
  publicKey: pulumi.Output<string>;
  federation: string;
  node: string;
}

/**
 * The base64 proof that the node holds its WireGuard key (src/core/registry/keyproof.ts): the
 * agent's program signs it on the node with the private key. A step of its own, not the key
 * step's, because the program is copied after the key; `opts` must make it wait for the
 * program. The key is in the script: a new key is an update, which proves that key.
 */
export function wireguardKeyProof(name: string, args: WireGuardKeyProofArgs, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
  const script = args.publicKey.apply((key) => keyProofScript(args.federation, args.node, key, args.templates));
  const proof = nodeCommand(name, { connection: args.connection, create: script, update: script }, opts);
  return proof.stdout.apply((out) => out.trim());
}
