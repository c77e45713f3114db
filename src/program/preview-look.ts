// The server check at a preview (issue #27). The engine runs no remote command at a preview,
// so the program takes the same look itself, over the kit's SSH helper (src/io/ssh.ts) as the
// SSH user, and judges it with the same functions: a preview refuses what the up would refuse,
// in the same words.
import * as pulumi from "@pulumi/pulumi";
import type { FirewallPlan } from "../core/firewall/plan";
import { RenderedFile, WIREGUARD_INTERFACE } from "../core/node/layout";
import { contentHash, TemplateSources } from "../core/node/render";
import { asRoot, shellQuote } from "../core/values/shell";
import { SshError, SshTarget, sshWhere, withSsh } from "../io/ssh";
import { judgeLook } from "../core/firewall/listening";
import { lookRefusal, serverCheckScript } from "./components/check";

export interface PreviewLookArgs {
  ssh: SshTarget;
  templates: TemplateSources;
  firewall: FirewallPlan;
  /** boreal:firewall.closeListening. */
  closeListening: string[];
  /** The firewall's files as the up would write them. */
  firewallFiles: RenderedFile[];
}

/**
 * Whether the server already has the kit's firewall exactly as planned, from `sha256sum`'s
 * output for the firewall's files. Then the up takes no new look (the check's script is the
 * same as at the last up), and a service started since was never open: nothing to refuse.
 */
export function firewallInPlace(files: RenderedFile[], sha256sum: string): boolean {
  if (files.length === 0) return false;
  const found = new Map(
    sha256sum
      .split("\n")
      .map((line) => /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim()))
      .filter((m) => m !== null)
      .map((m) => [m[2], m[1].slice(0, 16)]),
  );
  return files.every((f) => found.get(f.path) === contentHash(f.content));
}

/**
 * What the preview does with the look: nothing, a refusal (thrown, the up's words), or a warning
 * that no look was taken; a look taken may also find what slows the up (`slowdowns`).
 */
export type LookOutcome = { refuse: pulumi.RunError; slowdowns: string[] } | { warn: string } | { ok: string; slowdowns: string[] };

/**
 * Takes the look and judges it. A look that cannot be taken is a warning, never a refusal: a
 * preview must work where the server cannot be reached (a laptop offline, a server not yet
 * handed out, a CI preview of the config alone), and the up takes the look again, before any
 * change, and fails there if it cannot connect. The warning names the server, the reason and
 * the boreal:ssh key to look at (a host key that is not the pinned one, a private key that
 * cannot be used).
 */
export async function previewLook(args: PreviewLookArgs, readyTimeoutMs?: number): Promise<LookOutcome> {
  const where = sshWhere(args.ssh);
  let stdout: string;
  let hashes: string;
  try {
    ({ stdout, hashes } = await withSsh(
      args.ssh,
      async (ssh) => {
        const look = await ssh.execCommand(serverCheckScript(args.templates));
        const paths = args.firewallFiles.map((f) => shellQuote(f.path)).join(" ");
        const sum = paths ? await ssh.execCommand(asRoot(args.ssh.user, `sha256sum -- ${paths}`)) : undefined;
        return { stdout: look.stdout, hashes: sum?.stdout ?? "" };
      },
      readyTimeoutMs,
    ));
  } catch (error) {
    if (!(error instanceof SshError)) throw error;
    const fix = error.failure === "unreachable" ? "" : ` (fix: ${error.fix})`;
    return { warn: `server check not taken at this preview: ${error.message}${fix}; the up takes it before any change` };
  }
  const { problems: found, slowdowns } = judgeLook(stdout, {
    user: args.ssh.user,
    firewall: args.firewall,
    closeListening: args.closeListening,
    meshInterface: WIREGUARD_INTERFACE,
  });
  if (found.length === 0) return { ok: `server check at ${where}: nothing the firewall would cut`, slowdowns };
  if (firewallInPlace(args.firewallFiles, hashes))
    return { ok: `server check at ${where}: the kit's firewall is in place as planned; the up takes no new look`, slowdowns };
  return { refuse: lookRefusal(found), slowdowns };
}

/** The preview's part in the program: logs the outcome, or throws the refusal. */
export async function previewLookStep(args: PreviewLookArgs): Promise<void> {
  const outcome = await previewLook(args);
  for (const slowdown of "slowdowns" in outcome ? outcome.slowdowns : []) pulumi.log.warn(slowdown);
  if ("refuse" in outcome) throw outcome.refuse;
  if ("warn" in outcome) pulumi.log.warn(outcome.warn);
  else pulumi.log.info(outcome.ok);
}
