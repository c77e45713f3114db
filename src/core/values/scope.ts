// Where an address from a registry file or a stack config would send the kit's packets.
// Every node sends WireGuard to every peer's endpoint, and every node's label checker and
// monitoring connect to addresses that descriptors name: a descriptor written by anyone
// must not be able to point them at loopback, a cloud metadata service, a multicast group,
// the mesh itself or another network of the checking node. The registry's verification
// refuses such descriptors (src/core/registry/verify.ts), and what connects checks again here
// before it connects (src/agent/observe.ts), on the addresses it resolved.
//
// Pure: no I/O and no name resolution (the IO modules resolve, then ask here). Independent
// of src/core/values/fields.ts, which imports it.
import { escapeShort } from "./escape";
import type { ConfigProblem } from "./problems";
import { Cidr, formatIPv4, isIP, parseCidr } from "./ip";
import { EXPORTER_PORT } from "./ports";

/** What an address is, by the IANA special-purpose registries (RFC 6890 and their updates). */
export type AddressScope =
  | "global"
  | "unspecified"
  | "loopback"
  | "private"
  | "shared"
  | "link-local"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "reserved";

export interface AddressClass {
  family: 4 | 6;
  scope: AddressScope;
  /** The range that decided it, e.g. "127.0.0.0/8"; "2000::/3" or "0.0.0.0/0" for a global one. */
  range: string;
  /** The range in words, for messages: "loopback", "private, RFC 1918". */
  name: string;
  /** The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4, Teredo), when it decided the scope. */
  embedded?: string;
}

/**
 * What a federation may allow its node endpoints beside global unicast addresses:
 * "documentation" for labs (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
 * 3fff::/20, and the benchmarking ranges 198.18.0.0/15 and 2001:2::/48 that test beds use;
 * also the names .example, .test and example.com/net/org), "private" for a federation on a
 * private network (RFC 1918, unique local fc00::/7; the names .internal and .home.arpa).
 */
export type UnderlayAllowance = "documentation" | "private";

type Range = readonly [prefix: string, scope: AddressScope, name: string];

const IPV4_RANGES: readonly Range[] = [
  ["0.0.0.0/32", "unspecified", "the unspecified address"],
  ["0.0.0.0/8", "reserved", '"this network", RFC 791'],
  ["10.0.0.0/8", "private", "private, RFC 1918"],
  ["100.64.0.0/10", "shared", "shared address space, RFC 6598"],
  ["127.0.0.0/8", "loopback", "loopback"],
  ["169.254.0.0/16", "link-local", "link-local, RFC 3927"],
  ["172.16.0.0/12", "private", "private, RFC 1918"],
  ["192.0.0.0/24", "reserved", "IETF protocol assignments, RFC 6890"],
  ["192.0.2.0/24", "documentation", "documentation, RFC 5737"],
  ["192.88.99.0/24", "reserved", "the former 6to4 relay anycast, RFC 7526"],
  ["192.168.0.0/16", "private", "private, RFC 1918"],
  ["198.18.0.0/15", "benchmarking", "benchmarking, RFC 2544"],
  ["198.51.100.0/24", "documentation", "documentation, RFC 5737"],
  ["203.0.113.0/24", "documentation", "documentation, RFC 5737"],
  ["224.0.0.0/4", "multicast", "multicast"],
  ["255.255.255.255/32", "broadcast", "the limited broadcast address"],
  ["240.0.0.0/4", "reserved", "reserved, RFC 1112"],
];

/** IPv6 forms that carry an IPv4 address, judged by it (the kernel sends mapped ones as IPv4). */
type Embedding = "mapped" | "compatible" | "nat64" | "nat64-local" | "6to4" | "teredo";

const IPV6_EMBEDDING: readonly [prefix: string, form: Embedding, name: string][] = [
  ["::ffff:0:0/96", "mapped", "IPv4-mapped"],
  ["::/96", "compatible", "deprecated IPv4-compatible"],
  ["64:ff9b::/96", "nat64", "NAT64"],
  ["64:ff9b:1::/48", "nat64-local", "local-use NAT64"],
  ["2001::/32", "teredo", "Teredo"],
  ["2002::/16", "6to4", "6to4"],
];

