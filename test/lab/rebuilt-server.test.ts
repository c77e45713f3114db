// Rebuilt server (issue #28), on two real lab machines, the lab's parent zone and its
// validating resolver: both members run their `pulumi up`, mesh, and the parent holds their
// delegations as the stacks printed them. Then node1's machine is replaced by a blank one of
// the same name (new disk, new SSH host key), and member 1 does what docs/how-to/lost-state.md
// says: the new host key in its stack file, the stack's state emptied, `pulumi up`. Its node
// meshes again with a new WireGuard key under a higher descriptor serial; it signs with a new
// KSK, and the stack's delegations output gives the new DS. The docs' promise about the DS,
// through the validating resolver: with the old DS still at the parent the zone is refused
// (SERVFAIL), with the new DS it validates. Root only; run it alone, under the lab lock.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { parse as parseYaml } from "yaml";
import { dsForZone, formatDs, parseDnskeys } from "../../src/core/dns/ds";
import { descriptorPath } from "../../src/core/registry/format";
import { authenticated } from "../../src/lab/dns";
import { git, LabMember } from "../../src/lab/federation";
import { LAB_PASSPHRASE, labDns, labRebuild, labUp, writeLabStacks } from "../../src/lab/lab";
import { LabStacks, StackOutputs } from "../../src/lab/stacks";
import { eventually, log, NodeView, nodeViewOf, Servers, timeToFullMesh } from "../helpers/federation-checks";
import { commandPluginInstalled, pulumiCliAvailable, Workspace } from "../helpers/workspace";
import { labLog, labScratch } from "../helpers/lab-scratch";

const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();
const lab = labScratch("rebuilt");
const { dir } = lab;

/** Asked from the host, as any resolver or member's machine asks. */
const dig = (server: string, ...args: string[]) =>
  execFileSync("kdig", [`@${server}`, "+time=3", "+retry=1", ...args], { encoding: "utf8" });
/** What a stack prints for its registrar: NS, glue and DS lines of every zone. */
const recordsOf = (outputs: StackOutputs) => Object.values(outputs.delegations).flatMap((d) => d.records);
const dsLines = (records: string[]) => records.filter((r) => / DS /.test(r));

