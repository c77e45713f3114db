// NodePlan → files {path → content}, through the handlebars templates in templates/; and the
// one template engine, which the node's scripts (./scripts.ts) are rendered with too.
// Pure: template sources are handed in (see src/io/templates.ts for loading).
import Handlebars from "handlebars";
import { createHash } from "node:crypto";
import type { FirewallPlan, FirewallRule } from "../firewall/plan";
import type { MonitoringPlan, WatchedNode } from "../monitoring/plan";
import { NodePlan, PrimaryZone } from "./plan";
import { nudgeLine, NUDGE_PORT } from "./nudge";
import {
  AGENT,
  agentCommand,
  ALERTMANAGER_CONF,
  ATTEST_RUN,
  BLACKBOX_CONF,
  DELEGATION_RUN,
  FileRole,
  GATE_FETCHED_FLAG,
  KEY_FILE,
  KNOT_CONF,
  LIB_DIR,
  NFTABLES_CONF,
  NFTABLES_MEMBER_DIR,
  NODE_EXPORTER_DEFAULTS,
  NUDGE_GATE,
  NUDGE_SPACING_SECONDS,
  PROMETHEUS_CONF,
  RenderedFile,
  TARGETS_DIR,
  TEXTFILE_DIR,
  WG_APPLY,
  WIREGUARD_CONF,
  WIREGUARD_INTERFACE,
  zoneFilePath,
} from "./layout";
import { EXPORTER_PORT } from "../values/ports";
import { FALLBACK_SETTLE_SECONDS, FALLBACK_STALE_SECONDS } from "../mesh/endpoints";
import { shellQuote } from "../values/shell";

/** Template sources by path relative to templates/, e.g. "etc/knot/knot.conf.hbs". */
export type TemplateSources = Record<string, string>;

const engine = Handlebars.create();
engine.registerHelper("join", (items: unknown[], separator: string) => items.join(typeof separator === "string" ? separator : ", "));
engine.registerHelper("eq", (a: unknown, b: unknown) => a === b);
// A YAML (or JSON) string with every character quoted safely.
engine.registerHelper("json", (value: unknown) => JSON.stringify(value));
engine.registerHelper("concat", (...parts: unknown[]) => parts.slice(0, -1).join(""));
// A value in a shell script: one word, whatever it holds (the only way one enters a script).
engine.registerHelper("sh", (value: unknown) => {
  if (typeof value !== "string" && typeof value !== "number")
    throw new Error(`sh takes a string or a number, not ${JSON.stringify(value)}`);
  return shellQuote(String(value));
});

/** Templates in this folder are partials, named by their file name: run/partials/units-record.sh.hbs is {{> units-record}}. */
const PARTIALS_DIR = "run/partials/";

interface FileSpec {
  template: string;
  /** Content computed here rather than from a template (JSON target lists). */
  text?: string;
  path: string;
  mode: string;
  owner: string;
  role: FileRole;
  context: object;
  check?: string;
}