const IPV6_RANGES: readonly Range[] = [
  ["::/128", "unspecified", "the unspecified address"],
  ["::1/128", "loopback", "loopback"],
  ["::/8", "reserved", "reserved by the IETF"],
  ["100::/64", "reserved", "discard-only, RFC 6666"],
  ["100:0:0:1::/64", "reserved", "dummy prefix, RFC 9780"],
  // Inside 2001::/23, the IETF's protocol assignments: a few anycast services are global.
  ["2001:1::1/128", "global", "global unicast, PCP anycast"],
  ["2001:1::2/128", "global", "global unicast, TURN anycast"],
  ["2001:1::3/128", "global", "global unicast, DNS-SD registration anycast"],
  ["2001:2::/48", "benchmarking", "benchmarking, RFC 5180"],
  ["2001:3::/32", "global", "global unicast, AMT"],
  ["2001:4:112::/48", "global", "global unicast, AS112"],
  ["2001::/23", "reserved", "IETF protocol assignments, RFC 2928"],
  ["2001:db8::/32", "documentation", "documentation, RFC 3849"],
  ["3fff::/20", "documentation", "documentation, RFC 9637"],
  ["5f00::/16", "reserved", "segment routing SIDs, RFC 9602"],
  ["fc00::/7", "private", "unique local, RFC 4193"],
  ["fe80::/10", "link-local", "link-local"],
  ["fec0::/10", "reserved", "deprecated site-local, RFC 3879"],
  ["ff00::/8", "multicast", "multicast"],
];

const GLOBAL_UNICAST_V6 = parseCidr("2000::/3");

interface ParsedRange {
  cidr: Cidr;
  scope: AddressScope;
  name: string;
}

const parsedRanges = (ranges: readonly Range[]): ParsedRange[] =>
  ranges.map(([prefix, scope, name]) => ({ cidr: parseCidr(prefix), scope, name }));
const V4 = parsedRanges(IPV4_RANGES);
const V6 = parsedRanges(IPV6_RANGES);
const V6_EMBEDDING = IPV6_EMBEDDING.map(([prefix, form, name]) => ({ cidr: parseCidr(prefix), form, name }));

function within(cidr: Cidr, value: bigint): boolean {
  const width = cidr.family === 4 ? 32 : 128;
  const shift = BigInt(width - cidr.bits);
  return value >> shift === cidr.base >> shift;
}

