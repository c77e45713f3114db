// Writing signed registry objects into a registry directory (a member's clone). Signing
// uses the real `ssh-keygen -Y sign` (sign.ts), so anyone can check with `ssh-keygen -Y verify`.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { descriptorPath, federationPath, federationSignaturePath, FederationVersion, NodeDescriptor, signaturePath, Tombstone } from "../../core/registry/format";
import { renderNodeObject } from "./read";
import { Signer, signText } from "./sign";
import { REGISTRY_NAMESPACE } from "../../core/registry/sshsig";

export function renderFederation(version: FederationVersion): string {
  return `# The federation, version ${version.version}: valid once ${version.version === 1 ? "pinned by the members" : "signed by enough members of the version before"} (see the README).\n${stringify(version, { lineWidth: 0 })}`;
}

/** Writes through a temp file and a rename: readers never see half a file. */
export function writeAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${Date.now()}.${process.pid}.tmp`);
  writeFileSync(temp, content);
  renameSync(temp, path);
}

/** Writes federation/<N>.yaml; returns its path relative to the registry. */
export function writeFederationVersion(dir: string, version: FederationVersion): string {
  const path = federationPath(version.version);
  writeAtomic(join(dir, path), renderFederation(version));
  return path;
}

/** A member signs a federation version as it stands in the directory. */
export function signFederationVersion(dir: string, version: number, member: string, signer: Signer, content: string): string {
  const path = federationSignaturePath(version, member);
  writeAtomic(join(dir, path), signText(content, signer, REGISTRY_NAMESPACE));
  return path;
}

/** The node object's file and signature, as `pulumi up` publishes them. */
export function signedNodeObject(object: NodeDescriptor | Tombstone, signer: Signer): { content: string; signature: string } {
  const content = renderNodeObject(object);
  return { content, signature: signText(content, signer, REGISTRY_NAMESPACE) };
}

export function writeNodeObject(dir: string, object: NodeDescriptor | Tombstone, signer: Signer): string {
  const { content, signature } = signedNodeObject(object, signer);
  const path = descriptorPath(object.node);
  writeAtomic(join(dir, path), content);
  writeAtomic(join(dir, signaturePath(path)), signature);
  return path;
}
