// NodePlan → files {path → content}, through the handlebars templates in templates/.
// Pure: template sources are handed in (see src/components/templates.ts for loading).
import Handlebars from "handlebars";
import { createHash } from "node:crypto";
import type { FirewallPlan, FirewallRule } from "../model/firewall";
import { NodePlan, PrimaryZone, WIREGUARD_INTERFACE } from "../model/plan";
import { NFTABLES_MEMBER_DIR } from "./scripts";

/** Template sources by path relative to templates/, e.g. "etc/knot/knot.conf.hbs". */
export type TemplateSources = Record<string, string>;

/** Which component puts a file on the node and which service reloads it. */
export type FileRole = "wireguard" | "dns" | "monitoring" | "firewall" | "agent";

/**
 * Who writes a role's files. The node's sync agent owns what depends on the peer set
 * (WireGuard and Knot), rendered on the node from the verified registry; `pulumi up`
 * owns the rest. One writer per file, so the two never fight.
 */
export const AGENT_ROLES: readonly FileRole[] = ["wireguard", "dns"];

export interface RenderedFile {
  /** Absolute path on the node. */
  path: string;
  content: string;
  mode: string;
  owner: string;
  role: FileRole;
}

const engine = Handlebars.create();
engine.registerHelper("join", (items: unknown[], separator: string) => items.join(typeof separator === "string" ? separator : ", "));
engine.registerHelper("eq", (a: unknown, b: unknown) => a === b);

interface FileSpec {
  template: string;
  path: string;
  mode: string;
  owner: string;
  role: FileRole;
  context: object;
}

export function zoneFilePath(zone: string): string {
  return `/var/lib/knot/zones/${zone}zone`;
}

/** Every file the node needs, in a stable order. */
export function renderNode(plan: NodePlan, templates: TemplateSources): RenderedFile[] {
  const iface = WIREGUARD_INTERFACE;
  const specs: FileSpec[] = [
    { template: "etc/wireguard/wg0.conf.hbs", path: `/etc/wireguard/${iface}.conf`, mode: "0600", owner: "root:root", role: "wireguard", context: plan },
    { template: "usr/local/lib/boreal/wg-apply.hbs", path: "/usr/local/lib/boreal/wg-apply", mode: "0755", owner: "root:root", role: "wireguard", context: { iface } },
    { template: "etc/knot/knot.conf.hbs", path: "/etc/knot/knot.conf", mode: "0640", owner: "root:knot", role: "dns", context: { ...plan, ...plan.dns } },
    ...plan.dns.primaryZones.map((zone) => ({
      template: "var/lib/knot/zones/ZONE.zone.hbs",
      path: zoneFilePath(zone.name),
      mode: "0640",
      owner: "root:knot",
      role: "dns" as const,
      context: { ...plan, zone, soaTarget: soaTarget(plan, zone) },
    })),
    { template: "etc/default/prometheus-node-exporter.hbs", path: "/etc/default/prometheus-node-exporter", mode: "0644", owner: "root:root", role: "monitoring", context: plan },
    { template: "etc/systemd/system/prometheus-node-exporter.service.d/boreal.conf.hbs", path: "/etc/systemd/system/prometheus-node-exporter.service.d/boreal.conf", mode: "0644", owner: "root:root", role: "monitoring", context: { iface } },
    { template: "usr/local/lib/boreal/wg-metrics.hbs", path: "/usr/local/lib/boreal/wg-metrics", mode: "0755", owner: "root:root", role: "monitoring", context: { iface } },
    { template: "etc/systemd/system/boreal-wg-metrics.service.hbs", path: "/etc/systemd/system/boreal-wg-metrics.service", mode: "0644", owner: "root:root", role: "monitoring", context: { iface } },
    { template: "etc/systemd/system/boreal-wg-metrics.timer.hbs", path: "/etc/systemd/system/boreal-wg-metrics.timer", mode: "0644", owner: "root:root", role: "monitoring", context: { iface } },
    { template: "etc/systemd/system/boreal-sync.service.hbs", path: "/etc/systemd/system/boreal-sync.service", mode: "0644", owner: "root:root", role: "agent", context: { ...plan, iface } },
    { template: "etc/systemd/system/boreal-sync.timer.hbs", path: "/etc/systemd/system/boreal-sync.timer", mode: "0644", owner: "root:root", role: "agent", context: plan },
  ];
  if (plan.firewall.enabled) {
    specs.push({ template: "etc/nftables.conf.hbs", path: "/etc/nftables.conf", mode: "0755", owner: "root:root", role: "firewall", context: { ...plan, ...nftablesContext(plan.firewall, iface), iface, memberRules: NFTABLES_MEMBER_DIR } });
  }
  return specs.map((spec) => ({
    path: spec.path,
    content: renderTemplate(templates, spec.template, spec.context),
    mode: spec.mode,
    owner: spec.owner,
    role: spec.role,
  }));
}

/** One nftables rule line: what it matches ("ip saddr 198.51.100.0/24 tcp dport 993") and its comment. */
interface NftLine {
  match: string;
  description: string;
}

/**
 * The firewall as nftables lines. A rule limited to sources gives a line per address family
 * that has any (an `inet` table sees both); a mesh rule matches on the WireGuard interface.
 */
function nftablesContext(firewall: FirewallPlan, iface: string) {
  const lines = (rule: FirewallRule, description = rule.description): NftLine[] => {
    const ports = `${rule.protocol} dport ${rule.port === rule.lastPort ? rule.port : `${rule.port}-${rule.lastPort}`}`;
    if (rule.from === "any") return [{ match: ports, description }];
    if (rule.from === "mesh") return [{ match: `iifname "${iface}" ${ports}`, description }];
    const set = (prefixes: string[]) => (prefixes.length === 1 ? prefixes[0] : `{ ${prefixes.join(", ")} }`);
    return [
      ...(rule.from.ipv4.length > 0 ? [{ match: `ip saddr ${set(rule.from.ipv4)} ${ports}`, description }] : []),
      ...(rule.from.ipv6.length > 0 ? [{ match: `ip6 saddr ${set(rule.from.ipv6)} ${ports}`, description }] : []),
    ];
  };
  return {
    strict: firewall.policy === "strict",
    /** The kit's own services, each where it may be reached from. */
    accept: firewall.rules.flatMap((r) => lines(r)),
    /** The member's own services (boreal:firewall.allow). */
    allow: firewall.allow.flatMap((r) => lines(r, `allow: ${r.description}`)),
    /** The mesh-only services by port alone: policy "member" drops them outside the mesh. */
    meshOnly: firewall.rules.filter((r) => r.from === "mesh").flatMap((r) => lines({ ...r, from: "any" })),
  };
}

const compiled = new WeakMap<TemplateSources, Map<string, HandlebarsTemplateDelegate>>();

export function renderTemplate(templates: TemplateSources, name: string, context: object): string {
  let cache = compiled.get(templates);
  if (!cache) compiled.set(templates, (cache = new Map()));
  let template = cache.get(name);
  if (!template) {
    const source = templates[name];
    if (source === undefined) throw new Error(`template ${name} is missing from templates/`);
    template = engine.compile(source, { noEscape: true, strict: true });
    cache.set(name, template);
  }
  return template(context);
}

function soaTarget(plan: NodePlan, zone: PrimaryZone): string {
  return zone.nameServers.find((ns) => ns.node === plan.node)?.target ?? zone.nameServers[0].target;
}

/** Short content hash used as a trigger: a file's commands re-run only when it changes. */
export function contentHash(content: string): string {
  return createHash("sha256").update(content).digest("hex").slice(0, 16);
}
