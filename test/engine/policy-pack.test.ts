// The rule set's policy pack (src/policy) under the real engine: `pulumi preview
// --policy-pack src/policy` of the kit's own program, for a node that breaks every
// mandatory rule config and templates can break: one preview, failing, naming each rule.
// (A good node previews clean under the pack: engine.test.ts.) Needs the command provider
// and the Node.js language host matching the CLI (npm run toolchain).
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { planRules } from "../../src/core/policy/rules";
import { commandPluginInstalled, configureNode, POLICY_PACK, PROJECT_ROOT, Workspace } from "../helpers/workspace";

const workspaces: Workspace[] = [];
afterAll(() => workspaces.forEach((w) => w.remove()));

/** `[mandatory]  rule-id  (type: name)` lines of the CLI's policy summary, by rule. */
function violated(output: string): string[] {
  return [...new Set([...output.matchAll(/\[(?:mandatory|advisory)\]\s+([a-z-]+)\s+\(/g)].map((m) => m[1]))].sort();
}

/** A workspace with its own copy of src/ and templates/: a member's fork, edited by `edits`. */
function fork(prefix: string, edits: Record<string, [string, string]>): Workspace {
  const ws = new Workspace(prefix);
  workspaces.push(ws);
  for (const entry of ["src", "templates"]) {
    rmSync(join(ws.dir, entry));
    cpSync(join(PROJECT_ROOT, entry), join(ws.dir, entry), { recursive: true });
  }
  for (const [path, [from, to]] of Object.entries(edits)) {
    const text = readFileSync(join(ws.dir, path), "utf8");
    if (!text.includes(from)) throw new Error(`${path} has no ${JSON.stringify(from)}: the test's edit must change it`);
    writeFileSync(join(ws.dir, path), text.replace(from, to));
  }
  return ws;
}

describe.runIf(commandPluginInstalled())("the rule set's policy pack", () => {
  test("a node breaking every mandatory plan rule it can fails the preview, naming each rule and what broke it", () => {
    const ws = fork("policy-bad", {
      // mesh-only-internals: the exporter on every address.
      "templates/etc/default/prometheus-node-exporter.hbs": ["--web.listen-address={{exporter.address}}:", "--web.listen-address=0.0.0.0:"],
      // dnssec-valid: the member's zones unsigned.
      "templates/etc/knot/knot.conf.hbs": ["dnssec-signing: on", "dnssec-signing: off"],
      // no-public-resolver and keys-stay-on-node: a shipped file naming Quad9 and holding a WireGuard key.
      "templates/etc/systemd/system/boreal-sync.timer.hbs": [
        "[Timer]",
        "# fallback resolver 9.9.9.9\n# PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n[Timer]",
      ],
    });
    // state-self-hosted: secrets under an empty passphrase.
    ws.env.PULUMI_CONFIG_PASSPHRASE = "";
    ws.must(["stack", "init", "b1"]);
    configureNode(ws);
    // underlay-declared-only: no firewall at all.
    ws.must(["config", "set", "--path", "boreal:firewall", "false"]);
    const preview = ws.pulumi(["preview", "--policy-pack", POLICY_PACK]);
    expect(preview.status, preview.output).not.toBe(0);
    const mandatory = planRules()
      .filter((r) => r.level === "mandatory")
      .map((r) => r.id);
    // descriptor-current needs a changed program, not config or templates: test/unit/policy.test.ts.
    expect(violated(preview.output)).toEqual(mandatory.filter((id) => id !== "descriptor-current").sort());
    expect(preview.output).toMatch(/b1-monitoring-file-etc-default-prometheus-node-exporter listens on 0\.0\.0\.0/);
    expect(preview.output).toMatch(/zone coop-b\.example\. is not signed/);
    expect(preview.output).toMatch(/stdin names the public resolver 9\.9\.9\.9/);
    expect(preview.output).toMatch(/stdin holds a WireGuard private key/);
    expect(preview.output).not.toContain("yAnz5TF+lXXJte14tji3zlMNq");
    expect(preview.output).toMatch(/node b1 gets no firewall/);
    expect(preview.output).toMatch(/secrets are encrypted by empty passphrase/);
  });
});
