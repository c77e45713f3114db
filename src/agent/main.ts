#!/usr/bin/env node
// boreal-agent: runs on every node (Debian's nodejs), started by boreal-sync.timer and by
// `pulumi up`. It pulls the registry from every mirror, verifies it against the trust
// anchor and what it already holds, and applies the peer set with the kit's own planner.
//   sync [--rekey] [--fetched]
//                  one run (--rekey: re-apply WireGuard even if no file changed, for a new key;
//                  --fetched: from sync-gate, which fetched the mirrors it lists a moment ago)
//   attest         a round of label checks of the other members' nodes, signed and published
//   delegation     the parent's delegation of each of the node's zones, checked against the
//                  federation's (journal lines, textfile metrics for BorealDelegationDrift)
//   nudge --federation F
//                  a "pull now" to every peer in wg0.conf (after the member's pulumi up published)
//   remove         undo what the agent applied and put the member's own files back
//   status         the last run, as JSON
//   prove-wireguard-key --federation F --node N [--key PUBLIC_KEY]
//                  the descriptor's keyProof: this node's WireGuard key signs for it (pulumi up asks)
import { readFileSync, existsSync } from "node:fs";
import { BorealConfigError } from "../core/values/problems";
import { escapeText } from "../core/values/escape";
import { DecidedRun, SyncOutcome } from "../core/node/sync";
import { removeScript, SERVICE_SCRIPTS } from "../core/node/scripts";
import { makeWireguardProof, wireguardPublicKey } from "../core/registry/keyproof";
import { AGENT, AGENT_ROLES, GATE_FETCHED_FLAG, KEY_FILE, NEXT_KEY_FILE, WIREGUARD_CONF } from "../core/node/layout";
import { attest } from "./attest";
import { checkDelegations } from "./delegation";
import { log, statusFile } from "./io";
import { sendNudges } from "../io/nudge";
import { nudgeTargets } from "../core/node/nudge";
import {
  apply,
  decide,
  failedOutcome,
  fetch,
  inputsDigest,
  install,
  logMirrors,
  logRejections,
  mirrorsAsked,
  nothingToDecide,
  PhaseClock,
  readInputs,
  readState,
  recordIntent,
  Refusal,
  report,
  shell,
  verify,
  writeSyncMetrics,
} from "./phases";

/** One sync run, phase by phase: fetch, verify, decide, install and apply role by role, report. */
function sync(rekey: boolean, at: number, fetchedByGate: ReadonlySet<string>): SyncOutcome {
  const clock = new PhaseClock();
  const inputs = readInputs();
  const fetched = fetch(inputs, "mirrors", fetchedByGate);
  logMirrors(fetched, inputs.state.unreachable ?? []);
  clock.lap("fetch");
  const mirrors = mirrorsAsked(fetched);
  const digest = inputsDigest(inputs, fetched);
  if (nothingToDecide(inputs.state, digest, rekey)) return report(inputs, { kind: "unchanged", at, mirrors });
  const verified = verify(inputs, fetched);
  const rejected = logRejections(verified, inputs.state.reported);
  const run: DecidedRun = { at, mirrors, verified, rejected, inputs: digest, ...decide(inputs, verified, rekey) };
  clock.lap("decide");
  let refused: Refusal[];
  try {
    recordIntent(inputs.state, run);
    refused = installAndApply(run, clock);
  } catch (error) {
    return report(inputs, { kind: "failed", error, ...run });
  }
  return report(inputs, { kind: "applied", ...run, verified, fetched, refused, clock });
}

/**
 * Role by role, WireGuard first: a joining peer is in the mesh as soon as wg0 has it, not
 * after Knot and the probes have taken their files too. A file its check refuses stays as it
 * was; everything else goes on, and the report fails the run, naming it.
 */
function installAndApply(run: DecidedRun, clock: PhaseClock): Refusal[] {
  const refused: Refusal[] = [];
  for (const role of AGENT_ROLES) {
    const files = run.decision.write.filter((f) => f.role === role);
    refused.push(...install(files));
    const applies = run.roles.includes(role);
    if (applies) apply(role);
    if (applies || files.length > 0) clock.lap(role);
  }
  return refused;
}

