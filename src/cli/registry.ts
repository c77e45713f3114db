// `boreal registry ...`: the federation registry for people. init starts a federation
// (version 1), admit drafts the next version, sign adds a member's signature to a
// version (registry-governance.ts); check verifies a registry exactly as the nodes do (for
// its CI), and allowed-signers prints the file plain `ssh-keygen -Y verify` needs
// (registry-check.ts); inbox installs or checks a mirror's attestation inbox. Exit codes: errors.ts (EXIT).
import { OptionSpecs, parseArgs, Parsed } from "./args";
import { runCommand, usageLine } from "./command";
import { CliIo, processIo } from "./output";
import { allowedSigners, check } from "./registry-check";
import { admit, inbox, init, MEMBER_SPEC, NODES_SPEC, sign } from "./registry-governance";

export { failureLines, reportFailure } from "./errors";

interface RegistryCommand {
  usage: readonly [string, string];
  options: OptionSpecs;
  run(a: Parsed, io: CliIo): number;
}

const VERBS = {
  init: {
    usage: [
      `boreal registry init DIR --name NAME --domain DOMAIN --mesh-ipv4 CIDR --mesh-ipv6 ULA48 --threshold M --member ${MEMBER_SPEC}... [--nodes ${NODES_SPEC}...] [--allow-underlay documentation|private...] [--mirror URL...]`,
      "start a federation: write its version 1, federation/1.yaml",
    ],
    options: {
      "--name": "value",
      "--domain": "value",
      "--mesh-ipv4": "value",
      "--mesh-ipv6": "value",
      "--threshold": "value",
      "--member": "list",
      "--mirror": "list",
      "--nodes": "list",
      "--allow-underlay": "list",
    },
    run: init,
  },
  admit: {
    usage: [
      `boreal registry admit DIR [--member ${MEMBER_SPEC}...] [--nodes ${NODES_SPEC}...] [--remove NAME...] [--add-key NAME:PUBKEYFILE...] [--remove-key NAME:PUBKEYFILE...] [--threshold M] [--mirror URL...] [--remove-mirror URL...] [--trust N:SHA256]`,
      "draft the next federation version (unsigned) from the newest trusted one",
    ],
    options: {
      "--threshold": "value",
      "--trust": "value",
      "--member": "list",
      "--nodes": "list",
      "--remove": "list",
      "--add-key": "list",
      "--remove-key": "list",
      "--mirror": "list",
      "--remove-mirror": "list",
    },
    run: admit,
  },
  sign: {
    usage: [
      "boreal registry sign DIR --version N --member NAME --key KEYFILE",
      "sign federation/<N>.yaml as member NAME (KEYFILE: a private key, or a .pub whose key is in ssh-agent)",
    ],
    options: { "--version": "value", "--member": "value", "--key": "value" },
    run: sign,
  },
  check: {
    usage: [
      "boreal registry check DIR [--trust N:SHA256] [--since REV] [--held FILE] [--write-held FILE] [--json]",
      "verify a registry as the nodes do; exit 1 if anything is rejected, 4 if all is valid and a proposed version is collecting signatures (its CI: boreal registry check . --trust N:SHA256 || [ $? -eq 4 ]). --since REV (a git revision of DIR, e.g. origin/main), --held FILE (a node's state.json, or what --write-held wrote): also as the nodes holding it do (rollbacks, same-serial swaps, resurrections refused)",
    ],
    options: { "--trust": "value", "--since": "value", "--held": "value", "--write-held": "value", "--json": "switch" },
    run: check,
  },
  "allowed-signers": {
    usage: [
      "boreal registry allowed-signers DIR [--trust N:SHA256] [--version N] [--json]",
      "the allowed_signers file of a trusted version, for ssh-keygen -Y verify",
    ],
    options: { "--trust": "value", "--version": "value", "--json": "switch" },
    run: allowedSigners,
  },
  inbox: {
    usage: [
      "boreal registry inbox BARE_REPO [--check] [--json]",
      "make a mirror's bare repository the federation's attestation inbox (git daemon may then take nodes' attestations, and nothing else); --check: only say whether it is one, exit 1 if not",
    ],
    options: { "--check": "switch", "--json": "switch" },
    run: inbox,
  },
} as const satisfies Record<string, RegistryCommand>;

export type RegistryVerb = keyof typeof VERBS;
export const REGISTRY_VERBS = Object.keys(VERBS) as RegistryVerb[];

/** One verb's usage lines. */
export function registryUsage(verb: RegistryVerb): string {
  const [command, what] = VERBS[verb].usage;
  return usageLine(command, what);
}

/** The registry lines of `boreal`'s usage. */
export const REGISTRY_USAGE = REGISTRY_VERBS.map(registryUsage).join("\n");

export function isRegistryVerb(verb: string | undefined): verb is RegistryVerb {
  return verb !== undefined && Object.prototype.hasOwnProperty.call(VERBS, verb);
}

/** Runs `boreal registry VERB ARGS...`; returns the exit code. Never throws. */
export function runRegistry(verb: RegistryVerb, args: string[], io: CliIo = processIo): number {
  const command: RegistryCommand = VERBS[verb];
  return runCommand({ name: `boreal registry ${verb}`, usage: registryUsage(verb) }, args, io, () =>
    command.run(parseArgs(args, command.options), io),
  );
}
