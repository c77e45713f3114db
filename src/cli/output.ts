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

/** How a hint tells the user to run boreal: from the kit's checkout, never `npx boreal` (a public package of that name). */
export const BOREAL_COMMAND = "npm run -s boreal --";

/** `npm run -s boreal -- ARGS`: a command a hint tells the user to run. */
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
