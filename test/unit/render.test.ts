import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { plan } from "../../src/model/plan";
import { renderNode, RenderedFile } from "../../src/render";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

const NODES = ["a1", "b1", "c1"] as const;
const rendered = Object.fromEntries(NODES.map((node) => [node, renderNode(plan(fixtureSpec(node), fixtureFederation()), templates)])) as Record<(typeof NODES)[number], RenderedFile[]>;

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), "boreal-render-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function fileOf(node: (typeof NODES)[number], path: string): RenderedFile {
  const file = rendered[node].find((f) => f.path === path);
  if (!file) throw new Error(`${node} has no ${path}`);
  return file;
}

function run(cmd: string, args: string[]): string {
  const result = spawnSync(cmd, args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout + result.stderr;
}

describe.each(NODES)("rendered files of %s", (node) => {
  test("match the snapshots", async () => {
    for (const file of rendered[node]) {
      await expect(`# ${file.path} (mode ${file.mode}, owner ${file.owner})\n${file.content}`).toMatchFileSnapshot(`./__snapshots__/render/${node}${file.path}`);
    }
  });

  test("every snapshot is of a file still rendered", () => {
    const dir = join(__dirname, "__snapshots__", "render", node);
    const snapshots = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => `/${relative(dir, join(e.parentPath, e.name))}`)
      .sort();
    expect(snapshots).toEqual(rendered[node].map((f) => f.path).sort());
  });

  test("the sync agent's units are the agent's, its timer at the stack's interval", () => {
    expect(rendered[node].filter((f) => f.role === "agent").map((f) => f.path)).toEqual(["/etc/systemd/system/boreal-sync.service", "/etc/systemd/system/boreal-sync.timer"]);
    expect(fileOf(node, "/etc/systemd/system/boreal-sync.timer").content).toMatch(/^OnUnitInactiveSec=60s$/m);
    const faster = renderNode(plan(fixtureSpec(node, { syncInterval: 15 }), fixtureFederation()), templates);
    expect(faster.find((f) => f.path === "/etc/systemd/system/boreal-sync.timer")!.content).toMatch(/^OnUnitInactiveSec=15s$/m);
  });

  test.runIf(has("systemd-analyze"))("systemd units pass systemd-analyze verify", () => {
    const dir = join(work, node, "units");
    execFileSync("mkdir", ["-p", dir]);
    const units = rendered[node].filter((f) => /^\/etc\/systemd\/system\/[^/]+\.(service|timer)$/.test(f.path));
    expect(units.length).toBeGreaterThanOrEqual(4);
    const paths = units.map((f) => {
      const path = join(dir, f.path.split("/").pop()!);
      writeFileSync(path, f.content);
      return path;
    });
    const result = spawnSync("systemd-analyze", ["verify", ...paths], { encoding: "utf8" });
    // A program the node has and this machine may lack (node, the kit's own scripts) is no finding.
    const absentProgram = (line: string) => {
      const m = /Command (\S+) is not executable: No such file or directory/.exec(line);
      return m !== null && !existsSync(m[1]);
    };
    const findings = `${result.stdout}${result.stderr}`.split("\n").filter((line) => line.trim() && !absentProgram(line));
    expect(findings).toEqual([]);
  });

  test("no private key material in any file", () => {
    for (const file of rendered[node]) expect(file.content).not.toMatch(/PrivateKey\s*=\s*\S{40,}|PRIVATE KEY-----/);
  });

  test.runIf(has("knotc"))("knot.conf passes knotc conf-check", () => {
    const dir = join(work, node, "knot");
    execFileSync("mkdir", ["-p", dir]);
    const path = join(dir, "knot.conf");
    writeFileSync(path, fileOf(node, "/etc/knot/knot.conf").content);
    expect(run("knotc", ["-c", path, "conf-check"])).toMatch(/Configuration is valid/);
  });

  test.runIf(has("kzonecheck"))("zone files pass kzonecheck", () => {
    for (const file of rendered[node].filter((f) => f.path.startsWith("/var/lib/knot/zones/"))) {
      const zone = file.path.split("/").pop()!.replace(/zone$/, "");
      const path = join(work, `${node}-${zone}zone`);
      writeFileSync(path, file.content);
      run("kzonecheck", ["-o", zone, path]);
    }
  });

  test.runIf(has("nft") && isRoot)("nftables.conf passes nft -c", () => {
    const path = join(work, `${node}-nftables.conf`);
    writeFileSync(path, fileOf(node, "/etc/nftables.conf").content);
    run("nft", ["-c", "-f", path]);
  });

  test.runIf(has("wg-quick") && has("wg"))("wg0.conf parses with wg-quick strip, without a private key", () => {
    const dir = join(work, node, "wg");
    execFileSync("mkdir", ["-p", dir]);
    const path = join(dir, "wg0.conf");
    writeFileSync(path, fileOf(node, "/etc/wireguard/wg0.conf").content);
    const stripped = run("wg-quick", ["strip", path]).split("\n").filter((l) => l.trim() && !l.startsWith("#")).join("\n");
    expect(stripped).toMatch(/^\[Interface\]\nListenPort = 51820\n\[Peer\]/);
    expect(stripped).not.toMatch(/PrivateKey|Address|MTU|PostUp/);
    expect(stripped.match(/\[Peer\]/g)).toHaveLength(2);
  });

  test.runIf(has("sh"))("shell scripts parse (sh -n)", () => {
    for (const file of rendered[node].filter((f) => f.content.startsWith("#!/bin/sh"))) {
      const path = join(work, `${node}-${file.path.split("/").pop()}`);
      writeFileSync(path, file.content);
      run("sh", ["-n", path]);
    }
  });
});

test("with the firewall off, no nftables file is rendered", () => {
  const files = renderNode(plan(fixtureSpec("b1", { firewall: false }), fixtureFederation()), templates);
  expect(files.map((f) => f.path)).not.toContain("/etc/nftables.conf");
});

test("a lone node (no peers) renders a valid knot.conf without remotes or notify", () => {
  const federation = { ...fixtureFederation(), nodes: [] };
  const knot = renderNode(plan(fixtureSpec("a1"), federation), templates).find((f) => f.path === "/etc/knot/knot.conf")!;
  expect(knot.content).not.toMatch(/remote:|notify:/);
  if (has("knotc")) {
    const path = join(work, "lone-knot.conf");
    writeFileSync(path, knot.content);
    run("knotc", ["-c", path, "conf-check"]);
  }
});
