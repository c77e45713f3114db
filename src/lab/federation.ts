// The lab's federation, made the way real members make theirs: each member has its own
// signing key and its own clone of the registry; the founders write version 1, all sign
// it, and it is pushed to the lab's mirror, which the machines pull from.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { FederationVersion } from "../core/registry/format";
import { formatIPv4, parseCidr } from "../core/values/ip";
import { formatTrust, sha256 } from "../core/registry/verify";
import { git as gitIn } from "../io/git";
import { run } from "../io/process";
import { signFederationVersion, writeFederationVersion } from "../io/registry/write";
import { LOCAL_COMMAND_MS } from "./net";

export const LAB_MESH = { ipv4: "100.64.0.0/16", ipv6: "fd42:b0:ea1::/48" };
/** Each lab member's share of the mesh: 16 addresses. */
const SHARE_BITS = 28;

export interface LabMember {
  name: string;
  zone: string;
  /** The member's signing key (private; its .pub beside it). */
  signingKey: string;
  publicKey: string;
  /** The member's own clone of the registry. */
  registry: string;
  /** The node names the federation gives the member (members[].nodes); undefined: "<member>-*". */
  nodes?: string[];
}

/** Makes an ed25519 signing key without passphrase at `file` (its .pub beside it); returns "ssh-ed25519 AAAA…". */
export function createSigningKey(file: string, comment: string): string {
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], {
    timeoutMs: LOCAL_COMMAND_MS,
    purpose: `making the signing key ${file}`,
  });
  return readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
}

export function labMemberZone(member: string): string {
  return `${member}.lab.test.`;
}

/** The lab federation's name: what its nodes' nudges must say. */
export const LAB_FEDERATION = "boreal-lab";

/**
 * Version 1 of a lab-shaped federation: the members in order, each with its one key, its
 * zone and the next /28 of the lab mesh (`npm run bench` makes its large registries the same way).
 */
export function labFederationVersion(args: {
  members: { name: string; zone: string; publicKey: string; nodes?: string[] }[];
  mirrors: string[];
  threshold?: number;
}): FederationVersion {
  const mesh = parseCidr(LAB_MESH.ipv4);
  return {
    version: 1,
    name: LAB_FEDERATION,
    domain: "lab.boreal.test.",
    mesh: LAB_MESH,
    defaults: { listenPort: 51820, mtu: 1420, persistentKeepalive: 25 },
    threshold: args.threshold ?? Math.min(2, args.members.length),
    // The lab's underlay is a documentation or private prefix of the host's (--subnet).
    underlay: { allow: ["documentation", "private"] },
    mirrors: args.mirrors,
    members: args.members.map((m, i) => ({
      name: m.name,
      keys: [m.publicKey],
      zones: [m.zone],
      mesh: `${formatIPv4(mesh.base + BigInt(i) * (1n << BigInt(32 - SHARE_BITS)))}/${SHARE_BITS}`,
      nodes: m.nodes ?? [`${m.name}-*`],
    })),
  };
}

export function labMemberName(index: number): string {
  return `coop-${String.fromCharCode(97 + (index % 26))}${index >= 26 ? Math.floor(index / 26) : ""}`;
}

/** The lab's own identity for the commits it makes (its founders' version 1; the tests' forgeries). */
export const LAB_GIT_AUTHOR = { name: "boreal-lab", email: "lab@boreal.test" };

/** `git args` in `cwd` as the lab (src/io/git.ts: no prompt, a timeout, git's last words in the error); its stdout. */
export function git(cwd: string, ...args: string[]): string {
  return gitIn(cwd, args, { author: LAB_GIT_AUTHOR });
}

/**
 * Writes and signs version 1 for `count` members, pushes it to the mirror repository, and
 * gives each member a clone. Returns the members and the trust pin of version 1.
 */
export function createLabFederation(args: {
  labDir: string;
  count: number;
  mirrorRepo: string;
  mirrorUrls: string[];
  threshold?: number;
  nodeNames?: string[];
}): { members: LabMember[]; trust: string } {
  const root = join(args.labDir, "members");
  rmSync(root, { recursive: true, force: true });
  const members: LabMember[] = Array.from({ length: args.count }, (_, i) => {
    const name = labMemberName(i);
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const signingKey = join(dir, "signing_key");
    // The machine's own name, and the member's prefix for any further node.
    const nodes = args.nodeNames?.[i] === undefined ? undefined : [args.nodeNames[i], `${name}-*`];
    return {
      name,
      zone: labMemberZone(name),
      signingKey,
      publicKey: createSigningKey(signingKey, `${name}@boreal-lab`),
      registry: join(dir, "registry"),
      nodes,
    };
  });
  const version = labFederationVersion({ members, mirrors: args.mirrorUrls, threshold: args.threshold });
  // The founders' work happens in the first member's clone, then goes to the mirror.
  const founder = members[0].registry;
  git(root, "clone", "-q", args.mirrorRepo, founder);
  const path = writeFederationVersion(founder, version);
  const content = readFileSync(join(founder, path), "utf8");
  for (const m of members) signFederationVersion(founder, 1, m.name, { keyFile: m.signingKey }, content);
  git(founder, "add", "-A");
  git(founder, "commit", "-q", "-m", "federation version 1, signed by its founders");
  git(founder, "push", "-q", "origin", "HEAD:main");
  for (const m of members.slice(1)) git(root, "clone", "-q", args.mirrorRepo, m.registry);
  return { members, trust: formatTrust({ version: 1, sha256: sha256(content) }) };
}
