// The federation registry, as files: signed federation versions and signed node
// descriptors. This module parses single files (pure: the caller hands in contents);
// src/core/registry/verify.ts decides what of a registry is trusted.
import { isMap, isScalar, isSeq, parseDocument } from "yaml";
import { z } from "zod";
import { alignedPrefix, cidrsOverlap, cidrWithin, parseCidr } from "../values/ip";
import { ConfigProblem, problemsFromZod, withFix } from "../values/problems";
import { escapeShort } from "../values/escape";
import { endpoint, ipv4, ipv6, port, slug, typeError, wireguardKey, zoneName } from "../values/fields";
import { parsePortSpec, portSpecText } from "../values/ports";
import { FORMATS, FormatStep, readFormat } from "./formats";
import { endpointListProblem } from "../mesh/endpoints";

export const FEDERATION_DIR = "federation";
export const NODES_DIR = "nodes";
/** The shared address space every federation's mesh lives in (RFC 6598). */
export const MESH_IPV4_SPACE = "100.64.0.0/10";
/**
 * Caps on what a registry may make a reader do (every mirror is untrusted): each file larger
 * than its cap is refused unread, by its size. A descriptor is about 600 bytes, a federation
 * version about 250 bytes a member, an Ed25519 SSHSIG armor about 300 bytes.
 */
export const MAX_OBJECT_BYTES = 64 * 1024;
export const MAX_NODE_OBJECT_BYTES = 16 * 1024;
export const MAX_FEDERATION_BYTES = 256 * 1024;
export const MAX_SIGNATURE_BYTES = 2 * 1024;
/** Federation versions are numbered 1, 2, 3, ...: a million is decades of weekly changes. */
export const MAX_FEDERATION_VERSION = 1_000_000;
/** Serials are Unix seconds (src/core/node/descriptor.ts); 2^48 leaves millions of years. */
export const MAX_SERIAL = 2 ** 48;
/** Entries of federation/ or nodes/ one source may hold; beyond it the directory is refused. */
export const MAX_DIRECTORY_ENTRIES = 100_000;
/** Zones one node may serve as primary. */
export const MAX_NODE_ZONES = 256;
/** What the underlay of a federation may use beside global unicast addresses (labs, private networks). */
export const UNDERLAY_ALLOWANCES = ["documentation", "private"] as const;

const NODES_FIX = 'list the member\'s node names, e.g. nodes: [ a1 ], or a prefix: nodes: [ "coop-a-*" ]';

const cidrText = (what: string, family: 4 | 6, fix: string) =>
  z.string({ error: withFix(`${what} is missing`, fix) }).refine(
    (text) => {
      try {
        return parseCidr(text).family === family;
      } catch {
        return false;
      }
    },
    {
      error: (issue) => {
        // An address inside the prefix meant (100.64.0.40/28): the prefix holding it is the likely fix.
        const aligned = typeof issue.input === "string" ? alignedPrefix(issue.input) : undefined;
        return aligned !== undefined && aligned !== issue.input && parseCidr(aligned).family === family
          ? withFix(
              `${issue.input} is not an IPv${family} prefix: its host bits are set`,
              `did you mean ${aligned}? (the /${aligned.split("/")[1]} that holds it)`,
            )
          : withFix(
              `${typeof issue.input === "string" ? `${escapeShort(JSON.stringify(issue.input), 60)} ` : ""}is not an IPv${family} prefix`,
              fix,
            );
      },
      abort: true,
    },
  );

/** An ssh-ed25519 public key line, kept canonical ("ssh-ed25519 AAAA…", without its comment). */
const ed25519Key = (messages: { notString: string; notKey: string }, fix: string) =>
  z
    .string({ error: withFix(messages.notString, fix) })
    .refine((text) => /^ssh-ed25519 [A-Za-z0-9+/]{68}( .*)?$/.test(text.trim()), withFix(messages.notKey, fix))
    .transform((text) => text.trim().split(/\s+/).slice(0, 2).join(" "));

