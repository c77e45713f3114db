// The generated reference (src/cli/reference.ts): the committed pages are what the schema and
// the CLI's usage make now, and they name every key and every command.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { configReference, cliReference, referencePages } from "../../src/cli/reference";
import { VERBS } from "../../src/cli/verbs";
import { stackConfigSchema } from "../../src/core/spec/stack";
import { PROJECT_ROOT } from "../helpers/workspace";

describe("docs/reference, generated", () => {
  test.each(Object.entries(referencePages()))("%s is current (npm run docs:reference writes it)", (path, made) => {
    const committed = readFileSync(join(PROJECT_ROOT, path), "utf8");
    // One message rather than a page-long diff: what to run.
    if (committed !== made) expect.fail(`${path} is stale: run npm run docs:reference and commit it`);
  });

  test("every boreal: key has its section, with whether it is required and a command that sets it", () => {
    const page = configReference();
    for (const key of Object.keys(stackConfigSchema.shape)) {
      expect(page).toContain(`\n## \`boreal:${key}\`\n`);
      expect(page).toMatch(new RegExp(`\\n\\| \`boreal:${key}\` \\| (yes|no) \\| `));
    }
    expect(page).toMatch(/\n\| `boreal:trust` \| yes \| string matching/);
    expect(page).toMatch(/\n\| `boreal:firewall` \| no \| /);
    expect(page).toMatch(/\n\| `boreal:ssh\.port` \| no \| whole number 1 to 65535 \| `22` \|/);
  });

  test("every verb and command has its section with its usage, and the exit codes are there", () => {
    const page = cliReference();
    for (const [verb, v] of Object.entries(VERBS)) {
      const subs = Object.keys(v.subs ?? {});
      for (const title of subs.length ? subs.map((s) => `boreal ${verb} ${s}`) : [`boreal ${verb}`]) {
        expect(page).toContain(`\n## \`${title}\`\n\n\`\`\`text\n  ${title}`);
      }
    }
    expect(page).toMatch(/\n {2}4 {2}nothing wrong, something waits/);
  });
});
