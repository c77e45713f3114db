import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { buildSync } from "esbuild";
import { AGENT_SOURCES, buildOptions, bundleAgent, formatsLine } from "../../src/agent/bundle";
import { newerLine } from "../../src/agent/phases";
import { parseAgentConfig, renderAgentConfig } from "../../src/core/spec/agent";
import {
  AgentState,
  appliedState,
  DecidedRun,
  decideSync,
  emptyAgentState,
  failedState,
  newerObjects,
  rolesToApply,
  syncMetrics,
  syncOutcome,
  unchangedState,
} from "../../src/core/node/sync";
import { splitPrivateKey } from "../../src/core/spec/stack";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { sha256, verifyRegistry } from "../../src/core/registry/verify";
import { FORMATS, latestFormat } from "../../src/core/registry/formats";
import { REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import { signText } from "../../src/io/registry/sign";
import { fixtureRegistryFiles, fixtureSigner, fixtureSpec, fixtureTrustAnchor, templates } from "../helpers/fixtures";

const cache = mkdtempSync(join(tmpdir(), "boreal-agent-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe("the bundled agent", () => {
  test("is one file that a plain node runs, with the templates inside; cached by the hash of its sources", () => {
    const first = bundleAgent(cache);
    expect(first.path).toBe(join(cache, `agent-${first.hash}.js`));
    const text = readFileSync(first.path, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(text).toContain("etc/wireguard/wg0.conf.hbs");
    // Its format and what it reads, in its first lines (src/core/registry/formats.ts).
    expect(text.split("\n").slice(0, 3)).toContain(`// ${formatsLine()}`);
    expect(formatsLine()).toMatch(/^format 1; reads federation \d+, node \d+, attestation \d+$/);
    expect(statSync(first.path).mode & 0o777).toBe(0o755);
    // Unchanged sources: the same file, not rebuilt.
    const mtime = statSync(first.path).mtimeMs;
    const again = bundleAgent(cache);
    expect(again).toEqual(first);
    expect(statSync(again.path).mtimeMs).toBe(mtime);
    const usage = spawnSync(process.execPath, [first.path], { encoding: "utf8" });
    expect(usage.status).toBe(2);
    expect(usage.stdout).toMatch(/usage: boreal-agent sync \[--rekey\] \[--fetched\] \| attest \| remove \| status/);
  }, 60_000);
});

test("the bundle's cache key covers every source file esbuild puts in it", () => {
  const meta = buildSync({ ...buildOptions(), metafile: true }).metafile!;
  const fromSrc = Object.keys(meta.inputs).filter((p) => p.startsWith("src/"));
  expect(fromSrc.length).toBeGreaterThan(10);
  for (const input of fromSrc) {
    const part = input.slice("src/".length);
    expect(
      AGENT_SOURCES.some((s) => part === s || part.startsWith(`${s}/`)),
      `${input} is bundled but not in AGENT_SOURCES`,
    ).toBe(true);
  }
}, 60_000);

describe("the agent's config", () => {
  test("holds the node's own settings with its mesh addresses pinned, and nothing of the operator's", () => {
    const { spec } = splitPrivateKey(fixtureSpec("b1", { publish: "origin" }));
    const text = renderAgentConfig(spec, { ipv4: "100.64.0.17", ipv6: "fd42:b0:ea1::11" });
    expect(text).not.toMatch(/registry|signingKey|publish|PRIVATE|firewall|alerts/);
    const config = parseAgentConfig(text, "/etc/boreal/agent.json");
    expect(config.spec.meshAddress).toEqual({ ipv4: "100.64.0.17", ipv6: "fd42:b0:ea1::11" });
    expect(config.trust).toEqual(fixtureTrustAnchor());
  });

  test("a broken config names the file and the fix", () => {
    expect(() => parseAgentConfig("{", "/etc/boreal/agent.json")).toThrow(
      /\/etc\/boreal\/agent.json: \(file\): is not JSON\n\s+fix: re-apply/,
    );
    expect(() => parseAgentConfig('{"spec":{},"trust":"x"}', "/etc/boreal/agent.json")).toThrow(/agent.json: spec.member/);
  });
});

describe("decideSync: the same plan and render as pulumi up, only the agent's files", () => {
  const { spec } = splitPrivateKey(fixtureSpec("b1"));
  const verified = verifyRegistry({ sources: [{ name: "fixture", files: fixtureRegistryFiles() }], trust: fixtureTrustAnchor() });
  const expected = renderNode(plan(spec, verified.federation!), templates).filter(
    (f) => f.role === "wireguard" || f.role === "dns" || f.role === "probes",
  );

  test("writes exactly what renderNode renders for WireGuard, Knot and the probes, and applies them", () => {
    const decision = decideSync({ spec, verified, templates, onDisk: () => undefined, previousPeers: {}, rekey: false });
    expect(decision.write).toEqual(expected);
    expect(decision.write.filter((f) => f.role === "probes").map((f) => f.path)).toEqual([
      "/etc/prometheus/blackbox.yml",
      "/etc/prometheus/boreal-targets/node.json",
      "/etc/prometheus/boreal-targets/icmp.json",
      "/etc/prometheus/boreal-targets/dns.json",
    ]);
    expect(decision.apply).toEqual(["wireguard", "dns", "probes"]);
    expect(decision.changes).toEqual([expect.stringMatching(/^peer a1 joined/), expect.stringMatching(/^peer c1 joined/)]);
    expect(Object.keys(decision.peers)).toEqual(["a1", "c1"]);
  });

  test("nothing on disk differs: nothing to write or apply; --rekey re-applies WireGuard only (Knot has no key)", () => {
    const onDisk = (path: string) => expected.find((f) => f.path === path)?.content;
    const peers = { a1: verified.federation!.nodes[0].publicKey, c1: verified.federation!.nodes[2].publicKey };
    expect(decideSync({ spec, verified, templates, onDisk, previousPeers: peers, rekey: false })).toMatchObject({
      write: [],
      apply: [],
      changes: [],
    });
    expect(decideSync({ spec, verified, templates, onDisk, previousPeers: peers, rekey: true }).apply).toEqual(["wireguard"]);
  });

  test("a peer's rotation and departure are named", () => {
    const onDisk = (path: string) => expected.find((f) => f.path === path)?.content;
    const changes = decideSync({
      spec,
      verified,
      templates,
      onDisk,
      previousPeers: { a1: "old", gone: "x", c1: verified.federation!.nodes[2].publicKey },
      rekey: false,
    }).changes;
    expect(changes).toEqual([expect.stringMatching(/^peer a1 rotated its key/), "peer gone left"]);
  });
});

describe("the agent's metrics (node-exporter textfile)", () => {
  test("a good run: when, the interval, the federation, peers, refusals and mirrors", () => {
    const text = syncMetrics({
      at: 1000,
      succeeded: true,
      lastSuccess: 1000,
      interval: 60,
      federationVersion: 2,
      peers: 4,
      rejected: 1,
      mirrors: { up: 1, down: 1 },
    });
    expect(text).toMatch(/^boreal_sync_last_success_timestamp_seconds 1000$/m);
    expect(text).toMatch(/^boreal_sync_success 1$/m);
    expect(text).toMatch(/^boreal_sync_interval_seconds 60$/m);
    expect(text).toMatch(/^boreal_sync_mirrors\{state="down"\} 1$/m);
    expect(text).toMatch(/^# TYPE boreal_sync_peers gauge\nboreal_sync_peers 4$/m);
  });

  test("a failed run keeps the last success, and says nothing it does not know", () => {
    const text = syncMetrics({ at: 2000, succeeded: false, lastSuccess: 1000, interval: 60 });
    expect(text).toMatch(/^boreal_sync_last_run_timestamp_seconds 2000$/m);
    expect(text).toMatch(/^boreal_sync_last_success_timestamp_seconds 1000$/m);
    expect(text).toMatch(/^boreal_sync_success 0$/m);
    expect(text).not.toMatch(/peers|mirrors|federation_version/);
    expect(syncMetrics({ at: 1, succeeded: false, interval: 60 })).not.toMatch(/last_success/);
  });
});

describe("the agent's state: written once per run, by its report", () => {
  const { spec } = splitPrivateKey(fixtureSpec("b1"));
  const verified = verifyRegistry({ sources: [{ name: "fixture", files: fixtureRegistryFiles() }], trust: fixtureTrustAnchor() });
  const decision = decideSync({ spec, verified, templates, onDisk: () => undefined, previousPeers: {}, rekey: false });
  const before: AgentState = {
    ...emptyAgentState(),
    peers: { gone: "key" },
    owned: ["/etc/old"],
    pending: ["dns"],
    reported: ["old refusal"],
    lastSuccess: 100,
    inputs: "before",
    written: { "/etc/old": "digest" },
    summary: { version: 1, peers: 1, rejected: 1 },
  };
  const run: DecidedRun = {
    at: 200,
    mirrors: { listed: 2, unreachable: ["git://down"] },
    verified,
    rejected: ["new refusal"],
    decision,
    roles: rolesToApply(decision, before.pending),
    inputs: "now",
  };

  test("the roles to apply keep the agent's order, and a role still pending is among them", () => {
    expect(rolesToApply({ ...decision, apply: ["probes"] }, ["dns"])).toEqual(["dns", "probes"]);
  });

  test("a full run: what it verified, applied and wrote, no role pending, the registry reached", () => {
    const next = appliedState(before, run);
    expect(next).toMatchObject({
      held: verified.held,
      peers: decision.peers,
      pending: [],
      reported: ["new refusal"],
      unreachable: ["git://down"],
      lastSuccess: 200,
      inputs: "now",
    });
    expect(next.owned).toEqual(["/etc/old", ...decision.owned.map((f) => f.path)]);
    expect(next.written).toEqual(Object.fromEntries(decision.owned.map((f) => [f.path, sha256(f.content)])));
    expect(next.summary).toEqual({ version: verified.version!.version, peers: 2, rejected: 1 });
    expect(syncOutcome(next, 200, 60, run.mirrors)).toEqual({
      at: 200,
      succeeded: true,
      lastSuccess: 200,
      interval: 60,
      federationVersion: verified.version!.version,
      peers: 2,
      rejected: 1,
      mirrors: { up: 1, down: 1 },
    });
  });

  test("a run that failed installing or applying (or its intent, should it be killed): its roles pending, the peers as last applied, the last success kept, nothing to skip on next time", () => {
    const next = failedState(before, run);
    expect(next).toEqual({
      held: verified.held,
      peers: { gone: "key" },
      owned: ["/etc/old", ...decision.owned.map((f) => f.path)],
      pending: run.roles,
      reported: ["new refusal"],
      unreachable: ["git://down"],
      lastSuccess: 100,
    });
  });

  test("a run with nothing to decide: only the mirrors and the time move; with every mirror down, no success", () => {
    expect(unchangedState(before, 300, { listed: 2, unreachable: [] })).toEqual({ ...before, unreachable: [], lastSuccess: 300 });
    const down = unchangedState(before, 300, { listed: 1, unreachable: ["git://down"] });
    expect(down).toEqual({ ...before, unreachable: ["git://down"], lastSuccess: 100 });
    expect(syncOutcome(down, 300, 60, { listed: 1, unreachable: ["git://down"] })).toMatchObject({
      succeeded: false,
      lastSuccess: 100,
      federationVersion: 1,
      mirrors: { up: 0, down: 1 },
    });
    expect(unchangedState(before, 300, { listed: 0, unreachable: [] }).lastSuccess).toBe(300);
  });
});

describe("a node whose kit is older than an object in the registry (src/core/registry/formats.ts)", () => {
  // Member coop-a's newer kit published a1 in a format this agent does not read; b1's agent runs.
  const { spec } = splitPrivateKey(fixtureSpec("b1"));
  const format = latestFormat(FORMATS.node) + 1;
  const files = fixtureRegistryFiles();
  const a1 = files.find((f) => f.path === "nodes/a1.yaml")!.content;
  const newer = a1
    .replace(/\n/, `\nformat: ${format}\n`)
    .replace(/serial: \d+/, "serial: 1895168800")
    .replace("198.51.100.11", "198.51.100.111");
  const mirror = [
    ...files.filter((f) => !f.path.startsWith("nodes/a1.yaml")),
    { path: "nodes/a1.yaml", content: newer },
    { path: "nodes/a1.yaml.sig", content: signText(newer, fixtureSigner("coop-a"), REGISTRY_NAMESPACE) },
  ];
  const trust = fixtureTrustAnchor();
  const held = verifyRegistry({ sources: [{ name: "fixture", files }], trust }).held;
  const run = (verified: ReturnType<typeof verifyRegistry>, previous: AgentState): DecidedRun => {
    const decision = decideSync({ spec, verified, templates, onDisk: () => undefined, previousPeers: previous.peers, rekey: false });
    return {
      at: 500,
      mirrors: { listed: 1, unreachable: [] },
      verified,
      rejected: verified.rejected.map((r) => r.reason),
      decision,
      roles: rolesToApply(decision, []),
      inputs: "x",
    };
  };
  const before: AgentState = { ...emptyAgentState(), held, peers: { a1: "old", c1: "old" }, lastSuccess: 400 };

  test("it keeps the a1 it held and applies everything else: nothing of the newer object, no freeze", () => {
    const verified = verifyRegistry({ sources: [{ name: "mirror", files: mirror }], trust, held });
    expect(newerObjects(verified)).toBe(1);
    const decided = run(verified, before);
    const wg = decided.decision.owned.find((f) => f.path === "/etc/wireguard/wg0.conf")!.content;
    expect(wg).toContain("198.51.100.11:51820");
    expect(wg).not.toContain("198.51.100.111");
    expect(Object.keys(decided.decision.peers)).toEqual(["a1", "c1"]);
    expect(decided.decision.write.length).toBeGreaterThan(0);
  });

  test("a node that never held it goes on with every other peer", () => {
    const verified = verifyRegistry({ sources: [{ name: "mirror", files: mirror }], trust });
    expect(Object.keys(run(verified, emptyAgentState()).decision.peers)).toEqual(["c1"]);
  });

  test("the run is no success: BorealSyncFailing's last success stays, the metrics count the newer object, until the kit is upgraded", () => {
    const verified = verifyRegistry({ sources: [{ name: "mirror", files: mirror }], trust, held });
    const next = appliedState(before, run(verified, before));
    expect(next.lastSuccess).toBe(400);
    expect(next.summary).toMatchObject({ newer: 1, rejected: 1 });
    const outcome = syncOutcome(next, 500, 60, { listed: 1, unreachable: [] });
    expect(outcome).toMatchObject({ succeeded: false, lastSuccess: 400, newer: 1, peers: 2 });
    const metrics = syncMetrics(outcome);
    expect(metrics).toMatch(/^boreal_sync_newer_format_objects 1$/m);
    expect(metrics).toMatch(/^boreal_sync_success 0$/m);
    // The next runs find the same inputs: still no success.
    expect(unchangedState(next, 560, { listed: 1, unreachable: [] }).lastSuccess).toBe(400);
    // Once nothing is too new (the kit upgraded, or the member went back), success again.
    const plain = verifyRegistry({ sources: [{ name: "fixture", files }], trust, held });
    const mended = appliedState(next, run(plain, next));
    expect(mended.lastSuccess).toBe(500);
    expect(mended.summary).not.toHaveProperty("newer");
    expect(syncMetrics(syncOutcome(mended, 500, 60, { listed: 1, unreachable: [] }))).not.toMatch(/newer_format/);
  });

  test("its log says which object, which formats it reads and what to do", () => {
    const verified = verifyRegistry({ sources: [{ name: "mirror", files: mirror }], trust, held });
    expect(verified.rejected[0].reason).toBe(
      `format: this object was written by a newer boreal-kit (format ${format}); upgrade to a kit that reads format ${format} (see docs/explanation/upgrades.md)`,
    );
    expect(newerLine(verified.rejected)).toBe(
      `a newer boreal-kit wrote nodes/a1.yaml (format ${format}): this node's agent reads formats federation ${FORMATS.federation.length}, node ${FORMATS.node.length}, attestation ${FORMATS.attestation.length}, agent ${FORMATS.agent.length}; it keeps what it held of those and applies everything else. Upgrade the member's kit and run pulumi up (docs/how-to/upgrade.md)`,
    );
  });
});
