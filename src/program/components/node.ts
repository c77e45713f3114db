// BorealNode: a Debian server made a node of the federation. A thin shell over plan() and
// renderNode(): the components only carry their results to the server. The peer-dependent
// files (WireGuard, Knot) are the sync agent's: it renders them on the node with the same
// code, from the verified registry, and keeps them current after this `pulumi up`.
import * as pulumi from "@pulumi/pulumi";
import type { AgentProgram } from "../../agent/bundle";
import { renderAgentConfig } from "../../core/spec/agent";
import { descriptorPath, Federation, FEDERATION_DIR, RegistryFile } from "../../core/registry/format";
import type { PublicNodeSpec } from "../../core/spec/stack";
import { buildDescriptor, buildTombstone } from "../../core/node/descriptor";
import { NodePlan, plan } from "../../core/node/plan";
import { renderNode, TemplateSources } from "../../core/node/render";
import {
  attestationKeyDeleteScript,
  attestationKeyScript,
  keySwitchScript,
  nudgeScript,
  parseAttestationKeyOutput,
  servedDnskeysScript,
} from "../../core/node/scripts";
import { Delegation, delegation } from "../../core/dns/delegation";
import { dsForZone, parseDnskeys } from "../../core/dns/ds";
import type { Signer } from "../../io/registry/sign";
import { signedNodeObject } from "../../io/registry/write";
import { sha256 } from "../../core/registry/verify";
import { NodeFacts, nodeFacts, NODE_TYPE, StateFacts } from "../../core/policy/facts";
import { serverCheck } from "./check";
import { Host } from "./host";
import { Registration } from "./registration";
import { Firewall, Monitoring, SyncAgent } from "./service";
import { nodeCommand, sshConnection } from "./ssh";
import { WireGuard, wireguardKeyProof } from "./wireguard";
import { AGENT, FileRole, KNOT_CONF, RenderedFile } from "../../core/node/layout";

export interface BorealNodeArgs {
  /** The validated stack config, without the secrets. */
  spec: PublicNodeSpec;
  /** The operator's SSH private key; it is made a secret here whatever it was. */
  sshPrivateKey: pulumi.Input<string>;
  federation: Federation;
  registryDir: string;
  templates: TemplateSources;
  /** The sync agent, bundled into one file (src/agent/bundle.ts). */
  agentProgram: AgentProgram;
  /** The registry files this run read, handed to the agent as one more untrusted source. */
  seed: RegistryFile[];
  /** Signs the node's descriptor and tombstone with the member's key. */
  signer: Signer;
  /** The signer's public key, one of the member's in the federation. */
  signingKey: string;
  /** Where the stack's state lives (a fact for the policy pack). */
  state: StateFacts;
  /** Timestamp for a descriptor that changes (injected so tests are deterministic). */
  now: string;
  /** A refused server check is taken again at the next up (./check.ts). */
  lookAgain?: { token: string; renew: () => void };
  /** Checks the rendered files on the member's machine before any resource is declared (throws). */
  precheck?: (files: RenderedFile[]) => void;
}

export class BorealNode extends pulumi.ComponentResource {
  readonly plan: NodePlan;
  readonly publicKey: pulumi.Output<string>;
  /** The node's proof that it holds `publicKey`'s private key (base64 XEdDSA), as the descriptor carries it. */
  readonly keyProof: pulumi.Output<string>;
  readonly descriptorPath: string;
  /** Per primary zone: the NS names with their glue and the DS records, for the registrar. */
  readonly delegations: pulumi.Output<Delegation[]>;
  /** What the policy pack checks beside the resources (src/core/policy/facts.ts). */
  readonly facts: NodeFacts;
  /** The firewall's files as the up writes them: the preview's look compares them with the server's (../preview-look.ts). */
  readonly firewallFiles: RenderedFile[];