const sshEd25519Key = ed25519Key(
  { notString: "a signing key must be a string", notKey: "is not an ssh-ed25519 public key" },
  'paste one line of the member\'s key.pub ("ssh-ed25519 AAAA... name")',
);

const memberSchema = z.strictObject({
  name: slug("members[].name"),
  keys: z.array(sshEd25519Key).min(1, withFix("lists no signing key", "add the member's ssh-ed25519 public key")),
  /** Zone suffixes: the member may claim each of these zones and anything below them. */
  zones: z.array(zoneName).min(1, withFix("lists no zone suffix", 'add the member\'s zone, e.g. "coop-a.example."')),
  /** The member's share of the mesh: an IPv4 prefix; its IPv6 share is the same host indexes. */
  mesh: cidrText("members[].mesh", 4, 'give the member a prefix of the federation\'s mesh.ipv4, e.g. "100.64.0.16/28"'),
  /**
   * The node names only this member may publish: exact names, or a prefix ending in "*"
   * ("coop-a-*"). Only a federation version changes them, so nobody else can take a name,
   * whatever a reader held before.
   */
  nodes: z
    .array(
      z
        .string({ error: typeError("members[].nodes[]", "a string", NODES_FIX) })
        .regex(
          /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$|^[a-z0-9][a-z0-9-]{0,30}\*$/,
          withFix("members[].nodes[] is not a node name or a prefix ending in *", NODES_FIX),
        ),
      { error: typeError("members[].nodes", "a list of node names", NODES_FIX) },
    )
    .max(1024, withFix("members[].nodes lists more than 1024 names", 'use a prefix such as "coop-a-*"'))
    // Absent (a version written before node names were bound): the member may publish none,
    // until a next version gives it names.
    .default([]),
});

/** Whether `node` is one of the names a member's `nodes` list gives it. */
export function nodeNameMatches(pattern: string, node: string): boolean {
  return pattern.endsWith("*") ? node.startsWith(pattern.slice(0, -1)) && node.length > pattern.length - 1 : node === pattern;
}

/** Two `nodes` entries could name the same node. */
function nodePatternsOverlap(a: string, b: string): boolean {
  const prefix = (p: string) => (p.endsWith("*") ? p.slice(0, -1) : undefined);
  const [pa, pb] = [prefix(a), prefix(b)];
  if (pa === undefined && pb === undefined) return a === b;
  if (pa !== undefined && pb !== undefined) return pa.startsWith(pb) || pb.startsWith(pa);
  return pa !== undefined ? nodeNameMatches(a, b) : nodeNameMatches(b, a);
}

const UNDERLAY_FIX =
  "write underlay: { allow: [ documentation ] } for a lab, [ private ] for a private network, or leave it out (global addresses only)";
const LABEL_THRESHOLD_FIX = "set it to how many other members must attest a node, e.g. 2 (a node's own member never counts)";
const LABEL_VALIDITY_FIX = "set it to how many days an attestation counts, 1 to 90 (7 rides out a checker's outage over a weekend)";

