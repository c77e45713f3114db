// The agent as one file for Debian's nodejs (18 on bookworm): src/agent/main.ts and what it
// imports (the kit's own config, registry, model and render code, zod, yaml, handlebars),
// with the templates built in. esbuild's output is deterministic, so an unchanged kit
// uploads nothing on the next `pulumi up`.
import { buildSync } from "esbuild";
import { join } from "node:path";
import { loadTemplates } from "../components/templates";

export const AGENT_NODE_TARGET = "node18";

export function bundleAgent(): string {
  const result = buildSync({
    entryPoints: [join(__dirname, "main.ts")],
    bundle: true,
    platform: "node",
    target: AGENT_NODE_TARGET,
    format: "cjs",
    write: false,
    minify: true,
    keepNames: true,
    legalComments: "none",
    logLevel: "silent",
    define: { BOREAL_TEMPLATES: JSON.stringify(loadTemplates()) },
  });
  // main.ts's own "#!" line comes first in the output.
  return result.outputFiles[0].text.replace(/\n/, "\n// boreal-kit sync agent, bundled from src/agent/main.ts: do not edit it on the node.\n");
}
