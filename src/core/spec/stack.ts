// The member's stack config (namespace `boreal:`), validated as a whole.
import { z } from "zod";
import { BorealConfigError, ConfigProblem, problemsFromZod, withFix } from "../values/problems";
import { endpointListProblem } from "../mesh/endpoints";
import { endpoint, ipv4, ipv6, port, slug, typeError, zoneName } from "../values/fields";
import { alertsSchema } from "../monitoring/alerts";
import { firewallSchema } from "../firewall/spec";
import { recordsSchema, zoneFilesSchema } from "../dns/records-schema";
import { recordsConfigProblems } from "../dns/records";
import { closest } from "../values/nearest";

const SOURCE = "stack config";

const sshSchema = z.strictObject(
  {
    host: z
      .string({ error: withFix("missing", "set it: pulumi config set --path boreal:ssh.host 203.0.113.10") })
      .min(1, withFix("is empty", "set it to the server's address or DNS name")),
    port: port("boreal:ssh.port").default(22),
    // Another user than root runs every command through sudo -n (docs/how-to/server-as-it-comes.md).
    user: z
      .string()
      .min(
        1,
        withFix("is empty", 'set it to the SSH user: "root", or a user with sudo (e.g. "debian"; see docs/how-to/server-as-it-comes.md)'),
      )
      .default("root"),
    privateKey: z
      .string({
        error: withFix(
          "missing",
          "set it as a secret from your key file: pulumi config set --secret --path boreal:ssh.privateKey < ~/.ssh/id_ed25519",
        ),
      })
      .refine(
        (key) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key),
        withFix(
          "is not a private key (expected the key's contents, not its path)",
          "pulumi config set --secret --path boreal:ssh.privateKey < ~/.ssh/id_ed25519",
        ),
      ),
    hostKey: z
      .string({
        error: withFix(
          "missing: the server's host key must be pinned",
          "copy the server's /etc/ssh/ssh_host_ed25519_key.pub (checked out of band) into boreal:ssh.hostKey",
        ),
      })
      .refine(
        (key) => /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$/.test(key.trim()),
        withFix(
          'is not an OpenSSH public host key ("ssh-ed25519 AAAA...")',
          "copy the one line of the server's /etc/ssh/ssh_host_ed25519_key.pub",
        ),
      )
      .transform((key) => key.trim().split(/\s+/).slice(0, 2).join(" ")),
  },
  {
    error: typeError(
      "boreal:ssh",
      "an object",
      "set its fields: pulumi config set --path boreal:ssh.host 203.0.113.10 (and port, user, privateKey, hostKey)",
    ),
  },
);

const trustText = z
  .string({
    error: withFix(
      "missing: the stack must pin the federation version it trusts first",
      "run `npm run -s boreal -- registry check ../registry` and copy the pin it prints: pulumi config set boreal:trust <version>:<sha256>",
    ),
  })
  .regex(
    /^\d+:[0-9a-f]{64}$/,
    withFix('is not "<version>:<sha256>"', "copy the pin `boreal registry check` prints, e.g. 1:5f3a… (64 hex digits)"),
  );

/** A node's label checks of its peers, every 15 minutes unless its stack says otherwise. */
/**
 * Seconds between two registry pulls by a node's timer, when no nudge came: what a node whose
 * nudge was lost waits at most for a change.
 */
export const SYNC_INTERVAL_DEFAULT = 300;

export const ATTEST_INTERVAL_DEFAULT = 900;

/** A node's check of the parent's delegation of each of its zones, every 5 minutes unless its stack says otherwise. */
export const DELEGATION_CHECK_INTERVAL_DEFAULT = 300;

/** "host:port", or a list of one IPv4 and one IPv6 "host:port" (src/core/mesh/endpoints.ts); read as a list. */
function endpointList(what: string) {
  const one = endpoint(what);
  const mustBe = typeError(
    what,
    '"host:port" or a list of them',
    `set ${what} to "host:port", or to a list of one IPv4 and one IPv6 endpoint`,
  );
  return z.union([z.string(), z.array(z.string())], { error: mustBe }).transform((value, ctx) => {
    const list = typeof value === "string" ? [value] : value;
    const issues = list.flatMap((item, i) =>
      (one.safeParse(item).error?.issues ?? []).map((issue) => ({ message: issue.message, path: typeof value === "string" ? [] : [i] })),
    );
    for (const issue of issues) ctx.addIssue({ code: "custom", ...issue });
    // The list as a whole is judged once each of its endpoints is one.
    const problem = issues.length > 0 ? undefined : endpointListProblem(list);
    if (problem) ctx.addIssue({ code: "custom", message: withFix(problem.message, problem.fix) });
    return list;
  });
}

