// `boreal status`: the federation's health as the member's own node sees it. Connects over
// SSH with the stack's pinned host key (node-ssh), reaches the node's Prometheus on its mesh
// address through the SSH connection (nothing listens outside the mesh), and prints one
// table (src/status/report.ts).
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NodeSSH } from "node-ssh";
import { parseAgentConfig } from "../agent/config";
import { NodeSpec, parseStackConfig } from "../config/stack";
import { PROMETHEUS_PORT } from "../model/monitoring";
import { AGENT } from "../render/scripts";
import { federationStatus, formatStatus, Sample, STATUS_QUERIES, StatusAnswers } from "../status/report";

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
  const config = JSON.parse(result.stdout) as Record<string, { value?: string }>;
  const raw = Object.fromEntries(Object.entries(config).filter(([, v]) => typeof v.value === "string").map(([k, v]) => [k, v.value as string]));
  return parseStackConfig(raw);
}

export function targetFromFlags(flags: { host: string; port?: string; user?: string; identity: string; hostKey: string }): StatusTarget {
  return { host: flags.host, port: Number(flags.port ?? 22), user: flags.user ?? "root", privateKey: readFileSync(flags.identity, "utf8"), hostKey: flags.hostKey };
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
    throw new Error(`cannot reach ${where}: ${(error as Error).message}\n  fix: check that the server is up and that SSH answers there (boreal:ssh in the stack)`);
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
    throw new Error(`${where}: its Prometheus (${mesh}:${PROMETHEUS_PORT}) does not answer: ${error.message}\n  fix: systemctl status prometheus on the node; re-apply its stack if the unit is missing`);
  });
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ host: mesh, port: PROMETHEUS_PORT, path: `/api/v1/query?query=${encodeURIComponent(query)}`, createConnection: () => channel as never, timeout: 15_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${where}: Prometheus answered ${res.statusCode} to ${query}: ${text.slice(0, 200)}`))));
    });
    req.on("timeout", () => req.destroy(new Error(`${where}: Prometheus did not answer ${query} within 15 s`)));
    req.on("error", reject);
    req.end();
  });
  const parsed = JSON.parse(body) as { data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } };
  return (parsed.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** Prints the table (or JSON); exit 0 when healthy, 1 when not. Unreachable: throws, named. */
export async function runStatus(target: StatusTarget, json: boolean, print: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const { node, answers } = await askNode(target);
  const status = federationStatus(node, answers);
  print(json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
  return status.healthy ? 0 : 1;
}
