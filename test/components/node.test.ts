import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { BorealNode } from "../../src/program/components/node";
import type { Federation, NodeDescriptor } from "../../src/core/registry/format";
import { splitPrivateKey } from "../../src/core/spec/stack";
import { MOCK_ATTESTATION_KEY, Recorded, Recorder, settle } from "../helpers/mocks";
import {
  FIXTURE_HOST_KEY,
  FIXTURE_PRIVATE_KEY,
  FIXTURE_REGISTRY,
  fixtureFederation,
  fixturePublicKey,
  fixtureSpec,
} from "../helpers/fixtures";
import { nodeArgs } from "../helpers/node-args";
import { verifySignature, REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import { parseNodeObject } from "../../src/core/registry/format";
import { checkAttestationKeyProof, checkWireguardProof } from "../../src/core/registry/keyproof";
import { PLAN_CHECKS, PlannedResource } from "../../src/core/policy/checks";
import { NODE_TYPE } from "../../src/core/policy/facts";

interface Built {
  recorder: Recorder;
  node: BorealNode;
  outputs: { publicKey: string; descriptorPath: string };
}

async function build(options: { federation?: Federation; overrides?: Record<string, unknown>; node?: "b1" | "d1" } = {}): Promise<Built> {
  const recorder = new Recorder();
  recorder.install();
  const { spec, privateKey } = splitPrivateKey(fixtureSpec(options.node ?? "b1", options.overrides));
  const node = new BorealNode(options.node ?? "b1", nodeArgs(spec, privateKey, options.federation ?? fixtureFederation()), {
    transformations: [recorder.transformation],
  });
  const publicKey = await settle(node.publicKey);
  await recorder.settled();
  return { recorder, node, outputs: { publicKey, descriptorPath: node.descriptorPath } };
}

const commands = (r: Recorder) => r.resources.filter((x) => x.type === "command:remote:Command" || x.type === "command:local:Command");
const remoteCommands = (r: Recorder) => r.resources.filter((x) => x.type === "command:remote:Command");

describe("BorealNode resource graph", () => {
  test("type tokens, child names and parents are stable", async () => {
    const { recorder } = await build();
    const graph = recorder.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? "(stack)"}`);
    expect(graph).toMatchSnapshot();
    for (const r of recorder.resources.filter((x) => x.name !== "b1")) {
      expect(r.name.startsWith(`${r.parent}-`), `${r.name} is named after its parent ${r.parent}`).toBe(true);
    }
  });

  test("order: host ready → key → agent files → agent apply (monitoring's files meanwhile) → monitoring's restart; registration after the mesh, DNS and firewall", async () => {
    const { recorder } = await build();
    expect(recorder.byName("b1-host").parent).toBe("b1");
    expect(recorder.byName("b1-host-packages").dependsOn).toEqual(["b1-host-ssh"]);
    for (const component of ["b1-wireguard", "b1-sync", "b1-firewall"])
      expect(recorder.byName(component).dependsOn).toEqual(["b1-host-packages"]);
    // Monitoring's files are written while the agent runs: after its program and files.
    const agentWritten = recorder.resources.filter((r) => r.parent === "b1-sync" && r.name !== "b1-sync-apply").map((r) => r.name);
    expect([...recorder.byName("b1-monitoring").dependsOn].sort()).toEqual(agentWritten.sort());
    for (const component of ["b1-sync", "b1-monitoring", "b1-firewall"]) {
      const files = recorder.resources.filter((r) => r.parent === component && r.name.includes("-file-")).map((r) => r.name);
      expect(files.length).toBeGreaterThan(0);
      // Monitoring's restart also waits for the agent's run: the exporter listens on wg0's address.
      const extra = component === "b1-monitoring" ? ["b1-sync-apply"] : [];
      expect([...recorder.byName(`${component}-apply`).dependsOn].sort()).toEqual([...files, ...extra].sort());
    }
    // The agent's program and files wait for the key: its first run brings wg0 up with it.
    expect(recorder.byName("b1-sync-program").dependsOn).toEqual(["b1-wireguard-key"]);
    expect([...recorder.byName("b1-sync-file-etc-boreal-agent.json").dependsOn].sort()).toEqual(["b1-sync-program", "b1-wireguard-key"]);
    expect(recorder.byName("b1-sync-apply").dependsOn).not.toContain("b1-sync-program");
    // The farewell nudge is deleted after the tombstone's publication; the announce (a
    // rotation's switch to the new key, then the nudge) follows the descriptor's.
    expect([...recorder.byName("b1-registration").dependsOn].sort()).toEqual(["b1-farewell", "b1-firewall-apply", "b1-sync-apply"]);
    expect(recorder.byName("b1-farewell").dependsOn).toEqual(["b1-sync-apply"]);
    expect(recorder.byName("b1-announce").dependsOn).toEqual(["b1-registration"]);
    const announce = recorder.byName("b1-announce").inputs.create as string;
    expect(announce.indexOf("wg set")).toBeLessThan(announce.indexOf("nudge --federation"));
  });

  test("the peer-dependent files (wg0.conf, knot.conf, zones, probe targets) are the agent's: pulumi up never writes them", async () => {
    const { recorder } = await build();
    const written = recorder.resources.filter((r) => r.name.includes("-file-")).map((r) => r.name);
    expect(written.filter((n) => /wireguard-wg0|knot|blackbox\.yml|boreal-targets/.test(n))).toEqual([]);
    expect(written).toEqual(
      expect.arrayContaining(["b1-monitoring-file-etc-prometheus-prometheus.yml", "b1-monitoring-file-etc-prometheus-alertmanager.yml"]),
    );
    expect(written).toEqual(
      expect.arrayContaining([
        "b1-sync-file-etc-boreal-agent.json",
        "b1-sync-file-var-lib-boreal-seed.json",
        "b1-sync-file-etc-systemd-system-boreal-sync.timer",
      ]),
    );
    const config = JSON.parse(String(recorder.byName("b1-sync-file-etc-boreal-agent.json").inputs.stdin));
    expect(config.spec).toMatchObject({ member: "coop-b", node: "b1", meshAddress: { ipv4: "100.64.0.17", ipv6: "fd42:b0:ea1::11" } });
    // Operator-side settings stay on the operator's machine.
    expect(Object.keys(config.spec)).not.toEqual(expect.arrayContaining(["registry"]));
    expect(JSON.stringify(config)).not.toMatch(/signingKey|publish|keys\//);
    expect(config.trust).toMatch(/^1:[0-9a-f]{64}$/);
  });

  test("every remote connection pins the host key and retries the dial", async () => {
    const { recorder } = await build();
    const remotes = remoteCommands(recorder);
    expect(remotes.length).toBeGreaterThan(15);
    for (const r of remotes) {
      expect(r.inputs.connection).toMatchObject({ host: "198.51.100.12", port: 22, user: "root", hostKey: FIXTURE_HOST_KEY });
      expect(r.inputs.connection.dialErrorLimit).toBeGreaterThan(1);
      // Debian's sshd refuses setenv of PULUMI_COMMAND_*: the provider must not try.
      expect(r.inputs.addPreviousOutputInEnv, r.name).toBe(false);
    }
  });

  test("the SSH private key reaches connections only as a secret", async () => {
    const recorder = new Recorder();
    recorder.install();
    const seen: pulumi.Output<string>[] = [];
    const { spec, privateKey } = splitPrivateKey(fixtureSpec("b1"));
    const node = new BorealNode("b1", nodeArgs(spec, privateKey, fixtureFederation()), {
      transformations: [
        (args) => {
          const connection = args.props.connection as { privateKey?: pulumi.Output<string> } | undefined;
          if (connection?.privateKey) seen.push(connection.privateKey);
          return undefined;
        },
      ],
    });
    await settle(node.publicKey);
    await recorder.settled();
    expect(seen.length).toBeGreaterThan(15);
    for (const key of seen) expect(await pulumi.isSecret(key)).toBe(true);
  });

  test("no private key or passphrase appears in inputs other than the secret connection key", async () => {
    const { recorder } = await build();
    for (const r of commands(recorder)) {
      const { connection, ...rest } = r.inputs;
      const text = JSON.stringify(rest);
      expect(text).not.toContain(FIXTURE_PRIVATE_KEY.split("\n")[1]);
      expect(text).not.toMatch(/PRIVATE KEY|PrivateKey = [A-Za-z0-9+/]{43}=|PULUMI_CONFIG_PASSPHRASE/);
      // The WireGuard private key is only ever referred to by its path on the node.
      expect(text).not.toMatch(/wg genkey\s*\|/);
    }
  });

  test("delegations: per primary zone the NS names with glue, and one SHA-256 DS of the KSK the node serves (not the ZSK)", async () => {
    const { node } = await build();
    const delegations = await settle(node.delegations);
    expect(delegations.map((d) => d.zone)).toEqual(["coop-b.example.", "b-mail.example."]);
    for (const d of delegations) {
      expect(d.ds).toEqual([
        { owner: d.zone, keyTag: 45141, algorithm: 13, digestType: 2, digest: expect.stringMatching(/^[0-9A-F]{64}$/) },
      ]);
      expect(d.nameServers.length).toBeGreaterThanOrEqual(1);
    }
    // The same key under two owners: two digests (the owner name is hashed in).
    expect(delegations[0].ds[0].digest).not.toBe(delegations[1].ds[0].digest);
    expect(delegations[0].nameServers).toMatchSnapshot();
  });

  test("the descriptor carries the node's public key, signed by its member; the tombstone waits in the delete", async () => {
    const { recorder, outputs } = await build();
    expect(outputs.publicKey).toBe(recorder.publicKey);
    const registration = recorder.byName("b1-registration-descriptor");
    const env = registration.inputs.environment as Record<string, string>;
    expect(env).toMatchObject({ NODE: "b1", PUBLISH: "" });
    expect(env.CONTENT).toContain(`publicKey: ${recorder.publicKey}`);
    const parsed = parseNodeObject({ path: "nodes/b1.yaml", content: env.CONTENT });
    expect(parsed.ok && parsed.value.serial).toBeGreaterThan(1_800_000_000);
    const check = verifySignature({ message: env.CONTENT, signature: env.SIGNATURE, namespace: REGISTRY_NAMESPACE });
    expect(check.ok).toBe(true);
    const tombstone = /CONTENT='([^']*)'/.exec(String(registration.inputs.delete))![1];
    expect(tombstone).toMatch(/left: true/);
    expect(Number(/serial: (\d+)/.exec(tombstone)![1])).toBe(Number(/serial: (\d+)/.exec(env.CONTENT)![1]) + 1);
    expect(outputs.descriptorPath).toBe(`${FIXTURE_REGISTRY}/nodes/b1.yaml`);
  });

  test("the WireGuard key's proof is signed on the node by the agent's program, for the key read back, and the descriptor carries it", async () => {
    const { recorder } = await build();
    const proof = recorder.byName("b1-wireguard-proof");
    expect(proof.parent).toBe("b1");
    // The program must be on the node first; the key's own output orders it after the key.
    expect(proof.dependsOn).toContain("b1-sync-program");
    const federation = fixtureFederation().settings.name;
    expect(proof.inputs.create).toBe(
      `set -eu\nnode '/usr/local/lib/boreal-agent.js' prove-wireguard-key --federation '${federation}' --node 'b1' --key '${recorder.publicKey}'`,
    );
    // A new key changes the command: an update, which proves the new key.
    expect(proof.inputs.update).toBe(proof.inputs.create);
    const env = recorder.byName("b1-registration-descriptor").inputs.environment as Record<string, string>;
    const parsed = parseNodeObject({ path: "nodes/b1.yaml", content: env.CONTENT });
    expect(parsed.ok).toBe(true);
    const descriptor = parsed.ok ? (parsed.value as { node: string; publicKey: string; keyProof?: string }) : undefined;
    expect(descriptor?.keyProof).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(checkWireguardProof(descriptor!, federation)).toBeUndefined();
  });

  test("the attestation key is born on the node; only its public half comes back, into the signed descriptor with the declared services", async () => {
    const { recorder } = await build({ overrides: { firewall: { enabled: true, allow: ["tcp/443"], policy: "strict" } } });
    const key = recorder.byName("b1-attestation-key");
    expect(key.parent).toBe("b1");
    expect(key.dependsOn).toEqual(["b1-host-packages"]);
    expect(String(key.inputs.create)).toMatch(/umask 077[\s\S]*ssh-keygen -q -t ed25519 -N '' [^\n]*-f '\/etc\/boreal\/attestation_key'/);
    expect(String(key.inputs.create)).toMatch(/key=\$\(cut -d' ' -f1,2 '\/etc\/boreal\/attestation_key.pub'\)/);
    // Its proof is made on the node, with the key, for this node of this federation.
    expect(String(key.inputs.create)).toMatch(
      /'boreal-test' 'b1' "\$key" \| ssh-keygen -q -Y sign -f '\/etc\/boreal\/attestation_key' -n 'boreal-node-proof'$/,
    );
    expect(key.inputs.delete).toBe("rm -f '/etc/boreal/attestation_key' '/etc/boreal/attestation_key.pub'");
    const env = recorder.byName("b1-registration-descriptor").inputs.environment as Record<string, string>;
    const parsed = parseNodeObject({ path: "nodes/b1.yaml", content: env.CONTENT });
    expect(parsed.ok && parsed.value).toMatchObject({ attestationKey: MOCK_ATTESTATION_KEY, services: ["tcp/22", "tcp/443"] });
    expect(parsed.ok && checkAttestationKeyProof(parsed.value as NodeDescriptor, "boreal-test")).toBeUndefined();
  });

  test("boreal:publish names the git remote the registration pushes to", async () => {
    const { recorder } = await build({ overrides: { publish: "origin" } });
    expect(recorder.byName("b1-registration-descriptor").inputs.environment).toMatchObject({ PUBLISH: "origin" });
  });

  test("no command uses triggers: the provider replaces on them, and the old delete would undo the new create", async () => {
    const { recorder } = await build();
    for (const r of commands(recorder)) expect(r.inputs.triggers, r.name).toBeUndefined();
  });

  test("applies name the hashes of their files, so a changed file re-runs them as an update", async () => {
    const { recorder } = await build();
    const apply = recorder.byName("b1-sync-apply");
    expect(apply.inputs.create).toMatch(/^# boreal: after \/etc\/boreal\/agent.json:[0-9a-f]{16} /);
    expect(apply.inputs.create).toContain("program:0123456789abcdef");
    expect(apply.inputs.update).toBe(apply.inputs.create);
    // A rotated key is not the agent's run: the announce's switch puts it in use.
    expect(apply.inputs.create).not.toContain("key:");
    expect(apply.inputs.create).toMatch(/boreal-agent.js sync --rekey/);
    // The bundle travels as a file asset: the state keeps its hash, not its text.
    const program = recorder.byName("b1-sync-program");
    expect(program.type).toBe("command:remote:CopyToRemote");
    expect(program.inputs.remotePath).toBe("/usr/local/lib/boreal-agent.js");
    expect(program.inputs.connection).toMatchObject({ hostKey: FIXTURE_HOST_KEY });
  });

  test("every create is paired with a delete, except package installs (kept on purpose), read-only queries (the server check among them), and the announce (a nudge, and a key switch the key's own delete undoes)", async () => {
    const { recorder } = await build();
    const undone = ["-packages", "-ssh", "-check", "-dnskeys", "-wireguard-proof", "-announce"];
    for (const r of commands(recorder)) {
      if (undone.some((suffix) => r.name.endsWith(suffix))) continue;
      expect(r.inputs.delete, `${r.name} has a delete`).toBeTruthy();
    }
  });

  test("with the firewall off there is no Firewall component", async () => {
    const { recorder } = await build({ overrides: { firewall: false } });
    expect(recorder.resources.some((r) => r.type === "boreal:firewall:Firewall")).toBe(false);
  });
});

describe("what a change re-triggers", () => {
  const triggersByName = (resources: Recorded[]) =>
    Object.fromEntries(
      commands({ resources } as Recorder).map((r) => [r.name, JSON.stringify([r.inputs.triggers, r.inputs.stdin, r.inputs.create])]),
    );

  function changedBetween(a: Recorded[], b: Recorded[]): string[] {
    const before = triggersByName(a);
    const after = triggersByName(b);
    return Object.keys({ ...before, ...after })
      .filter((name) => before[name] !== after[name])
      .sort();
  }

  const rotate = (base: Federation): Federation => ({
    ...base,
    nodes: base.nodes.map((n) =>
      n.node === "a1" ? { ...n, publicKey: "cm90YXRlZC1rZXktb2YtYTEtZm9yLXRoZS10ZXN0LTA=", serial: n.serial + 1 } : n,
    ),
  });
  const withMirror = (base: Federation): Federation => ({
    ...base,
    settings: { ...base.settings, mirrors: ["git://198.51.100.1/registry.git"] },
  });

  test("with a mirror, a peer's rotation changes nothing in this member's stack: its agent applies it", async () => {
    const base = withMirror(fixtureFederation());
    const changed = changedBetween(
      (await build({ federation: base })).recorder.resources,
      (await build({ federation: rotate(base) })).recorder.resources,
    );
    expect(changed).toEqual([]);
  });

  test("without a mirror, the clone's descriptors ride in the seed: only the seed and the agent's run change", async () => {
    const base = fixtureFederation();
    const changed = changedBetween(
      (await build({ federation: base })).recorder.resources,
      (await build({ federation: rotate(base) })).recorder.resources,
    );
    // The seed comes from the files read, not from the federation object: same files, same seed.
    expect(changed.filter((n) => !n.startsWith("b1-sync"))).toEqual([]);
  });

  test("bumping keyEpoch re-runs the key command (rotation), and nothing else before the key is read", async () => {
    const changed = changedBetween((await build()).recorder.resources, (await build({ overrides: { keyEpoch: 1 } })).recorder.resources);
    // The epoch rides in the agent config too (a new config, a new run); the new key goes into
    // use at its switch, which follows the key read back.
    expect(changed).toEqual(["b1-sync-apply", "b1-sync-file-etc-boreal-agent.json", "b1-wireguard-key"]);
  });

  test("the sync interval reaches the agent's timer", async () => {
    const changed = changedBetween(
      (await build()).recorder.resources,
      (await build({ overrides: { syncInterval: 7 } })).recorder.resources,
    );
    // sync-gate refreshes the agent's state at least every minute, or every interval if longer.
    expect(changed).toEqual([
      "b1-sync-apply",
      "b1-sync-file-etc-boreal-agent.json",
      "b1-sync-file-etc-systemd-system-boreal-sync.timer",
      "b1-sync-file-usr-local-lib-boreal-sync-gate",
    ]);
    const timer = (await build({ overrides: { syncInterval: 7 } })).recorder.byName("b1-sync-file-etc-systemd-system-boreal-sync.timer");
    expect(timer.inputs.stdin).toMatch(/OnUnitActiveSec=7s/);
  });

  test("a boreal:firewall.allow change looks at the server again, re-runs the firewall file and its apply, and announces the descriptor (its declared services) to the peers; nothing else", async () => {
    const before = (await build({ overrides: { firewall: { allow: ["tcp/443"] } } })).recorder;
    const after = (await build({ overrides: { firewall: { allow: ["tcp/443", { port: "tcp/993", from: ["198.51.100.0/24"] }] } } }))
      .recorder;
    expect(changedBetween(before.resources, after.resources)).toEqual([
      "b1-announce",
      "b1-check",
      "b1-firewall-apply",
      "b1-firewall-file-etc-nftables.conf",
    ]);
    expect(after.byName("b1-firewall-file-etc-nftables.conf").inputs.stdin).toContain(
      'ip saddr 198.51.100.0/24 tcp dport 993 accept comment "allow: tcp/993"',
    );
    // The same from the old boolean form, and for the policy: the agent's config carries no firewall.
    expect(changedBetween((await build()).recorder.resources, before.resources)).toEqual([
      "b1-announce",
      "b1-check",
      "b1-firewall-apply",
      "b1-firewall-file-etc-nftables.conf",
    ]);
    expect(changedBetween(before.resources, (await build({ overrides: { firewall: { policy: "member" } } })).recorder.resources)).toEqual([
      "b1-announce",
      "b1-check",
      "b1-firewall-apply",
      "b1-firewall-file-etc-nftables.conf",
    ]);
    expect(JSON.parse(String(after.byName("b1-sync-file-etc-boreal-agent.json").inputs.stdin)).spec).not.toHaveProperty("firewall");
  });
});

describe("the policy pack's checks on the node's resources", () => {
  /** The resources as the pack sees them: each with its inputs, and the node with its facts. */
  const planned = ({ recorder, node }: Built): PlannedResource[] =>
    recorder.resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: `urn:${r.type}::${r.name}`,
      props: r.type === NODE_TYPE ? { facts: node.facts } : r.inputs,
    }));
  /** Rule id → what its check finds, for the rules that find anything. */
  const findings = (resources: PlannedResource[]): Record<string, string[]> =>
    Object.fromEntries(
      Object.entries(PLAN_CHECKS)
        .map(
          ([id, check]) =>
            [
              id,
              "resource" in check
                ? resources.flatMap((r) => check.resource(r).map((m) => `${r.name}: ${m}`))
                : check.stack(resources).map((f) => f.message),
            ] as const,
        )
        .filter(([, found]) => found.length > 0),
    );

  test("a good node breaks no plan rule, its signed descriptor checked against the member's key", async () => {
    const built = await build();
    expect(String(built.recorder.byName("b1-registration-descriptor").inputs.environment.SIGNATURE)).toMatch(/BEGIN SSH SIGNATURE/);
    expect(findings(planned(built))).toEqual({});
  });

  test("the firewall off, or left to the member's own tables, breaks underlay-declared-only", async () => {
    expect(findings(planned(await build({ overrides: { firewall: false } })))).toEqual({
      "underlay-declared-only": ["node b1 gets no firewall (boreal:firewall is off): every port its services listen on faces the underlay"],
    });
    const member = findings(planned(await build({ overrides: { firewall: { policy: "member" } } })));
    expect(Object.keys(member)).toEqual(["underlay-declared-only"]);
    expect(member["underlay-declared-only"][0]).toMatch(/does not drop input by default/);
  });

  test("a descriptor tampered with, signed by another key or missing breaks descriptor-current", async () => {
    const resources = planned(await build());
    const descriptor = resources.find((r) => r.name === "b1-registration-descriptor")!;
    const env = descriptor.props.environment as Record<string, string>;
    const withEnv = (changes: Record<string, string>) =>
      resources.map((r) => (r === descriptor ? { ...r, props: { ...r.props, environment: { ...env, ...changes } } } : r));
    const check = (rs: PlannedResource[]) => findings(rs)["descriptor-current"];
    expect(check(withEnv({ CONTENT: env.CONTENT.replace(/ipv4: \S+/, "ipv4: 100.64.0.99") }))).toEqual([
      expect.stringMatching(/its signature does not verify/),
      "the descriptor of b1: its mesh addresses are not the node's plan",
    ]);
    const node = resources.find((r) => r.type === NODE_TYPE)!;
    const otherKey = { ...node, props: { facts: { ...(node.props.facts as object), signingKey: fixturePublicKey("mallory") } } };
    expect(findings(resources.map((r) => (r === node ? otherKey : r)))["descriptor-current"]).toEqual([
      "the descriptor of b1: it is signed by a key other than the member's",
    ]);
    expect(check(resources.filter((r) => r !== descriptor))).toEqual([
      "node b1 publishes no descriptor: peers would never learn its key and addresses",
    ]);
    // In a preview the descriptor is not known yet (it holds the key read off the node): only its command is checked.
    expect(check(withEnv({ CONTENT: undefined as unknown as string }))).toBeUndefined();
  });

  test("a stack without the node's facts breaks every stack-wide rule, rather than passing unchecked", () => {
    const stackWide = Object.entries(PLAN_CHECKS)
      .filter(([, c]) => "stack" in c)
      .map(([id]) => id);
    expect(Object.keys(findings([]))).toEqual(stackWide);
  });
});