/** A whole number of seconds between `min` and `max`; every message says the range. */
function intervalSeconds(range: { min: number; max: number; byDefault: number; tooLong: string }) {
  const between = `set it between ${range.min} and ${range.max}`;
  const withDefault = `${between} (${range.byDefault} by default)`;
  return z
    .number({ error: withFix("must be a number of seconds", withDefault) })
    .int(withFix("must be a whole number of seconds", between))
    .min(range.min, withFix(`is below ${range.min} seconds`, withDefault))
    .max(range.max, withFix(`is above ${range.tooLong}`, withDefault))
    .default(range.byDefault);
}

export const stackConfigSchema = z.strictObject({
  member: slug("boreal:member"),
  node: slug("boreal:node"),
  ssh: sshSchema,
  /** One endpoint, or a dual-stack node's IPv4 and IPv6 ones as a list; read as a list. */
  endpoint: endpointList("boreal:endpoint"),
  registry: z
    .string({ error: withFix("missing", "set it to the federation registry directory: pulumi config set boreal:registry ../registry") })
    .min(1, withFix("is empty", "set it to the federation registry directory")),
  trust: trustText,
  /** The member's signing key: a file (a .pub means its private half is in ssh-agent), or the key itself as a secret. */
  signingKeyFile: z
    .string()
    .min(1, withFix("is empty", "set it to the member's ed25519 key, e.g. ~/.ssh/boreal_coop_a (or its .pub with ssh-agent)"))
    .optional(),
  signingKey: z
    .string()
    .refine(
      (key) => /-----BEGIN OPENSSH PRIVATE KEY-----/.test(key),
      withFix(
        "is not an OpenSSH private key (expected the key's contents)",
        "pulumi config set --secret boreal:signingKey < ~/.ssh/boreal_coop_a",
      ),
    )
    .optional(),
  /** A git remote of the registry clone that `pulumi up` pushes the signed descriptor to. */
  publish: z
    .string()
    .regex(
      /^[A-Za-z0-9._\/-]+$/,
      withFix("is not a git remote name", 'set it to a remote of the registry clone, e.g. "origin", or remove it to push by hand'),
    )
    .optional(),
  /** Seconds between two pulls of the registry by the node's sync agent. */
  // The safety net only: a publication nudges every node at once (src/core/node/nudge.ts).
  syncInterval: intervalSeconds({ min: 5, max: 3600, byDefault: SYNC_INTERVAL_DEFAULT, tooLong: "an hour" }),
  /** Seconds between two rounds of the node's checks of its peers for the label (src/label). */
  // Several rounds within a day: an attestation counts for label.validityDays (1 at least).
  attestInterval: intervalSeconds({ min: 10, max: 21600, byDefault: ATTEST_INTERVAL_DEFAULT, tooLong: "6 hours" }),
  /** Seconds between two checks, by the node, of the parent's delegation of each of its zones (boreal-delegation.timer). */
  // BorealDelegationDrift waits three checks: an hour at most keeps that within three hours.
  delegationCheckInterval: intervalSeconds({
    min: 10,
    max: 3600,
    byDefault: DELEGATION_CHECK_INTERVAL_DEFAULT,
    tooLong: "an hour",
  }),
  zones: z
    .array(zoneName, {
      error: typeError("boreal:zones", "a list of zone names", 'pulumi config set --path "boreal:zones[0]" coop-a.example.'),
    })
    .min(1, withFix("lists no zone", 'add the member\'s zone: pulumi config set --path "boreal:zones[0]" coop-a.example.'))
    .refine((zones) => new Set(zones).size === zones.length, withFix("lists a zone twice", "keep each zone once")),
  meshAddress: z
    .strictObject({ ipv4: ipv4("boreal:meshAddress.ipv4").optional(), ipv6: ipv6("boreal:meshAddress.ipv6").optional() })
    .optional(),
  listenPort: port("boreal:listenPort").optional(),
  mtu: z
    .number({ error: withFix("must be a number", "set it between 1280 and 9000 (1420 suits most links)") })
    .int(withFix("must be a whole number", "set it between 1280 and 9000"))
    .min(1280, withFix("is below 1280, the IPv6 minimum", "set it between 1280 and 9000 (1420 suits most links)"))
    .max(9000, withFix("is above 9000", "set it between 1280 and 9000 (1420 suits most links)"))
    .optional(),
  /** true/false, or { enabled, allow, policy }: see src/core/firewall/spec.ts. */
  firewall: firewallSchema,
  /** Where the node's Alertmanager sends alerts: see src/core/monitoring/alerts.ts. */
  alerts: alertsSchema,
  /** The member's own records per zone, inline; see src/core/dns/records.ts. */
  records: recordsSchema.optional(),
  /** Per zone, a master file of the member's records (relative to the project); read by src/program/index.ts. */
  zoneFiles: zoneFilesSchema.optional(),
  keyEpoch: z
    .number({ error: withFix("must be a number", "set it to 0, then bump it by one to rotate the WireGuard key") })
    .int(withFix("must be a whole number", "bump it by one to rotate the WireGuard key"))
    .min(0, withFix("must not be negative", "set it to 0, then bump it by one to rotate the WireGuard key"))
    .default(0),
});

