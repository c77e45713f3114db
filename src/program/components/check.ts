// The server check: the first step of `pulumi up`, which every other step waits for. Run as
// the SSH user itself, it changes nothing; it tells whether that user can act as root and
// what already listens on the server. A user without sudo, or a service the kit's firewall
// would cut without the member having said so, stops the up before any change on the node.
import * as pulumi from "@pulumi/pulumi";
import type { remote } from "@pulumi/command";
import { judgeLook } from "../../core/firewall/listening";
import type { FirewallPlan } from "../../core/firewall/plan";
import { contentHash, renderScript, TemplateSources } from "../../core/node/render";
import { MANAGED_MARK } from "../../core/node/scripts";
import { KNOT_CONF, RenderedFile, WIREGUARD_INTERFACE } from "../../core/node/layout";
import { BorealConfigError, ConfigProblem } from "../../core/values/problems";
import { NodeConnection, nodeCommand } from "./ssh";

export function serverCheckScript(templates: TemplateSources): string {
  return renderScript(templates, "run/server-check.sh.hbs", { managedMark: MANAGED_MARK, knotConf: KNOT_CONF });
}

/** The message the up fails with when the look found problems; the preview fails with the same words. */
export function lookRefusal(found: ConfigProblem[]): pulumi.RunError {
  // A RunError: the engine prints the message alone, as it does for a bad stack config.
  return new pulumi.RunError(new BorealConfigError(found).message);
}

export interface ServerCheckArgs {
  connection: NodeConnection;
  templates: TemplateSources;
  firewall: FirewallPlan;
  /** boreal:firewall.closeListening. */
  closeListening: string[];
  /** The firewall's files: a change in them is a new look before it applies. */
  firewallFiles: RenderedFile[];
  /**
   * A refused look is taken again at the next up, though nothing in the config changed (the
   * member may have stopped the service instead): `token` rides in the script, and `renew`,
   * called on a refusal, changes it for the next run. Without it, a refused look is kept.
   */
  lookAgain?: { token: string; renew: () => void };
}

export interface ServerCheck {
  step: remote.Command;
  /** What the look found wrong: a user without sudo, or the services the firewall would cut. */
  problems: pulumi.Output<ConfigProblem[]>;
}

/** `value` once the look passed; else the up fails here, before any change, with the problems it found. */
export function afterCheck<T>(check: ServerCheck, value: T): pulumi.Output<T> {
  return check.problems.apply((found) => {
    if (found.length === 0) return value;
    throw lookRefusal(found);
  });
}

/**
 * The look is taken when the step is created, and again whenever the firewall's policy or
 * the member's answers change (they are in the script's first line: an update re-runs it).
 * A refused look is taken again at the next up (lookAgain). Nothing else makes it run again:
 * once the firewall is in place, a service started later was never open, so the kit cuts
 * nothing of it.
 */
export function serverCheck(name: string, args: ServerCheckArgs, opts: pulumi.CustomResourceOptions): ServerCheck {
  const answers = [...args.firewallFiles.map((f) => `${f.path}:${contentHash(f.content)}`), ...args.closeListening].join(" ");
  const again = args.lookAgain?.token ? ` look ${args.lookAgain.token}` : "";
  const script = `# boreal: firewall ${answers}${again}\n${serverCheckScript(args.templates)}`;
  const step = nodeCommand(name, { connection: args.connection, create: script, update: script }, opts, "user");
  const problems = step.stdout.apply((stdout) => {
    const judged = judgeLook(stdout, {
      user: args.connection.user,
      firewall: args.firewall,
      closeListening: args.closeListening,
      meshInterface: WIREGUARD_INTERFACE,
    });
    for (const warning of judged.slowdowns) pulumi.log.warn(warning, step);
    return judged.problems;
  });
  // Also at a preview that reads a refused look from the state: the next up looks anew.
  const renewed = problems.apply((found) => {
    if (found.length > 0) args.lookAgain?.renew();
    return found;
  });
  return { step, problems: renewed };
}
