import { describe, expect, test } from "vitest";
import { federationStatus, formatStatus } from "../../src/core/status/report";
import { answers, NODES, sample, who } from "../helpers/status-answers";

describe("boreal status: the federation as one node sees it", () => {
  test("all well: healthy, every row up", () => {
    const status = federationStatus("node2", answers());
    expect(status.healthy).toBe(true);
    expect(status.nodes.map((n) => [n.node, n.reachable, n.zones])).toEqual(
      NODES.map((n) => [n, true, { total: 2, answered: 2, currentSerial: 2 }]),
    );
    expect(status.nodes.find((n) => n.node === "node2")).toMatchObject({ ping: undefined, handshakeAge: undefined });
    expect(formatStatus(status)).toMatch(/federation healthy, as node2 sees it\n$/);
  });

  test("node1 down: its row says so with its alerts; its serial of 0 does not make the others stale", () => {
    const firing = [
      sample(1, { alertname: "BorealPeerExporterDown", ...who("node1") }),
      sample(1, { alertname: "BorealZoneNotAnswered", ...who("node1"), zone: "coop-a.lab.test." }),
    ];
    const status = federationStatus("node2", answers(["node1"], {}, firing));
    expect(status.healthy).toBe(false);
    const node1 = status.nodes.find((n) => n.node === "node1")!;
    expect(node1).toMatchObject({
      reachable: false,
      ping: { ipv4: false, ipv6: false },
      handshakeAge: 400,
      zones: { total: 2, answered: 0, currentSerial: 0 },
    });
    expect(node1.alerts).toEqual(["BorealPeerExporterDown", "BorealZoneNotAnswered(zone=coop-a.lab.test.)"]);
    expect(status.nodes.find((n) => n.node === "node3")!.zones.currentSerial).toBe(2);
    const table = formatStatus(status);
    expect(table).toMatch(
      /^node1\s+coop-a\s+DOWN\s+v4 FAIL v6 FAIL\s+400s\s+0\/2 answered, 0\/2 current\s+-\s+-\s+BorealPeerExporterDown BorealZoneNotAnswered\(zone=coop-a\.lab\.test\.\)$/m,
    );
    expect(table).toMatch(/federation NOT healthy/);
  });

  test("a stale serial on one node, a zone-wide alert, a handshake never made", () => {
    const base = answers([], { "node3/coop-b.lab.test.": 99 }, [
      sample(1, { alertname: "BorealZoneSerialsDisagree", zone: "coop-b.lab.test." }),
    ]);
    base.handshakes = base.handshakes.map((s) => (s.metric.peer === "node3" ? { ...s, value: -1 } : s));
    const status = federationStatus("node2", base);
    expect(status.nodes.find((n) => n.node === "node3")).toMatchObject({ handshakeAge: null, zones: { answered: 2, currentSerial: 1 } });
    expect(status.otherAlerts).toEqual(["BorealZoneSerialsDisagree(zone=coop-b.lab.test.)"]);
    expect(status.healthy).toBe(false);
    expect(formatStatus(status)).toMatch(/node3\s+coop-c\s+up\s+v4 ok v6 ok\s+never/);
    expect(formatStatus(status)).toMatch(/firing, about no single node: BorealZoneSerialsDisagree\(zone=coop-b\.lab\.test\.\)/);
  });
});