export const federationSchema = z
  .strictObject({
    version: z
      .number({
        error: typeError("version", "a whole number", "number the versions 1, 2, 3, ... and name the file federation/<version>.yaml"),
      })
      .int(withFix("version must be a whole number", "number the versions 1, 2, 3, ..."))
      .min(1, withFix("version must be 1 or more", "number the versions 1, 2, 3, ..."))
      .max(MAX_FEDERATION_VERSION, withFix(`version is above ${MAX_FEDERATION_VERSION}`, "number the versions 1, 2, 3, ...")),
    name: slug("name"),
    domain: zoneName,
    mesh: z.strictObject({
      ipv4: cidrText("mesh.ipv4", 4, 'set mesh.ipv4 to a prefix inside 100.64.0.0/10, e.g. "100.64.0.0/24"').refine(
        (text) => cidrWithin(parseCidr(text), parseCidr(MESH_IPV4_SPACE)),
        withFix("mesh.ipv4 is outside 100.64.0.0/10", 'pick a prefix inside 100.64.0.0/10, e.g. "100.64.0.0/24"'),
      ),
      ipv6: cidrText("mesh.ipv6", 6, 'set mesh.ipv6 to a ULA /48, e.g. "fd42:b0:ea1::/48"').refine(
        (text) => {
          const cidr = parseCidr(text);
          return cidr.bits === 48 && cidrWithin(cidr, parseCidr("fc00::/7"));
        },
        withFix("mesh.ipv6 must be a unique local /48 (inside fc00::/7)", 'generate one (RFC 4193), e.g. "fd42:b0:ea1::/48"'),
      ),
    }),
    defaults: z
      .strictObject({
        listenPort: port("defaults.listenPort").default(51820),
        mtu: z
          .number({ error: typeError("defaults.mtu", "a number", "set it between 1280 and 9000 (1420 suits most links)") })
          .int(withFix("defaults.mtu must be a whole number", "set it between 1280 and 9000"))
          .min(1280, withFix("defaults.mtu is below 1280, the IPv6 minimum", "set it between 1280 and 9000 (1420 suits most links)"))
          .max(9000, withFix("defaults.mtu is above 9000", "set it between 1280 and 9000 (1420 suits most links)"))
          .default(1420),
        persistentKeepalive: z
          .number({
            error: typeError("defaults.persistentKeepalive", "a number", "set it in seconds, 0 to 65535 (25 keeps NAT mappings open)"),
          })
          .int(withFix("defaults.persistentKeepalive must be a whole number of seconds", "set it in seconds, 0 to 65535"))
          .min(
            0,
            withFix("defaults.persistentKeepalive must not be negative", "set it in seconds, 0 (off) to 65535; 25 keeps NAT mappings open"),
          )
          .max(65535, withFix("defaults.persistentKeepalive is above 65535", "set it in seconds, 0 to 65535; 25 keeps NAT mappings open"))
          .default(25),
      })
      .default({ listenPort: 51820, mtu: 1420, persistentKeepalive: 25 }),
    /** How many distinct members of this version must sign the next one. */
    threshold: z
      .number({ error: typeError("threshold", "a whole number", "set it to how many members must sign the next version, e.g. 2 of 3") })
      .int(withFix("threshold must be a whole number", "set it to a majority of the members, e.g. 2 of 3"))
      .min(1, withFix("threshold must be at least 1", "set it to a majority of the members, e.g. 2 of 3")),
    /**
     * What node endpoints may be beside global unicast addresses: "documentation" (192.0.2.0/24,
     * 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32: labs) and "private" (RFC 1918, ULA:
     * federations on a private network). Absent: global unicast only.
     */
    underlay: z
      .strictObject(
        {
          allow: z
            .array(z.enum(UNDERLAY_ALLOWANCES, { error: withFix("underlay.allow[] must be documentation or private", UNDERLAY_FIX) }), {
              error: typeError("underlay.allow", "a list", UNDERLAY_FIX),
            })
            .default([]),
        },
        { error: typeError("underlay", "a mapping", UNDERLAY_FIX) },
      )
      .optional(),
    /** Git URLs the registry is published at; nodes pull from all of them. */
    mirrors: z
      .array(
        z
          .string({ error: withFix("a mirror must be a git URL", 'write it as e.g. "https://git.coop-a.example/fed/registry.git"') })
          .min(1, withFix("a mirror is empty", "remove it, or write its git URL")),
        { error: typeError("mirrors", "a list of git URLs", 'write it as a list, e.g. [ "https://git.coop-a.example/fed/registry.git" ]') },
      )
      .default([]),
    members: z
      .array(memberSchema, {
        error: typeError("members", "a list", "list the members with name, keys, zones and mesh (see docs/reference/registry.md)"),
      })
      .min(1, withFix("lists no member", "list the founding members with their keys, zones and mesh shares")),
    /**
     * The label (src/label): how many other members must attest a node, and how long an
     * attestation counts. Optional, field by field; the defaults are in src/core/label/label.ts.
     */
    label: z
      .strictObject(
        {
          threshold: z
            .number({ error: typeError("label.threshold", "a whole number", LABEL_THRESHOLD_FIX) })
            .int(withFix("label.threshold must be a whole number", LABEL_THRESHOLD_FIX))
            .min(1, withFix("label.threshold must be at least 1", LABEL_THRESHOLD_FIX))
            .optional(),
          validityDays: z
            .number({ error: typeError("label.validityDays", "a whole number of days", LABEL_VALIDITY_FIX) })
            .int(withFix("label.validityDays must be a whole number of days", LABEL_VALIDITY_FIX))
            .min(1, withFix("label.validityDays must be at least 1", LABEL_VALIDITY_FIX))
            .max(90, withFix("label.validityDays is above 90", LABEL_VALIDITY_FIX))
            .optional(),
        },
        {
          error: typeError(
            "label",
            "a mapping",
            "write it as label: { threshold: 2, validityDays: 7 }, or leave it out for those defaults",
          ),
        },
      )
      .optional(),
  })
  .superRefine((f, ctx) => {
    const issue = (path: (string | number)[], message: string, fix: string) =>
      ctx.addIssue({ code: "custom", path, message: withFix(message, fix) });
    if (f.threshold > f.members.length)
      issue(["threshold"], `threshold ${f.threshold} is more than the ${f.members.length} member(s)`, "lower it, or list more members");
    const others = f.members.length - 1;
    if (f.label?.threshold !== undefined && f.label.threshold > others) {
      issue(
        ["label", "threshold"],
        `label.threshold ${f.label.threshold} is more than the ${others} other member(s) a node has: no node could hold the label`,
        "lower it (a node's own member never counts), or admit more members first",
      );
    }
    const seen = new Map<string, string>();
    // Every prefix parsed once, not once per pair of members (the pairs grow as N²).
    const cidrOrUndefined = (text: string) => {
      try {
        return parseCidr(text);
      } catch {
        return undefined; // reported where it is declared
      }
    };
    const federationIpv4 = cidrOrUndefined(f.mesh.ipv4);
    const shares = f.members.map((m) => cidrOrUndefined(m.mesh));
    f.members.forEach((m, i) => {
      if (seen.has(`name ${m.name}`)) issue(["members", i, "name"], `member ${m.name} is listed twice`, "list each member once");
      seen.set(`name ${m.name}`, m.name);
      m.keys.forEach((key, k) => {
        const owner = seen.get(key);
        if (owner !== undefined && owner !== m.name)
          issue(["members", i, "keys", k], `this key is also member ${owner}'s`, "each member signs with keys of its own");
        seen.set(key, m.name);
      });
      const share = shares[i];
      if (!share) return;
      if (federationIpv4 && !cidrWithin(share, federationIpv4))
        issue(["members", i, "mesh"], `${m.mesh} is outside the federation's ${f.mesh.ipv4}`, "give the member a prefix inside mesh.ipv4");
      f.members.slice(0, i).forEach((other, j) => {
        const otherShare = shares[j];
        if (otherShare && cidrsOverlap(share, otherShare))
          issue(["members", i, "mesh"], `${m.mesh} overlaps member ${other.name}'s ${other.mesh}`, "give each member its own share");
        for (const zone of m.zones) {
          const clash = other.zones.find((z) => zoneWithin(zone, z) || zoneWithin(z, zone));
          if (clash)
            issue(
              ["members", i, "zones"],
              `zone suffix ${zone} overlaps member ${other.name}'s ${clash}`,
              "a zone belongs to one member: keep the suffixes apart",
            );
        }
        for (const pattern of m.nodes) {
          const clash = other.nodes.find((theirs) => nodePatternsOverlap(pattern, theirs));
          if (clash)
            issue(
              ["members", i, "nodes"],
              `node name ${pattern} overlaps member ${other.name}'s ${clash}`,
              "a node name belongs to one member: give each member names or prefixes of its own",
            );
        }
      });
    });
  });

