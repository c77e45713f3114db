// Every shell command the kit runs on a node, as pure data. Components hand these to
// remote commands; nothing else writes shell for the node.
import type { FileRole, RenderedFile } from "./index";
import { WIREGUARD_INTERFACE } from "../model/plan";

// nodejs runs the sync agent (the kit's own planner, bundled); git pulls the registry.
export const PACKAGES = ["wireguard-tools", "knot", "knot-dnsutils", "prometheus-node-exporter", "nftables", "nodejs", "git"];

/** The sync agent on the node: its program, its config (from `pulumi up`) and its state. */
export const AGENT = {
  // Beside /usr/local/lib/boreal/, not in it: it is copied before anything creates that.
  program: "/usr/local/lib/boreal-agent.js",
  config: "/etc/boreal/agent.json",
  seed: "/var/lib/boreal/seed.json",
  stateDir: "/var/lib/boreal",
  lock: "/run/boreal-sync.lock",
} as const;

/** Runs the agent the way its service does: one run at a time. */
export function agentCommand(args: string): string {
  return `flock ${AGENT.lock} node ${AGENT.program} ${args}`;
}
export const KEY_FILE = `/etc/wireguard/${WIREGUARD_INTERFACE}.key`;

/** Proves the connection (and the pinned host key) and says what the server is. */
export const HOST_PROBE = "uname -a && cat /etc/debian_version";

/**
 * Installs what is missing; adds wireguard-go when the kernel cannot create a WireGuard
 * interface (containers, kernels without the module), which wg-quick then uses by itself.
 */
export function packagesScript(packages: string[] = PACKAGES): string {
  return [
    "set -eu",
    "export DEBIAN_FRONTEND=noninteractive",
    `pkgs="${packages.join(" ")}"`,
    "if ip link add dev boreal-probe type wireguard 2>/dev/null; then ip link del dev boreal-probe; else pkgs=\"$pkgs wireguard-go\"; fi",
    "missing=''",
    "for p in $pkgs; do dpkg-query -W -f='${Status}' \"$p\" 2>/dev/null | grep -q 'ok installed' || missing=\"$missing $p\"; done",
    "if [ -n \"$missing\" ]; then apt-get update -q && apt-get install -y -q --no-install-recommends $missing; fi",
    "echo \"packages: $pkgs\"",
  ].join("\n");
}

/**
 * Generates the private key if absent or if the wanted epoch differs from the one it was
 * made for (rotation), then prints only the public key. umask 077: the key is root-only.
 */
export function keyScript(epoch: number): string {
  return [
    "set -eu",
    "umask 077",
    "mkdir -p /etc/wireguard",
    `if [ ! -s ${KEY_FILE} ] || [ "$(cat ${KEY_FILE}.epoch 2>/dev/null)" != "${epoch}" ]; then`,
    `  wg genkey > ${KEY_FILE}.new && mv -f ${KEY_FILE}.new ${KEY_FILE} && echo ${epoch} > ${KEY_FILE}.epoch`,
    "fi",
    `wg pubkey < ${KEY_FILE}`,
  ].join("\n");
}

export const KEY_DELETE = `rm -f ${KEY_FILE} ${KEY_FILE}.epoch`;

/** Every file the kit writes says so in its first lines; a file without it is the member's. */
export const MANAGED_MARK = "Managed by boreal-kit";

/** Where a file the member had before the kit replaced it is kept, to be put back on delete. */
export function originalPath(file: Pick<RenderedFile, "path">): string {
  return `${file.path}.boreal-orig`;
}

/**
 * Installs stdin as the file, with its mode and owner, via a temp file and rename. A file
 * of the member's own (Debian's default, or theirs) is kept aside first: nothing is lost.
 */
export function installScript(file: RenderedFile): string {
  const dir = file.path.replace(/\/[^/]+$/, "") || "/";
  return [
    "set -eu",
    `mkdir -p '${dir}'`,
    `if [ -e '${file.path}' ] && [ ! -e '${originalPath(file)}' ] && ! grep -q '${MANAGED_MARK}' '${file.path}'; then cp -a '${file.path}' '${originalPath(file)}'; fi`,
    `tmp=$(mktemp '${file.path}.boreal.XXXXXX')`,
    `cat > "$tmp"`,
    `chmod ${file.mode} "$tmp"`,
    `chown ${file.owner} "$tmp"`,
    `mv -f "$tmp" '${file.path}'`,
  ].join("\n");
}

