// The generated reference: every `boreal:` config key (from the stack config's zod schema) and
// every `boreal` verb (from the CLI's own usage), as docs/reference/config.md and cli.md.
// `npm run docs:reference` writes them; test/unit/cli-reference.test.ts fails when the
// committed pages are not what this makes.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { stackConfigSchema } from "../core/spec/stack";
import { EXIT_CODES_USAGE } from "./errors";
import { USAGE, VERBS } from "./verbs";

export const REFERENCE_DIR = "docs/reference";

type ConfigKey = keyof z.input<typeof stackConfigSchema>;

/** What each key is for, in a line, and how it is set. A key the schema gains fails the typecheck until it has one. */
const KEYS: Record<ConfigKey, { what: string; set: string }> = {
  member: {
    what: "the member (cooperative) this node belongs to, as the registry names it",
    set: "pulumi config set boreal:member coop-a",
  },
  node: {
    what: "this node's name, one the member may publish (its members[].nodes in the registry)",
    set: "pulumi config set boreal:node a1",
  },
  ssh: {
    what: "how `pulumi up` reaches the server: address, port, user, the private key (a secret) and the pinned host key",
    set: "pulumi config set --path boreal:ssh.host 203.0.113.10",
  },
  endpoint: {
    what: "the node's public WireGuard endpoint, HOST:PORT, as peers dial it; a dual-stack server lists its IPv4 and its IPv6 one ([dual stack](../explanation/network.md#dual-stack))",
    set: "pulumi config set boreal:endpoint 203.0.113.10:51820",
  },
  registry: { what: "the member's clone of the federation registry (a directory)", set: "pulumi config set boreal:registry ../registry" },
  trust: {
    what: "the federation version this stack trusts, N:SHA256, as `boreal registry check` prints it",
    set: "pulumi config set boreal:trust 1:<64 hex digits>",
  },
  signingKeyFile: {
    what: "the member's ed25519 signing key file (a .pub: its private half is in ssh-agent); this or boreal:signingKey",
    set: "pulumi config set boreal:signingKeyFile ~/.ssh/boreal_coop_a",
  },
  signingKey: {
    what: "the member's signing key itself, as a secret; this or boreal:signingKeyFile",
    set: "pulumi config set --secret boreal:signingKey < ~/.ssh/boreal_coop_a",
  },
  publish: {
    what: "a git remote of the registry clone that `pulumi up` pushes the signed descriptor to; absent: the member pushes",
    set: "pulumi config set boreal:publish origin",
  },
  syncInterval: {
    what: "seconds between two registry pulls by the node when no nudge came (the safety net)",
    set: "pulumi config set boreal:syncInterval 300",
  },
  attestInterval: {
    what: "seconds between two rounds of the node's checks of its peers for the label",
    set: "pulumi config set boreal:attestInterval 900",
  },
  delegationCheckInterval: {
    what: "seconds between two checks of the parent's delegation of each of the node's zones",
    set: "pulumi config set boreal:delegationCheckInterval 300",
  },
  zones: { what: "the member's zones this node serves as primary", set: 'pulumi config set --path "boreal:zones[0]" coop-a.example.' },
  meshAddress: {
    what: "the node's mesh addresses, when not the ones the kit allocates from the member's share",
    set: "pulumi config set --path boreal:meshAddress.ipv4 100.64.0.20",
  },
  listenPort: {
    what: "the node's WireGuard UDP port (the federation's default otherwise)",
    set: "pulumi config set boreal:listenPort 51820",
  },
  mtu: { what: "the WireGuard interface's MTU (the federation's default otherwise)", set: "pulumi config set boreal:mtu 1420" },
  firewall: {
    what: "the node's nftables firewall: true/false, or { enabled, allow, policy }; the mesh-only services stay closed whatever it says",
    set: 'pulumi config set --path "boreal:firewall.allow[0]" tcp/443',
  },
  alerts: {
    what: "where the node's Alertmanager sends alerts (a webhook, mail through the member's relay); absent: nowhere",
    set: "pulumi config set --path boreal:alerts.webhook.url https://hooks.coop-a.example/alerts",
  },
  records: {
    what: "the member's own DNS records per zone, inline",
    set: "pulumi config set --path 'boreal:records[\"coop-a.example.\"]' ...",
  },
  zoneFiles: {
    what: "per zone, a master file of the member's records (relative to the project)",
    set: "pulumi config set --path 'boreal:zoneFiles[\"coop-a.example.\"]' zones/coop-a.example.zone",
  },
  keyEpoch: { what: "bump it by one to rotate the node's WireGuard key", set: "pulumi config set boreal:keyEpoch 1" },
};

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}

