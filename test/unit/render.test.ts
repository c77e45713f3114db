import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { firstAttestDelay, plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { ATTEST_RUN, SERVICE_SCRIPTS } from "../../src/core/node/scripts";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";
import { imagePath, LAB_SUITES, labRecipe } from "../../src/lab/image";
import { imageUsable, inImage } from "../helpers/image";
import { stringify as stringifyYaml } from "yaml";
import { alertRuleTests } from "../helpers/alert-rule-tests";
import { WATCHED_COLLECTORS } from "../../src/core/monitoring/plan";
import { STATUS_QUERIES } from "../../src/core/status/report";
import { NFTABLES_MEMBER_DIR, RenderedFile } from "../../src/core/node/layout";

const NODES = ["a1", "b1", "c1"] as const;
const rendered = Object.fromEntries(
  NODES.map((node) => [node, renderNode(plan(fixtureSpec(node), fixtureFederation()), templates)]),
) as Record<(typeof NODES)[number], RenderedFile[]>;

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), "boreal-render-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The rendered nftables.conf, its include of the member's rules pointed at an empty temp dir (not this machine's). */
function withoutMachineRules(content: string): string {
  return content.replaceAll(`"${NFTABLES_MEMBER_DIR}/`, `"${join(work, "no-member-rules")}/`);
}

function fileOf(node: (typeof NODES)[number], path: string): RenderedFile {
  const file = rendered[node].find((f) => f.path === path);
  if (!file) throw new Error(`${node} has no ${path}`);
  return file;
}

