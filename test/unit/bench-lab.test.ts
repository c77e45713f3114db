// The pure pieces of the bench's lab section: what is written for the Ansible role, what the
// machines' answers mean, and the table with its ratios.
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { parseRecap, renderAnsibleConfig, renderInventory, renderPlaybook, roleAddress, ROLE_INTERFACE } from "../../src/bench/ansible";
import { formatRatio, LabRun, labRows, labSection, measured, medianOf, notMeasured, sumFigures } from "../../src/bench/labsection";
import { meshRows, missingPairs, parseOk, parseRss, pingScript, pulumiChanges, rssScript, soaScript } from "../../src/bench/mesh";
import { formatReport } from "../../src/bench/report";
import { pingLoss, pingOutage } from "../../src/lab/measure";

/** A fixed fake lab: what labUp's state holds of its machines and key. */
const LAB = {
  sshKey: "/tmp/boreal-bench-role-3-x/id_ed25519",
  knownHosts: "/tmp/boreal-bench-role-3-x/known_hosts",
  machines: [1, 2, 3, 4].map((i) => ({ name: `node${i}`, address: `198.51.100.${i + 1}` })),
};

describe("the role's files", () => {
  test("the inventory: the first N machines, root with the lab's key, host keys pinned", () => {
    const text = renderInventory(LAB.machines.slice(0, 3), LAB);
    expect(text).toMatchSnapshot();
    const inventory = parse(text);
    expect(Object.keys(inventory.vpn.hosts)).toEqual(["node1", "node2", "node3"]);
    expect(inventory.vpn.vars.ansible_ssh_common_args).toBe(
      `-o IdentitiesOnly=yes -o UserKnownHostsFile=${LAB.knownHosts} -o StrictHostKeyChecking=yes`,
    );
    expect(inventory.vpn.hosts.node2).toEqual({
      ansible_host: "198.51.100.3",
      wireguard_addresses: ["10.77.0.2/24"],
      wireguard_endpoint: "198.51.100.3",
    });
  });

  test("the join adds the (N+1)th machine; every other host keeps its address", () => {
    const before = parse(renderInventory(LAB.machines.slice(0, 3), LAB)).vpn.hosts;
    const after = parse(renderInventory(LAB.machines, LAB)).vpn.hosts;
    expect(after.node4.wireguard_addresses).toEqual(["10.77.0.4/24"]);
    for (const name of Object.keys(before)) expect(after[name]).toEqual(before[name]);
  });

  test("the addresses are the machine's index in the lab, whatever subset the inventory holds", () => {
    const only = parse(renderInventory([LAB.machines[3]], LAB, () => 3)).vpn.hosts;
    expect(only.node4.wireguard_addresses).toEqual(["10.77.0.4/24"]);
    expect(() => roleAddress(254)).toThrow(/254 hosts/);
  });

  test("the playbook: one play over every host, the role's own tunnel, nothing to download", () => {
    const text = renderPlaybook("/tmp/boreal-bench-role-3-x/ansible-role-wireguard");
    expect(text).toMatchSnapshot();
    const [play] = parse(text);
    expect(play.hosts).toBe("vpn");
    expect(play.vars).toMatchObject({
      wireguard_interface: ROLE_INTERFACE,
      wireguard_port: "51821",
      wireguard_install_kernel_module: false,
      wireguard_update_cache: "false",
    });
  });

  test("ansible.cfg: a fork per host, at least Ansible's 5; SSH's shared connections in the run's folder", () => {
    expect(renderAnsibleConfig("/x/inventory.yml", 11, "/x/cp")).toContain("forks = 11");
    expect(renderAnsibleConfig("/x/inventory.yml", 3, "/x/cp")).toContain("forks = 5");
    expect(renderAnsibleConfig("/x/inventory.yml", 3, "/x/cp")).toMatch(/\[ssh_connection\]\ncontrol_path_dir = \/x\/cp\n/);
  });

  test("the recap of ansible-playbook", () => {
    const output =
      "TASK [x]\nok: [node1]\n\nPLAY RECAP *********\n" +
      "node1                      : ok=17   changed=0    unreachable=0    failed=0    skipped=6    rescued=0    ignored=0\n" +
      "node2                      : ok=17   changed=2    unreachable=0    failed=0    skipped=6    rescued=0    ignored=0\n";
    expect(parseRecap(output)).toEqual([
      { host: "node1", ok: 17, changed: 0, unreachable: 0, failed: 0 },
      { host: "node2", ok: 17, changed: 2, unreachable: 0, failed: 0 },
    ]);
    expect(parseRecap("no recap")).toEqual([]);
  });
});

