// Address scopes (src/core/values/scope.ts): what a registry file or a stack config may point the
// kit's packets at. Every refusal names the field and carries its fix.
import { createPublicKey, diffieHellman, generateKeyPairSync } from "node:crypto";
import { describe, expect, test } from "vitest";
import { problemsFromZod } from "../../src/core/values/problems";
import { endpoint, parseEndpoint, wireguardKey } from "../../src/core/values/fields";
import { monitoringPlan, watchProblem } from "../../src/core/monitoring/plan";
import {
  addressScope,
  AddressScope,
  ConnectScope,
  connectScope,
  endpointProblem,
  exporterProblem,
  exporterTarget,
  meshAddressProblem,
  meshHostProblem,
  resolvedEndpointProblem,
  stackEndpointProblem,
  underlayAddressProblem,
  underlayEndpointProblem,
  wireguardKeyProblem,
} from "../../src/core/values/scope";
import { EXPORTER_PORT } from "../../src/core/values/ports";

const MESH = { ipv4: "100.64.0.0/16", ipv6: "fd42:b0:ea1::/48" };
const ENDPOINT_FIX = "; fix: set endpoint to an address or name the node is reachable at from the internet";

describe("addressScope: the IANA special-purpose ranges, IPv4 and IPv6", () => {
  test.each<[string, AddressScope, string]>([
    // IPv4
    ["198.41.0.4", "global", "0.0.0.0/0"],
    ["8.8.8.8", "global", "0.0.0.0/0"],
    ["0.0.0.0", "unspecified", "0.0.0.0/32"],
    ["0.1.2.3", "reserved", "0.0.0.0/8"],
    ["10.1.2.3", "private", "10.0.0.0/8"],
    ["172.16.0.1", "private", "172.16.0.0/12"],
    ["172.31.255.254", "private", "172.16.0.0/12"],
    ["172.32.0.1", "global", "0.0.0.0/0"],
    ["192.168.1.1", "private", "192.168.0.0/16"],
    ["100.64.0.1", "shared", "100.64.0.0/10"],
    ["100.127.255.254", "shared", "100.64.0.0/10"],
    ["100.128.0.1", "global", "0.0.0.0/0"],
    ["127.0.0.1", "loopback", "127.0.0.0/8"],
    ["127.255.255.254", "loopback", "127.0.0.0/8"],
    ["169.254.169.254", "link-local", "169.254.0.0/16"],
    ["192.0.0.8", "reserved", "192.0.0.0/24"],
    ["192.0.2.1", "documentation", "192.0.2.0/24"],
    ["198.51.100.11", "documentation", "198.51.100.0/24"],
    ["203.0.113.10", "documentation", "203.0.113.0/24"],
    ["192.88.99.1", "reserved", "192.88.99.0/24"],
    ["198.18.0.1", "benchmarking", "198.18.0.0/15"],
    ["198.19.255.254", "benchmarking", "198.18.0.0/15"],
    ["224.0.0.1", "multicast", "224.0.0.0/4"],
    ["239.255.255.250", "multicast", "224.0.0.0/4"],
    ["240.0.0.1", "reserved", "240.0.0.0/4"],
    ["255.255.255.254", "reserved", "240.0.0.0/4"],
    ["255.255.255.255", "broadcast", "255.255.255.255/32"],
    // IPv6
    ["2606:4700:4700::1111", "global", "2000::/3"],
    ["2a01:4f8::1", "global", "2000::/3"],
    ["::", "unspecified", "::/128"],
    ["::1", "loopback", "::1/128"],
    ["fe80::1", "link-local", "fe80::/10"],
    ["fe80::1%eth0", "link-local", "fe80::/10"],
    ["fd42:b0:ea1::1", "private", "fc00::/7"],
    ["fc00::1", "private", "fc00::/7"],
    ["fec0::1", "reserved", "fec0::/10"],
    ["ff02::1", "multicast", "ff00::/8"],
    ["2001:db8::1", "documentation", "2001:db8::/32"],
    ["3fff::1", "documentation", "3fff::/20"],
    ["3fff:fff:ffff::1", "documentation", "3fff::/20"],
    ["4000::1", "reserved", "outside 2000::/3"],
    ["100::1", "reserved", "100::/64"],
    ["2001:2::1", "benchmarking", "2001:2::/48"],
    ["2001:10::1", "reserved", "2001::/23"],
    ["2001:20::1", "reserved", "2001::/23"],
    ["2001:1::1", "global", "2001:1::1/128"],
    ["2001:4:112::1", "global", "2001:4:112::/48"],
    ["5f00::1", "reserved", "5f00::/16"],
    ["::2", "reserved", "::/96"],
    ["::1:0:0:0", "reserved", "::/8"],
    // IPv6 forms that carry an IPv4 address: judged by it.
    ["::ffff:127.0.0.1", "loopback", "::ffff:0:0/96"],
    ["::ffff:7f00:1", "loopback", "::ffff:0:0/96"],
    ["::ffff:169.254.169.254", "link-local", "::ffff:0:0/96"],
    ["::ffff:10.0.0.1", "private", "::ffff:0:0/96"],
    ["::ffff:8.8.8.8", "global", "::ffff:0:0/96"],
    ["::127.0.0.1", "loopback", "::/96"],
    ["::8.8.8.8", "reserved", "::/96"],
    ["64:ff9b::7f00:1", "loopback", "64:ff9b::/96"],
    ["64:ff9b::a9fe:a9fe", "link-local", "64:ff9b::/96"],
    ["64:ff9b::808:808", "global", "64:ff9b::/96"],
    ["64:ff9b:1::808:808", "private", "64:ff9b:1::/48"],
    ["2002:7f00:1::1", "loopback", "2002::/16"],
    ["2002:a9fe:a9fe::1", "link-local", "2002::/16"],
    ["2002:808:808::1", "global", "2002::/16"],
    // Teredo carries its client's address with every bit inverted: 80ff:fefe is 127.0.1.1.
    ["2001:0:4136:e378:8000:63bf:80ff:fefe", "loopback", "2001::/32"],
  ])("%s is %s (%s)", (ip, scope, range) => {
    expect(addressScope(ip)).toMatchObject({ scope, range });
  });

  test("the IPv4 inside an IPv6 form is named", () => {
    expect(addressScope("::ffff:127.0.0.1")).toMatchObject({ family: 6, embedded: "127.0.0.1", name: "IPv4-mapped 127.0.0.1, loopback" });
    expect(addressScope("2002:7f00:1::1")?.embedded).toBe("127.0.0.1");
  });

  test.each(["localhost", "wg.coop-c.net", "127.1", "2130706433", "1.2.3", "::g", "", "[::1]"])(
    "%s is no IP literal: undefined",
    (text) => {
      expect(addressScope(text)).toBeUndefined();
    },
  );
});