/** An IP literal as a number; IPv6 with an IPv4 tail ("::ffff:127.0.0.1") and a zone ("fe80::1%eth0") too. */
export function addressValue(text: string): { family: 4 | 6; value: bigint } | undefined {
  const ip = text.replace(/%[^%]*$/, "");
  const family = isIP(ip);
  if (family === 4) return { family, value: ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n) };
  if (family !== 6) return undefined;
  let groups = ip;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (tail) {
    const v4 = addressValue(tail[1])!.value;
    groups = `${ip.slice(0, -tail[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = groups.includes("::") ? groups.split("::") : [groups, undefined];
  const headParts = head ? head.split(":") : [];
  const restParts = rest ? rest.split(":") : [];
  const parts = rest === undefined ? headParts : [...headParts, ...Array(8 - headParts.length - restParts.length).fill("0"), ...restParts];
  return { family: 6, value: parts.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

function classifyIPv4(value: bigint): AddressClass {
  const range = V4.find((r) => within(r.cidr, value));
  return range
    ? { family: 4, scope: range.scope, range: range.cidr.text, name: range.name }
    : { family: 4, scope: "global", range: "0.0.0.0/0", name: "global unicast" };
}

/** The IPv4 address an embedding carries. */
function embeddedIPv4(form: Embedding, value: bigint): bigint {
  if (form === "6to4") return (value >> 80n) & 0xffffffffn;
  if (form === "teredo") return ~value & 0xffffffffn; // the client's address, every bit inverted
  return value & 0xffffffffn;
}

function classifyIPv6(value: bigint): AddressClass {
  // The unspecified and loopback addresses sit inside ::/96 but are not IPv4-compatible forms.
  if (value > 1n) {
    const embedding = V6_EMBEDDING.find((e) => within(e.cidr, value));
    if (embedding) {
      const v4 = embeddedIPv4(embedding.form, value);
      const inner = classifyIPv4(v4);
      const embedded = formatIPv4(v4);
      if (inner.scope !== "global")
        return {
          family: 6,
          scope: inner.scope,
          range: embedding.cidr.text,
          name: `${embedding.name} ${embedded}, ${inner.name}`,
          embedded,
        };
      // A global IPv4 address inside: the mapped and translated forms reach it; the others are not endpoints.
      if (embedding.form === "mapped" || embedding.form === "nat64" || embedding.form === "6to4" || embedding.form === "teredo") {
        return { family: 6, scope: "global", range: embedding.cidr.text, name: `${embedding.name} ${embedded}`, embedded };
      }
      const scope: AddressScope = embedding.form === "nat64-local" ? "private" : "reserved";
      return { family: 6, scope, range: embedding.cidr.text, name: `${embedding.name} ${embedded}`, embedded };
    }
  }
  const range = V6.find((r) => within(r.cidr, value));
  if (range) return { family: 6, scope: range.scope, range: range.cidr.text, name: range.name };
  if (!within(GLOBAL_UNICAST_V6, value))
    return { family: 6, scope: "reserved", range: "outside 2000::/3", name: "not allocated for unicast by IANA" };
  return { family: 6, scope: "global", range: GLOBAL_UNICAST_V6.text, name: "global unicast" };
}

/** The scope of an IPv4 or IPv6 literal (an IPv6 zone is ignored); undefined when it is not one. */
export function addressScope(ip: string): AddressClass | undefined {
  const parsed = addressValue(ip);
  if (!parsed) return undefined;
  return parsed.family === 4 ? classifyIPv4(parsed.value) : classifyIPv6(parsed.value);
}

/** host:port where host is an IP literal or a DNS name; IPv6 in brackets. Syntax only. */
export function parseEndpoint(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1] ?? m[2];
  const portNumber = Number(m[3]);
  if (portNumber < 1 || portNumber > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  if (m[2] !== undefined && isIP(host) !== 4 && !/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(host)) {
    return undefined;
  }
  return { host, port: portNumber };
}

/** What is wrong and how to fix it; the exported checks join them as "message: fix". */
interface Issue {
  message: string;
  fix: string;
}

const joined = (issue: Issue | undefined): string | undefined => (issue ? `${issue.message}; fix: ${issue.fix}` : undefined);

const ENDPOINT_EXAMPLE = '"203.0.113.10:51820" or "wg.coop-a.net:51820"';

/** Why each scope cannot carry a peer's WireGuard, and whether an allowance admits it. */
const SCOPE_REASON: Record<Exclude<AddressScope, "global">, { why: string; allowance?: UnderlayAllowance }> = {
  unspecified: { why: "peers cannot send to it (a connection to it reaches the sender itself)" },
  loopback: { why: "every peer would send to itself, not to this node" },
  private: {
    why: "peers on the internet cannot reach it, and peers on another private network would reach one of theirs",
    allowance: "private",
  },
  shared: {
    why: "it is carrier-grade NAT space and where the federation's mesh lives: peers cannot reach it over the internet, and the tunnel would carry itself",
  },
  "link-local": { why: "it reaches only the sender's own link (on clouds, the metadata service at 169.254.169.254)" },
  multicast: { why: "it is a group, not a node" },
  broadcast: { why: "it is every host of the sender's own network, not a node" },
  documentation: { why: "it is reserved for examples and labs and routed nowhere", allowance: "documentation" },
  benchmarking: { why: "it is reserved for test beds and routed nowhere", allowance: "documentation" },
  reserved: { why: "it is reserved, and routed nowhere" },
};

export interface EndpointOptions {
  /** How messages name the field: "endpoint" (a descriptor's), "boreal:endpoint" (the stack's). */
  what?: string;
  /** The federation's mesh prefixes: an endpoint inside them is refused even where private addresses are allowed. */
  mesh?: { ipv4: string; ipv6: string };
  /** Tests only (label checks against listeners on this machine): loopback passes. */
  loopback?: boolean;
}

function fixFor(what: string, allowance: UnderlayAllowance | undefined): string {
  const base = `set ${what} to an address or name the node is reachable at from the internet, e.g. ${ENDPOINT_EXAMPLE}`;
  if (allowance === "documentation")
    return `${base}; a lab federation allows these ranges with underlay: { allow: [ documentation ] } in a new federation version`;
  if (allowance === "private")
    return `${base}; a federation whose nodes all share one private network allows these with underlay: { allow: [ private ] } in a new federation version`;
  return base;
}

/** `subject` starts the message ("endpoint 127.0.0.1:51820", "endpoint x.net:51820 resolves to 127.0.0.1, which"). */
function addressIssue(address: string, allow: readonly UnderlayAllowance[], options: EndpointOptions, subject: string): Issue | undefined {
  const what = options.what ?? "endpoint";
  const cls = addressScope(address);
  if (!cls) return { message: `${subject} is not an IP address`, fix: `set ${what} to "host:port", e.g. ${ENDPOINT_EXAMPLE}` };
  if (cls.scope === "loopback" && options.loopback) return undefined;
  if (options.mesh) {
    const value = addressValue(address)!.value;
    for (const prefix of [options.mesh.ipv4, options.mesh.ipv6]) {
      const cidr = tryCidr(prefix);
      if (cidr && cidr.family === cls.family && within(cidr, value)) {
        return {
          message: `${subject} is inside the federation's mesh ${cidr.text}: the tunnel cannot carry itself`,
          fix: fixFor(what, undefined),
        };
      }
    }
  }
  if (cls.scope === "global") return undefined;
  const reason = SCOPE_REASON[cls.scope];
  if (reason.allowance && allow.includes(reason.allowance)) return undefined;
  return { message: `${subject} is ${describeAddress(cls)}: ${reason.why}`, fix: fixFor(what, reason.allowance) };
}

