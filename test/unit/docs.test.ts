// The docs cannot drift from the repository or the CLI: every relative link of README.md and
// docs/**/*.md resolves (the file, and the heading or id an #anchor names), no link leaves the
// repository, every `boreal` command shown names a verb and command the CLI's own usage
// lists, every option it shows is one that command's --help lists, the commands of code
// blocks that can run offline run against the fixture registry, and the README stays a
// front door.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { inPool } from "../../src/agent/observe";
import { FIXTURE_REGISTRY, fixtureTrust } from "../helpers/fixtures";
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

/** Where a `boreal` command starts, in every form a doc writes; `npm run lab --` and `npm run demo` name their verb. */
const COMMAND_START =
  /(?:(?:^|[\s;&|(])(?:npx\s+boreal|npm\s+run\s+(?:-s\s+)?boreal\s+--|npm\s+run\s+(?:-s\s+)?(lab|demo)(?:\s+--)?)|(?:^\s*(?:\$\s+)?(?:sudo\s+)?|[;&|(]\s*)boreal)(?=\s|$)/g;

const SHELL_WORD = /"[^"]*"|'[^']*'|\S+/g;

/**
 * The words of each `boreal` command of a line (what follows `boreal`, or the npm script's
 * verb), up to the shell's next command, a redirection or a comment. A `|` inside brackets
 * is the usage's "or" (`[--print-allowed-signers | --json]`), not a pipe.
 */
export function shownCommands(line: string): string[][] {
  const commands: string[][] = [];
  for (const m of line.matchAll(COMMAND_START)) {
    const words = m[1] === undefined ? [] : [m[1]];
    let depth = 0;
    // A run of three spaces ends the command: an aligned comment, or a usage line's description.
    const rest = line
      .slice(m.index + m[0].length)
      .trimStart()
      .split(/\s{3,}/)[0];
    for (const [word] of rest.matchAll(SHELL_WORD)) {
      if (/^(?:&&|\|\||;|<|\d?>>?.*|#.*)$/.test(word) || (word === "|" && depth <= 0)) break;
      depth += (word.match(/\[/g) ?? []).length - (word.match(/\]/g) ?? []).length;
      words.push(word.replace(/;$/, ""));
      if (word.endsWith(";")) break;
    }
    commands.push(words);
  }
  return commands;
}

/** Joins a code block's lines that end in a backslash with the next. */
export function joinContinued(lines: string[]): string[] {
  const joined: string[] = [];
  let pending = "";
  for (const line of lines) {
    const part = pending === "" ? line : line.trimStart();
    if (/\\\s*$/.test(part)) pending += `${part.replace(/\s*\\\s*$/, "")} `;
    else {
      joined.push(pending + part);
      pending = "";
    }
  }
  if (pending !== "") joined.push(pending);
  return joined;
}

interface ShownCommand {
  /** The verb and command (none for `boreal --version`), as `--help` takes them. */
  path: string[];
  /** Every `--option` the doc shows, before a `--` that ends boreal's own options. */
  options: string[];
}

/** What a shown command uses of the CLI, or undefined for a placeholder (`boreal VERB ...`). */
export function shownCommand(verbs: Map<string, Set<string>>, words: string[]): ShownCommand | undefined {
  const [verb, next] = words;
  if (verb === undefined || /^[A-Z_]+$/.test(verb)) return undefined;
  // `boreal --version` and `boreal --help` are the CLI's own; `boreal help` is asked `help --help`, as a verb.
  const path = verb.startsWith("-") ? [] : next !== undefined && verbs.get(verb)?.has(next) ? [verb, next] : [verb];
  const options: string[] = [];
  for (const word of words.slice(path.length)) {
    const bare = word.replace(/^[[(|]+|[\])|]+$/g, "");
    if (bare === "--") break;
    const option = /^--[A-Za-z][\w-]*/.exec(bare)?.[0];
    if (option !== undefined && !options.includes(option)) options.push(option);
  }
  return { path, options };
}

/** The options a command's usage lists: the usage lines' own words, not their descriptions; --help and --version everywhere. */
export function optionsOfUsage(help: string): Set<string> {
  const options = new Set(["--help", "--version"]);
  for (const m of help.matchAll(/^\s+boreal\s.*$/gm)) {
    const synopsis = m[0].trim().split(/\s{3,}/)[0];
    for (const option of synopsis.matchAll(/--[A-Za-z][\w-]*/g)) options.add(option[0]);
  }
  return options;
}

/** Why a shown command's options are not all the CLI's, or undefined. */
export function optionProblem(command: ShownCommand, help: string): string | undefined {
  const known = optionsOfUsage(help);
  const unknown = command.options.filter((option) => !known.has(option));
  if (unknown.length === 0) return undefined;
  return `boreal ${command.path.join(" ")}: ${unknown.join(", ")} is no option of it (its --help lists ${[...known].join(", ")})`;
}

/**
 * The commands a code block shows that run offline, without root, servers or keys: checks
 * of a registry and of the label, and the version. They run against the fixture registry.
 */
const OFFLINE = new Set(["", "registry check", "registry allowed-signers", "label verify", "label show"]);

/** A code line's command with the docs' pin placeholders (`1:<sha256>`, `N:<sha256 of ...>`) set to `trust`. */
export function withPin(line: string, trust: string): string {
  return line.replace(/\b[0-9N]+:<sha256[^>]*>/g, trust);
}

/** Whether a shown command's words are all real (no `<placeholder>`, `[optional]` or `NAME` left). */
export function concrete(words: string[]): boolean {
  return words.every((word) => !/[<>[\]…]/.test(word) && !/^[A-Z][A-Z_]*$/.test(word) && !/^[0-9N]+:(?:SHA256|<)/.test(word));
}

interface Ran {
  status: number | null;
  output: string;
}

/** Runs `node script ...args` without blocking: the commands of the docs run side by side. */
function runCli(script: string, args: string[], cwd: string): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd,
      env: { ...plainEnv, NODE_PATH: join(PROJECT_ROOT, "node_modules") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      done({ status, output });
    });
  });
}

