#!/usr/bin/env node
// `npm run bench`: the kit's speed and scale (issue #13). Today only the pure planner's
// section exists; the lab sections (the kit against the Ansible role on lab machines) come later.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { PLANNER_SIZES, plannerSection, runPlanner } from "../bench/planner";
import { formatReport, MachineFacts } from "../bench/report";
import { loadTemplates } from "../components/templates";
import { PROJECT_DIR } from "../lab/lab";

const USAGE = `usage: npm run bench -- [--planner] [--out FILE] [--runs N] [--sizes 10,250,1000] [--cache DIR]
  --planner   only the pure planner at scale (today the only section there is)
  --out       where the markdown goes (default bench/results-<date>.md); it is printed too
  --runs      measured runs per figure, after one warm-up (default 5)
  --sizes     registry sizes in nodes (default ${PLANNER_SIZES.join(",")})
  --cache     where generated signed registries are kept (default ${join(tmpdir(), "boreal-bench")})`;

const LAB_NOT_BUILT = "The lab sections (the kit against the Ansible role on lab machines, issue #13) are not built yet: this report has the planner section only.";

const log = (line: string) => process.stderr.write(`${line}\n`);

function wholeNumbers(text: string, what: string): number[] {
  const values = text.split(",").map((part) => part.trim());
  if (values.some((v) => !/^[1-9]\d*$/.test(v))) throw new Error(`${what} must be whole numbers above 0, got ${text}\n${USAGE}`);
  return values.map(Number);
}

function machineFacts(): MachineFacts {
  let os = `Linux ${release()}`;
  try {
    os = `Debian ${readFileSync("/etc/debian_version", "utf8").trim()} (Linux ${release()})`;
  } catch {
    // not Debian: the kernel alone says enough
  }
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? "unknown", memoryBytes: totalmem(), node: process.versions.node, os };
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { planner: { type: "boolean" }, out: { type: "string" }, runs: { type: "string" }, sizes: { type: "string" }, cache: { type: "string" }, help: { type: "boolean" } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [runs] = wholeNumbers(values.runs ?? "5", "--runs");
  const sizes = values.sizes ? wholeNumbers(values.sizes, "--sizes") : [...PLANNER_SIZES];
  const date = new Date().toISOString().slice(0, 10);
  const out = values.out ?? join(PROJECT_DIR, "bench", `results-${date}.md`);
  // Plain `npm run bench` will run every section; until the lab ones exist it is --planner and says so.
  if (!values.planner) log(LAB_NOT_BUILT);

  const planner = runPlanner({ cacheDir: values.cache ?? join(tmpdir(), "boreal-bench"), sizes, runs, templates: loadTemplates(join(PROJECT_DIR, "templates")), log });
  const report = formatReport({ date, machine: machineFacts(), sections: [plannerSection(planner)], notes: values.planner ? [] : [LAB_NOT_BUILT] });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, report);
  console.log(report);
  log(`written to ${out}`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  log(`bench: ${(error as Error).message}`);
  process.exitCode = 1;
}
