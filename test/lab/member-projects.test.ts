// Years, not days (issue #28), on three lab machines. Each member has its own project made the
// documented way (the kit's npm pack, its boreal init, npm install), with the state on the
// team's backend. Member 1's project takes the previous release, rebuilt from its tag; members
// 2 and 3 take the kit under test. The mixed federation meshes, serves every zone and gives
// every node the label, the two kit versions attesting each other. Then member 1 upgrades: a
// new tarball and one `pulumi up`, while node2 pings node1 and a second operator of member 1,
// with a copy of the project, tries an up of the same stack. Root only; run it alone, under
// the lab lock.
import { cpSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { git, LabMember } from "../../src/lab/federation";
import { LAB_PASSPHRASE, labUp, stackFileOf, writeLabStacks } from "../../src/lab/lab";
import { lostInWords, pingTally } from "../../src/lab/measure";
import { installKit, makeMemberProject, packCheckout, packRelease, releasesOf } from "../../src/lab/member-projects";
import { labPulumiEnv, labStackName, spawnPulumi } from "../../src/lab/pulumi";
import { LabS3, startLabS3 } from "../../src/lab/s3";
import { LabStacks, StackOutputs } from "../../src/lab/stacks";
import { runLabel } from "../../src/cli/label";
import { descriptorPath } from "../../src/core/registry/format";
import { AGENT } from "../../src/core/node/layout";
import {
  eventually,
  expectKitUnitsClean,
  log,
  NodeView,
  nodeViewOf,
  Servers,
  timeToAllZones,
  timeToFullMesh,
} from "../helpers/federation-checks";
import { commandPluginInstalled, PROJECT_ROOT, pulumiCliAvailable } from "../helpers/workspace";
import { labLog, labScratch } from "../helpers/lab-scratch";

const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();
const lab = labScratch("projects");
const { dir } = lab;
const PING_UNIT = "upgrade-ping";
const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);
let stateServer: LabS3 | undefined;
afterAll(() => stateServer?.stop());

