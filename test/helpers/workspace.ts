// A throwaway Pulumi workspace for the real engine: the project's files linked in, a
// Pulumi.yaml whose backend is a file:// directory inside it, and a test passphrase.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { commandPluginInstalled as pluginInstalled } from "../../src/lab/pulumi";
import { linkWorkspace } from "../../src/lab/workspace";
import { join, resolve } from "node:path";
import { FIXTURE_HOST_KEY, FIXTURE_KEYS, FIXTURE_PRIVATE_KEY, FIXTURE_REGISTRY, fixtureTrust } from "./fixtures";

export const PROJECT_ROOT = resolve(__dirname, "..", "..");
const isRoot = process.getuid?.() === 0;
const PULUMI_BIN = join(PROJECT_ROOT, "node_modules", ".bin", "pulumi");
/** The rule set's policy pack, as a member passes it to --policy-pack. */
export const POLICY_PACK = join(PROJECT_ROOT, "src", "policy");

export interface RunResult {
  status: number;
  output: string;
}

export class Workspace {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Where pulumi runs (the Pulumi project), and the pulumi and node it runs: the kit's, or a member project's own. */
  private project = { dir: "", bin: join(PROJECT_ROOT, "node_modules", ".bin") };

  constructor(prefix: string, files: Record<string, string> = {}, linkProject = true) {
    this.dir = mkdtempSync(join(tmpdir(), `boreal-${prefix}-`));
    this.project.dir = this.dir;
    if (linkProject) {
      linkWorkspace(this.dir, PROJECT_ROOT);
    } else {
      mkdirSync(join(this.dir, "state"));
      mkdirSync(join(this.dir, "stacks"));
    }
    for (const [path, content] of Object.entries(files)) writeFileSync(join(this.dir, path), content);
    this.env = {
      ...process.env,
      PATH: `${join(PROJECT_ROOT, "node_modules", ".bin")}:${process.env.PATH}`,
      PULUMI_CONFIG_PASSPHRASE: "boreal-test-passphrase",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_BACKEND_URL: `file://${this.dir}/state`,
    };
  }

  /**
   * pulumi runs in a member's project (boreal init's) instead, with its own node_modules/.bin:
   * its pulumi, its Node.js. The state stays in this workspace.
   */
  useProject(dir: string): void {
    this.project = { dir, bin: join(dir, "node_modules", ".bin") };
    this.env.PATH = `${this.project.bin}:${process.env.PATH}`;
  }

  pulumi(args: string[], input?: string): RunResult {
    // In a network namespace of its own, with only the loopback up (the engine and its plugins
    // talk over it): the fixture's server addresses are nobody's, and a preview's server check
    // (src/program/preview-look.ts) must find them unreachable here, never ask the uplink.
    const own = isRoot ? ["--net"] : ["--user", "--map-root-user", "--net"];
    const command = ["unshare", ...own, "sh", "-c", 'ip link set lo up && exec "$0" "$@"', join(this.project.bin, "pulumi")];
    const result = spawnSync(command[0], [...command.slice(1), ...args, "--non-interactive"], {
      cwd: this.project.dir,
      env: this.env,
      encoding: "utf8",
      input,
      timeout: 600_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
  }

  /** Like pulumi(), but a failure throws with the whole output. */
  must(args: string[], input?: string): string {
    const result = this.pulumi(args, input);
    if (result.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (${result.status}):\n${result.output}`);
    return result.output;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function pulumiCliAvailable(): boolean {
  return (
    spawnSync(PULUMI_BIN, ["version"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" }, timeout: 60_000 })
      .status === 0
  );
}

/** The pinned command provider plugin is installed (see src/lab/pulumi.ts). */
export function commandPluginInstalled(): boolean {
  return pluginInstalled(PROJECT_ROOT);
}

/**
 * A good node config (member coop-b, node b1 of the fixture registry) on the workspace's
 * current stack, with two services of its own in boreal:firewall.allow.
 */
export function configureNode(ws: Workspace): void {
  // Values go through stdin: a PEM key starts with dashes, which the CLI would read as flags.
  const set = (key: string, value: string, secret = false) =>
    ws.must(["config", "set", "--path", ...(secret ? ["--secret"] : []), key], value);
  set("boreal:member", "coop-b");
  set("boreal:node", "b1");
  set("boreal:endpoint", "198.51.100.12:51820");
  set("boreal:registry", FIXTURE_REGISTRY);
  set("boreal:zones[0]", "coop-b.example.");
  set("boreal:ssh.host", "198.51.100.12");
  set("boreal:ssh.hostKey", FIXTURE_HOST_KEY);
  set("boreal:ssh.privateKey", FIXTURE_PRIVATE_KEY, true);
  set("boreal:trust", fixtureTrust());
  set("boreal:signingKeyFile", FIXTURE_KEYS["coop-b"]);
  // boreal:firewall.allow as `config set --path` stores it: a list and an object in it.
  set("boreal:firewall.allow[0]", "tcp/443");
  set("boreal:firewall.allow[1].port", "tcp/993");
  set("boreal:firewall.allow[1].from[0]", "198.51.100.0/24");
}
