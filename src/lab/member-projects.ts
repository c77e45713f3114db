// Members' own projects for the lab, made the documented way (docs/tutorial/join-a-federation.md):
// the kit packed by `npm pack`, then `boreal init --kit file:<tarball>` and `npm install`. A
// project may take the kit under test (this checkout) or a release from the repository's
// history, so that one lab federation can hold two kit versions side by side.
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { git } from "../io/git";
import { run, runAsync } from "../io/process";

/** A kit to install: its version, its tarball, and the `boreal` command of that same version. */
export interface PackedKit {
  version: string;
  /** The commit it was packed from. */
  commit: string;
  tarball: string;
  /** The `boreal` command (dist/src/cli/boreal.js) of the tree the tarball was packed from. */
  cli: string;
}

const NPM_MS = 600_000;

/** The released versions the CHANGELOG lists (`## [X.Y.Z] - date`), newest first. */
export function releasesOf(changelog: string): string[] {
  return [...changelog.matchAll(/^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}/gm)].map((m) => m[1]);
}

/**
 * The commit a release was made from: its tag `vX.Y.Z`, or else (a clone without tags) the
 * oldest commit that set package.json's version to it, the release commit the tag points to.
 */
export function releaseCommit(repo: string, version: string): string {
  const tagged = git(repo, ["rev-parse", "--verify", "-q", `v${version}^{commit}`], { allowFailure: true }).trim();
  if (tagged) return tagged;
  const setting = git(repo, ["log", "--format=%H", "--reverse", "-S", `"version": "${version}"`, "--", "package.json"])
    .trim()
    .split("\n")[0];
  if (!setting) throw new Error(`release ${version}: no tag v${version} and no commit sets package.json's version to it in ${repo}`);
  return setting;
}

/** `npm pack` of a kit's tree (with its node_modules) into `dest`: its prepare script builds dist/ first, unless `build` is false. */
async function pack(tree: string, dest: string, build = true): Promise<string> {
  const args = ["pack", "--pack-destination", dest, "--json", ...(build ? [] : ["--ignore-scripts"])];
  const result = await runAsync("npm", args, { cwd: tree, timeoutMs: NPM_MS });
  return join(dest, (JSON.parse(result.stdout) as { filename: string }[])[0].filename);
}

/**
 * The kit of this checkout, packed as a release is. `build: false` packs dist/ as it is: for a
 * caller that knows it current (the boreal command refuses to run from a stale one) and must
 * not rewrite it (root, in a user's checkout).
 */
export async function packCheckout(checkout: string, dest: string, options: { build?: boolean } = {}): Promise<PackedKit> {
  mkdirSync(dest, { recursive: true });
  const version = (JSON.parse(readFileSync(join(checkout, "package.json"), "utf8")) as { version: string }).version;
  const commit = git(checkout, ["rev-parse", "HEAD"]).trim();
  return {
    version,
    commit,
    tarball: await pack(checkout, dest, options.build ?? true),
    cli: join(checkout, "dist", "src", "cli", "boreal.js"),
  };
}

/**
 * A release of the kit from the checkout's history, packed: its tree as `git archive` gives it
 * (nothing of the checkout's work tree), its dependencies as its own lock file says (linked to
 * the checkout's node_modules when the lock files are the same, else `npm ci` from npm's cache).
 */
export async function packRelease(checkout: string, version: string, dest: string): Promise<PackedKit> {
  const commit = releaseCommit(checkout, version);
  const tree = join(dest, `boreal-kit-${version}`);
  mkdirSync(tree, { recursive: true });
  const archive = join(dest, `boreal-kit-${version}.tar`);
  git(checkout, ["archive", "--format=tar", "-o", archive, commit]);
  run("tar", ["-xf", archive, "-C", tree]);
  const treeVersion = (JSON.parse(readFileSync(join(tree, "package.json"), "utf8")) as { version: string }).version;
  if (treeVersion !== version) throw new Error(`release ${version}: commit ${commit.slice(0, 12)}'s package.json says ${treeVersion}`);
  const sameLock =
    readFileSync(join(tree, "package-lock.json"), "utf8").replace(/"version": "[^"]*"/, "") ===
    readFileSync(join(checkout, "package-lock.json"), "utf8").replace(/"version": "[^"]*"/, "");
  if (sameLock && existsSync(join(checkout, "node_modules"))) symlinkSync(join(checkout, "node_modules"), join(tree, "node_modules"));
  else await runAsync("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: tree, timeoutMs: NPM_MS });
  const packs = join(dest, "packs");
  mkdirSync(packs, { recursive: true });
  return { version, commit, tarball: await pack(tree, packs), cli: join(tree, "dist", "src", "cli", "boreal.js") };
}

/**
 * A member's project in `dir`, as the tutorial makes it: that kit's own `boreal init` with the
 * tarball copied beside it, then `npm install` (from npm's cache, the registry asked only for
 * what it lacks). `backendUrl`, if given, replaces Pulumi.yaml's backend, as a member keeping
 * its state elsewhere edits it. Returns the project's directory.
 */
export async function makeMemberProject(dir: string, kit: PackedKit, backendUrl?: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const tarball = join(dir, `boreal-kit-${kit.version}.tgz`);
  copyFileSync(kit.tarball, tarball);
  run(process.execPath, [kit.cli, "init", ".", "--kit", `file:boreal-kit-${kit.version}.tgz`], { cwd: dir });
  if (backendUrl !== undefined) {
    const project = join(dir, "Pulumi.yaml");
    writeFileSync(project, readFileSync(project, "utf8").replace(/^(\s+url:\s*)\S+$/m, `$1${backendUrl}`));
  }
  await runAsync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, timeoutMs: NPM_MS });
  return dir;
}

/** A member changes the kit its project takes (a new release's tarball) and installs it: the upgrade's first step. */
export async function installKit(dir: string, kit: PackedKit): Promise<void> {
  const name = `boreal-kit-${kit.version}-${kit.commit.slice(0, 12)}.tgz`;
  copyFileSync(kit.tarball, join(dir, name));
  await runAsync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", `boreal-kit@file:${name}`], {
    cwd: dir,
    timeoutMs: NPM_MS,
  });
}
