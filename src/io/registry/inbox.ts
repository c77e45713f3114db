// The attestation inbox of a registry mirror: nodes publish their signed attestations of
// peers (the label) by pushing to the mirror without an account, so the mirror must let an
// anonymous push add attestations and nothing else. A pre-receive hook does that: a push
// that git daemon serves (it sets REMOTE_ADDR) may only fast-forward the main branch and
// only add or change attestations/<node>/<node>.json and their .sig. Members keep pushing
// everything else with their own access (ssh, or the path on the mirror's host), where no
// REMOTE_ADDR is set. Whether an attestation is true is not the mirror's business: readers
// verify each signature (src/label).
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { git, gitRun } from "../git";

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

/** What makes an inbox beside its hook: git config of the bare repository, key and value. */
const INBOX_CONFIG: readonly (readonly [string, string])[] = [
  ["receive.maxInputSize", String(INBOX_MAX_PUSH_BYTES)],
  ["receive.denyNonFastForwards", "true"],
  ["receive.denyDeletes", "true"],
  // git daemon serves receive-pack only for repositories that say so.
  ["daemon.receivepack", "true"],
];

const hookPath = (bareRepo: string) => join(bareRepo, "hooks", "pre-receive");

/** Makes a bare repository an attestation inbox: the hook, a cap on a push's size, no force pushes. */
export function installAttestationInbox(bareRepo: string): void {
  mkdirSync(join(bareRepo, "hooks"), { recursive: true });
  const hook = hookPath(bareRepo);
  writeFileSync(hook, ATTESTATION_INBOX_HOOK);
  chmodSync(hook, 0o755);
  for (const [key, value] of INBOX_CONFIG) git(bareRepo, ["config", key, value], { purpose: `making ${bareRepo} an attestation inbox` });
}

/** Whether a bare repository is an inbox as installAttestationInbox leaves it: what differs, one line each (none: it is). */
export function attestationInboxProblems(bareRepo: string): string[] {
  const problems: string[] = [];
  const hook = hookPath(bareRepo);
  let text: string | undefined;
  try {
    text = readFileSync(hook, "utf8");
  } catch {
    problems.push(`${hook} is missing`);
  }
  if (text !== undefined && text !== ATTESTATION_INBOX_HOOK)
    problems.push(`${hook} is not the kit's inbox hook (changed, or of another version)`);
  if (text !== undefined && (statSync(hook).mode & 0o111) === 0) problems.push(`${hook} is not executable`);
  for (const [key, value] of INBOX_CONFIG) {
    const set = gitRun(bareRepo, ["config", "--get", key], {
      allowFailure: true,
      purpose: `reading ${bareRepo}'s git config`,
    }).stdout.trim();
    if (set !== value) problems.push(`git config ${key} is ${set === "" ? "not set" : JSON.stringify(set)}, not ${value}`);
  }
  return problems;
}
