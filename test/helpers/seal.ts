// Seal bundles for the tests: a registry directory with the label fixture's attestations,
// published with the real `boreal label publish`, and the page's own script and data read
// back out of its index.html.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { runLabel } from "../../src/cli/label";
import type { AttestationFile } from "../../src/core/label/label";
import type { RegistryFile } from "../../src/core/registry/format";

export function writeFiles(dir: string, files: readonly { path: string; content: string }[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.content);
  }
}

/** `boreal label ARGS` in-process: its exit code and what it printed. */
export function label(...args: string[]): { status: number; stdout: string; stderr: string } {
  const out: string[] = [];
  const err: string[] = [];
  const [verb, ...rest] = args;
  const status = runLabel(verb as "verify", rest, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, stdout: out.join("\n"), stderr: err.join("\n") };
}

export interface PublishedSeal {
  registry: string;
  seal: string;
  published: ReturnType<typeof label>;
}

/** A registry at `<dir>/registry` with these attestations, and node a1's seal published from it at `<dir>/seal`. */
export function publishSeal(
  dir: string,
  registryFiles: RegistryFile[],
  attestations: AttestationFile[][],
  pin: string,
  at?: Date,
  node = "a1",
): PublishedSeal {
  const registry = join(dir, "registry");
  const seal = join(dir, "seal");
  writeFiles(registry, [...registryFiles, ...attestations.flat()]);
  const published = label(
    "publish",
    seal,
    "--node",
    node,
    "--registry",
    registry,
    "--trust",
    pin,
    ...(at ? ["--at", at.toISOString()] : []),
  );
  if (published.status !== 0) throw new Error(`boreal label publish exited ${published.status}:\n${published.stdout}\n${published.stderr}`);
  return { registry, seal, published };
}

/** The page's inline script and the bundle copies it embeds, as the browser reads them. */
export function pageParts(seal: string): { script: string; data: { manifest: string; files: Record<string, string> } } {
  const html = readFileSync(join(seal, "index.html"), "utf8");
  const data = /<script type="application\/json" id="seal-data">([\s\S]*?)<\/script>/.exec(html)![1];
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
  if (scripts.length !== 1) throw new Error(`index.html has ${scripts.length} inline scripts, expected 1`);
  return { script: scripts[0][1], data: JSON.parse(data) as { manifest: string; files: Record<string, string> } };
}
