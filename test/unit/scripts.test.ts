import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { plan } from "../../src/model/plan";
import { FileRole, renderNode, RenderedFile } from "../../src/render";
import { AGENT, agentCommand, installScript, originalPath, removeScript, SERVICE_SCRIPTS } from "../../src/render/scripts";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

// The file scripts run as the kit runs them on a node: sh, stdin as the content.
const work = mkdtempSync(join(tmpdir(), "boreal-scripts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const owner = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
const file = (name: string, content: string): RenderedFile => ({ path: join(work, "etc", name), content, mode: "0640", owner, role: "dns" });
const sh = (script: string, input = "") => {
  const result = spawnSync("sh", ["-c", script], { input, encoding: "utf8" });
  if (result.status !== 0) throw new Error(result.stderr);
};

describe("file install and removal on the node", () => {
  test("a file of the member's own is kept aside, and put back on delete", () => {
    const knot = file("knot.conf", "# Managed by boreal-kit\nserver:\n");
    sh(`mkdir -p ${join(work, "etc")}`);
    writeFileSync(knot.path, "# the member's own knot.conf\n");
    sh(installScript(knot), knot.content);
    expect(readFileSync(knot.path, "utf8")).toBe(knot.content);
    expect(readFileSync(originalPath(knot), "utf8")).toBe("# the member's own knot.conf\n");
    expect((spawnSync("stat", ["-c", "%a", knot.path], { encoding: "utf8" }).stdout ?? "").trim()).toBe("640");

    // A second apply (an update) must not take our own file for the member's.
    sh(installScript(knot), `${knot.content}# changed\n`);
    expect(readFileSync(originalPath(knot), "utf8")).toBe("# the member's own knot.conf\n");

    sh(removeScript(knot));
    expect(readFileSync(knot.path, "utf8")).toBe("# the member's own knot.conf\n");
    expect(existsSync(originalPath(knot))).toBe(false);
  });

  test("a file only the kit had is simply removed", () => {
    const zone = file("zone", "; Managed by boreal-kit\n");
    sh(installScript(zone), zone.content);
    expect(existsSync(originalPath(zone))).toBe(false);
    sh(removeScript(zone));
    expect(existsSync(zone.path)).toBe(false);
  });

  test("no temp file is left behind", () => {
    const listed = spawnSync("sh", ["-c", `ls -a ${join(work, "etc")}`], { encoding: "utf8" }).stdout;
    expect(listed).not.toMatch(/\.boreal\.[A-Za-z0-9]{6}/);
  });
});

describe("service scripts", () => {
  test("every role's apply and undo parse (sh -n)", () => {
    const roles = Object.keys(SERVICE_SCRIPTS) as FileRole[];
    expect(roles.sort()).toEqual(["agent", "dns", "firewall", "monitoring", "wireguard"]);
    for (const role of roles) {
      for (const [what, script] of Object.entries(SERVICE_SCRIPTS[role])) {
        const result = spawnSync("sh", ["-n"], { input: script, encoding: "utf8" });
        expect(result.status, `${role} ${what}: ${result.stderr}`).toBe(0);
      }
    }
  });

  test("pulumi up runs the sync agent under the same lock as its service, and removal clears its state", () => {
    const service = renderNode(plan(fixtureSpec("b1"), fixtureFederation()), templates).find((f) => f.path === "/etc/systemd/system/boreal-sync.service")!;
    expect(service.content).toContain(`ExecStart=/usr/bin/flock ${AGENT.lock} /usr/bin/node ${AGENT.program} sync\n`);
    expect(agentCommand("sync --all")).toBe(`flock ${AGENT.lock} node ${AGENT.program} sync --all`);
    expect(SERVICE_SCRIPTS.agent.apply.split("\n")).toEqual(["set -eu", "systemctl daemon-reload", "systemctl enable --quiet --now boreal-sync.timer", agentCommand("sync --all")]);
    expect(SERVICE_SCRIPTS.agent.undo).toMatch(/disable --quiet --now boreal-sync.timer/);
    expect(SERVICE_SCRIPTS.agent.undo).toContain(`rm -rf ${AGENT.stateDir}`);
  });

  test("a path alone is enough to remove a file (what the agent owns is known by path)", () => {
    sh(`mkdir -p ${join(work, "etc")}`);
    const path = join(work, "etc", "by-path");
    writeFileSync(path, "x");
    sh(removeScript({ path }));
    expect(existsSync(path)).toBe(false);
  });
});
