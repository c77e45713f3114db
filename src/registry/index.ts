// Registry I/O: read and validate a registry directory. Descriptors are written by the
// Registration component (a local command, so writing and removal follow the stack).
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { BorealConfigError } from "../config/errors";
import { Federation, FEDERATION_FILE, NODES_DIR, NodeDescriptor, parseRegistry, RegistryFile } from "../config/registry";

export function readRegistryFiles(dir: string): RegistryFile[] {
  let top: string[];
  try {
    top = readdirSync(dir);
  } catch {
    throw new BorealConfigError([
      { source: "stack config", key: "boreal:registry", message: `registry directory ${dir} cannot be read`, fix: "point boreal:registry at the federation registry (a directory holding federation.yaml)" },
    ]);
  }
  const files: RegistryFile[] = [];
  if (top.includes(FEDERATION_FILE)) files.push({ path: FEDERATION_FILE, content: readFileSync(join(dir, FEDERATION_FILE), "utf8") });
  if (top.includes(NODES_DIR)) {
    for (const name of readdirSync(join(dir, NODES_DIR)).sort()) {
      if (name.startsWith(".")) continue; // editors' and our own temp files
      files.push({ path: `${NODES_DIR}/${name}`, content: readFileSync(join(dir, NODES_DIR, name), "utf8") });
    }
  }
  return files;
}

export function loadRegistry(dir: string): Federation {
  return parseRegistry(readRegistryFiles(dir), basename(dir) || dir);
}

/** The descriptor as written to nodes/<node>.yaml: stable key order, no secrets. */
export function renderDescriptor(descriptor: NodeDescriptor): string {
  return `# Managed by boreal-kit: written by ${descriptor.member}'s stack for node ${descriptor.node}.\n${stringify(descriptor)}`;
}
