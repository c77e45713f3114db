// Every shell command the kit runs on a node, as pure data. Components hand these to
// remote commands; nothing else writes shell for the node.
import { armorBody, NODE_PROOF_NAMESPACE } from "../registry/keyproof";
import { AGENT, ATTEST_LOCK, ATTESTATION_KEY_FILE, BLACKBOX_BINARY, ETC_DIR, FileRole, KEY_FILE, KNOT_CONF, KNOT_RESTART_MARK, LIB_DIR, NFTABLES_MEMBER_DIR, RenderedFile, TEXTFILE_DIR, UNIT_STATE_DIR, WIREGUARD_INTERFACE } from "./layout";

// nodejs runs the sync agent (the kit's own planner, bundled); git pulls the registry.
// Prometheus, the blackbox exporter and Alertmanager: every node watches every other.
export const PACKAGES = [
  "wireguard-tools", "knot", "knot-dnsutils", "prometheus-node-exporter", "nftables", "nodejs", "git",
  "prometheus", "prometheus-blackbox-exporter", "prometheus-alertmanager",
];


/** How sync-gate starts the agent: it says the mirrors it fetched (AGENT.gateFetched) need no second fetch. */
export const GATE_FETCHED_FLAG = "--fetched";


/**
 * Makes the node's attestation key once, and prints its public key, then its proof: the key's
 * own signature over the statement naming the federation, the node and the key
 * (src/core/registry/keyproof.ts), so that nobody can carry the key to another node.
 */
export function attestationKeyScript(node: string, federation: string): string {
  return [
    "set -eu",
    "umask 077",
    `mkdir -p ${ETC_DIR}`,
    `[ -s ${ATTESTATION_KEY_FILE} ] || ssh-keygen -q -t ed25519 -N '' -C 'boreal attestations of node ${node}' -f ${ATTESTATION_KEY_FILE} </dev/null >/dev/null`,
    `key=$(cut -d' ' -f1,2 ${ATTESTATION_KEY_FILE}.pub)`,
    'echo "$key"',
    `printf 'boreal-attestation-key-proof v1\\nfederation %s\\nnode %s\\nkey %s\\n' '${federation}' '${node}' "$key" | ssh-keygen -q -Y sign -f ${ATTESTATION_KEY_FILE} -n ${NODE_PROOF_NAMESPACE}`,
  ].join("\n");
}

/** The attestation key script's output: the key and its proof (an armor's body). */
export function parseAttestationKeyOutput(stdout: string): { attestationKey: string; attestationKeyProof: string } {
  const [key, ...armor] = stdout.trim().split("\n");
  return { attestationKey: key.trim(), attestationKeyProof: armorBody(armor.join("\n")) };
}

export const ATTESTATION_KEY_DELETE = `rm -f ${ATTESTATION_KEY_FILE} ${ATTESTATION_KEY_FILE}.pub`;

/** A round of label checks, one at a time (a round still going when another is due is no failure), never waiting on the sync's lock. */
export const ATTEST_RUN = `flock -n -E 0 ${ATTEST_LOCK} node ${AGENT.program} attest`;

/** Runs the agent the way its service does: one run at a time. */
export function agentCommand(args: string): string {
  return `flock ${AGENT.lock} node ${AGENT.program} ${args}`;
}

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
    ...(file.check
      ? [
          // The check reads "$staged"; its own words, with the file named, are the refusal.
          `staged="$tmp"`,
          `if ! why=$( { ${file.check}
} 2>&1 ); then rm -f "$tmp"; printf 'refused ${file.path} (the file in place stays): %s\\n' "$why" >&2; exit 3; fi`,
        ]
      : []),
    `mv -f "$tmp" '${file.path}'`,
  ].join("\n");
}

/**
 * The DNSKEY set each of the node's primary zones serves, as resolvers will see it (Knot
 * signs a new zone within seconds of loading it: wait for the keys, up to a minute).
 * Printed as master-file lines; the member's machine makes the DS records of them.
 */
