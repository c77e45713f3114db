// `boreal dns check ZONE`: asks every node serving a member zone (from the registry, or the
// servers given) for its SOA, NS, DNSKEY and a sample of its records, verifies the
// signatures itself, asks the parent for the DS and the zone's NS (its referral: NS set and
// glue) when told where, compares that with the registry's delegation of the zone
// (src/core/dns/parent.ts), and prints one table (src/core/dns/check.ts decides;
// src/io/dns/transport.ts asks).
//
// Exit codes (errors.ts): 0 the zone is healthy everywhere; 1 a problem, each named with its
// node (a node that does not answer is one); 2 nothing checked: bad usage or unreadable input.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { parseEndpoint } from "../core/values/fields";
import { zoneRecordLines, withZoneFiles } from "../core/dns/records";
import {
  CheckResult,
  DelegationAnswer,
  evaluateDnsCheck,
  formatDnsCheck,
  judgeNode,
  NodeAnswer,
  ParentAnswer,
  questionsFor,
  Reply,
  sampleOf,
} from "../core/dns/check";
import {
  delegationProblems,
  ExpectedDelegation,
  ParentDelegation,
  parentDelegation,
  parentDs,
  registryDelegation,
} from "../core/dns/parent";
import { DsRecord, keyTag } from "../core/dns/ds";
import { DnsMessage, dnsMessage, rcodeName } from "../core/dns/message";
import type { NodeDescriptor } from "../core/registry/format";
import { ask, askNode, Server } from "../io/dns/transport";
import { RECORD_TYPES } from "../core/dns/zonefile";
import { dnsTarget } from "../core/monitoring/plan";
import { parseArgs, Parsed, unknownWord } from "./args";
import { runCommandAsync, usageLine } from "./command";
import { inputError, usageError } from "./errors";
import { CliIo, hint, processIo } from "./output";
import { verifyDir } from "./registry-trust";
import { readStackConfig } from "./status";

/** The dns lines of `boreal`'s usage. */
export const DNS_USAGE = usageLine(
  "boreal dns check ZONE [--stack NAME] [--cwd DIR] [--registry DIR [--trust N:SHA256]] [--server ADDR[:PORT]...] [--parent ADDR[:PORT]] [--timeout SECONDS] [--json]",
  "every node's answers for ZONE, signatures verified; with --parent its DS, NS set and glue there against the registry's delegation; exit 1 on a problem (a node that does not answer is one)",
);

const OPTIONS = {
  "--stack": "value",
  "--cwd": "value",
  "--registry": "value",
  "--trust": "value",
  "--parent": "value",
  "--timeout": "value",
  "--server": "list",
  "--json": "switch",
} as const;

const DEFAULT_TIMEOUT_SECONDS = 3;

