// `boreal-agent delegation` (boreal-delegation.timer): the node checks how the parent zone
// delegates each of its own zones. It finds the parent zone and its servers through the
// node's resolver (/etc/resolv.conf), asks each of them directly for the zone's NS (the
// referral and its glue) and DS, and compares with what the federation serves: the zone's
// name servers as plan() gives them, every live node's name server name, and the KSKs the
// node's own Knot serves (src/core/dns/parent.ts). Each difference is a journal line and
// counts in the textfile metrics BorealDelegationDrift reads; a parent that cannot be found
// or asked is a journal line and `boreal_delegation_parent_answered 0`, never drift.
import { existsSync, readFileSync } from "node:fs";
import type { Question, Reply } from "../core/dns/check";
import type { NodeForDelegation } from "../core/dns/delegation";
import type { Dnskey } from "../core/dns/ds";
import { delegationProblems, parentDelegation } from "../core/dns/parent";
import {
  addressesIn,
  delegationLogLines,
  delegationMetrics,
  DnsServer,
  enclosingZone,
  expectedDelegation,
  nameServersIn,
  ownKnotServer,
  ParentServer,
  ParentServerCheck,
  parentAnswerProblem,
  parentFromDsAnswer,
  parseResolvConf,
  resolverAnswerProblem,
  servedKsks,
  serverText,
  zoneVerdict,
  ZoneDelegationCheck,
} from "../core/dns/parent-discovery";
import type { DnsMessage } from "../core/dns/message";
import { parentName, RECORD_TYPES } from "../core/dns/zonefile";
import { dnsTarget } from "../core/monitoring/plan";
import { plan, PrimaryZone } from "../core/node/plan";
import { DELEGATION_METRICS, RESOLV_CONF, TEXTFILE_DIR } from "../core/node/layout";
import { ask, QueryOptions } from "../io/dns/transport";
import { writeAtomic } from "../io/files";
import { log } from "./io";
import { readInputs, verify } from "./phases";

/** A resolver may have to recurse from the root: more time than an authoritative server. */
export const RESOLVER_TIMEOUT_MS = 5_000;
export const SERVER_TIMEOUT_MS = 3_000;

/** One question to one server; never throws (src/io/dns/transport.ts's ask, or a test's). */
export type Asker = (server: DnsServer, question: Question, options: QueryOptions) => Promise<Reply>;

const askOverNetwork: Asker = (server, question, options) =>
  ask(server, question, options.recursion ? RESOLVER_TIMEOUT_MS : SERVER_TIMEOUT_MS, options);

/** What a check of the node's zones needs besides the zones. */
export interface DelegationContext {
  member: string;
  /** Every live node of the federation (their name server names: a name none of them has is lame). */
  nodes: readonly NodeForDelegation[];
  /** Where the node's own Knot answers (the KSKs it serves). */
  ownServer: DnsServer;
  /** The node's resolvers, in /etc/resolv.conf's order. */
  resolvers: DnsServer[];
  now: Date;
  ask: Asker;
}

/** One run: every primary zone of the node's plan, from the registry the sync holds; the metrics; the journal. */
export async function checkDelegations(): Promise<number> {
  const at = Math.floor(Date.now() / 1000);
  const inputs = readInputs();
  // The registry as the sync last verified it (what it holds, and the seed): no mirror is asked.
  const verified = verify(inputs, { sources: [inputs.seed], mirrors: [] });
  const federation = verified.federation;
  if (!federation) {
    log("delegation: no trusted federation version held yet (the sync's first run makes one): nothing to check against");
    return 1;
  }
  const nodePlan = plan(inputs.config.spec, federation);
  const checks = await checkZones(nodePlan.dns.primaryZones, {
    member: nodePlan.member,
    nodes: federation.nodes,
    ownServer: ownKnotServer(dnsTarget(nodePlan.endpoint)),
    resolvers: parseResolvConf(existsSync(RESOLV_CONF) ? readFileSync(RESOLV_CONF, "utf8") : ""),
    now: new Date(),
    ask: askOverNetwork,
  });
  for (const check of checks) for (const line of delegationLogLines(check)) log(line);
  if (existsSync(TEXTFILE_DIR)) writeAtomic(DELEGATION_METRICS, delegationMetrics(checks, at), { mode: 0o644 });
  return 0;
}

/** Each zone's check, one zone after the other (each asks its parent's servers at once). */
export async function checkZones(zones: readonly PrimaryZone[], context: DelegationContext): Promise<ZoneDelegationCheck[]> {
  const checks: ZoneDelegationCheck[] = [];
  for (const zone of zones) checks.push(await checkZone(zone, context));
  return checks;
}

