// A throwaway Pulumi project dir: the project's files linked in, and a Pulumi.yaml whose
// backend is a file:// directory inside it, so its stacks and state touch nobody else's.
// The bench's lab section and the tests' Workspace (test/helpers/workspace.ts) make theirs so.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** What of the project a workspace links: enough for `pulumi up` of the kit's program. */
export const WORKSPACE_LINKS = ["src", "templates", "node_modules", "package.json", "tsconfig.json"] as const;

/** Makes `dir` (existing, empty) a workspace of `projectRoot`; returns its backend URL. */
export function linkWorkspace(dir: string, projectRoot: string): string {
  mkdirSync(join(dir, "state"), { recursive: true });
  mkdirSync(join(dir, "stacks"), { recursive: true });
  for (const entry of WORKSPACE_LINKS) symlinkSync(join(projectRoot, entry), join(dir, entry));
  const backend = `file://${dir}/state`;
  writeFileSync(
    join(dir, "Pulumi.yaml"),
    readFileSync(join(projectRoot, "Pulumi.yaml"), "utf8").replace(/url: file:\/\/\S+/, `url: ${backend}`),
  );
  return backend;
}