describe("endpointProblem: peers send WireGuard only to global unicast addresses", () => {
  test.each([
    ["wg.coop-c.net:51820"],
    ["8.8.8.8:51820"],
    ["193.0.14.129:51820"],
    ["[2606:4700:4700::1111]:51820"],
    ["[::ffff:8.8.8.8]:51820"],
    ["[2002:808:808::1]:51820"],
    ["vpn.coop-a.example.org.uk:51820"],
    ["xn--bcher-kva.example.net.eu:51820"],
  ])("%s is fine", (text) => {
    expect(endpointProblem(text, [])).toBeUndefined();
  });

  test.each([
    ["127.0.0.1:51820", "is in 127.0.0.0/8 (loopback): every peer would send to itself"],
    ["127.53.0.1:51820", "is in 127.0.0.0/8 (loopback)"],
    ["0.0.0.0:51820", "is the unspecified address (0.0.0.0/32)"],
    ["0.1.2.3:51820", 'is in 0.0.0.0/8 ("this network", RFC 791)'],
    ["224.0.0.1:51820", "is in 224.0.0.0/4 (multicast): it is a group, not a node"],
    ["255.255.255.255:51820", "is the limited broadcast address (255.255.255.255/32)"],
    ["240.0.0.1:51820", "is in 240.0.0.0/4 (reserved, RFC 1112)"],
    ["[::1]:51820", "is in ::1/128 (loopback)"],
    ["[::]:51820", "is the unspecified address (::/128)"],
    ["[ff02::1]:51820", "is in ff00::/8 (multicast)"],
    ["[fe80::1]:51820", "is in fe80::/10 (link-local)"],
    ["[fec0::1]:51820", "is in fec0::/10 (deprecated site-local, RFC 3879)"],
    ["[4000::1]:51820", "is outside 2000::/3 (not allocated for unicast by IANA)"],
    [
      "169.254.169.254:80",
      "is in 169.254.0.0/16 (link-local, RFC 3927): it reaches only the sender's own link (on clouds, the metadata service at 169.254.169.254)",
    ],
    ["100.64.0.1:51820", "is in 100.64.0.0/10 (shared address space, RFC 6598)"],
    ["100.100.100.200:80", "is in 100.64.0.0/10 (shared address space, RFC 6598)"],
    ["[::ffff:127.0.0.1]:51820", "is in ::ffff:0:0/96 (IPv4-mapped 127.0.0.1, loopback)"],
    ["[::ffff:169.254.169.254]:80", "is in ::ffff:0:0/96 (IPv4-mapped 169.254.169.254, link-local, RFC 3927)"],
    ["[::127.0.0.1]:51820", "is in ::/96 (deprecated IPv4-compatible 127.0.0.1, loopback)"],
    ["[64:ff9b::7f00:1]:51820", "is in 64:ff9b::/96 (NAT64 127.0.0.1, loopback)"],
    ["[2002:7f00:1::1]:51820", "is in 2002::/16 (6to4 127.0.0.1, loopback)"],
    ["[2001:0:4136:e378:8000:63bf:80ff:fefe]:51820", "is in 2001::/32 (Teredo 127.0.1.1, loopback)"],
    ["[2001:10::1]:51820", "is in 2001::/23 (IETF protocol assignments, RFC 2928)"],
  ])("%s is refused, the field, the range and the fix named", (text, why) => {
    const problem = endpointProblem(text, ["documentation", "private"]);
    expect(problem).toContain(`endpoint ${text} ${why}`);
    expect(problem).toContain(ENDPOINT_FIX);
    // No allowance admits these.
    expect(problem).not.toContain("underlay: { allow");
  });

  test.each([
    ["192.0.2.1:51820", "documentation", "192.0.2.0/24"],
    ["198.51.100.11:51820", "documentation", "198.51.100.0/24"],
    ["203.0.113.10:51820", "documentation", "203.0.113.0/24"],
    ["[2001:db8::1]:51820", "documentation", "2001:db8::/32"],
    ["[3fff::1]:51820", "documentation", "3fff::/20"],
    ["198.18.0.1:51820", "documentation", "198.18.0.0/15"],
    ["[2001:2::1]:51820", "documentation", "2001:2::/48"],
    ["10.0.0.1:51820", "private", "10.0.0.0/8"],
    ["172.16.5.4:51820", "private", "172.16.0.0/12"],
    ["192.168.1.10:51820", "private", "192.168.0.0/16"],
    ["[fd00::1]:51820", "private", "fc00::/7"],
    ["[::ffff:192.168.1.10]:51820", "private", "::ffff:0:0/96"],
  ] as const)("%s is refused unless the federation allows %s ranges, and the fix says how", (text, allowance, range) => {
    const problem = endpointProblem(text, []);
    expect(problem).toContain(`endpoint ${text} is in ${range}`);
    expect(problem).toContain(ENDPOINT_FIX);
    expect(problem).toContain(`underlay: { allow: [ ${allowance} ] } in a new federation version`);
    expect(endpointProblem(text, [allowance])).toBeUndefined();
    const other = allowance === "private" ? "documentation" : "private";
    expect(endpointProblem(text, [other])).toBe(problem);
  });

  test("the federation's own mesh is refused as an endpoint even where private ranges are allowed", () => {
    expect(endpointProblem("[fd42:b0:ea1::1]:51820", ["private"])).toBeUndefined();
    const problem = endpointProblem("[fd42:b0:ea1::1]:51820", ["private"], { mesh: MESH });
    expect(problem).toBe(
      `endpoint [fd42:b0:ea1::1]:51820 is inside the federation's mesh fd42:b0:ea1::/48: the tunnel cannot carry itself${ENDPOINT_FIX}, e.g. "203.0.113.10:51820" or "wg.coop-a.net:51820"`,
    );
    expect(endpointProblem("100.64.0.1:51820", ["private", "documentation"], { mesh: MESH })).toContain(
      "inside the federation's mesh 100.64.0.0/16",
    );
    expect(endpointProblem("[fd43::1]:51820", ["private"], { mesh: MESH })).toBeUndefined();
  });

  test.each([
    ["localhost:51820", "names the sender's own machine (RFC 6761)"],
    ["LOCALHOST:51820", "names the sender's own machine (RFC 6761)"],
    ["db.localhost:51820", "names the sender's own machine (RFC 6761)"],
    ["printer.local:51820", "is resolved by multicast DNS on the sender's own link (RFC 6762)"],
    ["node.invalid:51820", "never resolves (RFC 6761)"],
    ["abcdefghijklmnop.onion:51820", "is a Tor onion service name, not reachable over UDP (RFC 7686)"],
    ["x.alt:51820", "is outside the DNS (RFC 9476)"],
    ["1.0.0.127.in-addr.arpa:51820", "is the DNS's infrastructure domain (reverse mapping), not a host"],
    ["router.home.arpa:51820", "names a home network's own devices (RFC 8375)"],
    ["metadata.google.internal:80", "is reserved for private networks' own names"],
    ["wg.coop-a.example:51820", "is reserved for examples (RFC 2606)"],
    ["wg.example.com:51820", "is reserved for examples (RFC 2606)"],
    ["example.net:51820", "is reserved for examples (RFC 2606)"],
    ["wg.example.org:51820", "is reserved for examples (RFC 2606)"],
    ["wg.coop-a.test:51820", "is reserved for testing (RFC 6761)"],
  ])("the special-use name %s is refused: it %s", (text, why) => {
    const problem = endpointProblem(text, []);
    expect(problem).toContain(`endpoint ${text} ${why}: peers cannot reach this node by it`);
    expect(problem).toContain(ENDPOINT_FIX);
  });

  test("documentation names pass where documentation ranges are allowed, private ones where private ranges are", () => {
    expect(endpointProblem("wg.coop-a.test:51820", ["documentation"])).toBeUndefined();
    expect(endpointProblem("wg.coop-a.example:51820", ["documentation"])).toBeUndefined();
    expect(endpointProblem("wg.example.com:51820", ["documentation"])).toBeUndefined();
    expect(endpointProblem("router.home.arpa:51820", ["private"])).toBeUndefined();
    expect(endpointProblem("node.corp.internal:51820", ["private"])).toBeUndefined();
    expect(endpointProblem("node.corp.internal:51820", ["documentation"])).toContain("underlay: { allow: [ private ] }");
    // Never: localhost, mDNS, .invalid, .onion.
    for (const name of ["localhost", "a.localhost", "x.local", "x.invalid", "x.onion"])
      expect(endpointProblem(`${name}:51820`, ["documentation", "private"])).toBeDefined();
  });

  test("a single-label name is refused: each resolver completes it its own way", () => {
    expect(endpointProblem("wireguard:51820", [])).toBe(
      'endpoint wireguard:51820 is a single-label name, which each resolver completes with its own search domains; fix: use the node\'s fully qualified name, e.g. "wg.coop-a.net:51820"',
    );
  });

  test.each([
    "127.1:51820",
    "2130706433:51820",
    "0x7f000001:51820",
    "0x7f.0.0.1:51820",
    "0177.0.0.1:51820",
    "127.0.0.0x1:51820",
    "wg.coop-a.123:51820",
  ])("%s, a number in a name's clothes, is refused (resolvers read it as an IPv4 address)", (text) => {
    const problem = endpointProblem(text, ["documentation", "private"]);
    expect(problem).toContain(`endpoint ${text} is neither a dotted-quad IPv4 address nor a DNS name`);
    expect(problem).toContain('; fix: write the address as four decimal numbers (e.g. "203.0.113.10:51820") or use a DNS name');
  });

  test("a name longer than DNS allows is refused", () => {
    expect(endpointProblem(`${"a".repeat(64)}.coop.net:51820`, [])).toContain(
      "is not a usable DNS name (at most 253 characters, labels of 1 to 63); fix: set endpoint to",
    );
  });

  test("text that is not host:port is refused, escaped, with the fix", () => {
    expect(endpointProblem("127.0.0.1", [])).toBe(
      'endpoint 127.0.0.1 is not "host:port" (IPv6 as "[addr]:port"); fix: set endpoint to e.g. "203.0.113.10:51820" or "wg.coop-a.net:51820"',
    );
    expect(endpointProblem("a\u001b[31m:1", [])).toContain("endpoint a\\x1b[31m:1 is not");
  });

  test("the field is named as the caller says: the stack's boreal:endpoint", () => {
    expect(endpointProblem("127.0.0.1:51820", [], { what: "boreal:endpoint" })).toMatch(
      /^boreal:endpoint 127\.0\.0\.1:51820 is in 127\.0\.0\.0\/8 \(loopback\).*; fix: set boreal:endpoint to /,
    );
  });
});