function run(cmd: string, args: string[]): string {
  const result = spawnSync(cmd, args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout + result.stderr;
}

describe.each(NODES)("rendered files of %s", (node) => {
  test("match the snapshots", async () => {
    for (const file of rendered[node]) {
      await expect(`# ${file.path} (mode ${file.mode}, owner ${file.owner})\n${file.content}`).toMatchFileSnapshot(
        `./__snapshots__/render/${node}${file.path}`,
      );
    }
  });

  test("every snapshot is of a file still rendered", () => {
    const dir = join(__dirname, "__snapshots__", "render", node);
    const snapshots = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => `/${relative(dir, join(e.parentPath, e.name))}`)
      .sort();
    expect(snapshots).toEqual(rendered[node].map((f) => f.path).sort());
  });

  test("the sync agent's units are the agent's, its timers at the stack's intervals", () => {
    expect(rendered[node].filter((f) => f.role === "agent").map((f) => f.path)).toEqual([
      "/usr/local/lib/boreal/sync-gate",
      "/etc/systemd/system/boreal-sync.service",
      "/etc/systemd/system/boreal-sync.timer",
      "/etc/systemd/system/boreal-attest.service",
      "/etc/systemd/system/boreal-attest.timer",
      "/usr/local/lib/boreal/nudge-gate",
      "/etc/systemd/system/boreal-nudge.socket",
      "/etc/systemd/system/boreal-nudge.service",
      "/etc/systemd/system/boreal-delegation.service",
      "/etc/systemd/system/boreal-delegation.timer",
    ]);
    expect(fileOf(node, "/etc/systemd/system/boreal-sync.timer").content).toMatch(/^OnUnitActiveSec=300s$/m);
    expect(fileOf(node, "/etc/systemd/system/boreal-attest.timer").content).toMatch(/^OnUnitInactiveSec=900s$/m);
    expect(fileOf(node, "/etc/systemd/system/boreal-attest.service").content).toContain(`ExecStart=${ATTEST_RUN}\n`);
    const faster = renderNode(plan(fixtureSpec(node, { syncInterval: 15, attestInterval: 30 }), fixtureFederation()), templates);
    expect(faster.find((f) => f.path === "/etc/systemd/system/boreal-sync.timer")!.content).toMatch(/^OnUnitActiveSec=15s$/m);
    expect(faster.find((f) => f.path === "/etc/systemd/system/boreal-attest.timer")!.content).toMatch(/^OnUnitInactiveSec=30s$/m);
  });

  test("first label rounds: 30 s after the timer starts plus an offset of the node's own within the interval, spread over it", () => {
    const delay = Number(/^OnActiveSec=(\d+)s$/m.exec(fileOf(node, "/etc/systemd/system/boreal-attest.timer").content)?.[1]);
    expect(delay).toBe(firstAttestDelay(node, 900));
    const names = Array.from({ length: 10 }, (_, i) => `node${i + 1}`);
    const delays = names.map((name) => firstAttestDelay(name, 900));
    expect(
      names.map((name) => firstAttestDelay(name, 900)),
      "stable: the same name gives the same offset",
    ).toEqual(delays);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(30);
    expect(Math.max(...delays)).toBeLessThan(930);
    // Ten nodes started together: ten different moments, spread over most of the interval.
    expect(new Set(delays).size, `first rounds at ${[...delays].sort((a, b) => a - b).join(", ")} s`).toBe(10);
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(600);
    expect(new Set(names.map((name) => firstAttestDelay(name, 60))).size, "a short interval spreads too").toBeGreaterThan(5);
  });

  test.runIf(has("systemd-analyze"))("systemd units pass systemd-analyze verify", () => {
    const dir = join(work, node, "units");
    execFileSync("mkdir", ["-p", dir]);
    const units = rendered[node].filter((f) => /^\/etc\/systemd\/system\/[^/]+\.(service|timer|socket)$/.test(f.path));
    expect(units.length).toBeGreaterThanOrEqual(4);
    const paths = units.map((f) => {
      const path = join(dir, f.path.split("/").pop()!);
      writeFileSync(path, f.content);
      return path;
    });
    const result = spawnSync("systemd-analyze", ["verify", ...paths], { encoding: "utf8" });
    // A program the node has and this machine may lack (node, the kit's own scripts) is no finding.
    const absentProgram = (line: string) => {
      const m = /Command (\S+) is not executable: No such file or directory/.exec(line);
      return m !== null && !existsSync(m[1]);
    };
    const findings = `${result.stdout}${result.stderr}`.split("\n").filter((line) => line.trim() && !absentProgram(line));
    expect(findings).toEqual([]);
  });

  test("no private key material in any file", () => {
    for (const file of rendered[node]) expect(file.content).not.toMatch(/PrivateKey\s*=\s*\S{40,}|PRIVATE KEY-----/);
  });

  test.runIf(has("knotc"))("knot.conf passes knotc conf-check", () => {
    const dir = join(work, node, "knot");
    execFileSync("mkdir", ["-p", dir]);
    const path = join(dir, "knot.conf");
    writeFileSync(path, fileOf(node, "/etc/knot/knot.conf").content);
    expect(run("knotc", ["-c", path, "conf-check"])).toMatch(/Configuration is valid/);
  });

  test.runIf(has("kzonecheck"))("zone files pass kzonecheck", () => {
    for (const file of rendered[node].filter((f) => f.path.startsWith("/var/lib/knot/zones/"))) {
      const zone = file.path.split("/").pop()!.replace(/zone$/, "");
      const path = join(work, `${node}-${zone}zone`);
      writeFileSync(path, file.content);
      run("kzonecheck", ["-o", zone, path]);
    }
  });

  test.runIf(has("nft") && isRoot)("nftables.conf passes nft -c", () => {
    const path = join(work, `${node}-nftables.conf`);
    writeFileSync(path, withoutMachineRules(fileOf(node, "/etc/nftables.conf").content));
    run("nft", ["-c", "-f", path]);
  });

  test.runIf(has("wg-quick") && has("wg"))("wg0.conf parses with wg-quick strip, without a private key", () => {
    const dir = join(work, node, "wg");
    execFileSync("mkdir", ["-p", dir]);
    const path = join(dir, "wg0.conf");
    writeFileSync(path, fileOf(node, "/etc/wireguard/wg0.conf").content);
    const stripped = run("wg-quick", ["strip", path])
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"))
      .join("\n");
    expect(stripped).toMatch(/^\[Interface\]\nListenPort = 51820\n\[Peer\]/);
    expect(stripped).not.toMatch(/PrivateKey|Address|MTU|PostUp/);
    expect(stripped.match(/\[Peer\]/g)).toHaveLength(2);
  });

  test.runIf(has("sh"))("shell scripts parse (sh -n)", () => {
    for (const file of rendered[node].filter((f) => f.content.startsWith("#!/bin/sh"))) {
      const path = join(work, `${node}-${file.path.split("/").pop()}`);
      writeFileSync(path, file.content);
      run("sh", ["-n", path]);
    }
  });
});