const timestamp = z
  .string()
  .refine(
    (t) => !Number.isNaN(Date.parse(t)),
    withFix("updatedAt is not a timestamp", "write an ISO 8601 time, e.g. 2026-11-26T12:00:00Z"),
  );
const KEY_PROOF_FIX = "run the member's pulumi up again: the node signs its keys' proofs itself";
const SERIAL_FIX = "every descriptor carries a serial that grows with each change (the kit uses the time in seconds)";
const serial = z
  .number({ error: typeError("serial", "a number", SERIAL_FIX) })
  .refine((n) => Number.isInteger(n) || !Number.isFinite(n) || Math.abs(n) > MAX_SERIAL, {
    error: (i) => withFix(`serial ${i.input} is not a whole number`, SERIAL_FIX),
    abort: true,
  })
  .refine((n) => n <= MAX_SERIAL, {
    error: (i) => withFix(`serial ${i.input} is above the cap of ${MAX_SERIAL} (2^48)`, SERIAL_FIX),
    abort: true,
  })
  .refine((n) => n >= 1, { error: (i) => withFix(`serial ${i.input} is below 1`, SERIAL_FIX), abort: true });

export const descriptorSchema = z.strictObject({
  member: slug("member"),
  node: slug("node"),
  serial,
  endpoint: endpoint("endpoint"),
  /**
   * Optional (node format 2): a dual-stack node's IPv4 and IPv6 endpoints, `endpoint` first
   * (what a kit reading format 1 alone would use). Which a peer sends to: src/core/mesh/endpoints.ts.
   */
  endpoints: z
    .array(endpoint("endpoints[]"), {
      error: typeError("endpoints", "a list of endpoints", "list the node's IPv4 and IPv6 endpoints, or leave endpoints out"),
    })
    .superRefine((list, ctx) => {
      const problem =
        endpointListProblem(list) ??
        (list.length < 2 ? { message: "lists one endpoint", fix: "leave endpoints out for a node with one" } : undefined);
      if (problem) ctx.addIssue({ code: "custom", message: withFix(`endpoints ${problem.message}`, problem.fix) });
    })
    .optional(),
  publicKey: wireguardKey("publicKey"),
  /**
   * The node's proof that it holds the private key of `publicKey`: an XEdDSA signature made on
   * the node with its WireGuard key over a statement naming the federation, the node and the
   * key (src/core/registry/keyproof.ts). A copied public key cannot carry it to another node.
   */
  keyProof: z
    .string({ error: typeError("keyProof", "a string", KEY_PROOF_FIX) })
    .regex(/^[A-Za-z0-9+/]{86}==$/, withFix("keyProof is not a 64-byte signature in base64", KEY_PROOF_FIX)),
  mesh: z.strictObject(
    { ipv4: ipv4("mesh.ipv4"), ipv6: ipv6("mesh.ipv6") },
    { error: typeError("mesh", "an object", "give the node's mesh addresses: mesh: { ipv4: 100.64.0.1, ipv6: fd42:b0:ea1::1 }") },
  ),
  zones: z
    .array(zoneName, { error: typeError("zones", "a list of zone names", "write the node's zones as a list, e.g. [ coop-a.example. ]") })
    .max(MAX_NODE_ZONES, withFix(`zones lists more than ${MAX_NODE_ZONES} zones`, "spread the zones over more nodes of the member")),
  exporter: endpoint("exporter", 'set exporter to the node exporter\'s mesh address and port, e.g. "100.64.0.1:9100"'),
  /**
   * Optional: the node's name server name, what other members' delegations list for it:
   * `ns-<node>.<one of its zones>` (its glue lives in that zone and at that zone's registrar
   * only) or its endpoint's host name (src/core/dns/delegation.ts; verify.ts holds it to that).
   */
  nameServer: zoneName.optional(),
  /**
   * Optional: the nodes the member delegates this node's zones to (its registrar's NS set),
   * kept from one pulumi up to the next so that a join changes nobody's delegation; `since`:
   * when the set last changed. Names that are not live nodes are ignored.
   */
  delegation: z
    .strictObject(
      {
        nameServers: z
          .array(slug("delegation.nameServers[]"), {
            error: typeError("delegation.nameServers", "a list of node names", "run the member's pulumi up again: it records the set"),
          })
          .max(16, withFix("delegation.nameServers lists more than 16 nodes", "run the member's pulumi up again: it records at most 13")),
        since: timestamp,
      },
      { error: typeError("delegation", "an object", "run the member's pulumi up again: it records the set") },
    )
    .optional(),
  /**
   * Optional: what the node opens on its underlay beside WireGuard and DNS, as "tcp/22",
   * "udp/51000-51010": its SSH port and the member's boreal:firewall.allow. Peers checking
   * the label's underlay-declared-only rule judge a scan against it; a descriptor without
   * it declares nothing more.
   */
  services: z
    .array(
      z.string({ error: typeError("services[]", "a string", 'write each as "tcp/PORT" or "udp/FIRST-LAST"') }).refine(
        (text) => {
          const range = parsePortSpec(text);
          return (
            range !== undefined && portSpecText(range) === text && range.first >= 1 && range.last <= 65535 && range.first <= range.last
          );
        },
        withFix("services[] is not a port or range", 'write each as "tcp/PORT" or "udp/FIRST-LAST", e.g. "tcp/22", "tcp/443"'),
      ),
      { error: typeError("services", "a list", 'write the declared underlay services as a list, e.g. [ "tcp/22", "tcp/443" ]') },
    )
    .max(64, withFix("services lists more than 64 entries", "declare ranges rather than single ports"))
    .optional(),
  /**
   * Optional: the ssh-ed25519 key the node signs its attestations of peers with (the label,
   * src/label). Made on the node and never leaving it, so a checking node holds no key of
   * its member's: an attestation signed with it counts for the member whose signed
   * descriptor lists it. Descriptors without it stay valid; that node cannot attest.
   */
  attestationKey: ed25519Key(
    { notString: "attestationKey must be a string", notKey: "attestationKey is not an ssh-ed25519 public key" },
    'give the node\'s own attestation key ("ssh-ed25519 AAAA...", made on the node), or leave attestationKey out',
  ).optional(),
  /**
   * With `attestationKey`: an SSHSIG (namespace boreal-node-proof, src/core/registry/keyproof.ts) made
   * with that key on the node over a statement naming the federation, the node and the key,
   * as the base64 of its armor's body. Without it, the attestation key is refused.
   */
  attestationKeyProof: z
    .string({ error: typeError("attestationKeyProof", "a string", KEY_PROOF_FIX) })
    .regex(/^[A-Za-z0-9+/]{1,2048}={0,2}$/, withFix("attestationKeyProof is not base64", KEY_PROOF_FIX))
    .optional(),
  updatedAt: timestamp,
});

