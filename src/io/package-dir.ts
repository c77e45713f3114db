// Where the kit's own files are (templates/, src/, package.json): the package's directory, found
// from this file, never from the working directory. The same from src/io (a checkout, ts-node)
// and from dist/src/io (the built package in a member's node_modules/boreal-kit).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The nearest directory above `from` holding templates/ and package.json (dist/ has a
 * package.json but no templates); none (a part of the kit compiled elsewhere, as the CLI's
 * tests do): two levels up, where a checkout's src/io has it.
 */
export function packageDirOf(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "templates")) && existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return join(from, "..", "..");
  }
}

export const PACKAGE_DIR = packageDirOf(__dirname);
