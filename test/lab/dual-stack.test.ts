// A dual-stack underlay (issue #27), on four real lab machines: node1 and node2 have an IPv4
// and an IPv6 address and publish both endpoints; node3 is IPv4-only (no IPv6 address at all);
// node4 publishes only its IPv6 endpoint and its IPv4 reaches no other node (the lab keeps
// IPv4 for its own SSH, mirror and resolver, so an IPv6-only server is played by cutting
// IPv4 between node4 and the other nodes). The dual-stack pair meshes over IPv6, node3 over
// IPv4 and node4 over IPv6 with each of them, and node3 and node4, sharing no family, do not
// mesh; every member's own name server has A and AAAA glue where its node has both. Then IPv6
// breaks between the dual-stack pair (both ways): each falls back to the other's IPv4
// endpoint by itself (wg-endpoints, FALLBACK_STALE_SECONDS after the last handshake), about
// three minutes. Root only; run it alone, under the lab lock.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { git, LabMember } from "../../src/lab/federation";
import { LAB_PASSPHRASE, labUp, writeLabStacks } from "../../src/lab/lab";
import { nodeNamespace } from "../../src/lab/net";
import { LabStacks, StackOutputs } from "../../src/lab/stacks";
import { FALLBACK_SETTLE_SECONDS, FALLBACK_STALE_SECONDS } from "../../src/core/mesh/endpoints";
import { eventually, expectKitUnitsClean, log, NodeView, Servers, timeToFullMesh } from "../helpers/federation-checks";
import { commandPluginInstalled, pulumiCliAvailable, Workspace } from "../helpers/workspace";
import { labLog, labScratch } from "../helpers/lab-scratch";

const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();
const lab = labScratch("dual");
const { dir } = lab;
const SYNC_INTERVAL = 30;

/** Peer public key → the endpoint this node sends to it on, as WireGuard says. */
function endpointsOn(servers: Servers, node: NodeView): Record<string, string> {
  return Object.fromEntries(
    servers
      .ok(node, "wg show wg0 endpoints")
      .trim()
      .split("\n")
      .map((line) => line.split("\t")),
  );
}

/** Runs nft inside a lab machine's network namespace (the lab's doing, not the node's). */
function nftIn(machine: string, rule: string): void {
  execFileSync("ip", ["netns", "exec", nodeNamespace(machine), "nft", rule]);
}

