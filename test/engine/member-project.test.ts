// A member's own project, made the documented way: `boreal init`, the kit installed from the
// tarball `npm pack` makes (npm install --prefer-offline: from npm's cache, the registry asked
// only for what it lacks), and a real `pulumi preview` of a node in it, without a route out. What it proves: the package's entry, its files
// (templates and the agent's sources found from the package, not the cwd) and one copy of
// @pulumi/pulumi shared by the member's project and the kit.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { commandPluginInstalled, configureNode, PROJECT_ROOT, Workspace } from "../helpers/workspace";

const kit = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string };
const workspaces: Workspace[] = [];
afterAll(() => workspaces.forEach((w) => w.remove()));

/** Every installed copy of a package under a node_modules tree, by the package.json naming it. */
function copiesOf(nodeModules: string, name: string): string[] {
  return readdirSync(nodeModules, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name === "package.json" && e.parentPath.endsWith(join("node_modules", name)))
    .map((e) => e.parentPath);
}

test.runIf(commandPluginInstalled())(
  "boreal init, the kit installed from its npm pack tarball, and a pulumi preview of a node in the member's project",
  () => {
    const started = Date.now();
    const ws = new Workspace("member", {}, false);
    workspaces.push(ws);
    const member = join(ws.dir, "coop-b");
    // The tarball a release is: npm pack runs the kit's prepare (its build) first.
    const pack = spawnSync("npm", ["pack", "--pack-destination", ws.dir, "--json"], { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(pack.status, pack.stderr).toBe(0);
    const tarball = join(ws.dir, (JSON.parse(pack.stdout) as { filename: string }[])[0].filename);
    expect(tarball).toMatch(new RegExp(`boreal-kit-${kit.version.replace(/\./g, "\\.")}\\.tgz$`));
    const packed = Date.now();

    const init = spawnSync(process.execPath, [join(PROJECT_ROOT, "dist/src/cli/boreal.js"), "init", "coop-b", "--kit", `file:${tarball}`], {
      cwd: ws.dir,
      encoding: "utf8",
    });
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toContain("npm install");
    ws.useProject(member);
    // As a member installs it, from npm's cache where it has the package: --prefer-offline asks
    // the registry only for what the cache lacks. Not --offline: a new project has no lock file,
    // and npm ci (which built the kit's node_modules from its lock) cached the packages' tarballs
    // but not every package's metadata, which resolving needs (here "node" was missing).
    const install = spawnSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: member, encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
    const installed = Date.now();
    // The kit is a package in the member's node_modules, not a link to the checkout.
    expect(lstatSync(join(member, "node_modules", "boreal-kit")).isDirectory()).toBe(true);
    expect(existsSync(join(member, "node_modules", "boreal-kit", "templates"))).toBe(true);
    // One copy of the SDK and of the command provider's package, at the kit's pins.
    const pins = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")).dependencies as Record<string, string>;
    for (const name of ["@pulumi/pulumi", "@pulumi/command"]) {
      const copies = copiesOf(join(member, "node_modules"), name);
      expect(copies, name).toEqual([join(member, "node_modules", name)]);
      expect(JSON.parse(readFileSync(join(copies[0], "package.json"), "utf8")).version).toBe(pins[name]);
    }

    // The kit's command comes with it: npx boreal in the member's project.
    const version = spawnSync(join(member, "node_modules", ".bin", "boreal"), ["--version"], { cwd: member, encoding: "utf8" });
    expect(version.stdout.trim()).toBe(`boreal-kit ${kit.version}`);

    // The member's state in the workspace, as a member choosing another backend writes it in
    // Pulumi.yaml (the workspace's PULUMI_BACKEND_URL, which Pulumi prefers, names the same).
    const projectYaml = readFileSync(join(member, "Pulumi.yaml"), "utf8");
    expect(projectYaml).toContain("url: file://~/.boreal-kit/state");
    writeFileSync(join(member, "Pulumi.yaml"), projectYaml.replace(/url: file:\/\/\S+/, `url: file://${ws.dir}/state`));
    ws.must(["stack", "init", "b1"]);
    configureNode(ws);
    const preview = ws.must(["preview", "--diff"]);
    const previewed = Date.now();
    expect(preview).toMatch(/boreal:node:BorealNode/);
    expect(preview).toMatch(/\+ 50 to create/);
    expect(preview).toMatch(/warning: server check not taken at this preview/);
    // The stack file is the member's, beside its Pulumi.yaml; the agent was bundled from the package's sources.
    expect(existsSync(join(member, "Pulumi.b1.yaml"))).toBe(true);
    expect(readdirSync(join(member, ".boreal")).some((f) => /^agent-[0-9a-f]{16}\.js$/.test(f))).toBe(true);
    console.log(
      `[member project] npm pack ${((packed - started) / 1000).toFixed(1)} s, boreal init + npm install ${((installed - packed) / 1000).toFixed(1)} s, stack + preview ${((previewed - installed) / 1000).toFixed(1)} s`,
    );
  },
);
