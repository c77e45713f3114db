// A federation of three members on real lab machines. Each node is planned, rendered and
// applied with the kit's own scripts over SSH (helpers/ssh-apply.ts: the command plugin
// cannot be installed on an offline CI machine), and the checks assert on what the
// servers do: packets across the tunnels, DNS answers, metrics served.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadTemplates } from "../../src/components/templates";
import { descriptorPath } from "../../src/config/registry";
import { NodeSpec, parseStackConfig } from "../../src/config/stack";
import { labDown, LabMachine, labUp } from "../../src/lab/lab";
import { buildDescriptor } from "../../src/model/descriptor";
import { plan } from "../../src/model/plan";
import { contentHash, renderNode, RenderedFile } from "../../src/render";
import { loadRegistry, renderDescriptor } from "../../src/registry";
import * as checks from "../helpers/federation-checks";
import { NodeView, Servers, timed } from "../helpers/federation-checks";
import { SshApplier } from "../helpers/ssh-apply";

const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "boreal-federation-"));
const registry = join(dir, "registry");
const templates = loadTemplates();

interface Member extends NodeView {
  keyEpoch: number;
  applied: { hashes: string; files: RenderedFile[] };
}

describe.runIf(isRoot)("a federation of three members on the lab (the kit's scripts over SSH)", () => {
  let servers: Servers;
  let applier: SshApplier;
  let machines: LabMachine[];
  let members: Member[] = [];

  function specOf(machine: LabMachine, i: number, keyEpoch: number): NodeSpec {
    const member = `coop-${"abc"[i]}`;
    return parseStackConfig({
      "boreal:member": member,
      "boreal:node": machine.name,
      "boreal:endpoint": `${machine.address}:51820`,
      "boreal:registry": registry,
      "boreal:zones": JSON.stringify([`${member}.lab.test.`]),
      "boreal:keyEpoch": String(keyEpoch),
      "boreal:ssh": JSON.stringify({ host: machine.address, hostKey: machine.hostKey, privateKey: readFileSync(servers.state.sshKey, "utf8") }),
    });
  }

  const rendered = (machine: LabMachine, i: number, keyEpoch: number) => renderNode(plan(specOf(machine, i, keyEpoch), loadRegistry(registry)), templates);

  /** What one `pulumi up` of a member's stack does: plan from the registry, apply, register. */
  function up(i: number, keyEpoch = members[i]?.keyEpoch ?? 0): Member {
    const machine = machines[i];
    const federation = loadRegistry(registry);
    const p = plan(specOf(machine, i, keyEpoch), federation);
    const files = renderNode(p, templates);
    const publicKey = applier.apply(machine, p, files);
    const existing = federation.nodes.find((n) => n.node === machine.name);
    writeFileSync(join(registry, descriptorPath(machine.name)), renderDescriptor(buildDescriptor(p, publicKey, existing, new Date().toISOString())));
    const member: Member = { machine, member: p.member, zone: p.dns.primaryZones[0].name, mesh: p.mesh, publicKey, keyEpoch, applied: { hashes: files.map((f) => contentHash(f.content)).join(","), files } };
    members[i] = member;
    return member;
  }

  /** Re-apply every member whose rendered files differ from what it last applied. */
  function converge(): number {
    let reapplies = 0;
    for (let round = 0; round < 5; round++) {
      const stale = members.map((m, i) => ({ m, i })).filter(({ m, i }) => m && rendered(m.machine, i, m.keyEpoch).map((f) => contentHash(f.content)).join(",") !== m.applied.hashes);
      if (stale.length === 0) return reapplies;
      for (const { i } of stale) up(i);
      reapplies += stale.length;
    }
    throw new Error("the registry did not converge in 5 rounds");
  }

  const live = () => members.filter(Boolean);

  beforeAll(async () => {
    const state = await timed("lab up (3 machines)", () => labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log: checks.log, dir }));
    servers = new Servers(state, dir);
    applier = new SshApplier(state, dir);
    machines = state.machines;
    mkdirSync(join(registry, "nodes"), { recursive: true });
    writeFileSync(join(registry, "federation.yaml"), "name: boreal-lab\ndomain: lab.boreal.test.\nmesh:\n  ipv4: 100.64.0.0/24\n  ipv6: fd42:b0:ea1::/48\n");
  });
  afterAll(() => {
    labDown({ dir, log: checks.log });
    rmSync(dir, { recursive: true, force: true });
  });

  test("three members join one after the other; earlier ones re-apply until the registry converges", async () => {
    for (const i of [0, 1, 2]) await timed(`join ${machines[i].name}`, () => up(i));
    const reapplies = await timed("converge", () => converge());
    checks.log(`re-applies needed after the joins: ${reapplies}`);
    expect(reapplies).toBe(2);
    expect(readdirSync(join(registry, "nodes")).sort()).toEqual(["node1.yaml", "node2.yaml", "node3.yaml"]);
  });

  test("WireGuard: every ordered pair pings over mesh IPv4 and IPv6; handshakes are recent", () => timed("mesh", () => checks.expectMesh(servers, live())));

  test("DNS: every node answers every member zone authoritatively, signed, with one serial", () => timed("DNS everywhere", () => checks.expectDns(servers, live())));

  test("DNS: a zone transfer is refused from an underlay address and served over the mesh", () => checks.expectTransfers(servers, members[0], members[1]));

  test("monitoring: each exporter is scraped over the mesh with per-peer WireGuard metrics, and not on the underlay", () => checks.expectMonitoring(servers, live()));

  test("firewall: from another node's underlay only SSH, WireGuard and DNS answer", () => checks.expectFirewall(servers, members[0], members[1]));

  test("secrets: no WireGuard private key in the registry or in anything the servers printed", () => {
    const registryText = readdirSync(join(registry, "nodes")).map((f) => readFileSync(join(registry, "nodes", f), "utf8")).join("\n");
    checks.expectNoPrivateKeys(servers, live(), { registry: registryText, "the servers' output": applier.transcript.join("\n") });
  });

  test("idempotence: re-applying changes no file and no descriptor", () => {
    const before = readdirSync(join(registry, "nodes")).map((f) => readFileSync(join(registry, "nodes", f), "utf8"));
    expect(converge()).toBe(0);
    expect(readdirSync(join(registry, "nodes")).map((f) => readFileSync(join(registry, "nodes", f), "utf8"))).toEqual(before);
  });

  test("key rotation of node 2: node 1 ↔ node 3 lose nothing, node 2 comes back, its old key is gone everywhere", async () => {
    const [a, b, c] = members;
    const { lossToBystander, after } = await checks.measureRotation(servers, a, b, c, () =>
      timed("rotate node2 and re-apply peers", () => {
        const rotated = up(1, 1);
        converge();
        return rotated;
      }),
    );
    expect(lossToBystander).toBe(0);
    expect(after.publicKey).not.toBe(b.publicKey);
    for (const m of [members[0], members[2]]) expect(servers.ok(m, "wg show wg0 peers")).not.toContain(b.publicKey);
    expect(servers.ok(members[0], "wg show wg0 peers")).toContain(after.publicKey);
  });

  test("member down: nodes 2 and 3 keep their tunnel and still answer member 1's zone; it rejoins by itself", () =>
    checks.expectMemberDown(servers, members[0], [members[1], members[2]]));

  test("leave: member 3 destroys its node; the others drop it; the server is left clean", async () => {
    const left = members[2];
    await timed("destroy node3 and re-apply the others", () => {
      applier.destroy(left.machine, left.applied.files);
      rmSync(join(registry, descriptorPath(left.machine.name)));
      members = members.slice(0, 2);
      return converge();
    });
    await checks.expectLeft(servers, left, members);
  });
});
