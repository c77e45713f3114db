// Every shell script the kit runs on a node: the text is in templates/run/ (templates/README.md);
// here TypeScript picks the template and the values (which units, which files, what key), and
// components and the agent hand the result to remote commands or `sh -c`. A script rendered
// without template sources in hand (the agent's) uses the provided ones (render.ts).
import { armorBody, NODE_PROOF_NAMESPACE } from "../registry/keyproof";
import {
  AGENT,
  agentCommand,
  ALERTMANAGER_CONF,
  ATTESTATION_KEY_FILE,
  BLACKBOX_BINARY,
  BLACKBOX_CONF,
  ETC_DIR,
  FileRole,
  KEY_FILE,
  KNOT_CATALOG_DIR,
  KNOT_CONF,
  KNOT_RESTART_MARK,
  KNOT_SECONDARY_DIR,
  NFTABLES_CONF,
  NFTABLES_MEMBER_DIR,
  PROMETHEUS_CONF,
  RenderedFile,
  TEXTFILE_DIR,
  UNIT_STATE_DIR,
  WG_APPLY,
  WIREGUARD_INTERFACE,
} from "./layout";
import { providedTemplates, renderScript, TemplateSources } from "./render";

// The agent's command lines are the layout's; the zone check is part of a rendered file.
export { agentCommand, ATTEST_RUN, DELEGATION_RUN, GATE_FETCHED_FLAG } from "./layout";
export { RENDERED_LINE_MARK, zoneFileCheck } from "./render";

// nodejs runs the sync agent (the kit's own planner, bundled); git pulls the registry.
// Prometheus, the blackbox exporter and Alertmanager: every node watches every other.
export const PACKAGES = [
  "wireguard-tools",
  "knot",
  "knot-dnsutils",
  "prometheus-node-exporter",
  "nftables",
  "nodejs",
  "git",
  "prometheus",
  "prometheus-blackbox-exporter",
  "prometheus-alertmanager",
];

/** Exit status of installScript when the file's check refused it. */
export const CHECK_REFUSED = 3;

/** Every file the kit writes says so in its first lines; a file without it is the member's. */
export const MANAGED_MARK = "Managed by boreal-kit";

/** Where a file the member had before the kit replaced it is kept, to be put back on delete. */
export function originalPath(file: Pick<RenderedFile, "path">): string {
  return `${file.path}.boreal-orig`;
}

function dirOf(path: string): string {
  return path.replace(/\/[^/]+$/, "") || "/";
}

/** Proves the connection (and the pinned host key) and says what the server is. */
export function hostProbeScript(templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/host-probe.sh.hbs", {});
}

/** Installs the packages that are missing, and wireguard-go where the kernel has no WireGuard. */
export function packagesScript(packages: string[] = PACKAGES, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/packages.sh.hbs", { packages });
}

/** Makes the WireGuard key on the node for this epoch (a new epoch: the next key, beside the one in use) and prints the key to publish. */
export function keyScript(epoch: number, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/wireguard-key.sh.hbs", { keyFile: KEY_FILE, keyDir: dirOf(KEY_FILE), epoch });
}

/** Puts a rotation's next key in use (file, then interface) and prints the key in use. */
export function keySwitchScript(templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/wireguard-key-switch.sh.hbs", { keyFile: KEY_FILE, iface: WIREGUARD_INTERFACE });
}

export function keyDeleteScript(templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/wireguard-key-delete.sh.hbs", { keyFile: KEY_FILE });
}

/** Prints the agent's proof, made on the node, that it holds the WireGuard key `publicKey`. */
export function keyProofScript(
  federation: string,
  node: string,
  publicKey: string,
  templates: TemplateSources = providedTemplates(),
): string {
  return renderScript(templates, "run/wireguard-key-proof.sh.hbs", { program: AGENT.program, federation, node, publicKey });
}

/** Makes the node's attestation key once; prints its public key, then its proof for this node of this federation. */
export function attestationKeyScript(node: string, federation: string, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/attestation-key.sh.hbs", {
    etcDir: ETC_DIR,
    keyFile: ATTESTATION_KEY_FILE,
    comment: `boreal attestations of node ${node}`,
    federation,
    node,
    namespace: NODE_PROOF_NAMESPACE,
  });
}

/** The attestation key script's output: the key and its proof (an armor's body). */
export function parseAttestationKeyOutput(stdout: string): { attestationKey: string; attestationKeyProof: string } {
  const [key, ...armor] = stdout.trim().split("\n");
  return { attestationKey: key.trim(), attestationKeyProof: armorBody(armor.join("\n")) };
}

export function attestationKeyDeleteScript(templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/attestation-key-delete.sh.hbs", { keyFile: ATTESTATION_KEY_FILE });
}

/** Sends a nudge to every peer in wg0.conf (src/core/node/nudge.ts); never fails the step: the peers' timers are the safety net. */
export function nudgeScript(federation: string, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/nudge.sh.hbs", { program: AGENT.program, federation });
}

/** Installs stdin as the file, after its check if it has one (exit CHECK_REFUSED when the check refuses it). */
export function installScript(file: RenderedFile, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/install.sh.hbs", {
    path: file.path,
    original: originalPath(file),
    dir: dirOf(file.path),
    managedMark: MANAGED_MARK,
    mode: file.mode,
    owner: file.owner,
    checkScript: file.check ?? "",
    refusedStatus: CHECK_REFUSED,
  });
}

