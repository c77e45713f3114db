// The label's observations, for real, on loopback only: TCP listeners of ours for the
// underlay scan, a knotd of ours serving a kit-signed zone for the DNS checks, and a tiny
// HTTP "exporter" for the clock. The peer's underlay is 127.0.0.1; its mesh 127.0.0.1 too,
// or 127.0.0.2 where its exporter must not be on the "underlay" (the exporter is only ever
// scraped at the mesh address); ports overridden. Loopback is allowed by the context's
// test-only allowLoopback: without it, the checks refuse to connect there at all.
import { createSocket } from "node:dgram";
import { createServer as createHttpServer, Server as HttpServer, ServerResponse } from "node:http";
import { AddressInfo, connect, createServer, Server } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Federation, NodeDescriptor } from "../../src/core/registry/format";
import type { AttestationResult } from "../../src/core/label/attestation";
import { resultProblems } from "../../src/core/label/attestation";
import { ObserveContext, observePeer, observePeers, parseHandshakes, SCAN_PORTS, scanList } from "../../src/agent/observe";
import { liveFrom, RULES } from "../../src/core/label/rules";
import { fixtureFederation, fixtureSpec } from "../helpers/fixtures";
import { freePort, hasKnot, Knotd, renderedZone, startKnotd } from "../helpers/knotd";

const ZONE = "coop-a.example.";
const base = fixtureFederation();
const fixtureNode = (node: string) => base.nodes.find((n) => n.node === node)!;

async function listen(host: string, port = 0): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, resolve));
  return server;
}
const portOf = (server: Server | HttpServer) => (server.address() as AddressInfo).port;
const close = (server: Server | HttpServer) => new Promise<void>((resolve) => server.close(() => resolve()));