describe("stackEndpointProblem: the member's own boreal:endpoint against the federation's setting", () => {
  test("a stack config problem, keyed boreal:endpoint, with its fix", () => {
    expect(stackEndpointProblem("198.51.100.11:51820", { mesh: MESH })).toEqual({
      source: "stack config",
      key: "boreal:endpoint",
      message:
        "boreal:endpoint 198.51.100.11:51820 is in 198.51.100.0/24 (documentation, RFC 5737): it is reserved for examples and labs and routed nowhere",
      fix: 'set boreal:endpoint to an address or name the node is reachable at from the internet, e.g. "203.0.113.10:51820" or "wg.coop-a.net:51820"; a lab federation allows these ranges with underlay: { allow: [ documentation ] } in a new federation version',
    });
    expect(stackEndpointProblem("198.51.100.11:51820", { mesh: MESH, underlay: { allow: ["documentation"] } })).toBeUndefined();
    expect(stackEndpointProblem("wg.coop-c.net:51820", { mesh: MESH })).toBeUndefined();
    expect(stackEndpointProblem("[fd42:b0:ea1::9]:51820", { mesh: MESH, underlay: { allow: ["private"] } })?.message).toContain(
      "inside the federation's mesh fd42:b0:ea1::/48",
    );
  });
});