/** A node that left: peers drop it, and only a higher serial can bring the name back. */
export const tombstoneSchema = z.strictObject({
  member: slug("member"),
  node: slug("node"),
  serial,
  left: z.literal(true, {
    error: withFix(
      "left must be true in a tombstone",
      "a tombstone says left: true; to stay, publish a descriptor with a higher serial instead",
    ),
  }),
  updatedAt: timestamp,
});

export type FederationVersion = z.infer<typeof federationSchema>;
/** What planning needs of the federation: the current version's settings. */
export type FederationSettings = FederationVersion;
export type FederationMember = FederationVersion["members"][number];
export type NodeDescriptor = z.infer<typeof descriptorSchema>;
export type Tombstone = z.infer<typeof tombstoneSchema>;

export interface Federation {
  settings: FederationSettings;
  /** Every live node, sorted by node name. */
  nodes: NodeDescriptor[];
}

export interface RegistryFile {
  /** Path relative to the registry directory, with forward slashes. */
  path: string;
  /** The file's text; a file read from disk is read on first use and throws UnreadableFile when it cannot be. */
  readonly content: string;
  /** For a file on disk: its size, modification time and inode, which change whenever git writes it. */
  readonly stamp?: string;
}

/** Why a registry file could not be read (too large, not UTF-8, gone): the verifier reports it for that file. */
export class UnreadableFile extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "UnreadableFile";
  }
}

