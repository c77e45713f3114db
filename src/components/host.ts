// Host: reachable over SSH with the pinned host key, packages installed (idempotent).
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";

export const PACKAGES = ["wireguard-tools", "knot", "knot-dnsutils", "prometheus-node-exporter", "nftables"];

/**
 * Installs what is missing; adds wireguard-go when the kernel cannot create a WireGuard
 * interface (containers, kernels without the module), which wg-quick then uses by itself.
 */
export function packagesScript(packages: string[] = PACKAGES): string {
  return [
    "set -eu",
    "export DEBIAN_FRONTEND=noninteractive",
    `pkgs="${packages.join(" ")}"`,
    "if ip link add dev boreal-probe type wireguard 2>/dev/null; then ip link del dev boreal-probe; else pkgs=\"$pkgs wireguard-go\"; fi",
    "missing=''",
    "for p in $pkgs; do dpkg-query -W -f='${Status}' \"$p\" 2>/dev/null | grep -q 'ok installed' || missing=\"$missing $p\"; done",
    "if [ -n \"$missing\" ]; then apt-get update -q && apt-get install -y -q --no-install-recommends $missing; fi",
    "echo \"packages: $pkgs\"",
  ].join("\n");
}

export interface HostArgs {
  connection: types.input.remote.ConnectionArgs;
  packages?: string[];
}

export class Host extends pulumi.ComponentResource {
  /** Depend on this to run after the server is reachable and provisioned. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:host:Host", name, {}, opts);
    // The connection itself retries (dialErrorLimit) until sshd answers with the pinned key.
    const reachable = new remote.Command(
      `${name}-ssh`,
      { connection: args.connection, create: "uname -a && cat /etc/debian_version" },
      { parent: this },
    );
    // Packages stay installed on delete: removing them could take away what the member
    // uses; destroying a node removes the kit's configuration, not Debian packages.
    this.ready = new remote.Command(
      `${name}-packages`,
      { connection: args.connection, create: packagesScript(args.packages), triggers: [(args.packages ?? PACKAGES).join(" ")] },
      { parent: this, dependsOn: [reachable] },
    );
    this.registerOutputs({});
  }
}