/** "in 127.0.0.0/8 (loopback)", "the limited broadcast address (255.255.255.255/32)". */
export function describeAddress(cls: AddressClass): string {
  if (cls.name.startsWith("the ")) return `${cls.name} (${cls.range})`;
  return cls.range.startsWith("outside") ? `${cls.range} (${cls.name})` : `in ${cls.range} (${cls.name})`;
}

function tryCidr(text: string): Cidr | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

/** Special-use names (RFC 6761 and successors): never a peer's public endpoint, some allowed for labs or private networks. */
const SPECIAL_NAMES: readonly { suffix: string; why: string; allowance?: UnderlayAllowance }[] = [
  { suffix: "localhost", why: "names the sender's own machine (RFC 6761)" },
  { suffix: "local", why: "is resolved by multicast DNS on the sender's own link (RFC 6762)" },
  { suffix: "invalid", why: "never resolves (RFC 6761)" },
  { suffix: "onion", why: "is a Tor onion service name, not reachable over UDP (RFC 7686)" },
  { suffix: "alt", why: "is outside the DNS (RFC 9476)" },
  { suffix: "home.arpa", why: "names a home network's own devices (RFC 8375)", allowance: "private" },
  { suffix: "internal", why: "is reserved for private networks' own names", allowance: "private" },
  { suffix: "arpa", why: "is the DNS's infrastructure domain (reverse mapping), not a host" },
  { suffix: "example", why: "is reserved for examples (RFC 2606)", allowance: "documentation" },
  { suffix: "example.com", why: "is reserved for examples (RFC 2606)", allowance: "documentation" },
  { suffix: "example.net", why: "is reserved for examples (RFC 2606)", allowance: "documentation" },
  { suffix: "example.org", why: "is reserved for examples (RFC 2606)", allowance: "documentation" },
  { suffix: "test", why: "is reserved for testing (RFC 6761)", allowance: "documentation" },
];

