// `boreal dns check ZONE`: from the answers every node gave (src/io/dns/transport.ts asks), the
// verdict per node and for the zone, and the table. Pure: the replies, the parent's DS, the
// differences between the parent's NS set and glue and the registry's delegation
// (src/core/dns/parent.ts) and the time are handed in.
import { createHash } from "node:crypto";
import { formatIPv4, formatIPv6, parseIPv6 } from "../values/ip";
import { dnskeyOf, serialAhead, verifyRrset } from "./dnssec";
import { Dnskey, dsOf, DsRecord, formatDs, keyTag, SEP } from "./ds";
import { DnsMessage, nameText, rcodeName, readName, typeName, WireRecord } from "./message";
import { nameWithin, parentName, parseZoneFile, RECORD_TYPES } from "./zonefile";
import { dsNamesKey } from "./parent";

export interface Question {
  name: string;
  type: number;
}

/** What asking one question of one server gave: its answer, or why there was none. */
export type Reply = { message: DnsMessage } | { error: string };

/** One RRset of the sample; `expected` (RDATA as the member wrote it) when the stack gives the records. */
export interface SampleRRset {
  owner: string;
  type: number;
  expected?: string[];
}

/** How many RRsets of the member's records are asked of every node. */
export const SAMPLE_SIZE = 6;
/** Without the member's records, what the apex may hold is asked (and compared between nodes). */
const APEX_SAMPLE = ["A", "AAAA", "MX", "TXT"] as const;
/** Types the check can compare with what the member wrote, value by value; others by count. */
const COMPARED = new Set(["A", "AAAA", "NS", "CNAME", "PTR", "DNAME", "MX"]);
/** A signature expiring sooner is worth a note (BorealSignaturesExpiring warns at the same point). */
const EXPIRY_NOTE_DAYS = 7;

export function questionKey(q: Question): string {
  return `${q.name} ${typeName(q.type)}`;
}

/**
 * The sample: the first RRsets of the member's records (lines as the kit writes them), or
 * the apex's usual types when there are none. Delegations below the apex are left out:
 * their NS and glue are answered as referrals, not as the zone's own data.
 */
export function sampleOf(zone: string, recordLines: string[] | undefined): SampleRRset[] {
  if (!recordLines || recordLines.length === 0) return APEX_SAMPLE.map((t) => ({ owner: zone, type: RECORD_TYPES[t] }));
  const { records } = parseZoneFile(recordLines.join("\n"), { origin: zone });
  const cuts = new Set(records.filter((r) => r.type === "NS" && r.owner !== zone).map((r) => r.owner));
  // At or below a cut: the name or one of its ancestors below the apex is a cut (one walk up
  // the name's labels, not a scan of every cut: linear in the records).
  const delegated = (owner: string) => {
    for (let name: string | undefined = owner; name !== undefined && name !== zone && nameWithin(name, zone); name = parentName(name)) {
      if (cuts.has(name)) return true;
    }
    return false;
  };
  const sets = new Map<string, { sample: SampleRRset; seen: Set<string> }>();
  for (const r of records) {
    if (!(r.type in RECORD_TYPES) || (cuts.size > 0 && delegated(r.owner))) continue;
    const key = `${r.owner} ${r.type}`;
    let set = sets.get(key);
    if (!set) {
      if (sets.size === SAMPLE_SIZE) continue;
      set = { sample: { owner: r.owner, type: RECORD_TYPES[r.type], expected: [] }, seen: new Set() };
      sets.set(key, set);
    }
    if (!set.seen.has(r.rdata)) {
      set.seen.add(r.rdata);
      set.sample.expected!.push(r.rdata);
    }
  }
  return [...sets.values()].map((s) => s.sample);
}

/** Every question a node is asked: the apex's SOA, NS and DNSKEY, then the sample. */
export function questionsFor(zone: string, sample: SampleRRset[]): Question[] {
  return [
    { name: zone, type: RECORD_TYPES.SOA },
    { name: zone, type: RECORD_TYPES.NS },
    { name: zone, type: RECORD_TYPES.DNSKEY },
    ...sample.map((s) => ({ name: s.owner, type: s.type })),
  ];
}

// ---------------------------------------------------------------------------------------
// One node.

export interface NodeReplies {
  node: string;
  /** The address asked, host:port. */
  address: string;
  /** By questionKey. */
  replies: Record<string, Reply>;
}

