// The real Pulumi engine (CLI, Node.js language host, Node 24) on throwaway file:// backends.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { commandPluginInstalled, configureNode, POLICY_PACK, PROJECT_ROOT, Workspace } from "../helpers/workspace";
import { RULE_SET_VERSION } from "../../src/core/label/rules";
import { FIXTURE_PRIVATE_KEY } from "../helpers/fixtures";

const pinned = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")).dependencies.pulumi as string;
const workspaces: Workspace[] = [];
afterAll(() => workspaces.forEach((w) => w.remove()));

describe("the real engine", () => {
  test("npx pulumi answers the pinned version", () => {
    const ws = new Workspace("version", {}, false);
    workspaces.push(ws);
    expect(ws.must(["version"]).trim()).toBe(`v${pinned}`);
  });

  test("up, a second preview with no changes, destroy: on a file:// backend", () => {
    const ws = new Workspace(
      "tiny",
      {
        "Pulumi.yaml": "name: boreal-engine-check\nruntime: nodejs\n",
        "index.js": [
          'const pulumi = require("@pulumi/pulumi");',
          "class Box extends pulumi.ComponentResource {",
          '  constructor(name, opts) { super("boreal:test:Box", name, {}, opts); this.registerOutputs({}); }',
          "}",
          'new Box("box");',
          "const config = new pulumi.Config();",
          'exports.token = config.requireSecret("token");',
          "exports.node = process.version;",
        ].join("\n"),
      },
      false,
    );
    workspaces.push(ws);
    const { symlinkSync } = require("node:fs") as typeof import("node:fs");
    symlinkSync(join(PROJECT_ROOT, "node_modules"), join(ws.dir, "node_modules"));
    ws.must(["stack", "init", "engine"]);
    ws.must(["config", "set", "--secret", "token", "s3cr3t-value-for-the-engine-test"]);
    const up = ws.must(["up", "--yes", "--skip-preview"]);
    expect(up).toMatch(/\+ 2 created/);
    expect(ws.must(["stack", "output", "node"]).trim()).toMatch(/^v24\./);
    ws.must(["preview", "--expect-no-changes"]);
    const state = ws.must(["stack", "export"]);
    expect(state).toContain("boreal:test:Box");
    expect(state).not.toContain("s3cr3t-value-for-the-engine-test");
    expect(ws.must(["destroy", "--yes", "--skip-preview"])).toMatch(/- 2 deleted/);
    ws.must(["stack", "rm", "--yes"]);
  });

  test("the boreal-kit program loads under the language host and reports bad config by key, without a stack trace", () => {
    const ws = new Workspace("program");
    workspaces.push(ws);
    ws.must(["stack", "init", "bad"]);
    ws.must(["config", "set", "boreal:member", "Coop A"]);
    ws.must(["config", "set", "boreal:mtu", "10"]);
    const preview = ws.pulumi(["preview"]);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toMatch(/boreal-kit found \d+ problems in its input/);
    expect(preview.output).toMatch(/boreal:member: .*lowercase.*\n\s+fix: use a DNS-safe name/);
    expect(preview.output).toMatch(/boreal:mtu: is below 1280/);
    expect(preview.output).toMatch(/boreal:ssh: is missing\n\s+fix: set its fields/);
    expect(preview.output).not.toMatch(/\n\s+at .*\(.*\.(ts|js):\d+:\d+\)/);
  });

  test.runIf(commandPluginInstalled())(
    "a good config previews the whole node, clean under the rule set's policy pack (needs the command provider plugin)",
    () => {
      const ws = new Workspace("preview");
      workspaces.push(ws);
      ws.must(["stack", "init", "b1"]);
      configureNode(ws);
      const preview = ws.must(["preview", "--diff", "--policy-pack", POLICY_PACK]);
      expect(preview).toMatch(/boreal:node:BorealNode/);
      // The pack ran and found nothing (policy-pack.test.ts: a stack that breaks its rules).
      // The 3.68.0 language host could not start it ("could not read plugin …: not supported").
      expect(preview).toMatch(new RegExp(`Policy Packs run:\\s+Name\\s+Version\\s+boreal-rules-v${RULE_SET_VERSION}\\|local\\|`));
      expect(preview).not.toMatch(/\[(mandatory|advisory)\]|can't run policy|not supported/);
      // The stack, the node, its components and their commands (monitoring's files, the
      // delegation check's and the nudge's units, the announce and the farewell included), and
      // the server check that goes first (src/program/components/check.ts).
      expect(preview).toMatch(/\+ 50 to create/);
      expect(preview).not.toContain(FIXTURE_PRIVATE_KEY.split("\n")[1]);
      // The preview's own server check (src/program/preview-look.ts): the fixture's private key is
      // no usable key (and its server nobody's: the engine runs without a route out), so a warning
      // naming the key to look at, and the preview goes on.
      expect(preview).toMatch(
        /warning: server check not taken at this preview: the SSH private key for root@198\.51\.100\.12:22 cannot be used: .*boreal:ssh\.privateKey.*; the up takes it before any change/,
      );
      // The firewall file as the engine would write it (--json holds inputs in full).
      const json = ws.must(["preview", "--json"]);
      expect(json).not.toContain(FIXTURE_PRIVATE_KEY.split("\n")[1]);
      const steps = (JSON.parse(json) as { steps: { urn: string; newState?: { inputs: Record<string, unknown> } }[] }).steps;
      const nftables = String(steps.find((step) => step.urn.endsWith("::b1-firewall-file-etc-nftables.conf"))?.newState?.inputs.stdin);
      expect(nftables).toContain('tcp dport 443 accept comment "allow: tcp/443"');
      expect(nftables).toContain('ip saddr 198.51.100.0/24 tcp dport 993 accept comment "allow: tcp/993"');
    },
  );
});
