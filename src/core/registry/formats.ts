// Format numbers: what each kind of object a kit writes and another kit reads says about
// which kit can read it. The one place they are declared (docs/reference/registry.md lists
// them, CHANGELOG.md says which release brought each). Pure.
//
// The promise (docs/explanation/upgrades.md): release N reads everything release N−1
// writes, and writes nothing N−1 cannot read unless the member uses a feature new in N.
// So:
//   - an object carries `format: N`; absent means 1, the format of every object written
//     before formats existed, so every existing registry still reads;
//   - the writer writes the LOWEST format that expresses the object: one that uses no field
//     of a later format is written as before, byte for byte (its signature does not change,
//     and the previous release reads it);
//   - a reader refuses a format above the ones it knows, naming the object, the field
//     `format` and the upgrade, and keeps what it held before (nothing of the object is
//     applied); it never guesses at the rest of an object it cannot read;
//   - within a format it knows, an unknown field is still refused (strict schemas). This is a
//     security property, not pedantry: a field an older kit ignored could be one that narrows
//     what the object claims (a descriptor's services, a delegation's set, a label's rule
//     set), and ignoring it would make the older kit accept more than the writer meant. A new
//     field therefore comes with a new format, and an older kit says "upgrade" instead of
//     reading the object as something it is not.
//
// Adding an optional field to an object: append one step to its kind below, e.g.
//   node: [{ release: "0.1.0", fields: [] }, { release: "0.2.0", fields: ["endpoints"] }],
// and add the field (optional) to the object's schema. The writer then stamps `format: 2` on
// exactly the objects that carry it; a reader holding only the first step (the previous
// release: formatsOf("0.1.0")) refuses them with the upgrade, and test/unit/formats.test.ts
// shows the pattern.
import { escapeShort } from "../values/escape";
import type { ConfigProblem } from "../values/problems";

/** One format of a kind of object: the kit release that brought it and the fields it added. */
export interface FormatStep {
  /** The first boreal-kit release that reads and writes this format. */
  release: string;
  /**
   * The optional fields this format added, as dotted paths from the object's top
   * ("endpoints", "predicate.scanner"). An object carrying one needs this format at least.
   */
  fields: readonly string[];
}

/** The kinds of object that carry a format: what one kit writes and another reads. */
export type FormatKind = "federation" | "node" | "attestation" | "agent";

/** Each kind's formats, as a kit reads them. */
export type KitFormats = Readonly<Record<FormatKind, readonly FormatStep[]>>;

/**
 * Every format of every kind, in order: index 0 is format 1. Append only: a step once
 * released never changes (the previous release's reader is this table cut short).
 *   federation   federation/<N>.yaml, the key `format`
 *   node         nodes/<node>.yaml, descriptors and tombstones, the key `format`
 *   attestation  attestations/<node>/<checker>.json, in-toto: the predicate type's :v<N>
 *   agent        the agent program a node runs: the formats above it reads (its status says)
 */
export const FORMATS: KitFormats = {
  federation: [{ release: "0.1.0", fields: [] }],
  node: [
    { release: "0.1.0", fields: [] },
    // A dual-stack node: its IPv4 and IPv6 endpoints (src/core/mesh/endpoints.ts).
    { release: "0.2.0", fields: ["endpoints"] },
  ],
  attestation: [{ release: "0.1.0", fields: [] }],
  agent: [{ release: "0.1.0", fields: [] }],
};

/**
 * The formats a given release of the kit reads: each kind's steps up to that release. This
 * kit's readers given formatsOf(an older release) refuse what that release refuses by its
 * format: how the tests show an older kit meeting a newer object without a copy of the
 * older kit. (Only the format gate is the older kit's; the schemas behind it are this kit's.)
 */
export function formatsOf(release: string, formats: KitFormats = FORMATS): KitFormats {
  const upTo = (steps: readonly FormatStep[]) => steps.filter((step) => compareReleases(step.release, release) <= 0);
  return {
    federation: upTo(formats.federation),
    node: upTo(formats.node),
    attestation: upTo(formats.attestation),
    agent: upTo(formats.agent),
  };
}

