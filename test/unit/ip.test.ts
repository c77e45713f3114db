// The core's own IP address patterns (src/core/values/ip.ts) against Node's net.isIP, which
// the core may not import: the same verdict on addresses, near-addresses and noise, except
// that the core refuses an IPv6 zone ("%eth0"), which names a link rather than an address.
import fc from "fast-check";
import { isIP as nodeIsIP } from "node:net";
import { describe, expect, test } from "vitest";
import { isIP } from "../../src/core/values/ip";

const hexGroup = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("256", "01", "00", "999", "-1", ""));
const ipv4ish = fc.array(octet, { minLength: 3, maxLength: 5 }).map((parts) => parts.join("."));
const ipv6ish = fc
  .tuple(
    fc.array(fc.oneof(hexGroup, fc.constantFrom("", "12345", "g", "0000")), { minLength: 1, maxLength: 9 }),
    fc.boolean(),
    fc.option(ipv4ish),
    fc.option(fc.constantFrom("%eth0", "%", "%1")),
  )
  .map(([groups, compress, tail, zone]) => {
    const body = compress ? `${groups.slice(0, 2).join(":")}::${groups.slice(2).join(":")}` : groups.join(":");
    return `${body}${tail ? `:${tail}` : ""}${zone ?? ""}`;
  });

describe("isIP agrees with Node's net.isIP, zones refused", () => {
  test("a zone is refused where Node accepts it", () => {
    for (const text of ["fe80::1%eth0", "fd42:b0:ea1::%1"]) {
      expect(nodeIsIP(text)).toBe(6);
      expect(isIP(text)).toBe(0);
    }
  });

  test("on well-known cases", () => {
    for (const text of [
      "100.64.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "01.2.3.4",
      "1.2.3",
      "::",
      "::1",
      "fd42:b0:ea1::1",
      "::ffff:192.0.2.1",
      "fe80::1%eth0",
      "1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "",
      " 1.2.3.4",
      "1.2.3.4\n",
    ]) {
      expect(isIP(text), text).toBe(text.includes("%") ? 0 : nodeIsIP(text));
    }
  });

  test("on generated addresses and near-misses", () => {
    fc.assert(
      fc.property(
        fc.oneof(ipv4ish, ipv6ish, fc.string({ maxLength: 40 })),
        (text) => isIP(text) === (text.includes("%") ? 0 : nodeIsIP(text)),
      ),
      { numRuns: 5000 },
    );
  });
});
