// Writing signed registry objects into a registry directory (a member's clone). Signing
// uses the real `ssh-keygen -Y sign` (sign.ts), so anyone can check with `ssh-keygen -Y verify`.
import { join } from "node:path";
import { stringify } from "yaml";
import {
  descriptorPath,
  federationPath,
  federationSignaturePath,
  FederationVersion,
  NodeDescriptor,
  signaturePath,
  Tombstone,
} from "../../core/registry/format";
import { FORMATS, withFormat } from "../../core/registry/formats";
import { renderNodeObject } from "./read";
import { Signer, signText } from "./sign";
import { REGISTRY_NAMESPACE } from "../../core/registry/sshsig";
import { writeAtomic, WriteOptions } from "../files";

export function renderFederation(version: FederationVersion): string {
  const validity = version.version === 1 ? "pinned by the members" : "signed by enough members of the version before";
  return `# The federation, version ${version.version}: valid once ${validity} (see the README).\n${stringify(withFormat(version, FORMATS.federation), { lineWidth: 0 })}`;
}

/**
 * How registry files are written (src/io/files.ts): whole or not at all, through a hidden temp
 * file (registry readers skip hidden entries), with the modes the umask gives, as git's own.
 */
export const REGISTRY_WRITE: WriteOptions = { mode: 0o666, dirMode: 0o777, hiddenTemp: true };

/** Writes federation/<N>.yaml; returns its path relative to the registry. */
export function writeFederationVersion(dir: string, version: FederationVersion): string {
  const path = federationPath(version.version);
  writeAtomic(join(dir, path), renderFederation(version), REGISTRY_WRITE);
  return path;
}

/** A member signs a federation version as it stands in the directory. */
export function signFederationVersion(dir: string, version: number, member: string, signer: Signer, content: string): string {
  const path = federationSignaturePath(version, member);
  writeAtomic(join(dir, path), signText(content, signer, REGISTRY_NAMESPACE), REGISTRY_WRITE);
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
  writeAtomic(join(dir, path), content, REGISTRY_WRITE);
  writeAtomic(join(dir, signaturePath(path)), signature, REGISTRY_WRITE);
  return path;
}
