// The federation registry, as files: signed federation versions and signed node
// descriptors. This module parses single files (pure: the caller hands in contents);
// src/registry/verify.ts decides what of a registry is trusted.
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { parsePortSpec, portSpecText } from "../model/firewall";
import { cidrsOverlap, cidrWithin, parseCidr } from "../model/ip";
import { ConfigProblem, problemsFromZod, withFix } from "./errors";
import { endpoint, ipv4, ipv6, port, slug, typeError, wireguardKey, zoneName } from "./fields";

export const FEDERATION_DIR = "federation";
export const NODES_DIR = "nodes";
/** The shared address space every federation's mesh lives in (RFC 6598). */
export const MESH_IPV4_SPACE = "100.64.0.0/10";
/** A registry object larger than this is refused unread: nothing legitimate comes close. */
export const MAX_OBJECT_BYTES = 64 * 1024;

const cidrText = (what: string, family: 4 | 6, fix: string) =>
  z.string({ error: withFix(`${what} is missing`, fix) }).refine((text) => {
    try {
      return parseCidr(text).family === family;
    } catch {
      return false;
    }
  }, { error: withFix(`${what} is not an IPv${family} prefix`, fix), abort: true });

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
});

const LABEL_THRESHOLD_FIX = "set it to how many other members must attest a node, e.g. 2 (a node's own member never counts)";
const LABEL_VALIDITY_FIX = "set it to how many days an attestation counts, 1 to 90 (7 rides out a checker's outage over a weekend)";

