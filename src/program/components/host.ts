// Host: reachable over SSH with the pinned host key, packages installed (idempotent).
import * as pulumi from "@pulumi/pulumi";
import { NodeConnection, nodeCommand } from "./ssh";
import { hostProbeScript, packagesScript } from "../../core/node/scripts";
import type { TemplateSources } from "../../core/node/render";
import { afterCheck, ServerCheck } from "./check";

export interface HostArgs {
  connection: NodeConnection;
  templates: TemplateSources;
  packages?: string[];
  /** The server check (./check.ts): the probe, and so every step after it, waits for its look to pass. */
  check: ServerCheck;
}

export class Host extends pulumi.ComponentResource {
  /** Depend on this to run after the server is reachable and provisioned. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:host:Host", name, {}, opts);
    // The connection itself retries (dialErrorLimit) until sshd answers with the pinned key.
    // Its script, the same text, comes through the check's verdict: a refused look stops here.
    const reachable = nodeCommand(
      `${name}-ssh`,
      { connection: args.connection, create: afterCheck(args.check, hostProbeScript(args.templates)) },
      { parent: this, dependsOn: [args.check.step] },
    );
    // Packages stay installed on delete: removing them could take away what the member
    // uses; destroying a node removes the kit's configuration, not Debian packages.
    this.ready = nodeCommand(
      `${name}-packages`,
      { connection: args.connection, create: packagesScript(args.packages, args.templates) },
      { parent: this, dependsOn: [reachable] },
    );
    this.registerOutputs({});
  }
}