/** Puts the member's original back if there was one, else removes the file. */
export function removeScript(file: Pick<RenderedFile, "path">): string {
  return `if [ -e '${originalPath(file)}' ]; then mv -f '${originalPath(file)}' '${file.path}'; else rm -f '${file.path}'; fi`;
}

/** Hash of the `server:` section Knot was last (re)started with. */
const KNOT_SERVER_MARK = "/var/lib/knot/.boreal-server-section";

export interface ServiceScripts {
  /** Validates and applies the role's files; runs again whenever one changes. */
  apply: string;
  /** Undoes apply (stop, disable); the files are removed by their own commands. */
  undo: string;
}

export const SERVICE_SCRIPTS: Record<FileRole, ServiceScripts> = {
  wireguard: {
    apply: "/usr/local/lib/boreal/wg-apply",
    undo: `systemctl disable --now wg-quick@${WIREGUARD_INTERFACE}`,
  },
  dns: {
    apply: [
      "set -eu",
      "install -d -o knot -g knot -m 0750 /var/lib/knot/secondary",
      "knotc -c /etc/knot/knot.conf conf-check",
      "systemctl enable --quiet knot",
      // Knot takes a new `server:` section (listen addresses) only on restart; anything
      // else is reloaded, so zones keep being served.
      "server=$(awk '/^[a-z]/ { keep = ($0 == \"server:\") } keep' /etc/knot/knot.conf | sha256sum | cut -d' ' -f1)",
      // A peer that left: its catalog is gone from the config, but Knot keeps the catalog's
      // member zones in its catalog database and goes on serving them as orphans. Purge
      // them, and let Knot rebuild the database from the catalogs still configured.
      "orphans=$(kcatalogprint 2>/dev/null | awk '!/^;;/ && NF >= 3 { print $1, $3 }' | while read -r member catalog; do grep -qxF \"  - domain: $catalog\" /etc/knot/knot.conf || echo \"$member\"; done)",
      'if [ -n "$orphans" ]; then knotc -f zone-purge $orphans >/dev/null 2>&1 || true; systemctl stop knot; rm -rf /var/lib/knot/catalog; fi',
      `if [ -z "$orphans" ] && systemctl is-active --quiet knot && [ "$(cat ${KNOT_SERVER_MARK} 2>/dev/null)" = "$server" ]; then knotc reload; else systemctl restart knot; fi`,
      `echo "$server" > ${KNOT_SERVER_MARK}`,
    ].join("\n"),
    undo: `systemctl disable --now knot\nrm -f ${KNOT_SERVER_MARK}`,
  },
  monitoring: {
    apply: [
      "set -eu",
      "systemctl daemon-reload",
      "systemctl enable --quiet --now boreal-wg-metrics.timer",
      "systemctl start boreal-wg-metrics.service",
      "systemctl enable --quiet prometheus-node-exporter",
      "systemctl restart prometheus-node-exporter",
    ].join("\n"),
    undo: ["systemctl disable --now boreal-wg-metrics.timer prometheus-node-exporter", "rm -f /var/lib/prometheus/node-exporter/wireguard.prom"].join("\n"),
  },
  agent: {
    // `sync --all` re-applies every role it owns even when no file changed: a rotated key
    // lives outside the files and must still reach the interface.
    apply: ["set -eu", "systemctl daemon-reload", "systemctl enable --quiet --now boreal-sync.timer", agentCommand("sync --all")].join("\n"),
    undo: ["systemctl disable --quiet --now boreal-sync.timer", "systemctl stop boreal-sync.service 2>/dev/null || true", `if [ -e ${AGENT.program} ]; then ${agentCommand("remove")}; fi`, `rm -rf ${AGENT.stateDir} ${AGENT.program}`].join("\n"),
  },
  firewall: {
    apply: ["set -eu", "nft -c -f /etc/nftables.conf", "nft -f /etc/nftables.conf", "systemctl enable --quiet nftables"].join("\n"),
    undo: "nft delete table inet boreal 2>/dev/null || true\nsystemctl disable --quiet nftables",
  },
};
