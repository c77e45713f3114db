// Registration: this node's signed descriptor in the member's registry clone, pushed to a
// mirror when the stack names a git remote; on destroy, the signed tombstone in its place.
import * as pulumi from "@pulumi/pulumi";
import { local } from "@pulumi/command";
import { resolve } from "node:path";
import { descriptorPath } from "../../core/registry/format";

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
}

/** Writes $CONTENT and $SIGNATURE (temp file + rename: a reader never sees half), then publishes. */
export const WRITE_AND_PUBLISH = `set -eu
put() { tmp="$REGISTRY/nodes/.$NODE.boreal.tmp"; printf '%s' "$2" > "$tmp"; mv -f "$tmp" "$1"; }
mkdir -p "$REGISTRY/nodes"
put "$REGISTRY/nodes/$NODE.yaml" "$CONTENT"
put "$REGISTRY/nodes/$NODE.yaml.sig" "$SIGNATURE"
[ -n "$PUBLISH" ] || { echo "nodes/$NODE.yaml written: commit and push it to the federation's mirror"; exit 0; }
cd "$REGISTRY"
name=$(git config user.name || echo boreal-kit); email=$(git config user.email || echo boreal-kit@localhost)
git add -- "nodes/$NODE.yaml" "nodes/$NODE.yaml.sig"
git diff --cached --quiet || git -c user.name="$name" -c user.email="$email" commit -q -m "$NODE: $WHAT"
branch=$(git symbolic-ref --short HEAD)
# Other members push their own files only, so a rebase never conflicts. Others may push in
# the same seconds (members joining at once, nodes publishing attestations): each retry
# waits a random moment, longer as attempts go, so that pushers fall out of step.
for attempt in 1 2 3 4 5 6 7 8 9 10 11 12; do
  git push -q "$PUBLISH" "HEAD:$branch" && exit 0
  git -c user.name="$name" -c user.email="$email" pull -q --rebase "$PUBLISH" "$branch" || { git rebase --abort 2>/dev/null || true; break; }
  sleep "$((attempt / 4)).$(printf '%03d' $(( $(od -An -N2 -tu2 /dev/urandom) % 1000 )))"
done
echo "could not push nodes/$NODE.yaml to $PUBLISH: push it by hand (cd $REGISTRY && git push $PUBLISH $branch)" >&2
exit 1`;

export class Registration extends pulumi.ComponentResource {
  readonly path: string;

  constructor(name: string, args: RegistrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("boreal:registry:Registration", name, {}, opts);
    this.path = resolve(args.registryDir, descriptorPath(args.node));
    const base = { REGISTRY: resolve(args.registryDir), NODE: args.node, PUBLISH: args.publish ?? "" };
    const descriptor = args.descriptor.apply((d) => ({ ...base, CONTENT: d.content, SIGNATURE: d.signature, WHAT: "descriptor" }));
    const tombstone = args.tombstone.apply((t) => ({ ...base, CONTENT: t.content, SIGNATURE: t.signature, WHAT: "left the federation" }));
    // The delete command is the same script fed with the tombstone: a departure is published
    // the same way a join is.
    new local.Command(
      `${name}-descriptor`,
      {
        create: WRITE_AND_PUBLISH,
        update: WRITE_AND_PUBLISH,
        delete: pulumi.interpolate`${tombstone.apply(envPrefix)}\n${WRITE_AND_PUBLISH}`,
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
