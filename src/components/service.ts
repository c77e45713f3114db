// A service component: its files, then one command that applies them (create and update)
// and undoes that on delete. Dns, Monitoring and Firewall are this shape.
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { hashesOf, nodeFiles } from "./files";
import type { RenderedFile } from "../render";

export interface ServiceArgs {
  connection: types.input.remote.ConnectionArgs;
  files: RenderedFile[];
  /** Validates and applies the files; runs again when any file changes. */
  apply: string;
  /** Undoes apply (stop, disable); the files are removed by their own commands. */
  undo: string;
}

export abstract class NodeService extends pulumi.ComponentResource {
  readonly applied: pulumi.Resource;

  protected constructor(type: string, name: string, args: ServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
    const files = nodeFiles(name, { files: args.files, connection: args.connection }, { parent: this });
    this.applied = new remote.Command(
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
    super("boreal:dns:Dns", name, {
      ...args,
      apply: [
        "set -eu",
        "install -d -o knot -g knot -m 0750 /var/lib/knot/secondary",
        "knotc -c /etc/knot/knot.conf conf-check",
        "systemctl enable --quiet knot",
        "if systemctl is-active --quiet knot; then knotc reload; else systemctl restart knot; fi",
      ].join("\n"),
      undo: "systemctl disable --now knot",
    }, opts);
  }
}

export class Monitoring extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:monitoring:Monitoring", name, {
      ...args,
      apply: [
        "set -eu",
        "systemctl daemon-reload",
        "systemctl enable --quiet --now boreal-wg-metrics.timer",
        "systemctl start boreal-wg-metrics.service",
        "systemctl enable --quiet prometheus-node-exporter",
        "systemctl restart prometheus-node-exporter",
      ].join("\n"),
      undo: [
        "systemctl disable --now boreal-wg-metrics.timer prometheus-node-exporter",
        "rm -f /var/lib/prometheus/node-exporter/wireguard.prom",
      ].join("\n"),
    }, opts);
  }
}

export class Firewall extends NodeService {
  constructor(name: string, args: ComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:firewall:Firewall", name, {
      ...args,
      apply: ["set -eu", "nft -c -f /etc/nftables.conf", "nft -f /etc/nftables.conf", "systemctl enable --quiet nftables"].join("\n"),
      undo: "nft delete table inet boreal 2>/dev/null || true\nsystemctl disable --quiet nftables",
    }, opts);
  }
}