describe("exporterProblem: the exporter is the node's own mesh address at the kit's exporter port", () => {
  const a1 = { node: "a1", exporter: "100.64.0.1:9100", mesh: { ipv4: "100.64.0.1", ipv6: "fd42:b0:ea1::1" } };
  const fix = `; fix: set exporter to "100.64.0.1:9100" (node a1's mesh IPv4 address and the kit's exporter port), as pulumi up writes it`;

  test("the kit's exporter port is the firewall's, 9100", () => {
    expect(EXPORTER_PORT).toBe(9100);
  });

  test("its mesh IPv4 or IPv6 address at 9100 is fine", () => {
    expect(exporterProblem(a1)).toBeUndefined();
    expect(exporterProblem({ ...a1, exporter: "[fd42:b0:ea1::1]:9100" })).toBeUndefined();
    expect(exporterProblem({ ...a1, exporter: "[fd42:b0:ea1:0::0001]:9100" })).toBeUndefined();
  });

  test.each([
    "198.51.100.11:9100",
    "127.0.0.1:9100",
    "169.254.169.254:9100",
    "100.64.0.17:9100",
    "[::1]:9100",
    "exporter.coop-a.net:9100",
    "[::ffff:100.64.0.1]:9100",
  ])("%s, not the node's own mesh address, is refused, naming field and fix", (exporter) => {
    expect(exporterProblem({ ...a1, exporter })).toBe(
      `exporter ${exporter} is not node a1's own mesh address (100.64.0.1 or [fd42:b0:ea1::1]): peers' checks and monitoring would send HTTP to it${fix}`,
    );
  });

  test("another port is refused, naming it", () => {
    expect(exporterProblem({ ...a1, exporter: "100.64.0.1:22" })).toBe(
      `exporter 100.64.0.1:22 is not at the kit's exporter port 9100${fix}`,
    );
    expect(exporterProblem({ ...a1, exporter: "100.64.0.1:9200" }, 9200)).toBeUndefined();
  });

  test("not host:port", () => {
    expect(exporterProblem({ ...a1, exporter: "100.64.0.1" })).toBe(`exporter 100.64.0.1 is not "host:port"${fix}`);
  });
});

