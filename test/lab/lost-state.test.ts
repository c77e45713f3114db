// Lost state (issue #28), on two real lab machines: both members run their `pulumi up` and
// mesh. Then, while node2 pings node1 over the mesh every 0.2 s, member 1 loses its state (the
// backend's files for its stack are deleted, as with a lost laptop; `pulumi stack rm` is not
// that), keeps its stack file and passphrase, creates the stack again under the same name and
// runs `pulumi up`. Its node keeps its WireGuard key, Knot's DNSSEC keys and its zone's
// answers, the registry holds the same descriptor, and node2 loses no ping. Root only; run it
// alone, under the lab lock.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { git, LabMember } from "../../src/lab/federation";
import { lostInWords, pingTally } from "../../src/lab/measure";
import { LAB_PASSPHRASE, labUp, writeLabStacks } from "../../src/lab/lab";
import { LabStacks, StackOutputs } from "../../src/lab/stacks";
import { descriptorPath } from "../../src/core/registry/format";
import { log, NodeView, nodeViewOf, Servers, timeToFullMesh } from "../helpers/federation-checks";
import { commandPluginInstalled, pulumiCliAvailable, Workspace } from "../helpers/workspace";
import { labLog, labScratch } from "../helpers/lab-scratch";

const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();
const lab = labScratch("lost");
const { dir } = lab;
const PING_UNIT = "lost-state-ping";

/** Every file and directory of a file:// backend that names the stack (its checkpoint, backups, history, lock). */
function stateFilesOf(backend: string, stack: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.name === stack || entry.name.startsWith(`${stack}.json`)) found.push(full);
      else if (entry.isDirectory()) walk(full);
    }
  };
  walk(backend);
  return found;
}

/** What of the node the state must not change: its keys and its zone's answers. */
function lookAt(servers: Servers, node: NodeView) {
  const at = `@${node.machine.address}`;
  return {
    wireguard: servers.ok(node, "wg show wg0 public-key").trim(),
    keymgr: servers
      .ok(node, `runuser -u knot -- keymgr ${node.zone} list`)
      .trim()
      .split("\n")
      .map((line) => line.trim())
      .sort(),
    dnskey: servers.ok(node, `kdig +short ${at} ${node.zone} DNSKEY`).trim().split("\n").sort(),
    soa: servers.ok(node, `kdig +short ${at} ${node.zone} SOA`).trim(),
    a: servers.ok(node, `kdig +short ${at} www.${node.zone} A`).trim(),
  };
}