describe("the firewall's variants (boreal:firewall)", () => {
  const VARIANTS = {
    // The member's own services: ports, a range, sources of both families, one address.
    allow: {
      allow: [
        "tcp/80",
        "tcp/443",
        "udp/51000-51010",
        { port: "tcp/993", from: ["198.51.100.0/24", "2001:db8::/32"], description: "courriel (IMAPS)" },
        { port: "tcp/25", from: ["203.0.113.7", "203.0.113.64/26"], description: "mail relay" },
        { port: "tcp/587", from: ["2001:db8:1::/48", "2001:db8:2::1"] },
      ],
    },
    // Input policy left to the member's own table.
    member: { policy: "member" },
  } as const;
  type Variant = keyof typeof VARIANTS;
  const nftablesOf = (variant: Variant) =>
    renderNode(plan(fixtureSpec("b1", { firewall: VARIANTS[variant] }), fixtureFederation()), templates).find(
      (f) => f.path === "/etc/nftables.conf",
    )!;
  const ruleLines = (content: string) =>
    content
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /\b(accept|drop)\b/.test(l) && !l.startsWith("#") && !l.startsWith("type "));

  test.each(Object.keys(VARIANTS) as Variant[])("%s matches its snapshot", async (variant) => {
    const file = nftablesOf(variant);
    await expect(`# ${file.path} (mode ${file.mode}, owner ${file.owner})\n${file.content}`).toMatchFileSnapshot(
      `./__snapshots__/firewall/${variant}/etc/nftables.conf`,
    );
  });

  test.runIf(has("nft") && isRoot).each(Object.keys(VARIANTS) as Variant[])("%s passes nft -c", (variant) => {
    const path = join(work, `firewall-${variant}-nftables.conf`);
    writeFileSync(path, withoutMachineRules(nftablesOf(variant).content));
    run("nft", ["-c", "-f", path]);
  });

  test.runIf(has("nft") && isRoot)("the member's own table loads with it at boot, and the apply loads the kit's table alone", () => {
    // The member's rules directory, moved into the temp dir.
    const memberDir = join(work, "nftables.d");
    execFileSync("mkdir", ["-p", memberDir]);
    const content = nftablesOf("member").content.replaceAll(`"${NFTABLES_MEMBER_DIR}/`, `"${memberDir}/`);
    expect(content).toContain(`include "${memberDir}/*.nft"`);
    const path = join(work, "firewall-with-member-table.conf");
    writeFileSync(path, content);
    writeFileSync(
      join(memberDir, "coop.nft"),
      [
        "table inet coop",
        "delete table inet coop",
        "table inet coop {",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        "\t\tct state established,related accept",
        "\t\ttcp dport { 22, 80, 443 } accept",
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
    run("nft", ["-c", "-f", path]);
    // What the firewall's apply loads: the file without the member's include.
    const apply = SERVICE_SCRIPTS.firewall.apply
      .replaceAll("/etc/nftables.conf", path)
      .replaceAll(`"${NFTABLES_MEMBER_DIR}/`, `"${memberDir}/`);
    const kitOnly = /^grep -v (.*) \| nft -f -$/m.exec(apply);
    expect(kitOnly, apply).not.toBeNull();
    const filtered = spawnSync("sh", ["-c", `grep -v ${kitOnly![1]}`], { encoding: "utf8" }).stdout;
    expect(filtered).not.toMatch(/^include/m);
    expect(filtered).toContain("table inet boreal {");
    writeFileSync(`${path}.kit-only`, filtered);
    run("nft", ["-c", "-f", `${path}.kit-only`]);
  });

  test("strict: drops by default; the member's entries come after the kit's, one line per address family", () => {
    const content = nftablesOf("allow").content;
    expect(content).toMatch(/type filter hook input priority filter; policy drop;/);
    const lines = ruleLines(content);
    expect(lines.slice(lines.indexOf('iifname "wg0" tcp dport 9093 accept comment "Alertmanager"') + 1)).toEqual([
      'tcp dport 80 accept comment "allow: tcp/80"',
      'tcp dport 443 accept comment "allow: tcp/443"',
      'udp dport 51000-51010 accept comment "allow: udp/51000-51010"',
      'ip saddr 198.51.100.0/24 tcp dport 993 accept comment "allow: courriel (IMAPS)"',
      'ip6 saddr 2001:db8::/32 tcp dport 993 accept comment "allow: courriel (IMAPS)"',
      'ip saddr { 203.0.113.7, 203.0.113.64/26 } tcp dport 25 accept comment "allow: mail relay"',
      'ip6 saddr { 2001:db8:1::/48, 2001:db8:2::1 } tcp dport 587 accept comment "allow: tcp/587"',
    ]);
    // Nothing opens the exporter, Prometheus or Alertmanager outside the mesh.
    expect(lines.filter((l) => /dport 9100/.test(l))).toEqual(['iifname "wg0" tcp dport 9100 accept comment "node exporter"']);
    expect(lines.filter((l) => /dport 9090/.test(l))).toEqual(['iifname "wg0" tcp dport 9090 accept comment "Prometheus"']);
    expect(lines.filter((l) => /dport 9093/.test(l))).toEqual(['iifname "wg0" tcp dport 9093 accept comment "Alertmanager"']);
  });

  test("member: accepts by default, and its only drop keeps the mesh-only services off every interface but wg0", () => {
    const content = nftablesOf("member").content;
    expect(content).toMatch(/type filter hook input priority filter; policy accept;/);
    expect(content).not.toMatch(/policy drop/);
    const lines = ruleLines(content);
    expect(lines.filter((l) => /\bdrop\b/.test(l))).toEqual([
      'iifname != "wg0" tcp dport 9100 drop comment "node exporter: mesh only"',
      'iifname != "wg0" tcp dport 9090 drop comment "Prometheus: mesh only"',
      'iifname != "wg0" tcp dport 9093 drop comment "Alertmanager: mesh only"',
    ]);
    // Loopback first (local scrapes of the mesh address), then the drop, before any accept of the port.
    expect(lines.indexOf('iif "lo" accept')).toBe(0);
    expect(lines.findIndex((l) => /dport 9100 drop/.test(l))).toBeLessThan(lines.findIndex((l) => /dport 9100 accept/.test(l)));
    expect(lines).toEqual(expect.arrayContaining(['tcp dport 22 accept comment "SSH"', 'udp dport 51820 accept comment "WireGuard"']));
  });

  test("the default is the strict policy with nothing of the member's", () => {
    expect(fileOf("b1", "/etc/nftables.conf").content).toMatch(/policy drop;/);
    expect(fileOf("b1", "/etc/nftables.conf").content).not.toMatch(/allow:/);
  });
});

test("with the firewall off, no nftables file is rendered", () => {
  for (const firewall of [false, { enabled: false, allow: ["tcp/443"] }]) {
    const files = renderNode(plan(fixtureSpec("b1", { firewall }), fixtureFederation()), templates);
    expect(files.map((f) => f.path)).not.toContain("/etc/nftables.conf");
  }
});

test("a lone node (no peers) renders a valid knot.conf without remotes or notify", () => {
  const federation = { ...fixtureFederation(), nodes: [] };
  const knot = renderNode(plan(fixtureSpec("a1"), federation), templates).find((f) => f.path === "/etc/knot/knot.conf")!;
  expect(knot.content).not.toMatch(/remote:|notify:/);
  if (has("knotc")) {
    const path = join(work, "lone-knot.conf");
    writeFileSync(path, knot.content);
    run("knotc", ["-c", path, "conf-check"]);
  }
});

// The same files, checked by each Debian release's own Knot, nftables, wg-quick and systemd,
// where the lab's image of that release is cached (root; `boreal lab up --suite …` builds it).
describe.each(LAB_SUITES)("rendered files, checked with the tools of Debian %s (the lab image)", (suite) => {
  const image = imagePath(labRecipe(suite));
  const ready = imageUsable(suite);
  const lone = renderNode(plan(fixtureSpec("a1"), { ...fixtureFederation(), nodes: [] }), templates);

  test.runIf(ready)("knot.conf: valid, with no notice or warning", () => {
    for (const [name, files] of [...NODES.map((n) => [n, rendered[n]] as const), ["lone a1", lone] as const]) {
      const knot = files.find((f) => f.path === "/etc/knot/knot.conf")!;
      expect(inImage(image, { "knot.conf": knot.content }, "knotc -c /mnt/knot.conf conf-check"), name).toBe("Configuration is valid\n");
    }
  });

  test.runIf(ready)("nftables.conf of every node and firewall variant passes nft -c", () => {
    const variants = [
      {},
      { allow: ["tcp/80", "udp/51000-51010", { port: "tcp/993", from: ["198.51.100.0/24", "2001:db8::/32"] }] },
      { policy: "member" },
    ] as const;
    const files = [
      ...NODES.map((n) => fileOf(n, "/etc/nftables.conf")),
      ...variants.map((firewall) =>
        renderNode(plan(fixtureSpec("b1", { firewall }), fixtureFederation()), templates).find((f) => f.path === "/etc/nftables.conf")!,
      ),
    ];
    files.forEach((file, i) =>
      inImage(
        image,
        { "nftables.conf": file.content.replaceAll(`"${NFTABLES_MEMBER_DIR}/`, '"/mnt/no-member-rules/') },
        `nft -c -f /mnt/nftables.conf # ${i}`,
      ),
    );
  });

  test.runIf(ready)("wg0.conf parses with wg-quick strip, without a private key", () => {
    for (const node of NODES) {
      const stripped = inImage(image, { "wg0.conf": fileOf(node, "/etc/wireguard/wg0.conf").content }, "wg-quick strip /mnt/wg0.conf")
        .split("\n")
        .filter((l) => l.trim() && !l.startsWith("#"))
        .join("\n");
      expect(stripped, node).toMatch(/^\[Interface\]\nListenPort = 51820\n\[Peer\]/);
      expect(stripped, node).not.toMatch(/PrivateKey|Address|MTU|PostUp/);
    }
  });

  test.runIf(ready)("Prometheus, Alertmanager and blackbox configs pass promtool, amtool and the exporter's own check", () => {
    const receivers = [
      {},
      { webhook: { url: "https://hooks.coop-b.example/alerts?x=1" } },
      { email: { to: "ops@coop-b.example", from: "b1@coop-b.example", smarthost: "mail.coop-b.example:587" } },
    ];
    const variants = [
      ...NODES.map((n) => rendered[n]),
      ...receivers.map((alerts) => renderNode(plan(fixtureSpec("b1", { alerts }), fixtureFederation()), templates)),
    ];
    variants.forEach((files, i) => {
      const content = (path: string) =>
        files
          .find((f) => f.path === path)!
          .content.replaceAll("/etc/prometheus/boreal-targets/", "/mnt/")
          .replaceAll("/etc/prometheus/", "/mnt/");
      const mounted = Object.fromEntries(
        [
          "prometheus.yml",
          "boreal-rules.yml",
          "alertmanager.yml",
          "blackbox.yml",
          "boreal-targets/node.json",
          "boreal-targets/icmp.json",
          "boreal-targets/dns.json",
        ].map((name) => [name.replace("boreal-targets/", ""), content(`/etc/prometheus/${name}`)]),
      );
      const output = inImage(
        image,
        mounted,
        `promtool check config /mnt/prometheus.yml && amtool check-config /mnt/alertmanager.yml && prometheus-blackbox-exporter --config.check --config.file=/mnt/blackbox.yml 2>&1 # ${i}`,
      );
      expect(output, `variant ${i}`).toMatch(/SUCCESS: 1 rule files found/);
      expect(output, `variant ${i}`).toMatch(/Config file is ok/i);
      expect(output, `variant ${i}`).not.toMatch(/FAILED|error/i);
    });
  });

  test.runIf(ready)("the alert rules fire when they should, and only then (promtool test rules)", () => {
    const rules = fileOf("b1", "/etc/prometheus/boreal-rules.yml").content;
    const output = inImage(
      image,
      { "boreal-rules.yml": rules, "tests.yml": stringifyYaml(alertRuleTests(rules)) },
      "cd /mnt && promtool test rules tests.yml 2>&1",
    );
    expect(output).toMatch(/SUCCESS/);
  });

  test.runIf(ready)("systemd units pass systemd-analyze verify", () => {
    const units = rendered.b1.filter((f) => /^\/etc\/systemd\/system\/[^/]+\.(service|timer|socket)$/.test(f.path));
    const files = Object.fromEntries(units.map((f) => [f.path.split("/").pop()!, f.content]));
    const output = inImage(
      image,
      files,
      `systemd-analyze verify --man=no ${Object.keys(files)
        .map((n) => `/mnt/${n}`)
        .join(" ")} 2>&1 || true`,
    );
    // The kit's own scripts are installed by the kit, not in the image: no finding.
    const absentProgram = (line: string) => {
      const m = /Command (\S+) is not executable: No such file or directory/.exec(line);
      return m !== null && !existsSync(join(image, m[1]));
    };
    expect(output.split("\n").filter((line) => line.trim() && !absentProgram(line))).toEqual([]);
  });
});

test("every node metric the alerts and `boreal status` read comes from a collector Prometheus asks every node for", () => {
  const rules = fileOf("b1", "/etc/prometheus/boreal-rules.yml").content;
  const prometheus = fileOf("b1", "/etc/prometheus/prometheus.yml").content;
  const asked = JSON.parse(/job_name: boreal-node\n\s+params:\n\s+collect\[\]: (\[.*\])/.exec(prometheus)![1]) as string[];
  expect(asked).toEqual([...WATCHED_COLLECTORS]);
  // The kit's own metrics reach the exporter as textfiles (wg-metrics, zone-metrics, the agent).
  const collectorOf = (metric: string) =>
    metric === "up" || metric.startsWith("process_")
      ? "always"
      : /^(wireguard|boreal)_/.test(metric)
        ? "textfile"
        : /^node_filesystem_/.test(metric)
          ? "filesystem"
          : `none (${metric})`;
  const read = [rules, ...Object.values(STATUS_QUERIES)].join("\n");
  const metrics = [...new Set([...read.matchAll(/([a-z_:]+)\{[^}]*job="boreal-node"/g)].map((m) => m[1]))];
  expect(metrics.length).toBeGreaterThan(4);
  for (const metric of metrics)
    expect(["always", ...asked], `${metric}: add its collector to WATCHED_COLLECTORS`).toContain(collectorOf(metric));
});

describe("the alert rules and their runbook", () => {
  test("every alert links a runbook entry: the README's anchor leads to its section of docs/how-to/alerts.md", () => {
    const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");
    const runbooks = readFileSync(join(__dirname, "..", "..", "docs", "how-to", "alerts.md"), "utf8");
    const rules = fileOf("b1", "/etc/prometheus/boreal-rules.yml").content;
    const alerts = [...rules.matchAll(/- alert: (\w+)\n[\s\S]*?runbook: README\.md#([\w-]+)/g)];
    expect(alerts.length).toBe(9);
    for (const [, alert, anchor] of alerts) {
      expect(anchor, alert).toBe(`alert-${alert.toLowerCase()}`);
      expect(readme, `README anchor for ${alert}`).toContain(
        `<a id="${anchor}"></a>[${alert}](docs/how-to/alerts.md#${alert.toLowerCase()})`,
      );
      expect(runbooks, `runbook section for ${alert}`).toMatch(new RegExp(`^## ${alert}$`, "m"));
    }
  });
});