export function descriptorPath(node: string): string {
  return `${NODES_DIR}/${node}.yaml`;
}

export function federationPath(version: number): string {
  return `${FEDERATION_DIR}/${version}.yaml`;
}

/** A descriptor's signature (its member's) sits beside it. */
export function signaturePath(path: string): string {
  return `${path}.sig`;
}

/** Each signer of a federation version leaves its own file. */
export function federationSignaturePath(version: number, member: string): string {
  return `${federationPath(version)}.${member}.sig`;
}

/** `zone` equals `suffix` or lies below it. */
export function zoneWithin(zone: string, suffix: string): boolean {
  return zone === suffix || zone.endsWith(`.${suffix}`);
}

/** A parse: the value, or the problems; `newer` is the object's format when a newer kit wrote it (src/core/registry/formats.ts). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[]; newer?: number };

/**
 * `formats`: the formats of federation versions this reader knows (src/core/registry/formats.ts);
 * a shorter table reads as an older kit would.
 */
export function parseFederationVersion(
  file: RegistryFile,
  where: string = file.path,
  formats: readonly FormatStep[] = FORMATS.federation,
): Parsed<FederationVersion> {
  return parseWith(file, where, MAX_FEDERATION_BYTES, formats, (data) => federationSchema.safeParse(data));
}

