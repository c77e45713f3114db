// The lab's parent zone and validating resolver: their config as the real tools read it.
import { describe, expect, test } from "vitest";
import { authenticated, labDnsAddresses, LAB_PARENT_ZONE, parentKnotConf, parentZoneFile, resolverConf } from "../../src/lab/dns";
import { imagePath, LAB_SUITES, labRecipe } from "../../src/lab/image";
import { imageUsable, inImage } from "../helpers/image";

const delegation = [
  "member1.lab.test. NS ns-node1.member1.lab.test.",
  "ns-node1.member1.lab.test. A 198.51.100.11",
  "member1.lab.test. DS 45141 13 2 2A35DB5074643A52464E4EED17AAF92BFC8869B0A2D5DF7C42DBA7D76C2D7445",
];
const anchor = `${LAB_PARENT_ZONE} DNSKEY 257 3 13 zlKh3E3BNv5V/WwR/FkKJ/tceSulrPvK6OWDy4TlGGgHip96wL59NEqoJ8cL3K/G7nx4sDv5qFSCbnumXYsUpA==`;

describe("the lab's DNS from outside the federation", () => {
  test("parent and resolver take .2 and .3 of the lab subnet, below the machines (.11 on)", () => {
    expect(labDnsAddresses("198.51.100.0/24")).toEqual({ parent: "198.51.100.2", resolver: "198.51.100.3" });
  });

  test("the parent zone holds its SOA, NS and the members' delegations as given", () => {
    const zone = parentZoneFile("198.51.100.2", delegation);
    expect(zone).toContain("$ORIGIN lab.test.\n");
    expect(zone).toContain("ns A 198.51.100.2\n");
    for (const line of delegation) expect(zone).toContain(`${line}\n`);
  });

  test("the resolver trusts the parent's key only, asks the parent for lab.test., and serves the lab subnet", () => {
    const conf = resolverConf("198.51.100.3", "198.51.100.0/24", "198.51.100.2", anchor);
    expect(conf).toContain(`trust-anchor: "${anchor}"`);
    expect(conf).toMatch(/stub-zone:\n    name: "lab\.test\."\n    stub-addr: 198\.51\.100\.2\n/);
    expect(conf).toContain("access-control: 198.51.100.0/24 allow");
    // Unbound's built-in answer for RFC 6761's test. would hide the lab's zones.
    expect(conf).toContain('local-zone: "test." nodefault');
    expect(conf).not.toMatch(/auto-trust-anchor-file|root-hints|forward-zone/);
  });

  test("AD is read from kdig's flags line, not from anywhere else in the answer", () => {
    expect(authenticated(";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 1\n;; Flags: qr rd ra ad; QUERY: 1; ANSWER: 1")).toBe(true);
    expect(authenticated(";; Flags: qr rd ra; QUERY: 1; ANSWER: 1\nad.lab.test. 30 IN A 198.51.100.11")).toBe(false);
  });

  for (const suite of LAB_SUITES) {
    test.runIf(imageUsable(suite))(`${suite}: Knot takes the parent's config and zone, unbound-checkconf the resolver's`, () => {
      const image = imagePath(labRecipe(suite));
      const knotConf = parentKnotConf("198.51.100.2", "/mnt");
      inImage(
        image,
        { "knot.conf": knotConf, "lab.test.zone": parentZoneFile("198.51.100.2", delegation) },
        "knotc -c /mnt/knot.conf conf-check && knotc -c /mnt/knot.conf zone-check lab.test.",
      );
      inImage(
        image,
        { "unbound.conf": resolverConf("198.51.100.3", "198.51.100.0/24", "198.51.100.2", anchor, "/mnt") },
        "unbound-checkconf /mnt/unbound.conf",
      );
      // And a broken delegation is what Knot refuses.
      const brokenZone = parentZoneFile("198.51.100.2", ["member1.lab.test. DS 45141 13 2 XYZ"]);
      expect(() =>
        inImage(image, { "knot.conf": knotConf, "lab.test.zone": brokenZone }, "knotc -c /mnt/knot.conf zone-check lab.test."),
      ).toThrow(/lab\.test/);
    });
  }
});
