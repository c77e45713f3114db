// The node's registry descriptor, built from its plan and the public key read off the node.
import type { NodeDescriptor } from "../config/registry";
import type { NodePlan } from "./plan";

/**
 * `updatedAt` moves only when something else in the descriptor changed, so that
 * re-applying an unchanged node rewrites nothing (and a second `pulumi up` shows no diff).
 */
export function buildDescriptor(plan: NodePlan, publicKey: string, existing: NodeDescriptor | undefined, now: string): NodeDescriptor {
  const fresh: Omit<NodeDescriptor, "updatedAt"> = {
    member: plan.member,
    node: plan.node,
    endpoint: plan.endpoint,
    publicKey,
    mesh: { ipv4: plan.mesh.ipv4, ipv6: plan.mesh.ipv6 },
    zones: plan.dns.primaryZones.map((z) => z.name),
    exporter: `${plan.exporter.address}:${plan.exporter.port}`,
  };
  if (existing) {
    const { updatedAt, ...rest } = existing;
    if (JSON.stringify(rest) === JSON.stringify(fresh)) return { ...fresh, updatedAt };
  }
  return { ...fresh, updatedAt: now };
}
