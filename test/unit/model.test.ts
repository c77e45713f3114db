import { describe, expect, test } from "vitest";
import { BorealConfigError } from "../../src/config/errors";
import type { Federation } from "../../src/config/registry";
import { allocateMeshAddresses } from "../../src/model/allocate";
import { buildDescriptor } from "../../src/model/descriptor";
import { formatIPv6, parseCidr, parseIPv6 } from "../../src/model/ip";
import { plan } from "../../src/model/plan";
import { fixtureFederation, fixtureSpec } from "../helpers/fixtures";

const withoutNode = (federation: Federation, node: string): Federation => ({ ...federation, nodes: federation.nodes.filter((n) => n.node !== node) });

describe("ip", () => {
  test("IPv6 round-trips in RFC 5952 form", () => {
    expect(formatIPv6(parseIPv6("FD42:00b0:0ea1:0000:0000:0000:0000:0001"))).toBe("fd42:b0:ea1::1");
    expect(formatIPv6(parseIPv6("::"))).toBe("::");
    expect(formatIPv6(parseIPv6("fd00:0:0:1::"))).toBe("fd00:0:0:1::");
  });
  test("CIDR with host bits is refused", () => {
    expect(() => parseCidr("100.64.0.1/24")).toThrow(/host bits/);
  });
});

