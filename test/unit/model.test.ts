import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { BorealConfigError, ConfigProblem } from "../../src/core/values/problems";
import type { Federation, NodeDescriptor } from "../../src/core/registry/format";
import { allocateMeshAddresses, memberShare } from "../../src/core/mesh/allocate";
import { buildDescriptor, buildTombstone } from "../../src/core/node/descriptor";
import { cidrWithin, formatIPv6, parseCidr, parseIPv6 } from "../../src/core/values/ip";
import { monitoringPlan } from "../../src/core/monitoring/plan";
import { plan } from "../../src/core/node/plan";
import { renderNodeObject } from "../../src/io/registry/read";
import { scrapeTargets } from "../../src/core/node/render";
import { FIXTURE_SERIAL } from "../fixtures/sign-fixtures";
import { FIXTURE_REGISTRY, fixtureFederation, fixtureSpec } from "../helpers/fixtures";

const keyOf = (d: NodeDescriptor) => ({ publicKey: d.publicKey, keyProof: d.keyProof });

const withoutNode = (federation: Federation, node: string): Federation => ({
  ...federation,
  nodes: federation.nodes.filter((n) => n.node !== node),
});

/** A node of coop-d at host index `index` (100.64.0.<index>). */
const coopDNode = (node: string, index: number, zones: string[] = []): NodeDescriptor => ({
  member: "coop-d",
  node,
  serial: FIXTURE_SERIAL,
  endpoint: `198.51.100.${index}:51820`,
  publicKey: Buffer.alloc(32, index).toString("base64"),
  keyProof: `${"P".repeat(86)}==`,
  mesh: { ipv4: `100.64.0.${index}`, ipv6: `fd42:b0:ea1::${index.toString(16)}` },
  zones,
  exporter: `100.64.0.${index}:9100`,
  updatedAt: "2026-11-20T10:00:00Z",
});

function problemOf(run: () => unknown): ConfigProblem {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BorealConfigError);
    const problems = (error as BorealConfigError).problems;
    expect(problems).toHaveLength(1);
    return problems[0];
  }
  throw new Error("expected a BorealConfigError");
}

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

describe("member shares", () => {
  test("a member's IPv6 share is the same host indexes as its IPv4 share", () => {
    const settings = fixtureFederation().settings;
    const shares = Object.fromEntries(settings.members.map((m) => [m.name, memberShare(settings, m.name)!]));
    expect(Object.fromEntries(Object.entries(shares).map(([m, s]) => [m, [s.ipv4.text, s.ipv6.text]]))).toEqual({
      "coop-a": ["100.64.0.0/28", "fd42:b0:ea1::/124"],
      "coop-b": ["100.64.0.16/28", "fd42:b0:ea1::10/124"],
      "coop-c": ["100.64.0.32/28", "fd42:b0:ea1::20/124"],
      "coop-d": ["100.64.0.48/28", "fd42:b0:ea1::30/124"],
    });
    for (const share of Object.values(shares)) expect(cidrWithin(share.ipv6, parseCidr(settings.mesh.ipv6))).toBe(true);
    expect(memberShare(settings, "mallory")).toBeUndefined();
  });
});

