// A server as hosting providers hand them out (issue #27), on one real lab machine: a
// `debian` user with sudo, root's SSH login disabled, and a mail and a web listener already
// running. The preview and the up without boreal:firewall.allow are refused, naming them, and change nothing;
// with the allow lines it applies, and the listeners answer from another underlay address
// (the lab host's) throughout. Root only; run it alone, under the lab lock.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { LAB_PASSPHRASE, labDown, labExec, LabState, labUp, sshArgs, writeLabStacks } from "../../src/lab/lab";
import { LabStacks } from "../../src/lab/stacks";
import { pulumiCliAvailable, Workspace } from "../helpers/workspace";

const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "boreal-lab-sudo-"));
const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);
const USER = "debian";

/** A member's service as the test needs one: answers every connection with one line, then closes. */
const LISTENER = `import socket, sys
server = socket.create_server(("", int(sys.argv[1])), family=socket.AF_INET6, dualstack_ipv6=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"220 member service\\r\\n")
    conn.close()
`;

/** The first line a TCP service sends, or why none came within a second. */
function greeting(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.setEncoding("utf8");
    socket.once("data", (data) => {
      resolve(String(data).trim());
      socket.destroy();
    });
    socket.once("timeout", () => {
      resolve("timeout");
      socket.destroy();
    });
    socket.once("error", (error) => resolve(`error: ${error.message}`));
  });
}

let state: LabState | undefined;
let ws: Workspace | undefined;
afterAll(() => {
  if (state) labDown({ dir, log });
  ws?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(isRoot && pulumiCliAvailable())("a server as it comes", () => {
  test("as a sudo user: listeners the up would cut are refused before any change; declared, they answer throughout the up", async () => {
    state = await labUp({ nodes: 1, subnet: "198.51.100.0/24", installPrerequisites: true, log, dir, sudoUser: USER });
    const machine = state.machines[0];
    expect(machine.sshUser).toBe(USER);
    const asRoot = spawnSync("ssh", [...sshArgs(state, { ...machine, sshUser: "root" }, dir), "true"], { encoding: "utf8" });
    expect(asRoot.status, "root's SSH login is disabled").not.toBe(0);
    const on = (command: string, input?: string) => {
      const result = labExec(state!, machine, command, dir, input);
      expect(result.status, `${command}: ${result.output}`).toBe(0);
      return result.output;
    };
    on("sudo -n tee /usr/local/bin/member-listener >/dev/null", LISTENER);
    for (const port of [25, 80]) on(`sudo -n systemd-run --unit=member-${port} python3 /usr/local/bin/member-listener ${port}`);
    for (let i = 0; i < 20 && (await greeting(machine.address, 80)) !== "220 member service"; i++)
      await new Promise((r) => setTimeout(r, 250));
    expect(await greeting(machine.address, 25)).toBe("220 member service");

    ws = new Workspace("server-as-it-comes");
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    const stacks = new LabStacks(ws.dir, state, ws.env);
    expect(writeLabStacks(state, ws.dir, log).missing).toEqual([]);
    const stack = stacks.stackOf(machine.name);
    stacks.must(["config", "set", "--path", "boreal:ssh.user", USER, "-s", stack]);

    // What the up would change first: packages aside, the kit's files and its firewall.
    const footprint = "sudo -n sh -c 'ls -la --time-style=full-iso /etc/nftables.conf /etc/boreal 2>&1; nft list ruleset'";
    const before = on(footprint);
    /** The refusal's lines, the same at a preview (the program's own look) as at the up (the server check). */
    const expectRefused = (refused: { status: number | null; output: string }) => {
      expect(refused.status).not.toBe(0);
      for (const port of ["tcp/25", "tcp/80"]) {
        expect(refused.output).toMatch(new RegExp(`"python3" \\(pid \\d+\\) listens on ${port} \\(every address\\)`));
      }
      expect(refused.output).toContain("pulumi config set --path 'boreal:firewall.allow[0]' tcp/25");
      expect(refused.output).toContain("pulumi config set --path 'boreal:firewall.allow[1]' tcp/80");
      expect(refused.output).not.toMatch(/host-packages (creating|created)/);
      // sudo's own warning while the server cannot resolve its name (below) is no change.
      expect(on(footprint).replace(/^sudo: unable to resolve host .*\n/gm, "")).toBe(before);
    };
    // Without its /etc/hosts line the server cannot resolve its own name: every sudo waits for
    // the resolver. The preview and the up warn with the line to add, and go on.
    const hostsLine = `127.0.1.1\t${machine.name}`;
    on(`sudo -n sed -i '/^127\\.0\\.1\\.1\\s/d' /etc/hosts`);
    const unresolved = `the server cannot resolve its own name "${machine.name}"`;
    let started = Date.now();
    const previewed = stacks.run(["preview", "-s", stack]);
    expectRefused(previewed);
    expect(previewed.output).toContain(unresolved);
    expect(previewed.output).toContain(`add '127.0.1.1 ${machine.name}' to /etc/hosts`);
    expect(previewed.output).not.toMatch(/server check not taken/);
    log(
      `[federation] preview refused in ${Math.round((Date.now() - started) / 1000)} s: ${previewed.output.match(/listens on tcp\/\d+/g)?.join(", ")}`,
    );
    const refused = stacks.run(["up", "--yes", "--skip-preview", "-s", stack]);
    expectRefused(refused);
    expect(refused.output).toContain(unresolved);
    on(`printf '%s\\n' '${hostsLine}' | sudo -n tee -a /etc/hosts`);
    log(`[federation] refused before any change: ${refused.output.match(/listens on tcp\/\d+/g)?.join(", ")}`);

    stacks.must(["config", "set", "--path", "boreal:firewall.allow[0]", "tcp/25", "-s", stack]);
    stacks.must(["config", "set", "--path", "boreal:firewall.allow[1]", "tcp/80", "-s", stack]);
    // Declared: the preview's look passes, and says so.
    const declared = stacks.must(["preview", "-s", stack]);
    expect(declared).toMatch(/server check at debian@\S+: nothing the firewall would cut/);
    expect(declared).not.toContain(unresolved);
    // From the lab host, another underlay address: a request every 0.2 s to each during the up.
    let asked = 0;
    const missed: string[] = [];
    let up = true;
    const probing = (async () => {
      while (up) {
        for (const port of [25, 80]) {
          asked++;
          const said = await greeting(machine.address, port);
          if (said !== "220 member service") missed.push(`tcp/${port}: ${said}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    started = Date.now();
    try {
      await stacks.upAsync(machine.name).then((result) => expect(result.status, result.output).toBe(0));
    } finally {
      up = false;
      await probing;
    }
    expect(on("sudo -n nft list table inet boreal")).toMatch(/tcp dport 25 accept[\s\S]*tcp dport 80 accept/);
    expect(missed).toEqual([]);
    for (const port of [25, 80]) expect(await greeting(machine.address, port)).toBe("220 member service");
    log(
      `[federation] up as ${USER} in ${Math.round((Date.now() - started) / 1000)} s; ${asked} requests to tcp/25 and tcp/80, ${missed.length} missed`,
    );
  }, 1_200_000);
});
