// The WireGuard key's life on a node, run for real (`wg genkey`, `wg pubkey`) in a scratch
// directory: the first key in place, a rotation's next key beside it, unused until the
// switch, which puts it in use just before it is published; each step idempotent.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { KEY_FILE } from "../../src/core/node/layout";
import { keyDeleteScript, keyScript, keySwitchScript } from "../../src/core/node/scripts";
import { templates } from "../helpers/fixtures";

const hasWg = spawnSync("wg", ["--version"]).status === 0;

describe.runIf(hasWg)("the WireGuard key, made, rotated and switched on the node", () => {
  const dir = mkdtempSync(join(tmpdir(), "boreal-key-"));
  const key = join(dir, "wg0.key");
  // The scripts name the node's paths; here they act on the scratch directory, with an interface that does not exist.
  const local = (script: string) =>
    script.replaceAll(KEY_FILE, key).replaceAll("/etc/wireguard", dir).replaceAll("'wg0'", "'boreal-no-such-if'");
  const run = (script: string) => execFileSync("sh", ["-c", local(script)], { encoding: "utf8" }).trim();
  const publicOf = (file: string) =>
    execFileSync("wg", ["pubkey"], { input: readFileSync(file) })
      .toString()
      .trim();

  test("the first key is made in place and printed; the same epoch again changes nothing", () => {
    const first = run(keyScript(0, templates));
    expect(first).toBe(publicOf(key));
    expect(readFileSync(`${key}.epoch`, "utf8").trim()).toBe("0");
    expect(existsSync(`${key}.next`)).toBe(false);
    expect(run(keyScript(0, templates))).toBe(first);
  });

  test("a new epoch makes the next key beside the one in use, prints it, and leaves the one in use alone", () => {
    const inUse = publicOf(key);
    const next = run(keyScript(1, templates));
    expect(next).not.toBe(inUse);
    expect(publicOf(key)).toBe(inUse);
    expect(publicOf(`${key}.next`)).toBe(next);
    // An up that failed after the key step and runs again proves and publishes the same next key.
    expect(run(keyScript(1, templates))).toBe(next);
  });

  test("the switch puts the next key in use (and its epoch); a second switch changes nothing", () => {
    const next = publicOf(`${key}.next`);
    expect(run(keySwitchScript(templates))).toBe(next);
    expect(publicOf(key)).toBe(next);
    expect(readFileSync(`${key}.epoch`, "utf8").trim()).toBe("1");
    expect(existsSync(`${key}.next`)).toBe(false);
    expect(run(keySwitchScript(templates))).toBe(next);
    expect(run(keyScript(1, templates))).toBe(next);
  });

  test("a rotation taken back before its switch drops the next key; the delete leaves nothing", () => {
    const inUse = publicOf(key);
    run(keyScript(2, templates));
    expect(existsSync(`${key}.next`)).toBe(true);
    expect(run(keyScript(1, templates))).toBe(inUse);
    expect(existsSync(`${key}.next`)).toBe(false);
    run(keyScript(3, templates));
    run(keyDeleteScript(templates));
    for (const file of [key, `${key}.epoch`, `${key}.next`, `${key}.next.epoch`]) expect(existsSync(file), file).toBe(false);
  });
});
