// What a member gives its registrar for a zone (NS names, their glue, the DS records), and
// the verdict of `boreal dns check ZONE` from the answers its probes collected. Pure: the
// answers are handed in; asking the nodes and the parent is the caller's.
import type { PrimaryZone } from "../model/plan";
import { DsRecord, formatDs, sameDs } from "./ds";

export interface DelegationNameServer {
  /** Fully qualified. */
  name: string;
  node: string;
  /** Glue: needed at the registrar when the name lies inside the zone it serves. */
  glue: { type: "A" | "AAAA"; address: string }[];
}

export interface Delegation {
  zone: string;
  nameServers: DelegationNameServer[];
  /** SHA-256 DS records of the zone's key-signing keys. */
  ds: DsRecord[];
}

function fqdn(target: string, zone: string): string {
  return target.endsWith(".") ? target : `${target}.${zone}`;
}

/** The delegation of a zone of the node's plan, with the DS records of its KSKs (dsForZone, or `keymgr ZONE ds`). */
export function delegation(zone: PrimaryZone, ds: DsRecord[]): Delegation {
  return {
    zone: zone.name,
    nameServers: zone.nameServers.map((ns) => {
      const name = fqdn(ns.target, zone.name);
      // Glue only where the registrar needs it: the name server is inside the zone.
      const inZone = name === zone.name || name.endsWith(`.${zone.name}`);
      return { name, node: ns.node, glue: ns.glue && inZone ? [ns.glue] : [] };
    }),
    ds: ds.filter((d) => d.owner === zone.name && d.digestType === 2),
  };
}

/** The delegation as records, what the registrar's form asks for (and what a parent zone holds). */
export function delegationRecords(d: Delegation): string[] {
  return [
    ...d.nameServers.map((ns) => `${d.zone} NS ${ns.name}`),
    ...d.nameServers.flatMap((ns) => ns.glue.map((g) => `${ns.name} ${g.type} ${g.address}`)),
    ...d.ds.map(formatDs),
  ];
}

// ---------------------------------------------------------------------------------------
// boreal dns check ZONE

/** What asking one node for the zone gave. */
export interface NodeAnswer {
  node: string;
  /** The address asked (the node's underlay address or its name server name). */
  address: string;
  /** It answered authoritatively (AA) for the zone's SOA. */
  answered: boolean;
  /** Why not, when it did not answer: "timeout", "REFUSED", "SERVFAIL", "no AA"… */
  error?: string;
  serial?: number;
  /** Every RRSIG of SOA, NS, DNSKEY and the sample verified with the zone's DNSKEYs, within its validity. */
  signaturesValid?: boolean;
  /** The sample of the member's records answered as the other nodes answer them. */
  sampleMatches?: boolean;
}

export type ParentAnswer =
  | { asked: false; reason: string }
  | { asked: true; error: string }
  | { asked: true; ds: DsRecord[] };

export interface CheckInput {
  zone: string;
  /** The nodes serving the zone (its NS set). */
  nodes: string[];
  answers: NodeAnswer[];
  /** DS of the zone's KSKs as its DNSKEY RRset stands (dsForZone). */
  zoneDs: DsRecord[];
  parent: ParentAnswer;
}

export interface CheckRow {
  node: string;
  answered: string;
  serial: string;
  signatures: string;
  problems: string[];
}

export interface CheckResult {
  zone: string;
  rows: CheckRow[];
  /** "matches", "no DS", "mismatch", "not asked (…)" or "unreachable (…)". */
  parent: string;
  problems: string[];
  notes: string[];
  /** 0 when every node answers alike with valid signatures and the parent's DS (when asked) matches; else 1. */
  exitCode: 0 | 1;
}

/** RFC 1982 serial arithmetic: a is ahead of b. */
export function serialAhead(a: number, b: number): boolean {
  return a !== b && ((a > b && a - b < 2 ** 31) || (a < b && b - a > 2 ** 31));
}