function hostNameIssue(host: string, allow: readonly UnderlayAllowance[], what: string, shown: string): Issue | undefined {
  const name = host.toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  const fix = fixFor(what, undefined);
  if (name.length > 253 || labels.some((l) => l.length === 0 || l.length > 63)) {
    return { message: `${what} ${shown} is not a usable DNS name (at most 253 characters, labels of 1 to 63)`, fix };
  }
  // getaddrinfo reads "127.1", "2130706433", "0x7f.1" or "0177.0.0.1" as IPv4 addresses: no real name looks like one.
  const last = labels[labels.length - 1];
  if (/^\d+$/.test(last) || labels.every((l) => /^(0x[0-9a-f]*|\d+)$/.test(l))) {
    return {
      message: `${what} ${shown} is neither a dotted-quad IPv4 address nor a DNS name: resolvers read it as a number (an IPv4 address in another form)`,
      fix: `write the address as four decimal numbers (e.g. "203.0.113.10:51820") or use a DNS name`,
    };
  }
  const special = SPECIAL_NAMES.find((s) => name === s.suffix || name.endsWith(`.${s.suffix}`));
  if (special && !(special.allowance && allow.includes(special.allowance))) {
    return { message: `${what} ${shown} ${special.why}: peers cannot reach this node by it`, fix: fixFor(what, special.allowance) };
  }
  if (labels.length === 1) {
    return {
      message: `${what} ${shown} is a single-label name, which each resolver completes with its own search domains`,
      fix: `use the node's fully qualified name, e.g. "wg.coop-a.net:51820"`,
    };
  }
  return undefined;
}

function endpointIssue(endpoint: string, allow: readonly UnderlayAllowance[], options: EndpointOptions = {}): Issue | undefined {
  const what = options.what ?? "endpoint";
  const shown = escapeShort(endpoint, 80);
  const parsed = parseEndpoint(endpoint);
  if (!parsed)
    return { message: `${what} ${shown} is not "host:port" (IPv6 as "[addr]:port")`, fix: `set ${what} to e.g. ${ENDPOINT_EXAMPLE}` };
  return isIP(parsed.host) ? addressIssue(parsed.host, allow, options, `${what} ${shown}`) : hostNameIssue(parsed.host, allow, what, shown);
}

/**
 * Why peers must not send to `endpoint` ("host:port" of a descriptor or a stack config), or
 * undefined. It must be a global unicast address, or a documentation (labs) or private
 * address where the federation allows them, and never the federation's mesh; a host name
 * must be a fully qualified name outside the special-use domains (localhost, .local, .test,
 * .example, .internal, .invalid, .onion, .arpa, ...). What a name resolves to is checked
 * where it is resolved (underlayAddressProblem).
 */
export function endpointProblem(endpoint: string, allow: readonly UnderlayAllowance[], options: EndpointOptions = {}): string | undefined {
  return joined(endpointIssue(endpoint, allow, options));
}

/**
 * The stack's own `boreal:endpoint` against the federation's underlay setting, as a config
 * problem for `pulumi up` (the lead calls it once the federation is verified).
 */
export function stackEndpointProblem(endpoint: string, settings: UnderlaySettings): ConfigProblem | undefined {
  const issue = endpointIssue(endpoint, underlayAllowances(settings), { what: "boreal:endpoint", mesh: settings.mesh });
  return issue ? { source: "stack config", key: "boreal:endpoint", message: issue.message, fix: issue.fix } : undefined;
}

/** What of a federation's settings the address checks read. */
export interface UnderlaySettings {
  mesh: { ipv4: string; ipv6: string };
  underlay?: { allow?: readonly UnderlayAllowance[] };
}

export function underlayAllowances(settings: UnderlaySettings): readonly UnderlayAllowance[] {
  return settings.underlay?.allow ?? [];
}

/**
 * The exporter a descriptor names must be the node's own mesh address (IPv4, or IPv6 in
 * brackets) at the kit's exporter port: every peer's label checks and monitoring send HTTP
 * there.
 */