export function servedDnskeysScript(zones: string[]): string {
  return [
    "set -eu",
    `for zone in ${zones.join(" ")}; do`,
    "  tries=0",
    '  until keys=$(kdig +short +timeout=2 @127.0.0.1 "$zone" DNSKEY) && [ -n "$keys" ]; do',
    "    tries=$((tries + 1))",
    '    if [ "$tries" -ge 60 ]; then echo "$zone: Knot serves no DNSKEY a minute after the sync agent applied it: journalctl -u knot" >&2; exit 1; fi',
    "    sleep 1",
    "  done",
    '  printf "%s\\n" "$keys" | sed "s|^|$zone DNSKEY |"',
    "done",
  ].join("\n");
}

/** Exit status of installScript when the file's check refused it. */
export const CHECK_REFUSED = 3;

/** What the zone check prints after Knot's words for each line Knot names: that line of the rendered file. */
export const RENDERED_LINE_MARK = "rendered line";

/**
 * Knot's own check of a zone file before it is put in place (`knotc zone-check`, offline,
 * against a throwaway config that names only this zone and the staged file): the same
 * parser and semantic checks knotd would run on reload, with the line of each error.
 * Knot names a line of the rendered file (`line 8`), which the member never wrote: each
 * such line is printed after Knot's words (`rendered line 8: <record>`, at most 20, cut at
 * 300 characters, anything but printable ASCII and tabs shown as '?'), so the node's
 * refusal names the record; on the member's machine, precheck maps it to the member's own
 * file and line. Every line the kit renders is its own or a record its parser accepted.
 */
export function zoneFileCheck(zone: string): string {
  return [
    'scratch=$(mktemp -d)',
    `printf 'database:\\n  storage: "%s"\\nzone:\\n  - domain: ${zone}\\n    file: "%s"\\n' "$scratch" "$staged" > "$scratch/check.conf"`,
    'status=0',
    'knotc -c "$scratch/check.conf" zone-check > "$scratch/out" 2>&1 || status=$?',
    'cat "$scratch/out"',
    'if [ "$status" -ne 0 ]; then',
    `  sed -n 's/.*, line \\([0-9][0-9]*\\) (.*/\\1/p' "$scratch/out" | sort -nu | head -n 20 | while read -r n; do`,
    `    printf '${RENDERED_LINE_MARK} %s: %s\\n' "$n" "$(sed -n "\${n}p" "$staged" | cut -c1-300 | tr -d '\\n' | LC_ALL=C tr -c '[:print:]\\t' '?')"`,
    '  done',
    'fi',
    'rm -rf "$scratch"',
    '[ "$status" -eq 0 ]',
  ].join("\n");
}

/** Puts the member's original back if there was one, else removes the file. */
export function removeScript(file: Pick<RenderedFile, "path">): string {
  return `if [ -e '${originalPath(file)}' ]; then mv -f '${originalPath(file)}' '${file.path}'; else rm -f '${file.path}'; fi`;
}


/**
 * Records, once per unit, whether it was enabled before the kit enabled it: a marker file
 * holding `enabled` or `disabled`, written only if absent, so a re-apply (the unit now
 * enabled by the kit) never overwrites what the member had. Runs before any `enable`.
 */
export function recordUnitsScript(units: string[], dir = UNIT_STATE_DIR): string {
  return [
    `mkdir -p ${dir}`,
    `for unit in ${units.join(" ")}; do`,
    `  [ -e "${dir}/$unit" ] && continue`,
    `  if [ "$(systemctl is-enabled "$unit" 2>/dev/null)" = enabled ]; then was=enabled; else was=disabled; fi`,
    `  echo "$was" > "${dir}/$unit.new" && mv -f "${dir}/$unit.new" "${dir}/$unit"`,
    "done",
  ].join("\n");
}

