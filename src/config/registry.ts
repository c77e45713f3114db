// The federation registry: federation.yaml plus one descriptor per node under nodes/.
// Parsing is pure: the caller hands in file names and contents.
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { cidrWithin, contains, parseAddress, parseCidr } from "../model/ip";
import { BorealConfigError, ConfigProblem, problemsFromZod, withFix } from "./errors";
import { endpoint, ipv4, ipv6, port, slug, wireguardKey, zoneName } from "./fields";

export const FEDERATION_FILE = "federation.yaml";
export const NODES_DIR = "nodes";
/** The shared address space every federation's mesh lives in (RFC 6598). */
export const MESH_IPV4_SPACE = "100.64.0.0/10";

const cidrText = (what: string, family: 4 | 6, fix: string) =>
  z.string({ error: withFix(`${what} is missing`, fix) }).refine((text) => {
    try {
      return parseCidr(text).family === family;
    } catch {
      return false;
    }
  }, { error: withFix(`${what} is not an IPv${family} prefix`, fix), abort: true });

export const federationSchema = z.strictObject({
  name: slug("name"),
  domain: zoneName,
  mesh: z.strictObject({
    ipv4: cidrText("mesh.ipv4", 4, 'set mesh.ipv4 to a prefix inside 100.64.0.0/10, e.g. "100.64.0.0/24"').refine(
      (text) => cidrWithin(parseCidr(text), parseCidr(MESH_IPV4_SPACE)),
      withFix("mesh.ipv4 is outside 100.64.0.0/10", 'pick a prefix inside 100.64.0.0/10, e.g. "100.64.0.0/24"'),
    ),
    ipv6: cidrText("mesh.ipv6", 6, 'set mesh.ipv6 to a ULA /48, e.g. "fd42:b0:ea1::/48"').refine((text) => {
      const cidr = parseCidr(text);
      return cidr.bits === 48 && cidrWithin(cidr, parseCidr("fc00::/7"));
    }, withFix("mesh.ipv6 must be a unique local /48 (inside fc00::/7)", 'generate one (RFC 4193), e.g. "fd42:b0:ea1::/48"')),
  }),
  defaults: z
    .strictObject({
      listenPort: port("defaults.listenPort").default(51820),
      mtu: z.number().int().min(1280).max(9000).default(1420),
      persistentKeepalive: z.number().int().min(0).max(65535).default(25),
    })
    .default({ listenPort: 51820, mtu: 1420, persistentKeepalive: 25 }),
});

export const descriptorSchema = z.strictObject({
  member: slug("member"),
  node: slug("node"),
  endpoint: endpoint("endpoint"),
  publicKey: wireguardKey("publicKey"),
  mesh: z.strictObject({ ipv4: ipv4("mesh.ipv4"), ipv6: ipv6("mesh.ipv6") }),
  zones: z.array(zoneName),
  exporter: endpoint("exporter"),
  updatedAt: z
    .string()
    .refine((t) => !Number.isNaN(Date.parse(t)), withFix("updatedAt is not a timestamp", "write an ISO 8601 time, e.g. 2026-11-26T12:00:00Z")),
});

export type FederationSettings = z.infer<typeof federationSchema>;
export type NodeDescriptor = z.infer<typeof descriptorSchema>;

export interface Federation {
  settings: FederationSettings;
  /** Every registered node, sorted by node name. */
  nodes: NodeDescriptor[];
}

export interface RegistryFile {
  /** Path relative to the registry directory, with forward slashes. */
  path: string;
  content: string;
}

export function descriptorPath(node: string): string {
  return `${NODES_DIR}/${node}.yaml`;
}

