// A member's records per zone, by either route of the stack config, through one validator:
//   boreal:records   { zone: "text" | ["line", …] }   small zones, inline
//   boreal:zoneFiles { zone: "path/to/zone.file" }     a master file in the project
// Both end as boreal:records lines (absolute owners, one record a line): that is what
// planning, rendering and the node's agent (through agent.json) see. Pure: the zone files'
// text is handed in by the caller.
import { BorealConfigError, ConfigProblem } from "../config/errors";
import { checkMemberRecords, formatRecord, parseZoneFile, ZoneProblem, ZoneRecord } from "./zonefile";

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

/** Parses and checks one master-file text of zone; problems as (line, message, fix). */
export function checkZoneText(text: string, zone: string, node: string): { records: ZoneRecord[]; problems: ZoneProblem[] } {
  const parsed = parseZoneFile(text, { origin: zone });
  const problems = [...parsed.problems, ...checkMemberRecords(parsed.records, { zone, node })].sort((a, b) => a.line - b.line);
  return { records: parsed.records, problems };
}

/** A zone's inline records (boreal:records) → records, every problem keyed to its entry and line. */
export function inlineZoneRecords(zone: string, node: string, input: InlineRecords): { records: ZoneRecord[]; problems: ConfigProblem[] } {
  const entries = typeof input === "string" ? [input] : input;
  const records: ZoneRecord[] = [];
  const problems: ConfigProblem[] = [];
  const where = (index: number, line: number) =>
    typeof input === "string" ? `${recordsKey(zone)} line ${line}` : `${recordsKey(zone, index)}${line > 1 ? ` line ${line}` : ""}`;
  // Parsed entry by entry (an error stays in its entry), checked as one zone (a CNAME beside
  // another entry's record is found).
  const lineOf = new Map<ZoneRecord, { index: number; line: number }>();
  entries.forEach((text, index) => {
    const parsed = parseZoneFile(text, { origin: zone });
    for (const p of parsed.problems) problems.push({ source: "stack config", key: where(index, p.line), message: p.message, fix: p.fix });
    if (typeof input !== "string" && parsed.problems.length === 0 && parsed.records.length === 0) {
      problems.push({ source: "stack config", key: where(index, 1), message: "holds no record", fix: 'write one record, e.g. "www 3600 A 203.0.113.80", or remove the entry' });
    }
    for (const r of parsed.records) {
      lineOf.set(r, { index, line: r.line });
      records.push(r);
    }
  });
  // Number records through the whole input so the check's cross-references ("line N") are unique.
  const numbered = records.map((r, i) => ({ ...r, line: i + 1 }));
  for (const p of checkMemberRecords(numbered, { zone, node })) {
    const at = lineOf.get(records[p.line - 1])!;
    const message = p.message.replace(/\b(on )?line (\d+)\b/g, (_, on: string | undefined, n: string) => {
      const other = lineOf.get(records[Number(n) - 1])!;
      return typeof input === "string" ? `${on ?? ""}line ${other.line}` : `${on ? "in " : ""}entry [${other.index}]`;
    });
    problems.push({ source: "stack config", key: where(at.index, at.line), message, fix: p.fix });
  }
  return { records, problems };
}

/** A zone file's text (boreal:zoneFiles) → records, every problem keyed by file and line. */
export function fileZoneRecords(zone: string, node: string, text: string, path: string): { records: ZoneRecord[]; problems: ConfigProblem[] } {
  const { records, problems } = checkZoneText(text, zone, node);
  return { records, problems: problems.map((p) => ({ source: path, key: `line ${p.line}`, message: p.message, fix: p.fix })) };
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
      problems.push({ source: "stack config", key: recordsKey(zone), message: `zone ${zone} has both inline records and a zone file (${zoneFilesKey(zone)})`, fix: "give a zone's records one way: move the inline records into the zone file, or remove the zone file's entry" });
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
 */
export function withZoneFiles<S extends RecordsSpec>(spec: S, read: (path: string) => string): Omit<S, "zoneFiles"> & Pick<RecordsSpec, "records"> {
  const { zoneFiles, ...rest } = spec;
  if (!zoneFiles || Object.keys(zoneFiles).length === 0) return rest;
  const problems: ConfigProblem[] = [];
  const records: Record<string, InlineRecords> = { ...spec.records };
  for (const [zone, path] of Object.entries(zoneFiles)) {
    let text: string;
    try {
      text = read(path);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      problems.push({ source: "stack config", key: zoneFilesKey(zone), message: `cannot read ${path} (${reason})`, fix: "write the path of the zone's master file relative to the project directory (where Pulumi.yaml is)" });
      continue;
    }
    const file = fileZoneRecords(zone, spec.node, text, path);
    problems.push(...file.problems);
    records[zone] = file.records.map(formatRecord);
  }
  if (problems.length > 0) throw new BorealConfigError(problems);
  return { ...rest, records };
}
