import { describe, expect, test } from "vitest";
import { ensureToolchain, projectToolchain, Toolchain } from "../../src/cli/toolchain";
import { PROJECT_ROOT, pulumiCliAvailable } from "../helpers/workspace";

/** A toolchain whose CLI and plugin appear once `install` has run (if it works). */
function fakeToolchain(start: { cli: boolean; plugin: boolean }, installWorks = true) {
  const calls: string[] = [];
  const lines: string[] = [];
  const present = { ...start };
  const toolchain: Toolchain = {
    pulumiAnswers: () => (calls.push("version"), present.cli),
    commandPluginInstalled: () => (calls.push("plugins"), present.plugin),
    install: () => {
      calls.push("install");
      if (!installWorks) return 1;
      present.cli = present.plugin = true;
      return 0;
    },
    log: (line) => lines.push(line),
  };
  return { toolchain, calls, lines };
}

describe("the toolchain step of boreal demo and boreal lab up", () => {
  test("everything installed: two checks, nothing run, nothing said", () => {
    const { toolchain, calls, lines } = fakeToolchain({ cli: true, plugin: true });
    expect(ensureToolchain(toolchain)).toBe("ready");
    expect(calls).toEqual(["version", "plugins"]);
    expect(lines).toEqual([]);
  });

  test("a CLI that does not answer: runs npm run toolchain with a progress line, then says it is ready", () => {
    const { toolchain, calls, lines } = fakeToolchain({ cli: false, plugin: false });
    let clock = 0;
    expect(ensureToolchain(toolchain, () => (clock += 61_000))).toBe("installed");
    expect(calls).toEqual(["version", "install", "version"]);
    expect(lines).toEqual([
      expect.stringMatching(/^toolchain: `npx pulumi version` does not answer: running npm run toolchain \(.*about 5 minutes/),
      "toolchain: ready in 61s",
    ]);
    // Run again: quick.
    expect(ensureToolchain(toolchain)).toBe("ready");
  });

  test("only the command provider missing: the toolchain step installs it", () => {
    const { toolchain, calls, lines } = fakeToolchain({ cli: true, plugin: false });
    expect(ensureToolchain(toolchain)).toBe("installed");
    expect(calls).toEqual(["version", "plugins", "install", "version"]);
    expect(lines[0]).toMatch(/command provider plugin is not installed: running npm run toolchain/);
  });

  test("a toolchain step that cannot help stops with the offline toolchain's how-to as the way out", () => {
    const { toolchain } = fakeToolchain({ cli: false, plugin: false }, false);
    let thrown: unknown;
    try {
      ensureToolchain(toolchain);
    } catch (error) {
      thrown = error;
    }
    // Could not run (exit 3): what is wrong, then the way out as its fix.
    expect(thrown).toMatchObject({
      message: "the Pulumi CLI does not answer, and npm run toolchain did not fix it (exit 1)",
      kind: "unavailable",
      exitCode: 3,
    });
    expect((thrown as { fix: string }).fix).toMatch(/see its lines above and docs\/how-to\/offline-toolchain\.md/);
  });

  test.runIf(pulumiCliAvailable())(
    "on this machine, with the toolchain installed, it installs nothing and is quick",
    () => {
      const lines: string[] = [];
      const real = projectToolchain(PROJECT_ROOT, (line) => lines.push(line));
      if (!real.commandPluginInstalled()) return; // the quick path needs the plugin too
      const started = Date.now();
      expect(ensureToolchain({ ...real, install: () => expect.unreachable("nothing to install") })).toBe("ready");
      expect(lines).toEqual([]);
      expect(Date.now() - started).toBeLessThan(30_000);
    },
    60_000,
  );
});