export function exporterProblem(
  descriptor: { exporter: string; mesh: { ipv4: string; ipv6: string }; node?: string },
  port = EXPORTER_PORT,
): string | undefined {
  const expected = `${descriptor.mesh.ipv4}:${port}`;
  const whose = descriptor.node ? `node ${escapeShort(descriptor.node, 40)}'s` : "the node's";
  const fix = `set exporter to "${escapeShort(expected, 60)}" (${whose} mesh IPv4 address and the kit's exporter port), as pulumi up writes it`;
  const shown = escapeShort(descriptor.exporter, 80);
  const parsed = parseEndpoint(descriptor.exporter);
  if (!parsed) return joined({ message: `exporter ${shown} is not "host:port"`, fix });
  const host = addressValue(parsed.host);
  const mesh4 = addressValue(descriptor.mesh.ipv4);
  const mesh6 = addressValue(descriptor.mesh.ipv6);
  const own = host !== undefined && [mesh4, mesh6].some((m) => m !== undefined && m.family === host.family && m.value === host.value);
  if (!own)
    return joined({
      message: `exporter ${shown} is not ${whose} own mesh address (${escapeShort(descriptor.mesh.ipv4, 60)} or [${escapeShort(descriptor.mesh.ipv6, 60)}]): peers' checks and monitoring would send HTTP to it`,
      fix,
    });
  if (parsed.port !== port) return joined({ message: `exporter ${shown} is not at the kit's exporter port ${port}`, fix });
  return undefined;
}

/**
 * A mesh address must be a usable host of its prefix: inside it, not its network address
 * (IPv6: the subnet-router anycast address), not the IPv4 broadcast address (/31 and /32
 * excepted, RFC 3021).
 */
export function meshHostProblem(ip: string, prefix: string | Cidr, what = "mesh address"): string | undefined {
  const cidr = typeof prefix === "string" ? tryCidr(prefix) : prefix;
  const shown = escapeShort(ip, 60);
  if (!cidr)
    return joined({
      message: `${what} ${shown} cannot be checked: ${escapeShort(String(prefix), 60)} is not a prefix`,
      fix: "correct the prefix",
    });
  const fix = `give ${what} a host address inside ${cidr.text}, neither its first nor (IPv4) its last address`;
  const parsed = addressValue(ip);
  if (!parsed || parsed.family !== cidr.family || /%/.test(ip))
    return joined({ message: `${what} ${shown} is not an IPv${cidr.family} address`, fix });
  if (!within(cidr, parsed.value)) return joined({ message: `${what} ${shown} is outside ${cidr.text}`, fix });
  const width = cidr.family === 4 ? 32 : 128;
  const hostBits = width - cidr.bits;
  if (cidr.family === 4 && hostBits <= 1) return undefined;
  if (cidr.family === 6 && hostBits === 0) return undefined;
  if (parsed.value === cidr.base) return joined({ message: `${what} ${shown} is the network address of ${cidr.text}, not a host`, fix });
  if (cidr.family === 4 && parsed.value === cidr.base + (1n << BigInt(hostBits)) - 1n) {
    return joined({ message: `${what} ${shown} is the broadcast address of ${cidr.text}, not a host`, fix });
  }
  return undefined;
}

const CURVE25519_P = 2n ** 255n - 19n;
/**
 * u-coordinates of the X25519 points of small order (libsodium's blacklist, reduced): a
 * public key on them makes every shared secret one of a handful of known values.
 */
const SMALL_ORDER_U: ReadonlyMap<bigint, string> = new Map([
  [0n, "0 (order 4)"],
  [1n, "1 (order 1)"],
  [325606250916557431795983626356110631294008115727848805560023387167927233504n, "of order 8"],
  [39382357235489614581723060781553021112529911719440698176882885853963445705823n, "of order 8"],
  [CURVE25519_P - 1n, "p - 1 (order 2)"],
]);

const WG_KEY_FIX = "paste the output of `wg pubkey` on the node (44 characters ending in '=')";

/**
 * A WireGuard public key (base64) that peers can use: 32 bytes, not all zero, not a point
 * of small order (as X25519 reads it: the top bit ignored, values from p up reduced, so
 * every encoding of those points is caught).
 */
export function wireguardKeyProblem(base64: string, what = "publicKey"): string | undefined {
  return joined(wireguardKeyIssue(base64, what));
}

