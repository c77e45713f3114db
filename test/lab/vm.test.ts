// The lab's VM backend (issue #29): two members on two QEMU VMs booting Debian's own kernel
// (linux-image-amd64), each joining with its pulumi up. The mesh runs on the kernel's WireGuard
// (no wireguard-go), every pair pings over mesh IPv4 and IPv6, and a VM rebooted (a real kernel
// boot) comes back meshed with no pulumi up. Root only; run it alone, under the lab lock. TCG
// (emulation) where KVM does not work, as on CI's machine: minutes, not seconds.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { git } from "../../src/lab/federation";
import { LAB_PASSPHRASE, labDown, labProcesses, LabState, labStatus, labUp, writeLabStacks } from "../../src/lab/lab";
import { labNamespaces } from "../../src/lab/net";
import { LabStacks } from "../../src/lab/stacks";
import { tapName } from "../../src/lab/vm";
import { eventually, log, NodeView, Servers, timeToFullMesh } from "../helpers/federation-checks";
import { commandPluginInstalled, pulumiCliAvailable, Workspace } from "../helpers/workspace";

const qemu = spawnSync("sh", ["-c", "command -v qemu-system-x86_64 && command -v qemu-img"]).status === 0;
const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();
const dir = mkdtempSync(join(tmpdir(), "boreal-lab-vm-"));
const labLog = (line: string) => process.stderr.write(`[lab] ${line}\n`);

let state: LabState | undefined;
let ws: Workspace | undefined;
afterAll(() => {
  if (state) labDown({ dir, log: labLog });
  ws?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(ready)("the lab on QEMU VMs with Debian's kernel", () => {
  // No QEMU, no VM: the one reason to skip, said by name (CI installs qemu-system-x86 and qemu-utils).
  test.skipIf(!qemu)("two members on two VMs mesh on the kernel's WireGuard, and a rebooted VM comes back meshed", async () => {
    const started = Date.now();
    state = await labUp({ nodes: 2, subnet: "198.51.100.0/24", installPrerequisites: true, log: labLog, dir, backend: "vm" });
    const up = (Date.now() - started) / 1000;
    const rows = await labStatus(dir);
    for (const m of state.machines) {
      expect(m.vm, m.name).toBeDefined();
      log(`VM ${m.name} (Debian ${m.suite}, ${m.vm!.accel}): booted to sshd in ${m.vm!.bootSeconds}s`);
    }
    expect(rows.map((r) => r.backend)).toEqual(state.machines.map((m) => `vm ${m.vm!.accel}`));
    log(`lab up (2 VMs, ${state.machines[0].vm!.accel}): ${up.toFixed(1)}s`);
    const servers = new Servers(state, dir);
    for (const m of state.machines) {
      // Debian's own kernel, not the host's.
      const release = servers.exec({ machine: m } as NodeView, "uname -r").output.trim();
      expect(release).toMatch(/-amd64$/);
      expect(release).not.toBe(spawnSync("uname", ["-r"], { encoding: "utf8" }).stdout.trim());
    }

    ws = new Workspace("vm");
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    const stacks = new LabStacks(ws.dir, state, ws.env);
    const written = writeLabStacks(state, ws.dir, labLog, { dualStack: true });
    expect(written.missing).toEqual([]);
    const nodes: NodeView[] = [];
    for (const [i, machine] of state.machines.entries()) {
      git(written.members[i].registry, "pull", "-q");
      const upStarted = Date.now();
      const outputs = stacks.up(machine.name);
      log(`pulumi up ${machine.name} (VM): ${((Date.now() - upStarted) / 1000).toFixed(1)}s`);
      nodes[i] = {
        machine,
        member: written.members[i].name,
        zone: outputs.zones[0],
        mesh: { ipv4: outputs.meshIpv4, ipv6: outputs.meshIpv6 },
        publicKey: outputs.publicKey,
      };
    }
    const meshed = await timeToFullMesh(servers, nodes, Date.now(), 300);
    log(`VM mesh: both nodes shook hands ${meshed.toFixed(1)}s after the last up`);

    const kernelWireGuard = () => {
      for (const n of nodes) {
        expect(servers.ok(n, "ip -d link show wg0"), n.machine.name).toMatch(/\n\s+wireguard /);
        expect(
          servers.exec(n, "cat /proc/[0-9]*/comm 2>/dev/null | grep -qx wireguard-go").status,
          `${n.machine.name}: wireguard-go runs`,
        ).not.toBe(0);
        expect(servers.ok(n, "lsmod")).toMatch(/^wireguard /m);
      }
    };
    const pings = (label: string) => {
      for (const [from, to] of [
        [nodes[0], nodes[1]],
        [nodes[1], nodes[0]],
      ])
        servers.ok(from, `ping -c 2 -W 3 ${to.mesh.ipv4} && ping -c 2 -W 3 ${to.mesh.ipv6}`);
      log(`VM mesh ${label}: node1 ↔ node2 ping over mesh IPv4 and IPv6`);
    };
    kernelWireGuard();
    pings("after pulumi up");

    // A real reboot: the guest's kernel boots again (QEMU stays), and brings WireGuard up by
    // itself (the module, wg-quick@wg0 at boot), with no pulumi up.
    const rebooted = nodes[1];
    const bootIdBefore = servers.ok(rebooted, "cat /proc/sys/kernel/random/boot_id").trim();
    const rebootStarted = Date.now();
    servers.exec(rebooted, "systemctl --no-block reboot");
    await eventually("node2 is back after its reboot", 600, () => {
      const id = servers.exec(rebooted, "cat /proc/sys/kernel/random/boot_id");
      return id.status === 0 && id.output.trim() !== bootIdBefore;
    });
    const back = (Date.now() - rebootStarted) / 1000;
    await eventually(
      "node2's wg-quick@wg0 is up after its boot",
      300,
      () => servers.exec(rebooted, "systemctl is-active wg-quick@wg0").status === 0,
    );
    log(`VM reboot: node2 answered SSH with a new boot id ${back.toFixed(1)}s after its reboot`);
    const timers = servers.ok(rebooted, "systemctl list-timers --all --no-legend 'boreal-*'");
    expect(timers).toMatch(/boreal-/);
    await eventually("node1 and node2 mesh again", 300, () => servers.exec(nodes[0], `ping -c 1 -W 2 ${rebooted.mesh.ipv4}`).status === 0);
    kernelWireGuard();
    pings("after node2's reboot");

    labDown({ dir, log: labLog });
    state = undefined;
    expect(labProcesses()).toEqual([]);
    expect(labNamespaces()).toEqual([]);
    expect(spawnSync("ip", ["link", "show", tapName("node1")]).status).not.toBe(0);
    log(`VM scenario: ${((Date.now() - started) / 1000).toFixed(1)}s in all`);
  });
});