export interface NodeAnswer {
  node: string;
  address: string;
  /** It answered the zone's SOA authoritatively (AA, NOERROR). */
  answered: boolean;
  /** Why not: "timeout after 3 s", "REFUSED", "not authoritative (no AA)"… */
  error?: string;
  serial?: number;
  /** Every RRSIG of SOA, NS, DNSKEY and the sample verifies and is within its window. */
  signaturesValid?: boolean;
  signatureProblems: string[];
  /** The key-signing keys whose signature over the DNSKEY set verifies: what the parent's DS must match. */
  signingKsks: Dnskey[];
  /** Epoch seconds: the soonest end of a valid signature this node serves. */
  expiration?: number;
  /** RRsets of the sample asked, those answered as expected, and a digest of each answer (to compare nodes). */
  sample?: { checked: number; ok: number; problems: string[]; fingerprints: Record<string, string> };
}

/** The RRset of (owner, type) in an answer section. */
function rrsetOf(message: DnsMessage, owner: string, type: number): { records: WireRecord[]; signatures: WireRecord[] } {
  return {
    records: message.answer.filter((r) => r.owner === owner && r.type === type),
    signatures: message.answer.filter((r) => r.owner === owner && r.type === RECORD_TYPES.RRSIG),
  };
}

function soaSerial(soa: WireRecord): number {
  const mname = readName(soa.canonical, 0);
  const rname = readName(soa.canonical, mname.end);
  return soa.canonical.readUInt32BE(rname.end);
}

/** The values of an RRset as the zone parser writes them, for the types the check compares. */
function presentation(r: WireRecord): string {
  const c = r.canonical;
  switch (typeName(r.type)) {
    case "A":
      return formatIPv4(BigInt(c.readUInt32BE(0)));
    case "AAAA":
      return formatIPv6(BigInt(`0x${c.toString("hex")}`));
    case "MX":
      return `${c.readUInt16BE(0)} ${nameText(readName(c, 2).labels)}`;
    default:
      return nameText(readName(c, 0).labels);
  }
}

function normalisedExpected(type: string, rdata: string): string {
  return type === "AAAA" ? formatIPv6(parseIPv6(rdata)) : rdata.toLowerCase();
}

/** What one reply says about a question, when it is not a usable answer. */
function replyProblem(reply: Reply | undefined, allowNxdomain: boolean): string | undefined {
  if (!reply) return "not asked";
  if ("error" in reply) return reply.error;
  const { rcode, authoritative } = reply.message;
  if (rcode !== 0 && !(allowNxdomain && rcode === 3)) return rcodeName(rcode);
  if (!authoritative) return "not authoritative (no AA)";
  return undefined;
}

