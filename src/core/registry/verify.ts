// What of a registry is trusted: the one verification that `pulumi up`, `boreal registry
// check` and the agent on every node share. Pure: sources are handed in as files.
//
// Federation versions chain from the version a stack pins: version N+1 counts only with
// signatures of at least `threshold` distinct members of version N. Node objects count
// only when signed by a key of their own member, inside that member's zones and mesh
// share, and with a serial above the one already held (no replay). A bad object is
// reported by file and reason and skipped; it never stops the rest.
import { createHash } from "node:crypto";
import { withoutKey, type ConfigProblem } from "../values/problems";
import { escapeText } from "../values/escape";
import {
  descriptorPath,
  Federation,
  FederationMember,
  federationPath,
  federationSignaturePath,
  FederationVersion,
  isTombstone,
  MAX_FEDERATION_VERSION,
  MAX_NODE_OBJECT_BYTES,
  NodeDescriptor,
  nodeNameMatches,
  parseFederationVersion,
  parseNodeObject,
  RegistryFile,
  signaturePath,
  Tombstone,
  UnreadableFile,
  zoneWithin,
} from "./format";
import { memberShare } from "../mesh/allocate";
import { contains, parseAddress } from "../values/ip";
import { endpointProblem, exporterProblem, meshHostProblem } from "../values/scope";
import { validNameServer } from "../dns/delegation";
import { checkAttestationKeyProof, checkWireguardProof } from "./keyproof";
import { REGISTRY_NAMESPACE, verifySignature } from "./sshsig";
import { FORMATS, FormatStep, KitFormats } from "./formats";

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
  /** The object's format, when a newer boreal-kit wrote it (src/core/registry/formats.ts): upgrade to read it. */
  newer?: number;
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

/** What is held of a node (own properties only: a node may be named "constructor"). */
export function heldNode(held: HeldState, node: string): HeldNode | undefined {
  return Object.prototype.hasOwnProperty.call(held.nodes, node) ? held.nodes[node] : undefined;
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
  return `${escapeText(r.source)}: ${escapeText(r.path)}: ${escapeText(r.reason)}`;
}

const problemText = (problems: ConfigProblem[]) =>
  problems.map((p) => (p.key === "(file)" ? p.message : `${p.key}: ${withoutKey(p.key, p.message)}`)).join("; ");

/** Individual reports of files that are no registry object, per source; the rest are counted in one line. */
const JUNK_REPORTED = 20;

/** What a path of a registry is, by its name alone (nothing is read to tell). */
type PathKind =
  | { kind: "version"; version: number }
  | { kind: "version-signature"; version: number; member: string }
  | { kind: "node"; node: string }
  | { kind: "node-signature"; node: string }
  | { kind: "junk"; reason: string };

