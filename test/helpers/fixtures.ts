import { chmodSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTemplates } from "../../src/io/templates";
import { parseStackConfig, NodeSpec } from "../../src/core/spec/stack";
import { federationPath, type Federation, type RegistryFile } from "../../src/core/registry/format";
import { formatRejection, formatTrust, sha256, type TrustAnchor, type VerifiedRegistry } from "../../src/core/registry/verify";
import { loadRegistry, readRegistrySource } from "../../src/io/registry/read";
import type { Signer } from "../../src/io/registry/sign";
import { FIXTURE_KEY_NAMES, type FixtureKeyName, readPublicKey } from "../fixtures/sign-fixtures";

export const FIXTURE_DIR = join(__dirname, "..", "fixtures");
/** The signed fixture registry, as test/fixtures/sign-fixtures.ts writes it. */
export const FIXTURE_REGISTRY = join(FIXTURE_DIR, "registry");
export const FIXTURE_KEYS_DIR = join(FIXTURE_DIR, "keys");
/** Private key files of the fixture keys (throwaway, committed); each public key is beside it as `.pub`. */
export const FIXTURE_KEYS = Object.fromEntries(FIXTURE_KEY_NAMES.map((name) => [name, join(FIXTURE_KEYS_DIR, name)])) as Record<
  FixtureKeyName,
  string
>;
// ssh-keygen refuses a private key file that others can read, and git keeps no mode but x.
for (const path of Object.values(FIXTURE_KEYS)) {
  try {
    chmodSync(path, 0o600);
  } catch {
    // Not ours to change (a shared checkout): ssh-keygen will say why it refuses the key.
  }
}

export const FIXTURE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILFTeU3T7aREgn2yBywPc/UWEm+mq1K065AHwNqeCRMg";
/** Not a usable key: the shape the stack config checks for, and a string tests search for. */
export const FIXTURE_PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nZml4dHVyZS1vbmx5LW5vdC1hLWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n";

export const templates = loadTemplates();

/** Signs as a fixture key (member, coop-a's second key, or mallory). */
export function fixtureSigner(name: FixtureKeyName): Signer {
  return { keyFile: FIXTURE_KEYS[name] };
}

/** "ssh-ed25519 AAAA…" of a fixture key. */
export function fixturePublicKey(name: FixtureKeyName): string {
  return readPublicKey(FIXTURE_KEYS_DIR, name);
}

export function fixtureTrustAnchor(): TrustAnchor {
  return { version: 1, sha256: sha256(readFileSync(join(FIXTURE_REGISTRY, federationPath(1)), "utf8")) };
}

/** The pin of federation/1.yaml, as boreal:trust holds it. */
export function fixtureTrust(): string {
  return formatTrust(fixtureTrustAnchor());
}

/** The fixture registry as `pulumi up` verifies it; it must verify without a single rejection. */
export function fixtureVerified(): VerifiedRegistry & { federation: Federation } {
  const verified = loadRegistry(FIXTURE_REGISTRY, fixtureTrust());
  if (verified.rejected.length > 0) {
    throw new Error(
      `the fixture registry has rejections (re-run test/fixtures/sign-fixtures.ts):\n${verified.rejected.map(formatRejection).join("\n")}`,
    );
  }
  return verified;
}

export function fixtureFederation(): Federation {
  return fixtureVerified().federation;
}

/** A copy of the fixture registry at `dir` with these files written into it (bytes as given): a mirror as an attacker leaves it. */
export function fixtureRegistryCopy(dir: string, files: Record<string, string | Buffer> = {}): string {
  cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
  return dir;
}

export function fixtureRegistryFiles(): RegistryFile[] {
  return readRegistrySource(FIXTURE_REGISTRY).files;
}

const MEMBERS = { a1: "coop-a", b1: "coop-b", c1: "coop-c", d1: "coop-d" } as const;

/** Stack config for a fixture node as Pulumi hands it to the program (JSON strings). */
export function rawStackConfig(node: "a1" | "b1" | "c1" | "d1", overrides: Record<string, unknown> = {}): Record<string, string> {
  const zones = { a1: ["coop-a.example."], b1: ["coop-b.example.", "b-mail.example."], c1: ["coop-c.example."], d1: ["coop-d.example."] };
  const endpoints = { a1: "198.51.100.11:51820", b1: "198.51.100.12:51820", c1: "wg.coop-c.net:51820", d1: "198.51.100.14:51820" };
  const values: Record<string, unknown> = {
    member: MEMBERS[node],
    node,
    ssh: { host: endpoints[node].split(":")[0], port: 22, user: "root", privateKey: FIXTURE_PRIVATE_KEY, hostKey: FIXTURE_HOST_KEY },
    endpoint: endpoints[node],
    registry: FIXTURE_REGISTRY,
    trust: fixtureTrust(),
    signingKeyFile: FIXTURE_KEYS[MEMBERS[node]],
    zones: zones[node],
    keyEpoch: 0,
    ...overrides,
  };
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    raw[`boreal:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return raw;
}

export function fixtureSpec(node: "a1" | "b1" | "c1" | "d1", overrides: Record<string, unknown> = {}): NodeSpec {
  return parseStackConfig(rawStackConfig(node, overrides));
}
