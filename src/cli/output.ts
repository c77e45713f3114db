// Where a verb's lines go, made safe for a terminal, and the command its hints name.
import { escapeText } from "../core/values/escape";

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Control characters left in a line (every registry value is escaped where it is printed;
 * this is the last guard): shown as escapes, so nothing reaches the terminal raw. Newlines
 * and tabs of our own layout stay.
 */
const STRAY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;
export function neutralize(text: string): string {
  return text.replace(STRAY_CONTROL, (char) => escapeText(char));
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${neutralize(line)}\n`),
  err: (line) => process.stderr.write(`${neutralize(line)}\n`),
};

/**
 * How a hint tells the user to run boreal: the way they ran it. `npm run -s boreal --` and
 * `npx boreal` work from the kit's checkout (npx finds the kit's own bin there, never a
 * public package of that name); anywhere else, the `boreal` that `npm link` put on the PATH.
 */
export function borealCommand(env: NodeJS.ProcessEnv = process.env): string {
  if (env.npm_lifecycle_event === "boreal") return "npm run -s boreal --";
  if (env.npm_command === "exec") return "npx boreal";
  return "boreal";
}

export const BOREAL_COMMAND = borealCommand();

/** `boreal ARGS`, as the user ran it: a command a hint tells the user to run. */
export const hint = (args: string) => `${BOREAL_COMMAND} ${args}`;

export function table(rows: string[][], indent = "  "): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
  );
}

/** A reader that stopped reading (`boreal ... | head`) ends the command quietly, not with a stack trace. */
export function quietOnClosedPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

/**
 * JSON text with every character a terminal acts on as a \u escape: the same JSON values, safe
 * to print. JSON.stringify escapes C0 controls already; DEL, C1 controls, bidi overrides and
 * the line separators it leaves raw can only stand inside a string, where \u is the same.
 */
export function neutralizeJson(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A verb's --json answer: indented, safe for a terminal. */
export const jsonText = (value: unknown) => neutralizeJson(JSON.stringify(value, null, 2));