/**
 * Enables the units not enabled yet (and with `now`, starts them). `systemctl enable` reloads
 * systemd, and runs Debian's sysv-install for a unit with an init script, even when nothing
 * changes: 0.3 to 1.2 s a unit in a container, paid on every apply. `is-enabled` takes 30 ms.
 */
export function enableUnitsScript(units: string[], options: { now?: boolean } = {}): string {
  return [
    `for unit in ${units.join(" ")}; do`,
    '  systemctl is-enabled --quiet "$unit" || systemctl enable --quiet "$unit"',
    "done",
    ...(options.now ? [`systemctl start ${units.join(" ")}`] : []),
  ].join("\n");
}

/**
 * Puts back each unit's enablement as recorded before the kit (a unit without a record
 * was the kit's to enable: it is disabled), then forgets the record. Units are stopped by
 * the caller first where the kit's configuration of them is going away; an enabled one
 * starts again at boot with the member's own configuration, put back by the file removals.
 */
export function restoreUnitsScript(units: string[], dir = UNIT_STATE_DIR): string {
  return [
    `for unit in ${units.join(" ")}; do`,
    `  if [ "$(cat "${dir}/$unit" 2>/dev/null)" = enabled ]; then`,
    `    systemctl enable --quiet "$unit" && echo "$unit: enabled before boreal-kit, left enabled"`,
    "  else",
    `    systemctl disable --quiet "$unit"`,
    "  fi",
    `  rm -f "${dir}/$unit"`,
    "done",
    `rmdir ${dir} 2>/dev/null || true`,
  ].join("\n");
}


const RAW_SOCKET_QUESTION = "prometheus-blackbox-exporter prometheus-blackbox-exporter/want_cap_net_raw boolean";
/** Present while the kit is the one that granted the blackbox exporter its raw socket. */
const RAW_SOCKET_MARK = `${UNIT_STATE_DIR}/blackbox-cap_net_raw`;

/**
 * ICMP probes need a raw socket. Debian asks at install whether to grant the exporter
 * CAP_NET_RAW and, installed non-interactively, does not. The kit answers yes through
 * debconf, so that package upgrades keep the answer, and remembers it was the kit. Then it
 * runs the one line of the package's postinst that acts on the answer: `dpkg-reconfigure`
 * would run the whole postinst (users, deb-systemd-helper, a restart) for it, seconds of
 * CPU in every node's first `pulumi up`.
 */
function grantRawSocketScript(): string {
  return [
    `if ! getcap ${BLACKBOX_BINARY} | grep -q cap_net_raw; then`,
    `  mkdir -p ${UNIT_STATE_DIR} && touch ${RAW_SOCKET_MARK}`,
    `  echo "${RAW_SOCKET_QUESTION} true" | debconf-set-selections`,
    `  setcap cap_net_raw=ep ${BLACKBOX_BINARY}`,
    "fi",
  ].join("\n");
}

/** Puts Debian's answer back if the kit changed it (the postinst's line for "false"). */
function revokeRawSocketScript(): string {
  return [
    `if [ -e ${RAW_SOCKET_MARK} ]; then`,
    `  echo "${RAW_SOCKET_QUESTION} false" | debconf-set-selections`,
    `  setcap cap_net_raw-epi ${BLACKBOX_BINARY}`,
    `  rm -f ${RAW_SOCKET_MARK}`,
    "fi",
  ].join("\n");
}

/** Debian's monitoring units the kit configures and enables (Monitoring owns them). */
export const MONITORING_UNITS = ["prometheus-node-exporter", "prometheus", "prometheus-blackbox-exporter", "prometheus-alertmanager"] as const;



export interface ServiceScripts {
  /** Validates and applies the role's files; runs again whenever one changes. */
  apply: string;
  /**
   * Undoes apply: stops what the kit ran and puts back the enablement each unit had before
   * the kit (restoreUnitsScript); the files are removed by their own commands.
   */
  undo: string;
}

