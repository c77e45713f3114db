// Dual stack: a node may have an IPv4 and an IPv6 endpoint. Which a peer is sent to, what a
// node with one family does beside one with the other, the glue, and the stack config's words.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { canonicalEndpoint, endpointListProblem, reachableEndpoints } from "../../src/core/mesh/endpoints";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { WIREGUARD_CONF } from "../../src/core/node/layout";
import { endpointGlue } from "../../src/core/dns/delegation";
import { parseStackConfig } from "../../src/core/spec/stack";
import { BorealConfigError } from "../../src/core/values/problems";
import {
  FIXTURE_REGISTRY,
  fixtureFederation,
  fixtureRegistryCopy,
  fixtureSigner,
  fixtureSpec,
  fixtureTrustAnchor,
  rawStackConfig,
  templates,
} from "../helpers/fixtures";
import { Federation, NodeDescriptor, parseNodeObject } from "../../src/core/registry/format";
import { FORMATS, formatsOf } from "../../src/core/registry/formats";
import { formatRejection, verifyRegistry } from "../../src/core/registry/verify";
import { readRegistrySource, renderNodeObject } from "../../src/io/registry/read";
import { signText } from "../../src/io/registry/sign";
import { REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";

const V4 = "198.51.100.12:51820";
const V6 = "[2001:db8:b0ea::12]:51820";

describe("which of a peer's endpoints a node sends to", () => {
  test("both dual-stack: IPv6 first, IPv4 as the fallback", () => {
    expect(reachableEndpoints(["198.51.100.11:51820", "[2001:db8:b0ea::11]:51820"], [V4, V6])).toEqual([V6, V4]);
  });
  test("an IPv4-only node uses a dual-stack peer's IPv4, an IPv6-only node its IPv6", () => {
    expect(reachableEndpoints(["198.51.100.11:51820"], [V4, V6])).toEqual([V4]);
    expect(reachableEndpoints(["[2001:db8:b0ea::11]:51820"], [V4, V6])).toEqual([V6]);
  });
  test("an IPv4-only and an IPv6-only node share no family: no endpoint either way", () => {
    expect(reachableEndpoints(["198.51.100.11:51820"], [V6])).toEqual([]);
    expect(reachableEndpoints([V6], ["198.51.100.11:51820"])).toEqual([]);
  });
  test("a host name is usable from either family, after the literals", () => {
    expect(reachableEndpoints(["198.51.100.11:51820"], ["wg.coop-c.net:51820"])).toEqual(["wg.coop-c.net:51820"]);
    expect(reachableEndpoints(["wg.coop-a.net:51820"], [V4, V6])).toEqual([V6, V4]);
  });
  test("endpoints are written as wg show prints them, so the node finds the one in use in its list", () => {
    expect(canonicalEndpoint("[2001:DB8:B0EA:0:0:0:0:12]:51820")).toBe(V6);
    expect(canonicalEndpoint(V4)).toBe(V4);
    expect(canonicalEndpoint("wg.coop-c.net:51820")).toBe("wg.coop-c.net:51820");
  });
});

describe("boreal:endpoint as one endpoint or a dual-stack pair", () => {
  test("a string stays one endpoint; a list of an IPv4 and an IPv6 one is read in order", () => {
    expect(fixtureSpec("b1").endpoint).toEqual([V4]);
    expect(fixtureSpec("b1", { endpoint: [V4, V6] }).endpoint).toEqual([V4, V6]);
  });
  const refusals: [string, unknown, RegExp][] = [
    ["two IPv4 endpoints", [V4, "198.51.100.13:51820"], /two IPv4 endpoints.*one IPv4 and one IPv6/],
    ["three endpoints", [V4, V6, "198.51.100.13:51820"], /lists 3 endpoints/],
    ["a host name beside an address", ["wg.coop-b.net:51820", V6], /host name beside another endpoint.*A and AAAA/],
    ["an empty list", [], /lists no endpoint/],
    ["a number", 51820, /must be "host:port" or a list/],
    ["a bad endpoint in the list", [V4, "2001:db8::1:51820"], /\[addr\]:port/],
  ];
  test.each(refusals)("refuses %s, naming boreal:endpoint and the fix", (_, value, words) => {
    let caught: unknown;
    try {
      parseStackConfig(rawStackConfig("b1", { endpoint: value }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BorealConfigError);
    const problem = (caught as BorealConfigError).problems.find((p) => p.key.startsWith("boreal:endpoint"));
    expect(problem, JSON.stringify((caught as BorealConfigError).problems)).toBeDefined();
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(words);
  });
});

/** The fixture federation with b1 published dual-stack. */
function federationWithDualB1(): Federation {
  const federation = fixtureFederation();
  return { ...federation, nodes: federation.nodes.map((n) => (n.node === "b1" ? { ...n, endpoint: V4, endpoints: [V4, V6] } : n)) };
}

describe("a dual-stack peer in the plan and in wg0.conf", () => {
  const wg0 = (spec: ReturnType<typeof fixtureSpec>, federation = federationWithDualB1()) =>
    renderNode(plan(spec, federation), templates).find((f) => f.path === WIREGUARD_CONF)!.content;

  test("a dual-stack node sends to it on IPv6 and keeps IPv4 as its fallback line", () => {
    const a1 = fixtureSpec("a1", { endpoint: ["198.51.100.11:51820", "[2001:db8:b0ea::11]:51820"] });
    const peer = plan(a1, federationWithDualB1()).peers.find((p) => p.node === "b1")!;
    expect(peer.endpoint).toBe(V6);
    expect(peer.fallbackEndpoints).toEqual([V4]);
    expect(wg0(a1)).toContain(`Endpoint = ${V6}\n# boreal-fallback: ${V4}\n`);
  });
  test("an IPv4-only node sends to its IPv4, with no fallback", () => {
    const peer = plan(fixtureSpec("a1"), federationWithDualB1()).peers.find((p) => p.node === "b1")!;
    expect(peer).toMatchObject({ endpoint: V4, fallbackEndpoints: [] });
    expect(wg0(fixtureSpec("a1"))).not.toContain("boreal-fallback");
  });
  test("an IPv6-only node has no endpoint for an IPv4-only peer, and its wg0.conf says why", () => {
    const a1 = fixtureSpec("a1", { endpoint: "[2001:db8:b0ea::11]:51820" });
    const b1 = plan(a1, fixtureFederation()).peers.find((p) => p.node === "b1")!;
    expect(b1.endpoint).toBeUndefined();
    expect(wg0(a1, fixtureFederation())).toMatch(/PublicKey = \S+\n# No Endpoint: this node and \S+ share no address family/);
  });
});

describe("a dual-stack name server's glue", () => {
  test("A and AAAA, from the endpoints that are addresses", () => {
    expect(endpointGlue({ endpoint: V4, endpoints: [V6, V4] })).toEqual([
      { type: "A", address: "198.51.100.12" },
      { type: "AAAA", address: "2001:db8:b0ea::12" },
    ]);
    expect(endpointGlue({ endpoint: "wg.coop-c.net:51820" })).toEqual([]);
  });
  test("the member's zone names its own dual-stack node with both", () => {
    const b1 = fixtureSpec("b1", { endpoint: [V4, V6] });
    const zone = plan(b1, fixtureFederation()).dns.primaryZones[0];
    const own = zone.nameServers.find((ns) => ns.node === "b1")!;
    expect(own.glue.map((g) => g.type)).toEqual(["A", "AAAA"]);
  });
});

test("endpointListProblem accepts one endpoint of any kind", () => {
  expect(endpointListProblem(["wg.coop-c.net:51820"])).toBeUndefined();
  expect(endpointListProblem([V6])).toBeUndefined();
});

describe("a dual-stack node in the registry: node format 2", () => {
  const work = mkdtempSync(join(tmpdir(), "boreal-dual-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  let dirs = 0;
  /** The fixture registry with b1's descriptor changed by `change`, signed again by coop-b. */
  function withB1(change: (b1: NodeDescriptor) => object) {
    const parsed = parseNodeObject({ path: "nodes/b1.yaml", content: readFileSync(join(FIXTURE_REGISTRY, "nodes/b1.yaml"), "utf8") });
    if (!parsed.ok || "left" in parsed.value) throw new Error("fixture b1 is no descriptor");
    const text = renderNodeObject(change(parsed.value) as NodeDescriptor);
    const dir = fixtureRegistryCopy(join(work, `registry-${++dirs}`), {
      "nodes/b1.yaml": text,
      "nodes/b1.yaml.sig": signText(text, fixtureSigner("coop-b"), REGISTRY_NAMESPACE),
    });
    const read = (formats = FORMATS) =>
      verifyRegistry({ sources: [readRegistrySource(dir, "mirror")], trust: fixtureTrustAnchor(), formats });
    return { text, read };
  }

  test("the writer stamps format 2 on it alone; this kit reads both endpoints and plans IPv6 first", () => {
    const { text, read } = withB1((b1) => ({ ...b1, endpoints: [V4, V6] }));
    expect(text).toMatch(/^# .*\nformat: 2\n/);
    const v = read();
    expect(v.rejected.map(formatRejection)).toEqual([]);
    const b1 = v.federation!.nodes.find((n) => n.node === "b1")!;
    expect(b1.endpoints).toEqual([V4, V6]);
    const a1 = fixtureSpec("a1", { endpoint: ["198.51.100.11:51820", "[2001:db8:b0ea::11]:51820"] });
    expect(plan(a1, v.federation!).peers.find((p) => p.node === "b1")).toMatchObject({ endpoint: V6, fallbackEndpoints: [V4] });
  });

  test("a kit of release 0.1.0 refuses it with the upgrade, and goes on with the rest", () => {
    const v = withB1((b1) => ({ ...b1, endpoints: [V4, V6] })).read(formatsOf("0.1.0"));
    expect(v.rejected.map(formatRejection).join("\n")).toMatch(/nodes\/b1\.yaml.*written by a newer boreal-kit \(format 2\); upgrade/);
    expect(v.federation!.nodes.map((n) => n.node)).toEqual(["a1", "c1"]);
  });

  const refusals: [string, (b1: NodeDescriptor) => object, RegExp][] = [
    ["its main endpoint not first", (b1) => ({ ...b1, endpoints: [V6, V4] }), /endpoints\[0\] \S+ is not endpoint/],
    ["two IPv4 endpoints", (b1) => ({ ...b1, endpoints: [V4, "198.51.100.99:51820"] }), /endpoints lists two IPv4 endpoints/],
    ["one endpoint in the list", (b1) => ({ ...b1, endpoints: [V4] }), /endpoints lists one endpoint/],
    ["an IPv6 loopback", (b1) => ({ ...b1, endpoints: [V4, "[::1]:51820"] }), /loopback/],
  ];
  test.each(refusals)("refuses %s, naming the field; the others go on", (_, change, words) => {
    const { read } = withB1(change);
    const v = read();
    expect(v.rejected.map(formatRejection).join("\n")).toMatch(words);
    expect(v.federation!.nodes.map((n) => n.node)).toEqual(["a1", "c1"]);
  });
});