/** Validate a whole registry; every problem found is reported at once. */
export function parseRegistry(files: RegistryFile[], registryName = "registry"): Federation {
  const problems: ConfigProblem[] = [];
  const where = (path: string) => `${registryName}/${path}`;

  const federationFile = files.find((f) => f.path === FEDERATION_FILE);
  let settings: FederationSettings | undefined;
  if (!federationFile) {
    problems.push({
      source: where(FEDERATION_FILE),
      key: "(file)",
      message: "missing",
      fix: "create it with name, domain and mesh prefixes (see the README), or point boreal:registry at the right directory",
    });
  } else {
    const data = readYaml(federationFile, where, problems);
    if (data !== undefined) {
      const parsed = federationSchema.safeParse(data);
      if (parsed.success) settings = parsed.data;
      else problems.push(...problemsFromZod(parsed.error, where(FEDERATION_FILE), ""));
    }
  }

  const nodes: NodeDescriptor[] = [];
  for (const file of files) {
    if (file.path === FEDERATION_FILE) continue;
    if (!file.path.startsWith(`${NODES_DIR}/`) || !file.path.endsWith(".yaml")) {
      problems.push({
        source: where(file.path),
        key: "(file)",
        message: "is not part of a registry",
        fix: `move node descriptors to ${NODES_DIR}/<node>.yaml and remove anything else`,
      });
      continue;
    }
    const data = readYaml(file, where, problems);
    if (data === undefined) continue;
    const parsed = descriptorSchema.safeParse(data);
    if (!parsed.success) {
      problems.push(...problemsFromZod(parsed.error, where(file.path), ""));
      continue;
    }
    if (file.path !== descriptorPath(parsed.data.node)) {
      problems.push({
        source: where(file.path),
        key: "node",
        message: `names node "${parsed.data.node}" but the file is ${file.path}`,
        fix: `rename the file to ${descriptorPath(parsed.data.node)} or correct the node field`,
      });
      continue;
    }
    nodes.push(parsed.data);
  }

  if (settings) problems.push(...crossCheck(settings, nodes, where));
  if (problems.length > 0 || !settings) throw new BorealConfigError(problems);
  nodes.sort((a, b) => a.node.localeCompare(b.node));
  return { settings, nodes };
}

function readYaml(file: RegistryFile, where: (p: string) => string, problems: ConfigProblem[]): unknown {
  try {
    const data = parseYaml(file.content, { uniqueKeys: true });
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      problems.push({ source: where(file.path), key: "(file)", message: "is not a YAML mapping", fix: "write it as key: value lines (see the README)" });
      return undefined;
    }
    return data;
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split("\n")[0] : String(error);
    problems.push({ source: where(file.path), key: "(file)", message: `is not valid YAML: ${detail}`, fix: "correct the YAML syntax" });
    return undefined;
  }
}

/** Rules that span files: uniqueness and prefixes. */
function crossCheck(settings: FederationSettings, nodes: NodeDescriptor[], where: (p: string) => string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const v4 = parseCidr(settings.mesh.ipv4);
  const v6 = parseCidr(settings.mesh.ipv6);
  const seen = new Map<string, string>();
  const claim = (value: string, owner: string, key: string, source: string, what: string) => {
    const previous = seen.get(value);
    if (previous) {
      problems.push({ source, key, message: `${what} ${value} is already used by ${previous}`, fix: `give each node its own ${what}` });
    } else {
      seen.set(value, owner);
    }
  };
  const zoneOwner = new Map<string, string>();
  for (const node of nodes) {
    const source = where(descriptorPath(node.node));
    const owner = where(descriptorPath(node.node));
    claim(`node ${node.node}`, owner, "node", source, "node name");
    claim(`key ${node.publicKey}`, owner, "publicKey", source, "public key");
    const address4 = parseAddress(node.mesh.ipv4, 4);
    const address6 = parseAddress(node.mesh.ipv6, 6);
    if (!contains(v4, address4)) {
      problems.push({ source, key: "mesh.ipv4", message: `${node.mesh.ipv4} is outside the federation's ${settings.mesh.ipv4}`, fix: "re-apply the node's stack so it takes an address from the federation's prefix" });
    }
    if (!contains(v6, address6)) {
      problems.push({ source, key: "mesh.ipv6", message: `${node.mesh.ipv6} is outside the federation's ${settings.mesh.ipv6}`, fix: "re-apply the node's stack so it takes an address from the federation's prefix" });
    }
    claim(`v4 ${address4}`, owner, "mesh.ipv4", source, "mesh address");
    claim(`v6 ${address6}`, owner, "mesh.ipv6", source, "mesh address");
    for (const zone of node.zones) {
      const other = zoneOwner.get(zone);
      if (other && other !== node.member) {
        problems.push({ source, key: "zones", message: `zone ${zone} is already claimed by member ${other}`, fix: "a zone belongs to one member: remove it from one of the two" });
      } else {
        zoneOwner.set(zone, node.member);
      }
    }
  }
  return problems;
}
