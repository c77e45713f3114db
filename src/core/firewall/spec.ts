// boreal:firewall: true/false (kept from the first releases) or an object
// { enabled, allow, policy }. Every form comes out as the object, in a canonical form that
// parses again to itself (the node's agent reads the spec back from JSON).
import { z } from "zod";
import { withFix } from "../values/problems";
import { typeError } from "../values/fields";
import {
  ALERTMANAGER_PORT,
  EXPORTER_PORT,
  parsePortSpec,
  PortRange,
  portSpecText,
  PROMETHEUS_PORT,
  rangesOverlap,
  splitAround,
} from "../values/ports";
import { formatAddress, isIP, parseAddress } from "../values/ip";

/** Services of the kit that only the mesh may reach, whatever the member's config says. */
export const MESH_ONLY_SERVICES: readonly (PortRange & { description: string })[] = [
  { description: "node exporter", protocol: "tcp", first: EXPORTER_PORT, last: EXPORTER_PORT },
  { description: "Prometheus", protocol: "tcp", first: PROMETHEUS_PORT, last: PROMETHEUS_PORT },
  { description: "Alertmanager", protocol: "tcp", first: ALERTMANAGER_PORT, last: ALERTMANAGER_PORT },
];

const KEY = "boreal:firewall";
const ENTRY_EXAMPLES = '"tcp/443", "udp/51000-51010", or { port: "tcp/993", from: ["198.51.100.0/24"] }';
const SET_ALLOW = `pulumi config set --path '${KEY}.allow[0]' tcp/443`;

/** One port or a range, by protocol: "tcp/443", "udp/51000-51010". Comes out lowercase, a one-port range as one port. */
const portSpec = z
  .string({
    error: (issue) =>
      typeof issue.input === "number"
        ? withFix(`${issue.input} names no protocol`, `write it as "tcp/${issue.input}" or "udp/${issue.input}"`)
        : issue.input === undefined
          ? withFix("has no port", 'set it, e.g. port: "tcp/993"')
          : withFix("must be a port", `write it as ${ENTRY_EXAMPLES}`),
  })
  .transform((text, ctx) => {
    const fail = (message: string, fix: string) => {
      ctx.issues.push({ code: "custom", message: withFix(message, fix), input: text });
      return z.NEVER;
    };
    const range = parsePortSpec(text);
    if (!range) return fail(`"${text}" is not a port`, 'write "tcp/PORT" or "udp/FIRST-LAST", e.g. "tcp/443", "udp/51000-51010"');
    const outside = [range.first, range.last].find((p) => p < 1 || p > 65535);
    if (outside !== undefined) return fail(`port ${outside} is outside 1-65535`, "use ports between 1 and 65535");
    if (range.last < range.first) {
      return fail(`"${text}" runs backwards`, `write the lower port first: ${range.protocol}/${range.last}-${range.first}`);
    }
    const meshOnly = MESH_ONLY_SERVICES.filter((s) => rangesOverlap(range, s)).sort((a, b) => a.first - b.first);
    if (meshOnly.length > 0) {
      const [first] = meshOnly;
      const port = `${first.protocol}/${first.first}`;
      if (range.first === range.last)
        return fail(
          `${port} is the ${first.description} port, which only the mesh (wg0) may reach`,
          "remove it: peers reach it over WireGuard, and it must never face the underlay",
        );
      const ports = meshOnly.map((s) => `${s.protocol}/${s.first} (${s.description})`).join(", ");
      return fail(
        `${text.trim()} includes ${ports}, which only the mesh (wg0) may reach`,
        `leave ${meshOnly.length === 1 ? "it" : "them"} out of the range: ${splitAround(
          range,
          meshOnly.map((s) => s.first),
        )}`,
      );
    }
    return portSpecText(range);
  });

/** An address or prefix that may connect; comes out canonical (RFC 5952 for IPv6, no /32 or /128 on one address). */
const source = z
  .string({ error: withFix("must be an address or prefix", 'write e.g. "198.51.100.0/24" or "2001:db8::/32"') })
  .transform((text, ctx) => {
    const fail = (message: string, fix: string) => {
      ctx.issues.push({ code: "custom", message: withFix(message, fix), input: text });
      return z.NEVER;
    };
    const [address, length, extra] = text.trim().split("/");
    const family = isIP(address);
    if ((family !== 4 && family !== 6) || extra !== undefined) {
      return fail(`"${text}" is not an IPv4 or IPv6 address or prefix`, 'write e.g. "198.51.100.0/24", "2001:db8::/32", or one address');
    }
    if (family === 6 && address.includes("."))
      return fail(`"${text}" is an IPv4 address written as IPv6`, "write the IPv4 address or prefix itself");
    const width = family === 4 ? 32 : 128;
    if (length !== undefined && (!/^\d{1,3}$/.test(length) || Number(length) > width)) {
      return fail(`"/${length}" is not an IPv${family} prefix length`, `use a length between 0 and ${width}`);
    }
    const bits = length === undefined ? width : Number(length);
    const value = parseAddress(address, family);
    const network = width === bits ? value : (value >> BigInt(width - bits)) << BigInt(width - bits);
    if (network !== value) {
      return fail(
        `${text} has host bits set`,
        `write the network, ${formatAddress(network, family)}/${bits}, or the one address ${formatAddress(value, family)}`,
      );
    }
    return bits === width ? formatAddress(value, family) : `${formatAddress(value, family)}/${bits}`;
  });

function sourceRange(text: string): { family: 4 | 6; first: bigint; last: bigint } {
  const [address, length] = text.split("/");
  const family = text.includes(":") ? 6 : 4;
  const width = family === 4 ? 32 : 128;
  const first = parseAddress(address, family);
  const hostBits = BigInt(width - (length === undefined ? width : Number(length)));
  return { family, first, last: first + (1n << hostBits) - 1n };
}

