// The policy pack's pure layer: which rules it enforces, the facts the program states,
// and the checks that read files and inputs (src/policy).
import { describe, expect, test } from "vitest";
import { RULES } from "../../src/core/label/rules";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { keysInResource, PlannedResource, resolversInResource, undeclaredOpenings } from "../../src/core/policy/checks";
import { knotFacts, stateFacts } from "../../src/core/policy/facts";
import { planRules } from "../../src/core/policy/rules";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";
import { KNOT_CONF } from "../../src/core/node/layout";

describe("the rules the pack enforces", () => {
  test("every rule with a plan check, by the rule set's id and level", () => {
    expect(planRules().map((r) => `${r.id}:${r.level}`)).toEqual(
      RULES.filter((r) => r.checks.some((c) => c.at === "plan")).map((r) => `${r.id}:${r.level}`),
    );
    expect(planRules().map((r) => r.id)).toContain("keys-stay-on-node");
    expect(planRules().map((r) => r.id)).not.toContain("time-synchronised");
  });

  test("a plan rule without a check, or a check for no plan rule, stops the pack", () => {
    const checks = Object.fromEntries(planRules().map((r) => [r.id, {}]));
    const { "dnssec-valid": _, ...missing } = checks;
    expect(() => planRules(RULES, missing)).toThrow(/no check for dnssec-valid; checks for no plan rule: -/);
    expect(() => planRules(RULES, { ...checks, "time-synchronised": {} })).toThrow(/checks for no plan rule: time-synchronised/);
  });
});

describe("state facts, found where the CLI looks", () => {
  const project = "name: boreal-kit\nbackend:\n  url: file://~/.boreal-kit/state\n";
  const passphraseStack = "encryptionsalt: v1:abc\nconfig: {}\n";
  const base = { projectYaml: project, stackYaml: passphraseStack, passphraseEmpty: false };

  test("PULUMI_BACKEND_URL wins over Pulumi.yaml's backend, which wins over the login", () => {
    const credentialsJson = JSON.stringify({ current: "https://api.pulumi.com" });
    // The CLI keeps the state where the environment says, whatever Pulumi.yaml says: so is it judged.
    expect(stateFacts({ ...base, backendUrlEnv: "https://api.pulumi.com", credentialsJson })).toEqual({
      backend: "https://api.pulumi.com",
      secrets: "passphrase",
    });
    expect(stateFacts({ ...base, credentialsJson })).toEqual({ backend: "file://~/.boreal-kit/state", secrets: "passphrase" });
    expect(
      stateFacts({ ...base, projectYaml: "name: x\n", backendUrlEnv: "s3://coop-state?endpoint=s3.coop.example", credentialsJson }).backend,
    ).toBe("s3://coop-state");
    expect(stateFacts({ ...base, projectYaml: "name: x\n", credentialsJson }).backend).toBe("https://api.pulumi.com");
    expect(stateFacts({ ...base, projectYaml: "name: x\n" }).backend).toBe("https://api.pulumi.com");
  });

  test("secrets: a passphrase (empty or not), a KMS key, or the service's keys", () => {
    expect(stateFacts({ ...base, passphraseEmpty: true }).secrets).toBe("empty passphrase");
    expect(stateFacts({ ...base, stackYaml: "secretsprovider: hashivault://boreal?token=s3cr3t\nencryptedkey: abc\n" }).secrets).toBe(
      "hashivault://boreal",
    );
    expect(stateFacts({ ...base, projectYaml: "name: x\n", stackYaml: "config: {}\n" }).secrets).toBe("service");
    expect(stateFacts({ ...base, stackYaml: "secretsprovider: default\n" }).secrets).toBe("service");
    expect(stateFacts({ ...base, stackYaml: undefined }).secrets).toBe("unknown");
  });
});

