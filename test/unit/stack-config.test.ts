import { describe, expect, test } from "vitest";
import { BorealConfigError } from "../../src/config/errors";
import { decodeConfigValue, parseStackConfig, planSpecSchema, splitPrivateKey } from "../../src/config/stack";
import { FIXTURE_HOST_KEY, FIXTURE_KEYS, FIXTURE_PRIVATE_KEY, fixtureTrust, rawStackConfig } from "../helpers/fixtures";

function problemsOf(raw: Record<string, string>) {
  try {
    parseStackConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(BorealConfigError);
    return (error as BorealConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

const ssh = { host: "198.51.100.12", port: 22, user: "root", privateKey: FIXTURE_PRIVATE_KEY, hostKey: FIXTURE_HOST_KEY };

describe("stack config", () => {
  test("a good config parses with defaults filled in", () => {
    const spec = parseStackConfig(rawStackConfig("b1", { keyEpoch: undefined, ssh: { host: "198.51.100.12", privateKey: FIXTURE_PRIVATE_KEY, hostKey: `${FIXTURE_HOST_KEY} root@b1` } }));
    expect(spec.ssh.port).toBe(22);
    expect(spec.ssh.user).toBe("root");
    expect(spec.ssh.hostKey).toBe(FIXTURE_HOST_KEY); // the comment is dropped
    expect(spec.firewall).toBe(true);
    expect(spec.keyEpoch).toBe(0);
    expect(spec.zones).toEqual(["coop-b.example.", "b-mail.example."]);
    expect(spec.trust).toBe(fixtureTrust());
    expect(spec.signingKeyFile).toBe(FIXTURE_KEYS["coop-b"]);
    expect(spec.signingKey).toBeUndefined();
    expect(spec.publish).toBeUndefined();
    expect(spec.syncInterval).toBe(60);
  });

  test("the signing key may be given as a secret instead of a file, and is split off with the SSH key", () => {
    const spec = parseStackConfig(rawStackConfig("b1", { signingKeyFile: undefined, signingKey: FIXTURE_PRIVATE_KEY, publish: "origin", syncInterval: 5 }));
    expect(spec).toMatchObject({ signingKey: FIXTURE_PRIVATE_KEY, publish: "origin", syncInterval: 5 });
    expect(spec.signingKeyFile).toBeUndefined();
    const split = splitPrivateKey(spec);
    expect(split.privateKey).toBe(FIXTURE_PRIVATE_KEY);
    expect(split.signingKey).toBe(FIXTURE_PRIVATE_KEY);
    expect(JSON.stringify(split.spec)).not.toContain("PRIVATE KEY");
    // A .pub whose private half is in ssh-agent is a key file too.
    expect(parseStackConfig(rawStackConfig("b1", { signingKeyFile: `${FIXTURE_KEYS["coop-b"]}.pub` })).signingKeyFile).toMatch(/coop-b\.pub$/);
  });

  test("exactly one signing key: none, or both, is refused with the way to set one", () => {
    const none = problemsOf(rawStackConfig("b1", { signingKeyFile: undefined }));
    expect(none).toEqual([
      {
        source: "stack config",
        key: "boreal:signingKeyFile",
        message: "no signing key: the node's descriptor must be signed by its member",
        fix: expect.stringMatching(/set exactly one: pulumi config set boreal:signingKeyFile .* or pulumi config set --secret boreal:signingKey < key/),
      },
    ]);
    const both = problemsOf(rawStackConfig("b1", { signingKey: FIXTURE_PRIVATE_KEY }));
    expect(both).toEqual([expect.objectContaining({ key: "boreal:signingKeyFile", message: "both boreal:signingKey and boreal:signingKeyFile are set", fix: expect.stringMatching(/set exactly one/) })]);
    expect(JSON.stringify(both)).not.toContain(FIXTURE_PRIVATE_KEY);
  });

  test("the node's own settings, as its sync agent reads them, hold no secret and no registry access", () => {
    const { spec } = splitPrivateKey(parseStackConfig(rawStackConfig("b1")));
    const { registry: _registry, trust: _trust, signingKeyFile: _file, publish: _publish, ...own } = spec;
    expect(planSpecSchema.parse(JSON.parse(JSON.stringify(own)))).toEqual(own);
    expect(planSpecSchema.safeParse({ ...own, signingKey: FIXTURE_PRIVATE_KEY }).success).toBe(false);
    expect(planSpecSchema.safeParse({ ...own, ssh: { ...own.ssh, privateKey: FIXTURE_PRIVATE_KEY } }).success).toBe(false);
  });

  test("zones without a trailing dot are made fully qualified", () => {
    expect(parseStackConfig(rawStackConfig("a1", { zones: ["Coop-A.example"] })).zones).toEqual(["coop-a.example."]);
  });

  test("config values are decoded as Pulumi stores them", () => {
    expect(decodeConfigValue('{"a":1}')).toEqual({ a: 1 });
    expect(decodeConfigValue("1420")).toBe(1420);
    expect(decodeConfigValue("true")).toBe(true);
    expect(decodeConfigValue("coop-a")).toBe("coop-a");
    expect(decodeConfigValue("{not json")).toBe("{not json");
  });

  const bad: [string, Record<string, unknown>, string, RegExp][] = [
    ["member missing", { member: undefined }, "boreal:member", /set boreal:member/],
    ["member with capitals", { member: "Coop_A" }, "boreal:member", /DNS-safe name/],
    ["node too long", { node: "n".repeat(40) }, "boreal:node", /DNS-safe name/],
    ["ssh missing", { ssh: undefined }, "boreal:ssh", /pulumi config set --path boreal:ssh/],
    ["ssh host missing", { ssh: { ...ssh, host: undefined } }, "boreal:ssh.host", /boreal:ssh.host/],
    ["ssh port out of range", { ssh: { ...ssh, port: 70000 } }, "boreal:ssh.port", /between 1 and 65535/],
    ["ssh port not a number", { ssh: { ...ssh, port: "twenty-two" } }, "boreal:ssh.port", /port number/],
    ["private key missing", { ssh: { ...ssh, privateKey: undefined } }, "boreal:ssh.privateKey", /--secret --path boreal:ssh.privateKey/],
    ["private key given as a path", { ssh: { ...ssh, privateKey: "~/.ssh/id_ed25519" } }, "boreal:ssh.privateKey", /< ~\/.ssh\/id_ed25519/],
    ["host key missing", { ssh: { ...ssh, hostKey: undefined } }, "boreal:ssh.hostKey", /ssh_host_ed25519_key.pub/],
    ["host key is a fingerprint", { ssh: { ...ssh, hostKey: "SHA256:abcdef" } }, "boreal:ssh.hostKey", /ssh_host_ed25519_key.pub/],
    ["unknown ssh field", { ssh: { ...ssh, passwd: "x" } }, "boreal:ssh", /remove passwd/],
    ["endpoint without port", { endpoint: "198.51.100.12" }, "boreal:endpoint", /host:port/],
    ["endpoint with bad port", { endpoint: "198.51.100.12:99999" }, "boreal:endpoint", /host:port/],
    ["IPv6 endpoint without brackets", { endpoint: "2001:db8::1:51820" }, "boreal:endpoint", /\[addr\]:port/],
    ["registry missing", { registry: undefined }, "boreal:registry", /pulumi config set boreal:registry/],
    ["trust missing", { trust: undefined }, "boreal:trust", /must pin the federation version it trusts first — run `npx boreal registry check/],
    ["trust without its version", { trust: "a".repeat(64) }, "boreal:trust", /is not "<version>:<sha256>" — copy the pin `boreal registry check` prints/],
    ["trust with a short hash", { trust: "1:abc" }, "boreal:trust", /<version>:<sha256>.*64 hex digits/],
    ["trust in capitals", { trust: `1:${"A".repeat(64)}` }, "boreal:trust", /<version>:<sha256>/],
    ["signing key file empty", { signingKeyFile: "" }, "boreal:signingKeyFile", /is empty — set it to the member's ed25519 key/],
    ["signing key given as a path", { signingKeyFile: undefined, signingKey: "~/.ssh/boreal_coop_b" }, "boreal:signingKey", /not an OpenSSH private key .* — pulumi config set --secret boreal:signingKey </],
    ["signing key in PEM form", { signingKeyFile: undefined, signingKey: "-----BEGIN PRIVATE KEY-----\nMC4CAQ==\n-----END PRIVATE KEY-----\n" }, "boreal:signingKey", /not an OpenSSH private key/],
    ["publish not a remote name", { publish: "git@forge:coop/registry.git; rm -rf /" }, "boreal:publish", /not a git remote name — set it to a remote of the registry clone/],
    ["sync interval below 5 s", { syncInterval: 4 }, "boreal:syncInterval", /below 5 seconds — set it between 5 and 3600/],
    ["sync interval above an hour", { syncInterval: 3601 }, "boreal:syncInterval", /above an hour — set it between 5 and 3600/],
    ["sync interval fractional", { syncInterval: 7.5 }, "boreal:syncInterval", /whole number of seconds/],
    ["sync interval a word", { syncInterval: "often" }, "boreal:syncInterval", /must be a number of seconds/],
    ["zones missing", { zones: undefined }, "boreal:zones", /zones\[0\]/],
    ["zones empty", { zones: [] }, "boreal:zones", /add the member's zone/],
    ["zone name invalid", { zones: ["coop a.example."] }, "boreal:zones[0]", /letters, digits and hyphens/],
    ["zone listed twice", { zones: ["a.example.", "a.example"] }, "boreal:zones", /keep each zone once/],
    ["mesh override not an address", { meshAddress: { ipv4: "100.64.0.300" } }, "boreal:meshAddress.ipv4", /100.64.0.1/],
    ["mesh override IPv6 malformed", { meshAddress: { ipv6: "fd42::g" } }, "boreal:meshAddress.ipv6", /fd42:b0:ea1::1/],
    ["listen port zero", { listenPort: 0 }, "boreal:listenPort", /between 1 and 65535/],
    ["mtu too small", { mtu: 1000 }, "boreal:mtu", /between 1280 and 9000/],
    ["mtu fractional", { mtu: 1420.5 }, "boreal:mtu", /between 1280 and 9000/],
    ["firewall as a word", { firewall: "yes" }, "boreal:firewall", /boreal:firewall true/],
    ["negative key epoch", { keyEpoch: -1 }, "boreal:keyEpoch", /bump it/],
    ["key epoch fractional", { keyEpoch: 1.5 }, "boreal:keyEpoch", /bump it/],
  ];
  test.each(bad)("refuses %s, naming the key and the fix", (_label, overrides, key, fix) => {
    const problems = problemsOf(rawStackConfig("b1", overrides));
    const problem = problems.find((p) => p.key === key);
    expect(problem, JSON.stringify(problems)).toBeDefined();
    expect(problem!.source).toBe("stack config");
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(fix);
  });

  test("an unknown boreal: key is refused with the list of known keys", () => {
    const problems = problemsOf({ ...rawStackConfig("b1"), "boreal:zone": "x.example." });
    expect(problems[0]).toMatchObject({ key: "boreal:zone", message: "unknown key" });
    expect(problems[0].fix).toMatch(/pulumi config rm boreal:zone.*boreal:zones/);
  });

  test("other namespaces are left alone", () => {
    expect(() => parseStackConfig({ ...rawStackConfig("b1"), "aws:region": "ca-central-1" })).not.toThrow();
  });

  test("every problem is reported at once, and the message has no stack trace", () => {
    try {
      parseStackConfig(rawStackConfig("b1", { member: "BAD", mtu: 1, endpoint: "nowhere" }));
      expect.unreachable();
    } catch (error) {
      const e = error as BorealConfigError;
      expect(e.problems.map((p) => p.key)).toEqual(["boreal:endpoint", "boreal:member", "boreal:mtu"]);
      expect(e.message).toMatch(/^boreal-kit found 3 problems in its input:/);
      expect(e.message).not.toMatch(/\bat .*\.ts:\d+/);
      expect(e.message).not.toContain(FIXTURE_PRIVATE_KEY);
    }
  });
});

describe("the example stack in stacks/", () => {
  test("is valid once the secrets (SSH key, and the signing key if not a file) are added", async () => {
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { parse } = await import("yaml");
    const example = parse(readFileSync(join(__dirname, "..", "..", "stacks", "Pulumi.example.yaml"), "utf8")).config as Record<string, unknown>;
    const raw = Object.fromEntries(Object.entries(example).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    const ssh = JSON.parse(raw["boreal:ssh"]);
    raw["boreal:ssh"] = JSON.stringify({ ...ssh, privateKey: FIXTURE_PRIVATE_KEY });
    if (raw["boreal:signingKeyFile"] === undefined) raw["boreal:signingKey"] = FIXTURE_PRIVATE_KEY;
    expect(parseStackConfig(raw)).toMatchObject({ member: "coop-a", node: "a1", zones: ["coop-a.example."] });
  });
});
