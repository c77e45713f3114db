// Before anything reaches the node: each rendered file that carries a check (a zone file:
// Knot's own `knotc zone-check`) is checked on the member's machine too, when the tool is
// there. The node runs the same check again before it replaces the file (installScript).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { BorealConfigError, ConfigProblem } from "../../core/values/problems";
import { escapeShort, escapeText } from "../../core/values/escape";
import type { RecordLineOrigins, RecordOrigin, RecordOrigins } from "../../core/dns/records";
import { RENDERED_LINE_MARK } from "../../core/node/scripts";
import type { RenderedFile } from "../../core/node/layout";

/** The checks need knotc (Debian's knot package); without it the node's check alone runs. */
export function localCheckAvailable(): boolean {
  return spawnSync("sh", ["-c", "command -v knotc"], { stdio: "ignore" }).status === 0;
}

/**
 * Runs every file's check on a local copy; throws one error naming each refused file.
 * `recordsKeyOf` gives the config key of a file's records; `origins` (from withZoneFiles, by
 * that key) where the member wrote each record line, so a refusal names the member's file
 * and line. Without them, Knot's words are reported by config key.
 */
export function precheckFiles(files: RenderedFile[], recordsKeyOf: (file: RenderedFile) => string, origins?: RecordOrigins): void {
  const checked = files.filter((f) => f.check);
  if (checked.length === 0 || !localCheckAvailable()) return;
  const scratch = mkdtempSync(join(tmpdir(), "boreal-precheck-"));
  try {
    const problems: ConfigProblem[] = [];
    for (const file of checked) {
      const staged = join(scratch, basename(file.path));
      writeFileSync(staged, file.content);
      const result = spawnSync("sh", ["-c", `set -eu\nstaged='${staged}'\n${file.check}`], { encoding: "utf8" });
      if (result.status !== 0) {
        const key = recordsKeyOf(file);
        const output = `${result.stdout}${result.stderr}`.split(staged).join(file.path);
        problems.push(...knotRefusalProblems(file, output, key, origins?.get(key)));
      }
    }
    if (problems.length > 0) throw new BorealConfigError(problems);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const FIX = "mend that record in your file (or config entry), then run pulumi up again";

/**
 * Knot's refusal of a rendered zone file → problems, each naming where the member wrote the
 * record Knot refused: Knot names a line of the rendered file (`line 8 (reason)`), or a
 * name (`node www.coop-a.example., reason`); `origins` (the rendered record line → the
 * member's file and line, or config key) turns either into `zones/coop-a.example.zone:12`.
 * What cannot be mapped (the kit's own lines, no origins) is reported as before, by config
 * key with Knot's words. Everything quoted is escaped: Knot's words, and the records.
 */
export function knotRefusalProblems(
  file: Pick<RenderedFile, "path" | "content">,
  output: string,
  key: string,
  origins: RecordLineOrigins | undefined,
): ConfigProblem[] {
  const rendered = file.content.split("\n");
  const byOwner = new Map<string, RecordOrigin[]>();
  for (const origin of origins?.values() ?? []) {
    const at = byOwner.get(origin.owner);
    if (at) at.push(origin);
    else byOwner.set(origin.owner, [origin]);
  }
  const problems: ConfigProblem[] = [];
  const unmapped: string[] = [];
  const NOISE = /failed to (load|check) zone/;
  for (const said of output.split("\n").map((l) => l.trim())) {
    if (said === "" || said.startsWith(RENDERED_LINE_MARK) || NOISE.test(said)) continue;
    const atLine = /, line (\d+) \((.*)\)$/.exec(said);
    const atName = atLine ? null : /\bnode (\S+), (.*)$/.exec(said);
    const origin = atLine ? origins?.get(rendered[Number(atLine[1]) - 1] ?? "") : undefined;
    const atOwner = atName ? byOwner.get(atName[1].toLowerCase()) : undefined;
    if (atLine && origin) {
      const record = rendered[Number(atLine[1]) - 1].replace(/\t/g, " ");
      problems.push({
        source: "knotc zone-check",
        key: origin.where,
        message: `Knot refuses the record ${escapeShort(record, 200)}: ${escapeShort(atLine[2])}`,
        fix: FIX,
      });
    } else if (atName && atOwner) {
      const others = atOwner.slice(1, 6).map((o) => o.where);
      const more = atOwner.length > 6 ? `, and ${atOwner.length - 6} more` : "";
      problems.push({
        source: "knotc zone-check",
        key: atOwner[0].where,
        message: `Knot refuses ${escapeShort(atName[1])}: ${escapeShort(atName[2])}${others.length > 0 ? ` (records at that name also at ${others.join(", ")}${more})` : ""}`,
        fix: FIX,
      });
    } else unmapped.push(said);
  }
  if (problems.length === 0 || unmapped.length > 0) {
    // Knot's words, line by line, escaped (the line breaks are ours).
    const words = (problems.length === 0 ? output.trim().split("\n") : unmapped).slice(0, 40).map((l) => escapeShort(l, 400));
    problems.push({
      source: "knotc zone-check",
      key,
      message: `${escapeText(file.path)} as rendered is refused by Knot: ${words.join("\n      ")}`,
      fix: "mend the record Knot names (the line is the rendered file's: your records follow the kit's SOA, NS and glue), then run pulumi up again",
    });
  }
  return problems;
}
