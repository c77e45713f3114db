// What of a registry is trusted: the one verification that `pulumi up`, `boreal registry
// check` and the agent on every node share. Pure: sources are handed in as files.
//
// Federation versions chain from the version a stack pins: version N+1 counts only with
// signatures of at least `threshold` distinct members of version N. Node objects count
// only when signed by a key of their own member, inside that member's zones and mesh
// share, and with a serial above the one already held (no replay). A bad object is
// reported by file and reason and skipped; it never stops the rest.
import { createHash } from "node:crypto";
import type { ConfigProblem } from "../config/errors";
import {
  descriptorPath,
  Federation,
  FEDERATION_DIR,
  federationPath,
  federationSignaturePath,
  FederationVersion,
  isTombstone,
  NodeDescriptor,
  parseFederationVersion,
  parseNodeObject,
  RegistryFile,
  signaturePath,
  Tombstone,
  zoneWithin,
} from "../config/registry";
import { memberShare } from "../model/allocate";
import { contains, parseAddress } from "../model/ip";
import { REGISTRY_NAMESPACE, verifySignature } from "./sshsig";

/** The federation version a stack trusts first: its number and the SHA-256 of its file. */
export interface TrustAnchor {
  version: number;
  sha256: string;
}

export interface RegistrySource {
  /** How reports name it: a mirror URL, a directory. */
  name: string;
  files: RegistryFile[];
}

/** A node object as accepted, kept so it can be re-checked and never replayed. */
export interface HeldNode {
  serial: number;
  left: boolean;
  member: string;
  content: string;
  signature: string;
}

/** The last good state: what the agent keeps on disk between runs. */
export interface HeldState {
  federation?: { version: number; sha256: string; content: string };
  nodes: Record<string, HeldNode>;
}

export interface Rejection {
  /** Where it came from and the object's path, e.g. `git://198.51.100.1/registry.git: nodes/evil.yaml`. */
  source: string;
  path: string;
  reason: string;
}

