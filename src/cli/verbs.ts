// The verbs of `boreal` and their usage, in one table: the dispatcher (boreal.ts) runs them,
// the reference (docs/reference/cli.md, reference.ts) is written from them.
import { unknownWord } from "./args";
import { runCommand, runCommandAsync, usageLine } from "./command";
import { DNS_USAGE, runDns } from "./dns";
import { EXIT_CODES_USAGE, reportFailure, usageError } from "./errors";
import { INIT_USAGE, initCommand } from "./init";
import { isLabelVerb, LABEL_USAGE, LABEL_VERBS, labelUsage, runLabel } from "./label";
import { demo, DEMO_USAGE, lab, LAB_SUBCOMMANDS, LAB_USAGE, LabVerb } from "./lab";
import { processIo } from "./output";
import { isRegistryVerb, REGISTRY_USAGE, REGISTRY_VERBS, registryUsage, runRegistry } from "./registry";
import { STATUS_USAGE, statusCommand } from "./status";
import { LAB_DIR, PROJECT_DIR } from "../lab/lab";
import { handBackToCheckoutOwner, ROOT_KEEPS } from "../lab/owner";

export interface Verb {
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

/**
 * After the demo or a lab verb run through sudo: what they wrote into the checkout that is the
 * user's goes back to the user (src/lab/owner.ts), said in one line; a failure to is said too,
 * and leaves the verb's own exit code alone.
 */
function handBackCheckout(): void {
  try {
    const { owner, paths } = handBackToCheckoutOwner(PROJECT_DIR, LAB_DIR);
    if (owner && paths.length > 0)
      processIo.err(
        `boreal: gave ${paths.length} path(s) of the checkout back to uid ${owner.uid} (${paths.slice(0, 4).join(", ")}${paths.length > 4 ? ", ..." : ""}); the lab's ${ROOT_KEEPS.join(", ")} stay root's`,
      );
  } catch (error) {
    processIo.err(`boreal: could not give the lab's files in ${PROJECT_DIR} back to its owner: ${String(error)}`);
  }
}

export const VERBS: Record<string, Verb> = {
  init: {
    usage: INIT_USAGE,
    run: async (args) => runCommand({ name: "boreal init", usage: INIT_USAGE }, args, processIo, () => initCommand(args, processIo)),
  },
  demo: {
    usage: DEMO_USAGE,
    run: (args) => runCommandAsync({ name: "boreal demo", usage: DEMO_USAGE }, args, processIo, () => demo(args).finally(handBackCheckout)),
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
        lab(sub as LabVerb, rest).finally(handBackCheckout),
      );
    },
  },
};

export const USAGE = `  boreal VERB [COMMAND] [OPTIONS...]   (in the kit's directory: npx boreal VERB ...; anywhere, once npm link put boreal on the PATH)
${INIT_USAGE}
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
export const SHORT_USAGE = `  boreal ${Object.keys(VERBS).join("|")} ...   (boreal --help: every verb, its options and the exit codes)`;

/** The usage of `boreal help VERB [COMMAND]` or `boreal VERB [COMMAND] --help`. */
export function usageOf(verb: Verb, sub: string | undefined): string {
  return (sub !== undefined && verb.subs && Object.prototype.hasOwnProperty.call(verb.subs, sub) && verb.subs[sub]) || verb.usage;
}
