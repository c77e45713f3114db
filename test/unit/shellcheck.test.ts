// Every shell script the kit can send to a node, as a fixture plan renders it, passes the
// real shellcheck (POSIX sh: Debian's /bin/sh is dash); and every shell template takes its
// values through {{sh}} (templates/README.md).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { plan } from "../../src/core/node/plan";
import { renderNode, renderScript, renderTemplate, TemplateSources } from "../../src/core/node/render";
import {
  attestationKeyDeleteScript,
  attestationKeyScript,
  hostProbeScript,
  installScript,
  keyDeleteScript,
  keyProofScript,
  keyScript,
  keySwitchScript,
  nudgeScript,
  packagesScript,
  removeScript,
  servedDnskeysScript,
  serviceScripts,
} from "../../src/core/node/scripts";
import { REGISTRY_PUBLISH_TEMPLATE } from "../../src/io/git";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

const hasShellcheck = spawnSync("sh", ["-c", "command -v shellcheck"]).status === 0;
const work = mkdtempSync(join(tmpdir(), "boreal-shellcheck-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** shellcheck's findings on each script, as "<name>:<line>: <its words> (<the line>)"; none when all pass. */
function shellcheck(scripts: Record<string, string>): string[] {
  const dir = mkdtempSync(join(work, "run-"));
  const names = Object.keys(scripts);
  // One file a script, named by its place in the list: shellcheck names it back.
  names.forEach((name, i) => writeFileSync(join(dir, `${i}.sh`), scripts[name]));
  const result = spawnSync("shellcheck", ["--norc", "--shell=sh", "--format=gcc", ...names.map((_, i) => `${i}.sh`)], {
    cwd: dir,
    encoding: "utf8",
  });
  if (result.error) throw result.error;
  if (result.status !== 0 && result.stdout === "") throw new Error(`shellcheck exited ${result.status}: ${result.stderr}`);
  return result.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const m = /^(\d+)\.sh:(\d+):\d+: (.*)$/.exec(line);
      if (!m) return line;
      const name = names[Number(m[1])];
      return `${name}:${m[2]}: ${m[3]} (${scripts[name].split("\n")[Number(m[2]) - 1].trim()})`;
    });
}

/** The templates, noting each one read: what the scripts below are rendered from. */
const read = new Set<string>();
const watched: TemplateSources = new Proxy(templates, {
  get(target, name: string) {
    read.add(name);
    return target[name];
  },
});

/** Every script the kit sends to a node, by what it is. */
function nodeScripts(): Record<string, string> {
  const federation = fixtureFederation();
  const nodePlan = plan(fixtureSpec("b1"), federation);
  const files = renderNode(nodePlan, watched);
  // A lone node: no peers, no catalogs (the branches the list of peers takes empty).
  const lone = renderNode(plan(fixtureSpec("a1"), { ...federation, nodes: [] }), watched);
  const scripts: Record<string, string> = {};
  for (const [which, rendered] of [
    ["b1", files],
    ["lone a1", lone],
  ] as const) {
    for (const file of rendered.filter((f) => f.content.startsWith("#!/bin/sh"))) scripts[`${file.path} (${which})`] = file.content;
  }
  for (const file of files) {
    scripts[`install ${file.path}`] = installScript(file, watched);
    scripts[`remove ${file.path}`] = removeScript(file, watched);
  }
  for (const [role, { apply, undo }] of Object.entries(serviceScripts(watched))) {
    scripts[`${role} apply`] = apply;
    scripts[`${role} undo`] = undo;
  }
  scripts["host probe"] = hostProbeScript(watched);
  scripts["packages"] = packagesScript(undefined, watched);
  scripts["WireGuard key"] = keyScript(nodePlan.keyEpoch, watched);
  scripts["WireGuard key delete"] = keyDeleteScript(watched);
  scripts["WireGuard key switch"] = keySwitchScript(watched);
  scripts["nudge"] = nudgeScript(federation.settings.name, watched);
  scripts["WireGuard key proof"] = keyProofScript(federation.settings.name, "b1", "cm90YXRlZC1rZXktb2YtYTEtZm9yLXRoZS10ZXN0LTA=", watched);
  scripts["attestation key"] = attestationKeyScript("b1", federation.settings.name, watched);
  scripts["attestation key delete"] = attestationKeyDeleteScript(watched);
  scripts["served DNSKEYs"] = servedDnskeysScript(
    nodePlan.dns.primaryZones.map((z) => z.name),
    watched,
  );
  // The server check and the agent's install for a sudo user (src/program/components/check.ts, service.ts).
  scripts["server check"] = renderScript(watched, "run/server-check.sh.hbs", {
    managedMark: "Managed by boreal-kit",
    knotConf: "/etc/knot/knot.conf",
  });
  scripts["agent program install"] = renderScript(watched, "run/agent-program-install.sh.hbs", {
    staged: ".boreal-agent.js",
    program: "/usr/local/lib/boreal-agent.js",
  });
  // Its values come through the environment (src/io/git.ts); the agent runs it for attestations.
  scripts["registry publish"] = renderTemplate(watched, REGISTRY_PUBLISH_TEMPLATE, {});
  return scripts;
}

