// The docs cannot drift from the repository or the CLI: every relative link of README.md and
// docs/**/*.md resolves (the file, and the heading or id an #anchor names), no link leaves the
// repository, every `boreal` command shown names a verb and command the CLI's own usage
// lists, and the README stays a front door.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PROJECT_ROOT } from "../helpers/workspace";

const README_MAX_LINES = 200;

/** README.md and every page under docs/, relative to the repository. */
function docFiles(root: string): string[] {
  const pages = readdirSync(join(root, "docs"), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".md"))
    .map((name) => join("docs", name));
  return ["README.md", ...pages.sort()];
}

interface Page {
  /** Text outside fenced code blocks. */
  prose: string;
  /** The lines of fenced code blocks. */
  code: string[];
}

/** Splits a page into its prose and the lines of its fenced code blocks (``` or ~~~). */
export function splitPage(text: string): Page {
  const prose: string[] = [];
  const code: string[] = [];
  let fence: string | undefined;
  for (const line of text.split("\n")) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) fence = marker[0].repeat(marker.length);
    else if (fence !== undefined && marker && marker.startsWith(fence)) fence = undefined;
    else if (fence !== undefined) code.push(line);
    else prose.push(line);
  }
  return { prose: prose.join("\n"), code };
}

const INLINE_CODE = /(`+)([\s\S]*?[^`])\1(?!`)/g;

/** Every link target in prose: markdown links and images, autolinks, HTML href and src. */
export function linkTargets(prose: string): string[] {
  const text = prose.replace(INLINE_CODE, "");
  const targets: string[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]);
  for (const m of text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)) targets.push(m[1]);
  for (const m of text.matchAll(/<((?:https?|ftp|mailto):[^>\s]+)>/gi)) targets.push(m[1]);
  for (const m of text.matchAll(/\b(?:href|src)\s*=\s*"([^"]*)"/gi)) targets.push(m[1]);
  for (const m of text.matchAll(/(?<![(<"\w])(https?:\/\/[^\s)>\]]+)/gi)) targets.push(m[1]);
  return targets;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors a page offers: its headings' slugs (repeats numbered as GitHub does) and HTML ids. */
export function anchorsOf(text: string): Set<string> {
  const { prose } = splitPage(text);
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of prose.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = headingSlug(m[1]);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const m of prose.matchAll(/\b(?:id|name)\s*=\s*"([^"]+)"/g)) anchors.add(m[1]);
  return anchors;
}

/** Why a link of `page` (relative to `root`) does not hold, or undefined. */
export function linkProblem(root: string, page: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//"))
    return `leaves the repository (${target}): docs link only to files of the repository`;
  if (target.includes("../shared")) return `points outside the repository (${target})`;
  const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
  const file = pathPart === "" ? join(root, page) : resolve(root, dirname(page), decodeURIComponent(pathPart));
  const inside = relative(root, file);
  if (inside.startsWith("..") || inside.startsWith(sep)) return `points outside the repository (${target})`;
  if (!existsSync(file)) return `names ${inside}, which does not exist`;
  if (anchor === undefined || anchor === "") return undefined;
  if (!statSync(file).isFile() || !file.endsWith(".md")) return `has an anchor (#${anchor}) on ${inside}, which is not a markdown page`;
  if (!anchorsOf(readFileSync(file, "utf8")).has(anchor)) return `names #${anchor}, which is no heading or id of ${inside}`;
  return undefined;
}

/** The verbs and their commands, read from the usage the CLI itself prints (`boreal --help`). */
export function verbsOfUsage(usage: string): Map<string, Set<string>> {
  const verbs = new Map<string, Set<string>>();
  for (const m of usage.matchAll(/^\s+boreal ([a-z][\w-]*)(?: ([a-z][\w-]*))?/gm)) {
    const commands = verbs.get(m[1]) ?? new Set<string>();
    if (m[2] !== undefined) commands.add(m[2]);
    verbs.set(m[1], commands);
  }
  return verbs;
}

/** `boreal VERB [COMMAND]` as a doc shows it: `npx boreal`, `npm run [-s] boreal --`, `boreal`, `npm run lab --`. */
const COMMAND_FORMS =
  /(?:(?:^|[\s;&|(])(?:npx\s+boreal|npm\s+run\s+(?:-s\s+)?boreal\s+--|npm\s+run\s+(?:-s\s+)?(lab)\s+--)|(?:^\s*(?:\$\s+)?(?:sudo\s+)?|[;&|(]\s*)boreal)\s+([^\s`;&|)]+)(?:\s+([^\s`;&|)]+))?/g;

/** The `boreal` commands of a code line: verb and the word after it. */
export function commandsIn(line: string): { verb: string; next?: string }[] {
  const found: { verb: string; next?: string }[] = [];
  for (const m of line.matchAll(COMMAND_FORMS)) {
    if (m[1] === "lab") found.push({ verb: "lab", next: m[2] });
    else found.push({ verb: m[2], next: m[3] });
  }
  return found;
}

/** Why a shown command is not one the CLI knows, or undefined. */
export function commandProblem(verbs: Map<string, Set<string>>, command: { verb: string; next?: string }): string | undefined {
  const { verb, next } = command;
  // Placeholders in upper case (`boreal VERB --help`) name no verb.
  if (["--help", "-h", "--version", "help"].includes(verb) || /^[A-Z_]+$/.test(verb)) return undefined;
  const commands = verbs.get(verb);
  if (!commands) return `boreal ${verb}: no such verb (the CLI knows ${[...verbs.keys()].join(", ")})`;
  if (commands.size === 0 || next === undefined || next.startsWith("-") || /^[A-Z_]+$/.test(next)) return undefined;
  if (!commands.has(next)) return `boreal ${verb} ${next}: no such command (boreal ${verb} has ${[...commands].join(", ")})`;
  return undefined;
}

let work: string;
let usage: string;
beforeAll(() => {
  // The CLI as it is now, bundled (the packages stay in node_modules) and asked for its usage.
  work = mkdtempSync(join(tmpdir(), "boreal-docs-"));
  const bundle = join(work, "boreal.js");
  buildSync({
    entryPoints: [join(PROJECT_ROOT, "src/cli/boreal.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    packages: "external",
    outfile: bundle,
    logLevel: "silent",
  });
  const run = spawnSync(process.execPath, [bundle, "--help"], {
    encoding: "utf8",
    env: { ...process.env, NODE_PATH: join(PROJECT_ROOT, "node_modules") },
    timeout: 20_000,
  });
  usage = `${run.stdout}${run.stderr}`;
  if (run.status !== 0) throw new Error(`boreal --help exited ${run.status}: ${usage}`);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const pages = docFiles(PROJECT_ROOT);

describe("the docs", () => {
  test("README.md and docs/ are there, and the README stays a front door", () => {
    expect(pages.length).toBeGreaterThan(10);
    const lines = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8").trimEnd().split("\n").length;
    expect(lines, `README.md has ${lines} lines`).toBeLessThan(README_MAX_LINES);
    expect(readFileSync(join(PROJECT_ROOT, "README.md"), "utf8")).toMatch(/npm test/);
  });

  test.each(pages)("%s: every link resolves inside the repository", (page) => {
    const text = readFileSync(join(PROJECT_ROOT, page), "utf8");
    const problems = linkTargets(splitPage(text).prose)
      .map((target) => linkProblem(PROJECT_ROOT, page, target))
      .filter((p): p is string => p !== undefined);
    if (text.includes("../shared")) problems.push("mentions ../shared, which is outside the repository");
    expect(problems).toEqual([]);
  });

  test.each(pages)("%s: every boreal command shown is one the CLI knows", (page) => {
    const verbs = verbsOfUsage(usage);
    const { prose, code } = splitPage(readFileSync(join(PROJECT_ROOT, page), "utf8"));
    const spans = [...prose.matchAll(INLINE_CODE)].map((m) => m[2]);
    const problems = [...code, ...spans]
      .flatMap((line) => commandsIn(line).map((command) => commandProblem(verbs, command)))
      .filter((p): p is string => p !== undefined);
    expect(problems).toEqual([]);
  });
});

describe("the checks themselves", () => {
  const root = PROJECT_ROOT;

  test("a broken file, a broken anchor, an outside link and ../shared are each caught", () => {
    expect(linkProblem(root, "README.md", "docs/no-such-page.md")).toMatch(/does not exist/);
    expect(linkProblem(root, "README.md", "docs/README.md#no-such-heading")).toMatch(/no heading or id/);
    expect(linkProblem(root, "README.md", "https://example.org/")).toMatch(/leaves the repository/);
    expect(linkProblem(root, "docs/README.md", "../../shared/DESIGN.md")).toMatch(/outside the repository/);
    expect(linkProblem(root, "docs/README.md", "../README.md#the-two-commands")).toBeUndefined();
    expect(linkProblem(root, "README.md", "#alert-borealsyncfailing")).toBeUndefined();
  });

  test("links are found in prose, never in code", () => {
    const page = splitPage('see [a](x.md) and `[b](y.md)`\n```\n[c](z.md)\n```\n<a href="w.md">w</a> <https://example.org>');
    expect(linkTargets(page.prose)).toEqual(["x.md", "https://example.org", "w.md"]);
  });

  test("headings become GitHub's anchors", () => {
    expect(headingSlug("Checked at plan time: the policy pack")).toBe("checked-at-plan-time-the-policy-pack");
    expect(headingSlug("Recover an interrupted `pulumi up`")).toBe("recover-an-interrupted-pulumi-up");
    expect([...anchorsOf('# A\n## A\n<a id="x"></a>')]).toEqual(["a", "a-1", "x"]);
  });

  test("an unknown verb or command is caught, in every form a doc writes", () => {
    const verbs = verbsOfUsage(usage);
    expect(verbs.get("registry")).toContain("check");
    const shown = (line: string) => commandsIn(line).map((c) => commandProblem(verbs, c) ?? "ok");
    expect(shown("npx boreal registry chek ../registry")).toEqual([expect.stringMatching(/no such command/)]);
    expect(shown("npm run -s boreal -- sttaus")).toEqual([expect.stringMatching(/no such verb/)]);
    expect(shown("sudo npm run lab -- upp")).toEqual([expect.stringMatching(/no such command/)]);
    expect(shown("boreal dns check coop-a.example. --parent 198.51.100.2")).toEqual(["ok"]);
    expect(shown("printf 'boreal-nudge %s' x; boreal:member")).toEqual([]);
  });
});