const VERSION_NAME = /^federation\/(\d+)\.yaml(?:\.([a-z0-9-]{1,32})\.sig)?$/;
const NODE_NAME = /^nodes\/([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?)\.yaml(\.sig)?$/;

export function classifyPath(path: string): PathKind {
  const version = VERSION_NAME.exec(path);
  if (version) {
    const n = version[1].length <= 7 ? Number(version[1]) : Infinity;
    if (String(n) !== version[1] || n < 1 || n > MAX_FEDERATION_VERSION) {
      return {
        kind: "junk",
        reason: `is not a federation version's name: versions are federation/1.yaml, federation/2.yaml, ... up to ${MAX_FEDERATION_VERSION}, without leading zeros`,
      };
    }
    return version[2] === undefined ? { kind: "version", version: n } : { kind: "version-signature", version: n, member: version[2] };
  }
  const node = NODE_NAME.exec(path);
  if (node) return node[3] ? { kind: "node-signature", node: node[1] } : { kind: "node", node: node[1] };
  if (/^nodes\/[^/]*\.yaml(\.sig)?$/.test(path))
    return {
      kind: "junk",
      reason: "is not a node object's name: nodes/<node>.yaml, where <node> is 1-32 lowercase letters, digits or inner hyphens",
    };
  return { kind: "junk", reason: "is not part of a registry (only federation/<N>.yaml, nodes/<node>.yaml and their .sig files are)" };
}

/** A source as the verifier reads it: files by path, each read at most once, on demand. */
interface IndexedSource {
  name: string;
  files: Map<string, RegistryFile>;
  versions: Set<number>;
  nodes: Set<string>;
}

/** A file's text, or why it could not be read (too large, not UTF-8: see src/io/registry/read.ts). */
function contentOf(file: RegistryFile | undefined): { content: string } | { reason: string } | undefined {
  if (file === undefined) return undefined;
  try {
    return { content: file.content };
  } catch (error) {
    if (error instanceof UnreadableFile) return { reason: error.reason };
    throw error;
  }
}

function indexSources(sources: RegistrySource[], reject: (source: string, path: string, reason: string) => void): IndexedSource[] {
  return sources.map((s) => {
    const indexed: IndexedSource = { name: s.name, files: new Map(), versions: new Set(), nodes: new Set() };
    let junk = 0;
    for (const file of s.files) {
      const kind = classifyPath(file.path);
      if (kind.kind === "junk") {
        if (++junk <= JUNK_REPORTED) reject(s.name, file.path, kind.reason);
        continue;
      }
      indexed.files.set(file.path, file);
      if (kind.kind === "version") indexed.versions.add(kind.version);
      if (kind.kind === "node") indexed.nodes.add(kind.node);
    }
    if (junk > JUNK_REPORTED)
      reject(
        s.name,
        "(more)",
        `${junk - JUNK_REPORTED} more files are not part of a registry (not read; the first ${JUNK_REPORTED} are named above)`,
      );
    return indexed;
  });
}

/** The member a node name belongs to under a federation version (members' `nodes` never overlap). */
export function ownerOf(federation: FederationVersion, node: string): FederationMember | undefined {
  return federation.members.find((m) => m.nodes.some((pattern) => nodeNameMatches(pattern, node)));
}

/** Whether the stack's node name is one its member may publish, as a config problem for `pulumi up`. */
export function nodeNameProblem(federation: FederationVersion, member: string, node: string): ConfigProblem | undefined {
  const owner = ownerOf(federation, node);
  if (owner?.name === member) return undefined;
  const mine = federation.members.find((m) => m.name === member)?.nodes ?? [];
  return {
    source: "stack config",
    key: "boreal:node",
    message: owner
      ? `node name ${node} is member ${owner.name}'s in federation version ${federation.version}, not ${member}'s`
      : `node name ${node} is no member's in federation version ${federation.version}${mine.length ? ` (${member}'s names: ${mine.join(", ")})` : ""}`,
    fix: mine.length
      ? `pick a name ${member} may publish (${mine.join(", ")}), or have the members sign a version that gives it the name (boreal registry admit DIR --nodes ${member}:${node})`
      : `have the members sign a version that gives ${member} the name (boreal registry admit DIR --nodes ${member}:${node})`,
  };
}

/**
 * `formats`: the formats this reader knows (src/core/registry/formats.ts); formatsOf(release)
 * reads as that release of the kit would.
 */
export function verifyRegistry(input: {
  sources: RegistrySource[];
  trust: TrustAnchor;
  held?: HeldState;
  formats?: KitFormats;
}): VerifiedRegistry {
  const formats = input.formats ?? FORMATS;
  const rejected: Rejection[] = [];
  const seen = new Set<string>();
  const reject = (source: string, path: string, reason: string, newer?: number) => {
    const key = `${source}\0${path}\0${reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    rejected.push({ source, path, reason, ...(newer === undefined ? {} : { newer }) });
  };
  const held: HeldState = { federation: input.held?.federation, nodes: { ...(input.held?.nodes ?? {}) } };
  const sources = indexSources(input.sources, reject);

  const current = chainFederation(sources, input.trust, held, reject, formats.federation);
  if (!current) return { held, rejected, departed: [] };
  held.federation = { version: current.value.version, sha256: current.sha256, content: current.content };
  const settings = current.value;

  // Every candidate per node name: what is held, then what each source offers. Only names
  // the federation gives a member are read at all: anything else is refused by its name.
  const names = new Set(Object.keys(held.nodes));
  for (const s of sources) for (const node of s.nodes) names.add(node);
  const accepted: { node: string; object: NodeDescriptor | Tombstone; heldBefore: boolean }[] = [];
  const unowned = new Map<string, number>();
  for (const node of [...names].sort()) {
    const path = descriptorPath(node);
    const owner = ownerOf(settings, node);
    const before = heldNode(held, node);
    if (!owner) {
      if (before) {
        reject("held state", path, `dropped: node name ${node} is no member's in federation version ${settings.version} (members[].nodes)`);
        delete held.nodes[node];
      }
      for (const s of sources) {
        if (!s.nodes.has(node)) continue;
        const count = (unowned.get(s.name) ?? 0) + 1;
        unowned.set(s.name, count);
        if (count <= JUNK_REPORTED)
          reject(
            s.name,
            path,
            `node name ${node} is no member's in federation version ${settings.version}: only a name in a member's members[].nodes can be published (not read)`,
          );
      }
      continue;
    }
    let best: { object: NodeDescriptor | Tombstone; content: string; signature: string } | undefined;
    // What was held is re-checked under the current federation (a member may have been removed).
    if (before) {
      const check = checkNodeObject({ path, content: before.content, signature: before.signature }, settings, formats.node);
      if ("object" in check) best = { object: check.object, content: before.content, signature: before.signature };
      else {
        reject("held state", path, `dropped: ${check.reason}`, check.newer);
        delete held.nodes[node];
      }
    }
    for (const s of sources) {
      if (!s.files.has(path)) continue;
      // The signature first: an unsigned object, or one whose signature cannot be read, is never read.
      const signatureRead = contentOf(s.files.get(signaturePath(path)));
      if (signatureRead === undefined) {
        reject(s.name, path, `unsigned: ${signaturePath(path)} is missing`);
        continue;
      }
      if ("reason" in signatureRead) {
        reject(s.name, signaturePath(path), signatureRead.reason);
        continue;
      }
      const read = contentOf(s.files.get(path))!;
      if ("reason" in read) {
        reject(s.name, path, read.reason);
        continue;
      }
      const signature = signatureRead.content;
      const check = checkNodeObject({ path, content: read.content, signature }, settings, formats.node);
      if ("reason" in check) {
        reject(s.name, path, check.reason, check.newer);
        continue;
      }
      const object = check.object;
      const floor = best?.object.serial ?? 0;
      if (best && object.serial < floor) {
        reject(s.name, path, `replay: serial ${object.serial} is lower than serial ${floor} already held`);
      } else if (best && object.serial === floor && read.content !== best.content) {
        reject(s.name, path, `serial ${object.serial} is already held with other content: a change needs a higher serial`);
      } else if (!best || object.serial > floor) {
        best = { object, content: read.content, signature };
      }
    }
    if (!best) continue;
    held.nodes[node] = {
      serial: best.object.serial,
      left: isTombstone(best.object),
      member: best.object.member,
      content: best.content,
      signature: best.signature,
    };
    accepted.push({ node, object: best.object, heldBefore: before !== undefined && !before.left });
  }

  for (const [source, count] of unowned) {
    if (count > JUNK_REPORTED)
      reject(
        source,
        "(more)",
        `${count - JUNK_REPORTED} more node names are no member's (not read; the first ${JUNK_REPORTED} are named above)`,
      );
  }

  // Uniqueness across nodes. Names, shares and zone suffixes are each one member's, and keys
  // carry their holder's proof, so a clash is within one member (or between the holders of
  // one private key): the node already held keeps what it holds, then the lower serial.
  const live: NodeDescriptor[] = [];
  const taken = new Map<string, string>();
  const ordered = accepted
    .filter((a) => !isTombstone(a.object))
    .sort((a, b) => Number(b.heldBefore) - Number(a.heldBefore) || a.object.serial - b.object.serial || a.node.localeCompare(b.node));
  for (const { node, object, heldBefore } of ordered) {
    const descriptor = object as NodeDescriptor;
    const claims = [
      [`mesh address ${descriptor.mesh.ipv4}`, `v4 ${parseAddress(descriptor.mesh.ipv4, 4)}`],
      [`mesh address ${descriptor.mesh.ipv6}`, `v6 ${parseAddress(descriptor.mesh.ipv6, 6)}`],
      ["its WireGuard public key", `key ${descriptor.publicKey}`],
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
  return {
    federation: { settings, nodes: live },
    version: { version: settings.version, sha256: current.sha256 },
    held,
    rejected,
    departed,
  };
}

interface TrustedVersion {
  value: FederationVersion;
  content: string;
  sha256: string;
}

function chainFederation(
  sources: IndexedSource[],
  trust: TrustAnchor,
  held: HeldState,
  reject: (source: string, path: string, reason: string, newer?: number) => void,
  formats: readonly FormatStep[],
): TrustedVersion | undefined {
  const candidates = (version: number): { source: string; path: string; content: string; files: Map<string, RegistryFile> }[] =>
    sources.flatMap((s) => {
      const path = federationPath(version);
      const read = contentOf(s.files.get(path));
      if (read === undefined) return [];
      if ("reason" in read) {
        reject(s.name, path, read.reason);
        return [];
      }
      return [{ source: s.name, path, content: read.content, files: s.files }];
    });
  const parse = (c: { source: string; path: string; content: string }, version: number): FederationVersion | undefined => {
    const parsed = parseFederationVersion({ path: c.path, content: c.content }, c.path, formats);
    if ("problems" in parsed) return void reject(c.source, c.path, problemText(parsed.problems), parsed.newer);
    if (parsed.value.version !== version)
      return void reject(c.source, c.path, `says version ${parsed.value.version} but is named ${c.path}`);
    return parsed.value;
  };

  let current: TrustedVersion | undefined;
  // What the agent held is already trusted, unless the stack now pins a later version.
  const heldTrusted =
    held.federation &&
    sha256(held.federation.content) === held.federation.sha256 &&
    (held.federation.version > trust.version || held.federation.sha256 === trust.sha256);
  if (held.federation && heldTrusted) {
    const value = parse(
      { source: "held state", path: federationPath(held.federation.version), content: held.federation.content },
      held.federation.version,
    );
    if (value) current = { value, content: held.federation.content, sha256: held.federation.sha256 };
  }
  if (!current) {
    const pinned = candidates(trust.version);
    for (const c of pinned) {
      if (sha256(c.content) !== trust.sha256) {
        reject(
          c.source,
          c.path,
          `does not match the pinned trust anchor (sha256 ${trust.sha256.slice(0, 12)}…, this file ${sha256(c.content).slice(0, 12)}…)`,
        );
        continue;
      }
      const value = parse(c, trust.version);
      if (value) {
        current = { value, content: c.content, sha256: trust.sha256 };
        break;
      }
    }
    if (!current) {
      if (pinned.length === 0) {
        reject(
          sources.map((s) => s.name).join(", ") || "(no source)",
          federationPath(trust.version),
          `the pinned federation version ${trust.version} (sha256 ${trust.sha256.slice(0, 12)}…) is in no source`,
        );
      }
      return undefined;
    }
  }

  // Only the versions present are visited, in order: the work grows with the files, never
  // with the numbers in their names.
  const present = [...new Set(sources.flatMap((s) => [...s.versions]))].filter((v) => v > current!.value.version).sort((a, b) => a - b);
  for (const [index, version] of present.entries()) {
    const previous: TrustedVersion = current;
    let next: TrustedVersion | undefined;
    if (version === previous.value.version + 1) {
      for (const c of candidates(version)) {
        // The signatures first: a version nobody of the federation signed is never parsed.
        const signatures = new Map<string, string>();
        for (const member of previous.value.members) {
          const signature = contentOf(c.files.get(federationSignaturePath(version, member.name)));
          if (signature === undefined) continue;
          if ("reason" in signature) reject(c.source, federationSignaturePath(version, member.name), signature.reason);
          else signatures.set(member.name, signature.content);
        }
        const { signers, enough } = countVersionSignatures(c.content, signatures, previous.value);
        if (enough) {
          const value = parse(c, version);
          if (!value) continue;
          if (value.name !== previous.value.name) {
            // Every node's key proofs name the federation: a new name would cut every node.
            reject(
              c.source,
              c.path,
              `renames the federation from ${previous.value.name} to ${value.name}: a federation keeps its name (every node's key proofs carry it)`,
            );
            continue;
          }
          next = { value, content: c.content, sha256: sha256(c.content) };
          break;
        }
        reject(
          c.source,
          c.path,
          `signed by ${signers.length} member(s) of version ${previous.value.version}${signers.length ? ` (${signers.map((m) => m.name).join(", ")})` : ""}; it needs ${previous.value.threshold}`,
        );
      }
    }
    if (!next) {
      const missing = version === previous.value.version + 1 ? version : previous.value.version + 1;
      for (const later of present.slice(version === missing ? index + 1 : index)) {
        for (const s of sources)
          if (s.versions.has(later))
            reject(s.name, federationPath(later), `does not chain: version ${missing} is missing or not signed by enough members`);
      }
      break;
    }
    current = next;
  }
  return current;
}

/** Why a signature file of a federation version does not count. */
export type SignatureRefusal =
  | { member: string; problem: "not-a-member" }
  | { member: string; problem: "bad-signature"; reason: string }
  | { member: string; problem: "other-key"; publicKey: string };

export interface VersionSignatures {
  /** The members whose signature counts, in the signing version's member order. */
  signers: FederationMember[];
  /** The signature files that do not count, in the order given. */
  refused: SignatureRefusal[];
  /** The signers reach the signing version's threshold. */
  enough: boolean;
}

/**
 * The federation threshold count, the one the verifier and `boreal registry` share: who of
 * `signing`'s members signed `content` with one of their keys. `signatures` holds each
 * signature file's text by the member name of its path (federation/<N>.yaml.<member>.sig).
 */
export function countVersionSignatures(
  content: string,
  signatures: ReadonlyMap<string, string>,
  signing: FederationVersion,
): VersionSignatures {
  const counted = new Set<string>();
  const refused: SignatureRefusal[] = [];
  for (const [name, signature] of signatures) {
    const member = signing.members.find((m) => m.name === name);
    if (!member) {
      refused.push({ member: name, problem: "not-a-member" });
      continue;
    }
    const check = verifySignature({ message: content, signature, namespace: REGISTRY_NAMESPACE });
    if ("reason" in check) refused.push({ member: name, problem: "bad-signature", reason: check.reason });
    else if (!member.keys.includes(check.publicKey)) refused.push({ member: name, problem: "other-key", publicKey: check.publicKey });
    else counted.add(name);
  }
  const signers = signing.members.filter((m) => counted.has(m.name));
  return { signers, refused, enough: signers.length >= signing.threshold };
}

type NodeCheck = { ok: true; object: NodeDescriptor | Tombstone } | { ok: false; reason: string; newer?: number };

/**
 * One node object against the trusted federation version. The signature is checked first,
 * over the file's exact bytes, so an object nobody of the federation signed costs one
 * signature check and is never parsed; then the node name's owner, the keys' proofs, zones,
 * share and addresses.
 */
export function checkNodeObject(
  file: { path: string; content: string; signature?: string },
  federation: FederationVersion,
  formats: readonly FormatStep[] = FORMATS.node,
): NodeCheck {
  const fail = (reason: string): NodeCheck => ({ ok: false, reason });
  const kind = classifyPath(file.path);
  if (kind.kind !== "node") return fail(kind.kind === "junk" ? kind.reason : "is not a node object");
  const owner = ownerOf(federation, kind.node);
  if (!owner) return fail(`node name ${kind.node} is no member's in federation version ${federation.version} (members[].nodes)`);
  if (file.signature === undefined) return fail(`unsigned: ${signaturePath(file.path)} is missing`);
  // Caps before any work (a reader from disk refuses these unread already).
  const size = Buffer.byteLength(file.content);
  if (size > MAX_NODE_OBJECT_BYTES) return fail(`is ${size} bytes, over the cap of ${MAX_NODE_OBJECT_BYTES} bytes for a node object`);
  const check = verifySignature({ message: file.content, signature: file.signature, namespace: REGISTRY_NAMESPACE });
  if ("reason" in check) return fail(`bad signature: ${check.reason}`);
  if (!owner.keys.includes(check.publicKey)) {
    const signer = federation.members.find((m) => m.keys.includes(check.publicKey));
    return fail(
      signer
        ? `signed by member ${signer.name}, but node name ${kind.node} is member ${owner.name}'s (members[].nodes of federation version ${federation.version}): ${signer.name} cannot publish it`
        : `signed by a key of no member of federation version ${federation.version}`,
    );
  }
  const parsed = parseNodeObject({ path: file.path, content: file.content }, file.path, formats);
  // A newer kit's object (src/core/registry/formats.ts), signed by its owner: refused with the upgrade.
  if ("problems" in parsed)
    return { ok: false, reason: problemText(parsed.problems), ...(parsed.newer === undefined ? {} : { newer: parsed.newer }) };
  const object = parsed.value;
  if (object.node !== kind.node) return fail(`names node "${object.node}" but the file is ${file.path}`);
  if (object.member !== owner.name) return fail(`says member ${object.member}, but node name ${kind.node} is member ${owner.name}'s`);
  if (isTombstone(object)) return { ok: true, object };
  const memberKey = object.attestationKey && federation.members.find((m) => m.keys.includes(object.attestationKey!));
  if (memberKey)
    return fail(
      `attestationKey is a signing key of member ${memberKey.name}: a node's attestation key is made on the node, and a member's key never sits on a node`,
    );
  const unproven =
    checkWireguardProof(object, federation.name) ?? (object.attestationKey ? checkAttestationKeyProof(object, federation.name) : undefined);
  if (unproven) return fail(unproven);
  const outside = object.zones.filter((zone) => !owner.zones.some((suffix) => zoneWithin(zone, suffix)));
  if (outside.length > 0) return fail(`zone ${outside.join(", ")} is outside member ${owner.name}'s zones (${owner.zones.join(", ")})`);
  if (!validNameServer(object))
    return fail(
      `nameServer ${object.nameServer} is not the node's own: ns-${object.node} in one of its zones, or its endpoint's host name`,
    );
  const share = memberShare(federation, owner.name)!;
  if (!contains(share.ipv4, parseAddress(object.mesh.ipv4, 4)))
    return fail(`mesh address ${object.mesh.ipv4} is outside member ${owner.name}'s share ${owner.mesh}`);
  if (!contains(share.ipv6, parseAddress(object.mesh.ipv6, 6)))
    return fail(`mesh address ${object.mesh.ipv6} is outside member ${owner.name}'s share ${share.ipv6.text}`);
  const addressProblem =
    meshHostProblem(object.mesh.ipv4, federation.mesh.ipv4) ??
    meshHostProblem(object.mesh.ipv6, federation.mesh.ipv6) ??
    (object.endpoints !== undefined && object.endpoints[0] !== object.endpoint
      ? `endpoints[0] ${object.endpoints[0]} is not endpoint ${object.endpoint}: a dual-stack node lists its main endpoint first`
      : undefined) ??
    [object.endpoint, ...(object.endpoints ?? [])]
      .map((endpoint) => endpointProblem(endpoint, federation.underlay?.allow ?? [], { mesh: federation.mesh }))
      .find((problem) => problem !== undefined) ??
    exporterProblem(object);
  if (addressProblem) return fail(addressProblem);
  return { ok: true, object };
}