/** Semantic versions' order (major.minor.patch), enough for the kit's own releases. */
export function compareReleases(a: string, b: string): number {
  const parts = (v: string) => v.split(".").map((n) => Number.parseInt(n, 10) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The highest format a reader with `steps` reads. */
export function latestFormat(steps: readonly FormatStep[]): number {
  return steps.length;
}

/** The formats this kit reads, by kind: what the agent reports, and what `boreal` says. */
export function formatsRead(formats: KitFormats = FORMATS): Record<FormatKind, number> {
  return {
    federation: latestFormat(formats.federation),
    node: latestFormat(formats.node),
    attestation: latestFormat(formats.attestation),
    agent: latestFormat(formats.agent),
  };
}

/** What a newer object's format number may be at most: beyond it, it is no format at all. */
export const MAX_FORMAT_NUMBER = 1000;

export const UPGRADE_DOC = "docs/explanation/upgrades.md";
const FORMAT_FIX = "leave format out (format 1), or write the format the kit wrote: a whole number from 1";

/** A reading of an object's format: the number, or why the object is refused. */
export type FormatReading =
  | { ok: true; format: number }
  | { ok: false; problem: ConfigProblem; /** Set when a newer kit wrote it (a format above the reader's). */ newer?: number };

/**
 * The object's format, as `steps` (the reader's formats of this kind) can read it:
 * `declared` is what the object says (undefined: 1), `data` the object itself, checked for
 * fields of a later format than it declares. `field` names where the number sits, for the
 * problem ("format", or "predicateType" for an attestation).
 */
export function readFormat(
  declared: unknown,
  data: Record<string, unknown>,
  steps: readonly FormatStep[],
  where: { source: string; field: string },
): FormatReading {
  const problem = (message: string, fix: string, key = where.field): ConfigProblem => ({ source: where.source, key, message, fix });
  const format = declared === undefined ? 1 : declared;
  if (typeof format !== "number" || !Number.isInteger(format) || format < 1 || format > MAX_FORMAT_NUMBER) {
    const shown = typeof format === "number" ? String(format) : escapeShort(JSON.stringify(format) ?? typeof format, 40);
    return {
      ok: false,
      problem: problem(`${where.field} ${shown} is not a format number: a whole number from 1 to ${MAX_FORMAT_NUMBER}`, FORMAT_FIX),
    };
  }
  const latest = latestFormat(steps);
  if (format > latest) {
    return {
      ok: false,
      newer: format,
      problem: problem(
        `this object was written by a newer boreal-kit (format ${format}); upgrade to a kit that reads format ${format} (see ${UPGRADE_DOC})`,
        `upgrade boreal-kit on this side (docs/how-to/upgrade.md); this kit reads ${where.field} 1${latest > 1 ? ` to ${latest}` : ""}, and meanwhile keeps what it held of the object`,
      ),
    };
  }
  for (const [index, step] of steps.entries()) {
    if (index + 1 <= format) continue;
    const used = step.fields.find((path) => fieldPresent(data, path));
    if (used !== undefined)
      return {
        ok: false,
        problem: problem(
          `${used} is a field of format ${index + 1}, but the object says ${where.field === "format" && declared === undefined ? "no format (1)" : `format ${format}`}`,
          `write ${where.field === "format" ? `format: ${index + 1}` : `format ${index + 1}`} in it (the kit does), or leave ${used} out`,
          used,
        ),
      };
  }
  return { ok: true, format };
}

/** The lowest format of `steps` that expresses `data`: the latest step whose fields it uses, else 1. */
export function lowestFormat(data: Record<string, unknown>, steps: readonly FormatStep[]): number {
  let format = 1;
  steps.forEach((step, index) => {
    if (step.fields.some((path) => fieldPresent(data, path))) format = index + 1;
  });
  return format;
}

/**
 * The object as written, for a kind whose format is the key `format`: `format: N` first when
 * N > 1, and no `format` at all for format 1, so that every object expressible in format 1 is
 * the same bytes as before formats existed (and its signature stays valid).
 */
export function withFormat<T extends object>(object: T, steps: readonly FormatStep[]): T | ({ format: number } & T) {
  const { format: _stale, ...rest } = object as T & { format?: unknown };
  const format = lowestFormat(rest, steps);
  return (format === 1 ? rest : { format, ...rest }) as T | ({ format: number } & T);
}

function fieldPresent(data: Record<string, unknown>, path: string): boolean {
  let at: unknown = data;
  for (const part of path.split(".")) {
    if (at === null || typeof at !== "object" || !Object.prototype.hasOwnProperty.call(at, part)) return false;
    at = (at as Record<string, unknown>)[part];
  }
  return at !== undefined;
}