describe("allocation", () => {
  test("a registered node keeps its addresses", () => {
    expect(allocateMeshAddresses(fixtureFederation(), { node: "b1", member: "coop-b" })).toEqual({
      ipv4: "100.64.0.17",
      ipv6: "fd42:b0:ea1::11",
    });
    expect(allocateMeshAddresses(fixtureFederation(), { node: "c1", member: "coop-c" })).toEqual({
      ipv4: "100.64.0.33",
      ipv6: "fd42:b0:ea1::21",
    });
  });

  test("a new node gets the lowest free index of its member's share, the same in both families", () => {
    expect(allocateMeshAddresses(fixtureFederation(), { node: "d1", member: "coop-d" })).toEqual({
      ipv4: "100.64.0.48",
      ipv6: "fd42:b0:ea1::30",
    });
    expect(allocateMeshAddresses(fixtureFederation(), { node: "b2", member: "coop-b" })).toEqual({
      ipv4: "100.64.0.16",
      ipv6: "fd42:b0:ea1::10",
    });
    // The federation prefix's network address (100.64.0.0) is nobody's; a1 holds .1.
    expect(allocateMeshAddresses(fixtureFederation(), { node: "a2", member: "coop-a" })).toEqual({
      ipv4: "100.64.0.2",
      ipv6: "fd42:b0:ea1::2",
    });
    expect(allocateMeshAddresses(withoutNode(fixtureFederation(), "a1"), { node: "a2", member: "coop-a" })).toEqual({
      ipv4: "100.64.0.1",
      ipv6: "fd42:b0:ea1::1",
    });
  });

  test("an index taken in either family is skipped", () => {
    const base = fixtureFederation();
    const d1 = { ...coopDNode("d1", 48), mesh: { ipv4: "100.64.0.48", ipv6: "fd42:b0:ea1::31" } };
    expect(allocateMeshAddresses({ ...base, nodes: [...base.nodes, d1] }, { node: "d2", member: "coop-d" })).toEqual({
      ipv4: "100.64.0.50",
      ipv6: "fd42:b0:ea1::32",
    });
  });

  test("allocation is stable: asking twice gives the same answer", () => {
    const federation = fixtureFederation();
    expect(allocateMeshAddresses(federation, { node: "d1", member: "coop-d" })).toEqual(
      allocateMeshAddresses(federation, { node: "d1", member: "coop-d" }),
    );
  });

  test("an override inside the member's share wins; outside it, or taken, it is refused", () => {
    const federation = fixtureFederation();
    expect(allocateMeshAddresses(federation, { node: "d1", member: "coop-d", override: { ipv4: "100.64.0.60" } })).toEqual({
      ipv4: "100.64.0.60",
      ipv6: "fd42:b0:ea1::30",
    });
    expect(allocateMeshAddresses(federation, { node: "d1", member: "coop-d", override: { ipv6: "FD42:B0:EA1:0::3F" } })).toEqual({
      ipv4: "100.64.0.48",
      ipv6: "fd42:b0:ea1::3f",
    });
    expect(
      problemOf(() => allocateMeshAddresses(federation, { node: "d1", member: "coop-d", override: { ipv4: "100.64.0.200" } })),
    ).toEqual({
      source: "stack config",
      key: "boreal:meshAddress.ipv4",
      message: "100.64.0.200 is outside member coop-d's mesh share 100.64.0.48/28",
      fix: "pick an address inside 100.64.0.48/28, or remove the override",
    });
    expect(
      problemOf(() => allocateMeshAddresses(federation, { node: "d1", member: "coop-d", override: { ipv6: "fd42:b0:ea1::1" } })),
    ).toMatchObject({
      key: "boreal:meshAddress.ipv6",
      message: "fd42:b0:ea1::1 is outside member coop-d's mesh share fd42:b0:ea1::30/124",
    });
    // Another member's node's address is outside the share before it is taken.
    expect(
      problemOf(() => allocateMeshAddresses(federation, { node: "d1", member: "coop-d", override: { ipv4: "100.64.0.17" } })).message,
    ).toMatch(/outside member coop-d's mesh share/);
    expect(
      problemOf(() => allocateMeshAddresses(federation, { node: "a2", member: "coop-a", override: { ipv4: "100.64.0.1" } })),
    ).toMatchObject({
      key: "boreal:meshAddress.ipv4",
      message: "100.64.0.1 is already used by another node",
      fix: expect.stringMatching(/remove the override/),
    });
  });

  test("an exhausted share is a clear error naming the fix", () => {
    const base = fixtureFederation();
    const members = base.settings.members.map((m) => (m.name === "coop-d" ? { ...m, mesh: "100.64.0.48/30" } : m));
    const full: Federation = {
      settings: { ...base.settings, members },
      nodes: [...base.nodes, ...[48, 49, 50, 51].map((i) => coopDNode(`d${i}`, i))],
    };
    expect(problemOf(() => allocateMeshAddresses(full, { node: "d9", member: "coop-d" }))).toEqual({
      source: "federation",
      key: "members.coop-d.mesh",
      message: "no free mesh address left in member coop-d's share 100.64.0.48/30",
      fix: "have the federation give the member a larger share (a new federation version), or let a node of the member leave",
    });
    // A node already in the full share keeps its address.
    expect(allocateMeshAddresses(full, { node: "d50", member: "coop-d" }).ipv4).toBe("100.64.0.50");
  });

  test("the federation prefix's broadcast address is never a node's", () => {
    const base = fixtureFederation();
    const members = [
      ...base.settings.members,
      {
        name: "coop-z",
        keys: base.settings.members[0].keys.map((k) => k),
        zones: ["coop-z.example."],
        mesh: "100.64.0.254/31",
        nodes: ["z*"],
      },
    ];
    const federation: Federation = { settings: { ...base.settings, members }, nodes: base.nodes };
    expect(allocateMeshAddresses(federation, { node: "z1", member: "coop-z" }).ipv4).toBe("100.64.0.254");
    const taken: Federation = { ...federation, nodes: [...base.nodes, { ...coopDNode("z1", 254), member: "coop-z" }] };
    expect(problemOf(() => allocateMeshAddresses(taken, { node: "z2", member: "coop-z" })).message).toBe(
      "no free mesh address left in member coop-z's share 100.64.0.254/31",
    );
  });

  test("a member not in the federation is told how to get admitted", () => {
    expect(problemOf(() => allocateMeshAddresses(fixtureFederation(), { node: "m1", member: "mallory" }))).toMatchObject({
      source: "stack config",
      key: "boreal:member",
      message: "member mallory is not in federation version 1",
      fix: expect.stringMatching(/have the federation admit mallory first/),
    });
  });
});

describe("plan", () => {
  test("peers are every other node, allowed only their own addresses", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.mesh).toEqual({ ipv4: "100.64.0.17", ipv6: "fd42:b0:ea1::11" });
    expect(p.peers.map((x) => `${x.node} ${x.member}`)).toEqual(["a1 coop-a", "c1 coop-c"]);
    expect(p.peers[0]).toMatchObject({ endpoint: "198.51.100.11:51820", allowedIps: ["100.64.0.1/32", "fd42:b0:ea1::1/128"] });
    expect(p.peers[1]).toMatchObject({ endpoint: "wg.coop-c.net:51820", allowedIps: ["100.64.0.33/32", "fd42:b0:ea1::21/128"] });
    expect(p.meshPrefixLengths).toEqual({ ipv4: 24, ipv6: 48 });
  });

  test("a joining node gets an address of its member's share and peers with all registered nodes", () => {
    const p = plan(fixtureSpec("d1"), fixtureFederation());
    expect(p.mesh).toEqual({ ipv4: "100.64.0.48", ipv6: "fd42:b0:ea1::30" });
    expect(p.peers.map((x) => x.node)).toEqual(["a1", "b1", "c1"]);
  });

  test("zones: primary for its own, secondary through every peer's catalog", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.dns.catalog).toBe("b1.catalog.fed.example.");
    expect(p.dns.primaryZones.map((z) => z.name)).toEqual(["coop-b.example.", "b-mail.example."]);
    expect(p.dns.peerCatalogs).toEqual([
      { node: "a1", catalog: "a1.catalog.fed.example.", primary: "100.64.0.1" },
      { node: "c1", catalog: "c1.catalog.fed.example.", primary: "100.64.0.33" },
    ]);
    expect(p.dns.secondaryZones).toEqual([
      { name: "coop-a.example.", primary: "100.64.0.1", node: "a1" },
      { name: "coop-c.example.", primary: "100.64.0.33", node: "c1" },
    ]);
  });

  test("the member's zones are delegated to its own node and other members' by their own names; glue only for the name in the zone", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.nameServer).toBe("ns-b1.coop-b.example.");
    expect(p.delegation).toEqual(["b1", "a1", "c1"]);
    const [first, second] = p.dns.primaryZones;
    expect(first.nameServers.map((ns) => [ns.name, ns.glue])).toEqual([
      ["ns-b1.coop-b.example.", [{ type: "A", address: "198.51.100.12" }]],
      ["ns-a1.coop-a.example.", []],
      ["wg.coop-c.net.", []],
    ]);
    // Its second zone names the same servers; the glue is in the first one only.
    expect(second.nameServers.map((ns) => [ns.name, ns.glue])).toEqual([
      ["ns-b1.coop-b.example.", []],
      ["ns-a1.coop-a.example.", []],
      ["wg.coop-c.net.", []],
    ]);
  });

  test("an endpoint host name inside the member's own zone is refused (it would need glue)", () => {
    expect(() => plan(fixtureSpec("d1", { endpoint: "ns.coop-d.example:51820" }), fixtureFederation())).toThrow(
      /boreal:endpoint.*inside zone coop-d.example./s,
    );
  });

  test("a zone outside the member's suffixes is refused, naming them", () => {
    expect(problemOf(() => plan(fixtureSpec("d1", { zones: ["coop-a.example."] }), fixtureFederation()))).toEqual({
      source: "stack config",
      key: "boreal:zones",
      message: "zone coop-a.example. is outside member coop-d's zones in federation version 1 (coop-d.example.)",
      fix: "use a zone under the member's suffixes, or have the federation add the suffix (a new federation version)",
    });
    expect(() => plan(fixtureSpec("d1", { zones: ["evilcoop-d.example."] }), fixtureFederation())).toThrow(/outside member coop-d's zones/);
  });

  test("a zone below the member's suffix is its own", () => {
    expect(plan(fixtureSpec("d1", { zones: ["lists.coop-d.example."] }), fixtureFederation()).dns.primaryZones.map((z) => z.name)).toEqual([
      "lists.coop-d.example.",
    ]);
  });

  test("a zone already served by another node of the member is refused", () => {
    const base = fixtureFederation();
    const federation = { ...base, nodes: [...base.nodes, coopDNode("d1", 48, ["coop-d.example."])] };
    expect(problemOf(() => plan(fixtureSpec("d1", { node: "d2" }), federation))).toEqual({
      source: "stack config",
      key: "boreal:zones",
      message: "zone coop-d.example. is already served by node d1 (member coop-d)",
      fix: "a zone has one primary: remove it here, or from the other node first",
    });
    // The node that serves it plans as before.
    expect(plan(fixtureSpec("d1"), federation).mesh.ipv4).toBe("100.64.0.48");
  });

  test("exporter on the mesh address only; MTU, port and sync interval defaults", () => {
    const p = plan(fixtureSpec("b1"), fixtureFederation());
    expect(p.exporter).toEqual({ address: "100.64.0.17", port: 9100 });
    expect(p.mtu).toBe(1420);
    expect(plan(fixtureSpec("b1", { mtu: 1280 }), fixtureFederation()).mtu).toBe(1280);
    expect(p.listenPort).toBe(51820);
    expect(plan(fixtureSpec("b1", { listenPort: 51999 }), fixtureFederation()).listenPort).toBe(51999);
    expect(p.syncInterval).toBe(300);
    expect(plan(fixtureSpec("b1", { syncInterval: 15 }), fixtureFederation()).syncInterval).toBe(15);
  });

  test("firewall: SSH, WireGuard, DNS and the nudge from anywhere; exporter, Prometheus and Alertmanager only over the mesh", () => {
    const rules = plan(
      fixtureSpec("b1", {
        ssh: { host: "h", port: 2222, privateKey: fixtureSpec("b1").ssh.privateKey, hostKey: fixtureSpec("b1").ssh.hostKey },
      }),
      fixtureFederation(),
    ).firewall.rules;
    const open = rules.map((r) => `${r.protocol}/${r.port}:${r.from}`);
    expect(open).toEqual([
      "tcp/2222:any",
      "udp/51820:any",
      "udp/53:any",
      "tcp/53:any",
      "udp/51899:any",
      "tcp/9100:mesh",
      "tcp/9090:mesh",
      "tcp/9093:mesh",
    ]);
  });

  test("firewall: the member's entries become rules, split by address family; strict by default", () => {
    const firewall = plan(
      fixtureSpec("b1", {
        firewall: {
          allow: [
            "tcp/443",
            "udp/51000-51010",
            { port: "tcp/993", from: ["198.51.100.0/24", "2001:db8::/32", "203.0.113.7"], description: "mail (IMAPS)" },
          ],
        },
      }),
      fixtureFederation(),
    ).firewall;
    expect(firewall.policy).toBe("strict");
    expect(firewall.allow).toEqual([
      { description: "tcp/443", protocol: "tcp", port: 443, lastPort: 443, from: "any" },
      { description: "udp/51000-51010", protocol: "udp", port: 51000, lastPort: 51010, from: "any" },
      {
        description: "mail (IMAPS)",
        protocol: "tcp",
        port: 993,
        lastPort: 993,
        from: { ipv4: ["198.51.100.0/24", "203.0.113.7"], ipv6: ["2001:db8::/32"] },
      },
    ]);
    expect(plan(fixtureSpec("b1", { firewall: { policy: "member" } }), fixtureFederation()).firewall).toMatchObject({
      enabled: true,
      policy: "member",
      allow: [],
    });
  });

  const kitPortProblem = (firewall: unknown, spec: Record<string, unknown> = {}): ConfigProblem => {
    try {
      plan(fixtureSpec("b1", { firewall, ...spec }), fixtureFederation());
    } catch (error) {
      expect(error).toBeInstanceOf(BorealConfigError);
      const problems = (error as BorealConfigError).problems;
      expect(problems).toHaveLength(1);
      return problems[0];
    }
    throw new Error("expected the plan to refuse the entry");
  };

  test.each([
    [
      "SSH's port",
      ["tcp/80", "tcp/22"],
      {},
      "boreal:firewall.allow[1]",
      /^tcp\/22 is SSH, which the kit already opens to every address — remove this entry/,
    ],
    [
      "the node's own SSH port",
      ["tcp/2222"],
      { ssh: { ...fixtureSpec("b1").ssh, port: 2222 } },
      "boreal:firewall.allow[0]",
      /^tcp\/2222 is SSH/,
    ],
    [
      "the WireGuard port of the endpoint",
      [{ port: "udp/51820", from: ["198.51.100.0/24"] }],
      {},
      "boreal:firewall.allow[0]",
      /^udp\/51820 is WireGuard, which the kit already opens/,
    ],
    ["the WireGuard port set by listenPort", ["udp/51999"], { listenPort: 51999 }, "boreal:firewall.allow[0]", /^udp\/51999 is WireGuard/],
    ["DNS", ["udp/53"], {}, "boreal:firewall.allow[0]", /^udp\/53 is DNS, which the kit already opens/],
    [
      "a range over SSH and DNS",
      ["tcp/1-1023"],
      {},
      "boreal:firewall.allow[0]",
      /^tcp\/1-1023 includes tcp\/22 \(SSH\), tcp\/53 \(DNS over TCP\), which the kit already opens to every address — leave the kit's ports out of the range: tcp\/1-21, tcp\/23-52 and tcp\/54-1023$/,
    ],
    ["a range ending on DNS", ["udp/50-53"], {}, "boreal:firewall.allow[0]", /leave the kit's ports out of the range: udp\/50-52$/],
  ])("firewall: an entry re-opening %s is refused (a from on it would restrict nothing)", (_label, allow, spec, key, expected) => {
    const problem = kitPortProblem({ allow }, spec);
    expect(problem).toMatchObject({ source: "stack config", key });
    expect(`${problem.message} — ${problem.fix}`).toMatch(expected);
  });
});