export function evaluateDnsCheck(input: CheckInput): CheckResult {
  const problems: string[] = [];
  const notes: string[] = [];
  const answered = input.answers.filter((a) => a.answered && a.serial !== undefined);
  const newest = answered.reduce<number | undefined>((max, a) => (max === undefined || serialAhead(a.serial!, max) ? a.serial : max), undefined);
  const nodes = [...new Set([...input.nodes, ...input.answers.map((a) => a.node)])].sort();
  const rows = nodes.map((node): CheckRow => {
    const answer = input.answers.find((a) => a.node === node);
    const rowProblems: string[] = [];
    if (!input.nodes.includes(node)) rowProblems.push(`${node} answered but is not in the zone's NS set`);
    if (!answer) rowProblems.push(`${node} was not asked`);
    else if (!answer.answered) rowProblems.push(`${node} (${answer.address}) did not answer for ${input.zone}: ${answer.error ?? "no answer"}`);
    else {
      if (answer.serial !== undefined && newest !== undefined && serialAhead(newest, answer.serial)) {
        rowProblems.push(`${node} serves serial ${answer.serial}, behind ${newest}: its transfer is late or failing`);
      }
      if (answer.signaturesValid === false) rowProblems.push(`${node} serves signatures that do not validate (expired, or made by a key not in the DNSKEY set)`);
      if (answer.sampleMatches === false) rowProblems.push(`${node} answers the sample records differently from the others`);
    }
    problems.push(...rowProblems);
    return {
      node,
      answered: !answer ? "not asked" : answer.answered ? "yes" : `no (${answer.error ?? "no answer"})`,
      serial: answer?.serial === undefined ? "-" : String(answer.serial),
      signatures: answer?.signaturesValid === undefined ? "-" : answer.signaturesValid ? "valid" : "INVALID",
      problems: rowProblems,
    };
  });
  if (input.zoneDs.length === 0) problems.push(`${input.zone} has no key-signing key in its DNSKEY set: it is not signed yet`);
  let parent: string;
  // `in`, not `!asked`: the TypeScript Pulumi runs programs with (3.8) does not narrow on it.
  if ("reason" in input.parent) parent = `not asked (${input.parent.reason})`;
  else if ("error" in input.parent) {
    parent = `unreachable (${input.parent.error})`;
    notes.push(`the parent zone could not be asked (${input.parent.error}): the DS there is unchecked`);
  } else {
    const atParent = input.parent.ds.filter((d) => d.owner === input.zone);
    const matching = atParent.filter((d) => input.zoneDs.some((z) => sameDs(z, d)));
    // A parent DS of another digest type is checked through its key tag and algorithm only.
    const sameKey = atParent.filter((d) => d.digestType !== 2 && input.zoneDs.some((z) => z.keyTag === d.keyTag && z.algorithm === d.algorithm));
    if (atParent.length === 0) {
      parent = "no DS";
      problems.push(`the parent has no DS for ${input.zone}: resolvers do not validate it; enter the DS records (boreal's stack output) at the registrar`);
    } else if (matching.length === 0 && sameKey.length === 0) {
      parent = "mismatch";
      problems.push(`no DS at the parent matches a key of ${input.zone} (parent: ${atParent.map((d) => `${d.keyTag}/${d.algorithm}`).join(", ")}; zone: ${input.zoneDs.map((d) => `${d.keyTag}/${d.algorithm}`).join(", ") || "none"}): validating resolvers see the zone as bogus; replace the DS at the registrar`);
    } else {
      parent = "matches";
      const stale = atParent.filter((d) => !matching.includes(d) && !sameKey.includes(d));
      if (stale.length > 0) notes.push(`the parent also holds DS for keys the zone no longer has (${stale.map((d) => d.keyTag).join(", ")}): remove them at the registrar once a rollover is over`);
    }
  }
  return { zone: input.zone, rows, parent, problems, notes, exitCode: problems.length > 0 ? 1 : 0 };
}

/** The table `boreal dns check` prints, then its problems and notes. */
export function formatDnsCheck(result: CheckResult): string {
  const header = ["node", "answered", "serial", "signatures"];
  const cells = result.rows.map((r) => [r.node, r.answered, r.serial, r.signatures]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [
    `zone ${result.zone}`,
    line(header),
    ...cells.map(line),
    `DS at the parent: ${result.parent}`,
    ...result.problems.map((p) => `problem: ${p}`),
    ...result.notes.map((n) => `note: ${n}`),
    result.exitCode === 0 ? "ok" : `${result.problems.length} problem(s)`,
    "",
  ].join("\n");
}