/** The verdict on one node's replies; `now` decides the signatures' windows. */
export function judgeNode(zone: string, replies: NodeReplies, sample: SampleRRset[], now: Date): NodeAnswer {
  const base = { node: replies.node, address: replies.address, signatureProblems: [], signingKsks: [] };
  const ask = (name: string, type: number) => replies.replies[questionKey({ name, type })];
  const soaReply = ask(zone, RECORD_TYPES.SOA);
  const soaProblem = replyProblem(soaReply, false);
  if (soaProblem) return { ...base, answered: false, error: soaProblem };
  const soa = rrsetOf((soaReply as { message: DnsMessage }).message, zone, RECORD_TYPES.SOA);
  if (soa.records.length !== 1) return { ...base, answered: false, error: "no SOA in its answer" };

  const signatureProblems: string[] = [];
  const expirations: number[] = [];
  const check = (records: WireRecord[], signatures: WireRecord[], keys: Dnskey[]) => {
    const result = verifyRrset(zone, records, signatures, keys, now);
    signatureProblems.push(...result.problems);
    if (result.expiration !== undefined) expirations.push(result.expiration);
    return result;
  };
  const apex = (type: number, what: string) => {
    const reply = ask(zone, type);
    const problem = replyProblem(reply, false);
    if (problem) {
      signatureProblems.push(`${zone} ${what}: ${problem}`);
      return undefined;
    }
    const set = rrsetOf((reply as { message: DnsMessage }).message, zone, type);
    if (set.records.length === 0) signatureProblems.push(`${zone} ${what}: none in its answer`);
    return set.records.length === 0 ? undefined : set;
  };

  // The DNSKEY set is trusted through the key-signing keys that sign it (the parent's DS
  // must match one of them); every other RRset through the zone keys of that set.
  const dnskeySet = apex(RECORD_TYPES.DNSKEY, "DNSKEY");
  const keys = dnskeySet?.records.map(dnskeyOf) ?? [];
  const ksks = keys.filter((k) => k.flags & SEP);
  let signingKsks: Dnskey[] = [];
  if (dnskeySet) {
    const { signers } = check(dnskeySet.records, dnskeySet.signatures, keys);
    signingKsks = ksks.filter((k) => signers.includes(k));
    if (signingKsks.length === 0) signatureProblems.push(`${zone} DNSKEY: no valid signature by a key-signing key (SEP flag) of the set`);
  }
  check(soa.records, soa.signatures, keys);
  const ns = apex(RECORD_TYPES.NS, "NS");
  if (ns) check(ns.records, ns.signatures, keys);

  const sampleProblems: string[] = [];
  const fingerprints: Record<string, string> = {};
  let sampleOk = 0;
  for (const item of sample) {
    const key = questionKey({ name: item.owner, type: item.type });
    const reply = ask(item.owner, item.type);
    const problem = replyProblem(reply, true);
    if (problem) {
      sampleProblems.push(`${key}: ${problem}`);
      continue;
    }
    const message = (reply as { message: DnsMessage }).message;
    const set = rrsetOf(message, item.owner, item.type);
    fingerprints[key] = createHash("sha256")
      .update(Buffer.concat(set.records.map((r) => r.canonical).sort(Buffer.compare)))
      .digest("hex");
    const before = sampleProblems.length;
    if (set.records.length > 0 && !check(set.records, set.signatures, keys).valid)
      sampleProblems.push(`${key}: its signatures do not verify`);
    if (item.expected) {
      const type = typeName(item.type);
      if (set.records.length === 0)
        sampleProblems.push(
          `${key}: missing (${message.rcode === 3 ? "NXDOMAIN" : "no data"}), the member's records have ${item.expected.join(", ")}`,
        );
      else if (COMPARED.has(type)) {
        const got = set.records.map(presentation).sort();
        const want = item.expected.map((e) => normalisedExpected(type, e)).sort();
        if (got.join("|") !== want.join("|"))
          sampleProblems.push(`${key}: answers ${got.join(", ")} where the member's records have ${want.join(", ")}`);
      } else if (set.records.length !== new Set(item.expected).size) {
        sampleProblems.push(`${key}: answers ${set.records.length} record(s) where the member's records have ${item.expected.length}`);
      }
    }
    if (sampleProblems.length === before) sampleOk++;
  }
  return {
    ...base,
    answered: true,
    serial: soaSerial(soa.records[0]),
    signaturesValid: signatureProblems.length === 0,
    signatureProblems,
    signingKsks,
    expiration: expirations.length > 0 ? Math.min(...expirations) : undefined,
    sample: { checked: sample.length, ok: sampleOk, problems: sampleProblems, fingerprints },
  };
}

// ---------------------------------------------------------------------------------------
// The zone.

export type ParentAnswer = { asked: false; reason: string } | { asked: true; error: string } | { asked: true; ds: DsRecord[] };

/**
 * The parent's NS set and glue against the registry's delegation of the zone: not compared
 * (no --parent, or no registry to say what it should be), the parent not asked, or the
 * differences delegationProblems found (none: it matches). The DS is judged from
 * ParentAnswer alone, so delegationProblems is given no KSKs and names no DS.
 */
export type DelegationAnswer =
  | { compared: false; reason: string }
  | { compared: true; error: string }
  | {
      compared: true;
      /** The set the zone should be delegated to, by node: what "matches (…)" names. */
      expected: { name: string; node: string }[];
      problems: string[];
      /** What limits the comparison (the server asked also serves the zone…). */
      notes?: string[];
    };

export interface CheckInput {
  zone: string;
  /** The nodes that serve the zone (every node of the federation, or the servers given). */
  nodes: string[];
  answers: NodeAnswer[];
  parent: ParentAnswer;
  /** The parent's NS set and glue compared; absent: not compared (no --parent given). */
  delegation?: DelegationAnswer;
  now: Date;
}

export interface CheckRow {
  node: string;
  address: string;
  answered: string;
  serial: string;
  signatures: string;
  parentDs: string;
  sample: string;
  problems: string[];
}

export interface CheckResult {
  zone: string;
  rows: CheckRow[];
  /** SHA-256 DS of the KSKs the nodes sign with: what the parent should hold. */
  zoneDs: DsRecord[];
  /** "matches", "no DS", "mismatch", "not asked (…)" or "unreachable (…)". */
  parent: string;
  /** The parent's NS set and glue: "matches (a1, b1, c1)", "2 problem(s)", "not compared (…)" or "unreachable (…)". */
  delegation: string;
  problems: string[];
  notes: string[];
  /** 0 when every node answers alike with valid signatures and the parent's DS (when asked) matches; else 1. */
  exitCode: 0 | 1;
}

