// The bench's planner section: what one node's `pulumi up` and sync agent compute, against
// large signed registries. Time is the median of several runs after a warm-up (JIT, the
// compiled templates); heap is what the result keeps alive, measured with a full gc
// before and after (node --expose-gc).
import { planSpecSchema } from "../core/spec/stack";
import { plan } from "../core/node/plan";
import { loadRegistry } from "../io/registry/read";
import { formatRejection } from "../core/registry/verify";
import { renderNode, TemplateSources } from "../core/node/render";
import { BenchRegistry, cachedBenchRegistry, NODES_PER_MEMBER } from "./registry";
import { BenchSection, formatBytes, formatDuration, median } from "./report";

export const PLANNER_SIZES = [10, 250, 1000] as const;

export interface Figure {
  /** Wall-clock time. */
  medianMs: number;
  /** CPU time of the process (user + system, every thread): steadier than wall time on a shared machine. */
  cpuMs: number;
  /** V8 heap the result keeps alive: heap used after a full gc with the result held, minus before. */
  heapBytes: number;
  runs: number;
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("the bench needs node --expose-gc (npm run bench passes it)");
  gc();
}

export function measure<T>(run: () => T, runs: number): { figure: Figure; result: T } {
  let result: T | undefined = run(); // warm-up, not counted
  const times: number[] = [];
  const cpu: number[] = [];
  const heaps: number[] = [];
  for (let i = 0; i < runs; i++) {
    result = undefined; // else the last run's result is in "before" and freed by "after"
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    result = run();
    times.push(performance.now() - started);
    const cpuUsed = process.cpuUsage(cpuBefore);
    cpu.push((cpuUsed.user + cpuUsed.system) / 1000);
    collectGarbage();
    heaps.push(process.memoryUsage().heapUsed - before);
  }
  return { figure: { medianMs: median(times), cpuMs: median(cpu), heapBytes: median(heaps), runs }, result: result as T };
}

/** The stack config of the registry's first node, as its agent is given it (planning never dials SSH). */
function firstNodeSpec(registry: ReturnType<typeof loadRegistry>) {
  const node = registry.federation.nodes[0];
  const member = registry.federation.settings.members.find((m) => m.name === node.member)!;
  return planSpecSchema.parse({
    member: node.member,
    node: node.node,
    ssh: { host: node.endpoint.split(":")[0], hostKey: member.keys[0] },
    endpoint: node.endpoint,
    zones: node.zones,
  });
}

export interface PlannerRun {
  registry: BenchRegistry;
  verify: Figure;
  plan: Figure;
  render: Figure;
  renderedFiles: number;
  renderedBytes: number;
}

export function runPlanner(args: { cacheDir: string; sizes: readonly number[]; runs: number; templates: TemplateSources; log: (line: string) => void }): PlannerRun[] {
  const { templates } = args;
  return args.sizes.map((nodes) => {
    const registry = cachedBenchRegistry(args.cacheDir, nodes, args.log);
    args.log(`${nodes} nodes: ${registry.cached ? "cached" : "made"} registry (generation took ${registry.generationSeconds.toFixed(1)} s); measuring…`);
    const verify = measure(() => loadRegistry(registry.dir, registry.trust), args.runs);
    const verified = verify.result;
    // A bench against a registry that does not fully verify would measure something else.
    if (verified.rejected.length > 0 || verified.federation.nodes.length !== nodes) {
      const found = `${verified.federation.nodes.length} of ${nodes} nodes; remove it to make it again`;
      throw new Error(`the bench registry ${registry.dir} does not verify cleanly (${found}): ${verified.rejected.slice(0, 3).map(formatRejection).join("; ")}`);
    }
    const spec = firstNodeSpec(verified);
    const planned = measure(() => plan(spec, verified.federation), args.runs);
    const rendered = measure(() => renderNode(planned.result, templates), args.runs);
    return {
      registry,
      verify: verify.figure,
      plan: planned.figure,
      render: rendered.figure,
      renderedFiles: rendered.result.length,
      renderedBytes: rendered.result.reduce((sum, f) => sum + Buffer.byteLength(f.content), 0),
    };
  });
}

export function plannerSection(runs: PlannerRun[]): BenchSection {
  const row = (measurement: string, n: number, figure: Figure, note: string) => [
    measurement,
    String(n),
    formatDuration(figure.medianMs),
    formatDuration(figure.cpuMs),
    formatBytes(figure.heapBytes),
    note,
  ];
  return {
    title: "The pure planner at scale",
    header: ["measurement", "N", "time", "cpu", "heap", "note"],
    rows: runs.flatMap((r) => [
      [
        "make the signed registry (once, cached)",
        String(r.registry.nodes),
        formatDuration(r.registry.generationSeconds * 1000),
        "—",
        "—",
        `${r.registry.members} member keys, ${r.registry.nodes} descriptors signed with ssh-keygen -Y sign${r.registry.cached ? "; read from the cache" : ""}`,
      ],
      row("verify the registry (loadRegistry)", r.registry.nodes, r.verify, `${r.registry.nodes} descriptor signatures checked`),
      row("plan() one node", r.registry.nodes, r.plan, `${r.registry.nodes - 1} peers`),
      row("renderNode() one node", r.registry.nodes, r.render, `${r.renderedFiles} files, ${formatBytes(r.renderedBytes)}`),
    ]),
    howToRead: [
      `N is the number of nodes in the registry: ${NODES_PER_MEMBER} per member, each node primary for one zone of its own; ` +
        "every descriptor is signed by its member with the real ssh-keygen, as `pulumi up` publishes it.",
      "time (wall clock) and cpu (the process's CPU time, user + system, every thread: the steadier figure on a shared machine; " +
        `gc threads can make it exceed time) are medians of ${runs[0]?.verify.runs ?? 0} runs after one warm-up run; ` +
        "heap is the V8 heap the result keeps alive (heap used after a full gc with the result held, minus before), not the peak while computing.",
      "verify is what `pulumi up` and every node's sync agent do on each run: read federation/ and nodes/, parse, check the pin and every descriptor's signature, member, zones and mesh share.",
      "plan() and renderNode() are for the registry's first node, against all the others: what one `pulumi up` computes, and what its sync agent re-computes when the registry moves.",
      "Linear growth is ×25 from N = 10 to 250 and ×4 from 250 to 1000; more than that is superlinear.",
      "The first row is how long making the registry took (member keys, every signature): made once and cached, so a later run reports the time it took then.",
    ],
  };
}