const sources = z
  .array(source, { error: typeError("from", "a list of addresses or prefixes", 'write e.g. from: ["198.51.100.0/24", "2001:db8::/32"]') })
  .min(1, withFix("lists no source", "remove from to open the port to every address, or list the prefixes that may connect"))
  .superRefine(
    (list, ctx) => {
      list.forEach((text, i) => {
        // A source that failed its own check is reported already.
        if (typeof text !== "string") return;
        const range = sourceRange(text);
        const earlier = list.findIndex((other, j) => {
          if (j >= i || typeof other !== "string") return false;
          const o = sourceRange(other);
          return o.family === range.family && o.first <= range.last && range.first <= o.last;
        });
        if (earlier < 0) return;
        ctx.addIssue({
          code: "custom",
          path: [i],
          message:
            list[earlier] === text
              ? withFix(`lists ${text} twice (also from[${earlier}])`, "keep it once")
              : withFix(`${text} overlaps ${list[earlier]} (from[${earlier}])`, "keep the wider prefix only"),
        });
      });
      // Also when another source failed its own check: every problem is reported at once.
    },
    { when: (payload) => Array.isArray(payload.value) },
  );

const allowObject = z.strictObject(
  {
    port: portSpec,
    from: sources.optional(),
    description: z
      .string({ error: withFix("must be a short text", 'e.g. description: "mail (IMAPS)"') })
      // It becomes an nftables comment: at most 128 bytes with its "allow: " prefix.
      .refine(
        (text) => /^[^"\\\p{Cc}]{1,64}$/u.test(text) && Buffer.byteLength(text) <= 100,
        withFix("must be 1 to 64 characters (100 bytes), without quotes, backslashes or line breaks", 'e.g. description: "mail (IMAPS)"'),
      )
      .optional(),
  },
  { error: withFix("must be a port or an object", `write it as ${ENTRY_EXAMPLES}`) },
);

export type AllowEntry = z.output<typeof allowObject>;

/**
 * An entry: "tcp/443" or { port, from?, description? }. The string form is checked as a
 * port at the entry's own key (boreal:firewall.allow[2], not …allow[2].port).
 */
const allowEntry = z.unknown().transform((input, ctx): AllowEntry => {
  const asPort = typeof input === "string" || typeof input === "number";
  const parsed = asPort ? portSpec.safeParse(input) : allowObject.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.issues.push({ ...issue, input: issue.input } as (typeof ctx.issues)[number]);
    return z.NEVER;
  }
  return typeof parsed.data === "string" ? { port: parsed.data } : parsed.data;
});

const POLICY_FIX =
  'set "strict" (the default: the kit\'s table drops what is not opened) or "member" (your own nftables table decides; the kit only keeps its mesh-only services off the underlay)';

const firewallObject = z
  .strictObject(
    {
      enabled: z.boolean({ error: withFix("must be true or false", `pulumi config set --path ${KEY}.enabled true`) }).default(true),
      allow: z.array(allowEntry, { error: typeError(`${KEY}.allow`, "a list of ports", SET_ALLOW) }).default(() => []),
      policy: z.enum(["strict", "member"], { error: withFix('must be "strict" or "member"', POLICY_FIX) }).default("strict"),
      // Services found listening that the member agrees the strict policy closes (src/core/firewall/listening.ts).
      // Absent unless set: the agent's config of a stack without it stays as it was.
      closeListening: z
        .array(portSpec, {
          error: typeError(`${KEY}.closeListening`, "a list of ports", `pulumi config set --path '${KEY}.closeListening[0]' tcp/25`),
        })
        .optional(),
    },
    {
      error: typeError(
        KEY,
        "true, false or an object { enabled, allow, policy }",
        `pulumi config set ${KEY} true, or set its fields: ${SET_ALLOW}`,
      ),
    },
  )
  .superRefine(
    (firewall, ctx) => {
      // Entries that failed their own checks have no range: they are reported already.
      const ranges = firewall.allow.map((entry) => (typeof entry?.port === "string" ? parsePortSpec(entry.port) : undefined));
      ranges.forEach((range, i) => {
        if (!range) return;
        const earlier = ranges.findIndex((other, j) => j < i && other !== undefined && rangesOverlap(other, range));
        if (earlier < 0) return;
        const other = ranges[earlier]!;
        const same = portSpecText(other) === portSpecText(range);
        ctx.addIssue({
          code: "custom",
          path: ["allow", i],
          message: withFix(
            same
              ? `${portSpecText(range)} is already opened by ${KEY}.allow[${earlier}]`
              : `${portSpecText(range)} overlaps ${portSpecText(other)} of ${KEY}.allow[${earlier}]`,
            same
              ? "keep one entry per port: list all its sources in that entry's from"
              : "keep each port in one entry: merge the two, or narrow one range",
          ),
        });
      });
      if (firewall.policy === "member" && firewall.allow.length > 0) {
        ctx.addIssue({
          code: "custom",
          path: ["allow"],
          message: withFix(
            'has no effect with policy "member": the member\'s own nftables table decides what the underlay reaches',
            `open these ports in your own table, or set ${KEY}.policy to "strict" (the default) to have the kit open them`,
          ),
        });
      }
      // Also when an entry failed its own check: every problem is reported at once.
    },
    { when: (payload) => Array.isArray((payload.value as { allow?: unknown } | undefined)?.allow) },
  );

/** true/false, or the object; absent means { enabled: true, allow: [], policy: "strict" }. */
export const firewallSchema = z.preprocess(
  (value) => (value === undefined ? {} : typeof value === "boolean" ? { enabled: value } : value),
  firewallObject,
);

export type FirewallSpec = z.output<typeof firewallObject>;
