// Ports: the kit's own services' port numbers, and TCP/UDP port ranges as members write
// them ("tcp/443", "udp/51000-51010").

/** The node exporter, Prometheus, Alertmanager and the blackbox exporter, as Debian's packages listen. */
/**
 * The UDP port every node takes peers' nudges on (src/core/node/nudge.ts): one port for the
 * whole federation, so a sender needs no descriptor field to find it.
 */
export const NUDGE_PORT = 51899;

export const EXPORTER_PORT = 9100;
export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
export const BLACKBOX_PORT = 9115;

export type Protocol = "tcp" | "udp";

/** "tcp/443" → { tcp, 443, 443 }; "udp/51000-51010" → { udp, 51000, 51010 }. */
export interface PortRange {
  protocol: Protocol;
  first: number;
  last: number;
}

const PORT_SPEC = /^(tcp|udp)\/(\d{1,5})(?:-(\d{1,5}))?$/;

/** Parses "tcp/443" or "udp/51000-51010" (any case); undefined if it is neither. Bounds are not checked. */
export function parsePortSpec(text: string): PortRange | undefined {
  const m = PORT_SPEC.exec(text.trim().toLowerCase());
  if (!m) return undefined;
  const first = Number(m[2]);
  return { protocol: m[1] as Protocol, first, last: m[3] === undefined ? first : Number(m[3]) };
}

export function portSpecText(range: PortRange): string {
  return `${range.protocol}/${range.first}${range.last === range.first ? "" : `-${range.last}`}`;
}

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.protocol === b.protocol && a.first <= b.last && b.first <= a.last;
}

/** "tcp/9000-9099 and tcp/9101-9200": the range without the given ports. */
export function splitAround(range: PortRange, ports: number[]): string {
  const parts: PortRange[] = [];
  let first = range.first;
  const inside = ports.filter((p) => p >= range.first && p <= range.last);
  for (const port of [...new Set(inside)].sort((a, b) => a - b)) {
    if (port > first) parts.push({ protocol: range.protocol, first, last: port - 1 });
    first = port + 1;
  }
  if (first <= range.last) parts.push({ protocol: range.protocol, first, last: range.last });
  const texts = parts.map(portSpecText);
  return texts.length <= 1 ? texts.join("") : `${texts.slice(0, -1).join(", ")} and ${texts[texts.length - 1]}`;
}
