// The pure pieces of the bench's lab section: what is written for the Ansible role, what the
// machines' answers mean, and the table with its ratios.
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { parseRecap, renderAnsibleConfig, renderInventory, renderPlaybook, roleAddress, ROLE_INTERFACE } from "../../src/bench/ansible";
import {
  formatQuotient,
  formatRatio,
  LabRun,
  labRows,
  labSection,
  laterOf,
  loadSection,
  measured,
  medianOf,
  notMeasured,
  sumFigures,
} from "../../src/bench/labsection";
import { meshRows, missingPairs, parseOk, parseRss, pingScript, pulumiChanges, rssScript, soaScript } from "../../src/bench/mesh";
import { formatReport } from "../../src/bench/report";
import { lostInWords, pingOutage, pingTally } from "../../src/lab/measure";

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
    // 31 sent every 0.2 s: the last 10 were on their way when ping stopped (2 s), seq 3 to 21 lost.
    expect(pingTally(out)).toEqual({
      transmitted: 31,
      received: 4,
      lost: 19,
      lostSeqs: Array.from({ length: 19 }, (_, i) => i + 3),
      inFlight: 8,
      slowest: 0,
    });
    expect(() => pingOutage("no replies")).toThrow(/fewer than two/);
    expect(() => pingTally("")).toThrow(/no summary line/);
  });

  test("a ping stopped by SIGINT: probes of its last 2 s unanswered were on their way, not lost; earlier ones were, and are named", () => {
    const replies = (seqs: number[]) => seqs.map((n) => `[10${n}.0] 64 bytes from 100.64.0.2: icmp_seq=${n} ttl=64 time=1.${n} ms`);
    const upTo = (n: number, without: number[] = []) => Array.from({ length: n }, (_, i) => i + 1).filter((s) => !without.includes(s));
    const stopped = (seqs: number[], transmitted: number) =>
      [...replies(seqs), `${transmitted} packets transmitted, ${seqs.length} received, x% packet loss`].join("\n");
    // Every 0.2 s: 10 probes in the last 2 s.
    expect(pingTally(stopped(upTo(4), 5))).toEqual({ transmitted: 5, received: 4, lost: 0, lostSeqs: [], inFlight: 1, slowest: 0.0014 });
    expect(pingTally(stopped(upTo(20), 30))).toMatchObject({ lost: 0, inFlight: 10 });
    expect(pingTally(stopped(upTo(19), 30))).toMatchObject({ lost: 1, lostSeqs: [20], inFlight: 10 });
    expect(pingTally(stopped(upTo(30, [7, 25]), 30))).toMatchObject({ lost: 1, lostSeqs: [7], inFlight: 1 });
    expect(pingTally(stopped(upTo(30), 30))).toMatchObject({ lost: 0, inFlight: 0 });
    // Another interval and bound: every second, 3 s in flight.
    expect(pingTally(stopped(upTo(6), 10), 1, 3)).toMatchObject({ lost: 1, lostSeqs: [7], inFlight: 3 });
    expect(lostInWords(pingTally(stopped(upTo(30, [7, 9]), 30)))).toBe("2 lost (icmp_seq 7, 9)");
    expect(lostInWords(pingTally(stopped(upTo(30), 30)))).toBe("0 lost");
    // A duplicate reply is one reply.
    expect(pingTally([...replies([1, 1, 2]), "2 packets transmitted, 2 received, +1 duplicates"].join("\n")).lost).toBe(0);
  });
});