/** wireguardKeyProblem's message and fix apart, for a schema (src/core/values/fields.ts). */
export function wireguardKeyIssue(base64: string, what = "publicKey"): { message: string; fix: string } | undefined {
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(base64))
    return { message: `${what} is not a WireGuard key (32 bytes, base64)`, fix: WG_KEY_FIX };
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 32) return { message: `${what} is not a WireGuard key (32 bytes, base64)`, fix: WG_KEY_FIX };
  if (bytes.every((b) => b === 0)) return { message: `${what} is all zero bytes, not a key`, fix: WG_KEY_FIX };
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(i === 31 ? bytes[i] & 0x7f : bytes[i]);
  const order = SMALL_ORDER_U.get(u % CURVE25519_P);
  if (order !== undefined) {
    return {
      message: `${what} is a Curve25519 point of small order (u = ${order}): every shared secret with it is predictable`,
      fix: WG_KEY_FIX,
    };
  }
  return undefined;
}

/**
 * Where the label's checks may connect, from the verified federation: the underlay by its
 * setting, the mesh inside its prefixes. `loopback` is for tests only (listeners on this
 * machine); no federation sets it.
 */
export interface ConnectScope {
  allow: readonly UnderlayAllowance[];
  mesh: { ipv4: string; ipv6: string };
  loopback?: boolean;
}

export function connectScope(settings: UnderlaySettings): ConnectScope {
  return { allow: underlayAllowances(settings), mesh: settings.mesh };
}

/** An address to connect to over the underlay (`what` names where it came from in the message). */
export function underlayAddressProblem(address: string, scope: ConnectScope, what = "endpoint"): string | undefined {
  return joined(
    addressIssue(address, scope.allow, { what, mesh: scope.mesh, loopback: scope.loopback }, `${what} ${escapeShort(address, 60)}`),
  );
}

/**
 * What a descriptor's endpoint name resolved to, before anything connects to any of it:
 * every address must pass as an endpoint would (a name that also resolves to loopback is
 * refused whole, whichever address a connection would take).
 */
export function resolvedEndpointProblem(endpoint: string, addresses: readonly string[], scope: ConnectScope): string | undefined {
  const shown = escapeShort(endpoint, 80);
  const host = escapeShort(parseEndpoint(endpoint)?.host ?? endpoint, 80);
  if (addresses.length === 0)
    return joined({ message: `endpoint ${shown} resolves to no address`, fix: `publish an A or AAAA record for ${host}` });
  for (const address of addresses) {
    const issue = addressIssue(
      address,
      scope.allow,
      { mesh: scope.mesh, loopback: scope.loopback },
      `endpoint ${shown} resolves to ${escapeShort(address, 60)}, which`,
    );
    if (issue) return joined({ message: issue.message, fix: `make ${host} resolve only to the node's public addresses, or ${issue.fix}` });
  }
  return undefined;
}

/** A descriptor's endpoint, before it is resolved or connected to. */
export function underlayEndpointProblem(endpoint: string, scope: ConnectScope, what = "endpoint"): string | undefined {
  return endpointProblem(endpoint, scope.allow, { what, mesh: scope.mesh, loopback: scope.loopback });
}

/** A mesh address, before anything connects to it: a usable host of the federation's mesh. */
export function meshAddressProblem(address: string, scope: ConnectScope, what = "mesh address"): string | undefined {
  const parsed = addressValue(address);
  if (scope.loopback && parsed && addressScope(address)?.scope === "loopback") return undefined;
  const prefix = parsed?.family === 6 ? scope.mesh.ipv6 : scope.mesh.ipv4;
  return meshHostProblem(address, prefix, what);
}

/** Where to scrape a peer's exporter: its own mesh address at the exporter port, or why not at all. */
export function exporterTarget(
  descriptor: { exporter: string; mesh: { ipv4: string; ipv6: string }; node?: string },
  scope: ConnectScope,
  port = EXPORTER_PORT,
): { host: string; port: number } | { problem: string } {
  const problem = exporterProblem(descriptor, port);
  if (problem) return { problem };
  const host = parseEndpoint(descriptor.exporter)!.host;
  // The address is taken from the verified mesh address it equals, never from the exporter text.
  const address = addressValue(host)!.family === 4 ? descriptor.mesh.ipv4 : descriptor.mesh.ipv6;
  const meshProblem = meshAddressProblem(address, scope, "exporter");
  return meshProblem ? { problem: meshProblem } : { host: address, port };
}
