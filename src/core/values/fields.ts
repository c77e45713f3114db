// Field schemas shared by the stack config and the registry, each with its own fix.
import { isIP } from "./ip";
import { z } from "zod";
import { parseEndpoint as parseEndpointSyntax, wireguardKeyIssue } from "./scope";
import { withFix } from "./problems";

/** Type error for a field: "missing" when absent, else what it must be; both with the fix. */
export function typeError(what: string, mustBe: string, fix: string) {
  return (issue: { input?: unknown }) => withFix(issue.input === undefined ? `${what} is missing` : `${what} must be ${mustBe}`, fix);
}

export const slug = (what: string) =>
  z
    .string({ error: typeError(what, "a string", `set ${what} to a short name such as "coop-a"`) })
    .regex(
      /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/,
      withFix(
        `${what} must be 1-32 lowercase letters, digits or inner hyphens`,
        `use a DNS-safe name such as "coop-a" (it becomes part of host and zone names)`,
      ),
    );

/** A DNS zone name, stored fully qualified (trailing dot). */
export const zoneName = z
  .string({ error: withFix("a zone must be a string", 'write zones as names such as "coop-a.example."') })
  .transform((name) => name.toLowerCase())
  .refine(
    (name) => /^([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?\.)+$/.test(name.endsWith(".") ? name : `${name}.`) && name.length <= 253,
    withFix("not a valid DNS zone name", 'use letters, digits and hyphens between dots, e.g. "coop-a.example."'),
  )
  .transform((name) => (name.endsWith(".") ? name : `${name}.`));

export const port = (what: string) =>
  z
    .number({ error: typeError(what, "a number", `set ${what} to a port number between 1 and 65535`) })
    .int(withFix(`${what} must be a whole number`, `set ${what} to a port number between 1 and 65535`))
    .min(1, withFix(`${what} must be at least 1`, `set ${what} to a port number between 1 and 65535`))
    .max(65535, withFix(`${what} must be at most 65535`, `set ${what} to a port number between 1 and 65535`));

/** host:port where host is an IP literal or a DNS name; IPv6 in brackets. */
export const endpoint = (
  what: string,
  fix = `set ${what} to the address peers reach this node's WireGuard on, e.g. "203.0.113.10:51820"`,
) =>
  z
    .string({ error: typeError(what, "a string", `set ${what} to "host:port", e.g. "203.0.113.10:51820"`) })
    .refine((text) => parseEndpoint(text) !== undefined, withFix(`${what} must be "host:port" (IPv6 as "[addr]:port")`, fix));

/**
 * host:port where host is an IP literal or a DNS name; IPv6 in brackets. Syntax only: whether
 * peers may be sent there is src/core/values/scope.ts's endpointProblem, which needs the
 * federation's underlay setting (src/core/registry/verify.ts asks it).
 */
export const parseEndpoint = parseEndpointSyntax;

/**
 * A WireGuard key: 32 bytes, base64; not all zero and not a Curve25519 point of small order
 * (whose shared secrets are predictable): src/core/values/scope.ts's wireguardKeyProblem.
 */
export const wireguardKey = (what: string) =>
  z
    .string({ error: typeError(what, "a string", "paste the output of `wg pubkey` (44 characters ending in '=')") })
    .refine((text) => wireguardKeyIssue(text, what) === undefined, {
      error: (issue) => {
        const problem = wireguardKeyIssue(String(issue.input), what);
        return problem
          ? withFix(problem.message, problem.fix)
          : withFix(`${what} is not a WireGuard key`, "paste the output of `wg pubkey`");
      },
    });

export const ipv4 = (what: string) =>
  z.string().refine((t) => isIP(t) === 4, withFix(`${what} is not an IPv4 address`, `write ${what} as e.g. "100.64.0.1"`));

export const ipv6 = (what: string) =>
  z.string().refine((t) => isIP(t) === 6, withFix(`${what} is not an IPv6 address`, `write ${what} as e.g. "fd42:b0:ea1::1"`));
