// End to end: three members join a federation with the real `pulumi up` (CLI, Node.js
// language host, command provider over SSH with pinned host keys) on lab machines, and
// the servers are checked for what they do. Needs root, the toolchain and the command
// provider plugin (`npx pulumi plugin ls` lists it); without them it does not run.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LAB_PASSPHRASE, labDown, labUp, writeLabStacks } from "../../src/lab/lab";
import { LabStacks } from "../../src/lab/stacks";
import * as checks from "../helpers/federation-checks";
import { NodeView, Servers, timed } from "../helpers/federation-checks";
import { commandPluginInstalled, pulumiCliAvailable, Workspace } from "../helpers/workspace";

const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();

describe.runIf(ready)("end to end: three members join with the real pulumi up", () => {
  let servers: Servers;
  let ws: Workspace;
  let stacks: LabStacks;
  let nodes: NodeView[] = [];
  const machineOf = (i: number) => servers.state.machines[i].name;
  const stackOf = (i: number) => stacks.stackOf(machineOf(i));
  let dir: string;
  const registry = () => join(dir, "registry");

  function view(i: number, outputs: { publicKey: string; meshIpv4: string; meshIpv6: string; zones: string[] }): NodeView {
    nodes[i] = { machine: servers.state.machines[i], member: `coop-${"abc"[i]}`, zone: outputs.zones[0], mesh: { ipv4: outputs.meshIpv4, ipv6: outputs.meshIpv6 }, publicKey: outputs.publicKey };
    return nodes[i];
  }

  const up = (i: number) => view(i, stacks.up(machineOf(i)));
  const converge = () => stacks.converge(nodes.map((n) => n.machine.name), (machine, outputs) => view(servers.state.machines.findIndex((m) => m.name === machine), outputs));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "boreal-e2e-"));
    const state = await timed("lab up (3 machines)", () => labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log: checks.log, dir }));
    servers = new Servers(state, dir);
    ws = new Workspace("e2e");
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    stacks = new LabStacks(ws.dir, state, ws.env);
    expect(writeLabStacks(state, ws.dir, checks.log), "stacks whose SSH key could not be stored").toEqual([]);
  });
  afterAll(() => {
    labDown({ dir, log: checks.log });
    ws?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test("join: each member runs pulumi up in turn; earlier members re-apply until the registry converges", async () => {
    for (const i of [0, 1, 2]) await timed(`pulumi up ${stackOf(i)}`, () => up(i));
    const reapplies = await timed("re-applies", () => converge());
    checks.log(`re-applies needed after the joins: ${reapplies}`);
    expect(reapplies).toBe(2);
    expect(readdirSync(join(registry(), "nodes")).sort()).toEqual(["node1.yaml", "node2.yaml", "node3.yaml"]);
  });

  test("a wrong pinned host key stops pulumi up before any command runs", () => {
    const [a, b] = nodes;
    const stack = stackOf(0);
    stacks.must(["config", "set", "--path", "boreal:ssh.hostKey", b.machine.hostKey, "-s", stack]);
    stacks.must(["config", "set", "boreal:mtu", "1400", "-s", stack]); // a change, so that commands run
    const refused = stacks.run(["up", "--yes", "--skip-preview", "-s", stack]);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toMatch(/host key mismatch|key mismatch|handshake failed/i);
    expect(servers.ok(a, "ip -o link show wg0")).toMatch(/mtu 1420/);
    stacks.must(["config", "set", "--path", "boreal:ssh.hostKey", a.machine.hostKey, "-s", stack]);
    stacks.must(["config", "rm", "boreal:mtu", "-s", stack]);
    expect(stacks.unchanged(machineOf(0)), "back to the right key: nothing to change").toBe(true);
  });

  test("WireGuard: every ordered pair pings over mesh IPv4 and IPv6; handshakes are recent", () => timed("mesh", () => checks.expectMesh(servers, nodes)));

  test("DNS: every node answers every member zone authoritatively, signed, with one serial", () => timed("DNS", () => checks.expectDns(servers, nodes)));

  test("DNS: a zone transfer is refused from an underlay address and served over the mesh", () => checks.expectTransfers(servers, nodes[0], nodes[1]));

  test("monitoring: exporters scraped over the mesh with per-peer WireGuard metrics, not on the underlay", () => checks.expectMonitoring(servers, nodes));

  test("firewall: from another node's underlay only SSH, WireGuard and DNS answer", () => checks.expectFirewall(servers, nodes[0], nodes[1]));

  test("secrets: no private key in the exported state, the registry or the logs", () => {
    const state = [0, 1, 2].map((i) => ws.must(["stack", "export", "-s", stackOf(i)])).join("\n");
    const registryText = readdirSync(join(registry(), "nodes")).map((f) => readFileSync(join(registry(), "nodes", f), "utf8")).join("\n");
    checks.expectNoPrivateKeys(servers, nodes, { "the exported state": state, registry: registryText, "the pulumi logs": stacks.transcript.join("\n") });
    const sshKeyBody = readFileSync(servers.state.sshKey, "utf8").split("\n")[1];
    expect(state.includes(sshKeyBody), "the operator's SSH key in plaintext in the state").toBe(false);
  });

  test("idempotence: a second pulumi up of every stack changes nothing", () => {
    for (const i of [0, 1, 2]) expect(stacks.unchanged(machineOf(i)), `pulumi preview --expect-no-changes -s ${stackOf(i)}`).toBe(true);
  });

  test("key rotation of node 2: node 1 ↔ node 3 lose nothing, node 2 comes back, its old key is gone everywhere", async () => {
    const [a, b, c] = nodes;
    stacks.must(["config", "set", "boreal:keyEpoch", "1", "-s", stackOf(1)]);
    const { lossToBystander, after } = await checks.measureRotation(servers, a, b, c, () =>
      timed("rotate node2 (pulumi up) and re-apply the peers", () => {
        const rotated = up(1);
        converge();
        return rotated;
      }),
    );
    expect(lossToBystander).toBe(0);
    expect(after.publicKey).not.toBe(b.publicKey);
    for (const n of [nodes[0], nodes[2]]) expect(servers.ok(n, "wg show wg0 peers")).not.toContain(b.publicKey);
    expect(servers.ok(nodes[0], "wg show wg0 peers")).toContain(after.publicKey);
  });

  test("member down: nodes 2 and 3 keep their tunnel and still answer member 1's zone; it rejoins by itself", () =>
    checks.expectMemberDown(servers, nodes[0], [nodes[1], nodes[2]]));

  test("leave: pulumi destroy of member 3; the others drop it after re-applying; its server is left clean", async () => {
    const left = nodes[2];
    await timed("pulumi destroy lab-node3 and re-apply the others", () => {
      stacks.must(["destroy", "--yes", "--skip-preview", "-s", stackOf(2)]);
      expect(existsSync(join(registry(), "nodes", "node3.yaml")), "node3's descriptor after destroy").toBe(false);
      nodes = nodes.slice(0, 2);
      return converge();
    });
    await checks.expectLeft(servers, left, nodes);
  });
});
