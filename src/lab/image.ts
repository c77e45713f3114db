// The lab's Debian image (12 bookworm or 13 trixie): built once with debootstrap, cached under a
// hash of its recipe. Each suite keeps its newest image, so both can be cached side by side.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ProcessError, runAsync, runShell } from "../io/process";
import { LOCAL_COMMAND_MS } from "./net";

export const IMAGE_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "openssh-server",
  "iproute2",
  "iputils-ping",
  "wireguard-tools",
  "wireguard-go",
  "knot",
  "knot-dnsutils",
  "prometheus-node-exporter",
  "nftables",
  "ca-certificates",
  // Mutual monitoring: every node scrapes and probes every other, and alerts its member.
  "prometheus",
  "prometheus-blackbox-exporter",
  "prometheus-alertmanager",
  // What the on-node sync agent needs: it pulls the registry with git and runs on Debian's nodejs.
  "git",
  "nodejs",
  // Not run on the machines (masked below): the lab's validating resolver runs from the image.
  "unbound",
  // Not used by the kit: Ansible's modules run on Python, and the bench applies the Ansible
  // role it is measured against (githubixx/ansible-role-wireguard) to lab machines.
  "python3",
];

export interface ImageRecipe {
  suite: LabSuite;
  variant: string;
  mirror: string;
  packages: string[];
  /** Bump when the post-processing below changes. */
  postProcess: number;
}

/** The Debian releases the lab can build: 12 (oldstable) and 13 (stable). */
export const LAB_SUITES = ["bookworm", "trixie"] as const;
export type LabSuite = (typeof LAB_SUITES)[number];
export const DEFAULT_SUITE: LabSuite = "bookworm";

export function isLabSuite(value: string): value is LabSuite {
  return (LAB_SUITES as readonly string[]).includes(value);
}

/** What the lab takes: one release for every machine, or "mixed", a federation of both. */
export const LAB_SUITE_CHOICES = [...LAB_SUITES, "mixed"] as const;
export type LabSuiteChoice = (typeof LAB_SUITE_CHOICES)[number];

export function isLabSuiteChoice(value: string): value is LabSuiteChoice {
  return (LAB_SUITE_CHOICES as readonly string[]).includes(value);
}

/**
 * The release of each of `count` machines. Mixed alternates, node1 on 12 and node2 on 13, so
 * any two neighbours (and any federation of two or more) hold both releases.
 */
export function machineSuites(choice: LabSuiteChoice, count: number): LabSuite[] {
  if (!isLabSuiteChoice(choice)) throw new Error(`unknown Debian suite "${choice}": use ${LAB_SUITE_CHOICES.join(", ")}`);
  return Array.from({ length: count }, (_, i) => (choice === "mixed" ? LAB_SUITES[i % LAB_SUITES.length] : choice));
}

/**
 * The image recipe of a suite (the same packages on both releases). `extraPackages`: an image
 * of its own with more (sudo, for a machine as cloud images come); none, the lab's usual image.
 */
export function labRecipe(suite: LabSuite = DEFAULT_SUITE, extraPackages: string[] = []): ImageRecipe {
  if (!isLabSuite(suite)) throw new Error(`unknown Debian suite "${suite}": use ${LAB_SUITES.join(" or ")}`);
  return {
    suite,
    variant: "minbase",
    mirror: process.env.BOREAL_LAB_MIRROR ?? "http://deb.debian.org/debian",
    packages: [...IMAGE_PACKAGES, ...extraPackages],
    postProcess: 2,
  };
}

export const DEFAULT_RECIPE: ImageRecipe = labRecipe(DEFAULT_SUITE);

/** What a machine as cloud images come has beyond the usual image (UpOptions.sudoMachines). */
export const SUDO_IMAGE_PACKAGES = ["sudo"];

export const IMAGE_CACHE = process.env.BOREAL_LAB_CACHE ?? "/var/lib/boreal-lab/images";

export function recipeHash(recipe: ImageRecipe): string {
  return createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 12);
}

/**
 * The name an image's versions share: the suite, and the packages beyond the lab's usual ones
 * (debian-bookworm, debian-bookworm-sudo). A new build replaces only its own kind's versions,
 * so the usual and the sudo image of a suite stay cached side by side.
 */
export function imageStem(recipe: ImageRecipe): string {
  const extra = recipe.packages.filter((p) => !IMAGE_PACKAGES.includes(p)).sort();
  return `debian-${recipe.suite}${extra.length > 0 ? `-${extra.join("+")}` : ""}`;
}

/** Entries of the cache named `prefix` and a 12-digit hash, crashed builds' `.partial` too, `own` excepted. */
export function staleVersions(entries: string[], prefix: string, own: string): string[] {
  const pattern = new RegExp(`^${prefix.replace(/[.+]/g, "\\$&")}-[0-9a-f]{12}(\\.partial)?$`);
  return entries.filter((e) => pattern.test(e) && e !== own);
}

