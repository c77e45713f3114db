import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { BorealNode } from "../../src/components/node";
import type { Federation } from "../../src/config/registry";
import { splitPrivateKey } from "../../src/config/stack";
import { Recorded, Recorder, settle } from "../helpers/mocks";
import { FIXTURE_HOST_KEY, FIXTURE_PRIVATE_KEY, FIXTURE_REGISTRY, fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

interface Built {
  recorder: Recorder;
  node: BorealNode;
  outputs: { publicKey: string; descriptorPath: string };
}

async function build(options: { federation?: Federation; overrides?: Record<string, unknown>; node?: "b1" | "d1" } = {}): Promise<Built> {
  const recorder = new Recorder();
  recorder.install();
  const { spec, privateKey } = splitPrivateKey(fixtureSpec(options.node ?? "b1", options.overrides));
  const node = new BorealNode(
    options.node ?? "b1",
    {
      spec,
      sshPrivateKey: privateKey,
      federation: options.federation ?? fixtureFederation(),
      registryDir: FIXTURE_REGISTRY,
      templates,
      now: "2030-01-01T00:00:00.000Z",
    },
    { transformations: [recorder.transformation] },
  );
  const publicKey = await settle(node.publicKey);
  await recorder.settled();
  return { recorder, node, outputs: { publicKey, descriptorPath: node.descriptorPath } };
}

const commands = (r: Recorder) => r.resources.filter((x) => x.type.startsWith("command:"));
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

  test("order: host ready → files → services; registration last", async () => {
    const { recorder } = await build();
    const host = recorder.byName("b1-host");
    expect(host.parent).toBe("b1");
    expect(recorder.byName("b1-host-packages").dependsOn).toEqual(["b1-host-ssh"]);
    for (const component of ["b1-wireguard", "b1-dns", "b1-firewall"]) {
      expect(recorder.byName(component).dependsOn).toEqual(["b1-host-packages"]);
    }
    expect(recorder.byName("b1-monitoring").dependsOn).toEqual(["b1-wireguard-apply"]);
    for (const component of ["b1-dns", "b1-monitoring", "b1-firewall", "b1-wireguard"]) {
      const files = recorder.resources.filter((r) => r.parent === component && r.name.includes("-file-")).map((r) => r.name);
      expect(files.length).toBeGreaterThan(0);
      expect([...recorder.byName(`${component}-apply`).dependsOn].sort()).toEqual([...files].sort());
    }
    expect(recorder.byName("b1-wireguard-file-etc-wireguard-wg0.conf").dependsOn).toEqual(["b1-wireguard-key"]);
    expect([...recorder.byName("b1-registration").dependsOn].sort()).toEqual(["b1-dns-apply", "b1-firewall-apply", "b1-monitoring-apply", "b1-wireguard-apply"]);
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
    const node = new BorealNode(
      "b1",
      { spec, sshPrivateKey: privateKey, federation: fixtureFederation(), registryDir: FIXTURE_REGISTRY, templates, now: "2030-01-01T00:00:00.000Z" },
      {
        transformations: [
          (args) => {
            const connection = args.props.connection as { privateKey?: pulumi.Output<string> } | undefined;
            if (connection?.privateKey) seen.push(connection.privateKey);
            return undefined;
          },
        ],
      },
    );
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

  test("the public key read back from the node lands in the descriptor", async () => {
    const { recorder, outputs } = await build();
    expect(outputs.publicKey).toBe(recorder.publicKey);
    const descriptor = recorder.byName("b1-registration-descriptor");
    expect(descriptor.inputs.stdin).toContain(`publicKey: ${recorder.publicKey}`);
    expect(descriptor.inputs.environment).toMatchObject({ NODE: "b1" });
    expect(descriptor.inputs.delete).toMatch(/rm -f "\$REGISTRY\/nodes\/\$NODE.yaml"/);
    expect(outputs.descriptorPath).toBe(`${FIXTURE_REGISTRY}/nodes/b1.yaml`);
  });

  test("no command uses triggers: the provider replaces on them, and the old delete would undo the new create", async () => {
    const { recorder } = await build();
    for (const r of commands(recorder)) expect(r.inputs.triggers, r.name).toBeUndefined();
  });

  test("applies name the hashes of their files, so a changed file re-runs them as an update", async () => {
    const { recorder } = await build();
    const apply = recorder.byName("b1-dns-apply");
    expect(apply.inputs.create).toMatch(/^# boreal: after \/etc\/knot\/knot.conf:[0-9a-f]{16} /);
    expect(apply.inputs.update).toBe(apply.inputs.create);
    expect(recorder.byName("b1-wireguard-apply").inputs.create).toContain(`key:${recorder.publicKey}`);
  });

  test("every create is paired with a delete, except package installs (kept on purpose)", async () => {
    const { recorder } = await build();
    for (const r of commands(recorder)) {
      if (r.name.endsWith("-packages") || r.name.endsWith("-ssh")) continue;
      expect(r.inputs.delete, `${r.name} has a delete`).toBeTruthy();
    }
  });

  test("with the firewall off there is no Firewall component", async () => {
    const { recorder } = await build({ overrides: { firewall: false } });
    expect(recorder.resources.some((r) => r.type === "boreal:firewall:Firewall")).toBe(false);
  });
});

describe("what a change re-triggers", () => {
  const triggersByName = (resources: Recorded[]) => Object.fromEntries(commands({ resources } as Recorder).map((r) => [r.name, JSON.stringify([r.inputs.triggers, r.inputs.stdin, r.inputs.create])]));

  function changedBetween(a: Recorded[], b: Recorded[]): string[] {
    const before = triggersByName(a);
    const after = triggersByName(b);
    return Object.keys({ ...before, ...after }).filter((name) => before[name] !== after[name]).sort();
  }

  test("a peer's rotated key re-triggers only the WireGuard config and its apply", async () => {
    const base = fixtureFederation();
    const rotated: Federation = { ...base, nodes: base.nodes.map((n) => (n.node === "a1" ? { ...n, publicKey: "cm90YXRlZC1rZXktb2YtYTEtZm9yLXRoZS10ZXN0LTA=" } : n)) };
    const before = (await build({ federation: base })).recorder.resources;
    const after = (await build({ federation: rotated })).recorder.resources;
    expect(changedBetween(before, after)).toEqual(["b1-wireguard-apply", "b1-wireguard-file-etc-wireguard-wg0.conf"]);
  });

  test("a peer's new endpoint also changes the NS glue in the member's zones, nothing else", async () => {
    const base = fixtureFederation();
    const moved: Federation = { ...base, nodes: base.nodes.map((n) => (n.node === "a1" ? { ...n, endpoint: "198.51.100.99:51820" } : n)) };
    const changed = changedBetween((await build({ federation: base })).recorder.resources, (await build({ federation: moved })).recorder.resources);
    expect(changed).toEqual([
      "b1-dns-apply",
      "b1-dns-file-var-lib-knot-zones-b-mail.example.zone",
      "b1-dns-file-var-lib-knot-zones-coop-b.example.zone",
      "b1-wireguard-apply",
      "b1-wireguard-file-etc-wireguard-wg0.conf",
    ]);
  });

  test("a new member's node re-triggers WireGuard and DNS, not monitoring or the firewall", async () => {
    const base = fixtureFederation();
    const joined: Federation = {
      ...base,
      nodes: [...base.nodes, { ...base.nodes[0], node: "d1", member: "coop-d", publicKey: "ZDEtcHVibGljLWtleS1mb3ItdGhlLXRlc3QtMDAwMDA=", mesh: { ipv4: "100.64.0.4", ipv6: "fd42:b0:ea1::4" }, zones: ["coop-d.example."], endpoint: "198.51.100.14:51820", exporter: "100.64.0.4:9100" }],
    };
    const changed = changedBetween((await build({ federation: base })).recorder.resources, (await build({ federation: joined })).recorder.resources);
    expect(changed.filter((n) => n.startsWith("b1-monitoring") || n.startsWith("b1-firewall") || n.startsWith("b1-host"))).toEqual([]);
    expect(changed).toEqual(expect.arrayContaining(["b1-wireguard-apply", "b1-wireguard-file-etc-wireguard-wg0.conf", "b1-dns-apply", "b1-dns-file-etc-knot-knot.conf"]));
  });

  test("bumping keyEpoch re-runs the key command (rotation)", async () => {
    const changed = changedBetween((await build()).recorder.resources, (await build({ overrides: { keyEpoch: 1 } })).recorder.resources);
    expect(changed).toEqual(["b1-wireguard-key"]);
  });
});
