// The label's observations, for real, on loopback only: TCP listeners of ours for the
// underlay scan, a knotd of ours serving a kit-signed zone for the DNS checks, and a tiny
// HTTP "exporter" for the clock. The peer's underlay and mesh are both 127.0.0.1 (its
// exporter 127.0.0.2, so that the exporter is not on the "underlay"); ports overridden.
import { createServer as createHttpServer, Server as HttpServer } from "node:http";
import { AddressInfo, createServer, Server } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Federation, NodeDescriptor } from "../../src/config/registry";
import type { AttestationResult } from "../../src/label/attestation";
import { resultProblems } from "../../src/label/attestation";
import { ObserveContext, observePeer, observePeers, parseHandshakes, SCAN_PORTS, scanList } from "../../src/label/observe";
import { liveFrom, RULES } from "../../src/label/rules";
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
    response.end(`# HELP node_time_seconds System time in seconds since epoch (1970).\n# TYPE node_time_seconds gauge\nnode_time_seconds ${(Date.now() / 1000 + skewS).toExponential(12)}\nnode_timex_sync_status 0\n`);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
  return server;
}

interface Setup {
  dnsPort: number;
  exporterAt: string;
  services?: string[];
  /** Node → mesh address of the other nodes (b1, c1); the peer a1's is 127.0.0.1. */
  meshOf?: Record<string, string>;
  zonesOf?: Record<string, string[]>;
  handshakeAgeS?: number;
  scanPorts: number[];
}

function context(s: Setup): { ctx: ObserveContext; peer: NodeDescriptor } {
  const node = (name: string, over: Partial<NodeDescriptor>): NodeDescriptor => ({ ...fixtureNode(name), ...over });
  const peer = node("a1", { endpoint: "127.0.0.1:51820", mesh: { ipv4: "127.0.0.1", ipv6: "::1" }, exporter: s.exporterAt, zones: [ZONE], services: s.services });
  const others = ["b1", "c1"].map((name) => node(name, { endpoint: "127.0.0.1:51820", mesh: { ipv4: s.meshOf?.[name] ?? "127.0.0.1", ipv6: "::1" }, exporter: s.exporterAt, zones: s.zonesOf?.[name] ?? [] }));
  const federation: Federation = { settings: base.settings, nodes: [peer, ...others] };
  const handshakes = async () => new Map(s.handshakeAgeS === undefined ? [] : [[peer.publicKey, Math.floor(Date.now() / 1000) - s.handshakeAgeS]]);
  return { peer, ctx: { federation, self: { member: "coop-b", node: "b1" }, handshakes, dnsPort: s.dnsPort, scanPorts: s.scanPorts, timeoutMs: 1000 } };
}

const resultOf = (results: AttestationResult[], rule: string) => {
  const found = results.filter((r) => r.rule === rule);
  expect(found).toHaveLength(1);
  return found[0];
};

function expectWellFormed(results: AttestationResult[]) {
  expect(results.map((r) => `${r.rule} ${r.observedFrom}`).sort()).toEqual(RULES.flatMap((r) => liveFrom(r).map((f) => `${r.id} ${f}`)).sort());
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
  expect(parseHandshakes(`${a}\t1795168800\n${b}\t0\n`)).toEqual(new Map([[a, 1795168800], [b, 0]]));
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
    expect(failed.detail).toBe(`open but not declared: tcp/${portOf(undeclared)} (${scanList(context(setup).peer, scanPorts).length} TCP ports scanned)`);

    await close(undeclared);
    const after = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "underlay-declared-only");
    expect(after.passed).toBe(true);
    expect(after.detail).toMatch(new RegExp(`^\\d+ TCP ports scanned, open only tcp/${portOf(declared)}: DNS or declared \\(UDP not scanned\\)$`));
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
    [5, false, /^clock offset \+[45]\.\d{3} s \(round trip \d+ ms\), more than 1 s from the checker's; node_timex_sync_status 0 \(not judged\)$/],
  ])("a clock %i s off: passed %s", async (skew, passed, detail) => {
    const paths: string[] = [];
    const server = await exporter("127.0.0.2", skew, paths);
    const setup = { dnsPort: await freePort(), exporterAt: `127.0.0.2:${portOf(server)}`, scanPorts: [] };
    const result = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "time-synchronised");
    expect(result).toMatchObject({ passed, observedFrom: "mesh" });
    expect(result.detail).toMatch(detail);
    // Only the time collectors are asked for: a small answer, read soon after the clock.
    expect(paths).toEqual(["/metrics?collect[]=time&collect[]=timex"]);
    await close(server);
  });

  test("no exporter at the address: failed, with the reason", async () => {
    const port = await freePort();
    const setup = { dnsPort: await freePort(), exporterAt: `127.0.0.2:${port}`, scanPorts: [] };
    const result = resultOf(await observePeer(context(setup).peer, context(setup).ctx), "time-synchronised");
    expect(result).toMatchObject({ passed: false, detail: `exporter 127.0.0.2:${port} not scraped: connection refused at port ${port}` });
  });
});