/** A schema node in words: "whole number 1 to 65535", "list of string (1 at least)", "one of strict, member". */
function typeText(s: JsonSchema): string {
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return [...new Set(alternatives.map(typeText))].join(" or ");
  if (s.enum) return `one of ${s.enum.map((v) => `\`${String(v)}\``).join(", ")}`;
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  const maximum = s.maximum === Number.MAX_SAFE_INTEGER ? undefined : s.maximum;
  const range = (unit: string) =>
    s.minimum !== undefined && maximum !== undefined
      ? `${unit} ${s.minimum} to ${maximum}`
      : s.minimum !== undefined
        ? `${unit} ≥ ${s.minimum}`
        : unit;
  switch (s.type) {
    case "integer":
      return range("whole number");
    case "number":
      return range("number");
    case "boolean":
      return "true or false";
    case "array": {
      const items = s.items && Object.keys(s.items).length > 0 ? typeText(s.items) : "entries";
      return `list of ${items}${s.minItems ? ` (${s.minItems} at least)` : ""}${s.maxItems !== undefined ? ` (${s.maxItems} at most)` : ""}`;
    }
    case "object":
      if (s.properties) return "object";
      return typeof s.additionalProperties === "object" ? `map of name to ${typeText(s.additionalProperties)}` : "object";
    case "string":
      return s.pattern !== undefined && s.pattern.length <= 40 ? `string matching \`${s.pattern.replaceAll("|", "\\|")}\`` : "string";
    default:
      return "any";
  }
}

/** The fields of an object schema (and of its objects, to `depth`), one row each. */
function fieldRows(prefix: string, s: JsonSchema, depth: number): string[][] {
  const object = s.properties ? s : (s.anyOf ?? s.oneOf)?.find((alt) => alt.properties);
  if (!object?.properties || depth === 0) return [];
  return Object.entries(object.properties).flatMap(([name, field]) => {
    const key = `${prefix}.${name}`;
    const needed = object.required?.includes(name) && field.default === undefined ? "yes" : "no";
    const byDefault = field.default === undefined ? "" : `\`${JSON.stringify(field.default)}\``;
    return [[`\`${key}\``, needed, typeText(field), byDefault], ...fieldRows(key, field, depth - 1)];
  });
}

const tableOf = (head: string[], rows: string[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

const GENERATED = (from: string) =>
  `<!-- Generated by \`npm run docs:reference\` from ${from}: do not edit; a unit test fails when it is stale. -->`;

export function configReference(): string {
  const schema = z.toJSONSchema(stackConfigSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const properties = schema.properties ?? {};
  const keys = Object.keys(stackConfigSchema.shape) as ConfigKey[];
  const summary = keys.map((key) => {
    const field = properties[key] ?? {};
    // Asked of zod itself: a key with a default or a preprocess is not required, whatever JSON Schema says.
    const needed = stackConfigSchema.shape[key].safeParse(undefined).success ? "no" : "yes";
    return [`\`boreal:${key}\``, needed, typeText(field), KEYS[key].what];
  });
  const details = keys.flatMap((key) => {
    const field = properties[key] ?? {};
    const rows = fieldRows(`boreal:${key}`, field, 3);
    const byDefault = field.default === undefined ? [] : [`Default: \`${JSON.stringify(field.default)}\`.`, ""];
    return [
      `## \`boreal:${key}\``,
      "",
      `${KEYS[key].what[0].toUpperCase()}${KEYS[key].what.slice(1)}.`,
      "",
      ...byDefault,
      "```sh",
      KEYS[key].set,
      "```",
      "",
      ...(rows.length > 0 ? [tableOf(["field", "required", "type", "default"], rows), ""] : []),
    ];
  });
  return [
    GENERATED("the stack config's schema, src/core/spec/stack.ts"),
    "",
    "# `boreal:` configuration keys",
    "",
    "Each stack (one node) sets these in its Pulumi config: `pulumi config set boreal:KEY VALUE`;",
    "objects and lists with `--path`, secrets with `--secret`. `pulumi up` checks them all at once and",
    "names every problem with its key and its fix; a key it does not know gets the nearest known one.",
    "",
    tableOf(["key", "required", "type", "what it is"], summary),
    "",
    ...details,
  ]
    .join("\n")
    .trimEnd()
    .concat("\n");
}

export function cliReference(): string {
  const sections = Object.entries(VERBS).flatMap(([verb, v]) => {
    const subs = Object.entries(v.subs ?? {});
    const parts: [string, string][] =
      subs.length > 0 ? subs.map(([sub, usage]) => [`boreal ${verb} ${sub}`, usage]) : [[`boreal ${verb}`, v.usage]];
    return parts.flatMap(([title, usage]) => [`## \`${title}\``, "", "```text", usage, "```", ""]);
  });
  return [
    GENERATED("the CLI's own usage, src/cli/verbs.ts"),
    "",
    "# `boreal` commands",
    "",
    "In the kit's directory, run `npx boreal VERB ...` (npx finds the kit's own `boreal`, never a",
    "public package). To have `boreal` everywhere, run `npm link` there once. `boreal VERB --help`",
    "prints a verb's usage and runs nothing; `boreal --version` prints the kit's version.",
    "",
    "## Every verb",
    "",
    "```text",
    USAGE.slice(0, USAGE.indexOf("\n\nexit codes")),
    "```",
    "",
    "## Exit codes",
    "",
    "```text",
    EXIT_CODES_USAGE,
    "```",
    "",
    ...sections,
  ]
    .join("\n")
    .trimEnd()
    .concat("\n");
}

/** The pages, by their path in the project. */
export function referencePages(): Record<string, string> {
  return { [`${REFERENCE_DIR}/config.md`]: configReference(), [`${REFERENCE_DIR}/cli.md`]: cliReference() };
}

/** `npm run docs:reference`: writes the pages into the project. */
export function writeReference(projectDir: string): string[] {
  return Object.entries(referencePages()).map(([path, text]) => {
    mkdirSync(dirname(join(projectDir, path)), { recursive: true });
    writeFileSync(join(projectDir, path), text);
    return path;
  });
}