export function imagePath(recipe: ImageRecipe = DEFAULT_RECIPE): string {
  return join(IMAGE_CACHE, `${imageStem(recipe)}-${recipeHash(recipe)}`);
}

const COMPLETE = ".boreal-image-complete";

export function imageReady(recipe: ImageRecipe = DEFAULT_RECIPE): boolean {
  return existsSync(join(imagePath(recipe), COMPLETE));
}

/** Returns the image directory, building it first when the recipe has no cached image. */
export async function ensureImage(
  recipe: ImageRecipe,
  log: (line: string) => void,
): Promise<{ path: string; built: boolean; seconds: number }> {
  const path = imagePath(recipe);
  if (imageReady(recipe)) return { path, built: false, seconds: 0 };
  const started = Date.now();
  const temp = `${path}.partial`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(IMAGE_CACHE, { recursive: true });
  log(`building the lab image ${path} with debootstrap (a few minutes, once)`);
  await debootstrap(recipe, temp, log);
  postProcess(temp);
  writeFileSync(join(temp, COMPLETE), `${JSON.stringify(recipe)}\n`);
  renameSync(temp, path);
  // Older images of the same suite (and what a crashed build of one left) are never used
  // again: reclaim their disk. The other suite's images stay, so both suites stay cached.
  for (const other of staleImages(readdirSync(IMAGE_CACHE), recipe)) rmSync(join(IMAGE_CACHE, other), { recursive: true, force: true });
  return { path, built: true, seconds: Math.round((Date.now() - started) / 1000) };
}

/** Entries of the cache that are older images of the recipe's kind (its own image excepted). */
export function staleImages(entries: string[], recipe: ImageRecipe): string[] {
  return staleVersions(entries, imageStem(recipe), basename(imagePath(recipe)));
}

/** A first build downloads and unpacks a few hundred MB of packages: minutes, tens of them from a slow mirror. */
const DEBOOTSTRAP_TIMEOUT_MS = 3_600_000;

async function debootstrap(recipe: ImageRecipe, target: string, log: (line: string) => void): Promise<void> {
  const args = [`--variant=${recipe.variant}`, `--include=${recipe.packages.join(",")}`, recipe.suite, target, recipe.mirror];
  let tail = "";
  let count = 0;
  const onOutput = (chunk: string) => {
    for (const line of chunk.split("\n").filter(Boolean)) {
      tail = `${tail}\n${line}`.slice(-4000);
      // Progress without flooding: every 25th step of debootstrap's own progress lines.
      if (/^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)/.test(line) && count++ % 25 === 0)
        log(`  debootstrap: ${line.slice(3)}`);
    }
  };
  try {
    await runAsync("debootstrap", args, { timeoutMs: DEBOOTSTRAP_TIMEOUT_MS, onOutput, purpose: `building the lab image in ${target}` });
  } catch (error) {
    // Its last words alone rarely say which package or download failed: the tail of its output does.
    if (error instanceof ProcessError && !error.notInstalled) throw new Error(`${error.message}; debootstrap's output ended:${tail}`);
    throw error;
  }
}

/** Make the image a template: no machine identity, no host keys (each machine gets its own). */
/**
 * A shell line that runs "$0" with the tools of a cached image, dir bound on its /mnt, in a
 * private mount namespace (its /run and /tmp on tmpfs): nothing of the image changes, and it
 * may be the lower layer of running machines. Each step execs the next: a command that
 * starts with `exec` keeps the pid of the `unshare` that runs it, so signals reach it.
 */
export function inImageScript(image: string, dir: string): string {
  return [
    `mount --bind '${dir}' '${image}/mnt'`,
    `mount -t tmpfs tmpfs '${image}/run'`,
    `mount -t tmpfs tmpfs '${image}/tmp'`,
    `exec chroot '${image}' /bin/sh -c "$0"`,
  ].join(" && ");
}

function postProcess(root: string): void {
  writeFileSync(join(root, "etc/machine-id"), "");
  rmSync(join(root, "var/lib/dbus/machine-id"), { force: true });
  const shell = (script: string) => runShell(script, { timeoutMs: LOCAL_COMMAND_MS, purpose: `preparing the lab image ${root}` });
  shell(`rm -f '${root}'/etc/ssh/ssh_host_*`);
  // No console logins are needed; sshd is how everything gets in.
  shell(`rm -f '${root}'/etc/systemd/system/getty.target.wants/* && ln -sf /dev/null '${root}'/etc/systemd/system/console-getty.service`);
  // Unbound would take port 53 from Knot on every machine; the lab starts its own (dns.ts).
  shell(`for unit in unbound unbound-resolvconf; do ln -sf /dev/null '${root}'/etc/systemd/system/$unit.service; done`);
  writeFileSync(
    join(root, "etc/ssh/sshd_config.d/boreal-lab.conf"),
    "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n",
  );
}
