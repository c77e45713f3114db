// The pure pieces of `npm run bench`: the report's tables and figures, and the generated
// signed registry, which must verify cleanly with the kit's own verifier (a bench against a
// registry with rejections would measure something else).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { plannerSection, PlannerRun } from "../../src/bench/planner";
import { benchNodeName, benchNodeZone, cachedBenchRegistry, writeBenchRegistry } from "../../src/bench/registry";
import { formatBytes, formatDuration, formatReport, markdownTable, median } from "../../src/bench/report";
import { descriptorPath } from "../../src/core/registry/format";
import { plan } from "../../src/core/node/plan";
import { loadRegistry } from "../../src/io/registry/read";
import { formatRejection } from "../../src/core/registry/verify";
import { fixtureSpec } from "../helpers/fixtures";

const work = mkdtempSync(join(tmpdir(), "boreal-bench-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("report", () => {
  test("a markdown table: header, separator, rows; a | inside a cell is escaped", () => {
    expect(
      markdownTable(
        ["measurement", "N"],
        [
          ["plan()", "10"],
          ["a | b", "250"],
        ],
      ),
    ).toBe(["| measurement | N |", "| --- | --- |", "| plan() | 10 |", "| a \\| b | 250 |"].join("\n"));
  });

  test("a row with the wrong number of cells is refused, not silently shifted", () => {
    expect(() => markdownTable(["a", "b"], [["only one"]])).toThrow(/1 cells, the header 2/);
  });

  test("durations and sizes read at a glance", () => {
    expect([0.123, 12.34, 456.7, 1234, 45_678].map(formatDuration)).toEqual(["0.12 ms", "12.3 ms", "457 ms", "1.23 s", "45.7 s"]);
    expect([-300, 512, 2048, 5 * 1024 ** 2, 3 * 1024 ** 3].map(formatBytes)).toEqual(["0 B", "512 B", "2.0 KiB", "5.0 MiB", "3.00 GiB"]);
  });

  test("the median of odd and even counts, whatever the order", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  const run = (nodes: number, cached: boolean): PlannerRun => ({
    registry: { dir: "/cache", trust: "1:x", nodes, members: nodes / 2, generationSeconds: 12.5, cached },
    verify: { medianMs: 30, cpuMs: 28, heapBytes: 2048, runs: 5 },
    plan: { medianMs: 0.5, cpuMs: 0.5, heapBytes: 100, runs: 5 },
    render: { medianMs: 3, cpuMs: 4, heapBytes: 4096, runs: 5 },
    renderedFiles: 26,
    renderedBytes: 61_440,
  });

  test("the planner section: four rows per registry size, in the report with the machine facts", () => {
    const section = plannerSection([run(10, false), run(250, true)]);
    expect(section.rows).toHaveLength(8);
    expect(section.rows.map((r) => r[0])).toEqual([
      "make the signed registry (once, cached)",
      "verify the registry (loadRegistry)",
      "plan() one node",
      "renderNode() one node",
      "make the signed registry (once, cached)",
      "verify the registry (loadRegistry)",
      "plan() one node",
      "renderNode() one node",
    ]);
    expect(section.rows[0].slice(1, 5)).toEqual(["10", "12.5 s", "—", "—"]);
    expect(section.rows[0][5]).not.toMatch(/cache/);
    expect(section.rows[4][5]).toMatch(/read from the cache/);
    expect(section.rows[7]).toEqual(["renderNode() one node", "250", "3.0 ms", "4.0 ms", "4.0 KiB", "26 files, 60.0 KiB"]);
    const machine = { cpus: 2, cpuModel: "AMD EPYC", memoryBytes: 24 * 1024 ** 3, node: "24.21.0", os: "Debian 12.11" };
    const report = formatReport({ date: "2026-11-28", machine, sections: [section], notes: ["The lab sections are not built yet."] });
    expect(report).toContain("Machine: 2 cores (AMD EPYC), 24.00 GiB memory, Node.js 24.21.0, Debian 12.11.");
    expect(report).toContain("The lab sections are not built yet.");
    expect(report).toContain("## The pure planner at scale\n\n| measurement | N | time | cpu | heap | note |");
    expect(report).toContain("How to read:\n- N is the number of nodes");
  });
});

describe("generated signed registry", () => {
  const dir = join(work, "registry-5");
  let made: { trust: string; members: number };
  beforeAll(() => {
    made = writeBenchRegistry(dir, 5);
  });

  test("verifies cleanly with the kit's own verifier: every node, no rejection", () => {
    const verified = loadRegistry(dir, made.trust);
    expect(verified.rejected.map(formatRejection)).toEqual([]);
    expect(made.members).toBe(2);
    expect(verified.federation.settings.members.map((m) => m.name)).toEqual(["coop-a", "coop-b"]);
    const nodes = verified.federation.nodes;
    expect(nodes.map((n) => n.node)).toEqual(["coop-a-1", "coop-a-2", "coop-a-3", "coop-a-4", "coop-b-1"]);
    expect(nodes.map((n) => n.zones)).toEqual(nodes.map((n) => [benchNodeZone(n.node, n.member)]));
    // The allocator gave every node its own address, and each peer its own WireGuard key.
    expect(new Set(nodes.map((n) => n.mesh.ipv4)).size).toBe(5);
    expect(new Set(nodes.map((n) => n.publicKey)).size).toBe(5);
  });

  test("its signatures are real: a changed descriptor is refused", () => {
    const copy = join(work, "tampered");
    rmSync(copy, { recursive: true, force: true });
    const { trust } = writeBenchRegistry(copy, 1);
    const path = join(copy, descriptorPath(benchNodeName("coop-a", 0)));
    writeFileSync(path, readFileSync(path, "utf8").replace(":51820", ":51821"));
    const verified = loadRegistry(copy, trust);
    expect(verified.rejected.map((r) => r.reason).join("\n")).toMatch(/bad signature/);
    expect(verified.federation.nodes).toEqual([]);
  });

  test("a node plans against it", () => {
    const verified = loadRegistry(dir, made.trust);
    const node = verified.federation.nodes[0];
    const spec = { ...fixtureSpec("a1"), member: node.member, node: node.node, endpoint: [node.endpoint], zones: node.zones };
    const nodePlan = plan(spec, verified.federation);
    expect(nodePlan.peers).toHaveLength(4);
    expect(nodePlan.mesh).toEqual(node.mesh);
  });

  test("the cache: made once, then read back with its pin and how long it took", () => {
    const cache = join(work, "cache");
    const first = cachedBenchRegistry(cache, 2);
    const second = cachedBenchRegistry(cache, 2);
    expect(first.cached).toBe(false);
    expect(second).toEqual({ ...first, cached: true });
    expect(loadRegistry(second.dir, second.trust).federation.nodes).toHaveLength(2);
  });
});