/** `formats`: the formats of node objects this reader knows, as for parseFederationVersion. */
export function parseNodeObject(
  file: RegistryFile,
  where: string = file.path,
  formats: readonly FormatStep[] = FORMATS.node,
): Parsed<NodeDescriptor | Tombstone> {
  return parseWith<NodeDescriptor | Tombstone>(file, where, MAX_NODE_OBJECT_BYTES, formats, (data) =>
    typeof data === "object" && data !== null && "left" in data ? tombstoneSchema.safeParse(data) : descriptorSchema.safeParse(data),
  );
}

export function isTombstone(object: NodeDescriptor | Tombstone): object is Tombstone {
  return "left" in object;
}

/** Nesting deeper than any registry object needs; deeper input is refused before parsing. */
const MAX_NESTING = 32;
/** Block nesting, as the width of a line's indentation and list dashes. */
const MAX_INDENT = 64;

function parseWith<T>(
  file: RegistryFile,
  where: string,
  maxBytes: number,
  formats: readonly FormatStep[],
  schema: (data: unknown) => z.ZodSafeParseResult<T> | z.ZodSafeParseResult<never>,
): Parsed<T> {
  const problem = (message: string, fix: string): Parsed<T> => ({ ok: false, problems: [{ source: where, key: "(file)", message, fix }] });
  if (Buffer.byteLength(file.content) > maxBytes)
    return problem(
      `is larger than ${maxBytes} bytes, the cap for this kind of registry object`,
      "a registry object is a few hundred bytes: replace it",
    );
  const lexed = scanYaml(file.content);
  if (lexed.nesting > MAX_NESTING)
    return problem(`nests brackets deeper than ${MAX_NESTING} levels`, "registry objects are a few levels deep: replace it");
  if (lexed.indent > MAX_INDENT)
    return problem(`indents a line by more than ${MAX_INDENT} characters`, "registry objects are a few levels deep: replace it");
  if (lexed.tag)
    return problem(
      "is not valid YAML for a registry object: it uses a YAML tag (!)",
      "registry objects are plain key: value lines: replace it",
    );
  let data: unknown;
  try {
    // Duplicate keys are found below in one pass (the parser's own check is quadratic), and
    // nothing is logged: the parser's warnings would print the file's raw text.
    const doc = parseDocument(file.content, { uniqueKeys: false, logLevel: "silent" });
    const error = doc.errors[0];
    // Never the content itself: only the parser's first line.
    if (error)
      return problem(
        `is not valid YAML: ${/call stack/i.test(error.message) ? "nests too deeply" : escapeShort(error.message.split("\n")[0])}`,
        "correct the YAML syntax",
      );
    const duplicate = firstDuplicateKey(doc.contents);
    if (duplicate !== undefined)
      return problem(`is not valid YAML: the key ${escapeShort(duplicate, 60)} appears twice in one mapping`, "correct the YAML syntax");
    data = doc.toJS({ maxAliasCount: 0 });
  } catch (error) {
    const detail =
      error instanceof RangeError || /call stack/i.test(String(error))
        ? "nests too deeply"
        : /alias/i.test(String(error))
          ? "uses YAML aliases, which registry objects never need"
          : "unreadable";
    return problem(`is not valid YAML: ${detail}`, "correct the YAML syntax");
  }
  if (data === null || typeof data !== "object" || Array.isArray(data))
    return problem("is not a YAML mapping", "write it as key: value lines (see docs/reference/registry.md)");
  // The format first: an object a newer kit wrote is refused as such, never read as this kit's.
  const { format, ...fields } = data as Record<string, unknown>;
  const reading = readFormat(format, fields, formats, { source: where, field: "format" });
  if (reading.ok === false)
    return { ok: false, problems: [reading.problem], ...(reading.newer === undefined ? {} : { newer: reading.newer }) };
  data = fields;
  let parsed: ReturnType<typeof schema>;
  try {
    parsed = schema(data);
  } catch {
    return problem("nests too deeply to check", "registry objects are a few levels deep: replace it");
  }
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: problemsFromZod(parsed.error, where, "") };
}