export interface DnsCheckContext {
  /** The kit's project: its pulumi reads the stack config. */
  projectDir: string;
  io?: CliIo;
  /** Progress lines, for people waiting (stderr); default: stderr unless `io` is given. */
  progress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

/** ADDR or ADDR:PORT ([v6]:PORT), port 53 when not given. */
export function parseServer(text: string, flag: string): Server {
  const bare = text.replace(/^\[(.*)\]$/, "$1");
  if (isIP(bare) !== 0) return { host: bare, port: 53 };
  const endpoint = parseEndpoint(text.includes(":") ? text : `${text}:53`);
  if (!endpoint)
    throw usageError(
      `${flag} ${JSON.stringify(text)} is not ADDR[:PORT]`,
      `e.g. ${flag} 198.51.100.11, ${flag} 127.0.0.1:5353 or ${flag} [2001:db8::1]:53`,
      flag,
    );
  return endpoint;
}

function zoneArgument(positional: string[]): string {
  if (positional.length !== 1)
    throw usageError(
      positional.length === 0 ? "ZONE is missing" : `one ZONE expected, got ${positional.join(" ")}`,
      `e.g. ${hint("dns check coop-a.example.")}`,
    );
  const zone = positional[0].toLowerCase();
  return zone.endsWith(".") ? zone : `${zone}.`;
}

interface Targets {
  nodes: { node: string; server: Server }[];
  /** The member's records of the zone (one line each), when the stack gives them. */
  records?: string[];
  /** The registry's live nodes, when it was read: what the parent's NS set and glue should be. */
  registryNodes?: NodeDescriptor[];
}

/**
 * Who serves the zone and what the member wrote in it: from --server, --registry, or the
 * stack. The registry is read for the nodes, and with --server too when --parent is given
 * and a registry is (--registry, --stack): the parent's NS set is compared with it.
 */
function targets(zone: string, a: Parsed, ctx: DnsCheckContext, io: CliIo): Targets {
  const cwd = resolve(a.one("--cwd") ?? process.cwd());
  const servers = a.all("--server");
  const useStack = a.one("--stack") !== undefined || (servers.length === 0 && a.one("--registry") === undefined);
  let records: string[] | undefined;
  let registry = a.one("--registry") === undefined ? undefined : { dir: resolve(a.one("--registry")!), trust: a.one("--trust") };
  if (useStack) {
    const { spec } = withZoneFiles(readStackConfig(ctx.projectDir, a.one("--stack"), cwd, ctx.env), (path) =>
      readFileSync(resolve(cwd, path)),
    );
    if (spec.zones.includes(zone)) records = zoneRecordLines(zone, spec);
    registry ??= { dir: resolve(cwd, spec.registry), trust: spec.trust };
  }
  const given = servers.map((s) => ({ node: s, server: parseServer(s, "--server") }));
  if (servers.length > 0 && (registry === undefined || a.one("--parent") === undefined)) return { nodes: given, records };
  const trusted = verifyDir(registry!.dir, registry!.trust, io, "boreal dns check");
  const federation = trusted.verified.federation;
  if (!federation)
    throw inputError(
      `${registry!.dir}: no trusted federation version, so its nodes are unknown`,
      "check the pin (--trust, or the stack's boreal:trust) and update the clone (git pull); or name the servers with --server",
    );
  if (servers.length > 0) return { nodes: given, records, registryNodes: federation.nodes };
  if (!federation.nodes.some((n) => n.zones.includes(zone))) {
    throw inputError(
      `no node of the registry serves ${zone} as its primary`,
      `check the zone's name (written with its final dot); the registry's zones: ${federation.nodes.flatMap((n) => n.zones).join(", ") || "none"}`,
    );
  }
  // Every node serves every member zone, where resolvers ask it (its NS glue).
  return {
    nodes: federation.nodes.map((n) => ({ node: n.node, server: parseEndpoint(dnsTarget(n.endpoint))! })),
    records,
    registryNodes: federation.nodes,
  };
}

/** What the parent said: its DS (judged in check.ts), and its NS set and glue against the registry's delegation. */
interface ParentReplies {
  parent: ParentAnswer;
  delegation: DelegationAnswer;
  /** The parent's NS set and glue as it gave them (whether compared or not). */
  held?: ParentDelegation;
  expected?: ExpectedDelegation;
}

/** The DS question's verdict, as before the NS set was compared. */
function dsAnswer(zone: string, flag: string, reply: Reply): ParentAnswer {
  if ("error" in reply) return { asked: true, error: `${flag}: ${reply.error}` };
  if (reply.message.rcode !== 0) return { asked: true, error: `${flag} answered ${rcodeName(reply.message.rcode)}` };
  const ds = parentDs(zone, reply.message);
  if (!reply.message.authoritative && ds.length === 0)
    return { asked: true, error: `${flag} is not authoritative for the parent zone (no AA)` };
  return { asked: true, ds };
}

/**
 * The parent's NS set and glue from its answer to `ZONE NS` (asked without recursion: a
 * server of the parent zone refers, NS in the authority section and glue in the additional
 * one), and their differences from the registry's delegation. NXDOMAIN from the parent zone
 * is a parent that holds no delegation: every name server is then missing.
 */
function nsAnswer(
  zone: string,
  flag: string,
  reply: Reply,
  dsMessage: DnsMessage,
  expected: ExpectedDelegation | { reason: string },
): Omit<ParentReplies, "parent"> {
  const usable = "message" in reply && (reply.message.rcode === 0 || reply.message.rcode === 3);
  const held = usable ? parentDelegation(zone, reply.message, dsMessage) : undefined;
  if ("reason" in expected) return { delegation: { compared: false, reason: expected.reason }, held };
  if ("error" in reply) return { delegation: { compared: true, error: `${flag}: ${reply.error}` } };
  const { message } = reply;
  if (held === undefined) return { delegation: { compared: true, error: `${flag} answered ${rcodeName(message.rcode)}` } };
  if (!message.authoritative && held.nameServers.length === 0)
    return {
      delegation: { compared: true, error: `${flag} is not authoritative for the parent zone (no AA, no referral for ${zone})` },
      held,
    };
  const ownAnswer = message.authoritative && message.answer.some((r) => r.owner === zone && r.type === RECORD_TYPES.NS);
  return {
    held,
    expected,
    delegation: {
      compared: true,
      expected: expected.nameServers.map((ns) => ({ name: ns.name, node: ns.node })),
      problems: delegationProblems(expected, held),
      notes: ownAnswer
        ? [
            `${flag} also serves ${zone}: it answered the zone's own NS set, not the parent's referral; give --parent a server of the parent zone alone to compare the delegation`,
          ]
        : [],
    },
  };
}

/** The registry's delegation of the zone, or why the NS set is not compared. */
function expectedOf(zone: string, registryNodes: NodeDescriptor[] | undefined): ExpectedDelegation | { reason: string } {
  if (registryNodes === undefined)
    return { reason: "no registry to compare with: --server only; give --registry DIR (or --stack) for the NS set and glue" };
  return registryDelegation(zone, registryNodes) ?? { reason: `no node of the registry lists ${zone} in its zones` };
}

async function askParent(
  zone: string,
  flag: string | undefined,
  timeoutMs: number,
  expected: ExpectedDelegation | { reason: string },
): Promise<ParentReplies> {
  if (flag === undefined)
    return { parent: { asked: false, reason: "no --parent given" }, delegation: { compared: false, reason: "no --parent given" } };
  const server = parseServer(flag, "--parent");
  const [ds, ns] = await Promise.all([
    ask(server, { name: zone, type: RECORD_TYPES.DS }, timeoutMs),
    ask(server, { name: zone, type: RECORD_TYPES.NS }, timeoutMs),
  ]);
  return { parent: dsAnswer(zone, flag, ds), ...nsAnswer(zone, flag, ns, "message" in ds ? ds.message : dnsMessage(), expected) };
}

/** Runs `boreal dns check ZONE ...`; returns the exit code. Never throws. */
export async function runDns(verb: string | undefined, args: string[], ctx: DnsCheckContext): Promise<number> {
  const io = ctx.io ?? processIo;
  return runCommandAsync({ name: "boreal dns check", usage: DNS_USAGE }, args, io, async () => {
    if (verb !== "check")
      throw verb === undefined
        ? usageError("the dns command is missing", hint("dns check ZONE"))
        : unknownWord("command", `dns ${verb}`, ["dns check"]);
    const a = parseArgs(args, OPTIONS);
    const zone = zoneArgument(a.positional);
    const timeoutText = a.one("--timeout") ?? String(DEFAULT_TIMEOUT_SECONDS);
    if (!/^\d+(\.\d+)?$/.test(timeoutText) || Number(timeoutText) <= 0)
      throw usageError(`--timeout must be seconds, got ${JSON.stringify(timeoutText)}`, "e.g. --timeout 3", "--timeout");
    const timeoutMs = Number(timeoutText) * 1000;
    const { nodes, records, registryNodes } = targets(zone, a, ctx, io);
    const sample = sampleOf(zone, records);
    const questions = questionsFor(zone, sample);
    const progress = ctx.progress ?? (ctx.io ? () => {} : (line: string) => process.stderr.write(`${line}\n`));
    const parentServer = a.one("--parent");
    progress(
      `dns check: asking ${nodes.length} name server(s)${parentServer === undefined ? "" : ` and the parent at ${parentServer}`} about ${zone} (${timeoutText} s at most each)`,
    );
    const [atParent, ...replies] = await Promise.all([
      askParent(zone, a.one("--parent"), timeoutMs, expectedOf(zone, registryNodes)),
      ...nodes.map((n) => askNode(n.node, n.server, questions, timeoutMs)),
    ]);
    const { parent, delegation } = atParent;
    const now = (ctx.now ?? (() => new Date()))();
    const answers = replies.map((r) => judgeNode(zone, r, sample, now));
    const result = evaluateDnsCheck({ zone, nodes: nodes.map((n) => n.node), answers, parent, delegation, now });
    io.out(a.on("--json") ? JSON.stringify(dnsCheckData(result, answers, parent, atParent), null, 2) : formatDnsCheck(result).trimEnd());
    return result.exitCode;
  });
}

const dsData = (d: DsRecord) => ({ owner: d.owner, keyTag: d.keyTag, algorithm: d.algorithm, digestType: d.digestType, digest: d.digest });
const PARENT_STATES: Record<string, string> = {
  matches: "matches",
  MISMATCH: "mismatch",
  mismatch: "mismatch",
  "no DS": "no-ds",
  unreachable: "unreachable",
  "not asked": "not-asked",
};
const parentState = (cell: string): string | null => PARENT_STATES[cell] ?? PARENT_STATES[cell.replace(/ \(.*$/, "")] ?? null;

const delegationState = (answer: DelegationAnswer | undefined): string =>
  answer === undefined || "reason" in answer
    ? "not-compared"
    : "error" in answer
      ? "unreachable"
      : answer.problems.length === 0
        ? "matches"
        : "problems";

/** The parent's NS set and glue, the set expected, and their differences, as data (null where not asked or not compared). */
function delegationData(replies: Pick<ParentReplies, "delegation" | "held" | "expected"> | undefined) {
  const answer = replies?.delegation;
  const known = replies?.expected?.known;
  return {
    delegation: delegationState(answer),
    delegationDetail:
      answer === undefined ? "no --parent given" : "reason" in answer ? answer.reason : "error" in answer ? answer.error : null,
    parentNs:
      replies?.held?.nameServers.map((name) => ({
        name,
        node: known?.get(name)?.node ?? null,
        member: known?.get(name)?.member ?? null,
      })) ?? null,
    parentGlue: replies?.held?.glue.map((g) => ({ name: g.name, type: g.type, address: g.address })) ?? null,
    expectedNs:
      replies?.expected?.nameServers.map((ns) => ({
        name: ns.name,
        node: ns.node,
        member: ns.member,
        glue: ns.glue.map((g) => ({ type: g.type, address: g.address })),
      })) ?? null,
    delegationProblems: answer !== undefined && "problems" in answer ? answer.problems : [],
  };
}

/** `--json`: the check as data (null where the table shows "-"), for scripts; the table is for people. */
export function dnsCheckData(
  result: CheckResult,
  answers: NodeAnswer[],
  parent: ParentAnswer,
  atParent?: Pick<ParentReplies, "delegation" | "held" | "expected">,
) {
  return {
    zone: result.zone,
    healthy: result.exitCode === 0,
    exitCode: result.exitCode,
    parent: parentState(result.parent),
    parentDetail: "reason" in parent ? parent.reason : "error" in parent ? parent.error : null,
    parentDs: "ds" in parent ? parent.ds.map(dsData) : null,
    zoneDs: result.zoneDs.map(dsData),
    ...delegationData(atParent),
    rows: result.rows.map((row) => {
      const answer = answers.find((x) => x.node === row.node);
      return {
        node: row.node,
        address: answer?.address ?? null,
        answered: !answer ? "not-asked" : answer.answered ? "yes" : "no",
        error: answer?.error ?? null,
        serial: answer?.serial ?? null,
        signatures: answer?.signaturesValid === undefined ? null : answer.signaturesValid ? "valid" : "invalid",
        signatureProblems: answer?.signatureProblems ?? [],
        signingKsks: (answer?.signingKsks ?? []).map((k) => ({ keyTag: keyTag(k), algorithm: k.algorithm })),
        expiration: answer?.expiration === undefined ? null : new Date(answer.expiration * 1000).toISOString(),
        parentDs: parentState(row.parentDs),
        sample: answer?.sample ? { checked: answer.sample.checked, ok: answer.sample.ok, problems: answer.sample.problems } : null,
        problems: row.problems,
      };
    }),
    problems: result.problems,
    notes: result.notes,
  };
}