describe("Knot facts, read off the knot.conf the agent renders", () => {
  const nodePlan = plan(fixtureSpec("a1"), fixtureFederation());
  const knotConf = renderNode(nodePlan, templates).find((f) => f.path === KNOT_CONF)!.content;
  const facts = (text: string) => knotFacts(text, ["coop-a.example."], [nodePlan.federation.meshIpv4, nodePlan.federation.meshIpv6]);

  test("the kit's own: every primary zone signed, transfers with the peers' mesh addresses only", () => {
    expect(facts(knotConf)).toEqual({ signed: [{ zone: "coop-a.example.", dnssecSigning: true }], transfersBeyondMesh: [] });
  });

  test("signing off in the template or the zone, a remote off the mesh, an acl, automatic-acl off", () => {
    expect(facts(knotConf.replace("dnssec-signing: on", "dnssec-signing: off")).signed).toEqual([
      { zone: "coop-a.example.", dnssecSigning: false },
    ]);
    expect(facts(knotConf.replace("template: own-member", "template: own-member\n    dnssec-signing: off")).signed[0].dnssecSigning).toBe(
      false,
    );
    expect(facts(knotConf.replace("address: 100.64.0.17@53", "address: 198.51.100.12@53")).transfersBeyondMesh).toEqual([
      "remote peer-b1: 198.51.100.12",
    ]);
    expect(facts(knotConf.replace("policy:\n", "acl:\n  - id: anyone\n    action: transfer\n\npolicy:\n")).transfersBeyondMesh).toEqual([
      "acl anyone: any address",
    ]);
    expect(facts(knotConf.replace("automatic-acl: on", "automatic-acl: off")).transfersBeyondMesh).toEqual(["automatic-acl is off"]);
  });
});

describe("the checks that read files and inputs", () => {
  const resource = (props: Record<string, unknown>, type = "command:remote:Command"): PlannedResource => ({
    type,
    name: "b1-thing",
    urn: "urn:thing",
    props,
  });

  test("nftables: only SSH, WireGuard, DNS, the mesh and the member's allow list are open", () => {
    const ports = { ssh: 22, wireguard: 51820 };
    const nft = [
      "ct state established,related accept",
      'iif "lo" accept',
      "meta l4proto { 1, 58 } accept",
      'tcp dport 22 accept comment "SSH"',
      'udp dport 51820 accept comment "WireGuard"',
      'udp dport 53 accept comment "DNS"',
      'tcp dport 53 accept comment "DNS"',
      'iifname "wg0" tcp dport 9100 accept comment "node exporter"',
      'tcp dport 443 accept comment "allow: tcp/443"',
    ];
    expect(undeclaredOpenings(nft.join("\n"), ports)).toEqual([]);
    expect(
      undeclaredOpenings([...nft, 'tcp dport 9100 accept comment "node exporter"', "tcp dport 2222 accept"].join("\n"), ports),
    ).toEqual(['tcp dport 9100 accept comment "node exporter"', "tcp dport 2222 accept"]);
    expect(undeclaredOpenings(nft.join("\n"), { ssh: 2222, wireguard: 51820 })).toEqual(['tcp dport 22 accept comment "SSH"']);
  });

  test("private keys: PEM, OpenSSH and WireGuard ones anywhere but the operator's connection key; keys made off the node", () => {
    const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n";
    expect(keysInResource(resource({ connection: { privateKey: pem }, create: "wg pubkey < /etc/wireguard/private.key" }))).toEqual([]);
    expect(keysInResource(resource({ stdin: `[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n` }))).toEqual([
      expect.stringMatching(/^stdin holds a WireGuard private key/),
    ]);
    expect(keysInResource(resource({ environment: { KEY: pem } }))).toEqual([
      expect.stringMatching(/^environment\.KEY holds a PEM or OpenSSH private key/),
    ]);
    // A public key is not a private one.
    expect(keysInResource(resource({ stdin: "PublicKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n" }))).toEqual([]);
    expect(keysInResource(resource({ create: "wg genkey | tee key" }, "command:local:Command"))).toEqual([
      expect.stringMatching(/makes a key on the member's machine/),
    ]);
    expect(keysInResource(resource({ create: "set -eu\nwg genkey > /etc/wireguard/private.key.new" }))).toEqual([]);
  });

  test("public resolvers: addresses and DoH names, not longer addresses that contain them", () => {
    expect(resolversInResource(resource({ stdin: "nameserver 1.1.1.1\n" }))).toEqual(["stdin names the public resolver 1.1.1.1"]);
    expect(resolversInResource(resource({ stdin: "DNS=[2620:fe::fe]:53" }))).toEqual(["stdin names the public resolver 2620:fe::fe"]);
    expect(resolversInResource(resource({ stdin: "url: https://dns.google/dns-query" }))).toEqual([
      "stdin names the public resolver dns.google",
    ]);
    expect(resolversInResource(resource({ stdin: "target: 11.1.1.1 and 1.1.1.10 and 2620:fe::fe1 and dns.google.example" }))).toEqual([]);
  });
});