describe.runIf(ready)("member projects: three members' own projects, member 1 on the previous release, then its upgrade", () => {
  test("a mixed federation meshes, serves every zone and holds the label; member 1's upgrade is one pulumi up that loses nothing, and holds the lock against a second operator", async () => {
    const started = Date.now();
    const previousVersion = releasesOf(readFileSync(join(PROJECT_ROOT, "CHANGELOG.md"), "utf8"))[0];
    expect(previousVersion, "the CHANGELOG's newest release").toMatch(/^\d+\.\d+\.\d+$/);
    // The members' state on the lab's S3 server (SeaweedFS), as each Pulumi.yaml names it.
    const s3 = (stateServer = await startLabS3({ dir, bucket: "coop-state", log: labLog }));
    const env = { ...process.env, ...s3.env, PULUMI_CONFIG_PASSPHRASE: LAB_PASSPHRASE };
    // The lab's machines boot while both kits are packed and the members' projects installed.
    const [state, { previous, current, projects }] = await Promise.all([
      labUp({ nodes: 3, subnet: "198.51.100.0/24", suite: "mixed", installPrerequisites: true, log: labLog, dir }),
      (async () => {
        const [previous, current] = await Promise.all([
          packRelease(PROJECT_ROOT, previousVersion, join(dir, "release")),
          packCheckout(PROJECT_ROOT, join(dir, "current")),
        ]);
        log(
          `member projects: v${previous.version} (${previous.commit.slice(0, 8)}) rebuilt from its tag and packed, the kit under test packed: ${seconds(started)} s`,
        );
        const projects = await Promise.all(
          [previous, current, current].map((kit, i) => makeMemberProject(join(dir, `coop-${i + 1}`), kit, s3.backendUrl)),
        );
        return { previous, current, projects };
      })(),
    ]);
    const kits = [previous, current, current];
    lab.state = state;
    log(`member projects: lab up, and three projects made (boreal init, npm install) meanwhile: ${seconds(started)} s`);
    const servers = new Servers(state, dir);
    const written = writeLabStacks(state, projects, labLog, { env });
    expect(written.missing).toEqual([]);
    const members: LabMember[] = written.members;
    const stacks = projects.map((project) => new LabStacks(project, state, env));
    const nodes: NodeView[] = [];
    const outputs: StackOutputs[] = [];
    for (const [i, machine] of state.machines.entries()) {
      git(members[i].registry, "pull", "-q");
      const upStarted = Date.now();
      outputs[i] = stacks[i].up(machine.name);
      nodes[i] = nodeViewOf(machine, members[i].name, outputs[i]);
      log(
        `member projects: member ${i + 1}'s pulumi up (kit ${kits[i] === previous ? `v${previous.version}` : "under test"}): ${seconds(upStarted)} s`,
      );
    }
    const lastUp = Date.now();
    // The founders, whose peers did not exist at their first up, act again as their delegation's note says.
    const founders = outputs.flatMap((o, i) => (Object.values(o.delegations).some((d) => d.note !== undefined) ? [i] : []));
    for (const i of founders) {
      git(members[i].registry, "pull", "-q");
      stacks[i].up(state.machines[i].name);
    }
    const [n1, n2] = nodes;
    const meshed = await timeToFullMesh(servers, nodes, lastUp);
    const zoned = await timeToAllZones(servers, nodes, lastUp);

    // The label, as any member or customer checks it: from a clone of the registry.
    const registry = members[2].registry;
    const label = (node: NodeView) => {
      git(registry, "pull", "-q", "origin", "main");
      const lines: string[] = [];
      const code = runLabel("verify", [node.machine.name, "--registry", registry, "--trust", written.trust], {
        out: (l) => lines.push(l),
        err: (l) => lines.push(l),
      });
      return { code, output: lines.join("\n") };
    };
    const labelSince = Date.now();
    await eventually("every node holds the label (2 other members, both kit versions among them, attest every rule)", 300, () =>
      nodes.every((n) => label(n).code === 0),
    );
    log(
      `mixed versions: node1 on v${previous.version} (${previous.commit.slice(0, 8)}), node2 and node3 on the kit under test (${current.commit.slice(0, 8)}): full mesh ${meshed.toFixed(1)} s and every zone on every node ${zoned.toFixed(1)} s after the last up, every node's label held ${seconds(labelSince)} s later`,
    );
    expectKitUnitsClean(servers, nodes);
    const descriptorSerial = () => /^serial: (\d+)$/m.exec(readFileSync(join(registry, descriptorPath(n1.machine.name)), "utf8"))?.[1];
    const serialBefore = descriptorSerial();
    const agentOf = (node: NodeView) => servers.ok(node, `sha256sum ${AGENT.program}`).split(" ")[0];
    const agentBefore = agentOf(n1);
    const keyBefore = servers.ok(n1, "wg show wg0 public-key").trim();
    const dnskeyBefore = servers.ok(n1, `kdig +short @${n1.machine.address} ${n1.zone} DNSKEY`).trim().split("\n").sort();

    // The second operator of member 1: a copy of the project (its git clone, in life), the same backend.
    const operatorB = join(dir, "coop-1-operator-b");
    cpSync(projects[0], operatorB, { recursive: true, filter: (path) => !path.includes("node_modules") });
    symlinkSync(join(projects[0], "node_modules"), join(operatorB, "node_modules"));
    const operatorBStacks = new LabStacks(operatorB, state, env);
    const stackOf1 = labStackName(n1.machine.name);
    expect(readFileSync(stackFileOf(operatorB, stackOf1), "utf8")).toContain("encryptionsalt");

    // The upgrade, as docs/how-to/upgrade.md says: the new release's tarball, then pulumi up.
    servers.ok(n2, `systemd-run --unit=${PING_UNIT} sh -c 'exec ping -n -i 0.2 -W 1 ${n1.mesh.ipv4} > /run/${PING_UNIT}.log 2>&1'`);
    const upgradeStarted = Date.now();
    await installKit(projects[0], current);
    git(members[0].registry, "pull", "-q");
    const installed = seconds(upgradeStarted);
    const upStarted = Date.now();
    const upgrade = spawnPulumi(projects[0], ["up", "--yes", "--skip-preview", "-s", stackOf1], labPulumiEnv(env));
    // Pulumi's diy backend takes the stack's lock before it says "Updating (stack)", and keeps it to the end.
    let upgradeEnded = false;
    void upgrade.done.then(() => (upgradeEnded = true));
    await eventually("member 1's upgrade has begun", 120, () => upgradeEnded || /Updating \(/.test(upgrade.output()));
    expect(upgradeEnded, `member 1's up ended before operator B could try:\n${upgrade.output()}`).toBe(false);
    const refused = operatorBStacks.run(["up", "--yes", "--skip-preview", "-s", stackOf1]);
    const stillRunning = !upgradeEnded;
    const upgraded = await upgrade.done;
    expect(upgraded.status, upgraded.output.slice(-3000)).toBe(0);
    const upSeconds = seconds(upStarted);
    expect(stillRunning, "member 1's up still ran when operator B's was answered").toBe(true);
    expect(refused.status, "operator B's up while operator A's holds the lock").not.toBe(0);
    expect(refused.output).toMatch(/the stack is currently locked by 1 lock\(s\)/);
    log(
      `upgrade: member 1 installed the new tarball in ${installed} s; its pulumi up took ${upSeconds} s; operator B's up of the same stack meanwhile was refused: "${/error: .*locked.*/.exec(refused.output)?.[0] ?? refused.output.slice(-200)}"`,
    );

    await new Promise((r) => setTimeout(r, 5000));
    servers.ok(n2, `systemctl kill --signal=INT ${PING_UNIT}`);
    await new Promise((r) => setTimeout(r, 1000));
    const pings = pingTally(servers.ok(n2, `cat /run/${PING_UNIT}.log`));
    const after = JSON.parse(stacks[0].must(["stack", "output", "--json", "-s", stackOf1])) as StackOutputs;
    const installedKit = JSON.parse(readFileSync(join(projects[0], "node_modules", "boreal-kit", "package.json"), "utf8")) as {
      version: string;
    };
    log(
      `upgrade: node1 from v${previous.version} to the kit under test (${installedKit.version}); node2 pinged it every 0.2 s throughout: ${pings.transmitted} sent, ${lostInWords(pings)}; WireGuard key ${after.publicKey === n1.publicKey ? "kept" : "CHANGED"}`,
    );
    // The node runs the new kit's agent program, node2's: the one the kit under test installs.
    const agentAfter = agentOf(n1);
    log(
      `upgrade: node1's agent program ${agentAfter === agentBefore ? "unchanged (the two releases' agents are the same)" : `replaced (${agentBefore.slice(0, 12)} -> ${agentAfter.slice(0, 12)})`}`,
    );
    expect.soft(agentAfter).toBe(agentOf(n2));
    expect.soft(after.publicKey).toBe(n1.publicKey);
    expect.soft(servers.ok(n1, "wg show wg0 public-key").trim()).toBe(keyBefore);
    expect.soft(servers.ok(n1, `kdig +short @${n1.machine.address} ${n1.zone} DNSKEY`).trim().split("\n").sort()).toEqual(dnskeyBefore);
    expect(pings.lost).toBe(0);
    // After it, from the other operator's copy: nothing left to change, every node meshed and serving, labels held.
    const settled = operatorBStacks.run(["preview", "--expect-no-changes", "--diff", "-s", stackOf1]);
    expect(settled.status, settled.output.slice(-3000)).toBe(0);
    await timeToAllZones(servers, nodes, Date.now(), 60);
    await timeToFullMesh(servers, nodes, Date.now(), 60);
    // A descriptor the new kit publishes anew is attested by the peers' next checks: the label waits for them.
    const relabel = Date.now();
    await eventually("every node holds the label after the upgrade", 300, () => nodes.every((n) => label(n).code === 0));
    log(
      `upgrade: node1's descriptor ${after.publicKey === n1.publicKey && descriptorSerial() === serialBefore ? "unchanged" : `published anew (serial ${serialBefore} -> ${descriptorSerial()})`}; every node's label held ${seconds(relabel)} s after the up`,
    );
    expectKitUnitsClean(servers, nodes);

    // The S3 server restarts (an upgrade of the co-op's storage, a reboot): the state is still there.
    const restartedIn = await s3.restart();
    const listed = operatorBStacks.must(["stack", "ls", "--json"]);
    const afterRestart = operatorBStacks.run(["preview", "--expect-no-changes", "--diff", "-s", stackOf1]);
    expect(afterRestart.status, afterRestart.output.slice(-3000)).toBe(0);
    const names = (JSON.parse(listed) as { name: string }[]).map((stack) => stack.name).sort();
    expect(names).toEqual(state.machines.map((m) => labStackName(m.name)).sort());
    log(
      `S3 state: the three members' stacks in bucket ${s3.bucket} of the lab's SeaweedFS; after its restart (answering again in ${restartedIn.toFixed(1)} s) stack ls lists ${names.join(", ")} and member 1's preview changes nothing`,
    );
    log(`member projects: the whole scenario ${seconds(started)} s`);
  }, 2_400_000);
});