describe("wireguardKeyProblem: 32 bytes, not all zero, not a point of small order", () => {
  const P = 2n ** 255n - 19n;
  const SMALL_ORDER = [
    0n,
    1n,
    325606250916557431795983626356110631294008115727848805560023387167927233504n,
    39382357235489614581723060781553021112529911719440698176882885853963445705823n,
    P - 1n,
    P,
    P + 1n,
  ];
  const littleEndian = (n: bigint) => Buffer.from(Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn)));
  const withHighBit = (bytes: Buffer) => Buffer.from(bytes.map((b, i) => (i === 31 ? b | 0x80 : b)));
  const degenerate = SMALL_ORDER.flatMap((u) => [littleEndian(u), withHighBit(littleEndian(u))]);
  const FIX = "; fix: paste the output of `wg pubkey` on the node (44 characters ending in '=')";

  /** X25519 with a fresh private key: OpenSSL refuses a derivation that ends all zero (a small-order point). */
  const derives = (publicKey: Buffer) => {
    const { privateKey } = generateKeyPairSync("x25519");
    const spki = Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), publicKey]);
    try {
      return !diffieHellman({ privateKey, publicKey: createPublicKey({ key: spki, format: "der", type: "spki" }) }).equals(
        Buffer.alloc(32),
      );
    } catch {
      return false;
    }
  };

  test("libsodium's blacklist, as bytes", () => {
    expect(littleEndian(SMALL_ORDER[2]).toString("hex")).toBe("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
    expect(littleEndian(SMALL_ORDER[3]).toString("hex")).toBe("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157");
    expect(littleEndian(P - 1n).toString("hex")).toBe(`ec${"ff".repeat(30)}7f`);
  });

  test("the all-zero key is refused as such", () => {
    expect(wireguardKeyProblem(Buffer.alloc(32).toString("base64"))).toBe(`publicKey is all zero bytes, not a key${FIX}`);
  });

  test.each(degenerate.map((bytes) => [bytes.toString("hex"), bytes]))(
    "%s (small order) is refused, and X25519 agrees it gives no secret",
    (_hex, bytes) => {
      const problem = wireguardKeyProblem(bytes.toString("base64"));
      expect(problem).toMatch(
        /^publicKey is (all zero bytes, not a key|a Curve25519 point of small order \(u = [^)]+\)+: every shared secret with it is predictable)/,
      );
      expect(problem).toContain(FIX);
      expect(derives(bytes)).toBe(false);
    },
  );

  test("real keys pass, as X25519 agrees: the fixtures' and fresh ones", () => {
    const keys = [
      "9V/xb2b0M2Ama5Xbb4/sAddgMQVDBq5KSzgFmPbP0RQ=",
      "fclvd2yEI+V6J4VImj+cQ/tudWh21q2anKxKpOcuwZM=",
      "0PYxyh3bqNs7z8ueBXzcmNA3nxvuAOdaVFFHon2t2YI=",
    ];
    for (let i = 0; i < 20; i++)
      keys.push(generateKeyPairSync("x25519").publicKey.export({ format: "der", type: "spki" }).subarray(12).toString("base64"));
    for (const key of keys) {
      expect(wireguardKeyProblem(key)).toBeUndefined();
      expect(derives(Buffer.from(key, "base64"))).toBe(true);
    }
    // 9, the base point: an ordinary point.
    expect(wireguardKeyProblem(littleEndian(9n).toString("base64"))).toBeUndefined();
  });

  test("not 32 bytes of base64: refused, named with the fix", () => {
    for (const text of ["AAAA", `${".".repeat(43)}=`, `${"A".repeat(43)}`, "9V/xb2b0M2Ama5Xbb4/sAddgMQVDBq5KSzgFmPbP0RR="]) {
      expect(wireguardKeyProblem(text)).toBe(`publicKey is not a WireGuard key (32 bytes, base64)${FIX}`);
    }
    expect(wireguardKeyProblem("AAAA", "subject[].annotations.wireguardPublicKey")).toMatch(
      /^subject\[\]\.annotations\.wireguardPublicKey is not a WireGuard key/,
    );
  });

  test("the registry's and the attestations' schema field refuses them, with the fix", () => {
    const field = wireguardKey("publicKey");
    expect(field.safeParse("9V/xb2b0M2Ama5Xbb4/sAddgMQVDBq5KSzgFmPbP0RQ=").success).toBe(true);
    for (const bytes of [Buffer.alloc(32), littleEndian(1n), withHighBit(littleEndian(SMALL_ORDER[3]))]) {
      const parsed = field.safeParse(bytes.toString("base64"));
      expect(parsed.success).toBe(false);
      const [problem] = problemsFromZod(parsed.error!, "nodes/a1.yaml", "publicKey");
      expect(problem.key).toBe("publicKey");
      expect(problem.message).toMatch(/^publicKey is (all zero bytes|a Curve25519 point of small order)/);
      expect(problem.fix).toBe("paste the output of `wg pubkey` on the node (44 characters ending in '=')");
    }
  });
});