/** Child-name suffix for a file's resource: its path, made name-safe ("/etc/knot/knot.conf" → "etc-knot-knot.conf"). */
export function fileResourceSuffix(path: string): string {
  return path.replace(/^\//, "").replace(/[^A-Za-z0-9._-]+/g, "-");
}

/** Every file the node needs, in a stable order. */
export function renderNode(plan: NodePlan, templates: TemplateSources): RenderedFile[] {
  const iface = WIREGUARD_INTERFACE;
  const shared = { mode: "0644", owner: "root:root" };
  const specs: FileSpec[] = [
    { template: "etc/wireguard/wg0.conf.hbs", path: WIREGUARD_CONF, mode: "0600", owner: "root:root", role: "wireguard", context: plan },
    {
      template: "usr/local/lib/boreal/wg-apply.hbs",
      path: WG_APPLY,
      mode: "0755",
      owner: "root:root",
      role: "wireguard",
      context: { iface, conf: WIREGUARD_CONF, keyFile: KEY_FILE },
    },
    { template: "etc/knot/knot.conf.hbs", path: KNOT_CONF, mode: "0640", owner: "root:knot", role: "dns", context: knotContext(plan) },
    ...plan.dns.primaryZones.map((zone) => ({
      template: "var/lib/knot/zones/ZONE.zone.hbs",
      path: zoneFilePath(zone.name),
      mode: "0640",
      owner: "root:knot",
      role: "dns" as const,
      context: { ...plan, zone, soaTarget: soaTarget(plan, zone) },
      check: zoneFileCheck(zone.name, templates),
    })),
    {
      template: "etc/prometheus/blackbox.yml.hbs",
      path: BLACKBOX_CONF,
      ...shared,
      role: "probes",
      context: { node: plan.node, zones: plan.monitoring.zones },
    },
    ...Object.entries(scrapeTargets(plan.monitoring)).map(([job, targets]) => ({
      template: "",
      text: `${JSON.stringify(targets, null, 2)}\n`,
      path: `${TARGETS_DIR}/${job}.json`,
      ...shared,
      role: "probes" as const,
      context: {},
    })),
    { template: "etc/default/prometheus-node-exporter.hbs", path: NODE_EXPORTER_DEFAULTS, ...shared, role: "monitoring", context: plan },
    ...MESH_UNITS.map((unit) => ({
      template: "etc/systemd/system/UNIT.service.d/boreal.conf.hbs",
      path: `/etc/systemd/system/${unit}.service.d/boreal.conf`,
      ...shared,
      role: "monitoring" as const,
      context: { iface },
    })),
    { template: "etc/default/prometheus.hbs", path: "/etc/default/prometheus", ...shared, role: "monitoring", context: plan.monitoring },
    {
      template: "etc/prometheus/prometheus.yml.hbs",
      path: PROMETHEUS_CONF,
      ...shared,
      role: "monitoring",
      context: { ...plan, ...plan.monitoring },
    },
    {
      template: "etc/prometheus/boreal-rules.yml.hbs",
      path: "/etc/prometheus/boreal-rules.yml",
      ...shared,
      role: "monitoring",
      context: rulesContext(plan),
    },
    {
      template: "etc/default/prometheus-blackbox-exporter.hbs",
      path: "/etc/default/prometheus-blackbox-exporter",
      ...shared,
      role: "monitoring",
      context: plan.monitoring,
    },
    {
      template: "etc/default/prometheus-alertmanager.hbs",
      path: "/etc/default/prometheus-alertmanager",
      ...shared,
      role: "monitoring",
      context: plan.monitoring,
    },
    {
      template: "etc/prometheus/alertmanager.yml.hbs",
      path: ALERTMANAGER_CONF,
      mode: "0640",
      owner: "root:prometheus",
      role: "monitoring",
      context: alertmanagerContext(plan),
    },
    {
      template: "usr/local/lib/boreal/wg-metrics.hbs",
      path: `${LIB_DIR}/wg-metrics`,
      mode: "0755",
      owner: "root:root",
      role: "monitoring",
      context: { conf: WIREGUARD_CONF, textfileDir: TEXTFILE_DIR },
    },
    {
      template: "usr/local/lib/boreal/wg-endpoints.hbs",
      path: `${LIB_DIR}/wg-endpoints`,
      mode: "0755",
      owner: "root:root",
      role: "monitoring",
      context: { iface, conf: WIREGUARD_CONF, staleSeconds: FALLBACK_STALE_SECONDS, settleSeconds: FALLBACK_SETTLE_SECONDS },
    },
    {
      template: "usr/local/lib/boreal/zone-metrics.hbs",
      path: `${LIB_DIR}/zone-metrics`,
      mode: "0755",
      owner: "root:root",
      role: "monitoring",
      context: { ...plan, textfileDir: TEXTFILE_DIR },
    },
    {
      template: "etc/systemd/system/boreal-wg-metrics.service.hbs",
      path: "/etc/systemd/system/boreal-wg-metrics.service",
      ...shared,
      role: "monitoring",
      context: { iface },
    },
    {
      template: "etc/systemd/system/boreal-wg-metrics.timer.hbs",
      path: "/etc/systemd/system/boreal-wg-metrics.timer",
      ...shared,
      role: "monitoring",
      context: { iface },
    },
    {
      template: "usr/local/lib/boreal/sync-gate.hbs",
      path: `${LIB_DIR}/sync-gate`,
      mode: "0755",
      owner: "root:root",
      role: "agent",
      context: {
        stateDir: AGENT.stateDir,
        refreshAfter: Math.max(60, plan.syncInterval),
        agentCommand: agentCommand(`sync ${GATE_FETCHED_FLAG}`),
        fetchedFile: AGENT.gateFetched,
      },
    },
    {
      template: "etc/systemd/system/boreal-sync.service.hbs",
      path: "/etc/systemd/system/boreal-sync.service",
      ...shared,
      role: "agent",
      context: { ...plan, iface },
    },
    {
      template: "etc/systemd/system/boreal-sync.timer.hbs",
      path: "/etc/systemd/system/boreal-sync.timer",
      ...shared,
      role: "agent",
      context: plan,
    },
    {
      template: "etc/systemd/system/boreal-attest.service.hbs",
      path: "/etc/systemd/system/boreal-attest.service",
      ...shared,
      role: "agent",
      context: { ...plan, iface, attestRun: ATTEST_RUN },
    },
    {
      template: "etc/systemd/system/boreal-attest.timer.hbs",
      path: "/etc/systemd/system/boreal-attest.timer",
      ...shared,
      role: "agent",
      context: plan,
    },
    {
      template: "usr/local/lib/boreal/nudge-gate.hbs",
      path: NUDGE_GATE,
      mode: "0755",
      owner: "root:root",
      role: "agent",
      context: {
        federation: plan.federation.name,
        nudgeLine: nudgeLine(plan.federation.name),
        spacing: NUDGE_SPACING_SECONDS,
        collect: 0.2,
      },
    },
    {
      template: "etc/systemd/system/boreal-nudge.socket.hbs",
      path: "/etc/systemd/system/boreal-nudge.socket",
      ...shared,
      role: "agent",
      context: { ...plan, nudgePort: NUDGE_PORT },
    },
    {
      template: "etc/systemd/system/boreal-nudge.service.hbs",
      path: "/etc/systemd/system/boreal-nudge.service",
      ...shared,
      role: "agent",
      context: { ...plan, nudgeGate: NUDGE_GATE },
    },
    {
      template: "etc/systemd/system/boreal-delegation.service.hbs",
      path: "/etc/systemd/system/boreal-delegation.service",
      ...shared,
      role: "agent",
      context: { ...plan, delegationRun: DELEGATION_RUN },
    },
    {
      template: "etc/systemd/system/boreal-delegation.timer.hbs",
      path: "/etc/systemd/system/boreal-delegation.timer",
      ...shared,
      role: "agent",
      context: plan,
    },
  ];
  if (plan.firewall.enabled) {
    specs.push({
      template: "etc/nftables.conf.hbs",
      path: NFTABLES_CONF,
      mode: "0755",
      owner: "root:root",
      role: "firewall",
      context: { ...plan, ...nftablesContext(plan.firewall, iface), iface, memberRules: NFTABLES_MEMBER_DIR },
    });
  }
  return specs.map((spec) => ({
    path: spec.path,
    content: spec.text ?? renderTemplate(templates, spec.template, spec.context),
    mode: spec.mode,
    owner: spec.owner,
    role: spec.role,
    ...(spec.check ? { check: spec.check } : {}),
  }));
}

/** Knot's `server:` section: Knot reads it only when it starts, so the restart key covers it. */
export const KNOT_SERVER = { rundir: "/run/knot", user: "knot:knot", listen: ["0.0.0.0@53", "::@53"], automaticAcl: "on" } as const;

/**
 * What Knot takes only on a restart, as one key: its `server:` section, and the set of peer
 * catalogs (a join, a departure), because on a reload Knot 3.2 did not always add the member
 * zones of a new catalog. knot.conf carries it; the DNS apply restarts Knot when it differs
 * from the last one's, and reloads it otherwise, so that zones keep being served.
 */
export function knotRestartKey(peerCatalogs: readonly string[]): string {
  const catalogs = [...peerCatalogs].sort();
  return createHash("sha256")
    .update(JSON.stringify({ server: KNOT_SERVER, catalogs }))
    .digest("hex");
}

function knotContext(plan: NodePlan) {
  const restartKey = knotRestartKey(plan.dns.peerCatalogs.map((p) => p.catalog));
  return { ...plan, ...plan.dns, knotServer: KNOT_SERVER, restartKey };
}

/** What the zone check prints after Knot's words for each line Knot names: that line of the rendered file. */
export const RENDERED_LINE_MARK = "rendered line";

/**
 * A zone file's check before it is put in place: Knot's own (`knotc zone-check`), its refusal
 * naming the rendered lines (templates/run/zone-check.sh.hbs). The check reads "$staged".
 */
export function zoneFileCheck(zone: string, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/zone-check.sh.hbs", { zone, renderedLineMark: RENDERED_LINE_MARK });
}

/** Units that listen on the mesh address: they start after wg0 and retry until it is there. */
export const MESH_UNITS = ["prometheus-node-exporter", "prometheus", "prometheus-alertmanager"] as const;

interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * Every node's exporter; every peer's mesh addresses; and DNS where resolvers ask: this
 * member's own zones at every node, and every node for the zones it is primary for.
 * Not every zone at every node: that is nodes × zones probes on each node, where this keeps
 * each node's probes to about nodes + zones. Every (zone, node) pair is still watched, by
 * every node of the zone's member, who is the one to act; and every node by everyone.
 */
export function scrapeTargets(monitoring: MonitoringPlan): Record<"node" | "icmp" | "dns", TargetGroup[]> {
  const who = (n: WatchedNode) => ({ node: n.node, member: n.member });
  const peers = monitoring.nodes.filter((n) => !n.self);
  const ownMember = monitoring.nodes.find((n) => n.self)?.member;
  return {
    node: monitoring.nodes.map((n) => ({ targets: [`${n.mesh.ipv4}:${EXPORTER_PORT}`], labels: who(n) })),
    icmp: peers.flatMap((n) => [
      { targets: [n.mesh.ipv4], labels: { ...who(n), family: "ipv4", __param_module: "icmp_ipv4" } },
      { targets: [n.mesh.ipv6], labels: { ...who(n), family: "ipv6", __param_module: "icmp_ipv6" } },
    ]),
    dns: monitoring.zones.flatMap((zone) =>
      monitoring.nodes
        .filter((n) => zone.member === ownMember || zone.primary === n.node)
        .map((n) => ({
          targets: [n.dnsTarget],
          labels: { ...who(n), zone: zone.name, zone_member: zone.member, __param_module: `dns_soa_${zone.name}` },
        })),
    ),
  };
}

/** Checks of the parent's delegation in a row that must all find a difference before BorealDelegationDrift fires. */
export const DELEGATION_DRIFT_CHECKS = 3;

/**
 * The alert rules' values: the member whose delegations this node's alert watches (its own
 * nodes' checks: only the member can mend its registrar's records), and how long a drift
 * lasts before it fires (DELEGATION_DRIFT_CHECKS checks at the stack's interval).
 */
function rulesContext(plan: NodePlan) {
  return {
    member: plan.member,
    delegationDriftChecks: DELEGATION_DRIFT_CHECKS,
    delegationDriftSeconds: DELEGATION_DRIFT_CHECKS * plan.delegationCheckInterval,
  };
}

/** The receivers as the template needs them: each present, null when not set (strict templates). */
function alertmanagerContext(plan: NodePlan) {
  const { webhook, email } = plan.monitoring.alerts;
  return {
    node: plan.node,
    member: plan.member,
    webhook: webhook ?? null,
    email: email ?? null,
    receiving: webhook !== undefined || email !== undefined,
  };
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
    const limit = rule.limit ? ` limit rate ${rule.limit.perSecond}/second burst ${rule.limit.burst} packets` : "";
    const ports = `${rule.protocol} dport ${rule.port === rule.lastPort ? rule.port : `${rule.port}-${rule.lastPort}`}${limit}`;
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

interface Compiled {
  templates: Map<string, HandlebarsTemplateDelegate>;
  partials?: Record<string, HandlebarsTemplateDelegate>;
}
const compiled = new WeakMap<TemplateSources, Compiled>();

function compile(templates: TemplateSources, name: string): HandlebarsTemplateDelegate {
  let cache = compiled.get(templates);
  if (!cache) compiled.set(templates, (cache = { templates: new Map() }));
  let template = cache.templates.get(name);
  if (!template) {
    const source = templates[name];
    if (source === undefined) throw new Error(`template ${name} is missing from templates/`);
    template = engine.compile(source, { noEscape: true, strict: true });
    cache.templates.set(name, template);
  }
  return template;
}

function partialsOf(templates: TemplateSources): Record<string, HandlebarsTemplateDelegate> {
  const cache = compiled.get(templates)!;
  if (!cache.partials) {
    const names = Object.keys(templates).filter((name) => name.startsWith(PARTIALS_DIR));
    cache.partials = Object.fromEntries(
      names.map((name) => [name.slice(PARTIALS_DIR.length).replace(/\..*$/, ""), compile(templates, name)]),
    );
  }
  return cache.partials;
}

export function renderTemplate(templates: TemplateSources, name: string, context: object): string {
  const template = compile(templates, name);
  return template(context, { partials: partialsOf(templates) });
}

/** A script of templates/run/, as a command: without the file's last newline. */
export function renderScript(templates: TemplateSources, name: string, context: object): string {
  return renderTemplate(templates, name, context).replace(/\n$/, "");
}

// Bundled into the agent, the templates are built in (src/agent/bundle.ts, esbuild `define`).
declare const BOREAL_TEMPLATES: TemplateSources | undefined;
const BUNDLED = typeof BOREAL_TEMPLATES !== "undefined" ? BOREAL_TEMPLATES : undefined;
let provider: (() => TemplateSources) | undefined;

/** Sets where a script rendered without sources in hand finds them: src/io/templates.ts provides the kit's own. */
export function provideTemplates(load: () => TemplateSources): void {
  provider = load;
}

/** The sources for a script whose caller passes none (the agent's installs and applies): built in, or provided. */
export function providedTemplates(): TemplateSources {
  if (BUNDLED) return BUNDLED;
  if (!provider) throw new Error("no templates to render a node script with: import src/io/templates.ts, which provides them");
  return provider();
}

function soaTarget(plan: NodePlan, zone: PrimaryZone): string {
  return plan.nameServer ?? zone.nameServers[0].name;
}

/** Short content hash used as a trigger: a file's commands re-run only when it changes. */
export function contentHash(content: string): string {
  return createHash("sha256").update(content).digest("hex").slice(0, 16);
}
