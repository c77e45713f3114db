// BorealNode: a Debian server made a node of the federation. A thin shell over
// plan() and renderNode(): the components only carry their results to the server.
import * as pulumi from "@pulumi/pulumi";
import type { Federation } from "../config/registry";
import type { PublicNodeSpec } from "../config/stack";
import { buildDescriptor } from "../model/descriptor";
import { NodePlan, plan } from "../model/plan";
import { FileRole, renderNode, TemplateSources } from "../render";
import { Host } from "./host";
import { Registration } from "./registration";
import { Dns, Firewall, Monitoring } from "./service";
import { sshConnection } from "./ssh";
import { WireGuard } from "./wireguard";

export interface BorealNodeArgs {
  /** The validated stack config, without the SSH private key. */
  spec: PublicNodeSpec;
  /** The operator's SSH private key; it is made a secret here whatever it was. */
  sshPrivateKey: pulumi.Input<string>;
  federation: Federation;
  registryDir: string;
  templates: TemplateSources;
  /** Timestamp for a descriptor that changes (injected so tests are deterministic). */
  now: string;
}

export class BorealNode extends pulumi.ComponentResource {
  readonly plan: NodePlan;
  readonly publicKey: pulumi.Output<string>;
  readonly descriptorPath: string;

  constructor(name: string, args: BorealNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:node:BorealNode", name, {}, opts);
    this.plan = plan(args.spec, args.federation);
    const files = renderNode(this.plan, args.templates);
    const filesFor = (role: FileRole) => files.filter((f) => f.role === role);
    const connection = sshConnection(args.spec.ssh, args.sshPrivateKey);

    const host = new Host(`${name}-host`, { connection }, { parent: this });
    const afterHost = { parent: this, dependsOn: [host.ready] };
    const wireguard = new WireGuard(`${name}-wireguard`, { connection, files: filesFor("wireguard"), keyEpoch: this.plan.keyEpoch }, afterHost);
    const dns = new Dns(`${name}-dns`, { connection, files: filesFor("dns") }, afterHost);
    // The exporter listens on the mesh address, which exists once wg0 is up.
    const monitoring = new Monitoring(`${name}-monitoring`, { connection, files: filesFor("monitoring") }, { parent: this, dependsOn: [wireguard.applied] });
    const services: pulumi.Resource[] = [wireguard.applied, dns.applied, monitoring.applied];
    if (this.plan.firewall.enabled) {
      services.push(new Firewall(`${name}-firewall`, { connection, files: filesFor("firewall") }, afterHost).applied);
    }

    this.publicKey = wireguard.publicKey;
    const existing = args.federation.nodes.find((n) => n.node === this.plan.node);
    const registration = new Registration(
      `${name}-registration`,
      {
        registryDir: args.registryDir,
        node: this.plan.node,
        descriptor: this.publicKey.apply((key) => buildDescriptor(this.plan, key, existing, args.now)),
      },
      // Peers learn about the node only once it actually serves the mesh and DNS.
      { parent: this, dependsOn: services },
    );
    this.descriptorPath = registration.path;
    this.registerOutputs({ publicKey: this.publicKey, descriptorPath: this.descriptorPath });
  }
}
