import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { shellQuote } from "../../src/core/values/shell";

/** What sh makes of the quoted word: printf prints its one argument back. */
function throughSh(value: string): string[] {
  const result = spawnSync("sh", ["-c", `printf '%s\\0' ${shellQuote(value)}`], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout.split("\0").slice(0, -1);
}

describe("shellQuote: a value as one shell word, nothing in it run", () => {
  test.each([
    ["plain", "wg0", "'wg0'"],
    ["empty", "", "''"],
    ["a single quote", "it's", "'it'\\''s'"],
    ["only quotes", "''", "''\\'''\\'''"],
    ["a newline", "a\nb", "'a\nb'"],
  ])("%s", (_, value, quoted) => {
    expect(shellQuote(value)).toBe(quoted);
    expect(throughSh(value)).toEqual([value]);
  });

  test("what the shell would expand, split or run stays text", () => {
    for (const value of [
      "$(touch /tmp/boreal-pwned)",
      "`id`",
      "$HOME",
      "a b\tc",
      "*",
      "x; rm -rf /",
      '"\\',
      "-n",
      "~root",
      "a\\",
      "\u00e9\u2603",
    ]) {
      expect(throughSh(value), value).toEqual([value]);
    }
  });

  test("any string round-trips through sh as one word", () => {
    const noNul = fc.string({ unit: "binary", maxLength: 40 }).filter((s) => !s.includes("\0"));
    fc.assert(
      fc.property(noNul, (value) => {
        expect(throughSh(value)).toEqual([value]);
      }),
      { numRuns: 150 },
    );
  });

  test("a NUL cannot be in a shell word: refused, not cut short", () => {
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });
});