describe("what the machines answer", () => {
  test("the ping matrix: every machine to every other, or the newcomer's row", () => {
    const addresses = { node1: "10.77.0.1", node2: "10.77.0.2", node3: "10.77.0.3" };
    expect(meshRows(addresses)).toEqual([
      { from: "node1", targets: ["10.77.0.2", "10.77.0.3"] },
      { from: "node2", targets: ["10.77.0.1", "10.77.0.3"] },
      { from: "node3", targets: ["10.77.0.1", "10.77.0.2"] },
    ]);
    expect(meshRows(addresses, "node3")).toEqual([{ from: "node3", targets: ["10.77.0.1", "10.77.0.2"] }]);
    expect(() => meshRows(addresses, "node9")).toThrow(/node9/);
  });

  test("a ping round's answers, and the pairs still missing", () => {
    expect(pingScript(["10.77.0.2", "fd42:b0:ea1::2"])).toContain("ping -c1 -W1");
    expect(() => pingScript(["10.77.0.2; rm -rf /"])).toThrow(/not an address/);
    const reached = parseOk("ok 10.77.0.2\nfail 10.77.0.3\nssh: warning\n");
    expect([...reached]).toEqual(["10.77.0.2"]);
    const rows = meshRows({ node1: "10.77.0.1", node2: "10.77.0.2", node3: "10.77.0.3" });
    expect(missingPairs(rows, { node1: reached, node2: new Set(["10.77.0.1", "10.77.0.3"]) })).toEqual([
      "node1→10.77.0.3",
      "node3→10.77.0.1",
      "node3→10.77.0.2",
    ]);
  });

  test("the services' resident memory, several processes of one service added up", () => {
    expect(rssScript()).toContain("pidof -x");
    expect(
      parseRss("knotd 120 20480\nprometheus 130 102400\nprometheus-blackbox-exporter 140 10240\nprometheus-blackbox-exporter 141 1024\n"),
    ).toEqual({
      knotd: 20480 * 1024,
      prometheus: 102400 * 1024,
      "prometheus-blackbox-exporter": 11264 * 1024,
    });
    expect(soaScript(["coop-1.lab.test."])).toContain("kdig @127.0.0.1");
    expect(() => soaScript(["x; reboot"])).toThrow(/not a zone/);
  });

  test("what a pulumi up changed, from its summary", () => {
    expect(pulumiChanges("Resources:\n    42 unchanged\n\nDuration: 2s\n")).toBe("");
    expect(pulumiChanges("Resources:\n    ~ 2 updated\n    40 unchanged\n\nDuration: 9s\n")).toBe("~ 2 updated");
  });

  test("a rotation seen by ping -D: the longest gap between replies, and the loss", () => {
    const out = [
      "[100.0] 64 bytes from 100.64.0.2: icmp_seq=1",
      "[100.2] 64 bytes from 100.64.0.2: icmp_seq=2",
      "[106.7] 64 bytes from 100.64.0.2: icmp_seq=30",
      "[106.9] 64 bytes from 100.64.0.2: icmp_seq=31",
      "31 packets transmitted, 4 received, 87.0968% packet loss",
    ].join("\n");
    expect(pingOutage(out)).toBeCloseTo(6.5, 5);
    expect(pingLoss(out)).toBeCloseTo(87.0968, 4);
    expect(() => pingOutage("no replies")).toThrow(/fewer than two/);
    expect(() => pingLoss("")).toThrow(/no packet loss/);
  });
});

