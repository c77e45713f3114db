// `boreal status`: the federation's health as the member's own node sees it. Connects over
// SSH with the stack's pinned host key (node-ssh), reaches the node's Prometheus on its mesh
// address through the SSH connection (nothing listens outside the mesh), and prints one
// table (src/core/status/report.ts).
//
// Exit codes (errors.ts): 0 healthy; 1 the federation is not healthy as the node sees it;
// 2 bad usage or input (the stack's config, a key file); 3 the node could not be asked.
import { request } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NodeSSH } from "node-ssh";
import { parseAgentConfig } from "../core/spec/agent";
import { NodeSpec, parseStackConfig } from "../core/spec/stack";
import { escapeShort } from "../core/values/escape";
import { federationStatus, formatStatus, LabelStates, Sample, STATUS_QUERIES, StatusAnswers } from "../core/status/report";
import { renderStatusMap } from "../core/status/map";
import { writeAtomic } from "../io/files";
import { judgeLabels } from "./label";
import { CliIo, neutralizeJson } from "./output";

export { neutralizeJson } from "./output";
import { AGENT } from "../core/node/layout";
import { PROMETHEUS_PORT } from "../core/values/ports";
import { asRoot } from "../core/values/shell";
import { ProcessError, run } from "../io/process";
import { SshError, SshTarget, sshWhere, withSsh } from "../io/ssh";
import { parseArgs } from "./args";
import { EXIT, inputError, systemErrorText, unavailableError, usageError } from "./errors";

export const STATUS_USAGE = `  boreal status [--stack NAME] [--cwd DIR] [--json] [--html OUT]
                                                             the federation's health, asked of this stack's node; labels judged from its boreal:registry
  boreal status --host H [--port P] [--user U] --identity FILE --host-key "ssh-ed25519 AAAA…" [--json] [--html OUT] [--registry DIR --trust N:SHA256]
                                                             --html OUT: the same as one page, the federation's map (docs/how-to/map.md)
                                                             exit 1 when not healthy, 3 when the node cannot be asked`;

const OPTIONS = {
  "--stack": "value",
  "--cwd": "value",
  "--host": "value",
  "--port": "value",
  "--user": "value",
  "--identity": "value",
  "--host-key": "value",
  "--json": "switch",
  "--html": "value",
  "--registry": "value",
  "--trust": "value",
} as const;

/** How long `pulumi config` may take: it may start the backend's first login. */
const PULUMI_CONFIG_TIMEOUT_MS = 120_000;

/** `boreal status ARGS...`: the stack's node (or the one the flags name) reports the federation's health. */
export async function statusCommand(args: readonly string[], projectDir: string): Promise<number> {
  const a = parseArgs(args, OPTIONS);
  if (a.positional.length > 0) throw usageError(`unexpected ${a.positional.join(" ")}: status takes options only`);
  const host = a.one("--host");
  const html = a.one("--html");
  const registry = a.one("--registry");
  const trust = a.one("--trust");
  if (trust !== undefined && registry === undefined)
    throw usageError(
      "--trust goes with --registry",
      "give the registry clone to judge the labels from: --registry DIR --trust N:SHA256",
      "--trust",
    );
  /** Labels judged from a registry clone, now: the explicit one (its errors are the user's to fix), or the stack's own. */
  const labelsFrom = (dir: string | undefined, pin: string | undefined) =>
    dir === undefined ? undefined : { judge: () => judgeLabels(dir, pin, stderrIo, new Date()), explicit: registry !== undefined };
  if (host !== undefined) {
    const identity = a.one("--identity");
    const hostKey = a.one("--host-key");
    if (!identity || !hostKey)
      throw usageError(
        '--host needs --identity (the SSH private key file) and --host-key (the pinned "ssh-ed25519 AAAA…")',
        "see the usage below",
        "--host",
      );
    return runStatus(
      targetFromFlags({ host, port: a.one("--port"), user: a.one("--user"), identity, hostKey }),
      a.on("--json"),
      undefined,
      {
        html,
        labels: labelsFrom(registry, trust),
      },
    );
  }
  for (const flag of ["--port", "--user", "--identity", "--host-key"])
    if (a.one(flag) !== undefined)
      throw usageError(`${flag} goes with --host`, "give --host H too, or leave the stack to say where its node is", flag);
  const cwd = a.one("--cwd") ?? process.cwd();
  stderrIo.err(`status: reading the stack's config (pulumi config in ${cwd})`);
  const spec = readStackConfig(projectDir, a.one("--stack"), cwd);
  return runStatus(targetOf(spec), a.on("--json"), undefined, {
    html,
    labels: registry !== undefined ? labelsFrom(registry, trust) : labelsFrom(resolve(cwd, spec.registry), spec.trust),
  });
}

