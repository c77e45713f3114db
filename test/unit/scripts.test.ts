import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { plan } from "../../src/core/node/plan";
import { KNOT_SERVER, knotRestartKey, renderTemplate, renderNode } from "../../src/core/node/render";
import {
  AGENT_TRIGGERS,
  ATTEST_RUN,
  CHECK_REFUSED,
  GATE_FETCHED_FLAG,
  MONITORING_UNITS,
  agentCommand,
  installScript,
  zoneFileCheck,
  originalPath,
  removeScript,
  SERVICE_SCRIPTS,
  serviceScripts,
} from "../../src/core/node/scripts";
import { precheckFiles } from "../../src/program/components/precheck";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";
import {
  AGENT,
  FileRole,
  KNOT_CATALOG_DIR,
  KNOT_CONF,
  KNOT_RESTART_MARK,
  KNOT_SECONDARY_DIR,
  RenderedFile,
  UNIT_STATE_DIR,
  WG_APPLY,
} from "../../src/core/node/layout";
import { shellQuote } from "../../src/core/values/shell";

// The file scripts run as the kit runs them on a node: sh, stdin as the content.
const work = mkdtempSync(join(tmpdir(), "boreal-scripts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const owner = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
const file = (name: string, content: string): RenderedFile => ({
  path: join(work, "etc", name),
  content,
  mode: "0640",
  owner,
  role: "dns",
});
const sh = (script: string, input = "") => {
  const result = spawnSync("sh", ["-c", script], { input, encoding: "utf8" });
  if (result.status !== 0) throw new Error(result.stderr);
};
/** A step the service scripts share (templates/run/partials/), on its own. */
const partial = (name: string, units: string[]) =>
  renderTemplate(templates, `run/partials/${name}.sh.hbs`, { units, unitStateDir: UNIT_STATE_DIR, now: false }).trimEnd();
/** The units of each `for unit in 'a' 'b'; do` loop whose body starts with `body`. */
const loopUnits = (script: string, body: string) =>
  [...script.matchAll(/for unit in ([^;]*); do\n {2}(.*)/g)]
    .filter((m) => m[2].startsWith(body))
    .flatMap((m) => m[1].split(" ").map((w) => w.replace(/^'|'$/g, "")));

describe("file install and removal on the node", () => {
  test("a file of the member's own is kept aside, and put back on delete", () => {
    const knot = file("knot.conf", "# Managed by boreal-kit\nserver:\n");
    sh(`mkdir -p ${join(work, "etc")}`);
    writeFileSync(knot.path, "# the member's own knot.conf\n");
    sh(installScript(knot), knot.content);
    expect(readFileSync(knot.path, "utf8")).toBe(knot.content);
    expect(readFileSync(originalPath(knot), "utf8")).toBe("# the member's own knot.conf\n");
    expect((spawnSync("stat", ["-c", "%a", knot.path], { encoding: "utf8" }).stdout ?? "").trim()).toBe("640");

    // A second apply (an update) must not take our own file for the member's.
    sh(installScript(knot), `${knot.content}# changed\n`);
    expect(readFileSync(originalPath(knot), "utf8")).toBe("# the member's own knot.conf\n");

    sh(removeScript(knot));
    expect(readFileSync(knot.path, "utf8")).toBe("# the member's own knot.conf\n");
    expect(existsSync(originalPath(knot))).toBe(false);
  });

  test("a file only the kit had is simply removed", () => {
    const zone = file("zone", "; Managed by boreal-kit\n");
    sh(installScript(zone), zone.content);
    expect(existsSync(originalPath(zone))).toBe(false);
    sh(removeScript(zone));
    expect(existsSync(zone.path)).toBe(false);
  });

  test("no temp file is left behind", () => {
    const listed = spawnSync("sh", ["-c", `ls -a ${join(work, "etc")}`], { encoding: "utf8" }).stdout;
    expect(listed).not.toMatch(/\.boreal\.[A-Za-z0-9]{6}/);
  });
});

describe("a zone file is checked by Knot before it replaces the one in place", () => {
  const zonePath = () => join(work, "zones", "coop-a.example.zone");
  const zoneFile = (content: string): RenderedFile => ({
    path: zonePath(),
    content,
    mode: "0640",
    owner,
    role: "dns",
    check: zoneFileCheck("coop-a.example."),
  });
  const good = "$ORIGIN coop-a.example.\n@ SOA ns1 hostmaster 1 300 60 2419200 300\n@ NS ns1\nns1 A 198.51.100.9\nwww A 198.51.100.10\n";
  const install = (f: RenderedFile) => spawnSync("sh", ["-c", installScript(f)], { input: f.content, encoding: "utf8" });

  test("a zone Knot loads is installed; one it refuses is not, the old stays, and the refusal names file, record and reason", () => {
    expect(install(zoneFile(good)).status).toBe(0);
    expect(readFileSync(zonePath(), "utf8")).toBe(good);

    const refused = install(zoneFile(`${good}www CNAME elsewhere.example.\n`));
    expect(refused.status).toBe(CHECK_REFUSED);
    expect(refused.stderr).toContain(`refused ${zonePath()} (the file in place stays)`);
    expect(refused.stderr).toMatch(/www\.coop-a\.example\., another record exists beside CNAME/);
    expect(readFileSync(zonePath(), "utf8")).toBe(good);

    const broken = install(zoneFile(`${good}mail MX ten mail\n`));
    expect(broken.status).toBe(CHECK_REFUSED);
    expect(broken.stderr).toMatch(/line 6/);
    expect(readFileSync(zonePath(), "utf8")).toBe(good);
    expect(spawnSync("sh", ["-c", `ls -a ${join(work, "zones")}`], { encoding: "utf8" }).stdout).not.toMatch(/\.boreal\./);
  });

  test("the same check runs on the member's machine before any resource, naming the config key", () => {
    const key = () => 'boreal:records["coop-a.example."]';
    expect(() => precheckFiles([zoneFile(good)], key)).not.toThrow();
    expect(() => precheckFiles([zoneFile(`${good}www CNAME elsewhere.example.\n`)], key)).toThrow(
      /knotc zone-check: boreal:records\["coop-a\.example\."\]: .*coop-a\.example\.zone as rendered is refused by Knot: .*another record exists beside CNAME/s,
    );
  });
});

describe("service scripts", () => {
  test("every role's apply and undo parse (sh -n), and SERVICE_SCRIPTS are those of the kit's templates", () => {
    const roles = Object.keys(SERVICE_SCRIPTS) as FileRole[];
    expect(roles.sort()).toEqual(["agent", "dns", "firewall", "monitoring", "probes", "wireguard"]);
    for (const role of roles) {
      for (const [what, script] of Object.entries(SERVICE_SCRIPTS[role])) {
        const result = spawnSync("sh", ["-n"], { input: script, encoding: "utf8" });
        expect(result.status, `${role} ${what}: ${result.stderr}`).toBe(0);
      }
    }
    expect({ ...SERVICE_SCRIPTS.dns }).toEqual(serviceScripts(templates).dns);
  });

  test("pulumi up runs the sync agent under the same lock as its service, and removal clears its state", () => {
    const files = renderNode(plan(fixtureSpec("b1"), fixtureFederation()), templates);
    expect(files.find((f) => f.path === "/etc/systemd/system/boreal-sync.service")!.content).toContain(
      "ExecStart=/usr/local/lib/boreal/sync-gate\n",
    );
    expect(files.find((f) => f.path === "/usr/local/lib/boreal/sync-gate")!.content).toMatch(
      new RegExp(`\nexec ${agentCommand(`sync ${GATE_FETCHED_FLAG}`)}\n$`),
    );
    expect(agentCommand("sync --rekey")).toBe(`flock ${AGENT.lock} node ${AGENT.program} sync --rekey`);
    const apply = SERVICE_SCRIPTS.agent.apply;
    expect(apply).toContain(`${agentCommand("sync --rekey")} || status=$?`);
    // The timers start after that run (their first runs would wait on its lock), failed or not.
    const timers = AGENT_TRIGGERS.map(shellQuote).join(" ");
    expect(apply.indexOf(`systemctl start ${timers}\n`)).toBeGreaterThan(apply.indexOf(agentCommand("sync --rekey")));
    expect(loopUnits(apply, "systemctl is-enabled")).toEqual(AGENT_TRIGGERS);
    expect(apply.trimEnd().endsWith('exit "$status"')).toBe(true);
    expect(SERVICE_SCRIPTS.agent.undo).toContain(`systemctl disable --quiet --now ${timers}`);
    // The label's checks never wait on the sync (nor the sync on them): a lock of their own.
    expect(ATTEST_RUN).toBe(`flock -n -E 0 /run/boreal-attest.lock node ${AGENT.program} attest`);
    expect(SERVICE_SCRIPTS.agent.undo).toContain(`rm -rf ${shellQuote(AGENT.stateDir)}`);
  });

  test("a path alone is enough to remove a file (what the agent owns is known by path)", () => {
    sh(`mkdir -p ${join(work, "etc")}`);
    const path = join(work, "etc", "by-path");
    writeFileSync(path, "x");
    sh(removeScript({ path }));
    expect(existsSync(path)).toBe(false);
  });
});

describe("units the member had enabled before the kit end as they were", () => {
  // A fake systemd on PATH (the scripts run programs too, e.g. wg-apply): enablement in
  // $FAKE/units/<unit>, every call logged. nft and ip answer as on a node without wg0.
  const root = join(work, "units");
  const fakeBin = join(root, "bin");
  const markers = join(root, "markers");
  mkdirSync(fakeBin, { recursive: true });
  const fake = (name: string, body: string) => {
    writeFileSync(join(fakeBin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(fakeBin, name), 0o755);
  };
  fake(
    "systemctl",
    [
      'echo "systemctl $*" >> "$FAKE/log"',
      "verb=$1; shift; units=''",
      'for a in "$@"; do case $a in -*) ;; *) units="$units $a" ;; esac; done',
      "case $verb in",
      '  is-enabled) for u in $units; do s=$(cat "$FAKE/units/$u" 2>/dev/null || echo disabled); echo "$s"; [ "$s" = enabled ] || exit 1; done ;;',
      '  enable) for u in $units; do echo enabled > "$FAKE/units/$u"; done ;;',
      '  disable) for u in $units; do echo disabled > "$FAKE/units/$u"; done ;;',
      "esac",
    ].join("\n"),
  );
  fake("nft", 'echo "nft $*" >> "$FAKE/log"');
  fake("ip", "exit 1");
  fake("promtool", 'echo "promtool $*" >> "$FAKE/log"');
  fake("amtool", 'echo "amtool $*" >> "$FAKE/log"');
  fake("getcap", 'echo "$1 ="');
  fake("debconf-set-selections", 'cat >> "$FAKE/log"');
  fake("setcap", 'echo "setcap $*" >> "$FAKE/log"');

  const env = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}`, FAKE: root };
  /** Runs a script as the node would, its marker directory moved into the temp dir. */
  const runOnNode = (script: string, replace: Record<string, string> = {}) => {
    let text = script.replaceAll(UNIT_STATE_DIR, markers);
    for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
    const result = spawnSync("sh", ["-c", text], { encoding: "utf8", env });
    if (result.status !== 0) throw new Error(`exited ${result.status}: ${result.stderr}`);
    return result.stdout;
  };
  const state = (unit: string) =>
    existsSync(join(root, "units", unit)) ? readFileSync(join(root, "units", unit), "utf8").trim() : "disabled";
  const reset = (unit: string, enabled: "enabled" | "disabled") => {
    rmSync(join(root, "units"), { recursive: true, force: true });
    rmSync(markers, { recursive: true, force: true });
    mkdirSync(join(root, "units"));
    writeFileSync(join(root, "units", unit), `${enabled}\n`);
    writeFileSync(join(root, "log"), "");
  };

  // wg-apply is a rendered file: the real one runs, from the temp dir.
  const wgApply = join(root, "wg-apply");
  writeFileSync(
    wgApply,
    renderNode(plan(fixtureSpec("b1"), fixtureFederation()), templates).find((f) => f.path === "/usr/local/lib/boreal/wg-apply")!.content,
  );
  chmodSync(wgApply, 0o755);
  const nftablesConf = join(root, "nftables.conf");
  writeFileSync(
    nftablesConf,
    renderNode(plan(fixtureSpec("b1"), fixtureFederation()), templates).find((f) => f.path === "/etc/nftables.conf")!.content,
  );
  const ROLES: [FileRole, string, Record<string, string>][] = [
    ["firewall", "nftables", { "/etc/nftables.conf": nftablesConf }],
    ["monitoring", "prometheus-node-exporter", {}],
    ["wireguard", "wg-quick@wg0", { "/usr/local/lib/boreal/wg-apply": wgApply }],
  ];

  test.each(ROLES.flatMap(([role, unit]) => (["enabled", "disabled"] as const).map((before) => [role, unit, before] as const)))(
    "%s: %s %s before the kit → enabled while the kit runs → as before after undo",
    (role, unit, before) => {
      const replace = ROLES.find(([r]) => r === role)![2];
      reset(unit, before);
      runOnNode(SERVICE_SCRIPTS[role].apply, replace);
      expect(state(unit)).toBe("enabled");
      expect(readFileSync(join(markers, unit), "utf8")).toBe(`${before}\n`);
      // A re-apply (the unit is the kit's now) keeps the member's record, and enables nothing
      // again: `systemctl enable` costs up to a second even for an enabled unit.
      writeFileSync(join(root, "log"), "");
      runOnNode(SERVICE_SCRIPTS[role].apply, replace);
      expect(readFileSync(join(markers, unit), "utf8")).toBe(`${before}\n`);
      expect(readFileSync(join(root, "log"), "utf8")).not.toMatch(/^systemctl enable/m);
      const said = runOnNode(SERVICE_SCRIPTS[role].undo, replace);
      expect(state(unit)).toBe(before);
      expect(said).toBe(before === "enabled" ? `${unit}: enabled before boreal-kit, left enabled\n` : "");
      // Nothing of the kit's memory is left: a later join records afresh.
      expect(existsSync(markers)).toBe(false);
    },
  );

  test("monitoring grants the blackbox exporter its raw socket through debconf, and undo answers Debian's default again", () => {
    reset("prometheus", "disabled");
    runOnNode(SERVICE_SCRIPTS.monitoring.apply);
    expect(readFileSync(join(root, "log"), "utf8")).toMatch(
      /want_cap_net_raw boolean true\nsetcap cap_net_raw=ep \/usr\/bin\/prometheus-blackbox-exporter\n/,
    );
    expect(existsSync(join(markers, "blackbox-cap_net_raw"))).toBe(true);
    writeFileSync(join(root, "log"), "");
    runOnNode(SERVICE_SCRIPTS.monitoring.undo);
    expect(readFileSync(join(root, "log"), "utf8")).toMatch(
      /want_cap_net_raw boolean false\nsetcap cap_net_raw-epi \/usr\/bin\/prometheus-blackbox-exporter\n/,
    );
    expect(existsSync(markers)).toBe(false);
  });

  test("the firewall's undo never stops nftables: its stop flushes the member's tables too", () => {
    reset("nftables", "enabled");
    runOnNode(SERVICE_SCRIPTS.firewall.apply, { "/etc/nftables.conf": nftablesConf });
    runOnNode(SERVICE_SCRIPTS.firewall.undo);
    const log = readFileSync(join(root, "log"), "utf8");
    expect(log).toContain("nft delete table inet boreal");
    expect(log).not.toMatch(/systemctl (stop|restart|disable --now)\b.*nftables|nft flush/);
  });

  test("a unit with no record (applied by an older kit) is disabled on undo, as before", () => {
    reset("knot", "enabled");
    runOnNode(partial("units-restore", ["knot"]));
    expect(state("knot")).toBe("disabled");
  });

  test("records are per unit and written once", () => {
    reset("knot", "enabled");
    runOnNode(partial("units-record", ["knot", "prometheus-node-exporter"]));
    expect(readFileSync(join(markers, "knot"), "utf8")).toBe("enabled\n");
    expect(readFileSync(join(markers, "prometheus-node-exporter"), "utf8")).toBe("disabled\n");
    writeFileSync(join(root, "units", "prometheus-node-exporter"), "enabled\n");
    runOnNode(partial("units-record", ["prometheus-node-exporter"]));
    expect(readFileSync(join(markers, "prometheus-node-exporter"), "utf8")).toBe("disabled\n");
  });

  test("every Debian unit an apply enables is recorded first, and every undo puts it back (knot too)", () => {
    const debianUnits: Record<FileRole, string[]> = {
      wireguard: ["wg-quick@wg0"],
      dns: ["knot"],
      probes: [],
      monitoring: [...MONITORING_UNITS],
      firewall: ["nftables"],
      agent: [],
    };
    for (const [role, units] of Object.entries(debianUnits) as [FileRole, string[]][]) {
      const { apply, undo } = SERVICE_SCRIPTS[role];
      expect(loopUnits(apply, '[ -e "$units_dir/$unit" ] && continue'), `${role} records ${units}`).toEqual(units);
      expect(loopUnits(undo, 'if [ "$(cat "$units_dir/$unit"'), `${role} puts ${units} back`).toEqual(units);
      if (units.length > 0) {
        const recorded = apply.indexOf(partial("units-record", units));
        expect(recorded, `${role} records ${units}`).toBeGreaterThan(-1);
        const enabled = role === "wireguard" ? apply.indexOf(WG_APPLY) : apply.indexOf(partial("units-enable", units));
        expect(enabled, `${role} enables ${units}`).toBeGreaterThan(recorded);
        expect(undo, `${role} puts ${units} back`).toContain(partial("units-restore", units));
      }
      for (const unit of units) expect(undo).not.toMatch(new RegExp(`disable (--quiet )?--now .*${unit}`));
      const enables = loopUnits(apply, "systemctl is-enabled");
      expect(apply, `${role} enables units only through the units-enable step`).not.toMatch(/^systemctl enable/m);
      expect(
        enables.filter((unit) => !unit.startsWith("boreal-") && !units.includes(unit)),
        `${role} enables only what it recorded`,
      ).toEqual([]);
      // Only the kit's own units are simply disabled.
      for (const m of undo.matchAll(/systemctl disable [^\n]*/g)) expect(m[0], role).toMatch(/boreal-|"\$unit"/);
    }
  });
});

describe("zone-metrics: each zone's serial and SOA signature as this node answers it", () => {
  const root = mkdtempSync(join(tmpdir(), "boreal-zone-metrics-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const bin = join(root, "bin");
  mkdirSync(bin);
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // What Knot 3.2 and kdig print (seen on the lab).
  fake(
    "knotc",
    [
      "cat <<'EOF'",
      "[node1.catalog.lab.boreal.test.] role: master | serial: 1795837661 | catalog: generate",
      "[coop-a.lab.test.] role: master | serial: 1795837735 | catalog: @node1.catalog.lab.boreal.test. | re-sign: +13D22h53m34s",
      "[coop-b.lab.test.] role: slave | serial: 1795837717 | catalog: node2.catalog.lab.boreal.test. | refresh: +4m48s",
      "[gone.lab.test.] role: slave | serial: 0",
      "EOF",
    ].join("\n"),
  );
  // kdig: one answer per zone asked (several in one call), none for gone.lab.test.
  fake(
    "kdig",
    [
      "status=0",
      'for zone in "$@"; do',
      "  case $zone in *.lab.test.) ;; *) continue ;; esac",
      '  [ "$zone" = gone.lab.test. ] && { status=9; continue; }',
      "  cat <<EOF",
      ";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 16879",
      ";; QUESTION SECTION:",
      ";; $zone    \t\tIN\tSOA",
      "",
      ";; ANSWER SECTION:",
      "$zone    \t300\tIN\tSOA\tns-node1.$zone hostmaster.$zone 1795837735 300 60 1209600 300",
      "$zone    \t300\tIN\tRRSIG\tSOA 13 3 300 20261212034855 20261128021855 15824 $zone sig==",
      "EOF",
      "done",
      'exit "$status"',
    ].join("\n"),
  );

  test("catalogs skipped, a zone that does not answer left out, timestamps in Unix seconds", () => {
    const script = renderNode(plan(fixtureSpec("b1"), fixtureFederation()), templates).find(
      (f) => f.path === "/usr/local/lib/boreal/zone-metrics",
    )!.content;
    const out = join(root, "textfile");
    const federationDomain = fixtureFederation().settings.domain;
    const text = script
      .replaceAll("/var/lib/prometheus/node-exporter", out)
      .replaceAll(`*.catalog.${federationDomain}`, "*.catalog.lab.boreal.test.");
    const result = spawnSync("sh", ["-c", text], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(result.status, result.stderr).toBe(0);
    const samples = readFileSync(join(out, "zones.prom"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    expect(samples).toEqual([
      'boreal_zone_serial{zone="coop-a.lab.test."} 1795837735',
      `boreal_zone_rrsig_expiry_timestamp_seconds{zone="coop-a.lab.test."} ${Date.UTC(2026, 11, 12, 3, 48, 55) / 1000}`,
      `boreal_zone_rrsig_inception_timestamp_seconds{zone="coop-a.lab.test."} ${Date.UTC(2026, 10, 28, 2, 18, 55) / 1000}`,
      'boreal_zone_serial{zone="coop-b.lab.test."} 1795837735',
      `boreal_zone_rrsig_expiry_timestamp_seconds{zone="coop-b.lab.test."} ${Date.UTC(2026, 11, 12, 3, 48, 55) / 1000}`,
      `boreal_zone_rrsig_inception_timestamp_seconds{zone="coop-b.lab.test."} ${Date.UTC(2026, 10, 28, 2, 18, 55) / 1000}`,
    ]);
  });
});

describe("sync-gate: the agent starts only when the registry moved, a mirror changed state, or its last run is old", () => {
  const root = mkdtempSync(join(tmpdir(), "boreal-sync-gate-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const bin = join(root, "bin");
  const state = join(root, "state");
  mkdirSync(bin);
  mkdirSync(join(state, "mirrors", "m1", ".git"), { recursive: true });
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // git: the mirror's URL, a fetch that fails when $ROOT/mirror-down exists, the trees of
  // federation/ and nodes/ at FETCH_HEAD and HEAD from files ($ROOT/FETCH_HEAD-nodes, ...),
  // which `diff --quiet A B -- paths` compares (exit 1 when one differs, as git does).
  fake(
    "git",
    [
      "shift 2 # -C <mirror>",
      'while [ "$1" = -c ]; do shift 2; done',
      'case "$1" in',
      "  config) echo git://198.51.100.1/registry.git ;;",
      '  fetch) [ ! -e "$ROOT/mirror-down" ] ;;',
      '  diff) a=$3; b=$4; shift 5; for path; do cmp -s "$ROOT/$a-$path" "$ROOT/$b-$path" || exit 1; done ;;',
      "  *) exit 2 ;;",
      "esac",
    ].join("\n"),
  );
  fake("flock", 'echo "agent ran: $*" >> "$ROOT/log"');
  const gate = renderNode(plan(fixtureSpec("b1", { syncInterval: 5 }), fixtureFederation()), templates)
    .find((f) => f.path === "/usr/local/lib/boreal/sync-gate")!
    .content.replaceAll("/var/lib/boreal", state);
  const tick = () => {
    writeFileSync(join(root, "log"), "");
    const result = spawnSync("sh", ["-c", gate], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ROOT: root },
    });
    expect(result.status, result.stderr).toBe(0);
    return readFileSync(join(root, "log"), "utf8").includes("agent ran");
  };
  /** The fetched and the applied commit's trees: "federation nodes" each. */
  const heads = (fetched: string, applied: string, commits = ["c1", "c1"]) => {
    writeFileSync(join(root, "FETCH_HEAD"), `${commits[0]}\n`);
    writeFileSync(join(root, "HEAD"), `${commits[1]}\n`);
    for (const [ref, trees] of [
      ["FETCH_HEAD", fetched],
      ["HEAD", applied],
    ]) {
      const [federation, nodes] = trees.split(" ");
      writeFileSync(join(root, `${ref}-federation`), `${federation}\n`);
      writeFileSync(join(root, `${ref}-nodes`), `${nodes}\n`);
    }
  };
  const lastRun = (secondsAgo: number) => {
    writeFileSync(join(state, "state.json"), "{}");
    const when = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(state, "state.json"), when, when);
  };

  test("nothing moved and a recent run: Node.js does not start", () => {
    heads("f1 n1", "f1 n1");
    lastRun(0);
    tick(); // settles the mirrors-down record
    lastRun(0);
    expect(tick()).toBe(false);
  });

  test("the mirror's nodes/ or federation/ moved: the agent runs", () => {
    heads("f1 n2", "f1 n1");
    lastRun(0);
    expect(tick()).toBe(true);
    heads("f2 n1", "f1 n1");
    lastRun(0);
    expect(tick()).toBe(true);
  });

  test("only attestations moved (the head, not what the agent reads): Node.js does not start", () => {
    heads("f1 n1", "f1 n1", ["c2", "c1"]);
    lastRun(0);
    tick();
    lastRun(0);
    expect(tick()).toBe(false);
  });

  test("a mirror stops answering: one run (the agent logs it), then quiet until it changes again", () => {
    heads("f1 n1", "f1 n1");
    lastRun(0);
    writeFileSync(join(root, "mirror-down"), "");
    expect(tick()).toBe(true);
    lastRun(0);
    expect(tick()).toBe(false);
    rmSync(join(root, "mirror-down"));
    expect(tick()).toBe(true);
  });

  test("the agent is told which mirrors the tick fetched (it checks those out without asking again), and only those", () => {
    const fetched = () => readFileSync(join(state, "mirrors-fetched"), "utf8").split(" ").filter(Boolean);
    heads("f1 n2", "f1 n1");
    lastRun(0);
    expect(tick()).toBe(true);
    expect(readFileSync(join(root, "log"), "utf8")).toContain(
      `agent ran: ${agentCommand(`sync ${GATE_FETCHED_FLAG}`).replace(/^flock /, "")}`,
    );
    expect(fetched()).toEqual(["git://198.51.100.1/registry.git"]);
    writeFileSync(join(root, "mirror-down"), "");
    expect(tick()).toBe(true);
    expect(fetched()).toEqual([]);
    rmSync(join(root, "mirror-down"));
  });

  test("the last run is a minute old: the agent runs (its files re-checked, its metrics fresh)", () => {
    heads("f1 n1", "f1 n1");
    lastRun(0);
    tick();
    lastRun(61);
    expect(tick()).toBe(true);
  });
});

describe("the DNS apply on a node: Knot reloaded when nothing that needs a restart changed, restarted otherwise", () => {
  const federation = fixtureFederation();
  const domain = federation.settings.domain;
  const root = mkdtempSync(join(work, "dns-apply-"));
  const bin = join(root, "bin");
  mkdirSync(bin);
  const fake = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  // Knot runs while $ROOT/active exists; every call is logged.
  fake(
    "systemctl",
    [
      'echo "systemctl $*" >> "$ROOT/log"',
      "case $1 in",
      '  is-enabled) [ -e "$ROOT/enabled" ] ;;',
      '  enable) touch "$ROOT/enabled" ;;',
      '  is-active) [ -e "$ROOT/active" ] ;;',
      '  restart) touch "$ROOT/active" ;;',
      '  stop) rm -f "$ROOT/active" ;;',
      "esac",
    ].join("\n"),
  );
  fake("knotc", 'echo "knotc $*" >> "$ROOT/log"');
  fake("install", 'echo "install $*" >> "$ROOT/log"');
  fake("kcatalogprint", 'cat "$ROOT/catalog.txt"');
  // kcatalogprint's own output (Knot 3.2), header and footer included: b1 holds a1's and c1's member zones.
  const printed = (catalogs: string[]) =>
    [
      ";; <member zone> <record owner> <catalog zone> <group>",
      ...catalogs.map((node) => `coop-${node[0]}.lab.test.  ba2b33a71f366af0.zones.${node}.catalog.${domain}  ${node}.catalog.${domain}  `),
      `Total records: ${catalogs.length}`,
    ].join("\n");
  const conf = join(root, "knot.conf");
  const paths: Record<string, string> = {
    [KNOT_CONF]: conf,
    [KNOT_RESTART_MARK]: join(root, "mark"),
    [KNOT_CATALOG_DIR]: join(root, "catalog"),
    [KNOT_SECONDARY_DIR]: join(root, "secondary"),
    [UNIT_STATE_DIR]: join(root, "units"),
  };
  let script = SERVICE_SCRIPTS.dns.apply;
  for (const [from, to] of Object.entries(paths)) script = script.replaceAll(from, to);

  /** One apply with the peers `nodes`, kcatalogprint holding the member zones of `held`: what it did to Knot. */
  const apply = (nodes: string[], held: string[] = []) => {
    const knotConf = renderNode(
      plan(fixtureSpec("b1"), { ...federation, nodes: federation.nodes.filter((n) => nodes.includes(n.node)) }),
      templates,
    );
    writeFileSync(conf, knotConf.find((f) => f.path === KNOT_CONF)!.content);
    writeFileSync(join(root, "catalog.txt"), printed(held));
    writeFileSync(join(root, "log"), "");
    mkdirSync(join(root, "catalog"), { recursive: true });
    const result = spawnSync("sh", ["-c", script], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ROOT: root },
    });
    expect(result.status, result.stderr).toBe(0);
    const log = readFileSync(join(root, "log"), "utf8").split("\n");
    // Every apply ends asking the primaries for their SOA and notifying the secondaries, once Knot runs its config.
    expect(log.slice(-3)).toEqual(["knotc zone-refresh", "knotc zone-notify", ""]);
    return log.filter((line) => /^(systemctl (restart|stop) knot|knotc (reload|-f zone-purge))/.test(line));
  };
  const all = ["a1", "b1", "c1"];
  const withoutC1 = ["a1", "b1"];

  test("the first apply restarts Knot; the same peers again reload it", () => {
    expect(apply(all)).toEqual(["systemctl restart knot"]);
    expect(readFileSync(join(root, "mark"), "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    expect(apply(all, ["a1", "c1"])).toEqual(["knotc reload"]);
  });

  test("a peer leaves: its catalog's member zones are purged (the footer is no zone), its database dropped, Knot restarted", () => {
    expect(apply(withoutC1, ["a1", "c1"])).toEqual([
      "knotc -f zone-purge coop-c.lab.test.",
      "systemctl stop knot",
      "systemctl restart knot",
    ]);
    expect(existsSync(join(root, "catalog"))).toBe(false);
    expect(apply(withoutC1, ["a1"])).toEqual(["knotc reload"]);
  });

  test("a peer joins (or comes back): restarted; and whenever Knot is not running, it is started", () => {
    expect(apply(all, ["a1"])).toEqual(["systemctl restart knot"]);
    rmSync(join(root, "active"));
    expect(apply(all, ["a1", "c1"])).toEqual(["systemctl restart knot"]);
  });
});

test("the restart key covers knot.conf's whole server section and the set of peer catalogs, in any order", () => {
  expect(knotRestartKey(["a1.catalog.x.", "c1.catalog.x."])).toBe(knotRestartKey(["c1.catalog.x.", "a1.catalog.x."]));
  expect(knotRestartKey(["a1.catalog.x."])).not.toBe(knotRestartKey(["a1.catalog.x.", "c1.catalog.x."]));
  const nodePlan = plan(fixtureSpec("b1"), fixtureFederation());
  const conf = renderNode(nodePlan, templates).find((f) => f.path === KNOT_CONF)!.content;
  expect(conf).toContain(`\n# boreal-restart-key: ${knotRestartKey(nodePlan.dns.peerCatalogs.map((p) => p.catalog))}\n`);
  expect(conf).toContain(`\n# boreal-peer-catalogs: ${nodePlan.dns.peerCatalogs.map((p) => p.catalog).join(" ")}\n`);
  // A setting written into the template's server section, not taken from KNOT_SERVER, would escape the key.
  const server = /^server:\n([\s\S]*?)\n(?=\S)/m
    .exec(conf)![1]
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  expect(server).toEqual([
    `rundir: "${KNOT_SERVER.rundir}"`,
    `user: ${KNOT_SERVER.user}`,
    `listen: [ ${KNOT_SERVER.listen.join(", ")} ]`,
    `automatic-acl: ${KNOT_SERVER.automaticAcl}`,
  ]);
});
