// `boreal status`: the federation's health as the member's own node sees it. Connects over
// SSH with the stack's pinned host key (node-ssh), reaches the node's Prometheus on its mesh
// address through the SSH connection (nothing listens outside the mesh), and prints one
// table (src/core/status/report.ts).
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NodeSSH } from "node-ssh";
import { parseAgentConfig } from "../core/spec/agent";
import { NodeSpec, parseStackConfig } from "../core/spec/stack";
import { escapeShort } from "../core/values/escape";
import { federationStatus, formatStatus, Sample, STATUS_QUERIES, StatusAnswers } from "../core/status/report";
import { systemErrorText } from "./registry";
import { AGENT } from "../core/node/layout";
import { PROMETHEUS_PORT } from "../core/values/ports";

export const STATUS_USAGE = `  boreal status [--stack NAME] [--cwd DIR] [--json]        the federation's health, asked of this stack's node
  boreal status --host H [--port P] [--user U] --identity FILE --host-key "ssh-ed25519 AAAA…" [--json]`;

export interface StatusTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  /** The pinned host key, "ssh-ed25519 AAAA…". */
  hostKey: string;
}

/** Where to connect: the stack's own boreal:ssh (what `pulumi up` uses). */
export function targetFromStack(projectDir: string, stack: string | undefined, cwd: string, env: NodeJS.ProcessEnv = process.env): StatusTarget {
  const { ssh } = readStackConfig(projectDir, stack, cwd, env);
  return { host: ssh.host, port: ssh.port, user: ssh.user, privateKey: ssh.privateKey, hostKey: ssh.hostKey };
}

/** The stack's config, secrets included, read with the kit's pulumi and checked as `pulumi up` checks it. */
export function readStackConfig(projectDir: string, stack: string | undefined, cwd: string, env: NodeJS.ProcessEnv = process.env): NodeSpec {
  const pulumi = join(projectDir, "node_modules/.bin/pulumi");
  const result = spawnSync(pulumi, ["config", "--json", "--show-secrets", ...(stack ? ["--stack", stack] : [])], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`could not read the stack's config (pulumi config --show-secrets in ${cwd}): ${result.stderr.trim()}\n  fix: run it from the stack's project, name the stack with --stack, and set PULUMI_CONFIG_PASSPHRASE if the stack uses one`);
  let config: Record<string, { value?: string }>;
  try {
    config = JSON.parse(result.stdout) as Record<string, { value?: string }>;
  } catch {
    throw new Error(`pulumi config --json in ${cwd} did not answer JSON (${escapeShort(result.stdout.trim(), 80) || "nothing"})\n  fix: run pulumi config there yourself to see what it says`);
  }
  const raw = Object.fromEntries(Object.entries(config).filter(([, v]) => typeof v.value === "string").map(([k, v]) => [k, v.value as string]));
  return parseStackConfig(raw);
}

export function targetFromFlags(flags: { host: string; port?: string; user?: string; identity: string; hostKey: string }): StatusTarget {
  const port = Number(flags.port ?? 22);
  if (!/^\d{1,5}$/.test(flags.port ?? "22") || port < 1 || port > 65535) throw new Error(`--port must be a TCP port (1 to 65535), got ${JSON.stringify(flags.port)}\n  fix: e.g. --port 22`);
  let privateKey: string;
  try {
    privateKey = readFileSync(flags.identity, "utf8");
  } catch (error) {
    throw new Error(`--identity ${flags.identity} cannot be read: ${systemErrorText(error, false) ?? "unreadable"}\n  fix: give the SSH private key file the node accepts (boreal:ssh.privateKey of the stack)`);
  }
  return { host: flags.host, port, user: flags.user ?? "root", privateKey, hostKey: flags.hostKey };
}