describe("meshHostProblem: a mesh address is a usable host of its prefix", () => {
  test.each([
    ["100.64.0.1", "100.64.0.0/16"],
    ["100.64.255.254", "100.64.0.0/16"],
    ["100.64.0.17", "100.64.0.16/28"],
    ["100.64.0.0", "100.64.0.0/31"],
    ["100.64.0.1", "100.64.0.1/32"],
    ["fd42:b0:ea1::1", "fd42:b0:ea1::/48"],
    ["fd42:b0:ea1:ffff:ffff:ffff:ffff:ffff", "fd42:b0:ea1::/48"],
  ])("%s in %s is fine", (ip, prefix) => {
    expect(meshHostProblem(ip, prefix)).toBeUndefined();
  });

  test.each([
    ["100.64.0.0", "100.64.0.0/16", "is the network address of 100.64.0.0/16, not a host"],
    ["100.64.255.255", "100.64.0.0/16", "is the broadcast address of 100.64.0.0/16, not a host"],
    ["100.64.0.16", "100.64.0.16/28", "is the network address of 100.64.0.16/28, not a host"],
    ["100.64.0.31", "100.64.0.16/28", "is the broadcast address of 100.64.0.16/28, not a host"],
    ["fd42:b0:ea1::", "fd42:b0:ea1::/48", "is the network address of fd42:b0:ea1::/48, not a host"],
    ["100.65.0.1", "100.64.0.0/16", "is outside 100.64.0.0/16"],
    ["fd43::1", "fd42:b0:ea1::/48", "is outside fd42:b0:ea1::/48"],
    ["fd42:b0:ea1::1", "100.64.0.0/16", "is not an IPv4 address"],
    ["fe80::1%wg0", "fe80::/64", "is not an IPv6 address"],
  ])("%s in %s is refused: it %s", (ip, prefix, why) => {
    expect(meshHostProblem(ip, prefix, "mesh.ipv4")).toBe(
      `mesh.ipv4 ${ip} ${why}; fix: give mesh.ipv4 a host address inside ${prefix}, neither its first nor (IPv4) its last address`,
    );
  });
});

