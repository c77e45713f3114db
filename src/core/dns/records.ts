// A member's records per zone, by either route of the stack config, through one validator:
//   boreal:records   { zone: "text" | ["line", …] }   small zones, inline
//   boreal:zoneFiles { zone: "path/to/zone.file" }     a master file in the project
// Both end as boreal:records lines (absolute owners, one record a line): that is what
// planning, rendering and the node's agent (through agent.json) see. Pure: the zone files'
// content is handed in by the caller, and where each record line came from (for the local
// check's refusals) is returned with the records (withZoneFiles), never kept here.
import { BorealConfigError, ConfigProblem } from "../values/problems";
import { escapeShort, escapeText } from "../values/escape";
import { checkMemberRecords, decodeZoneFile, formatRecord, parseZoneFile, ZoneProblem, ZoneRecord } from "./zonefile";

/** A zone's inline records: one master-file text, or a list of entries (each may span lines). */
export type InlineRecords = string | string[];

/** What the checks need of the stack config. */
export interface RecordsSpec {
  node: string;
  zones: string[];
  records?: Record<string, InlineRecords>;
  zoneFiles?: Record<string, string>;
}

/** The config path of a zone's records, as `pulumi config set --path` takes it (zone names hold dots). */
export function recordsKey(zone: string, index?: number): string {
  return `boreal:records["${zone}"]${index === undefined ? "" : `[${index}]`}`;
}

export function zoneFilesKey(zone: string): string {
  return `boreal:zoneFiles["${zone}"]`;
}

/** At most this many problems are listed per zone's input; the rest are counted. */
export const MAX_LISTED_PROBLEMS = 50;

/** Parses and checks one master-file text of zone; problems as (line, message, fix). */
export function checkZoneText(text: string, zone: string, node: string): { records: ZoneRecord[]; problems: ZoneProblem[] } {
  const parsed = parseZoneFile(text, { origin: zone });
  const problems = [...parsed.problems, ...checkMemberRecords(parsed.records, { zone, node })].sort((a, b) => a.line - b.line);
  return { records: parsed.records, problems };
}

/** The first problems, and one more that counts the rest (a file that is not a zone has one a line). */
function listed(problems: ConfigProblem[], source: string, key: string): ConfigProblem[] {
  if (problems.length <= MAX_LISTED_PROBLEMS) return problems;
  const more = problems.length - MAX_LISTED_PROBLEMS;
  return [
    ...problems.slice(0, MAX_LISTED_PROBLEMS),
    {
      source,
      key,
      message: `${more} more problem(s) not listed (the first ${MAX_LISTED_PROBLEMS} are)`,
      fix: "mend the ones listed and run again; so many often means the path is not the zone's master file",
    },
  ];
}

/** A zone's inline records, each with the config key (and line) it came from. */
function parseInline(
  zone: string,
  node: string,
  input: InlineRecords,
): { records: ZoneRecord[]; where: string[]; problems: ConfigProblem[] } {
  const entries = typeof input === "string" ? [input] : input;
  const records: ZoneRecord[] = [];
  const origins: { index: number; line: number }[] = [];
  const problems: ConfigProblem[] = [];
  const where = (index: number, line: number) =>
    typeof input === "string" ? `${recordsKey(zone)} line ${line}` : `${recordsKey(zone, index)}${line > 1 ? ` line ${line}` : ""}`;
  // Parsed entry by entry (an error stays in its entry), checked as one zone (a CNAME beside
  // another entry's record is found).
  entries.forEach((text, index) => {
    const parsed = parseZoneFile(text, { origin: zone });
    for (const p of parsed.problems) problems.push({ source: "stack config", key: where(index, p.line), message: p.message, fix: p.fix });
    if (typeof input !== "string" && parsed.problems.length === 0 && parsed.records.length === 0) {
      problems.push({
        source: "stack config",
        key: where(index, 1),
        message: "holds no record",
        fix: 'write one record, e.g. "www 3600 A 203.0.113.80", or remove the entry',
      });
    }
    for (const r of parsed.records) {
      origins.push({ index, line: r.line });
      records.push(r);
    }
  });
  // Numbered through the whole input so the check's references to another record are unique.
  const numbered = records.map((r, i) => ({ ...r, line: i + 1 }));
  const other = (n: number) => {
    const at = origins[n - 1];
    return typeof input === "string" ? `on line ${at.line}` : `in entry [${at.index}]`;
  };
  for (const p of checkMemberRecords(numbered, { zone, node }, other)) {
    const at = origins[p.line - 1];
    problems.push({ source: "stack config", key: where(at.index, at.line), message: p.message, fix: p.fix });
  }
  return { records, where: origins.map((o) => where(o.index, o.line)), problems: listed(problems, "stack config", recordsKey(zone)) };
}

