#!/usr/bin/env node
// boreal: the operator's command. This file only dispatches: the usage, --help and --version,
// the verbs (verbs.ts: registry, status, dns, label, lab, demo) and the one exit-code convention.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import packageJson from "../../package.json";
import { HELP_FLAGS, unknownWord, wantsHelp, wantsVersion } from "./args";
import { printUsage } from "./command";
import { EXIT, reportFailure } from "./errors";
import { processIo, quietOnClosedPipe } from "./output";
import { SHORT_USAGE, USAGE, usageOf, Verb, VERBS } from "./verbs";
import { PROJECT_DIR } from "../lab/lab";

/** A verb by its name: only the table's own (never "constructor" or "toString" of every object). */
const verbNamed = (name: string | undefined): Verb | undefined =>
  name !== undefined && Object.prototype.hasOwnProperty.call(VERBS, name) ? VERBS[name] : undefined;

async function main(argv: string[]): Promise<number> {
  const [first, ...args] = argv;
  if (first === undefined || first === "help" || HELP_FLAGS.includes(first)) {
    // `boreal help --help` is help about help: the whole usage, like `boreal help`.
    const about = first === "help" && !HELP_FLAGS.includes(args[0]) ? args[0] : undefined;
    const verb = verbNamed(about);
    if (about !== undefined && !verb)
      return reportFailure("boreal help", SHORT_USAGE, unknownWord("verb", args[0], Object.keys(VERBS)), processIo);
    return printUsage(verb ? usageOf(verb, args[1]) : USAGE, processIo);
  }
  const verb = verbNamed(first);
  if (first === "--version" || (verb && wantsVersion(args) && !wantsHelp(args))) {
    processIo.out(`boreal-kit ${packageJson.version}`);
    return EXIT.ok;
  }
  if (!verb) {
    const error = first.startsWith("-")
      ? unknownWord("option", first, [...HELP_FLAGS, "--version"])
      : unknownWord("verb", first, Object.keys(VERBS));
    return reportFailure("boreal", SHORT_USAGE, error, processIo);
  }
  if (wantsHelp(args)) return printUsage(usageOf(verb, args[0]), processIo);
  return verb.run(args);
}

/**
 * In a checkout, a build older than a file of src/ runs old code (the bin is built by npm ci
 * or npm run build, not per call): said on stderr, so nobody debugs the wrong code.
 */
function warnIfStale(): void {
  const src = join(PROJECT_DIR, "src");
  if (!__dirname.split(sep).includes("dist") || !existsSync(src)) return;
  const builtAt = statSync(__filename).mtimeMs;
  const newer = readdirSync(src, { recursive: true, withFileTypes: true }).find(
    (e) => e.isFile() && e.name.endsWith(".ts") && statSync(join(e.parentPath, e.name)).mtimeMs > builtAt,
  );
  if (newer)
    processIo.err(
      `boreal: ${relative(PROJECT_DIR, join(newer.parentPath, newer.name))} changed since the build: run npm run build in ${PROJECT_DIR}`,
    );
}

// `npm run boreal -- ...` runs in the kit's directory: paths the user typed are relative to where they were.
if (process.env.npm_lifecycle_event === "boreal" && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
quietOnClosedPipe();
warnIfStale();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(reportFailure("boreal", USAGE, error, processIo)),
);
