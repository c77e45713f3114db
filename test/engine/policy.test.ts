// A local CrossGuard policy pack starts under the real engine: what the charter's rules
// (DESIGN.md, "Open compliance framework") will run on with `pulumi preview --policy-pack`.
// Needs the Node.js language host that matches the CLI (npm run toolchain installs it from
// ../shared/plugins); the 3.68.0 one says "could not read plugin …: not supported".
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { PROJECT_ROOT, Workspace } from "../helpers/workspace";

const policyVersion = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")).dependencies["@pulumi/policy"] as string;
const workspaces: Workspace[] = [];
afterAll(() => workspaces.forEach((w) => w.remove()));

describe("a local policy pack", () => {
  test("runs in pulumi preview: a resource that passes previews, one that violates fails the preview naming the policy", () => {
    // A throwaway program: one component, labelled when the stack's config says so.
    const ws = new Workspace(
      "policy",
      {
        "Pulumi.yaml": "name: boreal-policy-check\nruntime: nodejs\n",
        "package.json": JSON.stringify({ name: "boreal-policy-check", private: true, main: "index.js" }),
        "index.js": [
          'const pulumi = require("@pulumi/pulumi");',
          'const label = new pulumi.Config().get("label");',
          "class Box extends pulumi.ComponentResource {",
          '  constructor(name, args, opts) { super("boreal:test:Box", name, args, opts); this.registerOutputs({}); }',
          "}",
          'new Box("box", label ? { label } : {});',
        ].join("\n"),
      },
      false,
    );
    workspaces.push(ws);
    symlinkSync(join(PROJECT_ROOT, "node_modules"), join(ws.dir, "node_modules"));

    // The pack: one mandatory rule. Its @pulumi/policy is the project's (no download).
    const pack = join(ws.dir, "pack");
    mkdirSync(pack);
    writeFileSync(join(pack, "PulumiPolicy.yaml"), "runtime: nodejs\ndescription: boreal-kit engine test pack\n");
    writeFileSync(join(pack, "package.json"), JSON.stringify({ name: "boreal-test-pack", version: "0.0.1", main: "index.js", dependencies: { "@pulumi/policy": policyVersion } }));
    writeFileSync(
      join(pack, "index.js"),
      [
        'const { PolicyPack } = require("@pulumi/policy");',
        'new PolicyPack("boreal-test-pack", {',
        "  policies: [{",
        '    name: "boxes-are-labelled",',
        '    description: "Every boreal:test:Box carries a label.",',
        '    enforcementLevel: "mandatory",',
        "    validateResource: (args, reportViolation) => {",
        '      if (args.type === "boreal:test:Box" && !args.props.label) reportViolation(`box ${args.name} has no label`);',
        "    },",
        "  }],",
        "});",
      ].join("\n"),
    );
    symlinkSync(join(PROJECT_ROOT, "node_modules"), join(pack, "node_modules"));

    ws.must(["stack", "init", "policy"]);
    ws.must(["config", "set", "label", "blue"]);
    const passes = ws.pulumi(["preview", "--policy-pack", pack]);
    expect(passes.status, passes.output).toBe(0);
    expect(passes.output).toMatch(/boreal-test-pack@v0\.0\.1 \(local: /);
    expect(passes.output).not.toMatch(/boxes-are-labelled/);

    ws.must(["config", "rm", "label"]);
    const violates = ws.pulumi(["preview", "--policy-pack", pack]);
    expect(violates.status, violates.output).not.toBe(0);
    expect(violates.output).toMatch(/\[mandatory\]\s+boxes-are-labelled\s+\(boreal:test:Box: box\)/);
    expect(violates.output).toMatch(/box box has no label/);
    expect(violates.output).not.toMatch(/not supported/);
    ws.must(["stack", "rm", "--yes", "--force"]);
  });
});