describe.runIf(hasKnot)("the DNS checks against a knotd on loopback serving a kit-signed zone", () => {
  let knotd: Knotd;
  let clock: HttpServer;
  const served = renderedZone(fixtureSpec("a1"), ZONE);

  beforeAll(async () => {
    [knotd, clock] = await Promise.all([startKnotd([served.zone], served.policy), exporter("127.0.0.2", 0)]);
  }, 15_000);
  afterAll(async () => {
    await Promise.all([knotd?.stop(), clock && close(clock)]);
  });

  const setup = (over: Partial<Setup> = {}): Setup => ({ dnsPort: knotd.port, exporterAt: `127.0.0.2:${portOf(clock)}`, scanPorts: [knotd.port], handshakeAgeS: 10, ...over });

  test("healthy: every rule passes; the AXFR Knot refuses without an ACL", async () => {
    const { peer, ctx } = context(setup());
    const results = await observePeer(peer, ctx);
    expectWellFormed(results);
    expect(resultOf(results, "dnssec-valid")).toMatchObject({ passed: true, observedFrom: "underlay" });
    expect(resultOf(results, "dnssec-valid").detail).toMatch(/^coop-a\.example\.: SOA, NS and DNSKEY signatures validate, valid until \d{4}-\d\d-\d\dT\d\d:\d\dZ$/);
    // Knot (3.2) answers an AXFR that no ACL allows with NOTAUTH.
    expect(resultOf(results, "mesh-only-internals")).toMatchObject({ passed: true, detail: expect.stringMatching(/^tcp\/9090, tcp\/9093, tcp\/9100, tcp\/\d+ do not connect; AXFR of 1 zone\(s\) not transferred \(NOTAUTH\)$/) });
    expect(resultOf(results, "underlay-declared-only")).toMatchObject({ passed: false, detail: expect.stringContaining(`open but not declared: tcp/${knotd.port}`) });
    expect(resultOf(results, "zones-replicated")).toMatchObject({ passed: true, detail: "authoritative: coop-a.example. 3 node(s) (a1, b1, c1), 2 of other members" });
    expect(resultOf(results, "serial-agrees")).toMatchObject({ passed: true, detail: "serves all 1 member zone(s), serials as on their primaries" });
    expect(resultOf(results, "descriptor-current")).toMatchObject({ passed: true, detail: expect.stringMatching(/^answers on mesh 127\.0\.0\.1 \(DNS\); handshake with key \S+… 1\d s ago$/) });
    expect(resultOf(results, "time-synchronised").passed).toBe(true);
  });

  test("another member's zone the peer does not serve, a replica gone, an old handshake: the mesh rules fail, named", async () => {
    const { peer, ctx } = context(setup({ zonesOf: { b1: ["coop-b.example."] }, meshOf: { b1: "127.0.0.3" }, handshakeAgeS: 400 }));
    const results = await observePeer(peer, ctx);
    expectWellFormed(results);
    expect(resultOf(results, "serial-agrees")).toMatchObject({ passed: false, detail: "does not serve coop-b.example. (REFUSED)" });
    expect(resultOf(results, "zones-replicated")).toMatchObject({ passed: false, detail: "coop-a.example. 2 node(s) (a1, c1), 1 of other members: need 3, 2 of other members" });
    expect(resultOf(results, "descriptor-current")).toMatchObject({ passed: false, detail: expect.stringMatching(/; latest handshake with key \S+… 4\d\d s ago \(over 180 s\)$/) });
  });

  test("no handshake ever: descriptor-current fails; observePeers skips the checker's own member", async () => {
    const { ctx } = context(setup({ handshakeAgeS: undefined }));
    const all = await observePeers(ctx);
    expect([...all.keys()]).toEqual(["a1", "c1"]);
    expect(resultOf(all.get("a1")!, "descriptor-current")).toMatchObject({ passed: false, detail: expect.stringMatching(/; no WireGuard handshake ever with key \S+…$/) });
    for (const results of all.values()) expectWellFormed(results);
  });

  test("a signature checked at a time past its expiry: dnssec-valid fails, naming the RRset", async () => {
    const { peer, ctx } = context(setup());
    const results = await observePeer(peer, { ...ctx, now: () => new Date(Date.now() + 400 * 86400_000) });
    expect(resultOf(results, "dnssec-valid")).toMatchObject({ passed: false, detail: expect.stringMatching(/^coop-a\.example\. DNSKEY: RRSIG by key \d+ \(algorithm 13\) expired at /) });
  });
});