export const federationSchema = z
  .strictObject({
    version: z
      .number({ error: typeError("version", "a whole number", "number the versions 1, 2, 3, ... and name the file federation/<version>.yaml") })
      .int(withFix("version must be a whole number", "number the versions 1, 2, 3, ..."))
      .min(1, withFix("version must be 1 or more", "number the versions 1, 2, 3, ...")),
    name: slug("name"),
    domain: zoneName,
    mesh: z.strictObject({
      ipv4: cidrText("mesh.ipv4", 4, 'set mesh.ipv4 to a prefix inside 100.64.0.0/10, e.g. "100.64.0.0/24"').refine(
        (text) => cidrWithin(parseCidr(text), parseCidr(MESH_IPV4_SPACE)),
        withFix("mesh.ipv4 is outside 100.64.0.0/10", 'pick a prefix inside 100.64.0.0/10, e.g. "100.64.0.0/24"'),
      ),
      ipv6: cidrText("mesh.ipv6", 6, 'set mesh.ipv6 to a ULA /48, e.g. "fd42:b0:ea1::/48"').refine((text) => {
        const cidr = parseCidr(text);
        return cidr.bits === 48 && cidrWithin(cidr, parseCidr("fc00::/7"));
      }, withFix("mesh.ipv6 must be a unique local /48 (inside fc00::/7)", 'generate one (RFC 4193), e.g. "fd42:b0:ea1::/48"')),
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
          .number({ error: typeError("defaults.persistentKeepalive", "a number", "set it in seconds, 0 to 65535 (25 keeps NAT mappings open)") })
          .int(withFix("defaults.persistentKeepalive must be a whole number of seconds", "set it in seconds, 0 to 65535"))
          .min(0, withFix("defaults.persistentKeepalive must not be negative", "set it in seconds, 0 (off) to 65535; 25 keeps NAT mappings open"))
          .max(65535, withFix("defaults.persistentKeepalive is above 65535", "set it in seconds, 0 to 65535; 25 keeps NAT mappings open"))
          .default(25),
      })
      .default({ listenPort: 51820, mtu: 1420, persistentKeepalive: 25 }),
    /** How many distinct members of this version must sign the next one. */
    threshold: z
      .number({ error: typeError("threshold", "a whole number", "set it to how many members must sign the next version, e.g. 2 of 3") })
      .int(withFix("threshold must be a whole number", "set it to a majority of the members, e.g. 2 of 3"))
      .min(1, withFix("threshold must be at least 1", "set it to a majority of the members, e.g. 2 of 3")),
    /** Git URLs the registry is published at; nodes pull from all of them. */
    mirrors: z
      .array(
        z.string({ error: withFix("a mirror must be a git URL", 'write it as e.g. "https://git.coop-a.example/fed/registry.git"') }).min(1, withFix("a mirror is empty", "remove it, or write its git URL")),
        { error: typeError("mirrors", "a list of git URLs", 'write it as a list, e.g. [ "https://git.coop-a.example/fed/registry.git" ]') },
      )
      .default([]),
    members: z
      .array(memberSchema, { error: typeError("members", "a list", "list the members with name, keys, zones and mesh (see the README)") })
      .min(1, withFix("lists no member", "list the founding members with their keys, zones and mesh shares")),
    /**
     * The label (src/label): how many other members must attest a node, and how long an
     * attestation counts. Optional, field by field; the defaults are in src/label/label.ts.
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
        { error: typeError("label", "a mapping", "write it as label: { threshold: 2, validityDays: 7 }, or leave it out for those defaults") },
      )
      .optional(),
  })
  .superRefine((f, ctx) => {
    const issue = (path: (string | number)[], message: string, fix: string) => ctx.addIssue({ code: "custom", path, message: withFix(message, fix) });
    if (f.threshold > f.members.length) issue(["threshold"], `threshold ${f.threshold} is more than the ${f.members.length} member(s)`, "lower it, or list more members");
    const others = f.members.length - 1;
    if (f.label?.threshold !== undefined && f.label.threshold > others) {
      issue(["label", "threshold"], `label.threshold ${f.label.threshold} is more than the ${others} other member(s) a node has: no node could hold the label`, "lower it (a node's own member never counts), or admit more members first");
    }
    const seen = new Map<string, string>();
    // Every prefix parsed once, not once per pair of members: with 250 members the pairs'
    // parsing was a fifth of verifying a 1000-node registry.
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
        if (owner !== undefined && owner !== m.name) issue(["members", i, "keys", k], `this key is also member ${owner}'s`, "each member signs with keys of its own");
        seen.set(key, m.name);
      });
      const share = shares[i];
      if (!share) return;
      if (federationIpv4 && !cidrWithin(share, federationIpv4)) issue(["members", i, "mesh"], `${m.mesh} is outside the federation's ${f.mesh.ipv4}`, "give the member a prefix inside mesh.ipv4");
      f.members.slice(0, i).forEach((other, j) => {
        const otherShare = shares[j];
        if (otherShare && cidrsOverlap(share, otherShare)) issue(["members", i, "mesh"], `${m.mesh} overlaps member ${other.name}'s ${other.mesh}`, "give each member its own share");
        for (const zone of m.zones) {
          const clash = other.zones.find((z) => zoneWithin(zone, z) || zoneWithin(z, zone));
          if (clash) issue(["members", i, "zones"], `zone suffix ${zone} overlaps member ${other.name}'s ${clash}`, "a zone belongs to one member: keep the suffixes apart");
        }
      });
    });
  });

const timestamp = z
  .string()
  .refine((t) => !Number.isNaN(Date.parse(t)), withFix("updatedAt is not a timestamp", "write an ISO 8601 time, e.g. 2026-11-26T12:00:00Z"));
const serial = z
  .number({ error: withFix("serial is missing or not a number", "every descriptor carries a serial that grows with each change") })
  .int()
  .min(1, withFix("serial must be 1 or more", "every descriptor carries a serial that grows with each change"));

export const descriptorSchema = z.strictObject({
  member: slug("member"),
  node: slug("node"),
  serial,
  endpoint: endpoint("endpoint"),
  publicKey: wireguardKey("publicKey"),
  mesh: z.strictObject(
    { ipv4: ipv4("mesh.ipv4"), ipv6: ipv6("mesh.ipv6") },
    { error: typeError("mesh", "an object", "give the node's mesh addresses: mesh: { ipv4: 100.64.0.1, ipv6: fd42:b0:ea1::1 }") },
  ),
  zones: z.array(zoneName, { error: typeError("zones", "a list of zone names", "write the node's zones as a list, e.g. [ coop-a.example. ]") }),
  exporter: endpoint("exporter", 'set exporter to the node exporter\'s mesh address and port, e.g. "100.64.0.1:9100"'),
  /**
   * Optional: what the node opens on its underlay beside WireGuard and DNS, as "tcp/22",
   * "udp/51000-51010": its SSH port and the member's boreal:firewall.allow. Peers checking
   * the label's underlay-declared-only rule judge a scan against it; a descriptor without
   * it declares nothing more.
   */
  services: z
    .array(
      z.string({ error: typeError("services[]", "a string", 'write each as "tcp/PORT" or "udp/FIRST-LAST"') }).refine((text) => {
        const range = parsePortSpec(text);
        return range !== undefined && portSpecText(range) === text && range.first >= 1 && range.last <= 65535 && range.first <= range.last;
      }, withFix("services[] is not a port or range", 'write each as "tcp/PORT" or "udp/FIRST-LAST", e.g. "tcp/22", "tcp/443"')),
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
  updatedAt: timestamp,
});

/** A node that left: peers drop it, and only a higher serial can bring the name back. */
export const tombstoneSchema = z.strictObject({
  member: slug("member"),
  node: slug("node"),
  serial,
  left: z.literal(true, { error: withFix("left must be true in a tombstone", "a tombstone says left: true; to stay, publish a descriptor with a higher serial instead") }),
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
  content: string;
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

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

export function parseFederationVersion(file: RegistryFile, where: string = file.path): Parsed<FederationVersion> {
  return parseWith(file, where, (data) => federationSchema.safeParse(data));
}

export function parseNodeObject(file: RegistryFile, where: string = file.path): Parsed<NodeDescriptor | Tombstone> {
  return parseWith<NodeDescriptor | Tombstone>(file, where, (data) =>
    typeof data === "object" && data !== null && "left" in data ? tombstoneSchema.safeParse(data) : descriptorSchema.safeParse(data),
  );
}

export function isTombstone(object: NodeDescriptor | Tombstone): object is Tombstone {
  return "left" in object;
}

function parseWith<T>(file: RegistryFile, where: string, schema: (data: unknown) => z.ZodSafeParseResult<T> | z.ZodSafeParseResult<never>): Parsed<T> {
  const problem = (message: string, fix: string): Parsed<T> => ({ ok: false, problems: [{ source: where, key: "(file)", message, fix }] });
  if (Buffer.byteLength(file.content) > MAX_OBJECT_BYTES) return problem(`is larger than ${MAX_OBJECT_BYTES} bytes`, "a registry object is a few hundred bytes: replace it");
  let data: unknown;
  try {
    data = parseYaml(file.content, { uniqueKeys: true, maxAliasCount: 0 });
  } catch (error) {
    // Never the content itself: only the parser's first line (aliases are refused outright).
    const detail = error instanceof YAMLParseError ? error.message.split("\n")[0] : /alias/i.test(String(error)) ? "uses YAML aliases, which registry objects never need" : "unreadable";
    return problem(`is not valid YAML: ${detail}`, "correct the YAML syntax");
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) return problem("is not a YAML mapping", "write it as key: value lines (see the README)");
  const parsed = schema(data);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: problemsFromZod(parsed.error, where, "") };
}
