// `npm test` says what it skipped and why. Vitest's runIf/skipIf keep no reason, so the reason
// is read where the condition is written: the prerequisites a test file probes for (a tool,
// root, the lab images, Chromium, the Pulumi CLI), checked on this machine. With
// BOREAL_TEST_STRICT=1 (CI) a skipped test fails the run: CI must not pass by skipping.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";
import { imageReady, LAB_SUITES, labRecipe } from "../../src/lab/image";

export interface Prerequisite {
  /** What it is, for the reason: "knotc", "root", "the lab image of Debian trixie". */
  name: string;
  /** What to do when it is missing. */
  fix: string;
}

/** The prerequisites a test file probes for, read from its source. */
export function prerequisitesOf(source: string): Prerequisite[] {
  const found = new Map<string, Prerequisite>();
  const add = (name: string, fix: string) => found.set(name, { name, fix });
  const tool = (name: string) => add(name, `apt-get install the package with ${name}`);
  for (const m of source.matchAll(/command -v ([a-z][\w-]*)/g)) tool(m[1]);
  for (const m of source.matchAll(/\bhas\("([\w-]+)"\)/g)) tool(m[1]);
  for (const m of source.matchAll(/spawnSync\("([\w-]+)", \[/g)) tool(m[1]);
  if (/\bhasKnot\b/.test(source)) ["knotd", "knotc"].forEach(tool);
  if (/\bwgAvailable\(/.test(source)) tool("wg");
  if (/\bCHROMIUM\b/.test(source)) add("chromium", "apt-get install chromium");
  if (/getuid\?\.\(\) === 0/.test(source) || /\bimageUsable\(/.test(source)) add("root", "run the tests as root (sudo)");
  if (/\bimageUsable\(/.test(source))
    for (const suite of LAB_SUITES) add(`the lab image of Debian ${suite}`, "build them once: sudo npx boreal lab image");
  if (/\bpulumiCliAvailable\(/.test(source)) add("the Pulumi CLI", "npm run toolchain");
  return [...found.values()];
}

/** Whether a prerequisite is there on this machine. */
export function present(p: Prerequisite): boolean {
  if (p.name === "root") return process.getuid?.() === 0;
  const suite = LAB_SUITES.find((s) => p.name === `the lab image of Debian ${s}`);
  if (suite) return imageReady(labRecipe(suite));
  if (p.name === "chromium") return ["chromium", "chromium-browser"].some((c) => onPath(c));
  if (p.name === "the Pulumi CLI") return spawnSync("npx", ["--no-install", "pulumi", "version"], { encoding: "utf8" }).status === 0;
  return onPath(p.name);
}

const onPath = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

export default class SkippedReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const byFile = new Map<string, string[]>();
    for (const module of modules) {
      const skipped = [...module.children.allTests("skipped")].map((t) => t.fullName);
      if (skipped.length > 0) byFile.set(module.moduleId, skipped);
    }
    const count = [...byFile.values()].reduce((n, names) => n + names.length, 0);
    const lines = [`skipped: ${count === 0 ? "nothing" : `${count} test(s)`}`];
    const missingHere = new Map<string, boolean>();
    const missing = (p: Prerequisite) => {
      if (!missingHere.has(p.name)) missingHere.set(p.name, !present(p));
      return missingHere.get(p.name)!;
    };
    for (const [file, names] of byFile) {
      const absent = prerequisitesOf(readFileSync(file, "utf8")).filter(missing);
      const why = absent.length
        ? `this machine has no ${absent.map((p) => p.name).join(", ")} (${[...new Set(absent.map((p) => p.fix))].join("; ")})`
        : "the file's own condition (not a missing tool): read the test";
      lines.push(`  ${relative(process.cwd(), file)}: ${names.length} skipped: ${why}`);
      for (const name of names) lines.push(`    - ${name}`);
    }
    process.stdout.write(`\n${lines.join("\n")}\n`);
    if (count > 0 && process.env.BOREAL_TEST_STRICT === "1") {
      process.stdout.write("BOREAL_TEST_STRICT=1: a skipped test fails this run\n");
      process.exitCode = 1;
    }
  }
}