// Without npm's variables: the hints name plain `boreal` whether vitest runs under npm test or npx.
const plainEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("npm_")));

let work: string;
let usage: string;
/** The CLI as the source is now, bundled by esbuild (never a stale build); see beforeAll. */
const bundle = () => join(work, "boreal.js");
beforeAll(() => {
  // The CLI as it is now, bundled (the packages stay in node_modules) and asked for its usage.
  work = mkdtempSync(join(tmpdir(), "boreal-docs-"));
  buildSync({
    entryPoints: [join(PROJECT_ROOT, "src/cli/boreal.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    packages: "external",
    outfile: bundle(),
    logLevel: "silent",
  });
  const run = spawnSync(process.execPath, [bundle(), "--help"], {
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

/** Every `boreal` command the docs show: each page's code lines (continued lines joined), then its inline code. */
function commandsOfDocs(): { page: string; line: string; words: string[]; inCode: boolean }[] {
  return pages.flatMap((page) => {
    const { prose, code } = splitPage(readFileSync(join(PROJECT_ROOT, page), "utf8"));
    const lines = [
      ...joinContinued(code).map((line) => ({ line, inCode: true })),
      ...[...prose.matchAll(INLINE_CODE)].map((m) => ({ line: m[2], inCode: false })),
    ];
    return lines.flatMap(({ line, inCode }) => shownCommands(line).map((words) => ({ page, line: line.trim(), words, inCode })));
  });
}

describe("the commands the docs show", () => {
  test("every option shown is one its command's --help lists (each --help exits 0)", async () => {
    const verbs = verbsOfUsage(usage);
    const shown = commandsOfDocs().flatMap((c) => {
      const command = shownCommand(verbs, c.words);
      return command ? [{ ...c, command }] : [];
    });
    const paths = [...new Set(shown.map((c) => c.command.path.join(" ")))];
    expect(paths).toEqual(expect.arrayContaining(["registry check", "status", "dns check", "label verify", "lab up"]));
    const helps = new Map(
      await inPool(paths, 4, async (path) => {
        const ran = await runCli(bundle(), [...(path === "" ? [] : path.split(" ")), "--help"], work);
        return [path, ran] as const;
      }),
    );
    const problems: string[] = [];
    for (const [path, ran] of helps)
      if (ran.status !== 0) problems.push(`boreal ${path} --help exited ${ran.status}: ${ran.output.trim()}`);
    for (const { page, line, command } of shown) {
      const help = helps.get(command.path.join(" "));
      const problem = help?.status === 0 ? optionProblem(command, help.output) : undefined;
      if (problem !== undefined) problems.push(`${page}: ${line}\n  ${problem}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  test("the code blocks' commands that run offline run against the fixture registry, and answer (exit 0, 1 or 4)", async () => {
    const verbs = verbsOfUsage(usage);
    // The registry as a member's checkout holds it: a git repository (for --since origin/main and
    // HEAD~1) whose last commit published the nodes. Commands run in it, so `.` and ../registry are it.
    const registry = join(work, "registry");
    cpSync(FIXTURE_REGISTRY, registry, { recursive: true });
    const git = (...args: string[]) =>
      execFileSync("git", [
        "-C",
        registry,
        "-c",
        "user.name=boreal-test",
        "-c",
        "user.email=test@boreal.example",
        "-c",
        "commit.gpgsign=false",
        ...args,
      ]);
    git("init", "-q", "-b", "main");
    git("add", "federation");
    git("commit", "-q", "-m", "version 1");
    git("update-ref", "refs/remotes/origin/main", "HEAD");
    git("add", "nodes");
    git("commit", "-q", "-m", "the nodes");
    const runs = new Map<string, { key: string; shownAt: string; args: string[] }>();
    for (const { page, line } of commandsOfDocs().filter((c) => c.inCode)) {
      for (const words of shownCommands(withPin(line, fixtureTrust()))) {
        const command = shownCommand(verbs, words);
        if (command === undefined || !OFFLINE.has(command.path.join(" ")) || !concrete(words)) continue;
        runs.set(words.join(" "), { key: command.path.join(" "), shownAt: `${page}: ${line}`, args: words });
      }
    }
    // Each kind of offline command is shown somewhere, so each one ran: the extraction did not go blind.
    expect(new Set([...runs.values()].map((r) => r.key))).toEqual(OFFLINE);
    const results = await inPool([...runs.values()], 4, async (r) => ({ ...r, ran: await runCli(bundle(), r.args, registry) }));
    const problems = results
      .filter(({ ran }) => ran.status === null || ![0, 1, 4].includes(ran.status) || ran.output.trim() === "")
      .map(({ shownAt, args, ran }) => `${shownAt}\n  boreal ${args.join(" ")} exited ${ran.status}: ${ran.output.trim()}`);
    expect(problems).toEqual([]);
  }, 60_000);
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

  test("a shown command's words stop at the shell's next command, a redirection or a comment", () => {
    expect(shownCommands("npx boreal registry check . --trust 1:<sha256> || [ $? -eq 4 ]")).toEqual([
      ["registry", "check", ".", "--trust", "1:<sha256>"],
    ]);
    expect(shownCommands("npx boreal label verify a1 --print-allowed-signers > allowed_signers  # then")).toEqual([
      ["label", "verify", "a1", "--print-allowed-signers"],
    ]);
    expect(shownCommands("boreal label verify NODE [--print-allowed-signers | --json]")).toEqual([
      ["label", "verify", "NODE", "[--print-allowed-signers", "|", "--json]"],
    ]);
    expect(shownCommands("sudo npm run demo         # three members")).toEqual([["demo"]]);
    expect(shownCommands("npm run lab -- ssh node1 -- journalctl -b; npm run -s boreal -- status --json | jq .")).toEqual([
      ["lab", "ssh", "node1", "--", "journalctl", "-b"],
      ["status", "--json"],
    ]);
    expect(joinContinued(["npx boreal status --host h \\", "  --json", "next"])).toEqual(["npx boreal status --host h --json", "next"]);
    expect(shownCommands("  boreal lab status [--json]                                 table of the lab's machines")).toEqual([
      ["lab", "status", "[--json]"],
    ]);
  });

  test("an option the CLI does not have is caught, and a doc's own options are found", async () => {
    const verbs = verbsOfUsage(usage);
    const help = await runCli(bundle(), ["registry", "check", "--help"], work);
    expect(help.status).toBe(0);
    const options = (line: string) => shownCommands(line).map((words) => shownCommand(verbs, words));
    const doctored = options("npx boreal registry check ../registry --trusted 1:<sha256> [--json]")[0]!;
    expect(doctored).toEqual({ path: ["registry", "check"], options: ["--trusted", "--json"] });
    expect(optionProblem(doctored, help.output)).toMatch(/^boreal registry check: --trusted is no option of it/);
    expect(optionProblem(options("npx boreal registry check . --since HEAD~1 --trust 1:<sha256>")[0]!, help.output)).toBeUndefined();
    // An option that only the description names (--trust in "its CI: boreal registry check . --trust ...") counts, from the synopsis.
    expect(optionsOfUsage("usage:\n  boreal x y [--a]      see --b\n")).toEqual(new Set(["--help", "--version", "--a"]));
    expect(options("boreal VERB [COMMAND] --help")).toEqual([undefined]);
    expect(options("npx boreal --version")).toEqual([{ path: [], options: ["--version"] }]);
    expect(options("boreal help [VERB [COMMAND]]")).toEqual([{ path: ["help"], options: [] }]);
    expect(options("npm run lab -- ssh node1 -- journalctl --boot")).toEqual([{ path: ["lab", "ssh"], options: [] }]);
  });

  test("a command runs only when every word is real: the pin placeholders are set, the rest stays shown only", () => {
    expect(withPin("check . --trust 1:<sha256 of federation/1.yaml> --since HEAD~1", "1:ab")).toBe("check . --trust 1:ab --since HEAD~1");
    expect(withPin("verify x --trust N:<sha256>", "1:ab")).toBe("verify x --trust 1:ab");
    expect(concrete(["label", "verify", "a1", "--trust", "1:ab"])).toBe(true);
    expect(concrete(["label", "verify", "NODE"])).toBe(false);
    expect(concrete(["dns", "check", "x.", "--parent", "<an", "address>"])).toBe(false);
    expect(concrete(["status", "[--json]"])).toBe(false);
    expect(concrete(["registry", "check", ".", "--trust", "N:SHA256"])).toBe(false);
  });
});