/** Asks the node's Prometheus every status query; the node's name comes from its agent's config. */
export async function askNode(target: StatusTarget): Promise<{ node: string; answers: StatusAnswers }> {
  const where = `${target.user}@${target.host}:${target.port}`;
  const pinned = Buffer.from(target.hostKey.trim().split(/\s+/)[1] ?? "", "base64");
  let offered: Buffer | undefined;
  const ssh = new NodeSSH();
  try {
    await ssh.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: 15_000,
      hostVerifier: (key: Buffer) => {
        offered = key;
        return key.equals(pinned);
      },
    });
  } catch (error) {
    if (offered && !offered.equals(pinned)) throw new Error(`cannot reach ${where}: its host key is not the one pinned in boreal:ssh.hostKey (the server was reinstalled, or this is not it)\n  fix: check the key out of band before changing the pin`);
    throw new Error(`cannot reach ${where}: ${escapeShort((error as Error).message, 300)}\n  fix: check that the server is up and that SSH answers there (boreal:ssh in the stack)`);
  }
  try {
    const agentConfig = await ssh.execCommand(`cat ${AGENT.config}`);
    if (agentConfig.code !== 0) throw new Error(`${where} is not a node of the kit (no ${AGENT.config}): run pulumi up for it first`);
    const { spec } = parseAgentConfig(agentConfig.stdout, `${where}:${AGENT.config}`);
    const mesh = spec.meshAddress?.ipv4;
    if (!mesh) throw new Error(`${where}:${AGENT.config} has no mesh address: re-apply the node's stack (pulumi up)`);
    const entries = await Promise.all(
      Object.entries(STATUS_QUERIES).map(async ([name, query]) => [name, await queryPrometheus(ssh, mesh, query.replaceAll("{self}", spec.node), where)] as const),
    );
    return { node: spec.node, answers: Object.fromEntries(entries) as StatusAnswers };
  } finally {
    ssh.dispose();
  }
}

/** One instant query over an SSH channel to the node's Prometheus on its mesh address. */
async function queryPrometheus(ssh: NodeSSH, mesh: string, query: string, where: string): Promise<Sample[]> {
  const channel = await ssh.forwardOut("127.0.0.1", 0, mesh, PROMETHEUS_PORT).catch((error: Error) => {
    throw new Error(`${where}: its Prometheus (${mesh}:${PROMETHEUS_PORT}) does not answer: ${escapeShort(error.message, 300)}\n  fix: systemctl status prometheus on the node; re-apply its stack if the unit is missing`);
  });
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ host: mesh, port: PROMETHEUS_PORT, path: `/api/v1/query?query=${encodeURIComponent(query)}`, createConnection: () => channel as never, timeout: 15_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${where}: Prometheus answered ${res.statusCode} to ${query}: ${escapeShort(text, 200)}`))));
    });
    req.on("timeout", () => req.destroy(new Error(`${where}: Prometheus did not answer ${query} within 15 s`)));
    req.on("error", reject);
    req.end();
  });
  let parsed: { data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new Error(`${where}: Prometheus answered ${query} with no JSON (${escapeShort(body, 120)})\n  fix: systemctl status prometheus on the node`);
  }
  return (parsed.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** Prints the table (or JSON); exit 0 when healthy, 1 when not. Unreachable: throws, named. */
export async function runStatus(target: StatusTarget, json: boolean, print: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const { node, answers } = await askNode(target);
  const status = federationStatus(node, answers);
  // The labels come from the registry through the node's Prometheus: the table escapes them,
  // and the JSON (the same values) keeps no character a terminal would act on.
  print(json ? `${neutralizeJson(JSON.stringify(status, null, 2))}\n` : formatStatus(status));
  return status.healthy ? 0 : 1;
}

/**
 * JSON text with every character a terminal acts on as a \u escape: the same JSON values, safe
 * to print. JSON.stringify escapes C0 controls already; DEL, C1 controls, bidi overrides and
 * the line separators it leaves raw can only stand inside a string, where \u is the same.
 */
export function neutralizeJson(json: string): string {
  return json.replace(/[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
