// The sync agent's input, written by `pulumi up` to /etc/boreal/agent.json: the node's own
// settings (Pulumi owns them) and the federation version the member trusts first. Pure.
import { z } from "zod";
import { BorealConfigError, problemsFromZod } from "../values/problems";
import { PlanSpec, planSpecSchema, PublicNodeSpec } from "./stack";
import type { MeshAddresses } from "../mesh/allocate";
import { parseTrust, TrustAnchor } from "../registry/verify";

export const agentConfigSchema = z.strictObject({
  /** The node's own settings, its mesh addresses pinned to what `pulumi up` allocated. */
  spec: planSpecSchema,
  trust: z.string().refine((t) => parseTrust(t) !== undefined, "trust is not <version>:<sha256>"),
});

export interface AgentConfig {
  spec: PlanSpec;
  trust: TrustAnchor;
}

/**
 * The stack's operator-side keys (registry clone, signing, publishing) stay off the node.
 * So do the settings of what `pulumi up` alone applies (firewall, alert receivers, the
 * delegation check's timer and alert): the agent renders with their defaults and never
 * writes those files (AGENT_ROLES), and a change to them re-applies that role alone, not
 * the agent's run of WireGuard and Knot.
 */
export function renderAgentConfig(spec: PublicNodeSpec, mesh: MeshAddresses): string {
  const {
    registry: _registry,
    trust,
    signingKeyFile: _keyFile,
    publish: _publish,
    firewall: _firewall,
    alerts: _alerts,
    delegationCheckInterval: _delegationCheckInterval,
    zoneFiles,
    ...planSpec
  } = spec;
  // The node cannot read the member's project: zone files travel as records (withZoneFiles).
  if (zoneFiles && Object.keys(zoneFiles).length > 0)
    throw new Error("boreal:zoneFiles must be read into boreal:records (withZoneFiles) before the agent's config is written");
  const own = { ...planSpec, meshAddress: { ipv4: mesh.ipv4, ipv6: mesh.ipv6 } } as PlanSpec;
  return `${JSON.stringify({ spec: own, trust }, null, 2)}\n`;
}

export function parseAgentConfig(text: string, source: string): AgentConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new BorealConfigError([
      { source, key: "(file)", message: "is not JSON", fix: "re-apply the node's stack (pulumi up) to rewrite it" },
    ]);
  }
  const parsed = agentConfigSchema.safeParse(data);
  if (!parsed.success) throw new BorealConfigError(problemsFromZod(parsed.error, source, ""));
  return { spec: parsed.data.spec, trust: parseTrust(parsed.data.trust)! };
}