/** A node as problem lines name it: with the address asked, unless that is its name (--server). */
const nodeLabel = (node: string, address?: string) => (address && address !== node ? `${node} (${address})` : node);

const kskNames = (keys: Dnskey[]) =>
  keys
    .map((k) => `${keyTag(k)}/${k.algorithm}`)
    .sort()
    .join(", ");

export function evaluateDnsCheck(input: CheckInput): CheckResult {
  const { zone } = input;
  const problems: string[] = [];
  const notes: string[] = [];
  const answered = input.answers.filter((a) => a.answered && a.serial !== undefined);
  const newest = answered.reduce<number | undefined>(
    (max, a) => (max === undefined || serialAhead(a.serial!, max) ? a.serial : max),
    undefined,
  );
  // The KSK set most nodes sign with is the zone's; a node signing with another one was
  // re-keyed alone (rebuilt without its key database) or serves someone else's zone.
  const kskSets = new Map<string, number>();
  for (const a of answered) kskSets.set(kskNames(a.signingKsks), (kskSets.get(kskNames(a.signingKsks)) ?? 0) + 1);
  const commonKsks = [...kskSets.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const zoneKsks = answered.find((a) => kskNames(a.signingKsks) === commonKsks)?.signingKsks ?? [];
  const zoneDs = zoneKsks.map((k) => dsOf(k, 2));
  // `in` rather than `asked`: the TypeScript Pulumi compiles src/ with (3.8, not strict) does not narrow on it.
  const atParent = "ds" in input.parent ? input.parent.ds.filter((d) => d.owner === zone) : undefined;
  // One zone-wide line when no node matches the parent; per node when only some do not.
  const parentMatches = (a: NodeAnswer) => atParent!.some((d) => a.signingKsks.some((k) => dsNamesKey(d, k)));
  const noneMatches = atParent !== undefined && atParent.length > 0 && !answered.some(parentMatches);

  const nodes = [...new Set([...input.nodes, ...input.answers.map((a) => a.node)])].sort();
  const rows = nodes.map((node): CheckRow => {
    const answer = input.answers.find((a) => a.node === node);
    const rowProblems: string[] = [];
    const say = (problem: string) => rowProblems.push(`${nodeLabel(node, answer?.address)}: ${problem}`);
    if (!input.nodes.includes(node)) say("answered but does not serve the zone (not in the registry's nodes)");
    let parentCell = "-";
    if (!answer) say("was not asked");
    else if (!answer.answered) say(`did not answer for ${zone}: ${answer.error ?? "no answer"}`);
    else {
      if (newest !== undefined && serialAhead(newest, answer.serial!))
        say(`serves serial ${answer.serial}, behind ${newest}: its transfer is late or failing`);
      for (const p of answer.signatureProblems) say(p);
      if (commonKsks !== undefined && kskNames(answer.signingKsks) !== commonKsks && answer.signingKsks.length > 0) {
        say(`signs its DNSKEY set with KSK ${kskNames(answer.signingKsks)}, the other nodes with ${commonKsks || "none"}`);
      }
      for (const p of answer.sample?.problems ?? []) say(p);
      if ("reason" in input.parent) parentCell = "not asked";
      else if (atParent === undefined) parentCell = "unreachable";
      else if (atParent.length === 0) parentCell = "no DS";
      else if (parentMatches(answer)) parentCell = "matches";
      else {
        parentCell = "MISMATCH";
        if (!noneMatches) say(`no DS at the parent matches the KSK that signs its DNSKEY set (${kskNames(answer.signingKsks) || "none"})`);
      }
    }
    problems.push(...rowProblems);
    const sample = answer?.sample;
    return {
      node,
      address: answer?.address ?? "-",
      answered: !answer ? "not asked" : answer.answered ? "yes" : `no (${answer.error ?? "no answer"})`,
      serial: answer?.serial === undefined ? "-" : String(answer.serial),
      signatures: answer?.signaturesValid === undefined ? "-" : answer.signaturesValid ? "valid" : "INVALID",
      parentDs: parentCell,
      sample: !sample ? "-" : `${sample.ok}/${sample.checked} ok`,
      problems: rowProblems,
    };
  });

  // Without the member's records to compare with, the nodes are compared with each other.
  for (const key of new Set(answered.flatMap((a) => Object.keys(a.sample?.fingerprints ?? {})))) {
    const current = answered.filter((a) => a.serial === newest && a.sample?.fingerprints[key] !== undefined);
    const counts = new Map<string, number>();
    for (const a of current) counts.set(a.sample!.fingerprints[key], (counts.get(a.sample!.fingerprints[key]) ?? 0) + 1);
    const usual = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    for (const a of current.filter((x) => x.sample!.fingerprints[key] !== usual)) {
      problems.push(`${nodeLabel(a.node, a.address)}: ${key}: answers differently from the other nodes at the same serial`);
    }
  }

  if (answered.length > 0 && zoneDs.length === 0)
    problems.push(`${zone}: no node serves a DNSKEY set signed by a key-signing key: the zone is not signed (or not yet)`);
  let parent: string;
  if ("reason" in input.parent) parent = `not asked (${input.parent.reason})`;
  else if ("error" in input.parent) {
    parent = `unreachable (${input.parent.error})`;
    problems.push(`the parent could not be asked for the DS of ${zone}: ${input.parent.error}`);
  } else if (atParent!.length === 0) {
    parent = "no DS";
    problems.push(`the parent has no DS for ${zone}: resolvers do not validate it; enter the DS below at the registrar`);
  } else if (noneMatches) {
    parent = "mismatch";
    problems.push(
      `no DS at the parent matches a KSK of ${zone} (parent: ${atParent!.map((d) => `${d.keyTag}/${d.algorithm}`).join(", ")}; zone: ${kskNames(zoneKsks) || "none"}): validating resolvers see the zone as bogus; replace the DS at the registrar`,
    );
  } else {
    parent = "matches";
    const stale = atParent!.filter((d) => !zoneKsks.some((k) => dsNamesKey(d, k)));
    if (stale.length > 0)
      notes.push(
        `the parent also holds DS for keys the zone does not sign with (${stale.map((d) => d.keyTag).join(", ")}): remove them at the registrar once a rollover is over`,
      );
  }
  const delegation = delegationVerdict(zone, input.delegation, input.parent);
  problems.push(...delegation.problems);
  notes.push(...delegation.notes);
  const expiration = Math.min(...answered.map((a) => a.expiration ?? Infinity));
  const nowSeconds = input.now.getTime() / 1000;
  if (expiration - nowSeconds < EXPIRY_NOTE_DAYS * 86400)
    notes.push(
      `a signature expires at ${new Date(expiration * 1000).toISOString()}: the primary re-signs long before; on a secondary it means transfers stopped`,
    );
  return { zone, rows, zoneDs, parent, delegation: delegation.cell, problems, notes, exitCode: problems.length > 0 ? 1 : 0 };
}

/** The NS line of the summary and its problems: one per difference; a parent that did not answer is one unless the DS question says so already. */
function delegationVerdict(
  zone: string,
  answer: DelegationAnswer | undefined,
  parent: ParentAnswer,
): { cell: string; problems: string[]; notes: string[] } {
  if (answer === undefined) return { cell: "not compared (no --parent given)", problems: [], notes: [] };
  if ("reason" in answer) return { cell: `not compared (${answer.reason})`, problems: [], notes: [] };
  if ("error" in answer) {
    const sameFailure = "error" in parent && parent.error === answer.error;
    return {
      cell: `unreachable (${answer.error})`,
      problems: sameFailure ? [] : [`the parent could not be asked for the NS set of ${zone}: ${answer.error}`],
      notes: [],
    };
  }
  const cell =
    answer.problems.length === 0 ? `matches (${answer.expected.map((ns) => ns.node).join(", ")})` : `${answer.problems.length} problem(s)`;
  return { cell, problems: answer.problems, notes: answer.notes ?? [] };
}

/** The table `boreal dns check` prints, then its problems and notes. */
export function formatDnsCheck(result: CheckResult): string {
  const header = ["NODE", "ADDRESS", "ANSWERED", "SERIAL", "SIGNATURES", "DS AT PARENT", "SAMPLE"];
  const cells = result.rows.map((r) => [r.node, r.address, r.answered, r.serial, r.signatures, r.parentDs, r.sample]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [
    `zone ${result.zone}`,
    line(header),
    ...cells.map(line),
    `DS at the parent: ${result.parent}`,
    ...result.zoneDs.map((d) => `DS of the zone's KSK: ${formatDs(d)}`),
    `NS at the parent: ${result.delegation}`,
    ...result.problems.map((p) => `problem: ${p}`),
    ...result.notes.map((n) => `note: ${n}`),
    result.exitCode === 0 ? "ok" : `${result.problems.length} problem(s)`,
    "",
  ].join("\n");
}
