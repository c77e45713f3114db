// The one SSH connection helper for remote commands: every connection pins the host key, and
// every command runs as root: as it is when the SSH user is root, through `sudo -n` otherwise.
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import type { SshTarget } from "../../core/spec/stack";
import { asRoot } from "../../core/values/shell";

/** Waiting for a fresh server: up to ~5 minutes of retries, 15 s per attempt. */
export const DIAL_ERROR_LIMIT = 20;
export const PER_DIAL_TIMEOUT_SECONDS = 15;

/** A connection whose user is known while the program runs: it decides how commands become root. */
export type NodeConnection = types.input.remote.ConnectionArgs & { user: string };

export function sshConnection(target: SshTarget, privateKey: pulumi.Input<string>): NodeConnection {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    privateKey: pulumi.secret(privateKey),
    hostKey: target.hostKey,
    dialErrorLimit: DIAL_ERROR_LIMIT,
    perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
  };
}

type NodeCommandArgs = Omit<remote.CommandArgs, "addPreviousOutputInEnv" | "connection"> & { connection: NodeConnection };

/**
 * Every remote command of the kit, run as root (`as: "user"`: as the SSH user itself, for
 * the server check alone). The provider would pass the previous output as
 * PULUMI_COMMAND_STDOUT/STDERR through SSH's setenv, which Debian's sshd refuses
 * (AcceptEnv LANG LC_* only): a warning at best, a failed delete with older providers.
 * None of our scripts read them, so they are not sent.
 */
export function nodeCommand(
  name: string,
  args: NodeCommandArgs,
  opts: pulumi.CustomResourceOptions,
  as: "root" | "user" = "root",
): remote.Command {
  const user = args.connection.user;
  const wrap = (script: pulumi.Input<string> | undefined): pulumi.Input<string> | undefined => {
    if (script === undefined || as === "user" || user === "root") return script;
    return typeof script === "string" ? asRoot(user, script) : pulumi.output(script).apply((text) => asRoot(user, text));
  };
  const commands = { create: wrap(args.create), update: wrap(args.update), delete: wrap(args.delete) };
  // Only the commands given: an absent one stays absent.
  const given = Object.fromEntries(Object.entries(commands).filter(([, value]) => value !== undefined));
  return new remote.Command(name, { ...args, ...given, addPreviousOutputInEnv: false }, opts);
}
