// Large signed registries for `npm run bench`, made as members make theirs: each member has
// its own ed25519 signing key, version 1 is signed by every founder, and every node's
// descriptor is signed by its member with the real `ssh-keygen -Y sign` (the kit's own
// writers). Signing a thousand descriptors takes a while, so a registry is made once and
// cached under a directory named by its parameters.
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Federation, NodeDescriptor } from "../core/registry/format";
import { makeWireguardProof, wireguardPublicKey } from "../core/registry/keyproof";
import { createSigningKey, labFederationVersion, labMemberName, labMemberZone } from "../lab/federation";
import { allocateMeshAddresses } from "../core/mesh/allocate";
import { formatIPv4, parseCidr } from "../core/values/ip";
import { formatTrust, sha256 } from "../core/registry/verify";
import { signFederationVersion, writeFederationVersion, writeNodeObject } from "../io/registry/write";
import { EXPORTER_PORT } from "../core/values/ports";

/** A member runs a few nodes; the lab's /28 share per member holds up to 14. */
export const NODES_PER_MEMBER = 4;
/** Bump when the shape of the generated registry changes: cached registries of another shape are not reused. */
const GENERATOR_VERSION = 2;
const UPDATED_AT = "2026-11-28T00:00:00Z";
/** Underlay endpoints from the benchmarking range (RFC 2544), one per node. */
const UNDERLAY = parseCidr("198.18.0.0/15");

export interface BenchRegistry {
  dir: string;
  /** The pin of version 1, as boreal:trust holds it. */
  trust: string;
  nodes: number;
  members: number;
  /** How long making it took (keys, signatures, files), when it was made, not read from the cache. */
  generationSeconds: number;
  cached: boolean;
}

export function benchNodeName(member: string, index: number): string {
  return `${member}-${index + 1}`;
}

/** Each node is primary for one zone of its own, under its member's suffix. */
export function benchNodeZone(node: string, member: string): string {
  return `${node}.${labMemberZone(member)}`;
}

/**
 * Writes a federation of ceil(nodes / NODES_PER_MEMBER) members and `nodes` signed node
 * descriptors into `dir` (which must not exist yet). Returns the trust pin.
 */
export function writeBenchRegistry(dir: string, nodes: number): { trust: string; members: number } {
  const keysDir = join(dir, "keys");
  mkdirSync(keysDir, { recursive: true });
  const members = Array.from({ length: Math.ceil(nodes / NODES_PER_MEMBER) }, (_, i) => {
    const name = labMemberName(i);
    const signingKey = join(keysDir, name);
    return { name, zone: labMemberZone(name), signingKey, publicKey: createSigningKey(signingKey, `${name}@boreal-bench`) };
  });
  const version = labFederationVersion({ members, mirrors: [] });
  const path = writeFederationVersion(dir, version);
  const content = readFileSync(join(dir, path), "utf8");
  for (const m of members) signFederationVersion(dir, 1, m.name, { keyFile: m.signingKey }, content);

  // Addresses from the kit's one allocator, against the nodes written so far, as each `pulumi up` would.
  const federation: Federation = { settings: version, nodes: [] };
  for (let i = 0; i < nodes; i++) {
    const member = members[Math.floor(i / NODES_PER_MEMBER)];
    const node = benchNodeName(member.name, i % NODES_PER_MEMBER);
    const mesh = allocateMeshAddresses(federation, { node, member: member.name });
    const descriptor: NodeDescriptor = {
      member: member.name,
      node,
      serial: Date.parse(UPDATED_AT) / 1000,
      endpoint: `${formatIPv4(UNDERLAY.base + BigInt(i + 1))}:51820`,
      ...provenKey(version.name, node),
      mesh,
      zones: [benchNodeZone(node, member.name)],
      exporter: `${mesh.ipv4}:${EXPORTER_PORT}`,
      updatedAt: UPDATED_AT,
    };
    writeNodeObject(dir, descriptor, { keyFile: member.signingKey });
    federation.nodes.push(descriptor);
  }
  return { trust: formatTrust({ version: 1, sha256: sha256(content) }), members: members.length };
}

/** A real X25519 public key, base64 as `wg pubkey` prints it (the private half is dropped). */
/** A fresh WireGuard key of a bench node: its public key and the proof its private key makes (then dropped). */
function provenKey(federation: string, node: string): { publicKey: string; keyProof: string } {
  const jwk = generateKeyPairSync("x25519").privateKey.export({ format: "jwk" });
  const privateKey = Buffer.from(jwk.d!, "base64url").toString("base64");
  const publicKey = wireguardPublicKey(privateKey);
  return { publicKey, keyProof: makeWireguardProof(privateKey, { federation, node, publicKey }) };
}

const MANIFEST = "bench.json";

/**
 * The registry of `nodes` nodes under `cacheDir`, made if it is not there yet. It is made
 * in a temporary directory and renamed into place with its manifest last, so an interrupted
 * run leaves nothing that looks complete.
 */
export function cachedBenchRegistry(cacheDir: string, nodes: number, log: (line: string) => void = () => {}): BenchRegistry {
  const dir = join(cacheDir, `registry-v${GENERATOR_VERSION}-n${nodes}-m${NODES_PER_MEMBER}`);
  const manifest = join(dir, MANIFEST);
  if (existsSync(manifest)) {
    const saved = JSON.parse(readFileSync(manifest, "utf8")) as Omit<BenchRegistry, "dir" | "cached">;
    return { ...saved, dir, cached: true };
  }
  log(`making a signed registry of ${nodes} nodes (${Math.ceil(nodes / NODES_PER_MEMBER)} members) in ${dir}…`);
  const temp = `${dir}.${process.pid}.tmp`;
  rmSync(temp, { recursive: true, force: true });
  const started = performance.now();
  const { trust, members } = writeBenchRegistry(temp, nodes);
  const saved = { trust, nodes, members, generationSeconds: (performance.now() - started) / 1000 };
  writeFileSync(join(temp, MANIFEST), `${JSON.stringify(saved, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(temp, dir);
  return { ...saved, dir, cached: false };
}
