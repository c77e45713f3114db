// How every verb runs: --help prints its usage and runs nothing; a failure is printed by the
// one handler (reportFailure) and becomes its exit code.
import { wantsHelp } from "./args";
import { EXIT, reportFailure } from "./errors";
import { CliIo } from "./output";

export interface CommandInfo {
  /** "boreal registry check": what its error lines start with. */
  name: string;
  /** Its usage lines. */
  usage: string;
}

/** Where descriptions start in `boreal`'s usage. */
export const USAGE_COLUMN = 61;

/** A command's usage line and what it does: on one line when it fits, else below it. */
export function usageLine(command: string, what: string): string {
  const head = `  ${command}`;
  return head.length + 3 <= USAGE_COLUMN ? `${head.padEnd(USAGE_COLUMN)}${what}` : `${head}\n${" ".repeat(USAGE_COLUMN)}${what}`;
}

export function runCommand(command: CommandInfo, args: readonly string[], io: CliIo, body: () => number): number {
  if (wantsHelp(args)) return printUsage(command.usage, io);
  try {
    return body();
  } catch (error) {
    return reportFailure(command.name, command.usage, error, io);
  }
}

export async function runCommandAsync(
  command: CommandInfo,
  args: readonly string[],
  io: CliIo,
  body: () => Promise<number>,
): Promise<number> {
  if (wantsHelp(args)) return printUsage(command.usage, io);
  try {
    return await body();
  } catch (error) {
    return reportFailure(command.name, command.usage, error, io);
  }
}

export function printUsage(usage: string, io: CliIo): number {
  io.out(`usage:\n${usage}`);
  return EXIT.ok;
}