/** An exporter answering only node_time_seconds (its clock `skewS` off ours) and node_timex_sync_status 0. */
async function exporter(host: string, skewS: number, paths: string[] = []): Promise<HttpServer> {
  const server = createHttpServer((request, response) => {
    paths.push(request.url ?? "");
    response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    response.end(
      `# HELP node_time_seconds System time in seconds since epoch (1970).\n# TYPE node_time_seconds gauge\nnode_time_seconds ${(Date.now() / 1000 + skewS).toExponential(12)}\nnode_timex_sync_status 0\n`,
    );
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
  return server;
}

interface DnsRelay {
  close: () => Promise<void>;
}

/** DNS over UDP and TCP at host:to.port, relayed to `to`: a second address for one knotd (the peer's mesh address). */
async function relayDns(host: string, to: { host: string; port: number }): Promise<DnsRelay> {
  const udp = createSocket("udp4");
  udp.on("message", (message, from) => {
    const upstream = createSocket("udp4");
    let open = true;
    const done = () => {
      if (open) upstream.close();
      open = false;
    };
    upstream.once("message", (answer) => {
      udp.send(answer, from.port, from.address);
      done();
    });
    upstream.send(message, to.port, to.host);
    setTimeout(done, 5000).unref();
  });
  await new Promise<void>((resolve, reject) => udp.once("error", reject).bind(to.port, host, () => resolve()));
  const tcp = createServer((client) => {
    const upstream = connect({ host: to.host, port: to.port });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.pipe(upstream).pipe(client);
    for (const socket of [client, upstream]) socket.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve, reject) => tcp.once("error", reject).listen(to.port, host, resolve));
  return { close: async () => (udp.close(), await close(tcp)) };
}

interface Setup {
  dnsPort: number;
  exporterAt: string;
  /** The port the exporter must be at (the kit's 9100 on a node); default exporterAt's. */
  exporterPort?: number;
  /** The peer a1's mesh IPv4 address (default 127.0.0.1). */
  peerMesh?: string;
  services?: string[];
  /** Node → mesh address of the other nodes (b1, c1); the peer a1's is 127.0.0.1. */
  meshOf?: Record<string, string>;
  zonesOf?: Record<string, string[]>;
  handshakeAgeS?: number;
  scanPorts: number[];
}

function context(s: Setup): { ctx: ObserveContext; peer: NodeDescriptor } {
  const node = (name: string, over: Partial<NodeDescriptor>): NodeDescriptor => ({ ...fixtureNode(name), ...over });
  const peer = node("a1", {
    endpoint: "127.0.0.1:51820",
    mesh: { ipv4: s.peerMesh ?? "127.0.0.1", ipv6: "::1" },
    exporter: s.exporterAt,
    zones: [ZONE],
    services: s.services,
  });
  const others = ["b1", "c1"].map((name) =>
    node(name, {
      endpoint: "127.0.0.1:51820",
      mesh: { ipv4: s.meshOf?.[name] ?? "127.0.0.1", ipv6: "::1" },
      exporter: s.exporterAt,
      zones: s.zonesOf?.[name] ?? [],
    }),
  );
  const federation: Federation = { settings: base.settings, nodes: [peer, ...others] };
  const handshakes = async () =>
    new Map(s.handshakeAgeS === undefined ? [] : [[peer.publicKey, Math.floor(Date.now() / 1000) - s.handshakeAgeS]]);
  const exporterPort = s.exporterPort ?? Number(s.exporterAt.split(":").pop());
  return {
    peer,
    ctx: {
      federation,
      self: { member: "coop-b", node: "b1" },
      handshakes,
      dnsPort: s.dnsPort,
      scanPorts: s.scanPorts,
      timeoutMs: 1000,
      exporterPort,
      allowLoopback: true,
    },
  };
}

const resultOf = (results: AttestationResult[], rule: string) => {
  const found = results.filter((r) => r.rule === rule);
  expect(found).toHaveLength(1);
  return found[0];
};

function expectWellFormed(results: AttestationResult[]) {
  expect(results.map((r) => `${r.rule} ${r.observedFrom}`).sort()).toEqual(
    RULES.flatMap((r) => liveFrom(r).map((f) => `${r.id} ${f}`)).sort(),
  );
  expect(resultProblems(results)).toEqual([]);
  for (const r of results) expect(r.detail.length).toBeLessThan(200);
}

test("the scan list: 1-1024, the common higher ports, the mesh-only ports and the declared single TCP ports", () => {
  expect(SCAN_PORTS.slice(0, 1024)).toEqual(Array.from({ length: 1024 }, (_, i) => i + 1));
  expect(SCAN_PORTS).toEqual(expect.arrayContaining([3306, 5432, 6379, 8080, 9100, 27017]));
  const peer = { ...fixtureNode("a1"), services: ["tcp/22", "tcp/4443", "tcp/6000-6010", "udp/5353"], exporter: "100.64.0.1:9200" };
  const list = scanList(peer, [80]);
  expect(list).toEqual([22, 80, 4443, 9090, 9093, 9100, 9200]);
});

test("wg show latest-handshakes output: key → seconds, 0 for never", () => {
  const a = fixtureNode("a1").publicKey;
  const b = fixtureNode("b1").publicKey;
  expect(parseHandshakes(`${a}\t1795168800\n${b}\t0\n`)).toEqual(
    new Map([
      [a, 1795168800],
      [b, 0],
    ]),
  );
});

describe("underlay-declared-only: a TCP connect scan of the underlay address", () => {
  let dnsPort: number;
  beforeAll(async () => {
    dnsPort = await freePort();
  });

  test("a listener on an undeclared port fails the rule, naming the port; closed, the rule passes; a declared one may stay open", async () => {
    const undeclared = await listen("127.0.0.1");
    const declared = await listen("127.0.0.1");
    const quiet = await freePort();
    const scanPorts = [portOf(undeclared), portOf(declared), quiet];
    const setup = { dnsPort, exporterAt: `127.0.0.2:${quiet}`, services: ["tcp/22", `tcp/${portOf(declared)}`], scanPorts };

    const before = await observePeer(context(setup).peer, context(setup).ctx);
    expectWellFormed(before);
    const failed = resultOf(before, "underlay-declared-only");
    expect(failed).toMatchObject({ passed: false, observedFrom: "underlay" });
    expect(failed.detail).toBe(
      `open but not declared: tcp/${portOf(undeclared)} (${scanList(context(setup).peer, scanPorts).length} TCP ports scanned)`,
    );

    await close(undeclared);
    const after = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "underlay-declared-only");
    expect(after.passed).toBe(true);
    expect(after.detail).toMatch(
      new RegExp(`^\\d+ TCP ports scanned, open only tcp/${portOf(declared)}: DNS or declared \\(UDP not scanned\\)$`),
    );
    await close(declared);
  });

  test("mesh-only-internals: an exporter that also listens on the underlay address fails, named with its port", async () => {
    const onUnderlay = await exporter("127.0.0.1", 0);
    const setup = { dnsPort, exporterAt: `127.0.0.1:${portOf(onUnderlay)}`, scanPorts: [] };
    const result = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "mesh-only-internals");
    expect(result.passed).toBe(false);
    expect(result.detail).toBe(`connects over the underlay: node exporter tcp/${portOf(onUnderlay)}`);
    await close(onUnderlay);
  });
});

