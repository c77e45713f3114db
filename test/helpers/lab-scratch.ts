// A lab test file's scratch: its temporary directory, and the lab and Pulumi workspace it makes
// there, all removed after the file's tests whatever happened (root only, as the lab is).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { labDown, LabState } from "../../src/lab/lab";
import type { Workspace } from "./workspace";

export const labLog = (line: string) => process.stderr.write(`[lab] ${line}\n`);

export interface LabScratch {
  dir: string;
  /** Set when the test brings the lab up: taken down after the file. */
  state?: LabState;
  /** Set when the test makes a workspace: removed after the file. */
  ws?: Workspace;
}

export function labScratch(name: string): LabScratch {
  const scratch: LabScratch = { dir: mkdtempSync(join(tmpdir(), `boreal-lab-${name}-`)) };
  afterAll(() => {
    if (scratch.state) labDown({ dir: scratch.dir, log: labLog });
    scratch.ws?.remove();
    rmSync(scratch.dir, { recursive: true, force: true });
  });
  return scratch;
}