/** A zone's inline records (boreal:records) → records, every problem keyed to its entry and line. */
export function inlineZoneRecords(zone: string, node: string, input: InlineRecords): { records: ZoneRecord[]; problems: ConfigProblem[] } {
  const { records, problems } = parseInline(zone, node, input);
  return { records, problems };
}

/**
 * A zone file (boreal:zoneFiles) → records, every problem keyed by file and line. The file
 * is given as its bytes (which must be UTF-8) or as text already decoded; either way a
 * character that is not what the member wrote (U+FFFD) is refused, never passed on.
 */
export function fileZoneRecords(
  zone: string,
  node: string,
  content: string | Uint8Array,
  path: string,
): { records: ZoneRecord[]; problems: ConfigProblem[] } {
  const source = escapeText(path);
  let text: string;
  if (typeof content === "string") text = content;
  else {
    const decoded = decodeZoneFile(content);
    if ("problem" in decoded)
      return {
        records: [],
        problems: [{ source, key: `line ${decoded.problem.line}`, message: decoded.problem.message, fix: decoded.problem.fix }],
      };
    text = decoded.text;
  }
  const parsed = parseZoneFile(text, { origin: zone });
  const problems = [...parsed.problems, ...checkMemberRecords(parsed.records, { zone, node })].sort((a, b) => a.line - b.line);
  const out = problems.map((p) => ({ source, key: `line ${p.line}`, message: p.message, fix: p.fix }));
  if (parsed.records.length === 0 && parsed.problems.length > 0) {
    // First, so that it is listed however many problems follow.
    out.unshift({
      source,
      key: "the whole file",
      message: "not one of its lines is a record: it does not read as a zone's master file",
      fix: `check that ${zoneFilesKey(zone)} names the zone's master file (RFC 1035 format, as a DNS host exports it)`,
    });
  }
  return { records: parsed.records, problems: listed(out, source, "further lines") };
}

// ---------------------------------------------------------------------------------------
// Where each record line came from. Knot's check of the rendered zone (src/components/
// precheck.ts) names a line of the rendered file, or a name in it: these map the kit's
// record lines back to the member's own file and line (or config key). withZoneFiles
// returns them with the records, as it reads the member's input; the caller hands them to
// precheckFiles.

/** Where one record line the kit writes came from. */
export interface RecordOrigin {
  /** As the member looks for it: `zones/coop-a.example.zone:12`, `boreal:records["coop-a.example."][3]`. */
  where: string;
  /** The record's owner, as the kit writes it. */
  owner: string;
}

/** By the record line as the kit writes it (formatRecord): where the member wrote it. */
export type RecordLineOrigins = ReadonlyMap<string, RecordOrigin>;

/** By config key (zoneFilesKey or recordsKey of a zone): the origins of that input's record lines. */
export type RecordOrigins = ReadonlyMap<string, RecordLineOrigins>;

function originsOf(records: ZoneRecord[], where: (record: ZoneRecord, index: number) => string): RecordLineOrigins {
  const lines = new Map<string, RecordOrigin>();
  records.forEach((r, i) => {
    const line = formatRecord(r);
    // A record written twice is one record to Knot: the first place is named.
    if (!lines.has(line)) lines.set(line, { where: where(r, i), owner: r.owner });
  });
  return lines;
}

/** Where each of a zone's inline records (boreal:records) was written: its config key (and line). */
function inlineOrigins(zone: string, node: string, input: InlineRecords): RecordLineOrigins {
  const inline = parseInline(zone, node, input);
  return originsOf(inline.records, (_, i) => inline.where[i]);
}