  constructor(name: string, args: BorealNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(NODE_TYPE, name, {}, opts);
    this.plan = plan(args.spec, args.federation);
    const files = renderNode(this.plan, args.templates);
    args.precheck?.(files);
    const filesFor = (role: FileRole) => files.filter((f) => f.role === role);
    this.firewallFiles = filesFor("firewall");
    const connection = sshConnection(args.spec.ssh, args.sshPrivateKey);

    const templates = args.templates;
    // First, a look at the server as it is: sudo, and what listens (./check.ts).
    const check = serverCheck(
      `${name}-check`,
      {
        connection,
        templates,
        firewall: this.plan.firewall,
        closeListening: args.spec.firewall.closeListening ?? [],
        firewallFiles: filesFor("firewall"),
        lookAgain: args.lookAgain,
      },
      { parent: this },
    );
    const host = new Host(`${name}-host`, { connection, templates, check }, { parent: this });
    const afterHost = { parent: this, dependsOn: [host.ready] };
    const wireguard = new WireGuard(`${name}-wireguard`, { connection, templates, keyEpoch: this.plan.keyEpoch }, afterHost);
    const agent = new SyncAgent(
      `${name}-sync`,
      {
        connection,
        templates,
        files: [...agentFiles(args, this.plan), ...filesFor("agent")],
        program: args.agentProgram,
        after: [wireguard.key],
      },
      afterHost,
    );
    // The exporter listens on the mesh address, which exists once the agent brought wg0 up:
    // its files are written during the agent's run (not before: they would hold up the
    // agent's own files, the way to the mesh), the (re)start waits for that run.
    new Monitoring(
      `${name}-monitoring`,
      { connection, templates, files: filesFor("monitoring"), applyAfter: [agent.applied] },
      { parent: this, dependsOn: agent.written },
    );
    // What must be in place before peers learn of the node: the mesh and DNS (the agent's
    // run) and the firewall. Not monitoring: a rotated key waits for publication, so the
    // exporter's restart stays off that path.
    const services: pulumi.Resource[] = [agent.applied];
    if (this.plan.firewall.enabled) {
      services.push(new Firewall(`${name}-firewall`, { connection, templates, files: filesFor("firewall") }, afterHost).applied);
    }

    // The keys Knot made for the member's zones (on its first load after the agent's run):
    // the DS records are computed here from what the node serves, so they match it.
    const zones = this.plan.dns.primaryZones;
    const served = servedDnskeysScript(
      zones.map((z) => z.name),
      templates,
    );
    const dnskeys = nodeCommand(`${name}-dnskeys`, { connection, create: served }, { parent: this, dependsOn: [agent.applied] });
    this.delegations = dnskeys.stdout.apply((text) => {
      const keys = parseDnskeys(text);
      return zones.map((zone) => delegation(zone.name, zone.nameServers, dsForZone(keys, zone.name)));
    });

    // The key the node signs its attestations of peers with (the label): born on the node like
    // the WireGuard key; its public half goes into the descriptor the member signs.
    const attestationKey = nodeCommand(
      `${name}-attestation-key`,
      {
        connection,
        create: attestationKeyScript(this.plan.node, args.federation.settings.name, templates),
        delete: attestationKeyDeleteScript(templates),
      },
      afterHost,
    );

    this.publicKey = wireguard.publicKey;
    // Signed on the node by the agent's program, so once that is there (among agent.written).
    this.keyProof = wireguardKeyProof(
      `${name}-wireguard-proof`,
      { connection, templates, publicKey: this.publicKey, federation: args.federation.settings.name, node: this.plan.node },
      { parent: this, dependsOn: agent.written },
    );
    const existing = args.federation.nodes.find((n) => n.node === this.plan.node);
    const descriptor = pulumi
      .all([this.publicKey, this.keyProof, attestationKey.stdout])
      .apply(([publicKey, keyProof, attestation]) =>
        buildDescriptor(this.plan, { publicKey, keyProof }, existing, args.now, parseAttestationKeyOutput(attestation)),
      );
    // Peers hear of a publication at once (src/core/node/nudge.ts), not at their next timer
    // tick: the announce after the descriptor's, the farewell after the tombstone's (it is
    // deleted after the registration, while the node still runs its agent).
    const nudge = nudgeScript(args.federation.settings.name, templates);
    const farewell = nodeCommand(
      `${name}-farewell`,
      { connection, create: "true", delete: nudge },
      { parent: this, dependsOn: [agent.applied] },
    );
    const signedDescriptor = descriptor.apply((d) => signedNodeObject(d, args.signer));
    const registration = new Registration(
      `${name}-registration`,
      {
        registryDir: args.registryDir,
        node: this.plan.node,
        descriptor: signedDescriptor,
        tombstone: descriptor.apply((d) => signedNodeObject(buildTombstone(d), args.signer)),
        publish: args.spec.publish,
      },
      // Peers learn about the node only once it actually serves the mesh and DNS.
      { parent: this, dependsOn: [...services, farewell] },
    );
    // The announce puts a rotation's next key in use, then nudges: the peers, whose sync takes
    // seconds from the nudge, meet the node already on the key they pull. The descriptor's
    // digest in the script: a new descriptor is an update, a new announce; an unchanged one
    // sends none.
    const announce = signedDescriptor.apply((d) => `${keySwitchScript(templates)}\n${nudge}\n# boreal: descriptor ${sha256(d.content)}`);
    nodeCommand(`${name}-announce`, { connection, create: announce, update: announce }, { parent: this, dependsOn: [registration] });
    this.descriptorPath = registration.path;
    // The policy pack's stack checks see the component's outputs: the facts no resource carries.
    const knotConf = files.find((f) => f.path === KNOT_CONF)?.content ?? "";
    this.facts = nodeFacts(this.plan, args.spec.ssh.port, knotConf, args.signingKey, args.state);
    this.registerOutputs({
      publicKey: this.publicKey,
      keyProof: this.keyProof,
      descriptorPath: this.descriptorPath,
      delegations: this.delegations,
      facts: this.facts,
    });
  }
}

/** The agent's config and the seed, as files like any other. */
function agentFiles(args: BorealNodeArgs, nodePlan: NodePlan): RenderedFile[] {
  return [
    { path: AGENT.config, content: renderAgentConfig(args.spec, nodePlan.mesh), mode: "0644", owner: "root:root", role: "agent" },
    {
      path: AGENT.seed,
      content: `${JSON.stringify({ files: seedFiles(args.seed, args.federation, nodePlan.node) })}\n`,
      mode: "0600",
      owner: "root:root",
      role: "agent",
    },
  ];
}

/**
 * What the agent is handed besides its mirrors. With mirrors, only the federation versions
 * (the way to the mirrors): peers come from the mirrors, and a seed of descriptors would
 * change with every `git pull` of the member's clone, so no `pulumi up` would stay a no-op.
 * Without mirrors, the clone's descriptors too (the seed is then the only source), except
 * the node's own, which this very run rewrites.
 */
export function seedFiles(files: RegistryFile[], federation: Federation, node: string): RegistryFile[] {
  if (federation.settings.mirrors.length > 0) return files.filter((f) => f.path.startsWith(`${FEDERATION_DIR}/`));
  return files.filter((f) => !f.path.startsWith(`${descriptorPath(node)}`));
}