/** The peers' catalog zones knot.conf interprets, one a line, sorted. */
export function peerCatalogsScript(knotConf = KNOT_CONF): string {
  return `awk '/^  - domain: / { zone = $3 } /^    catalog-role: interpret$/ { print zone }' ${knotConf} | sort`;
}

/**
 * Prints the member zones Knot's catalog database holds for a catalog knot.conf no longer
 * interprets (peerCatalogsScript: one reader of the config). kcatalogprint lists
 * "<member zone> <owner> <catalog zone> [group]" between a ";;" header and a
 * "Total records: N" footer: only rows whose first field is a zone name (ending in a dot)
 * count. Before, the footer was taken for an orphan, and every DNS apply restarted Knot.
 */
export function catalogOrphansScript(knotConf = KNOT_CONF): string {
  return [
    `kcatalogprint 2>/dev/null | awk -v configured="$(${peerCatalogsScript(knotConf)} | tr '\\n' ' ')"`,
    `'BEGIN { n = split(configured, list, " "); for (i = 1; i <= n; i++) keep[list[i]] = 1 } $1 ~ /[.]$/ && NF >= 3 && !($3 in keep) { print $1 }'`,
  ].join(" ");
}

/** The agent's timers: the sync and the label's checks. */
export const AGENT_TIMERS = ["boreal-sync.timer", "boreal-attest.timer"];

