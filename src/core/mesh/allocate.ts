// The one address allocator: a node's mesh addresses share one host index in both of the
// federation's prefixes, taken from its member's share.
import type { Federation, FederationVersion } from "../registry/format";
import { BorealConfigError } from "../values/problems";
import { Cidr, contains, formatAddress, parseAddress, parseCidr } from "../values/ip";
import { meshHostProblem } from "../values/scope";

export interface MeshAddresses {
  ipv4: string;
  ipv6: string;
}

export interface AllocationRequest {
  node: string;
  member: string;
  override?: { ipv4?: string; ipv6?: string };
}

/**
 * Mesh addresses for a node: the override where given, else the node's existing
 * allocation in the registry, else the lowest host index of the member's share free in
 * both prefixes.
 */
export function allocateMeshAddresses(federation: Federation, request: AllocationRequest): MeshAddresses {
  const settings = federation.settings;
  const share = memberShare(settings, request.member);
  if (!share) {
    throw new BorealConfigError([
      {
        source: "stack config",
        key: "boreal:member",
        message: `member ${request.member} is not in federation version ${settings.version}`,
        fix: `check the spelling, or have the federation admit ${request.member} first (boreal registry admit)`,
      },
    ]);
  }
  const fed4 = parseCidr(settings.mesh.ipv4);
  const fed6 = parseCidr(settings.mesh.ipv6);
  const existing = federation.nodes.find((n) => n.node === request.node && n.member === request.member);
  const others = federation.nodes.filter((n) => n.node !== request.node);
  const taken4 = new Set(others.map((n) => parseAddress(n.mesh.ipv4, 4)));
  const taken6 = new Set(others.map((n) => parseAddress(n.mesh.ipv6, 6)));

  // Looked for only when an address is not given: a full override needs no free index.
  const given = request.override ?? {};
  const fallback =
    given.ipv4 && given.ipv6 ? undefined : (existing?.mesh ?? lowestFree(share.ipv4, fed4, fed6, taken4, taken6, request.member));
  const chosen = { ipv4: given.ipv4 ?? fallback!.ipv4, ipv6: given.ipv6 ?? fallback!.ipv6 };
  checkChosen(chosen.ipv4, 4, share.ipv4, fed4, taken4, "boreal:meshAddress.ipv4", request.member);
  checkChosen(chosen.ipv6, 6, share.ipv6, fed6, taken6, "boreal:meshAddress.ipv6", request.member);
  return { ipv4: formatAddress(parseAddress(chosen.ipv4, 4), 4), ipv6: formatAddress(parseAddress(chosen.ipv6, 6), 6) };
}

function lowestFree(share: Cidr, fed4: Cidr, fed6: Cidr, taken4: Set<bigint>, taken6: Set<bigint>, member: string): MeshAddresses {
  const size = 1n << BigInt(32 - share.bits);
  const broadcast = fed4.base + (1n << BigInt(32 - fed4.bits)) - 1n;
  for (let a4 = share.base; a4 < share.base + size; a4++) {
    // The federation prefix's network and broadcast addresses are never a node's.
    if (a4 === fed4.base || a4 === broadcast) continue;
    const a6 = fed6.base + (a4 - fed4.base);
    if (!taken4.has(a4) && !taken6.has(a6)) return { ipv4: formatAddress(a4, 4), ipv6: formatAddress(a6, 6) };
  }
  throw new BorealConfigError([
    {
      source: "federation",
      key: `members.${member}.mesh`,
      message: `no free mesh address left in member ${member}'s share ${share.text}`,
      fix: "have the federation give the member a larger share (a new federation version), or let a node of the member leave",
    },
  ]);
}

function checkChosen(text: string, family: 4 | 6, share: Cidr, federation: Cidr, taken: Set<bigint>, key: string, member: string): void {
  let value: bigint;
  try {
    value = parseAddress(text, family);
  } catch {
    const example = family === 4 ? "100.64.0.1" : "fd42:b0:ea1::1";
    throw new BorealConfigError([
      { source: "stack config", key, message: `${text} is not an IPv${family} address`, fix: `write it as e.g. "${example}"` },
    ]);
  }
  if (!contains(share, value)) {
    throw new BorealConfigError([
      {
        source: "stack config",
        key,
        message: `${text} is outside member ${member}'s mesh share ${share.text}`,
        fix: `pick an address inside ${share.text}, or remove the override`,
      },
    ]);
  }
  if (taken.has(value)) {
    throw new BorealConfigError([
      {
        source: "stack config",
        key,
        message: `${text} is already used by another node`,
        fix: "remove the override to get the lowest free address, or pick a free one",
      },
    ]);
  }
  // Peers refuse a descriptor whose mesh address is no usable host: say it here, before any change.
  const unusable = meshHostProblem(text, federation);
  if (unusable)
    throw new BorealConfigError([
      {
        source: "stack config",
        key,
        message: unusable.split("; fix: ")[0],
        fix: "remove the override to get the lowest free address, or pick another host address",
      },
    ]);
}

/** A member's mesh share: its IPv4 prefix, and the same host indexes in the federation's IPv6 /48. */
export function memberShare(federation: FederationVersion, member: string) {
  const m = federation.members.find((x) => x.name === member);
  if (!m) return undefined;
  const v4 = parseCidr(m.mesh);
  const fed4 = parseCidr(federation.mesh.ipv4);
  const fed6 = parseCidr(federation.mesh.ipv6);
  const base6 = fed6.base + (v4.base - fed4.base);
  const bits6 = 128 - (32 - v4.bits);
  return { ipv4: v4, ipv6: { family: 6 as const, base: base6, bits: bits6, text: `${formatAddress(base6, 6)}/${bits6}` } };
}