describe.runIf(ready)("lost state: two members; member 1 loses its Pulumi state and keeps its stack file", () => {
  test("an empty state and `pulumi up` keep the node's WireGuard key, DNSSEC keys, zone and descriptor, and the peer loses no ping", async () => {
    const state = (lab.state = await labUp({ nodes: 2, subnet: "198.51.100.0/24", installPrerequisites: true, log: labLog, dir }));
    const servers = new Servers(state, dir);
    const ws = (lab.ws = new Workspace("lost-state"));
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    const stacks = new LabStacks(ws.dir, state, ws.env);
    const written = writeLabStacks(state, ws.dir, labLog);
    expect(written.missing).toEqual([]);
    const members: LabMember[] = written.members;
    const nodes: NodeView[] = [];
    const outputs: StackOutputs[] = [];
    for (const [i, machine] of state.machines.entries()) {
      git(members[i].registry, "pull", "-q");
      outputs[i] = stacks.up(machine.name);
      nodes[i] = nodeViewOf(machine, members[i].name, outputs[i]);
    }
    const [n1, n2] = nodes;
    await timeToFullMesh(servers, nodes, Date.now());
    // Member 1 founded the federation: as its delegation's note says, it pulls the registry and
    // runs its up again. From then on its node is settled: a preview changes nothing.
    git(members[0].registry, "pull", "-q");
    stacks.up(n1.machine.name);
    const settled = stacks.preview(n1.machine.name);
    expect(settled.status, settled.output.slice(-3000)).toBe(0);
    const stack = stacks.stackOf(n1.machine.name);
    const stackFile = join(ws.dir, "stacks", `Pulumi.${stack}.yaml`);
    const stackFileBefore = readFileSync(stackFile, "utf8");
    expect(stackFileBefore).toMatch(/^encryptionsalt: /m);
    const before = lookAt(servers, n1);
    expect(before.wireguard).toBe(n1.publicKey);
    expect(before.keymgr.join("\n")).toMatch(/ KSK /);
    expect(before.dnskey.some((record) => record.startsWith("257 "))).toBe(true);
    expect(before.a).toBe(n1.machine.address);
    const descriptorAt = (i: number) => {
      const path = descriptorPath(nodes[i].machine.name);
      return execFileSync("git", ["--git-dir", state!.mirror.repo, "log", "-1", "--format=%H", "--", path], { encoding: "utf8" }).trim();
    };
    const descriptorBefore = descriptorAt(0);
    expect(descriptorBefore).not.toBe("");

    // node2 pings node1 over the mesh every 0.2 s, from inside its machine, until told to stop.
    servers.ok(n2, `systemd-run --unit=${PING_UNIT} sh -c 'exec ping -n -i 0.2 -W 1 ${n1.mesh.ipv4} > /run/${PING_UNIT}.log 2>&1'`);

    // The state is lost: the backend's files for the stack, nothing else.
    const backend = join(ws.dir, "state");
    const lost = stateFilesOf(backend, stack);
    expect(lost.some((path) => path.endsWith(`${stack}.json`))).toBe(true);
    for (const path of lost) rmSync(path, { recursive: true, force: true });
    expect(stateFilesOf(backend, stack)).toEqual([]);
    expect(stacks.must(["stack", "ls"])).not.toContain(stack);
    expect(existsSync(stackFile)).toBe(true);

    // The same stack again: its stack file keeps the salt, so the passphrase still opens its secrets.
    const started = Date.now();
    stacks.must(["stack", "init", stack, "--secrets-provider", "passphrase"]);
    expect(readFileSync(stackFile, "utf8")).toBe(stackFileBefore);
    expect(stacks.must(["config", "get", "--path", "boreal:ssh.privateKey", "-s", stack])).toContain("PRIVATE KEY");
    const up = stacks.must(["up", "--yes", "--skip-preview", "-s", stack]);
    const seconds = (Date.now() - started) / 1000;
    const created = Number(/\+ (\d+) created/.exec(up)?.[1] ?? 0);
    expect(created).toBeGreaterThan(0);
    const after = JSON.parse(stacks.must(["stack", "output", "--json", "-s", stack])) as StackOutputs;

    // Ten more seconds of pings after the up, then ping's own count.
    await new Promise((r) => setTimeout(r, 10_000));
    servers.ok(n2, `systemctl kill --signal=INT ${PING_UNIT}`);
    await new Promise((r) => setTimeout(r, 1000));
    const pings = pingTally(servers.ok(n2, `cat /run/${PING_UNIT}.log`));

    const seen = lookAt(servers, n1);
    const descriptorAfter = descriptorAt(0);
    const meshed = servers.exec(n2, `ping -c 2 -W 2 ${n1.mesh.ipv4} && ping -c 2 -W 2 ${n1.mesh.ipv6}`);
    const preview = stacks.preview(n1.machine.name);
    log(
      `lost state: node1's state deleted (${lost.length} files and directories), stack created again with its stack file; pulumi up created ${created} resources in ${seconds.toFixed(1)} s`,
    );
    log(
      `lost state: WireGuard key ${seen.wireguard === before.wireguard ? "kept" : `CHANGED ${before.wireguard} -> ${seen.wireguard}`}; DNSSEC keys ${JSON.stringify(seen.keymgr) === JSON.stringify(before.keymgr) ? `kept (${seen.keymgr.length} in keymgr, ${seen.dnskey.length} DNSKEY)` : "CHANGED"}; SOA ${before.soa.split(" ")[2]} -> ${seen.soa.split(" ")[2]}; www A ${before.a} -> ${seen.a}; descriptor's last commit ${descriptorBefore.slice(0, 8)} -> ${descriptorAfter.slice(0, 8)}`,
    );
    log(
      `lost state: node2 pinged node1 over the mesh every 0.2 s from before the state was deleted to 10 s after the up: ${pings.transmitted} sent, ${lostInWords(pings)}`,
    );
    // Every comparison is reported, then judged: one run says all that changed.
    expect.soft(after.publicKey).toBe(n1.publicKey);
    expect.soft(seen.wireguard).toBe(before.wireguard);
    expect.soft(seen.keymgr).toEqual(before.keymgr);
    expect.soft(seen.dnskey).toEqual(before.dnskey);
    expect.soft(seen.soa).toBe(before.soa);
    expect.soft(seen.a).toBe(before.a);
    expect.soft(descriptorAfter).toBe(descriptorBefore);
    expect.soft(meshed.status, meshed.output).toBe(0);
    expect.soft(preview.status, preview.output.slice(-3000)).toBe(0);
    expect(pings.lost).toBe(0);
  }, 1_800_000);
});
