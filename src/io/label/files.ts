// The label's files: reading attestations/ out of a registry directory, and signing an
// attestation (for the sync agent). The only I/O of src/label; the rest is pure.
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { MAX_SIGNATURE_BYTES, signaturePath, UnreadableFile } from "../../core/registry/format";
import { readText } from "../registry/read";
import { Signer, signText } from "../registry/sign";
import { LABEL_NAMESPACE } from "../../core/registry/sshsig";
import { writeAtomic } from "../files";
import { REGISTRY_WRITE } from "../registry/write";
import { Attestation, attestationPath, ATTESTATIONS_DIR, MAX_ATTESTATION_BYTES, renderAttestation } from "../../core/label/attestation";
import type { AttestationFile, Refusal } from "../../core/label/label";

/**
 * Reads attestations/<node>/* of a registry directory. Hostile input, like the registry:
 * only real directories and regular files (never through a symlink), each capped.
 */
export function readAttestations(dir: string): { files: AttestationFile[]; unreadable: Refusal[] } {
  const files: AttestationFile[] = [];
  const unreadable: Refusal[] = [];
  const entries = (path: string): string[] | undefined => {
    const stat = lstatSync(join(dir, path), { throwIfNoEntry: false });
    if (!stat) return undefined;
    if (!stat.isDirectory()) {
      unreadable.push({ path, reason: "is not a directory (symlinks are refused)" });
      return undefined;
    }
    const all = readdirSync(join(dir, path)).sort();
    // Hidden files are never read, but said: nothing is skipped without a word.
    for (const hidden of all.filter((e) => e.startsWith(".")))
      unreadable.push({ path: `${path}/${hidden}`, reason: "is a hidden file: not part of a registry (not read)" });
    return all.filter((e) => !e.startsWith("."));
  };
  for (const node of entries(ATTESTATIONS_DIR) ?? []) {
    const folder = `${ATTESTATIONS_DIR}/${node}`;
    for (const entry of entries(folder) ?? []) {
      const path = `${folder}/${entry}`;
      if (!lstatSync(join(dir, path)).isFile()) {
        unreadable.push({ path, reason: "is not a regular file (symlinks and directories are refused)" });
        continue;
      }
      try {
        files.push({ path, content: readText(join(dir, path), path.endsWith(".sig") ? MAX_SIGNATURE_BYTES : MAX_ATTESTATION_BYTES) });
      } catch (error) {
        if (!(error instanceof UnreadableFile)) throw error;
        unreadable.push({ path, reason: error.reason });
      }
    }
  }
  return { files, unreadable };
}

/**
 * The statement and its signature, as the checking node publishes them: signed with the
 * node's attestation key (its descriptor's attestationKey) by `ssh-keygen -Y sign` in
 * the label namespace. Paths are relative to the registry.
 */
export function signAttestation(
  statement: Attestation,
  signer: Signer,
): { path: string; content: string; signaturePath: string; signature: string } {
  const content = renderAttestation(statement);
  const path = attestationPath(statement.subject[0].name.slice("node:".length), statement.predicate.checker.node);
  return { path, content, signaturePath: signaturePath(path), signature: signText(content, signer, LABEL_NAMESPACE) };
}

/** Signs the statement and writes it with its .sig into a registry directory; returns its path. */
export function writeAttestation(dir: string, statement: Attestation, signer: Signer): string {
  const signed = signAttestation(statement, signer);
  writeAtomic(join(dir, signed.path), signed.content, REGISTRY_WRITE);
  writeAtomic(join(dir, signed.signaturePath), signed.signature, REGISTRY_WRITE);
  return signed.path;
}
