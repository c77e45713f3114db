// npm run docs:reference: writes docs/reference/config.md and cli.md with the kit just compiled
// (src/cli/reference.ts makes them from the config schema and the CLI's usage).
const { join } = require("node:path");
const { writeReference } = require("../dist/src/cli/reference");

for (const path of writeReference(join(__dirname, ".."))) console.log(`wrote ${path}`);