describe("the lab section", () => {
  test("ratios: kit ÷ role, nothing to divide is a dash", () => {
    expect(formatRatio(measured(2000), measured(8000))).toBe("0.25×");
    expect(formatRatio(measured(30_000), measured(2000))).toBe("15.0×");
    expect(formatRatio(measured(50), measured(1000))).toBe("0.050×");
    expect(formatRatio(notMeasured("lab failed"), measured(1000))).toBe("—");
    expect(formatRatio(measured(1000), measured(0))).toBe("—");
    expect(sumFigures(measured(1000), measured(500))).toEqual({ ms: 1500 });
    expect(sumFigures(measured(1000), notMeasured("x"))).toEqual({ why: "x" });
    expect(medianOf([3000, 1000, 2000])).toEqual({ ms: 2000, runs: [3000, 1000, 2000] });
  });

  const run: LabRun = {
    n: 3,
    runs: 3,
    role: {
      bare: measured(41_000),
      barePlay: measured(38_000),
      joinPlay: measured(40_000),
      joinPing: measured(1200),
      noop: medianOf([21_000, 20_000, 22_000]),
      noopChanged: 0,
    },
    kit: {
      bare: measured(95_000),
      bareSlowestUp: measured(80_000),
      joinUp: measured(60_000),
      joinPing: measured(9000),
      noop: medianOf([4000, 4200, 3900]),
      noopFloor: medianOf([3100, 3000, 3300]),
      noopChanges: "",
      rotationOutage: measured(6500),
      rotationLoss: 0,
      zones: measured(15_000),
      leaveDestroy: notMeasured("pulumi destroy failed (exit 255)"),
      leavePeers: notMeasured("not reached: an earlier step failed"),
      rss: {
        perNode: { node1: 200 * 2 ** 20, node2: 220 * 2 ** 20, node3: 210 * 2 ** 20, node4: 205 * 2 ** 20 },
        perService: { knotd: 80 * 2 ** 20 },
        missing: ["prometheus-alertmanager on node4"],
      },
      idleCpu: { perNode: { node1: 4.25, node2: 5.5, node3: 3, node4: 6 }, seconds: 60 },
    },
  };

  test("every row has the section's columns: a kit, a role and a ratio; the role's missing counterparts say so", () => {
    const rows = labRows(run);
    const section = labSection([run], { suite: "bookworm", cores: 2, memoryBytes: 24 * 2 ** 30 });
    expect(section.header).toEqual(["measurement", "N", "kit", "role", "kit/role", "note"]);
    const byName = Object.fromEntries(rows.map((r) => [r[0], r]));
    expect(byName["bare → full mesh (every pair pings)"].slice(2, 5)).toEqual(["95.0 s", "41.0 s", "2.32×"]);
    expect(byName["join: apply + pings"].slice(2, 5)).toEqual(["69.0 s", "41.2 s", "1.67×"]);
    expect(byName["no-op apply (median of 3)"].slice(2, 5)).toEqual(["4.00 s", "21.0 s", "0.19×"]);
    expect(byName["no-op apply (median of 3)"][5]).toContain("role's recap: changed=0");
    // Pulumi's own floor beside it: no role, no ratio.
    expect(byName["no-op of a Pulumi program with no resource (median of 3)"].slice(2, 5)).toEqual(["3.10 s", "—", "—"]);
    expect(byName["key rotation of one node: its outage seen by a neighbour (ping every 0.2 s)"].slice(2, 5)).toEqual([
      "6.50 s",
      "no rotation",
      "—",
    ]);
    expect(byName["leave: pulumi destroy of the last member's stack"][2]).toBe("not measured: pulumi destroy failed (exit 255)");
    expect(byName["RSS of the kit's services per node"][2]).toBe("207.5 MiB");
    expect(byName["RSS of the kit's services per node"][5]).toContain("not running: prometheus-alertmanager on node4");
    expect(byName["CPU of an idle node (% of one core)"].slice(2, 5)).toEqual(["4.9%", "—", "—"]);
    expect(byName["CPU of an idle node (% of one core)"][5]).toContain("over 60 s after the join");
    const report = formatReport({
      date: "2026-11-28",
      machine: { cpus: 2, cpuModel: "AMD EPYC", memoryBytes: 24 * 2 ** 30, node: "24.21.0", os: "Debian 12.11" },
      sections: [section],
    });
    expect(report).toContain("## The kit and githubixx/ansible-role-wireguard 18.3.0 on the lab");
    expect(report).toContain("How to read:");
    expect(report).toMatch(/Debian bookworm machines .* 2 cores and 24\.00 GiB/);
  });
});
