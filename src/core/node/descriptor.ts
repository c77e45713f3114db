// The node's registry objects, built from its plan and the keys read off the node.
import type { NodeDescriptor, Tombstone } from "../registry/format";
import type { NodePlan } from "./plan";
import { portSpecText } from "../values/ports";
import { recordDelegation } from "../dns/delegation";

/**
 * Serial and `updatedAt` move only when something else in the descriptor changed, so
 * that re-applying an unchanged node rewrites nothing (a second `pulumi up` shows no
 * diff). A new serial is at least the time in seconds: it stays above what peers hold
 * even when the member's registry clone is behind.
 */
export function buildDescriptor(
  plan: NodePlan,
  wireguard: { publicKey: string; keyProof: string },
  existing: NodeDescriptor | undefined,
  now: string,
  attestation?: { attestationKey: string; attestationKeyProof: string },
): NodeDescriptor {
  const fresh = {
    member: plan.member,
    node: plan.node,
    endpoint: plan.endpoint,
    // Both of a dual-stack node's (node format 2); a node with one endpoint writes format 1 as before.
    ...(plan.endpoints.length > 1 ? { endpoints: plan.endpoints } : {}),
    publicKey: wireguard.publicKey,
    // The node's signature with that key (src/core/registry/keyproof.ts), read off the node like it;
    // in the schema's order, so that an unchanged descriptor compares equal.
    keyProof: wireguard.keyProof,
    mesh: { ipv4: plan.mesh.ipv4, ipv6: plan.mesh.ipv6 },
    zones: plan.dns.primaryZones.map((z) => z.name),
    exporter: `${plan.exporter.address}:${plan.exporter.port}`,
    // Its name server name and the set its zones are delegated to, kept from one up to the next
    // (src/core/dns/delegation.ts). Absent for a node without a zone and with an IP endpoint.
    ...(plan.nameServer === undefined ? {} : { nameServer: plan.nameServer, delegation: recordDelegation(plan.delegation, existing, now) }),
    // What peers may find open on the underlay beside WireGuard and DNS (the label's scan).
    services: declaredServices(plan),
    // The key the node signs its attestations of peers with (src/label): read off the node
    // like `publicKey`, and absent until the agent makes one, so old descriptors are unchanged.
    // With its proof: the key's own signature naming this node (src/core/registry/keyproof.ts).
    ...(attestation === undefined
      ? {}
      : { attestationKey: attestation.attestationKey, attestationKeyProof: attestation.attestationKeyProof }),
  };
  if (existing) {
    const { updatedAt, serial, ...rest } = existing;
    if (JSON.stringify(rest) === JSON.stringify(fresh))
      return { member: fresh.member, node: fresh.node, serial, ...withoutIds(fresh), updatedAt };
  }
  const serial = Math.max((existing?.serial ?? 0) + 1, Math.floor(Date.parse(now) / 1000));
  return { member: fresh.member, node: fresh.node, serial, ...withoutIds(fresh), updatedAt: now };
}

/** What `pulumi destroy` publishes: the node left, one serial above its last descriptor. */
export function buildTombstone(descriptor: NodeDescriptor): Tombstone {
  return { member: descriptor.member, node: descriptor.node, serial: descriptor.serial + 1, left: true, updatedAt: descriptor.updatedAt };
}

function withoutIds<T extends { member: string; node: string }>(value: T): Omit<T, "member" | "node"> {
  const { member: _member, node: _node, ...rest } = value;
  return rest;
}

/** The node's SSH port and the member's declared services, each once, as port specs. */
export function declaredServices(plan: NodePlan): string[] {
  const ssh = plan.firewall.rules.filter((r) => r.description === "SSH");
  const specs = [...ssh, ...plan.firewall.allow].map((r) => portSpecText({ protocol: r.protocol, first: r.port, last: r.lastPort }));
  return [...new Set(specs)];
}