describe.runIf(ready)("a dual-stack lab: two dual-stack nodes, an IPv4-only one and an IPv6-only one", () => {
  test("the dual-stack pair meshes over IPv6, the single-family nodes each over their family, glue has A and AAAA", async () => {
    const state = (lab.state = await labUp({
      nodes: 4,
      subnet: "198.51.100.0/24",
      installPrerequisites: true,
      log: labLog,
      dir,
      ipv4Only: ["node3"],
    }));
    const [m1, m2, m3, m4] = state.machines;
    expect([m1.address6, m2.address6, m3.address6, m4.address6]).toEqual([
      "2001:db8:b0ea::11",
      "2001:db8:b0ea::12",
      undefined,
      "2001:db8:b0ea::14",
    ]);
    const others4 = [m1, m2, m3].map((m) => m.address).join(", ");
    nftIn(
      m4.name,
      `add table inet labipv6only { chain in { type filter hook input priority -10; ip saddr { ${others4} } drop; }; chain out { type filter hook output priority -10; ip daddr { ${others4} } drop; }; }`,
    );
    const servers = new Servers(state, dir);

    const ws = (lab.ws = new Workspace("dual-stack"));
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    const stacks = new LabStacks(ws.dir, state, ws.env);
    // node4's publication nudges node3 through nothing (no shared family, no handshake): node3
    // learns of node4 at its own pull, every 30 s here (300 s by default).
    const written = writeLabStacks(state, ws.dir, labLog, { dualStack: true, syncInterval: SYNC_INTERVAL });
    expect(written.missing).toEqual([]);
    const members: LabMember[] = written.members;
    // node4 publishes its IPv6 endpoint alone.
    stacks.must(["config", "rm", "boreal:endpoint", "-s", stacks.stackOf(m4.name)]);
    stacks.must(["config", "set", "boreal:endpoint", "[2001:db8:b0ea::14]:51820", "-s", stacks.stackOf(m4.name)]);
    const nodes: NodeView[] = [];
    const outputs: StackOutputs[] = [];
    for (const [i, machine] of state.machines.entries()) {
      git(members[i].registry, "pull", "-q");
      outputs[i] = stacks.up(machine.name);
      nodes[i] = {
        machine,
        member: members[i].name,
        zone: outputs[i].zones[0],
        mesh: { ipv4: outputs[i].meshIpv4, ipv6: outputs[i].meshIpv6 },
        publicKey: outputs[i].publicKey,
      };
    }
    const lastUp = Date.now();
    const [n1, n2, n3, n4] = nodes;
    const pairs: [NodeView, NodeView, string][] = [
      [n1, n2, "[2001:db8:b0ea::12]:51820"],
      [n2, n1, "[2001:db8:b0ea::11]:51820"],
      [n1, n3, "198.51.100.13:51820"],
      [n3, n1, "198.51.100.11:51820"],
      [n2, n3, "198.51.100.13:51820"],
      [n1, n4, "[2001:db8:b0ea::14]:51820"],
      [n4, n2, "[2001:db8:b0ea::12]:51820"],
    ];
    const meshedDual = await timeToFullMesh(servers, [n1, n2, n3], lastUp);
    const meshedSix = await timeToFullMesh(servers, [n1, n2, n4], lastUp);
    for (const [from, to, endpoint] of pairs)
      expect(endpointsOn(servers, from)[to.publicKey], `${from.machine.name} → ${to.machine.name}`).toBe(endpoint);
    for (const [from, to] of [
      [n1, n2],
      [n2, n3],
      [n3, n1],
      [n4, n1],
      [n2, n4],
    ]) {
      servers.ok(from, `ping -c 2 -W 2 ${to.mesh.ipv4} && ping -c 2 -W 2 ${to.mesh.ipv6}`);
    }
    // The fallback runs every 15 s, idle or not.
    expectKitUnitsClean(servers, nodes);
    // Sharing no family, node3 and node4 have no endpoint for each other and never shake hands;
    // node3 has node4 as a peer after its next pull.
    const learned = await eventually("node3 has node4 as a peer", SYNC_INTERVAL + 30, () => endpointsOn(servers, n3)[n4.publicKey]);
    expect(learned).toBe("(none)");
    expect(endpointsOn(servers, n4)[n3.publicKey]).toBe("(none)");
    expect(servers.exec(n3, `ping -c 2 -W 1 ${n4.mesh.ipv4}`).status).not.toBe(0);
    log(
      `dual stack: node1 and node2 meshed over IPv6, node3 (IPv4-only) over IPv4 with both in ${meshedDual.toFixed(1)}s, node4 (IPv6-only) over IPv6 with both in ${meshedSix.toFixed(1)}s after the last up; node3 and node4 share no family and do not mesh`,
    );

    // The registrar's view: the dual-stack nodes' name servers with A and AAAA, node3's with A.
    const glueOf = (i: number) => Object.values(outputs[i].delegations)[0].records.filter((r) => / (A|AAAA) /.test(r));
    expect(glueOf(0)).toEqual([`ns-node1.${n1.zone} A 198.51.100.11`, `ns-node1.${n1.zone} AAAA 2001:db8:b0ea::11`]);
    expect(glueOf(2)).toEqual([`ns-node3.${n3.zone} A 198.51.100.13`]);
    expect(glueOf(3)).toEqual([`ns-node4.${n4.zone} AAAA 2001:db8:b0ea::14`]);
    log(`dual stack: glue ${[0, 2, 3].map((i) => glueOf(i).join(", ")).join(" | ")}`);

    // IPv6 breaks between the dual-stack pair (dropped both ways in node2's namespace): each
    // side's wg-endpoints, once no handshake has come for FALLBACK_STALE_SECONDS, tries the
    // peer's IPv4 endpoint, and WireGuard follows the one that answers.
    nftIn(
      m2.name,
      `add table inet labcut6 { chain in { type filter hook input priority -10; ip6 saddr ${m1.address6} drop; }; chain out { type filter hook output priority -10; ip6 daddr ${m1.address6} drop; }; }`,
    );
    const cut = Date.now();
    const diagnose = () =>
      [n1, n2]
        .map(
          (n) =>
            `${n.machine.name}: ` +
            servers.exec(
              n,
              "date +%s; wg show wg0 dump; ls -l /run/boreal/wg-endpoints; journalctl -t boreal-wg-endpoints --no-pager | tail -5; systemctl status boreal-wg-metrics.service --no-pager | tail -5",
            ).output,
        )
        .join("\n");
    const fellBack = await eventually(
      "node1 and node2 reach each other over IPv4 after IPv6 broke between them",
      FALLBACK_STALE_SECONDS + FALLBACK_SETTLE_SECONDS + 90,
      () =>
        endpointsOn(servers, n2)[n1.publicKey] === "198.51.100.11:51820" &&
        endpointsOn(servers, n1)[n2.publicKey] === "198.51.100.12:51820" &&
        servers.exec(n2, `ping -c 1 -W 2 ${n1.mesh.ipv4}`).status === 0 &&
        servers.exec(n1, `ping -c 1 -W 2 ${n2.mesh.ipv6}`).status === 0,
      5000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${diagnose()}`);
    });
    expect(fellBack).toBe(true);
    log(`dual stack: IPv6 cut between node1 and node2, they reached each other over IPv4 ${((Date.now() - cut) / 1000).toFixed(1)}s later`);
  });
});