describe("descriptor", () => {
  const b1Of = (federation: Federation) => federation.nodes.find((n) => n.node === "b1")!;

  test("re-applying an unchanged node keeps serial and updatedAt, and rewrites no byte", () => {
    const federation = fixtureFederation();
    const existing = b1Of(federation);
    const same = buildDescriptor(plan(fixtureSpec("b1"), federation), keyOf(existing), existing, "2030-01-01T00:00:00.000Z");
    expect(same).toEqual(existing);
    expect(renderNodeObject(same)).toBe(readFileSync(join(FIXTURE_REGISTRY, "nodes", "b1.yaml"), "utf8"));
  });

  test("a change gets a higher serial, at least the time in seconds, and updatedAt now", () => {
    const federation = fixtureFederation();
    const existing = b1Of(federation);
    const p = plan(fixtureSpec("b1"), federation);
    const rotated = buildDescriptor(p, keyOf(federation.nodes[0]), existing, "2030-01-01T00:00:00.999Z");
    expect(rotated).toEqual({
      ...existing,
      ...keyOf(federation.nodes[0]),
      serial: Date.parse("2030-01-01T00:00:00Z") / 1000,
      updatedAt: "2030-01-01T00:00:00.999Z",
    });
    // A clock behind the last serial still moves it up.
    const behind = buildDescriptor(p, keyOf(federation.nodes[0]), existing, "2020-01-01T00:00:00Z");
    expect(behind.serial).toBe(FIXTURE_SERIAL + 1);
    // A zone dropped is a change too.
    const fewer = buildDescriptor(
      plan(fixtureSpec("b1", { zones: ["coop-b.example."] }), federation),
      keyOf(existing),
      existing,
      "2030-01-01T00:00:00Z",
    );
    expect(fewer).toMatchObject({ zones: ["coop-b.example."], serial: 1893456000 });
  });

  test("a new node's first serial is the time in seconds; its key order is the registry's", () => {
    const federation = fixtureFederation();
    const d1 = buildDescriptor(
      plan(fixtureSpec("d1"), federation),
      { publicKey: "DdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdA=", keyProof: `${"P".repeat(86)}==` },
      undefined,
      "2026-12-01T08:30:15.250Z",
    );
    expect(d1).toEqual({
      member: "coop-d",
      node: "d1",
      serial: Date.parse("2026-12-01T08:30:15Z") / 1000,
      endpoint: "198.51.100.14:51820",
      publicKey: "DdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdDdA=",
      keyProof: `${"P".repeat(86)}==`,
      mesh: { ipv4: "100.64.0.48", ipv6: "fd42:b0:ea1::30" },
      zones: ["coop-d.example."],
      exporter: "100.64.0.48:9100",
      // Its own name server and three of other members', one each (rendezvous order), since now.
      nameServer: "ns-d1.coop-d.example.",
      delegation: { nameServers: ["d1", "a1", "c1", "b1"], since: "2026-12-01T08:30:15.250Z" },
      services: ["tcp/22"],
      updatedAt: "2026-12-01T08:30:15.250Z",
    });
    expect(Object.keys(d1)).toEqual([
      "member",
      "node",
      "serial",
      "endpoint",
      "publicKey",
      "keyProof",
      "mesh",
      "zones",
      "exporter",
      "nameServer",
      "delegation",
      "services",
      "updatedAt",
    ]);
  });

  test("a tombstone is one serial above the last descriptor, and carries no address or key", () => {
    const b1 = b1Of(fixtureFederation());
    expect(buildTombstone(b1)).toEqual({ member: "coop-b", node: "b1", serial: FIXTURE_SERIAL + 1, left: true, updatedAt: b1.updatedAt });
    expect(renderNodeObject(buildTombstone(b1))).not.toMatch(/publicKey|mesh|endpoint|zones/);
  });
});

