// What the policy pack cannot read off the program's resources, stated by the program on
// its BorealNode (the component's output `facts`): facts of the files the node's agent renders
// on the node (Knot's config), and of where the stack's state lives. Pure: the program
// reads the files and environment and hands them in.
//
// Outputs of a component are not diffed, so the facts never show as a change; they are
// also stable across runs (peer joins change knot.conf, not these facts).
import { parse } from "yaml";
import { contains, isIP, parseAddress, parseCidr } from "../values/ip";
import type { NodePlan } from "../node/plan";

export interface StateFacts {
  /** The backend the CLI uses for this stack, without credentials or query. */
  backend: string;
  /**
   * How the stack's secrets are encrypted: "passphrase", "empty passphrase", a KMS URL
   * (scheme and key, no query), "service" (the Pulumi Cloud's keys) or "unknown".
   */
  secrets: string;
}

export interface NodeFacts {
  member: string;
  node: string;
  /** The node's own mesh addresses: where its internal services may listen. */
  mesh: { ipv4: string; ipv6: string };
  /** The ports the underlay may reach besides DNS and the member's declared services. */
  ports: { ssh: number; wireguard: number };
  /** The member's public signing key, the one the program checked against the federation. */
  signingKey: string;
  dns: {
    /** Per primary zone: does the Knot config the node's agent renders sign it? */
    signed: { zone: string; dnssecSigning: boolean }[];
    /** Who may transfer zones beyond the peers' mesh addresses (none, normally). */
    transfersBeyondMesh: string[];
  };
  state: StateFacts;
}

export const NODE_TYPE = "boreal:node:BorealNode";

export function nodeFacts(plan: NodePlan, sshPort: number, knotConf: string, signingKey: string, state: StateFacts): NodeFacts {
  return {
    member: plan.member,
    node: plan.node,
    mesh: { ipv4: plan.mesh.ipv4, ipv6: plan.mesh.ipv6 },
    ports: { ssh: sshPort, wireguard: plan.listenPort },
    signingKey,
    dns: knotFacts(
      knotConf,
      plan.dns.primaryZones.map((z) => z.name),
      [plan.federation.meshIpv4, plan.federation.meshIpv6],
    ),
    state,
  };
}

type KnotSection = Record<string, unknown>[];

/** DNSSEC per zone and transfer permissions, as Knot would read the rendered knot.conf. */
export function knotFacts(knotConf: string, primaryZones: string[], meshPrefixes: string[]): NodeFacts["dns"] {
  const conf = (parse(knotConf) ?? {}) as Record<string, unknown>;
  const section = (name: string): KnotSection => (Array.isArray(conf[name]) ? (conf[name] as KnotSection) : []);
  const templates = new Map(section("template").map((t) => [String(t.id), t]));
  const signing = (zone: string): boolean => {
    const entry = section("zone").find((z) => z.domain === zone);
    if (!entry) return false;
    // A zone's own setting wins over its template's (Knot's rule); "default" applies to untemplated zones.
    const template = templates.get(String(entry.template ?? "default"));
    return String(entry["dnssec-signing"] ?? template?.["dnssec-signing"] ?? "off") === "on";
  };
  const inMesh = (address: string) => {
    const family = isIP(address);
    return (
      (family === 4 || family === 6) &&
      meshPrefixes.map(parseCidr).some((c) => c.family === family && contains(c, parseAddress(address, family)))
    );
  };
  const server = (conf.server ?? {}) as Record<string, unknown>;
  const beyond = [
    ...section("remote")
      .flatMap((r) => [r.address].flat().map((a) => ({ id: r.id, address: String(a).replace(/@\d+$/, "") })))
      .filter((r) => !inMesh(r.address))
      .map((r) => `remote ${r.id}: ${r.address}`),
    // automatic-acl lets the remotes above in; an explicit acl can let anyone in.
    ...section("acl").map((a) => `acl ${a.id}: ${a.address === undefined ? "any address" : [a.address].flat().join(", ")}`),
    ...(String(server["automatic-acl"] ?? "off") === "on" || section("remote").length === 0 ? [] : ["automatic-acl is off"]),
  ];
  return { signed: primaryZones.map((zone) => ({ zone, dnssecSigning: signing(zone) })), transfersBeyondMesh: beyond };
}

const KMS_SCHEMES = ["awskms", "azurekeyvault", "gcpkms", "hashivault"];

/**
 * Where the CLI keeps this stack's state and how its secrets are encrypted, by the CLI's
 * own precedence (Pulumi 3.259, checked by hand): PULUMI_BACKEND_URL, else Pulumi.yaml's
 * backend.url, else the login in credentials.json, else the Pulumi Cloud. Secrets: the stack's config file names its
 * provider, or holds a passphrase's salt.
 */
export function stateFacts(input: {
  projectYaml: string;
  /** The stack's config file (stacks/Pulumi.<stack>.yaml), if there is one. */
  stackYaml?: string;
  backendUrlEnv?: string;
  /** ~/.pulumi/credentials.json, if there is one. */
  credentialsJson?: string;
  /** The passphrase the CLI was given is empty (PULUMI_CONFIG_PASSPHRASE="" or an empty file). */
  passphraseEmpty: boolean;
}): StateFacts {
  const project = (parse(input.projectYaml) ?? {}) as { backend?: { url?: string } };
  const current = input.credentialsJson ? (JSON.parse(input.credentialsJson) as { current?: string }).current : undefined;
  const backend = input.backendUrlEnv || project.backend?.url || current || "https://api.pulumi.com";
  const stack = (input.stackYaml ? parse(input.stackYaml) : undefined) ?? {};
  const provider = typeof stack.secretsprovider === "string" ? stack.secretsprovider : undefined;
  const scheme = provider?.split("://")[0];
  let secrets: string;
  if (scheme !== undefined && KMS_SCHEMES.includes(scheme)) secrets = withoutSecrets(provider!);
  else if (stack.encryptionsalt !== undefined || provider === "passphrase")
    secrets = input.passphraseEmpty ? "empty passphrase" : "passphrase";
  else if (provider === "default" || (provider === undefined && /^https?:/.test(backend))) secrets = "service";
  else secrets = provider ?? "unknown";
  return { backend: withoutSecrets(backend), secrets };
}

/** scheme://host/path: a URL's user info and query can hold credentials. */
function withoutSecrets(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/)[^/@]*@/i, "$1").replace(/\?.*$/, "");
}