describe("the lab section", () => {
  test("ratios: kit ÷ peer, nothing to divide is a dash", () => {
    expect(formatRatio(measured(2000), measured(8000))).toBe("0.25×");
    expect(formatRatio(measured(30_000), measured(2000))).toBe("15.0×");
    expect(formatRatio(measured(50), measured(1000))).toBe("0.050×");
    expect(formatRatio(notMeasured("lab failed"), measured(1000))).toBe("—");
    expect(formatRatio(measured(1000), measured(0))).toBe("—");
    expect(formatQuotient(4.5, 0.5)).toBe("9.00×");
    expect(formatQuotient(undefined, 0.5)).toBe("—");
    expect(sumFigures(measured(1000), measured(500))).toEqual({ ms: 1500 });
    expect(sumFigures(measured(1000), notMeasured("x"))).toEqual({ why: "x" });
    expect(laterOf(measured(1000), measured(2500))).toEqual({ ms: 2500 });
    expect(laterOf(notMeasured("y"), measured(2500))).toEqual({ why: "y" });
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
      joinPinged: measured(1500),
      noop: medianOf([21_000, 20_000, 22_000]),
      noopChanged: 0,
      idleCpu: { perNode: { node1: 0.5, node2: 0.25, node3: 0.75, node4: 0.5 }, seconds: 60 },
    },
    kit: {
      bare: measured(95_000),
      bareSlowestUp: measured(80_000),
      joinUp: measured(60_000),
      joinPing: measured(9000),
      joinPinged: measured(8000),
      noop: medianOf([4000, 4200, 3900]),
      noopFloor: medianOf([3100, 3000, 3300]),
      noopChanges: "",
      rotation: { sent: 150, received: 150, outageMs: 400, slowestMs: 900, betweenSent: 150, betweenReceived: 149 },
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
    nebula: {
      bare: measured(10_000),
      bareSetup: measured(4000),
      joinSetup: measured(1000),
      joinPing: measured(2000),
      joinPinged: measured(3000),
      rotation: { sent: 60, received: 55, outageMs: 1200, slowestMs: 5, betweenSent: 60, betweenReceived: 60 },
      leaveSend: measured(800),
      leaveGone: measured(5200),
      idleCpu: { perNode: { node1: 0.5, node2: 0.5, node3: 1, node4: 0.5 }, seconds: 60 },
      rss: { perNode: { node1: 20 * 2 ** 20, node2: 22 * 2 ** 20, node3: 21 * 2 ** 20, node4: 21 * 2 ** 20 } },
    },
    loads: [{ tool: "kit", seconds: 412.5, before: [0.5, 0.75, 1], after: [3.25, 2.5, 1.5] }],
  };

  test("every row has a cell for the kit, the role and Nebula, and both ratios; a peer's missing counterpart says so", () => {
    const rows = labRows(run);
    const section = labSection([run], { suite: "bookworm", cores: 2, memoryBytes: 24 * 2 ** 30 });
    expect(section.header).toEqual(["measurement", "N", "kit", "role", "nebula", "kit/role", "kit/nebula", "note"]);
    for (const row of rows) expect(row).toHaveLength(section.header.length);
    const byName = Object.fromEntries(rows.map((r) => [r[0], r]));
    expect(byName["bare → every pair pings"].slice(2, 7)).toEqual(["95.0 s", "41.0 s", "10.0 s", "2.32×", "9.50×"]);
    // The join waits for the later of both directions: kit 60 + 9, role 40 + 1.5, Nebula 1 + 3.
    expect(byName["join: apply + pings both ways"].slice(2, 7)).toEqual(["69.0 s", "41.5 s", "4.00 s", "1.66×", "17.3×"]);
    expect(byName["join: from the same moment until every other pings the new node"].slice(2, 5)).toEqual(["8.00 s", "1.50 s", "3.00 s"]);
    expect(byName["no-op apply (median of 3)"].slice(2, 7)).toEqual(["4.00 s", "21.0 s", "— (nothing to apply)", "0.19×", "—"]);
    expect(byName["no-op apply (median of 3)"][7]).toContain("role's recap: changed=0");
    expect(byName["no-op of a Pulumi program with no resource (median of 3)"].slice(2, 7)).toEqual(["3.10 s", "—", "—", "—", "—"]);
    expect(byName["key rotation of one node: pings lost, a neighbour to it (every 0.2 s)"].slice(2, 5)).toEqual([
      "0 of 150 lost",
      "no rotation",
      "5 of 60 lost",
    ]);
    expect(byName["key rotation: the longest gap between two replies (the outage the neighbour saw)"].slice(2, 7)).toEqual([
      "400 ms",
      "no rotation",
      "1.20 s",
      "—",
      "0.33×",
    ]);
    expect(byName["key rotation: pings lost between the neighbour and another node meanwhile"].slice(2, 5)).toEqual([
      "1 of 150 lost",
      "no rotation",
      "0 of 60 lost",
    ]);
    expect(byName["leave: the apply"].slice(2, 5)).toEqual(["not measured: pulumi destroy failed (exit 255)", "— (no leave)", "800 ms"]);
    expect(byName["leave: from the apply's exit until it is dropped"][4]).toBe("5.20 s");
    expect(byName["resident memory per machine"].slice(2, 7)).toEqual(["207.5 MiB", "— (WireGuard only)", "21.0 MiB", "—", "9.88×"]);
    expect(byName["resident memory per machine"][7]).toContain("not running: prometheus-alertmanager on node4");
    expect(byName["CPU of an idle machine (% of one core)"].slice(2, 7)).toEqual(["4.88%", "0.50%", "0.50%", "9.75×", "9.75×"]);
    expect(byName["CPU of an idle machine (% of one core)"][7]).toContain("nebula: per machine node1 0.50%");
    const report = formatReport({
      date: "2026-12-05",
      machine: { cpus: 2, cpuModel: "AMD EPYC", memoryBytes: 24 * 2 ** 30, node: "24.21.0", os: "Debian 12.11" },
      sections: [section],
    });
    expect(report).toContain("## The kit, githubixx/ansible-role-wireguard 18.3.0 and Nebula v1.10.3 on the lab");
    expect(report).toContain("one lighthouse, on the first machine");
    expect(report).toMatch(/Debian bookworm machines .* 2 cores and 24\.00 GiB/);
  });

  test("the load section: one row a tool's run, the averages at its start and end", () => {
    expect(loadSection([run]).rows).toEqual([["kit", "3", "412.5 s", "0.50 / 0.75 / 1.00", "3.25 / 2.50 / 1.50"]]);
  });

  test("a figure that failed says why in its cell, and leaves its ratio empty", () => {
    const failed: LabRun = {
      ...run,
      nebula: { ...run.nebula, bare: notMeasured("nebula did not start"), rotation: { why: "needs N ≥ 3" } },
    };
    const byName = Object.fromEntries(labRows(failed).map((r) => [r[0], r]));
    expect(byName["bare → every pair pings"].slice(4, 7)).toEqual(["not measured: nebula did not start", "2.32×", "—"]);
    expect(byName["key rotation of one node: pings lost, a neighbour to it (every 0.2 s)"][4]).toBe("not measured: needs N ≥ 3");
  });
});