/** Puts the member's original back if there was one, else removes the file. */
export function removeScript(file: Pick<RenderedFile, "path">, templates: TemplateSources = providedTemplates()): string {
  return renderScript(templates, "run/remove.sh.hbs", { path: file.path, original: originalPath(file) });
}

/** Prints the DNSKEY set each zone serves, once Knot serves one; the member's machine makes the DS records of them. */
export function servedDnskeysScript(zones: string[], templates: TemplateSources = providedTemplates()): string {
  // The one list a script takes bare (see the template): names that need no quoting.
  const bare = zones.find((zone) => !/^[A-Za-z0-9._-]+$/.test(zone));
  if (bare !== undefined) throw new Error(`zone ${JSON.stringify(bare)} is not a DNS name the DNSKEY script can take`);
  return renderScript(templates, "run/served-dnskeys.sh.hbs", { zoneWords: zones.join(" ") });
}

/** Debian's monitoring units the kit configures and enables (Monitoring owns them). */
export const MONITORING_UNITS = [
  "prometheus-node-exporter",
  "prometheus",
  "prometheus-blackbox-exporter",
  "prometheus-alertmanager",
] as const;

/**
 * What starts the agent's runs: the timers of the sync, the label's checks and the check of
 * the parents' delegations, and the socket a peer's nudge arrives on (it starts the sync).
 */
export const AGENT_TRIGGERS = ["boreal-sync.timer", "boreal-attest.timer", "boreal-delegation.timer", "boreal-nudge.socket"];

export interface ServiceScripts {
  /** Validates and applies the role's files; runs again whenever one changes. */
  apply: string;
  /**
   * Undoes apply: stops what the kit ran and puts back the enablement each unit had before
   * the kit (templates/run/partials/units-restore.sh.hbs); the files are removed by their own commands.
   */
  undo: string;
}

const ROLES: readonly FileRole[] = ["wireguard", "dns", "probes", "monitoring", "agent", "firewall"];

/** Each role's values: the Debian units it records, enables and puts back, and the paths it acts on. */
function roleContext(role: FileRole): object {
  const base = { unitStateDir: UNIT_STATE_DIR };
  switch (role) {
    case "wireguard":
      return { ...base, units: [`wg-quick@${WIREGUARD_INTERFACE}`], wgApply: WG_APPLY };
    case "dns":
      return {
        ...base,
        units: ["knot"],
        knotConf: KNOT_CONF,
        restartMark: KNOT_RESTART_MARK,
        secondaryDir: KNOT_SECONDARY_DIR,
        catalogDir: KNOT_CATALOG_DIR,
      };
    case "probes":
      return { ...base, blackboxConf: BLACKBOX_CONF };
    case "monitoring":
      return {
        ...base,
        units: MONITORING_UNITS,
        timers: ["boreal-wg-metrics.timer"],
        prometheusConf: PROMETHEUS_CONF,
        alertmanagerConf: ALERTMANAGER_CONF,
        blackboxBinary: BLACKBOX_BINARY,
        rawSocketQuestion: "prometheus-blackbox-exporter prometheus-blackbox-exporter/want_cap_net_raw boolean",
        // Present while the kit is the one that granted the blackbox exporter its raw socket.
        rawSocketMark: `${UNIT_STATE_DIR}/blackbox-cap_net_raw`,
        textfileDir: TEXTFILE_DIR,
      };
    case "agent":
      return {
        ...base,
        triggers: AGENT_TRIGGERS,
        syncCommand: agentCommand("sync --rekey"),
        removeCommand: agentCommand("remove"),
        program: AGENT.program,
        stateDir: AGENT.stateDir,
      };
    case "firewall":
      return { ...base, units: ["nftables"], conf: NFTABLES_CONF, memberInclude: `^include "${NFTABLES_MEMBER_DIR}/` };
  }
}

function roleScript(templates: TemplateSources, role: FileRole, action: keyof ServiceScripts): string {
  return renderScript(templates, `run/${role}-${action}.sh.hbs`, roleContext(role));
}

/** Each role's apply and undo (templates/run/<role>-apply.sh.hbs, <role>-undo.sh.hbs). */
export function serviceScripts(templates: TemplateSources = providedTemplates()): Record<FileRole, ServiceScripts> {
  const scripts = (role: FileRole): ServiceScripts => ({
    apply: roleScript(templates, role, "apply"),
    undo: roleScript(templates, role, "undo"),
  });
  return Object.fromEntries(ROLES.map((role) => [role, scripts(role)])) as Record<FileRole, ServiceScripts>;
}

/** The roles' scripts from the provided templates, each rendered when it is read (the agent's way to them). */
export const SERVICE_SCRIPTS: Record<FileRole, ServiceScripts> = Object.fromEntries(
  ROLES.map((role) => [
    role,
    {
      get apply(): string {
        return roleScript(providedTemplates(), role, "apply");
      },
      get undo(): string {
        return roleScript(providedTemplates(), role, "undo");
      },
    },
  ]),
) as Record<FileRole, ServiceScripts>;
