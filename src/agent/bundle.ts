// The agent as one file for Debian's nodejs (18 on bookworm): src/agent/main.ts and what it
// imports (the kit's own config, registry, model and render code, zod, yaml, handlebars),
// with the templates built in. Built once per version of the sources and cached by their
// hash, so a `pulumi up` of an unchanged kit neither rebuilds nor uploads it.
import { BuildOptions, buildSync } from "esbuild";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { loadTemplates, TEMPLATES_DIR } from "../io/templates";
import { formatsRead } from "../core/registry/formats";
import { PACKAGE_DIR } from "../io/package-dir";

export const AGENT_NODE_TARGET = "node18";
// The agent is built from the TypeScript sources, which the package carries beside dist/.
const PROJECT_DIR = PACKAGE_DIR;
const SRC_DIR = join(PROJECT_DIR, "src");

export interface AgentProgram {
  /** The bundled file on this machine (uploaded as a file asset: state keeps its hash, not its text). */
  path: string;
  /** Hash of everything it is built from. */
  hash: string;
}

/**
 * The parts of src/ the agent is built from: the agent imports only these folders (the
 * layout check in CI refuses anything else), so a change to, say, the lab or the CLI does
 * not look like a new agent to every stack.
 */
export const AGENT_SOURCES = ["agent", "core", "io"];

/** Every input of the bundle: those sources, the templates, the locked dependencies. */
function inputsHash(): string {
  const hash = createHash("sha256").update(AGENT_NODE_TARGET);
  const files = (dir: string, suffix: string): string[] =>
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(suffix))
      .map((e) => join(e.parentPath, e.name))
      .sort();
  const sources = AGENT_SOURCES.flatMap((part) => (part.endsWith(".ts") ? [join(SRC_DIR, part)] : files(join(SRC_DIR, part), ".ts")));
  for (const file of [...sources, ...files(TEMPLATES_DIR, ".hbs"), join(PROJECT_DIR, "package-lock.json")]) {
    if (!existsSync(file)) continue;
    hash.update(relative(PROJECT_DIR, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * The agent's own format and the formats of what it reads (src/core/registry/formats.ts), as
 * its file says them: `head -3 /usr/local/lib/boreal-agent.js` on a node tells which
 * registry objects it can read. `boreal-agent status` says the same (formats).
 */
export function formatsLine(): string {
  const { agent, ...reads } = formatsRead();
  return `format ${agent}; reads ${Object.entries(reads)
    .map(([kind, format]) => `${kind} ${format}`)
    .join(", ")}`;
}

/** `cacheDir`: outside src/ and templates/, whose files the hash covers. */
export function bundleAgent(cacheDir: string = join(PROJECT_DIR, ".boreal")): AgentProgram {
  const hash = inputsHash();
  const path = join(cacheDir, `agent-${hash}.js`);
  if (existsSync(path)) return { path, hash };
  const result = buildSync(buildOptions());
  // main.ts's own "#!" line comes first in the output.
  const text = result.outputFiles![0].text.replace(
    /\n/,
    `\n// boreal-kit sync agent, bundled from src/agent/main.ts: do not edit it on the node.\n// ${formatsLine()}\n`,
  );
  mkdirSync(cacheDir, { recursive: true });
  // A temp file of this process's own: several stacks of one project may run `pulumi up` at
  // once, and a shared name would be renamed away under the others.
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o755 });
  renameSync(temp, path);
  return { path, hash };
}

export function buildOptions(): BuildOptions {
  return {
    entryPoints: [join(SRC_DIR, "agent", "main.ts")],
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
  };
}