/** The first key found twice in one mapping, anywhere in the document: one pass, a set per mapping. */
function firstDuplicateKey(node: unknown): string | undefined {
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const current = stack.pop();
    if (isMap(current)) {
      const seen = new Set<string>();
      for (const pair of current.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : JSON.stringify(pair.key);
        if (seen.has(key)) return key;
        seen.add(key);
        stack.push(pair.value);
      }
    } else if (isSeq(current)) stack.push(...current.items);
  }
  return undefined;
}

/**
 * One pass over the text, outside quotes and comments: the deepest nesting of flow brackets,
 * and whether a YAML tag (`!`) starts a token. Single quotes escape by doubling, double
 * quotes by backslash (a run of them counted).
 */
function scanYaml(text: string): { nesting: number; tag: boolean; indent: number } {
  let depth = 0;
  let nesting = 0;
  let indent = 0;
  let lineStart = true;
  let width = 0;
  let tag = false;
  let quote = "";
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (lineStart) {
      if (c === " " || c === "-" || c === "\t") {
        indent = Math.max(indent, ++width);
        continue;
      }
      lineStart = false;
    }
    if (c === "\n" && !quote) {
      lineStart = true;
      width = 0;
    }
    if (comment) {
      if (c === "\n") comment = false;
    } else if (quote === "'") {
      if (c === "'") {
        if (text[i + 1] === "'") i++;
        else quote = "";
      }
    } else if (quote === '"') {
      if (c === "\\") i++;
      else if (c === '"') quote = "";
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s[{,:-]/.test(text[i - 1]))) quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) comment = true;
    else if (c === "!" && (i === 0 || /[\s[{,:-]/.test(text[i - 1]))) tag = true;
    else if (c === "[" || c === "{") nesting = Math.max(nesting, ++depth);
    else if (c === "]" || c === "}") depth = Math.max(0, depth - 1);
  }
  return { nesting, tag, indent };
}
