import { describe, expect, test } from "vitest";
import { z } from "zod";
import { BorealConfigError, problemsFromZod } from "../../src/core/values/problems";
import { decodeConfigValue, parseStackConfig, planSpecSchema, splitPrivateKey } from "../../src/core/spec/stack";
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
    const spec = parseStackConfig(
      rawStackConfig("b1", {
        keyEpoch: undefined,
        ssh: { host: "198.51.100.12", privateKey: FIXTURE_PRIVATE_KEY, hostKey: `${FIXTURE_HOST_KEY} root@b1` },
      }),
    );
    expect(spec.ssh.port).toBe(22);
    expect(spec.ssh.user).toBe("root");
    expect(spec.ssh.hostKey).toBe(FIXTURE_HOST_KEY); // the comment is dropped
    expect(spec.firewall).toEqual({ enabled: true, allow: [], policy: "strict" });
    expect(spec.keyEpoch).toBe(0);
    expect(spec.zones).toEqual(["coop-b.example.", "b-mail.example."]);
    expect(spec.trust).toBe(fixtureTrust());
    expect(spec.signingKeyFile).toBe(FIXTURE_KEYS["coop-b"]);
    expect(spec.signingKey).toBeUndefined();
    expect(spec.publish).toBeUndefined();
    expect(spec.syncInterval).toBe(300);
    expect(spec.attestInterval).toBe(900);
    expect(spec.delegationCheckInterval).toBe(300);
  });

  test("the signing key may be given as a secret instead of a file, and is split off with the SSH key", () => {
    const spec = parseStackConfig(
      rawStackConfig("b1", { signingKeyFile: undefined, signingKey: FIXTURE_PRIVATE_KEY, publish: "origin", syncInterval: 5 }),
    );
    expect(spec).toMatchObject({ signingKey: FIXTURE_PRIVATE_KEY, publish: "origin", syncInterval: 5 });
    expect(spec.signingKeyFile).toBeUndefined();
    const split = splitPrivateKey(spec);
    expect(split.privateKey).toBe(FIXTURE_PRIVATE_KEY);
    expect(split.signingKey).toBe(FIXTURE_PRIVATE_KEY);
    expect(JSON.stringify(split.spec)).not.toContain("PRIVATE KEY");
    // A .pub whose private half is in ssh-agent is a key file too.
    expect(parseStackConfig(rawStackConfig("b1", { signingKeyFile: `${FIXTURE_KEYS["coop-b"]}.pub` })).signingKeyFile).toMatch(
      /coop-b\.pub$/,
    );
  });

  test("exactly one signing key: none, or both, is refused with the way to set one", () => {
    const none = problemsOf(rawStackConfig("b1", { signingKeyFile: undefined }));
    expect(none).toEqual([
      {
        source: "stack config",
        key: "boreal:signingKeyFile",
        message: "no signing key: the node's descriptor must be signed by its member",
        fix: expect.stringMatching(
          /set exactly one: pulumi config set boreal:signingKeyFile .* or pulumi config set --secret boreal:signingKey < key/,
        ),
      },
    ]);
    const both = problemsOf(rawStackConfig("b1", { signingKey: FIXTURE_PRIVATE_KEY }));
    expect(both).toEqual([
      expect.objectContaining({
        key: "boreal:signingKeyFile",
        message: "both boreal:signingKey and boreal:signingKeyFile are set",
        fix: expect.stringMatching(/set exactly one/),
      }),
    ]);
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
    [
      "trust missing",
      { trust: undefined },
      "boreal:trust",
      /must pin the federation version it trusts first — run `npm run -s boreal -- registry check/,
    ],
    [
      "trust without its version",
      { trust: "a".repeat(64) },
      "boreal:trust",
      /is not "<version>:<sha256>" — copy the pin `boreal registry check` prints/,
    ],
    ["trust with a short hash", { trust: "1:abc" }, "boreal:trust", /<version>:<sha256>.*64 hex digits/],
    ["trust in capitals", { trust: `1:${"A".repeat(64)}` }, "boreal:trust", /<version>:<sha256>/],
    ["signing key file empty", { signingKeyFile: "" }, "boreal:signingKeyFile", /is empty — set it to the member's ed25519 key/],
    [
      "signing key given as a path",
      { signingKeyFile: undefined, signingKey: "~/.ssh/boreal_coop_b" },
      "boreal:signingKey",
      /not an OpenSSH private key .* — pulumi config set --secret boreal:signingKey </,
    ],
    [
      "signing key in PEM form",
      { signingKeyFile: undefined, signingKey: "-----BEGIN PRIVATE KEY-----\nMC4CAQ==\n-----END PRIVATE KEY-----\n" },
      "boreal:signingKey",
      /not an OpenSSH private key/,
    ],
    [
      "publish not a remote name",
      { publish: "git@forge:coop/registry.git; rm -rf /" },
      "boreal:publish",
      /not a git remote name — set it to a remote of the registry clone/,
    ],
    ["sync interval below 5 s", { syncInterval: 4 }, "boreal:syncInterval", /below 5 seconds — set it between 5 and 3600/],
    ["sync interval above an hour", { syncInterval: 3601 }, "boreal:syncInterval", /above an hour — set it between 5 and 3600/],
    ["sync interval fractional", { syncInterval: 7.5 }, "boreal:syncInterval", /whole number of seconds/],
    ["sync interval a word", { syncInterval: "often" }, "boreal:syncInterval", /must be a number of seconds/],
    ["attest interval below 10 s", { attestInterval: 9 }, "boreal:attestInterval", /below 10 seconds — set it between 10 and 21600/],
    ["attest interval above 6 hours", { attestInterval: 21601 }, "boreal:attestInterval", /above 6 hours — set it between 10 and 21600/],
    ["attest interval a word", { attestInterval: "hourly" }, "boreal:attestInterval", /must be a number of seconds/],
    [
      "delegation check interval below 10 s",
      { delegationCheckInterval: 9 },
      "boreal:delegationCheckInterval",
      /below 10 seconds — set it between 10 and 3600 \(300 by default\)/,
    ],
    [
      "delegation check interval above an hour",
      { delegationCheckInterval: 3601 },
      "boreal:delegationCheckInterval",
      /above an hour — set it between 10 and 3600 \(300 by default\)/,
    ],
    [
      "delegation check interval fractional",
      { delegationCheckInterval: 30.5 },
      "boreal:delegationCheckInterval",
      /whole number of seconds/,
    ],
    [
      "delegation check interval a word",
      { delegationCheckInterval: "often" },
      "boreal:delegationCheckInterval",
      /must be a number of seconds/,
    ],
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

  test("a fix without words of its own names the docs page that lists the fields: config.md for boreal: keys, registry.md for the registry's files", () => {
    const schema = z.strictObject({ mtu: z.number(), name: z.string() });
    const fixes = (keyPrefix: string) => {
      const parsed = schema.safeParse({ mtu: "x", colour: 1 });
      return parsed.success ? [] : problemsFromZod(parsed.error, "somewhere", keyPrefix).map((p) => p.fix);
    };
    expect(fixes("boreal:")).toEqual([
      "correct the value; see docs/reference/config.md",
      "set it; see docs/reference/config.md",
      "remove colour or check its spelling against docs/reference/config.md",
    ]);
    expect(fixes("")).toEqual([
      "correct the value; see docs/reference/registry.md",
      "set it; see docs/reference/registry.md",
      "remove colour or check its spelling against docs/reference/registry.md",
    ]);
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

describe("boreal:firewall", () => {
  const firewallOf = (firewall: unknown) => parseStackConfig(rawStackConfig("b1", { firewall })).firewall;

  test("true and false are kept (the first releases' form) and mean the strict policy with nothing more open", () => {
    expect(firewallOf(true)).toEqual({ enabled: true, allow: [], policy: "strict" });
    expect(firewallOf(false)).toEqual({ enabled: false, allow: [], policy: "strict" });
    expect(firewallOf(undefined)).toEqual({ enabled: true, allow: [], policy: "strict" });
    // As `pulumi config set boreal:firewall false` stores it.
    expect(parseStackConfig({ ...rawStackConfig("b1"), "boreal:firewall": "false" }).firewall.enabled).toBe(false);
  });

  test("the object form: ports, ranges and sources come out canonical", () => {
    const firewall = firewallOf({
      allow: [
        "tcp/443",
        " UDP/51000-51010 ",
        "tcp/8080-8080",
        { port: "tcp/993", from: ["198.51.100.0/24", "2001:DB8:0:0::/48", "203.0.113.7/32", "2001:db8:1::1"], description: "mail (IMAPS)" },
      ],
    });
    expect(firewall).toEqual({
      enabled: true,
      policy: "strict",
      allow: [
        { port: "tcp/443" },
        { port: "udp/51000-51010" },
        { port: "tcp/8080" },
        { port: "tcp/993", from: ["198.51.100.0/24", "2001:db8::/48", "203.0.113.7", "2001:db8:1::1"], description: "mail (IMAPS)" },
      ],
    });
    expect(firewallOf({ policy: "member" })).toEqual({ enabled: true, allow: [], policy: "member" });
    // Off, the list is kept for when it is turned on again.
    expect(firewallOf({ enabled: false, allow: ["tcp/443"] })).toEqual({ enabled: false, allow: [{ port: "tcp/443" }], policy: "strict" });
  });

  test("the canonical form parses again to itself (the node's agent reads the spec back from JSON)", () => {
    const { spec } = splitPrivateKey(
      parseStackConfig(rawStackConfig("b1", { firewall: { allow: ["tcp/443", { port: "udp/500", from: ["2001:DB8::/32"] }] } })),
    );
    const { registry: _registry, trust: _trust, signingKeyFile: _file, publish: _publish, ...own } = spec;
    expect(planSpecSchema.parse(JSON.parse(JSON.stringify(own))).firewall).toEqual(own.firewall);
  });

  const allow = (...entries: unknown[]) => ({ allow: entries });
  const bad: [string, unknown, string, RegExp][] = [
    [
      "enabled not a boolean",
      { enabled: "yes" },
      "boreal:firewall.enabled",
      /must be true or false — pulumi config set --path boreal:firewall.enabled true/,
    ],
    [
      "allow not a list",
      { allow: "tcp/443" },
      "boreal:firewall.allow",
      /must be a list of ports — pulumi config set --path 'boreal:firewall.allow\[0\]' tcp\/443/,
    ],
    [
      "an entry neither a port nor an object",
      allow("tcp/80", "tcp/443", true),
      "boreal:firewall.allow[2]",
      /must be a port or an object — write it as "tcp\/443", "udp\/51000-51010", or \{ port/,
    ],
    ["a bare port number", allow(443), "boreal:firewall.allow[0]", /443 names no protocol — write it as "tcp\/443" or "udp\/443"/],
    [
      "a service name",
      allow("tcp/80", "https"),
      "boreal:firewall.allow[1]",
      /"https" is not a port — write "tcp\/PORT" or "udp\/FIRST-LAST"/,
    ],
    ["an unknown protocol", allow("sctp/5060"), "boreal:firewall.allow[0]", /"sctp\/5060" is not a port/],
    ["port zero", allow("tcp/0"), "boreal:firewall.allow[0]", /port 0 is outside 1-65535 — use ports between 1 and 65535/],
    ["a port above 65535", allow("udp/60000-70000"), "boreal:firewall.allow[0]", /port 70000 is outside 1-65535/],
    [
      "a range written backwards",
      allow("udp/51010-51000"),
      "boreal:firewall.allow[0]",
      /"udp\/51010-51000" runs backwards — write the lower port first: udp\/51000-51010/,
    ],
    [
      "the exporter's port",
      allow("tcp/80", "tcp/443", "tcp/9100"),
      "boreal:firewall.allow[2]",
      /tcp\/9100 is the node exporter port, which only the mesh \(wg0\) may reach — remove it/,
    ],
    [
      "a range over the exporter's port",
      allow("tcp/9095-9200"),
      "boreal:firewall.allow[0]",
      /includes tcp\/9100 \(node exporter\), which only the mesh \(wg0\) may reach — leave it out of the range: tcp\/9095-9099 and tcp\/9101-9200/,
    ],
    ["Prometheus's port", allow("tcp/9090"), "boreal:firewall.allow[0]", /tcp\/9090 is the Prometheus port, which only the mesh/],
    [
      "a range over every mesh-only port",
      allow("tcp/9000-9200"),
      "boreal:firewall.allow[0]",
      /includes tcp\/9090 \(Prometheus\), tcp\/9093 \(Alertmanager\), tcp\/9100 \(node exporter\), which only the mesh \(wg0\) may reach — leave them out of the range: tcp\/9000-9089, tcp\/9091-9092, tcp\/9094-9099 and tcp\/9101-9200/,
    ],
    [
      "the same port twice",
      allow("tcp/443", "tcp/80", { port: "TCP/443", from: ["198.51.100.0/24"] }),
      "boreal:firewall.allow[2]",
      /tcp\/443 is already opened by boreal:firewall.allow\[0\] — keep one entry per port: list all its sources in that entry's from/,
    ],
    [
      "overlapping ranges",
      allow("tcp/8000-8100", "tcp/8080"),
      "boreal:firewall.allow[1]",
      /tcp\/8080 overlaps tcp\/8000-8100 of boreal:firewall.allow\[0\] — keep each port in one entry/,
    ],
    [
      "an object without a port",
      allow({ from: ["198.51.100.0/24"] }),
      "boreal:firewall.allow[0].port",
      /has no port — set it, e.g. port: "tcp\/993"/,
    ],
    ["an object with a bare port number", allow({ port: 993 }), "boreal:firewall.allow[0].port", /993 names no protocol/],
    [
      "an unknown field in an entry",
      allow({ port: "tcp/993", source: ["198.51.100.0/24"] }),
      "boreal:firewall.allow[0]",
      /unknown field\(s\) source — remove source/,
    ],
    [
      "from not a list",
      allow({ port: "tcp/993", from: "198.51.100.0/24" }),
      "boreal:firewall.allow[0].from",
      /from must be a list of addresses or prefixes — write e.g. from: \["198.51.100.0\/24"/,
    ],
    [
      "from empty",
      allow({ port: "tcp/993", from: [] }),
      "boreal:firewall.allow[0].from",
      /lists no source — remove from to open the port to every address/,
    ],
    [
      "a source that is no address",
      allow({ port: "tcp/993", from: ["mail.coop-b.example"] }),
      "boreal:firewall.allow[0].from[0]",
      /"mail.coop-b.example" is not an IPv4 or IPv6 address or prefix — write e.g. "198.51.100.0\/24"/,
    ],
    [
      "a source with a bad length",
      allow({ port: "tcp/993", from: ["198.51.100.0/33"] }),
      "boreal:firewall.allow[0].from[0]",
      /"\/33" is not an IPv4 prefix length — use a length between 0 and 32/,
    ],
    [
      "a source with host bits",
      allow({ port: "tcp/993", from: ["198.51.100.0/24", "2001:db8::1/32"] }),
      "boreal:firewall.allow[0].from[1]",
      /2001:db8::1\/32 has host bits set — write the network, 2001:db8::\/32, or the one address 2001:db8::1/,
    ],
    [
      "an IPv4-mapped source",
      allow({ port: "tcp/993", from: ["::ffff:198.51.100.7"] }),
      "boreal:firewall.allow[0].from[0]",
      /IPv4 address written as IPv6 — write the IPv4 address/,
    ],
    [
      "a source twice",
      allow({ port: "tcp/993", from: ["198.51.100.7", "198.51.100.7/32"] }),
      "boreal:firewall.allow[0].from[1]",
      /lists 198.51.100.7 twice \(also from\[0\]\) — keep it once/,
    ],
    [
      "overlapping sources",
      allow({ port: "tcp/993", from: ["198.51.100.0/24", "198.51.100.7"] }),
      "boreal:firewall.allow[0].from[1]",
      /198.51.100.7 overlaps 198.51.100.0\/24 \(from\[0\]\) — keep the wider prefix only/,
    ],
    [
      "a description with quotes",
      allow({ port: "tcp/993", description: 'the "mail" box' }),
      "boreal:firewall.allow[0].description",
      /without quotes, backslashes or line breaks — e.g. description: "mail \(IMAPS\)"/,
    ],
    [
      "a description too long",
      allow({ port: "tcp/993", description: "x".repeat(65) }),
      "boreal:firewall.allow[0].description",
      /1 to 64 characters/,
    ],
    ["an unknown policy", { policy: "open" }, "boreal:firewall.policy", /must be "strict" or "member" — set "strict" \(the default/],
    [
      "allow with policy member",
      { policy: "member", allow: ["tcp/443"] },
      "boreal:firewall.allow",
      /has no effect with policy "member".* — open these ports in your own table, or set boreal:firewall.policy to "strict"/,
    ],
    ["an unknown field", { allowed: ["tcp/443"] }, "boreal:firewall", /unknown field\(s\) allowed — remove allowed/],
  ];
  test.each(bad)("refuses %s, naming the key and the fix", (_label, firewall, key, expected) => {
    const problems = problemsOf(rawStackConfig("b1", { firewall }));
    const problem = problems.find((p) => p.key === key);
    expect(problem, JSON.stringify(problems)).toBeDefined();
    expect(problem!.source).toBe("stack config");
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(expected);
  });

  test("every bad entry is reported at once, each at its own key", () => {
    const problems = problemsOf(
      rawStackConfig("b1", { firewall: allow("tcp/80", 443, "tcp/9100", { port: "tcp/993", from: ["nowhere"] }) }),
    );
    expect(problems.map((p) => p.key)).toEqual([
      "boreal:firewall.allow[1]",
      "boreal:firewall.allow[2]",
      "boreal:firewall.allow[3].from[0]",
    ]);
  });
});

describe("boreal:alerts", () => {
  test("none by default: alerts go nowhere", () => {
    expect(parseStackConfig(rawStackConfig("b1")).alerts).toEqual({});
  });

  test("a webhook and a mail relay are accepted; STARTTLS is required unless said otherwise", () => {
    const alerts = {
      webhook: { url: "https://hooks.coop-b.example/alerts" },
      email: { to: "ops@coop-b.example", from: "b1@coop-b.example", smarthost: "mail.coop-b.example:587" },
    };
    expect(parseStackConfig(rawStackConfig("b1", { alerts })).alerts).toEqual({ ...alerts, email: { ...alerts.email, requireTls: true } });
  });

  const bad: [string, unknown, string, RegExp][] = [
    [
      "a webhook that is not a URL",
      { webhook: { url: "hooks.coop-b.example" } },
      "boreal:alerts.webhook.url",
      /is not an http\(s\) URL — write the full URL, e\.g\. https:/,
    ],
    ["a webhook on another scheme", { webhook: { url: "ftp://x.example/a" } }, "boreal:alerts.webhook.url", /is not an http\(s\) URL/],
    [
      "a recipient that is no address",
      { email: { to: "ops", from: "b1@coop-b.example", smarthost: "mail.coop-b.example:587" } },
      "boreal:alerts.email.to",
      /is not an e-mail address — write one address/,
    ],
    [
      "a relay without its port",
      { email: { to: "ops@coop-b.example", from: "b1@coop-b.example", smarthost: "mail.coop-b.example" } },
      "boreal:alerts.email.smarthost",
      /is not "host:port" — write the relay and its port/,
    ],
    [
      "a missing sender",
      { email: { to: "ops@coop-b.example", smarthost: "mail.coop-b.example:25" } },
      "boreal:alerts.email.from",
      /is missing — set it/,
    ],
    ["an unknown receiver", { slack: { url: "https://hooks.slack.example/x" } }, "boreal:alerts", /unknown field\(s\) slack/],
  ];
  test.each(bad)("refuses %s, naming the key and the fix", (_label, alerts, key, expected) => {
    const problems = problemsOf(rawStackConfig("b1", { alerts }));
    const problem = problems.find((p) => p.key === key);
    expect(problem, JSON.stringify(problems)).toBeDefined();
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(expected);
  });
});

describe("the example stack in stacks/", () => {
  test("is valid once the secrets (SSH key, and the signing key if not a file) are added", async () => {
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { parse } = await import("yaml");
    const example = parse(readFileSync(join(__dirname, "..", "..", "stacks", "Pulumi.example.yaml"), "utf8")).config as Record<
      string,
      unknown
    >;
    const raw = Object.fromEntries(Object.entries(example).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    const ssh = JSON.parse(raw["boreal:ssh"]);
    raw["boreal:ssh"] = JSON.stringify({ ...ssh, privateKey: FIXTURE_PRIVATE_KEY });
    if (raw["boreal:signingKeyFile"] === undefined) raw["boreal:signingKey"] = FIXTURE_PRIVATE_KEY;
    expect(parseStackConfig(raw)).toMatchObject({
      member: "coop-a",
      node: "a1",
      zones: ["coop-a.example."],
      firewall: { enabled: true, policy: "strict", allow: expect.arrayContaining([{ port: "tcp/443" }]) },
    });
  });
});

describe("the member's own records (boreal:records, boreal:zoneFiles)", () => {
  const key = (zone: string, rest = "") => `boreal:records["${zone}"]${rest}`;

  test("inline records by zone, as a list or one text; zone keys stored as zones are", () => {
    const spec = parseStackConfig(
      rawStackConfig("b1", {
        records: { "Coop-B.example": ["www 300 A 203.0.113.80", "@ MX 10 mail"], "b-mail.example.": "@ MX 10 mx\nmx A 203.0.113.25\n" },
      }),
    );
    expect(spec.records).toEqual({
      "coop-b.example.": ["www 300 A 203.0.113.80", "@ MX 10 mail"],
      "b-mail.example.": "@ MX 10 mx\nmx A 203.0.113.25\n",
    });
    expect(parseStackConfig(rawStackConfig("b1", { zoneFiles: { "coop-b.example.": "zones/coop-b.example.zone" } })).zoneFiles).toEqual({
      "coop-b.example.": "zones/coop-b.example.zone",
    });
    // The agent's spec has no zone files: they are read into records before it is written.
    expect(Object.keys(planSpecSchema.shape)).toContain("records");
    expect(Object.keys(planSpecSchema.shape)).not.toContain("zoneFiles");
  });

  test("a bad record is refused at its entry, with the reason and the fix", () => {
    const problems = problemsOf(
      rawStackConfig("b1", {
        records: { "coop-b.example.": ["www A 203.0.113.80", "@ NS ns1.old-host.example.", "www CNAME elsewhere.example."] },
      }),
    );
    expect(problems).toEqual([
      {
        source: "stack config",
        key: key("coop-b.example.", "[1]"),
        message: "the kit writes the NS records of coop-b.example. (every node of the federation): a member's apex NS is refused",
        fix: "remove the apex NS records; an NS below the apex (a delegation to a subzone) is fine",
      },
      {
        source: "stack config",
        key: key("coop-b.example.", "[2]"),
        message: "www.coop-b.example. has A and CNAME records: a CNAME must be alone at its name (the first in entry [0])",
        fix: expect.stringMatching(/keep either the CNAME or the other records/),
      },
    ]);
  });

  test.each([
    [
      "records for a zone the node does not serve",
      { records: { "coop-a.example.": ["www A 192.0.2.1"] } },
      key("coop-a.example."),
      /zone coop-a.example. is not one of this node's zones \(boreal:zones: coop-b.example., b-mail.example.\) — add the zone to boreal:zones/,
    ],
    [
      "a zone file for a zone the node does not serve",
      { zoneFiles: { "other.example.": "z" } },
      'boreal:zoneFiles["other.example."]',
      /is not one of this node's zones/,
    ],
    [
      "both routes for one zone",
      { records: { "coop-b.example.": ["www A 192.0.2.1"] }, zoneFiles: { "coop-b.example.": "z" } },
      key("coop-b.example."),
      /has both inline records and a zone file \(boreal:zoneFiles\["coop-b.example."\]\) — give a zone's records one way/,
    ],
    [
      "records that are not an object",
      { records: ["www A 192.0.2.1"] },
      "boreal:records",
      /boreal:records must be an object keyed by zone name — pulumi config set --path 'boreal:records\["coop-a.example."\]\[0\]'/,
    ],
    [
      "a zone's records that are a number",
      { records: { "coop-b.example.": 5 } },
      "boreal:records.coop-b.example.",
      /must be master-file text or a list of records — e.g. \["www 3600 A/,
    ],
    [
      "a key that is no zone name",
      { records: { "not a zone": ["www A 192.0.2.1"] } },
      "boreal:records.not a zone",
      /"not a zone" is not a zone name — key each entry by one of boreal:zones/,
    ],
    [
      "one zone twice",
      { records: { "coop-b.example": [], "coop-b.example.": [] } },
      "boreal:records.coop-b.example.",
      /zone coop-b.example. is given twice — keep one entry per zone/,
    ],
    [
      "an empty zone file path",
      { zoneFiles: { "coop-b.example.": "" } },
      "boreal:zoneFiles.coop-b.example.",
      /is empty — set it to the zone's master file, relative to the project/,
    ],
    // A line that did not parse is named by field and column, never quoted ("ten" is not shown).
    [
      "a bad line of a text",
      { records: { "coop-b.example.": "www A 192.0.2.1\nmail MX ten mail" } },
      key("coop-b.example.", " line 2"),
      /^(?!.*ten)MX data field 1 \(column 9\) is not a number from 0 to 65535 — see the MX format, e\.g\. @ MX 10 mail$/,
    ],
  ])("refuses %s, naming the key and the fix", (_label, overrides, expectedKey, expected) => {
    const problems = problemsOf(rawStackConfig("b1", overrides));
    const problem = problems.find((p) => p.key === expectedKey);
    expect(problem, JSON.stringify(problems)).toBeDefined();
    expect(problem!.source).toBe("stack config");
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(expected);
  });
});
