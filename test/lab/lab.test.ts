// The local lab on real systemd-nspawn machines (root only). Asserts on what the machines do.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { imageReady } from "../../src/lab/image";
import { LAB_PASSPHRASE, labDown, labExec, labMounts, labProcesses, labStatus, labUp, LabState, sshArgs, writeLabStacks } from "../../src/lab/lab";
import { parseStackConfig } from "../../src/config/stack";
import { pulumiCliAvailable, Workspace } from "../helpers/workspace";
import { labNamespaces } from "../../src/lab/net";

const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "boreal-lab-test-"));
const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);

describe.runIf(isRoot)("the local lab", () => {
  let state: LabState;
  afterAll(() => labDown({ dir, log }));

  test("up: 3 machines answer SSH with their pinned host keys", async () => {
    const started = Date.now();
    const up = await labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log, dir });
    state = up;
    log(`up in ${Math.round((Date.now() - started) / 1000)}s (image ${up.imageBuilt ? `built in ${up.imageSeconds}s` : "reused"})`);
    expect(state.machines.map((m) => m.name)).toEqual(["node1", "node2", "node3"]);
    for (const m of state.machines) {
      const result = labExec(state, m, "hostname && systemctl is-active ssh", dir);
      expect(result.output, `ssh ${m.name}`).toBe(`${m.name}\nactive\n`);
    }
  });

  test("a wrong pinned host key is refused", () => {
    const [node1, node2] = state.machines;
    const wrong = join(dir, "wrong_known_hosts");
    writeFileSync(wrong, `${node1.address} ${node2.hostKey}\n`);
    const args = sshArgs(state, node1, dir).map((a) => (a.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${wrong}` : a));
    const result = spawnSync("ssh", [...args, "true"], { encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test("each machine pings the others on the lab subnet, and reaches nothing else", () => {
    for (const from of state.machines) {
      for (const to of state.machines.filter((m) => m !== from)) {
        const result = labExec(state, from, `ping -c 1 -W 2 ${to.address}`, dir);
        expect(result.status, `${from.name} → ${to.name}: ${result.output}`).toBe(0);
      }
      expect(labExec(state, from, "ip route show default", dir).output.trim()).toBe("");
    }
  });

  test.runIf(pulumiCliAvailable())("it writes a registry and one stack per machine, the SSH key as a secret", () => {
    const project = new Workspace("lab-stacks");
    try {
      expect(writeLabStacks(state, project.dir, log)).toEqual([]);
      const env = { ...project.env, PULUMI_CONFIG_PASSPHRASE: LAB_PASSPHRASE };
      for (const m of state.machines) {
        const file = readFileSync(join(project.dir, "stacks", `Pulumi.lab-${m.name}.yaml`), "utf8");
        expect(file).toMatch(/privateKey:\n\s+secure: v1:/);
        expect(file).not.toContain("PRIVATE KEY");
        const shown = spawnSync(join(project.dir, "node_modules/.bin/pulumi"), ["config", "--show-secrets", "--json", "-s", `lab-${m.name}`], { cwd: project.dir, env, encoding: "utf8" });
        const raw = Object.fromEntries(Object.entries(JSON.parse(shown.stdout) as Record<string, { value: string }>).map(([k, v]) => [k, typeof v.value === "string" ? v.value : JSON.stringify(v.value)]));
        const spec = parseStackConfig(raw);
        expect(spec).toMatchObject({ node: m.name, endpoint: `${m.address}:51820`, ssh: { host: m.address, hostKey: m.hostKey } });
        expect(spec.ssh.privateKey.trim()).toBe(readFileSync(state.sshKey, "utf8").trim());
      }
      expect(readFileSync(join(dir, "registry", "federation.yaml"), "utf8")).toMatch(/mesh:/);
    } finally {
      project.remove();
    }
  });

  test("status shows them running with sshd up", async () => {
    const rows = await labStatus(dir);
    expect(rows.map((r) => [r.name, r.running, r.sshd])).toEqual([["node1", true, true], ["node2", true, true], ["node3", true, true]]);
  });

  test("a second up reuses the image (no debootstrap) and replaces the first lab cleanly", async () => {
    expect(imageReady()).toBe(true);
    const up = await labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log, dir });
    state = up;
    expect(up.imageBuilt).toBe(false);
    expect(labProcesses()).toHaveLength(3);
  });

  test("a subnet overlapping a host route is refused", async () => {
    const uplink = readFileSync("/proc/net/route", "utf8").includes("eth0") ? "192.0.2.0/24" : undefined;
    if (uplink) await expect(labUp({ nodes: 1, subnet: uplink, installPrerequisites: false, log, dir })).rejects.toThrow(/overlaps the host route/);
  });

  test("down leaves no namespace, veth, bridge, mount or process behind", async () => {
    labDown({ dir, log });
    expect(labNamespaces()).toEqual([]);
    expect(labProcesses()).toEqual([]);
    expect(labMounts(dir)).toEqual([]);
    expect(spawnSync("ip", ["link", "show", "boreal-host"]).status).not.toBe(0);
    expect(await labStatus(dir)).toEqual([]);
  });
});
