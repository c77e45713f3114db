// The server check at a preview (src/program/preview-look.ts): what the preview does when the
// server cannot be reached, when it offers another host key than the pinned one (a real SSH
// server, ssh2's, on the loopback), when the private key cannot be used, and when the kit's
// firewall is already in place.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "ssh2";
import { afterAll, describe, expect, test } from "vitest";
import { firewallPlan } from "../../src/core/firewall/plan";
import { contentHash } from "../../src/core/node/render";
import { firewallInPlace, previewLook, PreviewLookArgs } from "../../src/program/preview-look";
import { FIXTURE_HOST_KEY, FIXTURE_PRIVATE_KEY, fixtureSpec, templates } from "../helpers/fixtures";

const dir = mkdtempSync(join(tmpdir(), "boreal-preview-look-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh ed25519 key pair's private half, as ssh-keygen writes it. */
function newKey(name: string): string {
  const file = join(dir, name);
  expect(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]).status).toBe(0);
  return readFileSync(file, "utf8");
}

function args(port: number, privateKey = newKey(`client-${port}`)): PreviewLookArgs {
  return {
    ssh: { host: "127.0.0.1", port, user: "debian", privateKey, hostKey: FIXTURE_HOST_KEY },
    templates,
    firewall: firewallPlan(fixtureSpec("b1").firewall, { sshPort: 22, listenPort: 51820 }),
    closeListening: [],
    firewallFiles: [{ path: "/etc/nftables.conf", content: "table inet boreal {}\n", mode: "0644", owner: "root", role: "firewall" }],
  };
}

/** A port on the loopback that nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server: NetServer = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("the server check at a preview", () => {
  test("a server that cannot be reached: a warning naming it and why, the preview goes on", async () => {
    const port = await closedPort();
    const outcome = await previewLook(args(port), 5_000);
    expect(outcome).toEqual({
      warn: expect.stringMatching(
        new RegExp(
          `^server check not taken at this preview: cannot reach debian@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*; the up takes it before any change$`,
        ),
      ) as unknown,
    });
  });

  test("a server whose host key is not the pinned one: a warning naming boreal:ssh.hostKey, the preview goes on", async () => {
    const server = new Server({ hostKeys: [newKey("host")] }, (client) => client.on("error", () => undefined));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const outcome = await previewLook(args(port), 5_000);
      expect(outcome).toEqual({
        warn:
          `server check not taken at this preview: cannot reach debian@127.0.0.1:${port}: its host key is not the one pinned in boreal:ssh.hostKey ` +
          "(the server was reinstalled, or this is not it) (fix: check the key out of band before changing the pin); the up takes it before any change",
      });
    } finally {
      server.close();
    }
  });

  test("a private key that cannot be used: a warning naming boreal:ssh.privateKey, before any connection", async () => {
    const outcome = await previewLook(args(await closedPort(), FIXTURE_PRIVATE_KEY), 5_000);
    expect(outcome).toEqual({
      warn: expect.stringMatching(
        /^server check not taken at this preview: the SSH private key for debian@127\.0\.0\.1:\d+ cannot be used: .*\(fix: .*boreal:ssh\.privateKey.*\); the up takes it before any change$/,
      ) as unknown,
    });
  });

  test("the kit's firewall in place as planned: every file's hash as sha256sum prints it", () => {
    const files = args(22).firewallFiles;
    const content = files[0].content;
    const full = spawnSync("sha256sum", { input: content, encoding: "utf8" }).stdout.split(" ")[0];
    expect(full.slice(0, 16)).toBe(contentHash(content));
    expect(firewallInPlace(files, `${full}  /etc/nftables.conf\n`)).toBe(true);
    // Another firewall, none, or an answer that is not sha256sum's: the up takes a new look.
    expect(firewallInPlace(files, `${"0".repeat(64)}  /etc/nftables.conf\n`)).toBe(false);
    expect(firewallInPlace(files, "sha256sum: /etc/nftables.conf: No such file or directory\n")).toBe(false);
    expect(firewallInPlace(files, `${full}  /etc/other.conf\n`)).toBe(false);
    expect(firewallInPlace([], "")).toBe(false);
  });
});
