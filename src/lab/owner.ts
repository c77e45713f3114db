// `sudo npm run demo` and `sudo npm run lab -- ...` run as root in the checkout of the user who
// typed sudo. What they leave there that is the user's to keep goes back to that user when the
// verb ends: the lab's stack files, the agent's bundle cache, and the lab directory but for the
// parts the lab's root processes keep using (machines' file systems, the DNS servers' files, the
// mirrors git daemon serves). Root's git still works in the members' clones handed back, as
// under sudo git trusts the repositories of SUDO_UID.
import { existsSync, lchownSync, lstatSync, readdirSync, statSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Whom the files go back to: the checkout's owner, when root runs through sudo typed by that
 * very user; nobody otherwise (root's own checkout, a user's own run, root that did not come
 * through sudo, sudo typed by someone who does not own the checkout).
 */
export function ownerToRestore(runningUid: number | undefined, sudoUid: string | undefined, checkout: Owner): Owner | undefined {
  if (runningUid !== 0 || checkout.uid === 0 || sudoUid === undefined) return undefined;
  return sudoUid === String(checkout.uid) ? checkout : undefined;
}

/** The lab directory's entries its root processes keep using while the lab is up (and the mirrors after). */
export const ROOT_KEEPS = ["machines", "dns", "mirrors"] as const;

export interface HandBack {
  /** Relative to the checkout. */
  path: string;
  /** Everything below it too. */
  recursive: boolean;
}

/**
 * What goes back, relative to the checkout, from what is there: the stacks' lab files, the
 * agent's bundle cache, and the lab directory (only when it is inside the checkout) with its
 * entries but ROOT_KEEPS.
 */
export function pathsToHandBack(listing: {
  /** The names in <checkout>/stacks. */
  stacks: string[];
  /** Whether <checkout>/.boreal is there. */
  agentCache: boolean;
  /** The lab directory relative to the checkout and the names in it, when it is inside the checkout and there. */
  lab?: { path: string; entries: string[] };
}): HandBack[] {
  const paths: HandBack[] = listing.stacks
    .filter((name) => /^Pulumi\.lab-[\w.-]+\.yaml$/.test(name))
    .sort()
    .map((name) => ({ path: join("stacks", name), recursive: false }));
  if (listing.agentCache) paths.push({ path: ".boreal", recursive: true });
  if (listing.lab) {
    const { path, entries } = listing.lab;
    paths.push({ path, recursive: false });
    for (const name of [...entries].sort())
      if (!(ROOT_KEEPS as readonly string[]).includes(name)) paths.push({ path: join(path, name), recursive: true });
  }
  return paths;
}

/** The lab directory relative to the checkout, or undefined when it lies outside (BOREAL_LAB_DIR elsewhere). */
export function labInside(projectDir: string, labDir: string): string | undefined {
  const path = relative(projectDir, labDir);
  return path === "" || path.startsWith("..") || isAbsolute(path) ? undefined : path;
}

/**
 * Gives what the lab wrote into the checkout back to the user who ran sudo (ownerToRestore);
 * links are changed themselves, never followed. Returns what it handed back (relative paths).
 */
export function handBackToCheckoutOwner(
  projectDir: string,
  labDir: string,
  env: { uid: number | undefined; sudoUid: string | undefined } = { uid: process.getuid?.(), sudoUid: process.env.SUDO_UID },
): { owner?: Owner; paths: string[] } {
  const checkout = statSync(projectDir);
  const owner = ownerToRestore(env.uid, env.sudoUid, { uid: checkout.uid, gid: checkout.gid });
  if (!owner) return { paths: [] };
  const names = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  const lab = labInside(projectDir, labDir);
  const paths = pathsToHandBack({
    stacks: names(join(projectDir, "stacks")),
    agentCache: existsSync(join(projectDir, ".boreal")),
    lab: lab !== undefined && existsSync(labDir) ? { path: lab, entries: names(labDir) } : undefined,
  });
  for (const { path, recursive } of paths) {
    const full = join(projectDir, path);
    lchownSync(full, owner.uid, owner.gid);
    // lstat: a link is changed itself, and a linked directory is not entered (nor is one below: readdir does not follow links).
    if (recursive && lstatSync(full).isDirectory())
      for (const below of readdirSync(full, { recursive: true, encoding: "utf8" })) lchownSync(join(full, below), owner.uid, owner.gid);
  }
  return { owner, paths: paths.map((p) => p.path) };
}
