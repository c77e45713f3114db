// One SSH session from the kit's own process (not a remote command of the engine's): the
// connection with the stack's pinned host key, the commands run over it, and why it failed,
// named by the boreal:ssh key to look at. `boreal status` asks the node's Prometheus over it;
// the program takes the server check's look over it at a preview (src/program/preview-look.ts).
import type { NodeSSH } from "node-ssh";
import { escapeShort } from "../core/values/escape";

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  /** The pinned host key, "ssh-ed25519 AAAA…". */
  hostKey: string;
}

/**
 * Why a session could not start. host-key: the server offered another key than the pinned
 * one; private-key: the key cannot be used; unreachable: anything else (no route, no answer,
 * the key refused), with the client's own words.
 */
export type SshFailure = "host-key" | "private-key" | "unreachable";

export class SshError extends Error {
  constructor(
    readonly failure: SshFailure,
    message: string,
    /** The boreal:ssh key to look at, or user@host:port. */
    readonly where: string,
    readonly fix: string,
    /** The client's own words (unreachable, private-key). */
    readonly said: string = "",
  ) {
    super(message);
    this.name = "SshError";
  }
}

/** user@host:port, as the messages name a target. */
export function sshWhere(target: SshTarget): string {
  return `${target.user}@${target.host}:${target.port}`;
}

/** Connects (the host key must be the pinned one), runs `use`, and always closes the connection. */
export async function withSsh<T>(target: SshTarget, use: (ssh: NodeSSH) => Promise<T>, readyTimeoutMs = 15_000): Promise<T> {
  const where = sshWhere(target);
  const pinned = Buffer.from(target.hostKey.trim().split(/\s+/)[1] ?? "", "base64");
  let offered: Buffer | undefined;
  // Loaded when a server is asked: ssh2 is the heaviest module of the CLI, and --help must stay quick.
  const ssh = new (await import("node-ssh")).NodeSSH();
  try {
    await ssh.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: readyTimeoutMs,
      hostVerifier: (key: Buffer) => {
        offered = key;
        return key.equals(pinned);
      },
    });
  } catch (error) {
    ssh.dispose();
    if (offered && !offered.equals(pinned)) {
      throw new SshError(
        "host-key",
        `cannot reach ${where}: its host key is not the one pinned in boreal:ssh.hostKey (the server was reinstalled, or this is not it)`,
        "boreal:ssh.hostKey",
        "check the key out of band before changing the pin",
      );
    }
    const said = escapeShort((error as Error).message, 300);
    if (/privateKey|private key/i.test(said))
      throw new SshError(
        "private-key",
        `the SSH private key for ${where} cannot be used: ${said}`,
        "boreal:ssh.privateKey",
        "give the SSH private key the server accepts (boreal:ssh.privateKey of the stack)",
        said,
      );
    throw new SshError(
      "unreachable",
      `cannot reach ${where}: ${said}`,
      where,
      "check that the server is up and that SSH answers there (boreal:ssh in the stack)",
      said,
    );
  }
  try {
    return await use(ssh);
  } finally {
    ssh.dispose();
  }
}