async function checkZone(zone: PrimaryZone, context: DelegationContext): Promise<ZoneDelegationCheck> {
  const notes: string[] = [];
  const [ksks, found] = await Promise.all([ownKsks(zone.name, context, notes), parentServers(zone.name, context)]);
  if ("error" in found) return zoneVerdict(zone.name, [], [...notes, found.error]);
  const expected = expectedDelegation(zone, context.member, context.nodes, ksks);
  const checks = await Promise.all(
    found.servers.map((server) =>
      askParentServer(zone.name, server, context, (ns, ds) => delegationProblems(expected, parentDelegation(zone.name, ns, ds))),
    ),
  );
  return zoneVerdict(zone.name, checks, notes);
}

/** The KSKs the node's own Knot serves for the zone; undefined (and a note) when it does not say: the DS is not compared. */
async function ownKsks(zone: string, context: DelegationContext, notes: string[]): Promise<Dnskey[] | undefined> {
  const reply = await context.ask(context.ownServer, { name: zone, type: RECORD_TYPES.DNSKEY }, {});
  const served = "error" in reply ? reply : servedKsks(zone, reply.message, context.now);
  if ("ksks" in served) return served.ksks;
  notes.push(`the node's own Knot at ${serverText(context.ownServer)} gives no KSK of ${zone} (${served.error}): the DS is not compared`);
  return undefined;
}

/** A question to the node's resolvers, in their order, until one answers. */
async function askResolvers(question: Question, context: DelegationContext): Promise<{ message: DnsMessage } | { error: string }> {
  const errors: string[] = [];
  for (const resolver of context.resolvers) {
    const reply = await context.ask(resolver, question, { recursion: true });
    const problem = "error" in reply ? reply.error : resolverAnswerProblem(reply.message);
    if (problem === undefined) return reply as { message: DnsMessage };
    errors.push(`${serverText(resolver)} ${"error" in reply ? `did not answer: ${problem}` : problem}`);
  }
  return { error: errors.join("; ") || "no resolver to ask" };
}

/**
 * The parent zone and its servers through the node's resolvers: `ZONE DS` (the signer of its
 * RRSIG, or the SOA of a NODATA answer, is the parent; else `PARENT-NAME SOA` says which zone
 * that name lies in), then the parent's NS, then each name's addresses.
 */
async function parentServers(zone: string, context: DelegationContext): Promise<{ servers: ParentServer[] } | { error: string }> {
  const resolvers = `the node's resolvers (${context.resolvers.map(serverText).join(", ")}, ${RESOLV_CONF})`;
  const ds = await askResolvers({ name: zone, type: RECORD_TYPES.DS }, context);
  if ("error" in ds) return { error: `the parent zone could not be found: ${resolvers} did not answer ${zone} DS: ${ds.error}` };
  let parent = parentFromDsAnswer(zone, ds.message);
  const above = parentName(zone);
  if (parent === undefined && above !== undefined) {
    const soa = await askResolvers({ name: above, type: RECORD_TYPES.SOA }, context);
    if ("message" in soa) parent = enclosingZone(above, soa.message);
  }
  if (parent === undefined)
    return { error: `the parent zone could not be found: ${resolvers} name no zone above ${zone} (no RRSIG over its DS, no SOA)` };
  const ns = await askResolvers({ name: parent, type: RECORD_TYPES.NS }, context);
  if ("error" in ns) return { error: `${resolvers} did not answer ${parent} NS: ${ns.error}` };
  const names = nameServersIn(parent, ns.message);
  if (names.length === 0) return { error: `${resolvers} give no NS of the parent zone ${parent}` };
  const servers = await Promise.all(
    names.map(async (name) => {
      const answers = await Promise.all([RECORD_TYPES.A, RECORD_TYPES.AAAA].map((type) => askResolvers({ name, type }, context)));
      return { name, addresses: [...new Set(answers.flatMap((a) => ("message" in a ? addressesIn(a.message) : [])))] };
    }),
  );
  return { servers };
}

/**
 * One parent server's answers to `ZONE NS` and `ZONE DS`, asked directly (no recursion) at
 * its addresses in turn until one answers so that they can be judged.
 */
async function askParentServer(
  zone: string,
  server: ParentServer,
  context: DelegationContext,
  judge: (ns: DnsMessage, ds: DnsMessage) => string[],
): Promise<ParentServerCheck> {
  if (server.addresses.length === 0) return { server: server.name, error: "has no address through the node's resolvers" };
  const errors: string[] = [];
  for (const host of server.addresses) {
    const at: DnsServer = { host, port: 53 };
    const [ns, ds] = await Promise.all(
      [RECORD_TYPES.NS, RECORD_TYPES.DS].map((type) => context.ask(at, { name: zone, type }, { recursion: false })),
    );
    const failed = "error" in ns ? ns.error : "error" in ds ? ds.error : parentAnswerProblem(zone, ns.message, ds.message);
    if (failed === undefined)
      return { server: server.name, problems: judge((ns as { message: DnsMessage }).message, (ds as { message: DnsMessage }).message) };
    errors.push(`at ${serverText(at)}: ${failed}`);
  }
  return { server: server.name, error: `could not be asked (${errors.join("; ")})` };
}
