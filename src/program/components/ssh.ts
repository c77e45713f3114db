// The one SSH connection helper for remote commands: every connection pins the host key.
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import type { SshTarget } from "../../core/spec/stack";

/** Waiting for a fresh server: up to ~5 minutes of retries, 15 s per attempt. */
export const DIAL_ERROR_LIMIT = 20;
export const PER_DIAL_TIMEOUT_SECONDS = 15;

export function sshConnection(target: SshTarget, privateKey: pulumi.Input<string>): types.input.remote.ConnectionArgs {
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

/**
 * Every remote command of the kit. The provider would pass the previous output as
 * PULUMI_COMMAND_STDOUT/STDERR through SSH's setenv, which Debian's sshd refuses
 * (AcceptEnv LANG LC_* only): a warning at best, a failed delete with older providers.
 * None of our scripts read them, so they are not sent.
 */
export function nodeCommand(
  name: string,
  args: Omit<remote.CommandArgs, "addPreviousOutputInEnv">,
  opts: pulumi.CustomResourceOptions,
): remote.Command {
  return new remote.Command(name, { ...args, addPreviousOutputInEnv: false }, opts);
}