const scripts = nodeScripts();

/** A template whose output is a shell script: the scripts run on a node, and the installed ones. */
const isShellTemplate = (name: string) => name.startsWith("run/") || templates[name].startsWith("#!/bin/sh");

describe("shellcheck", () => {
  test.runIf(hasShellcheck || process.env.CI)("every script the kit can send to a node passes shellcheck", () => {
    expect(Object.keys(scripts).length).toBeGreaterThan(30);
    expect(shellcheck(scripts)).toEqual([]);
  });

  test.runIf(hasShellcheck || process.env.CI)(
    "it can fail: a script with unquoted expansions is flagged, by name, in shellcheck's words",
    () => {
      const findings = shellcheck({
        good: 'set -eu\necho "$1"',
        "a bad script": "set -eu\nfor f in $(ls /etc); do rm $f; done\n[ $1 == x ]",
      });
      expect(findings.filter((f) => f.startsWith("good:"))).toEqual([]);
      expect(findings.join("\n")).toMatch(/^a bad script:2: .*\[SC2045\]/m);
      expect(findings.join("\n")).toMatch(/^a bad script:2: .*Double quote to prevent globbing and word splitting.*\[SC2086\] \(for f in/m);
      expect(findings.join("\n")).toMatch(/^a bad script:3: .*\[SC3014\]/m);
    },
  );

  test("every shell template is among them (a new one must be rendered above)", () => {
    const shellTemplates = Object.keys(templates).filter(isShellTemplate).sort();
    expect(shellTemplates.length).toBeGreaterThan(20);
    expect(shellTemplates.filter((name) => !read.has(name))).toEqual([]);
  });
});

test("every value in a shell template goes through {{sh}}; only the kit's own code, comments and the DNSKEY zone list are inserted bare", () => {
  const bare: string[] = [];
  for (const name of Object.keys(templates).filter(isShellTemplate)) {
    templates[name].split("\n").forEach((line, i) => {
      if (/^\s*#/.test(line)) return;
      for (const [, expression] of line.matchAll(/\{\{(?!!)([^}]*)\}\}/g)) {
        const inner = expression.trim();
        // Blocks, partials, else, and {{sh …}}; or shell code the kit composed (…Script, …Command).
        if (/^([#/>^]|else\b|sh\s)/.test(inner) || /^\w+(Script|Command)$/.test(inner)) continue;
        if (name === "run/served-dnskeys.sh.hbs" && inner === "zoneWords") continue;
        bare.push(`${name}:${i + 1}: {{${inner}}}`);
      }
    });
  }
  expect(bare).toEqual([]);
});