describe("what the label's checks may connect to (src/agent/observe.ts asks these before connecting)", () => {
  const scope: ConnectScope = connectScope({ mesh: MESH, underlay: { allow: ["documentation"] } });

  test("the federation's setting decides the underlay; loopback only for tests", () => {
    expect(scope).toEqual({ allow: ["documentation"], mesh: MESH });
    expect(connectScope({ mesh: MESH }).allow).toEqual([]);
    expect(underlayEndpointProblem("198.51.100.11:51820", scope)).toBeUndefined();
    expect(underlayEndpointProblem("10.0.0.1:51820", scope)).toContain("endpoint 10.0.0.1:51820 is in 10.0.0.0/8");
    expect(underlayEndpointProblem("127.0.0.1:51820", scope)).toContain("(loopback)");
    expect(underlayEndpointProblem("127.0.0.1:51820", { ...scope, loopback: true })).toBeUndefined();
    expect(underlayEndpointProblem("169.254.169.254:80", { ...scope, loopback: true })).toContain("(link-local, RFC 3927)");
    expect(underlayAddressProblem("100.64.0.1", scope)).toContain("inside the federation's mesh 100.64.0.0/16");
  });

  test("every address a name resolves to must pass, or none is connected to", () => {
    expect(resolvedEndpointProblem("wg.coop-c.net:51820", ["198.51.100.13", "2001:db8::13"], scope)).toBeUndefined();
    expect(resolvedEndpointProblem("wg.coop-c.net:51820", ["198.51.100.13", "127.0.0.1"], scope)).toBe(
      'endpoint wg.coop-c.net:51820 resolves to 127.0.0.1, which is in 127.0.0.0/8 (loopback): every peer would send to itself, not to this node; fix: make wg.coop-c.net resolve only to the node\'s public addresses, or set endpoint to an address or name the node is reachable at from the internet, e.g. "203.0.113.10:51820" or "wg.coop-a.net:51820"',
    );
    expect(resolvedEndpointProblem("wg.coop-c.net:51820", ["::ffff:169.254.169.254"], scope)).toContain(
      "resolves to ::ffff:169.254.169.254, which is in ::ffff:0:0/96 (IPv4-mapped 169.254.169.254",
    );
    expect(resolvedEndpointProblem("wg.coop-c.net:51820", ["100.64.0.9"], scope)).toContain(
      "resolves to 100.64.0.9, which is inside the federation's mesh 100.64.0.0/16",
    );
    expect(resolvedEndpointProblem("wg.coop-c.net:51820", [], scope)).toBe(
      "endpoint wg.coop-c.net:51820 resolves to no address; fix: publish an A or AAAA record for wg.coop-c.net",
    );
  });

  test("mesh probes go only to usable hosts of the federation's mesh", () => {
    expect(meshAddressProblem("100.64.0.17", scope)).toBeUndefined();
    expect(meshAddressProblem("fd42:b0:ea1::11", scope)).toBeUndefined();
    expect(meshAddressProblem("169.254.169.254", scope, "node b1's mesh.ipv4")).toBe(
      "node b1's mesh.ipv4 169.254.169.254 is outside 100.64.0.0/16; fix: give node b1's mesh.ipv4 a host address inside 100.64.0.0/16, neither its first nor (IPv4) its last address",
    );
    expect(meshAddressProblem("127.0.0.1", scope)).toContain("is outside 100.64.0.0/16");
    expect(meshAddressProblem("127.0.0.1", { ...scope, loopback: true })).toBeUndefined();
    expect(meshAddressProblem("100.64.255.255", scope)).toContain("broadcast address");
  });

  test("the exporter is scraped at the verified mesh address it names, never elsewhere", () => {
    const a1 = { node: "a1", exporter: "100.64.0.1:9100", mesh: { ipv4: "100.64.0.1", ipv6: "fd42:b0:ea1::1" } };
    expect(exporterTarget(a1, scope)).toEqual({ host: "100.64.0.1", port: 9100 });
    expect(exporterTarget({ ...a1, exporter: "[fd42:b0:ea1:0:0::1]:9100" }, scope)).toEqual({ host: "fd42:b0:ea1::1", port: 9100 });
    expect(exporterTarget({ ...a1, exporter: "169.254.169.254:80" }, scope)).toEqual({
      problem: expect.stringContaining("exporter 169.254.169.254:80 is not node a1's own mesh address"),
    });
    // A descriptor whose mesh address itself lies outside the mesh: its "own" exporter is refused too.
    const outside = { node: "x", exporter: "127.0.0.1:9100", mesh: { ipv4: "127.0.0.1", ipv6: "::1" } };
    expect(exporterTarget(outside, scope)).toEqual({ problem: expect.stringContaining("exporter 127.0.0.1 is outside 100.64.0.0/16") });
    expect(exporterTarget(outside, { ...scope, loopback: true })).toEqual({ host: "127.0.0.1", port: 9100 });
  });
});

