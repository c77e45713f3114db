// The toolchain step that `boreal demo` and `boreal lab up` take by themselves: on a
// machine where `npx pulumi` cannot download the CLI, `npm run toolchain` builds it (and
// installs the language host and the command provider from ../shared/plugins).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ProcessError, runAttached } from "../io/process";
import { commandPluginInstalled } from "../lab/pulumi";
import { unavailableError } from "./errors";

export interface Toolchain {
  /** `npx pulumi version` answers the pinned version. */
  pulumiAnswers(): boolean;
  commandPluginInstalled(): boolean;
  /** Runs `npm run toolchain`; its exit status. */
  install(): number | null;
  log(line: string): void;
}

/**
 * Idempotent and quick when everything is there (two checks, no install). Runs the
 * toolchain step when the CLI does not answer or the command provider is missing, with a
 * progress line; fails, pointing at docs/how-to/offline-toolchain.md, only if the CLI still does not answer (a
 * missing command provider is left to the caller, who may still install it from the net).
 */
export function ensureToolchain(toolchain: Toolchain, now: () => number = Date.now): "ready" | "installed" {
  const answers = toolchain.pulumiAnswers();
  if (answers && toolchain.commandPluginInstalled()) return "ready";
  toolchain.log(
    answers
      ? "toolchain: the command provider plugin is not installed: running npm run toolchain (seconds)"
      : "toolchain: `npx pulumi version` does not answer: running npm run toolchain (the first time it builds the Pulumi CLI: about 5 minutes on 2 cores)",
  );
  const started = now();
  const status = toolchain.install();
  if (!toolchain.pulumiAnswers()) {
    throw unavailableError(
      `the Pulumi CLI does not answer, and npm run toolchain did not fix it (exit ${status})`,
      `see its lines above and docs/how-to/offline-toolchain.md`,
      "npx pulumi version",
    );
  }
  toolchain.log(`toolchain: ready in ${Math.round((now() - started) / 1000)}s`);
  return "installed";
}

/** The project's own toolchain: its CLI launcher, its pins, scripts/toolchain.sh. */
export function projectToolchain(projectDir: string, log: (line: string) => void): Toolchain {
  const pinned = (JSON.parse(readFileSync(join(projectDir, "package.json"), "utf8")) as { dependencies: { pulumi: string } }).dependencies
    .pulumi;
  return {
    // Quick once the CLI is cached; before, the npm launcher downloads it (its
    // "Downloading…" line shows) or fails at once without internet.
    pulumiAnswers: () => {
      const run = missingAsNull(() =>
        runAttached(join(projectDir, "node_modules", ".bin", "pulumi"), ["version"], {
          stdout: "capture",
          timeoutMs: 900_000,
          allowFailure: true,
          env: { PULUMI_SKIP_UPDATE_CHECK: "true" },
        }),
      );
      return run?.status === 0 && run.stdout.trim() === `v${pinned}`;
    },
    commandPluginInstalled: () => commandPluginInstalled(projectDir),
    // The build's progress shows as it comes; it takes minutes the first time.
    install: () =>
      missingAsNull(() => runAttached("bash", [join(projectDir, "scripts", "toolchain.sh")], { cwd: projectDir, allowFailure: true }))
        ?.status ?? null,
    log,
  };
}

/** A program that is not there answers nothing, like one that failed. */
function missingAsNull<T>(start: () => T): T | undefined {
  try {
    return start();
  } catch (error) {
    if (error instanceof ProcessError && error.notInstalled) return undefined;
    throw error;
  }
}
