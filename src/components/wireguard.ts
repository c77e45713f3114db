// WireGuard: the key is born on the node; config applied with `wg syncconf` (no restart).
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { hashesOf, nodeFiles } from "./files";
import type { RenderedFile } from "../render";

export const KEY_FILE = "/etc/wireguard/wg0.key";

/**
 * Generates the private key if absent or if the wanted epoch differs from the one it was
 * made for (rotation), then prints only the public key. umask 077: the key is root-only.
 */
export function keyScript(epoch: number): string {
  return [
    "set -eu",
    "umask 077",
    "mkdir -p /etc/wireguard",
    `if [ ! -s ${KEY_FILE} ] || [ "$(cat ${KEY_FILE}.epoch 2>/dev/null)" != "${epoch}" ]; then`,
    `  wg genkey > ${KEY_FILE}.new && mv -f ${KEY_FILE}.new ${KEY_FILE} && echo ${epoch} > ${KEY_FILE}.epoch`,
    "fi",
    `wg pubkey < ${KEY_FILE}`,
  ].join("\n");
}

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
    const key = new remote.Command(
      `${name}-key`,
      {
        connection: args.connection,
        create: keyScript(args.keyEpoch),
        update: keyScript(args.keyEpoch),
        delete: `rm -f ${KEY_FILE} ${KEY_FILE}.epoch`,
        triggers: [args.keyEpoch],
      },
      { parent: this },
    );
    this.publicKey = key.stdout.apply((out) => out.trim());
    const files = nodeFiles(name, { files: args.files, connection: args.connection }, { parent: this, dependsOn: [key] });
    this.applied = new remote.Command(
      `${name}-apply`,
      {
        connection: args.connection,
        create: "/usr/local/lib/boreal/wg-apply",
        update: "/usr/local/lib/boreal/wg-apply",
        delete: "systemctl disable --now wg-quick@wg0",
        // The public key is a trigger so that a rotated key is loaded into the interface.
        triggers: [...hashesOf(args.files), this.publicKey],
      },
      { parent: this, dependsOn: files },
    );
    this.registerOutputs({ publicKey: this.publicKey });
  }
}