/** Cross-field checks and every inline record: what the stack config alone can tell. */
export function recordsConfigProblems(spec: RecordsSpec): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const notServed = (key: string, zone: string) => ({
    source: "stack config",
    key,
    message: `zone ${zone} is not one of this node's zones (boreal:zones: ${spec.zones.join(", ")})`,
    fix: "add the zone to boreal:zones, or correct the zone name (written with its final dot, e.g. coop-a.example.)",
  });
  for (const [zone, input] of Object.entries(spec.records ?? {})) {
    if (!spec.zones.includes(zone)) problems.push(notServed(recordsKey(zone), zone));
    else if (spec.zoneFiles?.[zone] !== undefined) {
      problems.push({
        source: "stack config",
        key: recordsKey(zone),
        message: `zone ${zone} has both inline records and a zone file (${zoneFilesKey(zone)})`,
        fix: "give a zone's records one way: move the inline records into the zone file, or remove the zone file's entry",
      });
    } else problems.push(...inlineZoneRecords(zone, spec.node, input).problems);
  }
  for (const zone of Object.keys(spec.zoneFiles ?? {})) {
    if (!spec.zones.includes(zone)) problems.push(notServed(zoneFilesKey(zone), zone));
  }
  return problems;
}

/** The records of a zone as the kit writes them (one line each), or the problems of its input. */
export function zoneRecordLines(zone: string, spec: Pick<RecordsSpec, "node" | "records">): string[] {
  const input = spec.records?.[zone];
  if (input === undefined) return [];
  const { records, problems } = inlineZoneRecords(zone, spec.node, input);
  if (problems.length > 0) throw new BorealConfigError(problems);
  return records.map(formatRecord);
}

/**
 * Reads each boreal:zoneFiles entry (through `read`, given the path as written), checks it,
 * and returns the spec with those records as boreal:records lines and no zoneFiles left:
 * the form planning and the node's agent take. Throws every problem of every file at once.
 * `read` should give the file's bytes (readFileSync(path)): a file that is not UTF-8 is then
 * refused with the offset of its first bad byte; text decoded leniently ("utf8") is refused
 * where it holds U+FFFD, without the offset.
 *
 * With the spec come the origins of every record line of the member's (zone files' and
 * inline records', by config key): what precheckFiles needs to name the member's file and
 * line when Knot refuses a record. Inline records are not checked here (the stack config's
 * parse did: recordsConfigProblems); those that parse have their origins.
 */
export function withZoneFiles<S extends RecordsSpec>(
  spec: S,
  read: (path: string) => string | Uint8Array,
): { spec: Omit<S, "zoneFiles"> & Pick<RecordsSpec, "records">; origins: RecordOrigins } {
  const { zoneFiles, ...rest } = spec;
  const origins = new Map<string, RecordLineOrigins>();
  for (const [zone, input] of Object.entries(spec.records ?? {})) {
    if (spec.zones.includes(zone) && zoneFiles?.[zone] === undefined) origins.set(recordsKey(zone), inlineOrigins(zone, spec.node, input));
  }
  if (!zoneFiles || Object.keys(zoneFiles).length === 0) return { spec: rest, origins };
  const problems: ConfigProblem[] = [];
  const records: Record<string, InlineRecords> = { ...spec.records };
  for (const [zone, path] of Object.entries(zoneFiles)) {
    let content: string | Uint8Array;
    try {
      content = read(path);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      problems.push({
        source: "stack config",
        key: zoneFilesKey(zone),
        message: `cannot read ${escapeShort(path)} (${escapeShort(reason)})`,
        fix: "write the path of the zone's master file relative to the project directory (where Pulumi.yaml is)",
      });
      continue;
    }
    const file = fileZoneRecords(zone, spec.node, content, path);
    problems.push(...file.problems);
    records[zone] = file.records.map(formatRecord);
    origins.set(
      zoneFilesKey(zone),
      originsOf(file.records, (r) => `${escapeText(path)}:${r.line}`),
    );
  }
  if (problems.length > 0) throw new BorealConfigError(problems);
  return { spec: { ...rest, records }, origins };
}