describe("the fields keep syntax only; scope needs the federation's setting", () => {
  test("endpoint accepts any well-formed host:port, parseEndpoint as before", () => {
    for (const text of ["127.0.0.1:51820", "[::1]:51820", "localhost:51820", "wg.coop-c.net:51820"])
      expect(endpoint("endpoint").safeParse(text).success).toBe(true);
    expect(endpoint("endpoint").safeParse("127.0.0.1").success).toBe(false);
    expect(parseEndpoint("[2001:db8::1]:51820")).toEqual({ host: "2001:db8::1", port: 51820 });
    expect(parseEndpoint("wg.coop-c.net:51820")).toEqual({ host: "wg.coop-c.net", port: 51820 });
    expect(parseEndpoint("wg.coop-c.net:0")).toBeUndefined();
    expect(parseEndpoint("[wg.coop-c.net]:1")).toBeUndefined();
  });
});

describe("monitoring watches no peer whose addresses no federation could allow", () => {
  const node = (name: string, endpoint: string, ipv4 = "100.64.0.17", ipv6 = "fd42:b0:ea1::11") => ({
    node: name,
    member: `m-${name}`,
    endpoint,
    mesh: { ipv4, ipv6 },
    zones: [`${name}.example.`],
  });
  const self = node("a1", "198.51.100.11:51820", "100.64.0.1", "fd42:b0:ea1::1");

  test.each([["127.0.0.1:51820"], ["169.254.169.254:80"], ["[::1]:51820"], ["localhost:51820"], ["100.64.0.9:51820"], ["224.0.0.1:51820"]])(
    "endpoint %s: not watched",
    (endpoint) => {
      expect(watchProblem(node("b1", endpoint))).toContain(`endpoint ${endpoint} `);
      const plan = monitoringPlan(self, [node("b1", endpoint), node("c1", "wg.coop-c.net:51820", "100.64.0.33", "fd42:b0:ea1::21")], {});
      expect(plan.nodes.map((n) => n.node)).toEqual(["a1", "c1"]);
      expect(plan.zones.map((z) => z.name)).toEqual(["a1.example.", "c1.example."]);
    },
  );

  test("mesh addresses outside the mesh's spaces: not watched; documentation and private endpoints are (the federation's setting is verify's)", () => {
    expect(watchProblem(node("b1", "198.51.100.12:51820", "169.254.169.254"))).toBe(
      "mesh.ipv4 169.254.169.254 is not in the mesh's 100.64.0.0/10",
    );
    expect(watchProblem(node("b1", "198.51.100.12:51820", "100.64.0.17", "::1"))).toBe(
      "mesh.ipv6 ::1 is not a unique local address (fc00::/7)",
    );
    expect(watchProblem(node("b1", "198.51.100.12:51820"))).toBeUndefined();
    expect(watchProblem(node("b1", "10.0.0.12:51820"))).toBeUndefined();
    expect(watchProblem(node("b1", "198.18.0.12:51820"))).toBeUndefined();
    expect(monitoringPlan(self, [node("b1", "198.51.100.12:51820")], {}).nodes.map((n) => n.dnsTarget)).toEqual([
      "198.51.100.11:53",
      "198.51.100.12:53",
    ]);
  });
});
