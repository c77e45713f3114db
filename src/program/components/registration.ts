// Registration: this node's signed descriptor in the member's registry clone, pushed to a
// mirror when the stack names a git remote; on destroy, the signed tombstone in its place.
import * as pulumi from "@pulumi/pulumi";
import { local } from "@pulumi/command";
import { resolve } from "node:path";
import { descriptorPath, signaturePath } from "../../core/registry/format";
import type { TemplateSources } from "../../core/node/render";
import { REGISTRY_PUBLISH_TEMPLATE, registryPublishEnv } from "../../io/git";
import { loadTemplates } from "../../io/templates";

/** A node object and its signature, as written to nodes/<node>.yaml and .yaml.sig. */
export interface SignedObject {
  content: string;
  signature: string;
}

export interface RegistrationArgs {
  registryDir: string;
  node: string;
  descriptor: pulumi.Output<SignedObject>;
  /**
   * Signed together with the descriptor (one serial above it), because `pulumi destroy`
   * runs a stored command and cannot sign then.
   */
  tombstone: pulumi.Output<SignedObject>;
  /** A git remote of the registry clone to push to; none: the member pushes by hand. */
  publish?: string;
  /** The kit's templates, the publishing script among them; default: read from templates/. */
  templates?: TemplateSources;
}

/**
 * The registry's one commit-and-push-with-retry (templates/run/registry-publish.sh.hbs), which
 * the nodes' agents run too: it writes the object and its signature (temp file + rename: a
 * reader never sees half), commits them if they changed, and pushes to boreal:publish.
 */
export function publishScript(templates: TemplateSources = loadTemplates()): string {
  const script = templates[REGISTRY_PUBLISH_TEMPLATE];
  if (script === undefined) throw new Error(`template ${REGISTRY_PUBLISH_TEMPLATE} is missing from templates/`);
  return script;
}

/** The script's environment for a node's object: `what` names it in the commit ("descriptor", "left the federation"). */
export function registrationEnv(
  registryDir: string,
  node: string,
  publish: string,
  object: SignedObject,
  what: string,
): Record<string, string> {
  const path = descriptorPath(node);
  return registryPublishEnv({
    registry: resolve(registryDir),
    files: [path, signaturePath(path)],
    message: `${node}: ${what}`,
    publish,
    object: { node, ...object },
  });
}

export class Registration extends pulumi.ComponentResource {
  readonly path: string;

  constructor(name: string, args: RegistrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:registry:Registration", name, {}, opts);
    this.path = resolve(args.registryDir, descriptorPath(args.node));
    const env = (object: SignedObject, what: string) => registrationEnv(args.registryDir, args.node, args.publish ?? "", object, what);
    const descriptor = args.descriptor.apply((d) => env(d, "descriptor"));
    const tombstone = args.tombstone.apply((t) => env(t, "left the federation"));
    const script = publishScript(args.templates);
    // The delete command is the same script fed with the tombstone: a departure is published
    // the same way a join is.
    new local.Command(
      `${name}-descriptor`,
      {
        create: script,
        update: script,
        delete: pulumi.interpolate`${tombstone.apply(envPrefix)}\n${script}`,
        environment: descriptor,
        interpreter: ["/bin/sh", "-c"],
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}

/** Shell that sets the tombstone's variables before the script (the delete's environment is the descriptor's). */
function envPrefix(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => `${key}='${value.replace(/'/g, `'\\''`)}'`)
    .join("\n");
}