export const SERVICE_SCRIPTS: Record<FileRole, ServiceScripts> = {
  wireguard: {
    // wg-apply (a rendered file) enables wg-quick@wg0: record what the member had first.
    apply: ["set -eu", recordUnitsScript([`wg-quick@${WIREGUARD_INTERFACE}`]), `${LIB_DIR}/wg-apply`].join("\n"),
    undo: [`systemctl stop wg-quick@${WIREGUARD_INTERFACE}`, restoreUnitsScript([`wg-quick@${WIREGUARD_INTERFACE}`])].join("\n"),
  },
  dns: {
    apply: [
      "set -eu",
      "install -d -o knot -g knot -m 0750 /var/lib/knot/secondary",
      "knotc -c /etc/knot/knot.conf conf-check",
      recordUnitsScript(["knot"]),
      enableUnitsScript(["knot"]),
      // Knot takes a new `server:` section (listen addresses) only on restart. A new set of
      // peer catalogs (a join, a departure) restarts it too: on reload, Knot 3.2 loaded a
      // catalog but did not always add its member zones (seen on the lab: a member that left
      // and came back was never served again by one peer), and new zones came later than
      // after a restart. Anything else (records, keys) is reloaded, so zones keep being served.
      "server=$(awk '/^[a-z]/ { keep = ($0 == \"server:\") } keep' /etc/knot/knot.conf | sha256sum | cut -d' ' -f1)",
      `catalogs=$(${peerCatalogsScript()} | sha256sum | cut -d' ' -f1)`,
      // A peer that left: its catalog is gone from the config, but Knot keeps the catalog's
      // member zones in its catalog database and goes on serving them as orphans. Purge
      // them, and let Knot rebuild the database from the catalogs still configured.
      `orphans=$(${catalogOrphansScript()})`,
      'if [ -n "$orphans" ]; then knotc -f zone-purge $orphans >/dev/null 2>&1 || true; systemctl stop knot; rm -rf /var/lib/knot/catalog; fi',
      `if [ -z "$orphans" ] && systemctl is-active --quiet knot && [ "$(cat ${KNOT_RESTART_MARK} 2>/dev/null)" = "$server $catalogs" ]; then knotc reload; else systemctl restart knot; fi`,
      `echo "$server $catalogs" > ${KNOT_RESTART_MARK}`,
      // A NOTIFY that arrived while Knot restarted is lost: ask every primary for its SOA
      // now rather than at the next refresh. And tell every secondary ours: a member that
      // just joined asked for our catalog before we knew it, was refused, and would wait out
      // Knot's bootstrap retries (9–14 s on the lab) where a NOTIFY makes it transfer at once.
      "knotc zone-refresh >/dev/null 2>&1 || true",
      "knotc zone-notify >/dev/null 2>&1 || true",
    ].join("\n"),
    undo: ["systemctl stop knot", restoreUnitsScript(["knot"]), `rm -f ${KNOT_RESTART_MARK}`].join("\n"),
  },
  probes: {
    // Prometheus re-reads its target files by itself; the blackbox exporter needs a reload
    // for new DNS modules (one per zone). Before Monitoring first starts it, nothing to do.
    apply: [
      "set -eu",
      "prometheus-blackbox-exporter --config.check --config.file=/etc/prometheus/blackbox.yml",
      "if systemctl is-active --quiet prometheus-blackbox-exporter; then systemctl reload prometheus-blackbox-exporter; fi",
    ].join("\n"),
    // The probes' files go with the agent's `remove`; Monitoring's undo stops the units.
    undo: "true",
  },
  monitoring: {
    apply: [
      "set -eu",
      "systemctl daemon-reload",
      enableUnitsScript(["boreal-wg-metrics.timer"], { now: true }),
      // Metrics now rather than in 15 s. A failed first run (a transient state right after
      // wg0 or Knot restarted) must not fail the deploy: the timer runs it again, and a
      // script that keeps failing shows as missing metrics. Its reason goes into the log.
      "systemctl start boreal-wg-metrics.service || journalctl -u boreal-wg-metrics.service -n 20 --no-pager -o cat",
      // The rules and targets too: a broken file stops here, before anything restarts.
      "promtool check config /etc/prometheus/prometheus.yml",
      "amtool check-config /etc/prometheus/alertmanager.yml",
      grantRawSocketScript(),
      recordUnitsScript([...MONITORING_UNITS]),
      enableUnitsScript([...MONITORING_UNITS]),
      `systemctl restart ${MONITORING_UNITS.join(" ")}`,
    ].join("\n"),
    undo: [
      "systemctl disable --now boreal-wg-metrics.timer",
      revokeRawSocketScript(),
      `systemctl stop ${MONITORING_UNITS.join(" ")}`,
      restoreUnitsScript([...MONITORING_UNITS]),
      `rm -f ${TEXTFILE_DIR}/wireguard.prom ${TEXTFILE_DIR}/zones.prom ${TEXTFILE_DIR}/boreal-sync.prom`,
    ].join("\n"),
  },
  agent: {
    // `sync --rekey` re-applies WireGuard even when no file changed: a rotated key
    // lives outside the files and must still reach the interface.
    // The timers start after this run, so that their first runs neither wait on its lock nor
    // compete with it; they start even when it fails, and retry it.
    apply: ["set -eu", "systemctl daemon-reload", "status=0", `${agentCommand("sync --rekey")} || status=$?`, enableUnitsScript(AGENT_TIMERS, { now: true }), 'exit "$status"'].join("\n"),
    undo: [`systemctl disable --quiet --now ${AGENT_TIMERS.join(" ")} 2>/dev/null || true`, "systemctl stop boreal-sync.service boreal-attest.service 2>/dev/null || true", `if [ -e ${AGENT.program} ]; then ${agentCommand("remove")}; fi`, `rm -rf ${AGENT.stateDir} ${AGENT.program}`].join("\n"),
  },
  firewall: {
    apply: [
      "set -eu",
      // The whole ruleset of the next boot, the member's own files included.
      "nft -c -f /etc/nftables.conf",
      // Now, the kit's table alone: the member's files are theirs to (re)load.
      `grep -v '^include "${NFTABLES_MEMBER_DIR}/' /etc/nftables.conf | nft -f -`,
      recordUnitsScript(["nftables"]),
      enableUnitsScript(["nftables"]),
    ].join("\n"),
    // Never `stop` nftables: its ExecStop flushes the whole ruleset, the member's tables too.
    undo: ["nft delete table inet boreal 2>/dev/null || true", restoreUnitsScript(["nftables"])].join("\n"),
  },
};