export interface VerifiedRegistry {
  /** Undefined when no trusted federation version could be found at all. */
  federation?: Federation;
  version?: { version: number; sha256: string };
  held: HeldState;
  rejected: Rejection[];
  /** Nodes whose tombstone is held: they left. */
  departed: string[];
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function formatTrust(anchor: TrustAnchor): string {
  return `${anchor.version}:${anchor.sha256}`;
}

export function parseTrust(text: string): TrustAnchor | undefined {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(text.trim());
  return m ? { version: Number(m[1]), sha256: m[2] } : undefined;
}

export function formatRejection(r: Rejection): string {
  return `${r.source}: ${r.path}: ${r.reason}`;
}

const problemText = (problems: ConfigProblem[]) => problems.map((p) => `${p.key === "(file)" ? "" : `${p.key}: `}${p.message}`).join("; ");

interface Candidate {
  source: string;
  path: string;
  content: string;
  files: Map<string, string>;
}

export function verifyRegistry(input: { sources: RegistrySource[]; trust: TrustAnchor; held?: HeldState }): VerifiedRegistry {
  const rejected: Rejection[] = [];
  const reject = (source: string, path: string, reason: string) => {
    if (!rejected.some((r) => r.path === path && r.reason === reason)) rejected.push({ source, path, reason });
  };
  const held: HeldState = { federation: input.held?.federation, nodes: { ...(input.held?.nodes ?? {}) } };
  const sources = input.sources.map((s) => ({ name: s.name, files: new Map(s.files.map((f) => [f.path, f.content])) }));
  for (const s of sources) {
    for (const path of s.files.keys()) {
      if (!/^(federation\/\d+\.yaml(\.[a-z0-9-]+\.sig)?|nodes\/[^/]+\.yaml(\.sig)?)$/.test(path)) reject(s.name, path, "is not part of a registry (only federation/<N>.yaml, nodes/<node>.yaml and their .sig files are)");
    }
  }

  const current = chainFederation(sources, input.trust, held, reject);
  if (!current) return { held, rejected, departed: [] };
  held.federation = { version: current.value.version, sha256: current.sha256, content: current.content };
  const settings = current.value;

  // Every candidate object per node name: what is held, then what each source offers.
  const names = new Set(Object.keys(held.nodes));
  for (const s of sources) {
    for (const path of s.files.keys()) {
      const m = /^nodes\/([^/]+)\.yaml$/.exec(path);
      if (m) names.add(m[1]);
    }
  }
  const accepted: { node: string; object: NodeDescriptor | Tombstone; heldBefore: boolean }[] = [];
  for (const node of [...names].sort()) {
    const path = descriptorPath(node);
    const before = held.nodes[node];
    let best: { object: NodeDescriptor | Tombstone; content: string; signature: string } | undefined;
    // What was held is re-checked under the current federation (a member may have been removed).
    if (before) {
      const check = checkNodeObject({ path, content: before.content, signature: before.signature }, settings);
      if ("object" in check) best = { object: check.object, content: before.content, signature: before.signature };
      else {
        reject("held state", path, `dropped: ${check.reason}`);
        delete held.nodes[node];
      }
    }
    for (const s of sources) {
      const content = s.files.get(path);
      if (content === undefined) continue;
      const check = checkNodeObject({ path, content, signature: s.files.get(signaturePath(path)) }, settings);
      if ("reason" in check) {
        reject(s.name, path, check.reason);
        continue;
      }
      const object = check.object;
      const floor = best?.object.serial ?? 0;
      if (best && object.member !== best.object.member && !isTombstone(best.object)) {
        reject(s.name, path, `node ${node} belongs to member ${best.object.member}; ${object.member} cannot take it over`);
      } else if (best && object.serial < floor) {
        reject(s.name, path, `replay: serial ${object.serial} is lower than serial ${floor} already held`);
      } else if (best && object.serial === floor && content !== best.content) {
        reject(s.name, path, `serial ${object.serial} is already held with other content: a change needs a higher serial`);
      } else if (!best || object.serial > floor) {
        best = { object, content, signature: s.files.get(signaturePath(path))! };
      }
    }
    if (!best) continue;
    held.nodes[node] = { serial: best.object.serial, left: isTombstone(best.object), member: best.object.member, content: best.content, signature: best.signature };
    accepted.push({ node, object: best.object, heldBefore: before !== undefined && !before.left });
  }

  // Uniqueness across nodes: a node already held keeps what it holds (else anyone could evict
  // a peer by copying its public key into a node of their own); then the lower serial.
  const live: NodeDescriptor[] = [];
  const taken = new Map<string, string>();
  const ordered = accepted.filter((a) => !isTombstone(a.object)).sort((a, b) => Number(b.heldBefore) - Number(a.heldBefore) || a.object.serial - b.object.serial || a.node.localeCompare(b.node));
  for (const { node, object, heldBefore } of ordered) {
    const descriptor = object as NodeDescriptor;
    const claims = [
      [`mesh address ${descriptor.mesh.ipv4}`, `v4 ${parseAddress(descriptor.mesh.ipv4, 4)}`],
      [`mesh address ${descriptor.mesh.ipv6}`, `v6 ${parseAddress(descriptor.mesh.ipv6, 6)}`],
      ["its WireGuard public key", `key ${descriptor.publicKey}`],
      // One attestation key, one node: else a copy could claim another member's attestations.
      ...(descriptor.attestationKey ? [["its attestation key", `attestation ${descriptor.attestationKey}`]] : []),
      ...descriptor.zones.map((zone) => [`zone ${zone}`, `zone ${zone}`]),
    ];
    const clash = claims.find(([, key]) => taken.has(key));
    if (clash) {
      reject("registry", descriptorPath(node), `${clash[0]} is already node ${taken.get(clash[1])}'s`);
      if (!heldBefore) delete held.nodes[node];
      continue;
    }
    for (const [, key] of claims) taken.set(key, node);
    live.push(descriptor);
  }
  live.sort((a, b) => a.node.localeCompare(b.node));
  const departed = accepted.filter((a) => isTombstone(a.object)).map((a) => a.node);
  return { federation: { settings, nodes: live }, version: { version: settings.version, sha256: current.sha256 }, held, rejected, departed };
}

interface TrustedVersion {
  value: FederationVersion;
  content: string;
  sha256: string;
}

function chainFederation(
  sources: { name: string; files: Map<string, string> }[],
  trust: TrustAnchor,
  held: HeldState,
  reject: (source: string, path: string, reason: string) => void,
): TrustedVersion | undefined {
  const candidates = (version: number): Candidate[] =>
    sources.flatMap((s) => {
      const content = s.files.get(federationPath(version));
      return content === undefined ? [] : [{ source: s.name, path: federationPath(version), content, files: s.files }];
    });
  const parse = (c: { source: string; path: string; content: string }, version: number): FederationVersion | undefined => {
    const parsed = parseFederationVersion({ path: c.path, content: c.content });
    if ("problems" in parsed) return void reject(c.source, c.path, problemText(parsed.problems));
    if (parsed.value.version !== version) return void reject(c.source, c.path, `says version ${parsed.value.version} but is named ${c.path}`);
    return parsed.value;
  };

  let current: TrustedVersion | undefined;
  // What the agent held is already trusted, unless the stack now pins a later version.
  const heldTrusted = held.federation && (held.federation.version > trust.version || held.federation.sha256 === trust.sha256);
  if (held.federation && heldTrusted) {
    const value = parse({ source: "held state", path: federationPath(held.federation.version), content: held.federation.content }, held.federation.version);
    if (value) current = { value, content: held.federation.content, sha256: held.federation.sha256 };
  }
  if (!current) {
    for (const c of candidates(trust.version)) {
      if (sha256(c.content) !== trust.sha256) {
        reject(c.source, c.path, `does not match the pinned trust anchor (sha256 ${trust.sha256.slice(0, 12)}…, this file ${sha256(c.content).slice(0, 12)}…)`);
        continue;
      }
      const value = parse(c, trust.version);
      if (value) {
        current = { value, content: c.content, sha256: trust.sha256 };
        break;
      }
    }
  }
  if (!current) {
    if (candidates(trust.version).length === 0) {
      reject(sources.map((s) => s.name).join(", ") || "(no source)", federationPath(trust.version), `the pinned federation version ${trust.version} (sha256 ${trust.sha256.slice(0, 12)}…) is in no source`);
    }
    return undefined;
  }

  const highest = Math.max(0, ...sources.flatMap((s) => [...s.files.keys()].map((p) => Number(new RegExp(`^${FEDERATION_DIR}/(\\d+)\\.yaml$`).exec(p)?.[1] ?? 0))));
  for (let version = current.value.version + 1; version <= highest; version++) {
    const previous: TrustedVersion = current;
    let next: TrustedVersion | undefined;
    for (const c of candidates(version)) {
      const value = parse(c, version);
      if (!value) continue;
      const signers = previous.value.members.filter((member) => {
        const signature = c.files.get(federationSignaturePath(version, member.name));
        if (signature === undefined) return false;
        const check = verifySignature({ message: c.content, signature, namespace: REGISTRY_NAMESPACE });
        return "publicKey" in check && member.keys.includes(check.publicKey);
      });
      if (signers.length >= previous.value.threshold) {
        next = { value, content: c.content, sha256: sha256(c.content) };
        break;
      }
      reject(c.source, c.path, `signed by ${signers.length} member(s) of version ${previous.value.version}${signers.length ? ` (${signers.map((m) => m.name).join(", ")})` : ""}; it needs ${previous.value.threshold}`);
    }
    if (!next) {
      for (let later = version + 1; later <= highest; later++) {
        for (const c of candidates(later)) reject(c.source, c.path, `does not chain: version ${version} is missing or not signed by enough members`);
      }
      break;
    }
    current = next;
  }
  return current;
}

type NodeCheck = { ok: true; object: NodeDescriptor | Tombstone } | { ok: false; reason: string };

/** One node object against the trusted federation version: signature, member, zones, share. */
export function checkNodeObject(file: { path: string; content: string; signature?: string }, federation: FederationVersion): NodeCheck {
  const fail = (reason: string): NodeCheck => ({ ok: false, reason });
  const parsed = parseNodeObject({ path: file.path, content: file.content });
  if ("problems" in parsed) return fail(problemText(parsed.problems));
  const object = parsed.value;
  if (file.path !== descriptorPath(object.node)) return fail(`names node "${object.node}" but the file is ${file.path}`);
  if (file.signature === undefined) return fail(`unsigned: ${signaturePath(file.path)} is missing`);
  const check = verifySignature({ message: file.content, signature: file.signature, namespace: REGISTRY_NAMESPACE });
  if ("reason" in check) return fail(`bad signature: ${check.reason}`);
  const signer = federation.members.find((m) => m.keys.includes(check.publicKey));
  if (!signer) return fail(`signed by a key of no member of federation version ${federation.version}`);
  if (signer.name !== object.member) return fail(`signed by member ${signer.name}, but the node is member ${object.member}'s`);
  if (isTombstone(object)) return { ok: true, object };
  const memberKey = object.attestationKey && federation.members.find((m) => m.keys.includes(object.attestationKey!));
  if (memberKey) return fail(`attestationKey is a signing key of member ${memberKey.name}: a node's attestation key is made on the node, and a member's key never sits on a node`);
  const outside = object.zones.filter((zone) => !signer.zones.some((suffix) => zoneWithin(zone, suffix)));
  if (outside.length > 0) return fail(`zone ${outside.join(", ")} is outside member ${signer.name}'s zones (${signer.zones.join(", ")})`);
  const share = memberShare(federation, signer.name)!;
  if (!contains(share.ipv4, parseAddress(object.mesh.ipv4, 4))) return fail(`mesh address ${object.mesh.ipv4} is outside member ${signer.name}'s share ${signer.mesh}`);
  if (!contains(share.ipv6, parseAddress(object.mesh.ipv6, 6))) return fail(`mesh address ${object.mesh.ipv6} is outside member ${signer.name}'s share ${share.ipv6.text}`);
  return { ok: true, object };
}
