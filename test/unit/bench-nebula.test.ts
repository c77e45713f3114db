// The pure pieces of the bench's Nebula section (issue #32): the inventory, each host's
// config.yml, nebula-cert's arguments, and what nebula-cert prints.
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import {
  caArgs,
  NEBULA_PORT,
  nebulaAddress,
  nebulaInventory,
  nebulaRssScript,
  parseFingerprint,
  renderNebulaConfig,
  renderNebulaInventory,
  signArgs,
} from "../../src/bench/nebula";
import { parseRss } from "../../src/bench/mesh";

const MACHINES = [1, 2, 3, 4].map((i) => ({ name: `node${i}`, address: `198.51.100.${i + 1}` }));
const HOSTS = nebulaInventory(MACHINES);
const FINGERPRINT = "301bb0c8e14456f64d621ed48faa79a17f6f85f946dee1ee5f0c92be05e88efa";

describe("the inventory", () => {
  test("one lighthouse, the first machine; every host its overlay address by its index in the lab", () => {
    expect(HOSTS).toEqual([
      { name: "node1", underlay: "198.51.100.2", overlay: "203.0.113.1", lighthouse: true },
      { name: "node2", underlay: "198.51.100.3", overlay: "203.0.113.2", lighthouse: false },
      { name: "node3", underlay: "198.51.100.4", overlay: "203.0.113.3", lighthouse: false },
      { name: "node4", underlay: "198.51.100.5", overlay: "203.0.113.4", lighthouse: false },
    ]);
    const text = renderNebulaInventory(HOSTS);
    expect(text).toMatchSnapshot();
    expect(parse(text).nebula.hosts.node1).toEqual({
      underlay: `198.51.100.2:${NEBULA_PORT}`,
      overlay: "203.0.113.1/24",
      lighthouse: true,
    });
  });

  test("a host listed alone keeps its address and is no lighthouse; bad input is refused by name", () => {
    expect(nebulaInventory([MACHINES[3]], () => 3)).toEqual([
      { name: "node4", underlay: "198.51.100.5", overlay: "203.0.113.4", lighthouse: false },
    ]);
    expect(() => nebulaAddress(254)).toThrow(/254 hosts/);
    expect(() => nebulaInventory([MACHINES[0], MACHINES[0]])).toThrow(/node1 twice/);
  });
});

describe("config.yml", () => {
  test("a host knows the lighthouse alone; the lighthouse knows nobody; ICMP is the only thing let in", () => {
    const text = renderNebulaConfig(HOSTS[2], HOSTS);
    expect(text).toMatchSnapshot();
    const config = parse(text);
    expect(config.static_host_map).toEqual({ "203.0.113.1": [`198.51.100.2:${NEBULA_PORT}`] });
    expect(config.lighthouse).toEqual({ am_lighthouse: false, interval: 60, hosts: ["203.0.113.1"] });
    expect(config.listen).toEqual({ host: "0.0.0.0", port: NEBULA_PORT });
    expect(config.firewall.inbound).toEqual([{ port: "any", proto: "icmp", host: "any" }]);
    expect(config.pki).toEqual({ ca: "/etc/nebula/ca.crt", cert: "/etc/nebula/host.crt", key: "/etc/nebula/host.key" });

    const lighthouse = parse(renderNebulaConfig(HOSTS[0], HOSTS));
    expect(lighthouse.lighthouse).toEqual({ am_lighthouse: true, interval: 60, hosts: [] });
    expect(lighthouse.static_host_map).toEqual({});
  });

  test("a join changes no other host's config: it names no host but the lighthouse", () => {
    for (const host of HOSTS.slice(0, 3)) expect(renderNebulaConfig(host, HOSTS)).toBe(renderNebulaConfig(host, HOSTS.slice(0, 3)));
    expect(renderNebulaConfig(HOSTS[1], HOSTS)).not.toContain("203.0.113.4");
  });

  test("the leave: the blocklist holds the left host's fingerprint; a malformed one is refused", () => {
    const config = parse(renderNebulaConfig(HOSTS[1], HOSTS, [FINGERPRINT]));
    expect(config.pki.blocklist).toEqual([FINGERPRINT]);
    expect(() => renderNebulaConfig(HOSTS[1], HOSTS, ["abc"])).toThrow(/fingerprint/);
  });

  test("exactly one lighthouse, and the host must be in the inventory", () => {
    const noLighthouse = HOSTS.map((h) => ({ ...h, lighthouse: false }));
    expect(() => renderNebulaConfig(noLighthouse[1], noLighthouse)).toThrow(/exactly one lighthouse/);
    expect(() => renderNebulaConfig({ ...HOSTS[1], name: "node9" }, HOSTS)).toThrow(/node9 is not in/);
  });
});

describe("nebula-cert", () => {
  test("the CA and a host's certificate: its name and overlay address, files named after it", () => {
    expect(caArgs("/tmp/pki")).toEqual([
      "ca",
      "-name",
      "boreal-bench",
      "-duration",
      "48h",
      "-out-crt",
      "/tmp/pki/ca.crt",
      "-out-key",
      "/tmp/pki/ca.key",
    ]);
    const args = signArgs(HOSTS[1], "/tmp/pki", "/tmp/pki/rotated");
    expect(args.slice(0, 5)).toEqual(["sign", "-name", "node2", "-networks", "203.0.113.2/24"]);
    expect(args).toContain("/tmp/pki/ca.key");
    expect(args.slice(-4)).toEqual(["-out-crt", "/tmp/pki/rotated/node2.crt", "-out-key", "/tmp/pki/rotated/node2.key"]);
  });

  test("the fingerprint in print -json's output (1.10 prints a list of one); anything else is an error", () => {
    const printed = `[{"curve":"CURVE25519","details":{"name":"node1","networks":["203.0.113.1/24"]},"fingerprint":"${FINGERPRINT}","version":2}]\n`;
    expect(parseFingerprint(printed)).toBe(FINGERPRINT);
    expect(parseFingerprint(`{"fingerprint":"${FINGERPRINT}"}`)).toBe(FINGERPRINT);
    expect(() => parseFingerprint("Error: no such file")).toThrow(/did not print JSON/);
    expect(() => parseFingerprint('[{"fingerprint":"xyz"}]')).toThrow(/no fingerprint/);
  });

  test("nebula's memory: one line a process, read by the same parser as the kit's services", () => {
    expect(nebulaRssScript()).toContain("pidof nebula");
    expect(parseRss("nebula 812 23552\n")).toEqual({ nebula: 23552 * 1024 });
  });
});
