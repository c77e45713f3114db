import { join } from "node:path";
import { loadTemplates } from "../../src/components/templates";
import { parseStackConfig, NodeSpec } from "../../src/config/stack";
import { loadRegistry, readRegistryFiles } from "../../src/registry";
import type { Federation, RegistryFile } from "../../src/config/registry";

export const FIXTURE_REGISTRY = join(__dirname, "..", "fixtures", "registry");
export const FIXTURE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILFTeU3T7aREgn2yBywPc/UWEm+mq1K065AHwNqeCRMg";
/** Not a usable key: the shape the stack config checks for, and a string tests search for. */
export const FIXTURE_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZml4dHVyZS1vbmx5LW5vdC1hLWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n";

export const templates = loadTemplates();

export function fixtureFederation(): Federation {
  return loadRegistry(FIXTURE_REGISTRY);
}

export function fixtureRegistryFiles(): RegistryFile[] {
  return readRegistryFiles(FIXTURE_REGISTRY);
}

/** Stack config for a fixture node as Pulumi hands it to the program (JSON strings). */
export function rawStackConfig(node: "a1" | "b1" | "c1" | "d1", overrides: Record<string, unknown> = {}): Record<string, string> {
  const members = { a1: "coop-a", b1: "coop-b", c1: "coop-c", d1: "coop-d" } as const;
  const zones = { a1: ["coop-a.example."], b1: ["coop-b.example.", "b-mail.example."], c1: ["coop-c.example."], d1: ["coop-d.example."] };
  const endpoints = { a1: "198.51.100.11:51820", b1: "198.51.100.12:51820", c1: "wg.coop-c.net:51820", d1: "198.51.100.14:51820" };
  const values: Record<string, unknown> = {
    member: members[node],
    node,
    ssh: { host: endpoints[node].split(":")[0], port: 22, user: "root", privateKey: FIXTURE_PRIVATE_KEY, hostKey: FIXTURE_HOST_KEY },
    endpoint: endpoints[node],
    registry: FIXTURE_REGISTRY,
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