describe.runIf(ready)("rebuilt server: member 1's machine replaced by a blank one with the same name", () => {
  test("after its pulumi up the node is meshed again with new keys, and the new DS the stack prints is the one resolvers need", async () => {
    const state = (lab.state = await labUp({ nodes: 2, subnet: "198.51.100.0/24", installPrerequisites: true, log: labLog, dir }));
    const servers = new Servers(state, dir);
    const ws = (lab.ws = new Workspace("rebuilt-server"));
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    const stacks = new LabStacks(ws.dir, state, ws.env);
    const written = writeLabStacks(state, ws.dir, labLog);
    expect(written.missing).toEqual([]);
    const members: LabMember[] = written.members;
    const nodes: NodeView[] = [];
    const records: string[][] = [];
    for (const [i, machine] of state.machines.entries()) {
      git(members[i].registry, "pull", "-q");
      const outputs = stacks.up(machine.name);
      nodes[i] = nodeViewOf(machine, members[i].name, outputs);
      records[i] = recordsOf(outputs);
    }
    const [n1, n2] = nodes;
    await timeToFullMesh(servers, nodes, Date.now());
    const resolve = (name: string, type: string) => dig(state!.dns!.resolver.address, "+dnssec", name, type);
    const www = `www.${n1.zone}`;
    // The registrars hold what the stacks printed: node1's zone validates.
    await labDns(state, records.flat(), dir);
    expect(authenticated(resolve(www, "A")), `${www} validated before the rebuild`).toBe(true);
    const dsBefore = dsLines(records[0]);
    expect(dsBefore).toHaveLength(1);
    const descriptorOf = () =>
      parseYaml(
        execFileSync("git", ["--git-dir", state!.mirror.repo, "show", `HEAD:${descriptorPath(n1.machine.name)}`], { encoding: "utf8" }),
      ) as {
        serial: number;
        publicKey: string;
      };
    const serialBefore = descriptorOf().serial;
    const hostKeyBefore = n1.machine.hostKey;

    // The server is reinstalled: a blank disk, the same name and address, a new host key.
    const started = Date.now();
    const hostKey = await labRebuild(state, n1.machine.name, dir);
    const bootSeconds = (Date.now() - started) / 1000;
    expect(hostKey).not.toBe(hostKeyBefore);
    expect(servers.exec(n1, "test -e /etc/wireguard/wg0.key || test -e /var/lib/knot/keys").status, "the new disk is blank").not.toBe(0);

    // Member 1, as the docs say: the new host key, the stack's state emptied (its stack file kept), pulumi up.
    const stack = stacks.stackOf(n1.machine.name);
    stacks.must(["config", "set", "--path", "boreal:ssh.hostKey", hostKey, "-s", stack]);
    stacks.must(["stack", "rm", stack, "--force", "--preserve-config", "--yes"]);
    stacks.must(["stack", "init", stack, "--secrets-provider", "passphrase"]);
    git(members[0].registry, "pull", "-q");
    const upStarted = Date.now();
    const after = stacks.up(n1.machine.name);
    const upSeconds = (Date.now() - upStarted) / 1000;
    const m1 = nodeViewOf(state.machines[0], members[0].name, after);

    // Meshed again, with a new key under a higher serial.
    expect(after.publicKey).not.toBe(n1.publicKey);
    const descriptor = descriptorOf();
    expect(descriptor.publicKey).toBe(after.publicKey);
    expect(descriptor.serial).toBeGreaterThan(serialBefore);
    const meshSeconds = await timeToFullMesh(servers, [m1, n2], upStarted);
    const pings = servers.exec(n2, `ping -c 3 -W 2 ${m1.mesh.ipv4} && ping -c 3 -W 2 ${m1.mesh.ipv6}`);
    expect(pings.status, pings.output).toBe(0);

    // A new KSK: the stack prints its DS, which is the DS of the KSK every server of the zone serves.
    const recordsAfter = recordsOf(after);
    const dsAfter = dsLines(recordsAfter);
    expect(dsAfter).toHaveLength(1);
    expect(dsAfter).not.toEqual(dsBefore);
    const servedDs = (node: NodeView) =>
      dsForZone(
        parseDnskeys(
          dig(node.machine.address, "+short", n1.zone, "DNSKEY")
            .split("\n")
            .filter(Boolean)
            .map((k) => `${n1.zone} DNSKEY ${k}`)
            .join("\n"),
        ),
        n1.zone,
      ).map(formatDs);
    expect(servedDs(m1)).toEqual(dsAfter);
    // Every other node answering for the zone (a secondary of it) serves the new keys too.
    const servingOthers = [n2].filter((n) => servers.answersAuthoritatively(n, n1.zone));
    await eventually(`${n1.zone}'s other servers serve its new KSK`, 120, () =>
      servingOthers.every((n) => servedDs(n).join() === dsAfter.join()),
    );

    // The old DS still at the parent (the registrar not told yet): a validating resolver refuses the zone.
    await labDns(state, [...records[0], ...records[1]], dir);
    const refused = resolve(www, "A");
    expect(refused, `${www} with the old DS at the parent`).toMatch(/status: SERVFAIL/);
    // The new delegation at the parent, as the stack printed it: the zone validates again.
    await labDns(state, [...recordsAfter, ...records[1]], dir);
    const validated = resolve(www, "A");
    expect(authenticated(validated), `${www} with the new DS at the parent:\n${validated}`).toBe(true);
    expect(validated).toContain(m1.machine.address);

    log(
      `rebuilt server: ${n1.machine.name} blank again in ${bootSeconds.toFixed(1)} s (new host key); its pulumi up from an empty state ${upSeconds.toFixed(1)} s; meshed ${meshSeconds} s after the up began; WireGuard key new, descriptor serial ${serialBefore} -> ${descriptor.serial}`,
    );
    log(
      `rebuilt server: DS ${dsBefore[0].split(" DS ")[1]} -> ${dsAfter[0].split(" DS ")[1]}; old DS at the parent: SERVFAIL; new DS: validated (AD); other servers of the zone with the new KSK: ${servingOthers.map((n) => n.machine.name).join(", ") || "none"}`,
    );
  }, 1_800_000);
});
