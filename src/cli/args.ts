// The one argument parser of every `boreal` verb (and `npm run bench`): `--option value`,
// `--option=value`, switches, repeatable options, `--` before pass-through words; an
// unknown word gets a "did you mean".
import { closest } from "../core/values/nearest";
import { BorealError, usageError } from "./errors";

export { closest, editDistance } from "../core/values/nearest";

/** switch: given or not; value: once at most; list: may repeat. */
export type OptionKind = "switch" | "value" | "list";
export type OptionSpecs = Readonly<Record<string, OptionKind>>;

export interface Parsed {
  positional: string[];
  /** The words after `--`, with `passThrough` (lab ssh NODE -- command...); else they are positional. */
  rest: string[];
  one(flag: string): string | undefined;
  all(flag: string): string[];
  /** A switch was given. */
  on(flag: string): boolean;
}

export const HELP_FLAGS: readonly string[] = ["--help", "-h"];

/** The words before any `--` (after it, they are the command's own: lab ssh NODE -- man --help). */
const ownWords = (args: readonly string[]) => {
  const end = args.indexOf("--");
  return end < 0 ? args : args.slice(0, end);
};

/** --help or -h before any `--`: the command prints its usage and runs nothing. */
export function wantsHelp(args: readonly string[]): boolean {
  return ownWords(args).some((a) => HELP_FLAGS.includes(a));
}

/**
 * `boreal VERB [COMMAND] --version`: the kit's version, nothing run. Only so: elsewhere
 * --version may be a verb's own option (registry sign --version N).
 */
export function wantsVersion(args: readonly string[]): boolean {
  const words = ownWords(args);
  return words.length <= 2 && words[words.length - 1] === "--version" && words.slice(0, -1).every((w) => !w.startsWith("-"));
}

export function parseArgs(args: readonly string[], options: OptionSpecs, settings: { passThrough?: boolean } = {}): Parsed {
  const values = new Map<string, string[]>();
  const given = new Set<string>();
  const positional: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      if (settings.passThrough) rest = args.slice(i + 1);
      else positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const kind = options[flag];
    if (kind === undefined) throw unknownWord("option", flag, Object.keys(options));
    if (kind === "switch") {
      if (eq >= 0) throw usageError(`${flag} takes no value`, `give ${flag} alone`, flag);
      given.add(flag);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || value.startsWith("--")) throw usageError(`${flag} needs a value`, "see the usage below", flag);
      i++;
    }
    if (value === "") throw usageError(`${flag} needs a value`, "see the usage below", flag);
    const list = values.get(flag) ?? [];
    if (list.length > 0 && kind === "value") throw usageError(`${flag} is given twice`, `give ${flag} once`, flag);
    list.push(value);
    values.set(flag, list);
  }
  return { positional, rest, one: (flag) => values.get(flag)?.[0], all: (flag) => values.get(flag) ?? [], on: (flag) => given.has(flag) };
}

/** An unknown option or verb: a usage error, with the nearest known one as its fix. */
export function unknownWord(what: "option" | "command" | "verb", word: string, known: readonly string[]): BorealError {
  const near = closest(word, known);
  return usageError(`unknown ${what} ${word}`, near ? `did you mean ${near}?` : "see the usage below", word);
}

/** A value that must be a whole number of at least `min`; undefined when not given. */
export function wholeNumber(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min)
    throw usageError(
      `${flag} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`,
      `e.g. ${flag} ${Math.max(min, 2)}`,
      flag,
    );
  return Number(text);
}

/** A value the command cannot do without. */
export function required(a: Parsed, flag: string, example: string): string {
  const value = a.one(flag);
  if (value === undefined) throw usageError(`${flag} is missing`, `add ${flag} ${example}`, flag);
  return value;
}
