// `boreal label publish`'s writing half: the page script built from the kit's own sources
// (esbuild, for the browser: src/web/buffer.ts and crypto-oracle.ts stand in for Node's
// buffer and crypto), the page, the badge, and the bundle written as one directory.
import { buildSync } from "esbuild";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SEAL_BADGE, SEAL_MANIFEST, SEAL_PAGE, SealFile } from "../core/label/seal";
import { writeDirectory } from "../io/files";

/** Where the browser sources are: src/web beside this file's folder, or, once compiled to dist/src/cli, the project's own src/web. */
const WEB_DIRS = [join(__dirname, "..", "web"), join(__dirname, "..", "..", "..", "src", "web")];

function webSource(name: string): string {
  const found = [".ts", ".js"].flatMap((ext) => WEB_DIRS.map((dir) => join(dir, `${name}${ext}`))).find((path) => existsSync(path));
  if (!found) throw new Error(`the seal's page source src/web/${name}.ts is missing: reinstall the kit`);
  return found;
}

/** Node's buffer and crypto, as the core imports them, replaced by their browser stand-ins. */
function browserNodeModules(): Record<string, string> {
  const crypto = webSource("crypto-oracle");
  const buffer = webSource("buffer");
  return { "node:crypto": crypto, crypto, "node:buffer": buffer, buffer };
}

function bundle(entry: string, globalName?: string, forKit = false): string {
  const result = buildSync({
    entryPoints: [webSource(entry)],
    bundle: true,
    platform: "browser",
    format: "iife",
    ...(globalName ? { globalName } : {}),
    target: "es2022",
    write: false,
    minify: true,
    legalComments: "none",
    logLevel: "silent",
    charset: "utf8",
    ...(forKit ? { alias: browserNodeModules(), inject: [webSource("buffer")] } : {}),
  });
  return result.outputFiles![0].text;
}

/**
 * The page's one inline script: the kit (src/web/seal-kit.ts) wrapped so that each call of
 * makeKit(oracle) is a fresh instance of it bound to that oracle, then the page script.
 */
export function buildSealScript(): string {
  const kit = bundle("seal-kit", "borealKit", true);
  const page = bundle("seal-page");
  // Inside <script>, "</script" would end the element: the same text, escaped.
  return `function makeKit(__borealOracle){${kit}return borealKit}\n${page}`
    .replace(/<\/script/gi, "<\\/script")
    .replace(/<!--/g, "<\\!--");
}

/** The bundle written at `out` as one directory; an earlier seal there is replaced, anything else is refused. */
export function writeSeal(out: string, files: SealFile[], page: string, badge: string): number {
  const all = [...files, { path: SEAL_PAGE, content: page }, { path: SEAL_BADGE, content: badge }];
  for (const f of all)
    if (f.path.startsWith("/") || f.path.split("/").some((part) => part === ".." || part === ""))
      throw new Error(`${f.path} is no path inside the bundle`);
  writeDirectory(out, all, (existing) => existsSync(join(existing, SEAL_MANIFEST)));
  return all.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
}
