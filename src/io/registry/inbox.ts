// The attestation inbox of a registry mirror: nodes publish their signed attestations of
// peers (the label) by pushing to the mirror without an account, so the mirror must let an
// anonymous push add attestations and nothing else. A pre-receive hook does that: a push
// that git daemon serves (it sets REMOTE_ADDR) may only fast-forward the main branch and
// only add or change attestations/<node>/<node>.json and their .sig. Members keep pushing
// everything else with their own access (ssh, or the path on the mirror's host), where no
// REMOTE_ADDR is set. Whether an attestation is true is not the mirror's business: readers
// verify each signature (src/label).
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { git } from "../git";

/** Nothing an honest node pushes comes close: a round of attestations is a few KiB. */
export const INBOX_MAX_PUSH_BYTES = 1024 * 1024;

export const ATTESTATION_INBOX_HOOK = `#!/bin/sh
# Managed by boreal-kit: the registry's attestation inbox (src/io/registry/inbox.ts).
# An anonymous push (git daemon sets REMOTE_ADDR) may only fast-forward refs/heads/main and
# only add or change attestations/<node>/<node>.json and .json.sig.
[ -n "\${REMOTE_ADDR:-}" ] || exit 0
zero=0000000000000000000000000000000000000000
tab=$(printf '\t')
status=0
while read -r old new ref; do
  if [ "$ref" != refs/heads/main ]; then echo "boreal inbox: refused $ref: only refs/heads/main takes attestations"; status=1; continue; fi
  if [ "$old" = "$zero" ] || [ "$new" = "$zero" ]; then echo "boreal inbox: refused: an anonymous push cannot create or delete the branch"; status=1; continue; fi
  if ! git merge-base --is-ancestor "$old" "$new"; then echo "boreal inbox: refused: not a fast-forward (fetch, then push again)"; status=1; continue; fi
  bad=$(git diff --no-renames --name-status "$old" "$new" | grep -Ev "^[AM]$tab"'attestations/[a-z0-9][a-z0-9-]{0,31}/[a-z0-9][a-z0-9-]{0,31}[.]json([.]sig)?$' | head -n 5)
  if [ -n "$bad" ]; then echo "boreal inbox: refused: an anonymous push may only add or change attestations/<node>/<node>.json(.sig):"; echo "$bad"; status=1; fi
  bad=$(git diff --no-renames --raw "$old" "$new" | grep -Ev '^:[0-7]{6} 100644 ' | head -n 5)
  if [ -n "$bad" ]; then echo "boreal inbox: refused: attestations are plain files (mode 100644):"; echo "$bad"; status=1; fi
done
exit $status
`;

/** Makes a bare repository an attestation inbox: the hook, a cap on a push's size, no force pushes. */
export function installAttestationInbox(bareRepo: string): void {
  mkdirSync(join(bareRepo, "hooks"), { recursive: true });
  const hook = join(bareRepo, "hooks", "pre-receive");
  writeFileSync(hook, ATTESTATION_INBOX_HOOK);
  chmodSync(hook, 0o755);
  const config = (key: string, value: string) =>
    git(bareRepo, ["config", key, value], { purpose: `making ${bareRepo} an attestation inbox` });
  config("receive.maxInputSize", String(INBOX_MAX_PUSH_BYTES));
  config("receive.denyNonFastForwards", "true");
  config("receive.denyDeletes", "true");
  // git daemon serves receive-pack only for repositories that say so.
  config("daemon.receivepack", "true");
}
