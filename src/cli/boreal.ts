#!/usr/bin/env node
// boreal: the operator's command. This file only dispatches: the usage, --help and --version,
// the verbs (registry, status, dns, label, lab, demo) and the one exit-code convention.
import packageJson from "../../package.json";
import { HELP_FLAGS, unknownWord, wantsHelp } from "./args";
import { printUsage, runCommandAsync, usageLine } from "./command";
import { DNS_USAGE, runDns } from "./dns";
import { EXIT, EXIT_CODES_USAGE, reportFailure, usageError } from "./errors";
import { isLabelVerb, LABEL_USAGE, LABEL_VERBS, labelUsage, runLabel } from "./label";
import { demo, DEMO_USAGE, lab, LAB_SUBCOMMANDS, LAB_USAGE, LabVerb } from "./lab";
import { BOREAL_COMMAND, processIo, quietOnClosedPipe } from "./output";
import { isRegistryVerb, REGISTRY_USAGE, REGISTRY_VERBS, registryUsage, runRegistry } from "./registry";
import { STATUS_USAGE, statusCommand } from "./status";
import { PROJECT_DIR } from "../lab/lab";

interface Verb {
  usage: string;
  /** Its sub-commands' usage, by name (registry init, lab up, ...). */
  subs?: Record<string, string>;
  run(args: string[]): Promise<number>;
}

/** `boreal VERB` without a known command: missing, or unknown with the nearest suggested. */
function badSubcommand(verb: string, sub: string | undefined, known: readonly string[], usage: string): number {
  const error =
    sub === undefined || sub.startsWith("-")
      ? usageError(`the ${verb} command is missing`, `one of: ${known.map((k) => `${verb} ${k}`).join(", ")}`)
      : unknownWord(
          "command",
          `${verb} ${sub}`,
          known.map((k) => `${verb} ${k}`),
        );
  return reportFailure(`boreal ${verb}`, usage, error, processIo);
}

const VERBS: Record<string, Verb> = {
  demo: {
    usage: DEMO_USAGE,
    run: (args) => runCommandAsync({ name: "boreal demo", usage: DEMO_USAGE }, args, processIo, () => demo(args)),
  },
  registry: {
    usage: REGISTRY_USAGE,
    subs: Object.fromEntries(REGISTRY_VERBS.map((v) => [v, registryUsage(v)])),
    run: async ([sub, ...rest]) =>
      isRegistryVerb(sub) ? runRegistry(sub, rest) : badSubcommand("registry", sub, REGISTRY_VERBS, REGISTRY_USAGE),
  },
  status: {
    usage: STATUS_USAGE,
    run: (args) => runCommandAsync({ name: "boreal status", usage: STATUS_USAGE }, args, processIo, () => statusCommand(args, PROJECT_DIR)),
  },
  dns: {
    usage: DNS_USAGE,
    subs: { check: DNS_USAGE },
    run: async ([sub, ...rest]) =>
      sub === "check" ? runDns(sub, rest, { projectDir: PROJECT_DIR }) : badSubcommand("dns", sub, ["check"], DNS_USAGE),
  },
  label: {
    usage: LABEL_USAGE,
    subs: Object.fromEntries(LABEL_VERBS.map((v) => [v, labelUsage(v)])),
    run: async ([sub, ...rest]) => (isLabelVerb(sub) ? runLabel(sub, rest) : badSubcommand("label", sub, LABEL_VERBS, LABEL_USAGE)),
  },
  lab: {
    usage: LAB_USAGE,
    subs: LAB_SUBCOMMANDS,
    run: async ([sub, ...rest]) => {
      const known = Object.keys(LAB_SUBCOMMANDS) as LabVerb[];
      if (!known.includes(sub as LabVerb)) return badSubcommand("lab", sub, known, LAB_USAGE);
      return runCommandAsync({ name: `boreal lab ${sub}`, usage: LAB_SUBCOMMANDS[sub as LabVerb] }, rest, processIo, () =>
        lab(sub as LabVerb, rest),
      );
    },
  },
};

const USAGE = `  boreal VERB [COMMAND] [OPTIONS...]   (from the kit's directory: ${BOREAL_COMMAND} VERB ...)
${DEMO_USAGE}
${REGISTRY_USAGE}
${STATUS_USAGE}
${DNS_USAGE}
${LABEL_USAGE}
${LAB_USAGE}
${usageLine("boreal help [VERB [COMMAND]]", "this usage, or one verb's or command's")}
${usageLine("boreal VERB [COMMAND] --help", "the same: prints the usage, runs nothing")}
${usageLine("boreal --version", "the kit's version")}

${EXIT_CODES_USAGE}`;

/** What a misused `boreal` prints after its error: the verbs, and where the rest is. */
const SHORT_USAGE = `  boreal ${Object.keys(VERBS).join("|")} ...   (boreal --help: every verb, its options and the exit codes)`;

/** The usage of `boreal help VERB [COMMAND]` or `boreal VERB [COMMAND] --help`. */
function usageOf(verb: Verb, sub: string | undefined): string {
  return (sub !== undefined && verb.subs?.[sub]) || verb.usage;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...args] = argv;
  if (first === undefined || first === "help" || HELP_FLAGS.includes(first)) {
    const verb = first === "help" && args[0] !== undefined ? VERBS[args[0]] : undefined;
    if (first === "help" && args[0] !== undefined && !verb)
      return reportFailure("boreal help", SHORT_USAGE, unknownWord("verb", args[0], Object.keys(VERBS)), processIo);
    return printUsage(verb ? usageOf(verb, args[1]) : USAGE, processIo);
  }
  if (first === "--version") {
    processIo.out(`boreal-kit ${packageJson.version}`);
    return EXIT.ok;
  }
  const verb = VERBS[first];
  if (!verb) {
    const error = first.startsWith("-")
      ? unknownWord("option", first, [...HELP_FLAGS, "--version"])
      : unknownWord("verb", first, Object.keys(VERBS));
    return reportFailure("boreal", SHORT_USAGE, error, processIo);
  }
  if (wantsHelp(args)) return printUsage(usageOf(verb, args[0]), processIo);
  return verb.run(args);
}

// `npm run boreal -- ...` runs in the kit's directory: paths the user typed are relative to where they were.
if (process.env.npm_lifecycle_event === "boreal" && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
quietOnClosedPipe();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(reportFailure("boreal", USAGE, error, processIo)),
);