describe("monitoring: what a node watches comes from the registry", () => {
  const targetsOf = (federation: Federation) => scrapeTargets(plan(fixtureSpec("b1"), federation).monitoring);

  test("every node's exporter (its own too), every peer's mesh addresses; its member's zones at every node, every other zone at its primary", () => {
    const federation = fixtureFederation();
    const targets = targetsOf(federation);
    const nodes = ["a1", "b1", "c1"];
    expect(targets.node.map((g) => g.labels.node)).toEqual(nodes);
    expect(targets.node.find((g) => g.labels.node === "b1")!.targets).toEqual(["100.64.0.17:9100"]);
    expect(targets.icmp.map((g) => `${g.labels.node}/${g.labels.family}`)).toEqual(["a1/ipv4", "a1/ipv6", "c1/ipv4", "c1/ipv6"]);
    const asked = (zone: string) => targets.dns.filter((g) => g.labels.zone === zone).map((g) => g.labels.node);
    expect(asked("coop-b.example."), "b1's own member's zone, at every node").toEqual(nodes);
    expect(asked("coop-a.example."), "another member's zone, at its primary").toEqual(["a1"]);
    expect(asked("coop-c.example.")).toEqual(["c1"]);
    expect(asked("b-mail.example."), "every zone of b1's member").toEqual(nodes);
    expect(new Set(targets.dns.filter((g) => g.labels.zone_member === "coop-b").map((g) => g.labels.zone))).toEqual(
      new Set(["coop-b.example.", "b-mail.example."]),
    );
    // DNS is asked where resolvers ask: the endpoint's host (an IP, or a name), port 53.
    expect(new Set(targets.dns.map((g) => g.targets[0]))).toEqual(new Set(["198.51.100.11:53", "198.51.100.12:53", "wg.coop-c.net:53"]));
    expect(targets.dns.every((g) => g.labels.__param_module === `dns_soa_${g.labels.zone}`)).toBe(true);
  });

  test("every (zone, node) pair is watched by every node of the zone's member, and every node by all; each node's DNS probes grow as nodes + zones, not nodes × zones", () => {
    // Ten members of one node and one zone each, as the bench's N = 10.
    const nodes = Array.from({ length: 10 }, (_, i) => ({
      member: `m${i}`,
      node: `n${i}`,
      zones: [`m${i}.example.`],
      mesh: { ipv4: `100.64.1.${i + 1}`, ipv6: `fd42:b0:ea1::1:${i + 1}` },
      endpoint: `198.51.100.${100 + i}:51820`,
    }));
    const monitoringOf = (node: (typeof nodes)[number]) =>
      monitoringPlan(
        node,
        nodes.filter((n) => n !== node),
        {},
      );
    const pairs = new Map<string, Set<string>>();
    for (const observer of nodes) {
      const dns = scrapeTargets(monitoringOf(observer)).dns;
      expect(dns.length, `${observer.node}'s DNS probes`).toBe(10 + 9);
      for (const g of dns)
        pairs.set(`${g.labels.zone}@${g.labels.node}`, (pairs.get(`${g.labels.zone}@${g.labels.node}`) ?? new Set()).add(observer.node));
    }
    expect(pairs.size, "every zone at every node").toBe(100);
    for (const [pair, observers] of pairs) {
      const owner = `n${pair.slice(1, pair.indexOf("."))}`;
      expect(observers.has(owner), `${pair} watched by its member's node`).toBe(true);
    }
  });

  test("a node that leaves the registry leaves every target list; one that joins is in them", () => {
    const federation = fixtureFederation();
    const without = targetsOf({ ...federation, nodes: federation.nodes.filter((n) => n.node !== "c1") });
    expect(JSON.stringify(without)).not.toMatch(/"c1"|coop-c\.example/);
    expect(without.node.map((g) => g.labels.node)).toEqual(["a1", "b1"]);
  });

  test("the probes and the alerts live on the mesh and loopback, never the underlay", () => {
    const { monitoring } = plan(fixtureSpec("b1"), fixtureFederation());
    expect(monitoring.prometheus).toEqual({ address: "100.64.0.17", port: 9090 });
    expect(monitoring.alertmanager).toEqual({ address: "100.64.0.17", port: 9093 });
    expect(monitoring.blackbox).toEqual({ address: "127.0.0.1", port: 9115 });
  });
});