describe("time-synchronised: the exporter's clock against ours", () => {
  test.each([
    [0, true, /^clock offset [+-]0\.\d{3} s \(round trip \d+ ms\); node_timex_sync_status 0 \(not judged\)$/],
    [
      5,
      false,
      /^clock offset \+[45]\.\d{3} s \(round trip \d+ ms\), more than 1 s from the checker's; node_timex_sync_status 0 \(not judged\)$/,
    ],
  ])("a clock %i s off: passed %s", async (skew, passed, detail) => {
    const paths: string[] = [];
    const server = await exporter("127.0.0.2", skew, paths);
    const setup = { dnsPort: await freePort(), exporterAt: `127.0.0.2:${portOf(server)}`, peerMesh: "127.0.0.2", scanPorts: [] };
    const result = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "time-synchronised");
    expect(result).toMatchObject({ passed, observedFrom: "mesh" });
    expect(result.detail).toMatch(detail);
    // Only the time collectors are asked for: a small answer, read soon after the clock.
    expect(paths).toEqual(["/metrics?collect[]=time&collect[]=timex"]);
    await close(server);
  });

  test("the clock is scraped alone, before the round's port scan and DNS questions (which keep a slow checker busy)", async () => {
    let scanned = 0;
    const scan = createServer((socket) => {
      scanned++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => scan.once("error", reject).listen(0, "127.0.0.1", resolve));
    const scannedAtScrape: number[] = [];
    const server = createHttpServer((_request, response) => {
      scannedAtScrape.push(scanned);
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      response.end(`node_time_seconds ${(Date.now() / 1000).toExponential(12)}\n`);
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.2", resolve));
    const setup = {
      dnsPort: await freePort(),
      exporterAt: `127.0.0.2:${portOf(server)}`,
      peerMesh: "127.0.0.2",
      scanPorts: [portOf(scan)],
    };
    const { ctx } = context(setup);
    const results = (await observePeers(ctx)).get("a1")!;
    expect(resultOf(results, "time-synchronised").passed).toBe(true);
    expect(scannedAtScrape, "no port of the scan was connected to when the exporter was asked").toEqual([0]);
    expect(scanned, "the scan ran after it").toBeGreaterThan(0);
    await close(server);
    await close(scan);
  });

  test("no exporter at the address: failed, with the reason", async () => {
    const port = await freePort();
    const setup = { dnsPort: await freePort(), exporterAt: `127.0.0.2:${port}`, peerMesh: "127.0.0.2", scanPorts: [] };
    const result = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "time-synchronised");
    expect(result).toMatchObject({ passed: false, detail: `exporter 127.0.0.2:${port} not scraped: connection refused at port ${port}` });
  });
  test.each([
    [1, true, /^clock offset [+-]0\.\d{3} s/, "1 probe(s) timed out among the round's others and were asked again alone: 1 answered (in "],
    [2, false, /^exporter 127\.0\.0\.2:\d+ not scraped: no answer within 1 s, twice \(once alone\)$/, ": 0 answered, 1 did not"],
  ])(
    "an exporter that leaves %i scrape(s) unanswered: the one timed out is asked again alone, and judged on that (passed %s)",
    async (unanswered, passed, detail, logged) => {
      const held: ServerResponse[] = [];
      const server = createHttpServer((_request, response) => {
        if (held.length < unanswered) return void held.push(response);
        response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        response.end(`node_time_seconds ${(Date.now() / 1000).toExponential(12)}\n`);
      });
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.2", resolve));
      const setup = { dnsPort: await freePort(), exporterAt: `127.0.0.2:${portOf(server)}`, peerMesh: "127.0.0.2", scanPorts: [] };
      const lines: string[] = [];
      const { ctx } = context(setup);
      const results = (await observePeers({ ...ctx, log: (line) => lines.push(line) })).get("a1")!;
      const result = resultOf(results, "time-synchronised");
      expect(result.passed).toBe(passed);
      expect(result.detail).toMatch(detail);
      expect(held, "asked twice").toHaveLength(unanswered);
      expect(lines.join("\n")).toContain(logged);
      for (const response of held) response.destroy();
      server.closeAllConnections();
      await close(server);
    },
  );
});

describe("only addresses of the verified plan are connected to: every other one is refused, logged and named", () => {
  /** A context whose log lines are kept. */
  function logging(s: Setup, over: Partial<ObserveContext> = {}) {
    const { peer, ctx } = context(s);
    const lines: string[] = [];
    return { peer, ctx: { ...ctx, log: (line: string) => lines.push(line), ...over }, lines };
  }
  /** A TCP listener counting the connections it gets. */
  async function counting(host: string): Promise<{ server: Server; connections: () => number }> {
    let count = 0;
    const server = createServer((socket) => {
      count++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
    return { server, connections: () => count };
  }

  test("an exporter that is not at the peer's own mesh address is never scraped: time-synchronised fails, naming why", async () => {
    const paths: string[] = [];
    const elsewhere = await exporter("127.0.0.2", 0, paths);
    const { peer, ctx, lines } = logging({ dnsPort: await freePort(), exporterAt: `127.0.0.2:${portOf(elsewhere)}`, scanPorts: [] });
    const result = resultOf(await observePeer(peer, ctx), "time-synchronised");
    expect(result.passed).toBe(false);
    expect(result.detail).toMatch(
      new RegExp(
        `^exporter 127\\.0\\.0\\.2:${portOf(elsewhere)} not scraped: refused: exporter 127\\.0\\.0\\.2:${portOf(elsewhere)} is not node a1's own mesh address \\(127\\.0\\.0\\.1 or \\[::1\\]\\)`,
      ),
    );
    expect(paths).toEqual([]);
    expect(lines).toEqual([
      expect.stringMatching(
        /^not connecting to node a1 \(exporter\): exporter 127\.0\.0\.2:\d+ is not node a1's own mesh address .*; fix: set exporter to "127\.0\.0\.1:\d+"/,
      ),
    ]);
    await close(elsewhere);
  });

  test("the exporter at the mesh address but another port than the kit's: not scraped", async () => {
    const paths: string[] = [];
    const server = await exporter("127.0.0.2", 0, paths);
    const { peer, ctx } = logging({
      dnsPort: await freePort(),
      exporterAt: `127.0.0.2:${portOf(server)}`,
      exporterPort: 9100,
      peerMesh: "127.0.0.2",
      scanPorts: [],
    });
    const result = resultOf(await observePeer(peer, ctx), "time-synchronised");
    expect(result).toMatchObject({
      passed: false,
      detail: expect.stringContaining(`not scraped: refused: exporter 127.0.0.2:${portOf(server)} is not at the kit's exporter port 9100`),
    });
    expect(paths).toEqual([]);
    await close(server);
  });

  test("a loopback endpoint without the test's allowance: nothing is scanned or asked over the underlay", async () => {
    const listener = await counting("127.0.0.1");
    const { peer, ctx, lines } = logging(
      { dnsPort: await freePort(), exporterAt: "127.0.0.2:9", scanPorts: [portOf(listener.server)] },
      { allowLoopback: false },
    );
    const results = await observePeer(peer, ctx);
    expectWellFormed(results);
    expect(listener.connections()).toBe(0);
    const refused =
      "underlay not probed: refused: endpoint 127.0.0.1:51820 is in 127.0.0.0/8 (loopback): every peer would send to itself, not to this node";
    expect(resultOf(results, "underlay-declared-only")).toMatchObject({ passed: false, detail: refused });
    expect(resultOf(results, "mesh-only-internals")).toMatchObject({ passed: false, detail: refused });
    expect(lines).toContain(
      `not connecting to node a1 (underlay): ${refused.slice("underlay not probed: refused: ".length)}; fix: set endpoint to an address or name the node is reachable at from the internet, e.g. "203.0.113.10:51820" or "wg.coop-a.net:51820"`,
    );
    // The mesh addresses (127.0.0.1, outside the federation's mesh) are not asked either, each node logged once.
    expect(
      lines.filter((l) => l.startsWith("not connecting to node a1 (mesh): node a1's mesh.ipv4 127.0.0.1 is outside 100.64.0.0/24")),
    ).toHaveLength(1);
    await close(listener.server);
  });

  test("a host name is resolved once, and every address it resolves to must pass before anything connects", async () => {
    const listener = await counting("127.0.0.1");
    const resolved: string[] = [];
    const { peer, ctx, lines } = logging(
      { dnsPort: await freePort(), exporterAt: "127.0.0.2:9", scanPorts: [portOf(listener.server)] },
      {
        allowLoopback: false,
        resolve: async (host) => {
          resolved.push(host);
          return ["198.51.100.13", "127.0.0.1"];
        },
      },
    );
    const named = { ...peer, endpoint: "wg.coop-c.net:51820" };
    const federation = { ...ctx.federation, settings: { ...ctx.federation.settings, underlay: { allow: ["documentation" as const] } } };
    const results = await observePeer(named, { ...ctx, federation });
    expect(resolved).toEqual(["wg.coop-c.net"]);
    expect(listener.connections()).toBe(0);
    expect(resultOf(results, "underlay-declared-only").detail).toBe(
      "underlay not probed: refused: endpoint wg.coop-c.net:51820 resolves to 127.0.0.1, which is in 127.0.0.0/8 (loopback): every peer would send to itself, not to this node",
    );
    expect(lines).toContain(
      'not connecting to node a1 (underlay): endpoint wg.coop-c.net:51820 resolves to 127.0.0.1, which is in 127.0.0.0/8 (loopback): every peer would send to itself, not to this node; fix: make wg.coop-c.net resolve only to the node\'s public addresses, or set endpoint to an address or name the node is reachable at from the internet, e.g. "203.0.113.10:51820" or "wg.coop-a.net:51820"',
    );
    await close(listener.server);
  });

  test("a special-use name is refused before it is even resolved", async () => {
    const resolved: string[] = [];
    const { peer, ctx } = logging(
      { dnsPort: await freePort(), exporterAt: "127.0.0.2:9", scanPorts: [] },
      {
        resolve: async (host) => {
          resolved.push(host);
          return ["127.0.0.1"];
        },
      },
    );
    const results = await observePeer({ ...peer, endpoint: "db.localhost:51820" }, ctx);
    expect(resolved).toEqual([]);
    expect(resultOf(results, "underlay-declared-only").detail).toBe(
      "underlay not probed: refused: endpoint db.localhost:51820 names the sender's own machine (RFC 6761): peers cannot reach this node by it",
    );
  });

  test("a node whose mesh address is outside the mesh is not asked over the mesh, even with loopback allowed", async () => {
    const { peer, ctx, lines } = logging({
      dnsPort: await freePort(),
      exporterAt: "127.0.0.2:9",
      meshOf: { b1: "169.254.169.254" },
      scanPorts: [],
    });
    await observePeer(peer, ctx);
    expect(lines).toContain(
      "not connecting to node b1 (mesh): node b1's mesh.ipv4 169.254.169.254 is outside 100.64.0.0/24; fix: give node b1's mesh.ipv4 a host address inside 100.64.0.0/24, neither its first nor (IPv4) its last address",
    );
  });

  test("what is logged of a refusal is escaped", async () => {
    const { peer, ctx, lines } = logging({ dnsPort: await freePort(), exporterAt: "127.0.0.2:9", scanPorts: [] }, { allowLoopback: false });
    await observePeer({ ...peer, node: "a1\u001b[2J\nforged", endpoint: "127.0.0.1:1\n" }, ctx);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(lines.some((l) => l.startsWith("not connecting to node a1\\x1b[2J\\nforged (underlay): endpoint 127.0.0.1:1\\n is not"))).toBe(
      true,
    );
  });
});

describe.runIf(hasKnot)("the DNS checks against a knotd on loopback serving a kit-signed zone", () => {
  let knotd: Knotd;
  let clock: HttpServer;
  const served = renderedZone(fixtureSpec("a1"), ZONE);

  let meshDns: DnsRelay;

  beforeAll(async () => {
    [knotd, clock] = await Promise.all([startKnotd([served.zone], served.policy), exporter("127.0.0.2", 0)]);
    // The peer's mesh address is 127.0.0.2, where its exporter is: its DNS there is knotd's.
    meshDns = await relayDns("127.0.0.2", { host: "127.0.0.1", port: knotd.port });
  }, 15_000);
  afterAll(async () => {
    await Promise.all([knotd?.stop(), clock && close(clock), meshDns?.close()]);
  });

  const setup = (over: Partial<Setup> = {}): Setup => ({
    dnsPort: knotd.port,
    exporterAt: `127.0.0.2:${portOf(clock)}`,
    peerMesh: "127.0.0.2",
    scanPorts: [knotd.port],
    handshakeAgeS: 10,
    ...over,
  });

  test("healthy: every rule passes; the AXFR Knot refuses without an ACL", async () => {
    const { peer, ctx } = context(setup());
    const results = await observePeer(peer, ctx);
    expectWellFormed(results);
    expect(resultOf(results, "dnssec-valid")).toMatchObject({ passed: true, observedFrom: "underlay" });
    expect(resultOf(results, "dnssec-valid").detail).toMatch(
      /^coop-a\.example\.: SOA, NS and DNSKEY signatures validate, valid until \d{4}-\d\d-\d\dT\d\d:\d\dZ$/,
    );
    // Knot (3.2) answers an AXFR that no ACL allows with NOTAUTH.
    expect(resultOf(results, "mesh-only-internals")).toMatchObject({
      passed: true,
      detail: expect.stringMatching(
        /^tcp\/9090, tcp\/9093, tcp\/9100, tcp\/\d+ do not connect; AXFR of 1 zone\(s\) not transferred \(NOTAUTH\)$/,
      ),
    });
    expect(resultOf(results, "underlay-declared-only")).toMatchObject({
      passed: false,
      detail: expect.stringContaining(`open but not declared: tcp/${knotd.port}`),
    });
    expect(resultOf(results, "zones-replicated")).toMatchObject({
      passed: true,
      detail: "authoritative: coop-a.example. 3 node(s) (a1, b1, c1), 2 of other members",
    });
    expect(resultOf(results, "serial-agrees")).toMatchObject({
      passed: true,
      detail: "serves all 1 member zone(s), serials as on their primaries",
    });
    expect(resultOf(results, "descriptor-current")).toMatchObject({
      passed: true,
      detail: expect.stringMatching(/^answers on mesh 127\.0\.0\.2 \(DNS, exporter\); handshake with key \S+… 1\d s ago$/),
    });
    expect(resultOf(results, "time-synchronised").passed).toBe(true);
  });

  test("another member's zone the peer does not serve, a replica gone, an old handshake: the mesh rules fail, named", async () => {
    const { peer, ctx } = context(setup({ zonesOf: { b1: ["coop-b.example."] }, meshOf: { b1: "127.0.0.3" }, handshakeAgeS: 400 }));
    const results = await observePeer(peer, ctx);
    expectWellFormed(results);
    expect(resultOf(results, "serial-agrees")).toMatchObject({ passed: false, detail: "does not serve coop-b.example. (REFUSED)" });
    expect(resultOf(results, "zones-replicated")).toMatchObject({
      passed: false,
      detail: "coop-a.example. 2 node(s) (a1, c1), 1 of other members: need 3, 2 of other members",
    });
    expect(resultOf(results, "descriptor-current")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/; latest handshake with key \S+… 4\d\d s ago \(over 180 s\)$/),
    });
  });

  test("no handshake ever: descriptor-current fails; observePeers skips the checker's own member", async () => {
    const { ctx } = context(setup({ handshakeAgeS: undefined }));
    const all = await observePeers(ctx);
    expect([...all.keys()]).toEqual(["a1", "c1"]);
    expect(resultOf(all.get("a1")!, "descriptor-current")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/; no WireGuard handshake ever with key \S+…$/),
    });
    for (const results of all.values()) expectWellFormed(results);
  });

  test("a signature checked at a time past its expiry: dnssec-valid fails, naming the RRset", async () => {
    const { peer, ctx } = context(setup());
    const results = await observePeer(peer, { ...ctx, now: () => new Date(Date.now() + 400 * 86400_000) });
    expect(resultOf(results, "dnssec-valid")).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/^coop-a\.example\. DNSKEY: RRSIG by key \d+ \(algorithm 13\) expired at /),
    });
  });
});
