// `boreal init DIR`: a member's own Pulumi project, depending on the kit as a package. The
// member's files (Pulumi.yaml, stack files, zone files) live there, in the member's own git
// repository; the kit is a dependency at a version the member chooses, and upgrading is
// changing that version and running `pulumi up` (docs/how-to/upgrade.md).
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import packageJson from "../../package.json";
import { parseArgs } from "./args";
import { EXIT, inputError, usageError } from "./errors";
import { CliIo } from "./output";

export const INIT_USAGE = `  boreal init DIR [--name NAME] [--kit SPEC]                  a member's own Pulumi project in DIR (new or empty of these files): Pulumi.yaml,
                                                             package.json, tsconfig.json, index.ts, .gitignore, zones/; never overwrites a file
                                                             --name: the Pulumi project's name (default: boreal-kit, the name of the kit's own
                                                             project, so a stack made in the kit's checkout keeps its state and resources)
                                                             --kit: how package.json names the kit, as npm takes it (default: the kit's version,
                                                             ${packageJson.version}; or file:../boreal-kit-${packageJson.version}.tgz, or git+https://…/boreal-kit.git#v${packageJson.version})`;

const OPTIONS = { "--name": "value", "--kit": "value" } as const;

/**
 * The Pulumi project's name by default: the kit's own project's. A file backend keeps stacks
 * by project (.pulumi/stacks/boreal-kit/) and every resource's URN names it, so a stack made
 * in the kit's checkout moves into a member's project as it is.
 */
export const DEFAULT_PROJECT_NAME = "boreal-kit";

/** Pulumi's rule for a project name: letters, digits, '-', '_' and '.'; at most 100. */
const PROJECT_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
/** An npm dependency spec as written in package.json: one word, no quotes or spaces. */
const KIT_SPEC = /^[A-Za-z0-9@^~<>=.:/+#_-][^\s"'\\]{0,299}$/;

/** The kit's own pins a member's project shares, so that npm installs one copy of each. */
function pin(name: "pulumi" | "node" | "typescript"): string {
  const deps: Record<string, string> = { ...packageJson.dependencies, ...packageJson.devDependencies };
  return deps[name];
}

/** The files of a member's project, by path in it. */
export function memberProjectFiles(name: string, kit: string): Record<string, string> {
  return {
    "Pulumi.yaml": `name: ${name}
description: "A node of a boreal-kit federation, as this member runs it."
runtime:
  name: nodejs
  options:
    typescript: true
main: index.ts
# Sovereign by default: state stays on this machine. To keep it in the co-op's
# S3-compatible bucket instead, see boreal-kit's docs/how-to/keep-state.md.
backend:
  url: file://~/.boreal-kit/state
`,
    "package.json": `${JSON.stringify(
      {
        // Not the project's name: npm refuses a dependency named like the package it is in.
        name: "boreal-member",
        private: true,
        description: "A member's boreal-kit project: its stacks, zone files and the kit's version.",
        // The kit brings @pulumi/pulumi and @pulumi/command: not listed here, so npm installs
        // the one copy the kit asks for (a second copy breaks Pulumi's runtime).
        dependencies: { "boreal-kit": kit, node: pin("node") },
        devDependencies: { pulumi: pin("pulumi"), typescript: pin("typescript") },
      },
      null,
      2,
    )}\n`,
    "tsconfig.json": `{
  // noCheck: Pulumi runs index.ts without type-checking it again at every pulumi up
  // (npx tsc -p . --noCheck false checks it).
  "compilerOptions": {
    "target": "ES2023",
    "module": "commonjs",
    "moduleResolution": "node",
    "strict": true,
    "noCheck": true,
    "noEmit": true,
    "esModuleInterop": true,
    "skipLibCheck": true
  },
  "files": ["index.ts"]
}
`,
    "index.ts": `// This member's federation node: the kit's program, with this project's stack config
// (Pulumi.<stack>.yaml) and files. Its outputs (keys, mesh addresses, what to enter at the
// registrar) are the stack's outputs: npx pulumi stack output.
import { federationNode } from "boreal-kit";

export = federationNode();
`,
    ".gitignore": `node_modules/
# The kit's caches (the node agent's bundle, the server check's token): rebuilt as needed.
.boreal/
`,
    "zones/README.md": `Zone files of this member's zones, one per zone, e.g. zones/coop-a.example.zone,
named in the stack config:

    npx pulumi config set --path 'boreal:zoneFiles["coop-a.example."]' zones/coop-a.example.zone
`,
  };
}

export function initCommand(args: readonly string[], io: CliIo, cwd: string = process.cwd()): number {
  const a = parseArgs(args, OPTIONS);
  if (a.positional.length !== 1)
    throw usageError(
      a.positional.length === 0 ? "the project's directory is missing" : `one directory, got ${a.positional.length}`,
      "boreal init my-coop",
    );
  const dir = resolve(cwd, a.positional[0]);
  const name = a.one("--name") ?? DEFAULT_PROJECT_NAME;
  if (!PROJECT_NAME.test(name))
    throw inputError(
      `${JSON.stringify(name)} is not a Pulumi project name (letters, digits, '-', '_', '.'; at most 100)`,
      "e.g. --name coop-d",
      "--name",
    );
  const kit = a.one("--kit") ?? packageJson.version;
  if (!KIT_SPEC.test(kit))
    throw inputError(
      `--kit ${JSON.stringify(kit)} is not a dependency as npm takes it`,
      `e.g. --kit ${packageJson.version}, --kit file:../boreal-kit-${packageJson.version}.tgz or --kit git+https://host/boreal-kit.git#v${packageJson.version}`,
      "--kit",
    );
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw inputError(`${dir} is not a directory`, "give a new or existing directory", "DIR");
  const files = memberProjectFiles(name, kit);
  const there = Object.keys(files).filter((path) => existsSync(join(dir, path)));
  if (there.length > 0)
    throw inputError(
      `${dir} already has ${there.join(", ")}: boreal init overwrites nothing`,
      "move them away, or choose another directory",
      "DIR",
    );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text, { flag: "wx" });
  }
  const shown = relative(cwd, dir) || ".";
  io.out(`boreal init: wrote ${Object.keys(files).join(", ")} in ${dir}
next:
  cd ${shown}
  git init && git add . && git commit -m "Our boreal-kit project"   # the project is yours: keep it in your own repository
  npm install                                                       # the kit at ${kit}, with its Pulumi SDK, the pinned Pulumi CLI and Node.js
  npx pulumi stack init <stack>                                     # then the config of docs/tutorial/join-a-federation.md
  npx pulumi preview && npx pulumi up
(boreal-kit not on your npm registry: boreal init --kit file:PATH/boreal-kit-${packageJson.version}.tgz or --kit git+URL#vX.Y.Z, or edit package.json's "boreal-kit")`);
  return EXIT.ok;
}
