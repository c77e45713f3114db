// boreal init: a member's own project, written in a real directory; what it refuses.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import YAML from "yaml";
import { runCommand } from "../../src/cli/command";
import { INIT_USAGE, initCommand } from "../../src/cli/init";
import { PROJECT_ROOT } from "../helpers/workspace";

const kit = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8"));
const work = mkdtempSync(join(tmpdir(), "boreal-init-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function init(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  const status = runCommand({ name: "boreal init", usage: INIT_USAGE }, args, io, () => initCommand(args, io, work));
  return { status, out: out.join("\n"), err: err.join("\n") };
}

describe("boreal init", () => {
  test("writes a member's project: the kit at its version, the kit's pins, the kit's default backend, and the next steps", () => {
    const result = init("coop-a");
    expect(result.status).toBe(0);
    const dir = join(work, "coop-a");
    expect(readdirSync(dir, { recursive: true }).map(String).sort()).toEqual(
      [".gitignore", "Pulumi.yaml", "index.ts", "package.json", "tsconfig.json", "zones", "zones/README.md"].sort(),
    );
    const project = YAML.parse(readFileSync(join(dir, "Pulumi.yaml"), "utf8"));
    // The kit's own project's name: a stack made in the kit's checkout keeps its state and URNs.
    expect(project).toMatchObject({ name: "boreal-kit", runtime: { name: "nodejs", options: { typescript: true } }, main: "index.ts" });
    // The kit's own default: the same backend as the kit's Pulumi.yaml.
    expect(project.backend.url).toBe(YAML.parse(readFileSync(join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")).backend.url);
    expect(project.name).toBe(YAML.parse(readFileSync(join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")).name);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(pkg.name).not.toBe("boreal-kit");
    expect(pkg.dependencies).toEqual({ "boreal-kit": kit.version, node: kit.dependencies.node });
    expect(pkg.devDependencies).toEqual({ pulumi: kit.dependencies.pulumi, typescript: kit.devDependencies.typescript });
    // No SDK of its own: npm installs the kit's one copy.
    expect(JSON.stringify(pkg)).not.toContain("@pulumi/");
    expect(readFileSync(join(dir, "index.ts"), "utf8")).toContain(
      'import { federationNode } from "boreal-kit";\n\nexport = federationNode();',
    );
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toMatch(/^node_modules\/$/m);
    expect(result.out).toMatch(/next:\n\s+cd coop-a\n/);
    expect(result.out).toContain("npm install");
    expect(result.out).toContain("npx pulumi stack init");
  });

  test("--kit names a tarball or a git tag; --name the project", () => {
    expect(init("tgz", "--kit", "file:../boreal-kit-0.1.0.tgz", "--name", "coop-b").status).toBe(0);
    const pkg = JSON.parse(readFileSync(join(work, "tgz", "package.json"), "utf8"));
    expect(pkg.dependencies["boreal-kit"]).toBe("file:../boreal-kit-0.1.0.tgz");
    expect(YAML.parse(readFileSync(join(work, "tgz", "Pulumi.yaml"), "utf8")).name).toBe("coop-b");
    expect(init("git", "--kit", "git+https://git.example/boreal-kit.git#v0.1.0").status).toBe(0);
  });

  test("an existing project is left alone, its files named; other files in the directory are fine", () => {
    const dir = join(work, "mine");
    mkdirSync(join(dir, "zones"), { recursive: true });
    writeFileSync(join(dir, "Pulumi.yaml"), "name: mine\n");
    writeFileSync(join(dir, "zones", "README.md"), "my notes\n");
    writeFileSync(join(dir, "notes.txt"), "mine\n");
    const result = init("mine");
    expect(result.status).toBe(2);
    expect(result.err).toContain("already has Pulumi.yaml, zones/README.md: boreal init overwrites nothing");
    expect(readdirSync(dir).sort()).toEqual(["Pulumi.yaml", "notes.txt", "zones"]);
    expect(readFileSync(join(dir, "Pulumi.yaml"), "utf8")).toBe("name: mine\n");
    mkdirSync(join(work, "other"));
    writeFileSync(join(work, "other", "notes.txt"), "mine\n");
    expect(init("other").status).toBe(0);
  });

  test("bad input is refused with the fix, nothing written", () => {
    const missing = init();
    expect(missing.status).toBe(2);
    expect(missing.err).toContain("the project's directory is missing");
    expect(init("a", "b").err).toContain("one directory, got 2");
    const badName = init("bad", "--name", "coop a");
    expect(badName.status).toBe(2);
    expect(badName.err).toMatch(/--name: "coop a" is not a Pulumi project name/);
    const badKit = init("bad", "--kit", "0.1.0 && rm -rf ~");
    expect(badKit.status).toBe(2);
    expect(badKit.err).toContain("is not a dependency as npm takes it");
    writeFileSync(join(work, "a-file"), "");
    expect(init("a-file").err).toContain("is not a directory");
    expect(readdirSync(work)).not.toContain("bad");
    expect(init("x", "--force").err).toContain("unknown option --force");
  });
});
