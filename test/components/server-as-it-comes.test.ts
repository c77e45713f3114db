// A server as hosting providers hand them out (issue #27): an SSH user with sudo instead of
// root, and services already listening. Under the Pulumi mocks harness: how every remote
// command becomes root, and where the server check stands in the graph.
import { describe, expect, test } from "vitest";
import { BorealNode } from "../../src/program/components/node";
import { serverCheck } from "../../src/program/components/check";
import { sshConnection } from "../../src/program/components/ssh";
import { firewallPlan } from "../../src/core/firewall/plan";
import { splitPrivateKey } from "../../src/core/spec/stack";
import { nodeArgs } from "../helpers/node-args";
import { MOCK_LOOK, Recorded, Recorder, settle, unwrapSudo as unwrapped } from "../helpers/mocks";
import { FIXTURE_HOST_KEY, FIXTURE_PRIVATE_KEY, fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

async function build(user: string): Promise<Recorder> {
  const recorder = new Recorder();
  recorder.install();
  const { spec, privateKey } = splitPrivateKey(fixtureSpec("b1", sshAs(user)));
  const node = new BorealNode("b1", nodeArgs(spec, privateKey, fixtureFederation()), { transformations: [recorder.transformation] });
  await settle(node.publicKey);
  await recorder.settled();
  return recorder;
}

/** The fixture's boreal:ssh with another user. */
function sshAs(user: string) {
  return { ssh: { host: "198.51.100.12", port: 22, user, privateKey: FIXTURE_PRIVATE_KEY, hostKey: FIXTURE_HOST_KEY } };
}

const remoteCommands = (r: Recorder) => r.resources.filter((x) => x.type === "command:remote:Command");
const SCRIPTS = ["create", "update", "delete"] as const;

/** The script inside `sudo -n -- sh -c '<script>'`; fails for a command not run through sudo. */
function unwrapSudo(command: string): string {
  expect(command).toMatch(/^sudo -n -- sh -c '/);
  return unwrapped(command);
}

/** Every resource a resource waits for: its own dependencies and its parents', transitively. */
function waitsFor(resources: Recorded[], name: string): Set<string> {
  const byName = new Map(resources.map((r) => [r.name, r]));
  const seen = new Set<string>();
  const visit = (n: string) => {
    const r = byName.get(n);
    if (!r) return;
    for (const d of [...r.dependsOn, ...(r.parent ? [r.parent] : [])]) {
      if (seen.has(d)) continue;
      seen.add(d);
      visit(d);
    }
  };
  visit(name);
  return seen;
}

describe("SSH as a user other than root", () => {
  test("root's commands are as they were: no sudo anywhere, the program copied in place", async () => {
    const root = await build("root");
    for (const r of remoteCommands(root)) for (const k of SCRIPTS) expect(String(r.inputs[k] ?? "")).not.toMatch(/^sudo /);
    expect(root.byName("b1-sync-program").inputs.remotePath).toBe("/usr/local/lib/boreal-agent.js");
    expect(root.resources.map((r) => r.name)).not.toContain("b1-sync-program-install");
  });

  test("every command but the check runs through sudo -n, and is root's script word for word", async () => {
    const root = await build("root");
    const debian = await build("debian");
    const rootByName = new Map(remoteCommands(root).map((r) => [r.name, r]));
    const wrapped = remoteCommands(debian).filter((r) => r.name !== "b1-check" && r.name !== "b1-sync-program-install");
    expect(wrapped.length).toBeGreaterThan(30);
    for (const r of wrapped) {
      const same = rootByName.get(r.name);
      expect(same, `${r.name} is also root's`).toBeDefined();
      for (const k of SCRIPTS) {
        if (same!.inputs[k] === undefined) {
          expect(r.inputs[k], `${r.name} ${k}`).toBeUndefined();
          continue;
        }
        // The agent's config names the SSH user: its hash, in the agent's apply, differs.
        const config = (text: string) => text.replace(/agent\.json:[0-9a-f]+/, "agent.json:<hash>");
        expect(config(unwrapSudo(r.inputs[k])), `${r.name} ${k}`).toBe(config(same!.inputs[k]));
        // One argument of sh -c: the kernel refuses a single argument above 128 KiB.
        expect(Buffer.byteLength(r.inputs[k]), `${r.name} ${k}`).toBeLessThan(128 * 1024);
      }
      expect(r.inputs.connection).toMatchObject({ user: "debian" });
    }
    // The check asks whether sudo works: it runs as the user itself.
    expect(debian.byName("b1-check").inputs.create).toBe(root.byName("b1-check").inputs.create);
    expect(debian.byName("b1-check").inputs.create).not.toMatch(/^sudo /);
  });

  test("the agent's program: copied into the user's home over SFTP, then installed through sudo before anything uses it", async () => {
    const debian = await build("debian");
    expect(debian.byName("b1-sync-program").inputs.remotePath).toBe(".boreal-agent.js");
    const install = debian.byName("b1-sync-program-install");
    expect(install.dependsOn).toEqual(["b1-sync-program"]);
    const script = unwrapSudo(install.inputs.create);
    expect(script).toContain("# boreal: program 0123456789abcdef");
    expect(script).toMatch(/install -m 0644 -o root -g root "\$home"\/'\.boreal-agent\.js' '\/usr\/local\/lib\/boreal-agent\.js'/);
    // The agent's files, its proof and monitoring wait for the installed program, not the staged copy.
    expect([...debian.byName("b1-sync-file-etc-boreal-agent.json").dependsOn].sort()).toEqual([
      "b1-sync-program-install",
      "b1-wireguard-key",
    ]);
    expect(debian.byName("b1-wireguard-proof").dependsOn).toContain("b1-sync-program-install");
  });
});

describe("the server check", () => {
  test("is the first step: no dependency of its own, and every other step on the node waits for it", async () => {
    for (const user of ["root", "debian"]) {
      const recorder = await build(user);
      const check = recorder.byName("b1-check");
      expect(check.parent).toBe("b1");
      expect(check.dependsOn).toEqual([]);
      expect(recorder.byName("b1-host-ssh").dependsOn).toEqual(["b1-check"]);
      const steps = recorder.resources.filter((r) => r.type.startsWith("command:") && r.name !== "b1-check");
      expect(steps.length).toBeGreaterThan(30);
      for (const step of steps)
        expect(waitsFor(recorder.resources, step.name).has("b1-check"), `${step.name} waits for the check`).toBe(true);
    }
  });

  test("the probe's script comes through the check's verdict, the same text as before", async () => {
    const root = await build("root");
    expect(root.byName("b1-host-ssh").inputs.create).toBe("uname -a && cat /etc/debian_version");
  });
});

describe("the server check's verdict", () => {
  const firewall = firewallPlan(fixtureSpec("b1").firewall, { sshPort: 22, listenPort: 51820 });
  const connection = (user: string) => sshConnection(splitPrivateKey(fixtureSpec("b1", sshAs(user))).spec.ssh, FIXTURE_PRIVATE_KEY);

  async function verdict(look: string, user = "root", closeListening: string[] = []) {
    const recorder = new Recorder(undefined, look);
    recorder.install();
    const check = serverCheck(
      "b1-check",
      { connection: connection(user), templates, firewall, closeListening, firewallFiles: [] },
      { transformations: [recorder.transformation] },
    );
    return settle(check.problems);
  }

  const withListeners = (...lines: string[]) =>
    MOCK_LOOK.replace("boreal-check: addresses", `${lines.join("\n")}\nboreal-check: addresses`);

  test("a clean server passes", async () => {
    expect(await verdict(MOCK_LOOK)).toEqual([]);
  });

  test("a user without sudo is refused, naming boreal:ssh.user and the sudoers line", async () => {
    const problems = await verdict("boreal-check: no-sudo\nsudo: a password is required\n", "debian");
    expect(problems).toHaveLength(1);
    expect(problems[0].key).toBe("boreal:ssh.user");
    expect(problems[0].message).toMatch(
      /^debian cannot run commands as root without a password \(sudo -n said: sudo: a password is required\)/,
    );
    expect(problems[0].fix).toContain("debian ALL=(root) NOPASSWD: ALL");
  });

  test("mail and web listening, undeclared: each named with its process and the line to add", async () => {
    const problems = await verdict(
      withListeners(
        'tcp   LISTEN 0      100          0.0.0.0:25        0.0.0.0:*    users:(("master",pid=812,fd=13))',
        'tcp   LISTEN 0      511                *:80              *:*    users:(("nginx",pid=901,fd=6),("nginx",pid=900,fd=6))',
      ),
    );
    expect(problems.map((p) => p.message)).toEqual([
      '"master" (pid 812) listens on tcp/25 (every IPv4 address); the kit\'s firewall would close it to the underlay',
      '"nginx" (pid 901, 900) listens on tcp/80 (every address); the kit\'s firewall would close it to the underlay',
    ]);
    expect(problems[1].fix).toContain("pulumi config set --path 'boreal:firewall.allow[1]' tcp/80");
    expect(problems[1].fix).toContain("pulumi config set --path 'boreal:firewall.closeListening[1]' tcp/80");
  });
});

describe("a refused look", () => {
  test("is taken again at the next up: the refusal renews the token that rides in the check's script", async () => {
    const firewall = firewallPlan(fixtureSpec("b1").firewall, { sshPort: 22, listenPort: 51820 });
    const connection = sshConnection(splitPrivateKey(fixtureSpec("b1", sshAs("debian"))).spec.ssh, FIXTURE_PRIVATE_KEY);
    const tokens: string[] = [];
    async function up(look: string, token: string) {
      const recorder = new Recorder(undefined, look);
      recorder.install();
      const lookAgain = { token, renew: () => tokens.push(`renewed-${tokens.length}`) };
      const check = serverCheck(
        "b1-check",
        { connection, templates, firewall, closeListening: [], firewallFiles: [], lookAgain },
        { transformations: [recorder.transformation] },
      );
      const problems = await settle(check.problems);
      await recorder.settled();
      return { problems, script: String(recorder.byName("b1-check").inputs.create) };
    }
    const refused = await up("boreal-check: no-sudo\nsudo: a password is required\n", "");
    expect(refused.problems).toHaveLength(1);
    expect(tokens).toEqual(["renewed-0"]);
    expect(refused.script.split("\n")[0]).toBe("# boreal: firewall ");
    // The next run carries the new token: a changed script, a new look; it passes and renews nothing.
    const again = await up(MOCK_LOOK, tokens[0]);
    expect(again.script.split("\n")[0]).toBe("# boreal: firewall  look renewed-0");
    expect(again.problems).toEqual([]);
    expect(tokens).toEqual(["renewed-0"]);
  });
});