export type NodeSpec = z.infer<typeof stackConfigSchema>;

/** How to reach the server, without the private key (which only the connection gets). */
export type SshTarget = Omit<NodeSpec["ssh"], "privateKey">;

/** The stack config as planning and components see it: no secret in it. */
export type PublicNodeSpec = Omit<NodeSpec, "ssh" | "signingKey"> & { ssh: SshTarget };

/** What planning needs: the node's own settings (also what its sync agent is given); zone files already read into records. */
export type PlanSpec = Omit<PublicNodeSpec, "registry" | "trust" | "signingKeyFile" | "publish" | "zoneFiles">;

/** The node's own settings as its sync agent reads them from /etc/boreal/agent.json. */
export const planSpecSchema = stackConfigSchema
  .omit({ ssh: true, registry: true, trust: true, signingKey: true, signingKeyFile: true, publish: true, zoneFiles: true })
  .extend({ ssh: sshSchema.omit({ privateKey: true }) });

/** Splits the secrets off the spec, so that only the connection and the signer ever hold them. */
export function splitPrivateKey(spec: NodeSpec): { spec: PublicNodeSpec; privateKey: string; signingKey?: string } {
  const { privateKey, ...ssh } = spec.ssh;
  const { signingKey, ...rest } = spec;
  return { spec: { ...rest, ssh }, privateKey, signingKey };
}

const KNOWN_KEYS = Object.keys(stackConfigSchema.shape);

/**
 * Parse the `boreal:` part of a stack's config as Pulumi hands it to the program
 * (every value a string; objects, lists, numbers and booleans JSON-encoded).
 */
export function parseStackConfig(raw: Record<string, string>): NodeSpec {
  const problems: ConfigProblem[] = [];
  const values: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(raw)) {
    const [namespace, key] = splitKey(fullKey);
    if (namespace !== "boreal") continue;
    if (!KNOWN_KEYS.includes(key)) {
      const near = closest(key, KNOWN_KEYS);
      problems.push({
        source: SOURCE,
        key: fullKey,
        message: "unknown key",
        fix: near
          ? `did you mean boreal:${near}? (pulumi config rm ${fullKey}, then pulumi config set boreal:${near} ...)`
          : `remove it (pulumi config rm ${fullKey}); the keys are listed in docs/reference/config.md`,
      });
      continue;
    }
    values[key] = decodeConfigValue(text);
  }
  const parsed = stackConfigSchema.safeParse(values);
  if (!parsed.success) problems.push(...problemsFromZod(parsed.error, SOURCE, "boreal:"));
  else if ((parsed.data.signingKey === undefined) === (parsed.data.signingKeyFile === undefined)) {
    problems.push({
      source: SOURCE,
      key: "boreal:signingKeyFile",
      message:
        parsed.data.signingKey === undefined
          ? "no signing key: the node's descriptor must be signed by its member"
          : "both boreal:signingKey and boreal:signingKeyFile are set",
      fix: "set exactly one: pulumi config set boreal:signingKeyFile ~/.ssh/boreal_coop_a (or the .pub with ssh-agent), or pulumi config set --secret boreal:signingKey < key",
    });
  }
  if (parsed.success) problems.push(...recordsConfigProblems(parsed.data));
  if (problems.length > 0 || !parsed.success) throw new BorealConfigError(sortProblems(problems));
  return parsed.data;
}

function splitKey(fullKey: string): [string, string] {
  const at = fullKey.indexOf(":");
  return at < 0 ? ["", fullKey] : [fullKey.slice(0, at), fullKey.slice(at + 1)];
}

/** Pulumi stores structured config as JSON text; plain strings stay strings. */
export function decodeConfigValue(text: string): unknown {
  if (/^\s*([{\[]|-?\d+(\.\d+)?\s*$|true\s*$|false\s*$)/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  // Numeric: allow[2] before allow[10].
  return [...problems].sort((a, b) => a.key.localeCompare(b.key, "en", { numeric: true }));
}
