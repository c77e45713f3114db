// The one template loader: every *.hbs under templates/, keyed by its path there.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { PACKAGE_DIR } from "./package-dir";
import { provideTemplates } from "../core/node/render";
import type { TemplateSources } from "../core/node/render";

export const TEMPLATES_DIR = join(PACKAGE_DIR, "templates");

export function loadTemplates(dir: string = TEMPLATES_DIR): TemplateSources {
  const sources: TemplateSources = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".hbs")) continue;
    const full = join(entry.parentPath, entry.name);
    sources[relative(dir, full).split(sep).join("/")] = readFileSync(full, "utf8");
  }
  return sources;
}

let loaded: TemplateSources | undefined;
// The node's scripts rendered without sources in hand (the agent's) take these, read once.
provideTemplates(() => {
  if (!loaded) loaded = loadTemplates();
  return loaded;
});