describe("allocation", () => {
  test("a registered node keeps its addresses", () => {
    expect(allocateMeshAddresses(fixtureFederation(), { node: "b1" })).toEqual({ ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" });
  });

  test("a new node gets the lowest free index, the same in both families", () => {
    expect(allocateMeshAddresses(fixtureFederation(), { node: "d1" })).toEqual({ ipv4: "100.64.0.4", ipv6: "fd42:b0:ea1::4" });
    expect(allocateMeshAddresses(withoutNode(fixtureFederation(), "b1"), { node: "d1" })).toEqual({ ipv4: "100.64.0.2", ipv6: "fd42:b0:ea1::2" });
  });

  test("allocation is stable: asking twice gives the same answer", () => {
    const federation = fixtureFederation();
    expect(allocateMeshAddresses(federation, { node: "d1" })).toEqual(allocateMeshAddresses(federation, { node: "d1" }));
  });

  test("an override wins, and is checked", () => {
    const federation = fixtureFederation();
    expect(allocateMeshAddresses(federation, { node: "d1", override: { ipv4: "100.64.0.200" } }).ipv4).toBe("100.64.0.200");
    expect(() => allocateMeshAddresses(federation, { node: "d1", override: { ipv4: "100.64.1.1" } })).toThrow(/outside the federation's 100.64.0.0\/24/);
    expect(() => allocateMeshAddresses(federation, { node: "d1", override: { ipv4: "100.64.0.1" } })).toThrow(/already used by another node/);
  });

  test("an exhausted prefix is a clear error naming the fix", () => {
    const base = fixtureFederation();
    const tiny: Federation = { ...base, settings: { ...base.settings, mesh: { ...base.settings.mesh, ipv4: "100.64.0.0/30" } }, nodes: base.nodes.slice(0, 2) };
    try {
      allocateMeshAddresses(tiny, { node: "d1" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BorealConfigError);
      expect((error as BorealConfigError).problems[0]).toMatchObject({ key: "mesh.ipv4", message: expect.stringMatching(/no free mesh address left in 100.64.0.0\/30/), fix: expect.stringMatching(/widen mesh.ipv4/) });
    }
  });
});

describe("plan", () => {
  test("peers are every other node, allowed only their own addresses", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.peers.map((x) => x.node)).toEqual(["a1", "c1"]);
    expect(p.peers[0]).toMatchObject({ endpoint: "198.51.100.11:51820", allowedIps: ["100.64.0.1/32", "fd42:b0:ea1::1/128"] });
  });

  test("a joining node peers with all registered nodes", () => {
    const p = plan(fixtureSpec("d1"), fixtureFederation());
    expect(p.mesh).toEqual({ ipv4: "100.64.0.4", ipv6: "fd42:b0:ea1::4" });
    expect(p.peers.map((x) => x.node)).toEqual(["a1", "b1", "c1"]);
  });

  test("zones: primary for its own, secondary through every peer's catalog", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.dns.catalog).toBe("b1.catalog.fed.example.");
    expect(p.dns.primaryZones.map((z) => z.name)).toEqual(["coop-b.example.", "b-mail.example."]);
    expect(p.dns.peerCatalogs).toEqual([
      { node: "a1", catalog: "a1.catalog.fed.example.", primary: "100.64.0.1" },
      { node: "c1", catalog: "c1.catalog.fed.example.", primary: "100.64.0.3" },
    ]);
    expect(p.dns.secondaryZones).toEqual([
      { name: "coop-a.example.", primary: "100.64.0.1", node: "a1" },
      { name: "coop-c.example.", primary: "100.64.0.3", node: "c1" },
    ]);
  });

  test("every node of the federation is a name server of the member's zones", () => {
    const zone = plan(fixtureSpec("b1"), fixtureFederation()).dns.primaryZones[0];
    expect(zone.nameServers).toEqual([
      { node: "a1", target: "ns-a1", glue: { type: "A", address: "198.51.100.11" } },
      { node: "b1", target: "ns-b1", glue: { type: "A", address: "198.51.100.12" } },
      { node: "c1", target: "wg.coop-c.net.", glue: undefined },
    ]);
  });

  test("an endpoint host name inside the member's own zone is refused (it would need glue)", () => {
    expect(() => plan(fixtureSpec("d1", { endpoint: "ns.coop-d.example:51820" }), fixtureFederation())).toThrow(/boreal:endpoint.*inside zone coop-d.example./s);
  });

  test("a zone served by another member is refused", () => {
    expect(() => plan(fixtureSpec("d1", { zones: ["coop-a.example."] }), fixtureFederation())).toThrow(/already served by member coop-a/);
  });

  test("exporter on the mesh address only; MTU and port defaults from the federation", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.exporter).toEqual({ address: "100.64.0.2", port: 9100 });
    expect(p.mtu).toBe(1420);
    expect(plan(fixtureSpec("b1", { mtu: 1280 }), fixtureFederation()).mtu).toBe(1280);
    expect(p.listenPort).toBe(51820);
    expect(plan(fixtureSpec("b1", { listenPort: 51999 }), fixtureFederation()).listenPort).toBe(51999);
  });

  test("firewall: SSH, WireGuard and DNS from anywhere, exporter only over the mesh", () => {
    const rules = plan(fixtureSpec("b1", { ssh: { host: "h", port: 2222, privateKey: fixtureSpec("b1").ssh.privateKey, hostKey: fixtureSpec("b1").ssh.hostKey } }), fixtureFederation()).firewall.rules;
    const open = rules.map((r) => `${r.protocol}/${r.port}:${r.from}`);
    expect(open).toEqual(["tcp/2222:any", "udp/51820:any", "udp/53:any", "tcp/53:any", "tcp/9100:mesh"]);
  });
});

describe("descriptor", () => {
  test("updatedAt moves only when the descriptor changes", () => {
    const federation = fixtureFederation();
    const existing = federation.nodes.find((n) => n.node === "b1")!;
    const p = plan(fixtureSpec("b1"), federation);
    expect(buildDescriptor(p, existing.publicKey, existing, "2030-01-01T00:00:00.000Z")).toEqual(existing);
    const rotated = buildDescriptor(p, federation.nodes[0].publicKey, existing, "2030-01-01T00:00:00.000Z");
    expect(rotated.updatedAt).toBe("2030-01-01T00:00:00.000Z");
    expect(rotated.publicKey).toBe(federation.nodes[0].publicKey);
  });
});
