// Minimal IPv4/IPv6 arithmetic for the mesh ranges: these patterns validate (the ones
// Node's `net.isIP` uses, so the core needs no network module), BigInt computes.

const V4_SEGMENT = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const V4 = `(?:${V4_SEGMENT}\\.){3}${V4_SEGMENT}`;
const V6_SEGMENT = "(?:[0-9a-fA-F]{1,4})";
const IPV4_PATTERN = new RegExp(`^${V4}$`);
const IPV6_PATTERN = new RegExp(
  "^(?:" +
    `(?:${V6_SEGMENT}:){7}(?:${V6_SEGMENT}|:)|` +
    `(?:${V6_SEGMENT}:){6}(?:${V4}|:${V6_SEGMENT}|:)|` +
    `(?:${V6_SEGMENT}:){5}(?::${V4}|(?::${V6_SEGMENT}){1,2}|:)|` +
    `(?:${V6_SEGMENT}:){4}(?:(?::${V6_SEGMENT}){0,1}:${V4}|(?::${V6_SEGMENT}){1,3}|:)|` +
    `(?:${V6_SEGMENT}:){3}(?:(?::${V6_SEGMENT}){0,2}:${V4}|(?::${V6_SEGMENT}){1,4}|:)|` +
    `(?:${V6_SEGMENT}:){2}(?:(?::${V6_SEGMENT}){0,3}:${V4}|(?::${V6_SEGMENT}){1,5}|:)|` +
    `(?:${V6_SEGMENT}:){1}(?:(?::${V6_SEGMENT}){0,4}:${V4}|(?::${V6_SEGMENT}){1,6}|:)|` +
    `(?::(?:(?::${V6_SEGMENT}){0,5}:${V4}|(?::${V6_SEGMENT}){1,7}|:))` +
    ")$",
);

export function isIPv4(text: string): boolean {
  return IPV4_PATTERN.test(text);
}

/**
 * As Node's net.isIPv6 (an embedded IPv4 tail is accepted), except that a zone ("%eth0") is
 * refused: it names a link, not an address a peer or a config of the kit can route to.
 */
export function isIPv6(text: string): boolean {
  return !text.includes("%") && IPV6_PATTERN.test(text);
}

/** 4, 6, or 0 when `text` is no IP address (as Node's net.isIP). */
export function isIP(text: string): 0 | 4 | 6 {
  return isIPv4(text) ? 4 : isIPv6(text) ? 6 : 0;
}

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
  text: string;
}

export function parseIPv4(text: string): bigint {
  if (!isIPv4(text)) throw new Error(`not an IPv4 address: ${text}`);
  return text.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

export function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 255n)).join(".");
}

export function parseIPv6(text: string): bigint {
  if (!isIPv6(text)) throw new Error(`not an IPv6 address: ${text}`);
  // An IPv4 tail ("::ffff:192.0.2.1") is the last two groups.
  const v4 = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(2).map(Number);
    text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const missing = 8 - headParts.length - tailParts.length;
  const groups = tail === undefined ? headParts : [...headParts, ...Array(missing).fill("0"), ...tailParts];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952 form: lowercase, longest run of zero groups compressed. */
export function formatIPv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt((7 - i) * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLen).join(":");
  return `${left}::${right}`;
}

export function parseCidr(text: string): Cidr {
  const [addr, lenText, extra] = text.split("/");
  if (extra !== undefined || lenText === undefined || !/^\d+$/.test(lenText)) {
    throw new Error(`not a CIDR prefix (address/length): ${text}`);
  }
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  if (!family) throw new Error(`not a CIDR prefix (address/length): ${text}`);
  const width = family === 4 ? 32 : 128;
  const bits = Number(lenText);
  if (bits > width) throw new Error(`prefix length /${bits} is longer than ${width} bits: ${text}`);
  const value = family === 4 ? parseIPv4(addr) : parseIPv6(addr);
  const hostMask = (1n << BigInt(width - bits)) - 1n;
  if ((value & hostMask) !== 0n) throw new Error(`${text} has host bits set`);
  return { family, base: value, bits, text };
}

/** "100.64.0.40/28" → "100.64.0.32/28": the prefix of that length holding the address; undefined when it is not address/length. */
export function alignedPrefix(text: string): string | undefined {
  const [addr, lenText, extra] = text.split("/");
  if (extra !== undefined || lenText === undefined || !/^\d+$/.test(lenText)) return undefined;
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  const bits = Number(lenText);
  if (!family || bits > (family === 4 ? 32 : 128)) return undefined;
  const hostMask = (1n << BigInt((family === 4 ? 32 : 128) - bits)) - 1n;
  const value = family === 4 ? parseIPv4(addr) : parseIPv6(addr);
  return `${formatAddress(value & ~hostMask, family)}/${bits}`;
}

export function width(cidr: Cidr): number {
  return cidr.family === 4 ? 32 : 128;
}

export function contains(cidr: Cidr, address: bigint): boolean {
  const shift = BigInt(width(cidr) - cidr.bits);
  return address >> shift === cidr.base >> shift;
}

export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.bits >= outer.bits && contains(outer, inner.base);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (contains(a, b.base) || contains(b, a.base));
}

export function parseAddress(text: string, family: 4 | 6): bigint {
  return family === 4 ? parseIPv4(text) : parseIPv6(text);
}

export function formatAddress(value: bigint, family: 4 | 6): string {
  return family === 4 ? formatIPv4(value) : formatIPv6(value);
}
