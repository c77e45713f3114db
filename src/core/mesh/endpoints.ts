// A node's WireGuard endpoints: one, or an IPv4 and an IPv6 one (dual stack). Which of a
// peer's endpoints this node sends to: a family both have, IPv6 first; the others are kept as
// fallbacks that the node tries when a handshake does not come (wg-endpoints).
import { formatIPv4, formatIPv6, isIP, parseIPv4, parseIPv6 } from "../values/ip";
import { parseEndpoint } from "../values/scope";

export type Family = 4 | 6;

/** An endpoint's family, or undefined for a host name (WireGuard resolves it: either family). */
export function endpointFamily(endpoint: string): Family | undefined {
  const host = parseEndpoint(endpoint)?.host;
  if (host === undefined) return undefined;
  const family = isIP(host);
  return family === 0 ? undefined : family;
}

/**
 * Why a list of endpoints cannot be one node's, or undefined: one endpoint of any kind, or two
 * IP literals of different families (WireGuard listens on both with one socket pair).
 */
export function endpointListProblem(endpoints: readonly string[]): { message: string; fix: string } | undefined {
  const dual = 'list one IPv4 and one IPv6 endpoint, e.g. ["203.0.113.10:51820", "[2001:db8::10]:51820"]';
  if (endpoints.length === 0) return { message: "lists no endpoint", fix: dual };
  if (endpoints.length === 1) return undefined;
  if (endpoints.length > 2) return { message: `lists ${endpoints.length} endpoints; a node has one per address family`, fix: dual };
  const families = endpoints.map(endpointFamily);
  if (families.includes(undefined)) {
    return {
      message: "lists a host name beside another endpoint",
      fix: `give the host name alone (its A and AAAA records make it dual-stack), or ${dual}`,
    };
  }
  if (families[0] === families[1]) {
    return { message: `lists two IPv${families[0]} endpoints; a node has one per address family`, fix: dual };
  }
  return undefined;
}

/** The families a node can send and receive on: those of its endpoints (a host name: both). */
export function nodeFamilies(endpoints: readonly string[]): Set<Family> {
  const families = endpoints.map(endpointFamily);
  return families.includes(undefined) ? new Set<Family>([4, 6]) : new Set(families as Family[]);
}

/**
 * The peer's endpoints this node can use, best first: IPv6 before IPv4, a host name last
 * (its family is the resolver's choice). Empty when the two share no family: an IPv4-only and
 * an IPv6-only node cannot reach each other, so neither sends (docs/explanation/network.md).
 */
export function reachableEndpoints(own: readonly string[], peer: readonly string[]): string[] {
  const families = nodeFamilies(own);
  const rank = (endpoint: string) => ({ 6: 0, 4: 1, none: 2 })[endpointFamily(endpoint) ?? "none"];
  return peer
    .filter((endpoint) => {
      const family = endpointFamily(endpoint);
      return family === undefined || families.has(family);
    })
    .sort((a, b) => rank(a) - rank(b))
    .map(canonicalEndpoint);
}

/** A node's endpoints as its descriptor gives them: `endpoints` when it is dual-stack, else `endpoint`. */
export function descriptorEndpoints(node: { endpoint: string; endpoints?: readonly string[] }): string[] {
  return node.endpoints && node.endpoints.length > 0 ? [...node.endpoints] : [node.endpoint];
}

/**
 * A peer silent this long has no working path: a session with traffic (the persistent
 * keepalive) shakes hands every 120 s, and WireGuard drops its keys at 180 s.
 */
export const FALLBACK_STALE_SECONDS = 150;
/** After a change of endpoint (or the silence first seen), how long the new one is given. */
export const FALLBACK_SETTLE_SECONDS = 30;

/** An endpoint as `wg show` prints it (IPv6 compressed, lower case), so the node can find it in its list. */
export function canonicalEndpoint(endpoint: string): string {
  const parsed = parseEndpoint(endpoint);
  if (!parsed) return endpoint;
  const family = isIP(parsed.host);
  if (family === 6) return `[${formatIPv6(parseIPv6(parsed.host))}]:${parsed.port}`;
  return family === 4 ? `${formatIPv4(parseIPv4(parsed.host))}:${parsed.port}` : endpoint;
}
