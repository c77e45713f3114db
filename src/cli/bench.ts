#!/usr/bin/env node
// `npm run bench`: the kit's speed and scale (issues #13, #32): the pure planner at scale, and
// (as root) the kit against githubixx/ansible-role-wireguard and Nebula on lab machines.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { BENCH_TOOLS, BenchTool, LAB_SIZES, LAB_SUITE, PEERS_DIR, runLabBench } from "../bench/lab";
import { LabRun, labSection, loadSection } from "../bench/labsection";
import { NEBULA_RELEASE } from "../bench/nebula";
import { NEBULA_CACHE_DIR } from "../bench/nebularun";
import { PLANNER_SIZES, plannerSection, runPlanner } from "../bench/planner";
import { BenchSection, formatReport, MachineFacts } from "../bench/report";
import { loadTemplates } from "../io/templates";
import { PROJECT_DIR } from "../lab/lab";
import { parseArgs, wantsHelp } from "./args";
import { printUsage } from "./command";
import { inputError, reportFailure, usageError } from "./errors";
import { processIo } from "./output";
import { ensureToolchain, projectToolchain } from "./toolchain";

const USAGE = `  npm run bench -- [--planner | --lab] [--out FILE] [--runs N] [--sizes 10,250,1000] [--cache DIR]
                   [--sizes-lab 3,5] [--runs-lab 3] [--only kit,nebula,role] [--peers DIR]
  (none)      every section: the planner, and the lab's when run as root (else a note says it was left out)
  --planner   only the pure planner at scale
  --lab       only the lab section (root: it starts lab machines): the kit against the Ansible role and Nebula
  --out       where the markdown goes (default bench/results-<date>.md); it is printed too
  --runs      planner: measured runs per figure, after one warm-up (default 5)
  --sizes     planner: registry sizes in nodes (default ${PLANNER_SIZES.join(",")})
  --cache     planner: where generated signed registries are kept (default ${join(tmpdir(), "boreal-bench")})
  --sizes-lab lab: members at the start, N+1 machines each (default ${LAB_SIZES.join(",")})
  --runs-lab  lab: runs of the short figures, the no-ops (default 3)
  --only      lab: the tools to run, comma-separated (kit, nebula, role; default all); the others' figures say left out
              (Nebula ${NEBULA_RELEASE} is built with go install at the first run, into ${NEBULA_CACHE_DIR})
  --peers     lab: where ansible-role-wireguard's release archive is (default ${PEERS_DIR})`;

const LAB_LEFT_OUT =
  "The lab section (the kit against githubixx/ansible-role-wireguard and Nebula on lab machines) was left out: it needs root. Run `sudo npm run bench -- --lab`.";

const log = (line: string) => process.stderr.write(`${line}\n`);

function wholeNumbers(text: string, what: string): number[] {
  const values = text.split(",").map((part) => part.trim());
  if (values.some((v) => !/^[1-9]\d*$/.test(v)))
    throw usageError(`${what} must be whole numbers above 0, got ${text}`, `e.g. ${what} 3`, what);
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

function writeReport(out: string, report: string): void {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, report);
}

async function main(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) return printUsage(USAGE, processIo);
  const a = parseArgs(argv, {
    "--planner": "switch",
    "--lab": "switch",
    "--out": "value",
    "--runs": "value",
    "--sizes": "value",
    "--cache": "value",
    "--sizes-lab": "value",
    "--runs-lab": "value",
    "--peers": "value",
    "--only": "value",
  });
  if (a.positional.length > 0)
    throw usageError(`unexpected ${a.positional.join(" ")}: the bench takes options only`, "see the usage below");
  const values = {
    planner: a.on("--planner"),
    lab: a.on("--lab"),
    out: a.one("--out"),
    runs: a.one("--runs"),
    sizes: a.one("--sizes"),
    cache: a.one("--cache"),
    "sizes-lab": a.one("--sizes-lab"),
    "runs-lab": a.one("--runs-lab"),
    peers: a.one("--peers"),
    only: a.one("--only"),
  };
  if (values.planner && values.lab) throw usageError("--planner and --lab each pick one section", "give neither for both", "--planner");
  const [runs] = wholeNumbers(values.runs ?? "5", "--runs");
  const sizes = values.sizes ? wholeNumbers(values.sizes, "--sizes") : [...PLANNER_SIZES];
  const [labRuns] = wholeNumbers(values["runs-lab"] ?? "3", "--runs-lab");
  const labSizes = values["sizes-lab"] ? wholeNumbers(values["sizes-lab"], "--sizes-lab") : [...LAB_SIZES];
  const tools = values.only === undefined ? [...BENCH_TOOLS] : values.only.split(",").map((t) => t.trim());
  const unknown = tools.find((t) => !(BENCH_TOOLS as readonly string[]).includes(t));
  if (unknown !== undefined || tools.length === 0)
    throw usageError(
      `--only takes ${BENCH_TOOLS.join(", ")} (one or several, comma-separated), got ${values.only}`,
      `e.g. --only ${BENCH_TOOLS[0]}`,
      "--only",
    );
  const root = process.getuid?.() === 0;
  if (values.lab && !root)
    throw inputError(
      "the lab section starts lab machines (network namespaces, systemd-nspawn): it needs root",
      "sudo npm run bench -- --lab",
      "--lab",
    );
  const withPlanner = !values.lab;
  const withLab = values.lab || (!values.planner && root);
  const notes = !values.planner && !withLab ? [LAB_LEFT_OUT] : [];
  if (notes.length) log(LAB_LEFT_OUT);
  const date = new Date().toISOString().slice(0, 10);
  const out = values.out ?? join(PROJECT_DIR, "bench", `results-${date}.md`);
  const machine = machineFacts();

  const sections: BenchSection[] = [];
  if (withPlanner) {
    const planner = runPlanner({
      cacheDir: values.cache ?? join(tmpdir(), "boreal-bench"),
      sizes,
      runs,
      templates: loadTemplates(join(PROJECT_DIR, "templates")),
      log,
    });
    sections.push(plannerSection(planner));
  }
  if (withLab) {
    // As the demo: the lab's stacks need the project's Pulumi CLI (npm run toolchain when it does not answer).
    ensureToolchain(projectToolchain(PROJECT_DIR, log));
    const context = { cores: machine.cpus, memoryBytes: machine.memoryBytes };
    // After each N the report so far is written: a run stopped at N = 10 keeps N = 3 and 5.
    const partial = (runs: LabRun[]) => {
      const lab = labSection(runs, { suite: LAB_SUITE, ...context });
      writeReport(
        out,
        formatReport({
          date,
          machine,
          sections: [...sections, lab, loadSection(runs)],
          notes: [...notes, `Written after N = ${runs.at(-1)?.n}: the lab's later sizes were still running.`],
        }),
      );
    };
    const lab = await runLabBench({
      tools: tools as BenchTool[],
      sizes: labSizes,
      runs: labRuns,
      peersDir: values.peers ?? PEERS_DIR,
      log,
      onRun: partial,
    });
    sections.push(labSection(lab.runs, { suite: lab.suite, ...context }), loadSection(lab.runs));
  }
  const report = formatReport({ date, machine, sections, notes });
  writeReport(out, report);
  console.log(report);
  log(`written to ${out}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => (process.exitCode = reportFailure("bench", USAGE, error, processIo)),
);
