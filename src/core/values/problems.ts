import { z } from "zod";

/** One problem in the user's input: where it is, what is wrong, how to fix it. */
export interface ConfigProblem {
  /** File or config namespace the problem is in, e.g. `stack config` or `registry/nodes/a1.yaml`. */
  source: string;
  /** Dotted key inside the source, e.g. `boreal:ssh.hostKey`. */
  key: string;
  message: string;
  fix: string;
}

/** Raised for bad input; carries every problem found, never a stack trace for the user. */
export class BorealConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(formatProblems(problems));
    this.name = "BorealConfigError";
  }
}

export function formatProblems(problems: ConfigProblem[]): string {
  const lines = problems.map((p) => `  - ${p.source}: ${p.key}: ${withoutKey(p.key, p.message)}\n    fix: ${p.fix}`);
  const noun = problems.length === 1 ? "problem" : "problems";
  return `boreal-kit found ${problems.length} ${noun} in its input:\n${lines.join("\n")}`;
}

/**
 * The message without its key in front when the line names the key already: "boreal:mtu:
 * must be a whole number", not "boreal:mtu: mtu must be a whole number". A schema's message
 * names its field in a general form (members[].mesh for members[0].mesh, mtu for boreal:mtu).
 */
const VERB_AFTER_KEY = /^ (is|are|must|has|have|needs|cannot|may) /;

export function withoutKey(key: string, message: string): string {
  const bare = key.replace(/^[a-z]+:/, "");
  const forms = [key, bare].flatMap((k) => [k, k.replace(/\[\d+\]/g, "[]")]);
  // Only where a verb follows: "mesh.ipv4 and mesh.ipv6 overlap" keeps its subject.
  const lead = forms.find((form) => form.length > 0 && message.startsWith(`${form} `) && VERB_AFTER_KEY.test(message.slice(form.length)));
  return lead === undefined ? message : message.slice(lead.length + 1);
}

/**
 * zod issues → problems. A schema attaches its fix to an issue through the message,
 * written as "what is wrong || how to fix it".
 */
export function problemsFromZod(error: z.ZodError, source: string, keyPrefix: string): ConfigProblem[] {
  return error.issues.map((issue) => {
    const key = joinKey(keyPrefix, issue.path);
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.join(", ");
      return {
        source,
        key: joinKey(key, []),
        message: `unknown field(s) ${keys}`,
        fix: `remove ${keys} or check its spelling against ${referencePage(keyPrefix)}`,
      };
    }
    const [message, fix] = splitFix(issue.message);
    return { source, key, message, fix: fix ?? defaultFix(issue, referencePage(keyPrefix)) };
  });
}

function splitFix(message: string): [string, string | undefined] {
  const at = message.indexOf(" || ");
  return at < 0 ? [message, undefined] : [message.slice(0, at), message.slice(at + 4)];
}

/** The reference page of the fields: the stack's boreal: keys, or the registry's files (federation, nodes, attestations). */
function referencePage(keyPrefix: string): string {
  return keyPrefix === "boreal:" ? "docs/reference/config.md" : "docs/reference/registry.md";
}

function defaultFix(issue: z.core.$ZodIssue, page: string): string {
  if (issue.code === "invalid_type" && /received undefined/.test(issue.message)) {
    return `set it; see ${page}`;
  }
  return `correct the value; see ${page}`;
}

function joinKey(prefix: string, path: PropertyKey[]): string {
  const rest = path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  if (!prefix || prefix.endsWith(":")) return prefix + (rest.replace(/^\./, "") || (prefix ? "" : "(root)"));
  return prefix + rest;
}

/** Attach a fix to a zod message. */
export function withFix(message: string, fix: string): string {
  return `${message} || ${fix}`;
}
