// Before anything reaches the node: each rendered file that carries a check (a zone file:
// Knot's own `knotc zone-check`) is checked on the member's machine too, when the tool is
// there. The node runs the same check again before it replaces the file (installScript).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { BorealConfigError, ConfigProblem } from "../config/errors";
import type { RenderedFile } from "../render";

/** The checks need knotc (Debian's knot package); without it the node's check alone runs. */
export function localCheckAvailable(): boolean {
  return spawnSync("sh", ["-c", "command -v knotc"], { stdio: "ignore" }).status === 0;
}

/** Runs every file's check on a local copy; throws one error naming each refused file. */
export function precheckFiles(files: RenderedFile[], recordsKeyOf: (file: RenderedFile) => string): void {
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
        problems.push({
          source: "knotc zone-check",
          key: recordsKeyOf(file),
          message: `${file.path} as rendered is refused by Knot: ${`${result.stdout}${result.stderr}`.trim().split(staged).join(file.path)}`,
          fix: "mend the record Knot names (the line is the rendered file's: your records follow the kit's SOA, NS and glue), then run pulumi up again",
        });
      }
    }
    if (problems.length > 0) throw new BorealConfigError(problems);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
