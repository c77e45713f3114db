// The one address allocator: a node's mesh addresses share one host index in both prefixes.
import type { Federation } from "../config/registry";
import { BorealConfigError } from "../config/errors";
import { Cidr, contains, formatAddress, parseAddress, parseCidr } from "./ip";

export interface MeshAddresses {
  ipv4: string;
  ipv6: string;
}

export interface AllocationRequest {
  node: string;
  override?: { ipv4?: string; ipv6?: string };
}

/**
 * Mesh addresses for a node: the override where given, else the node's existing
 * allocation in the registry, else the lowest host index free in both prefixes.
 */
export function allocateMeshAddresses(federation: Federation, request: AllocationRequest): MeshAddresses {
  const v4 = parseCidr(federation.settings.mesh.ipv4);
  const v6 = parseCidr(federation.settings.mesh.ipv6);
  const existing = federation.nodes.find((n) => n.node === request.node);
  const others = federation.nodes.filter((n) => n.node !== request.node);
  const taken4 = new Set(others.map((n) => parseAddress(n.mesh.ipv4, 4)));
  const taken6 = new Set(others.map((n) => parseAddress(n.mesh.ipv6, 6)));

  const fallback = existing?.mesh ?? lowestFree(v4, v6, taken4, taken6);
  const chosen = {
    ipv4: request.override?.ipv4 ?? fallback.ipv4,
    ipv6: request.override?.ipv6 ?? fallback.ipv6,
  };
  checkChosen(chosen.ipv4, 4, v4, taken4, "boreal:meshAddress.ipv4");
  checkChosen(chosen.ipv6, 6, v6, taken6, "boreal:meshAddress.ipv6");
  return { ipv4: formatAddress(parseAddress(chosen.ipv4, 4), 4), ipv6: formatAddress(parseAddress(chosen.ipv6, 6), 6) };
}

function lowestFree(v4: Cidr, v6: Cidr, taken4: Set<bigint>, taken6: Set<bigint>): MeshAddresses {
  // Index 0 is the network address and the last index of the IPv4 prefix its broadcast.
  const size = 1n << BigInt(32 - v4.bits);
  for (let index = 1n; index < size - 1n; index++) {
    const a4 = v4.base + index;
    const a6 = v6.base + index;
    if (!taken4.has(a4) && !taken6.has(a6)) return { ipv4: formatAddress(a4, 4), ipv6: formatAddress(a6, 6) };
  }
  throw new BorealConfigError([
    {
      source: "registry/federation.yaml",
      key: "mesh.ipv4",
      message: `no free mesh address left in ${v4.text} (${Number(size) - 2} nodes registered)`,
      fix: "widen mesh.ipv4 (every node must then re-apply), or remove descriptors of nodes that left",
    },
  ]);
}

function checkChosen(text: string, family: 4 | 6, prefix: Cidr, taken: Set<bigint>, key: string): void {
  const value = parseAddress(text, family);
  if (!contains(prefix, value)) {
    throw new BorealConfigError([
      { source: "stack config", key, message: `${text} is outside the federation's ${prefix.text}`, fix: `pick an address inside ${prefix.text}, or remove the override` },
    ]);
  }
  if (taken.has(value)) {
    throw new BorealConfigError([
      { source: "stack config", key, message: `${text} is already used by another node`, fix: "remove the override to get the lowest free address, or pick a free one" },
    ]);
  }
}