const stderrIo: CliIo = { out: (line) => process.stderr.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };

export type StatusTarget = SshTarget;

/** Where to connect: the stack's own boreal:ssh (what `pulumi up` uses). */
export function targetFromStack(
  projectDir: string,
  stack: string | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): StatusTarget {
  return targetOf(readStackConfig(projectDir, stack, cwd, env));
}

function targetOf({ ssh }: NodeSpec): StatusTarget {
  return { host: ssh.host, port: ssh.port, user: ssh.user, privateKey: ssh.privateKey, hostKey: ssh.hostKey };
}

/**
 * The Pulumi CLI for the project in `cwd`: the project's own (a member's project pins it),
 * else the kit's (its checkout as the project).
 */
export function pulumiFor(cwd: string, kitDir: string): string {
  const own = join(cwd, "node_modules/.bin/pulumi");
  return existsSync(own) ? own : join(kitDir, "node_modules/.bin/pulumi");
}

/** The stack's config, secrets included, read with the project's pulumi and checked as `pulumi up` checks it. */
export function readStackConfig(
  projectDir: string,
  stack: string | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeSpec {
  const pulumi = pulumiFor(cwd, projectDir);
  const command = `pulumi config --show-secrets in ${cwd}`;
  let result;
  try {
    result = run(pulumi, ["config", "--json", "--show-secrets", ...(stack ? ["--stack", stack] : [])], {
      cwd,
      env,
      inheritEnv: false,
      allowFailure: true,
      timeoutMs: PULUMI_CONFIG_TIMEOUT_MS,
    });
  } catch (error) {
    if (error instanceof ProcessError && error.notInstalled)
      throw unavailableError(
        `could not read the stack's config: ${pulumi} is not installed`,
        "run npm install (then npm run toolchain if npx pulumi version does not answer) in your project's directory",
      );
    throw error;
  }
  if (result.timedOut)
    throw unavailableError(
      `could not read the stack's config: ${command} did not answer within ${PULUMI_CONFIG_TIMEOUT_MS / 1000} s`,
      "run pulumi config there yourself to see what it waits for",
    );
  if (result.status !== 0) {
    throw inputError(
      `could not read the stack's config (${command}): ${result.stderr.trim()}`,
      "run it from the stack's project, name the stack with --stack, and set PULUMI_CONFIG_PASSPHRASE if the stack uses one",
      cwd,
    );
  }
  let config: Record<string, { value?: string }>;
  try {
    config = JSON.parse(result.stdout) as Record<string, { value?: string }>;
  } catch {
    throw inputError(
      `pulumi config --json in ${cwd} did not answer JSON (${escapeShort(result.stdout.trim(), 80) || "nothing"})`,
      "run pulumi config there yourself to see what it says",
    );
  }
  const raw = Object.fromEntries(
    Object.entries(config)
      .filter(([, v]) => typeof v.value === "string")
      .map(([k, v]) => [k, v.value as string]),
  );
  return parseStackConfig(raw);
}

export function targetFromFlags(flags: { host: string; port?: string; user?: string; identity: string; hostKey: string }): StatusTarget {
  const port = Number(flags.port ?? 22);
  if (!/^\d{1,5}$/.test(flags.port ?? "22") || port < 1 || port > 65535)
    throw usageError(`--port must be a TCP port (1 to 65535), got ${JSON.stringify(flags.port)}`, "e.g. --port 22", "--port");
  let privateKey: string;
  try {
    privateKey = readFileSync(flags.identity, "utf8");
  } catch (error) {
    throw inputError(
      `--identity ${flags.identity} cannot be read: ${systemErrorText(error, false) ?? "unreadable"}`,
      "give the SSH private key file the node accepts (boreal:ssh.privateKey of the stack)",
      "--identity",
    );
  }
  return { host: flags.host, port, user: flags.user ?? "root", privateKey, hostKey: flags.hostKey };
}

/** Asks the node's Prometheus every status query; the node's name comes from its agent's config. */
export async function askNode(target: StatusTarget): Promise<{ node: string; answers: StatusAnswers }> {
  const where = sshWhere(target);
  try {
    return await withSsh(target, async (ssh) => {
      // Root's to read: a sudo user (boreal:ssh.user) reads it through sudo, as the kit's commands run.
      const agentConfig = await ssh.execCommand(asRoot(target.user, `cat ${AGENT.config}`));
      if (agentConfig.code !== 0)
        throw unavailableError(`${where} is not a node of the kit (no ${AGENT.config})`, "run pulumi up for it first", where);
      const { spec } = parseAgentConfig(agentConfig.stdout, `${where}:${AGENT.config}`);
      const mesh = spec.meshAddress?.ipv4;
      if (!mesh)
        throw unavailableError(
          `${where}:${AGENT.config} has no mesh address`,
          "re-apply the node's stack (pulumi up)",
          `${where}:${AGENT.config}`,
        );
      const entries = await Promise.all(
        Object.entries(STATUS_QUERIES).map(
          async ([name, query]) => [name, await queryPrometheus(ssh, mesh, query.replaceAll("{self}", spec.node), where)] as const,
        ),
      );
      return { node: spec.node, answers: Object.fromEntries(entries) as StatusAnswers };
    });
  } catch (error) {
    if (!(error instanceof SshError)) throw error;
    if (error.failure === "private-key")
      throw inputError(
        error.message,
        "give the SSH private key file the node accepts (boreal:ssh.privateKey of the stack, or --identity)",
        error.where,
      );
    throw unavailableError(error.message, error.fix, error.where);
  }
}

/** One instant query over an SSH channel to the node's Prometheus on its mesh address. */
async function queryPrometheus(ssh: NodeSSH, mesh: string, query: string, where: string): Promise<Sample[]> {
  const channel = await ssh.forwardOut("127.0.0.1", 0, mesh, PROMETHEUS_PORT).catch((error: Error) => {
    throw unavailableError(
      `${where}: its Prometheus (${mesh}:${PROMETHEUS_PORT}) does not answer: ${escapeShort(error.message, 300)}`,
      "systemctl status prometheus on the node; re-apply its stack if the unit is missing",
      where,
    );
  });
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: mesh,
        port: PROMETHEUS_PORT,
        path: `/api/v1/query?query=${encodeURIComponent(query)}`,
        createConnection: () => channel as never,
        timeout: 15_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(text)
            : reject(
                unavailableError(
                  `${where}: Prometheus answered ${res.statusCode} to ${query}: ${escapeShort(text, 200)}`,
                  "systemctl status prometheus on the node",
                  where,
                ),
              ),
        );
      },
    );
    req.on("timeout", () =>
      req.destroy(
        unavailableError(`${where}: Prometheus did not answer ${query} within 15 s`, "systemctl status prometheus on the node", where),
      ),
    );
    req.on("error", reject);
    req.end();
  });
  let parsed: { data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw unavailableError(
      `${where}: Prometheus answered ${query} with no JSON (${escapeShort(body, 120)})`,
      "systemctl status prometheus on the node",
      where,
    );
  }
  return (parsed.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

export interface StatusOutputs {
  /** Also writes the map (one HTML page) there. */
  html?: string;
  /** Judges every node's label (from a registry clone); without it the labels are "not judged". */
  labels?: { judge: () => LabelStates; explicit: boolean };
}

/** Prints the table (or JSON), and writes the map; exit 0 when healthy, 1 when not. Unreachable: throws, named (exit 3). */
export async function runStatus(
  target: StatusTarget,
  json: boolean,
  print: (text: string) => void = (t) => process.stdout.write(t),
  outputs: StatusOutputs = {},
): Promise<number> {
  process.stderr.write(`status: asking ${target.user}@${target.host}:${target.port} over SSH (its Prometheus, on the mesh)\n`);
  const { node, answers } = await askNode(target);
  const at = new Date();
  const status = federationStatus(node, answers, outputs.labels ? labelStates(outputs.labels) : undefined);
  if (outputs.html !== undefined) writeMap(outputs.html, renderStatusMap(status, { at: at.toISOString() }));
  // The labels come from the registry through the node's Prometheus: the table escapes them,
  // and the JSON (the same values) keeps no character a terminal would act on.
  print(json ? `${neutralizeJson(JSON.stringify(status, null, 2))}\n` : formatStatus(status));
  if (outputs.html !== undefined && !json) print(`map written to ${outputs.html}\n`);
  return status.healthy ? EXIT.ok : EXIT.problem;
}

/** The labels, or why not: the stack's registry that cannot be read never stops the health report (--registry's does). */
function labelStates(labels: { judge: () => LabelStates; explicit: boolean }): LabelStates {
  try {
    return labels.judge();
  } catch (error) {
    if (labels.explicit) throw error;
    return { judged: false, why: escapeShort((error as Error).message, 300) };
  }
}

function writeMap(path: string, html: string): void {
  try {
    writeAtomic(path, html);
  } catch (error) {
    throw inputError(
      `--html ${path} cannot be written: ${systemErrorText(error, false) ?? escapeShort((error as Error).message)}`,
      "give a file path in a directory you can write to, e.g. --html federation.html",
      "--html",
    );
  }
}