/** A run and its metrics (node-exporter's textfile collector), a failed run's too. */
function runSync(rekey: boolean, fetchedByGate: ReadonlySet<string>): number {
  const at = Math.floor(Date.now() / 1000);
  try {
    writeSyncMetrics(sync(rekey, at, fetchedByGate));
    return 0;
  } catch (error) {
    writeSyncMetrics(failedOutcome(at));
    throw error;
  }
}

/** The mirrors sync-gate says it fetched (GATE_FETCHED_FLAG); none when the agent was started otherwise. */
function mirrorsFetchedByGate(flags: string[]): Set<string> {
  if (!flags.includes(GATE_FETCHED_FLAG) || !existsSync(AGENT.gateFetched)) return new Set();
  return new Set(readFileSync(AGENT.gateFetched, "utf8").split(" ").filter(Boolean));
}

function remove(): number {
  const owned = readState().owned;
  for (const role of [...AGENT_ROLES].reverse()) shell(SERVICE_SCRIPTS[role].undo);
  for (const path of owned) shell(removeScript({ path }));
  log(`removed ${owned.length} file(s) the agent had written`);
  return 0;
}

/**
 * Prints the proof that this node holds its WireGuard key (src/core/registry/keyproof.ts), made
 * here because the private key never leaves the node. With --key, only for that key: the one
 * `pulumi up` read back and will publish beside the proof.
 */
function proveWireguardKey(flags: string[]): number {
  const [federation, node, expected] = [option(flags, "--federation"), option(flags, "--node"), option(flags, "--key")];
  if (!federation || !node) {
    log("usage: boreal-agent prove-wireguard-key --federation NAME --node NAME [--key PUBLIC_KEY]");
    return 2;
  }
  // A rotation's next key is the one about to be published; otherwise the one in use.
  const keyFile = existsSync(NEXT_KEY_FILE) ? NEXT_KEY_FILE : KEY_FILE;
  const privateKey = readFileSync(keyFile, "utf8");
  const publicKey = wireguardPublicKey(privateKey);
  if (expected !== undefined && expected !== publicKey) {
    throw new BorealConfigError([
      {
        source: "node",
        key: keyFile,
        message: `holds the key ${publicKey}, not ${expected}: it changed since pulumi up read it`,
        fix: "run pulumi up again: it reads the key anew",
      },
    ]);
  }
  process.stdout.write(`${makeWireguardProof(privateKey, { federation, node, publicKey })}\n`);
  return 0;
}

const option = (flags: string[], name: string) => (flags.includes(name) ? flags[flags.indexOf(name) + 1] : undefined);

/** Every peer of wg0.conf nudged; what did not go is said, and is no failure (their timers are the safety net). */
async function nudge(flags: string[]): Promise<number> {
  const federation = option(flags, "--federation");
  if (!federation) return usage();
  const targets = existsSync(WIREGUARD_CONF) ? nudgeTargets(readFileSync(WIREGUARD_CONF, "utf8")) : [];
  const { sent, failed } = await sendNudges(federation, targets);
  log(
    `nudged ${targets.length} peer(s) (${sent.length} address(es))${failed.length > 0 ? `; not sent: ${failed.map((f) => escapeText(f)).join("; ")}` : ""}`,
  );
  return 0;
}

function usage(): number {
  log(
    `usage: boreal-agent sync [--rekey] [${GATE_FETCHED_FLAG}] | attest | remove | status | delegation | nudge --federation F | prove-wireguard-key --federation F --node N [--key K]`,
  );
  return 2;
}

function main(argv: string[]): number | Promise<number> {
  const [command, ...flags] = argv;
  if (command === "sync") return runSync(flags.includes("--rekey"), mirrorsFetchedByGate(flags));
  if (command === "attest") return attest();
  if (command === "delegation") return checkDelegations();
  if (command === "remove") return remove();
  if (command === "nudge") return nudge(flags);
  if (command === "prove-wireguard-key") return proveWireguardKey(flags);
  if (command === "status") {
    process.stdout.write(existsSync(statusFile) ? readFileSync(statusFile, "utf8") : "{}\n");
    return 0;
  }
  return usage();
}

// Bad input names its file and fix; anything else is a bug worth its stack.
function fail(error: unknown): void {
  const text = error instanceof BorealConfigError ? error.message : ((error as Error).stack ?? String(error));
  log(`boreal-agent: ${text.split("\n").map(escapeText).join("\n")}`);
  process.exitCode = 1;
}

try {
  Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = code;
  }, fail);
} catch (error) {
  fail(error);
}
