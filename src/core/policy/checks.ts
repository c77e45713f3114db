// The plan-time checks of the rule set (src/core/label/rules.ts), one per rule with an
// `at: "plan"` check. Pure: they read resources as the engine hands them to the policy
// pack (type, name, URN, inputs with unknown values left out) and say what breaks a rule.
//
// What they see: every file `pulumi up` writes on the node is a remote command whose stdin
// is the file; the BorealNode's output `facts` holds the facts the program states (./facts.ts) about
// what is not a resource: the Knot config the node's agent renders, and the stack's state.
import { parse } from "yaml";
import { fileResourceSuffix } from "../node/render";
import { sameKey, verifySignature, REGISTRY_NAMESPACE } from "../registry/sshsig";
import { NODE_TYPE, NodeFacts } from "./facts";
import { NUDGE_LIMIT } from "../firewall/plan";
import { NUDGE_PORT } from "../values/ports";

export interface PlannedResource {
  type: string;
  name: string;
  urn: string;
  /** Inputs (a resource check) or outputs (a stack check; a planned resource's are its inputs); a value not known yet is absent. */
  props: Record<string, unknown>;
}

export interface Finding {
  message: string;
  /** The resource at fault; none: the stack as a whole. */
  urn?: string;
}

/**
 * A rule checked one resource at a time runs before the engine touches that resource,
 * even in `pulumi up --skip-preview`; a rule that needs the whole stack runs on the
 * preview of every `pulumi preview` and `pulumi up` (and after the update with --skip-preview).
 */
export type PlanCheck = { resource: (resource: PlannedResource) => string[] } | { stack: (resources: PlannedResource[]) => Finding[] };

/** Every string in a value, with where it is ("connection.privateKey", "environment.CONTENT"). */
export function stringsIn(value: unknown, path = ""): [string, string][] {
  if (typeof value === "string") return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringsIn(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => stringsIn(v, path ? `${path}.${k}` : k));
  return [];
}

// keys-stay-on-node ------------------------------------------------------------------------

const PRIVATE_KEYS: [string, RegExp][] = [
  ["a PEM or OpenSSH private key", /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/],
  ["a WireGuard private key", /PrivateKey\s*=\s*[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=/],
];
/** Makes a key pair: wherever it runs, the private half is born there. */
const KEY_MAKERS = /\bwg genkey\b|\bssh-keygen\b[^\n]*\s-t\s/;
/** The operator's SSH key that reaches the node: a secret of the member's, not a key of the node. */
const OPERATOR_KEY = "connection.privateKey";

export function keysInResource(resource: PlannedResource): string[] {
  const found = stringsIn(resource.props)
    .filter(([path]) => path !== OPERATOR_KEY)
    .flatMap(([path, text]) =>
      PRIVATE_KEYS.filter(([, pattern]) => pattern.test(text)).map(
        ([what]) => `${path} holds ${what}: it would reach the state (and the node's files), so it is no longer the node's alone`,
      ),
    );
  if (resource.type === "command:local:Command" && stringsIn(resource.props).some(([, text]) => KEY_MAKERS.test(text))) {
    found.push("makes a key on the member's machine: keys are made on the node (a remote command) and only their public half comes back");
  }
  return found;
}

// no-public-resolver -----------------------------------------------------------------------

/** Google, Cloudflare and Quad9: addresses (IPv4, IPv6) and DoH names. */
export const PUBLIC_RESOLVERS = [
  "8.8.8.8",
  "8.8.4.4",
  "1.1.1.1",
  "1.0.0.1",
  "9.9.9.9",
  "149.112.112.112",
  "2001:4860:4860::8888",
  "2001:4860:4860::8844",
  "2606:4700:4700::1111",
  "2606:4700:4700::1001",
  "2620:fe::fe",
  "2620:fe::9",
  "dns.google",
  "cloudflare-dns.com",
  "one.one.one.one",
  "dns.quad9.net",
];
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
// Not part of a longer address or name: 1.1.1.10 and 2620:fe::fe1 are not resolvers.
const RESOLVER_PATTERNS = PUBLIC_RESOLVERS.map(
  (r) => [r, new RegExp(`(?<![0-9A-Za-z.:-])${escape(r)}(?![0-9A-Za-z:-]|\\.[0-9A-Za-z])`, "i")] as const,
);

export function resolversInResource(resource: PlannedResource): string[] {
  return stringsIn(resource.props).flatMap(([path, text]) =>
    RESOLVER_PATTERNS.filter(([, pattern]) => pattern.test(text)).map(([resolver]) => `${path} names the public resolver ${resolver}`),
  );
}

// The stack: the node's facts and its files ---------------------------------------------------

/** Each node's facts: its component's output `facts` (a stack check sees outputs). */
function nodesOf(resources: PlannedResource[]): { urn: string; facts: NodeFacts }[] {
  return resources
    .filter((r) => r.type === NODE_TYPE && r.props.facts !== undefined)
    .map((r) => ({ urn: r.urn, facts: r.props.facts as NodeFacts }));
}

/** The file `pulumi up` writes at `path` on the node (its remote command's stdin), if any. */
export function shippedFile(resources: PlannedResource[], path: string): { urn: string; content?: string } | undefined {
  const file = resources.find((r) => r.type === "command:remote:Command" && r.name.endsWith(`-file-${fileResourceSuffix(path)}`));
  return file && { urn: file.urn, content: typeof file.props.stdin === "string" ? file.props.stdin : undefined };
}

/** A stack check over each node's facts; a stack without them cannot be checked, which breaks the rule. */
function perNode(
  check: (facts: NodeFacts, urn: string, resources: PlannedResource[]) => Finding[],
): (resources: PlannedResource[]) => Finding[] {
  return (resources) => {
    const nodes = nodesOf(resources);
    if (nodes.length === 0) return [{ message: `the stack has no ${NODE_TYPE} stating its facts: nothing to check this rule against` }];
    return nodes.flatMap((n) => check(n.facts, n.urn, resources));
  };
}

// underlay-declared-only -------------------------------------------------------------------

const NFTABLES = "/etc/nftables.conf";

/** The accept lines of the kit's nftables table that open more to the underlay than SSH, WireGuard, DNS, the nudge and the member's allow list. */
export function undeclaredOpenings(nftables: string, ports: NodeFacts["ports"]): string[] {
  // The nudge only with its rate limit: unlimited, a flood of them would cost every node a sync after sync.
  const nudge = `udp dport ${NUDGE_PORT} limit rate ${NUDGE_LIMIT.perSecond}/second burst ${NUDGE_LIMIT.burst} packets`;
  const kitServices = new Set([`tcp dport ${ports.ssh}`, `udp dport ${ports.wireguard}`, "udp dport 53", "tcp dport 53", nudge]);
  return nftables
    .split("\n")
    .map((line) => /^\s*(.*?)\s+accept(?:\s+comment\s+"([^"]*)")?\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .filter(([, match, comment]) => {
      const always = /^ct state |^iif "lo"$|^meta l4proto \{ 1, 58 \}$|^iifname "wg0" /.test(match);
      return !always && !kitServices.has(match) && !(comment ?? "").startsWith("allow: ");
    })
    .map(([line]) => line.trim());
}

function underlayDeclaredOnly(facts: NodeFacts, urn: string, resources: PlannedResource[]): Finding[] {
  const file = shippedFile(resources, NFTABLES);
  if (!file)
    return [
      {
        urn,
        message: `node ${facts.node} gets no firewall (boreal:firewall is off): every port its services listen on faces the underlay`,
      },
    ];
  if (file.content === undefined) return [];
  if (!/chain input \{\s*type filter hook input priority filter; policy drop;/.test(file.content)) {
    return [
      {
        urn: file.urn,
        message: `${NFTABLES} does not drop input by default (boreal:firewall.policy "member"?): what the underlay reaches is then decided by tables the plan cannot see`,
      },
    ];
  }
  return undeclaredOpenings(file.content, facts.ports).map((line) => ({
    urn: file.urn,
    message: `${NFTABLES} opens to the underlay what is neither SSH, WireGuard, DNS, the nudge nor in boreal:firewall.allow: ${line}`,
  }));
}

// mesh-only-internals ----------------------------------------------------------------------

const EXPORTER_DEFAULTS = "/etc/default/prometheus-node-exporter";
const LOOPBACK = ["127.0.0.1", "[::1]", "localhost"];

function meshOnlyInternals(facts: NodeFacts, urn: string, resources: PlannedResource[]): Finding[] {
  const findings: Finding[] = [];
  if (!shippedFile(resources, EXPORTER_DEFAULTS)) {
    findings.push({ urn, message: `node ${facts.node} gets no ${EXPORTER_DEFAULTS}: Debian's exporter then listens on every address` });
  }
  const allowed = [facts.mesh.ipv4, `[${facts.mesh.ipv6}]`, ...LOOPBACK];
  for (const file of resources.filter((r) => r.type === "command:remote:Command" && typeof r.props.stdin === "string")) {
    for (const [, address] of (file.props.stdin as string).matchAll(/--web\.listen-address=(\S*):\d+/g)) {
      if (!allowed.includes(address))
        findings.push({
          urn: file.urn,
          message: `${file.name} listens on ${address || "every address"}, not on the node's mesh address (${facts.mesh.ipv4}) or loopback`,
        });
    }
  }
  for (const who of facts.dns.transfersBeyondMesh)
    findings.push({ urn, message: `Knot lets zones be transferred outside the mesh: ${who}` });
  return findings;
}

// dnssec-valid -----------------------------------------------------------------------------

function dnssecValid(facts: NodeFacts, urn: string): Finding[] {
  return facts.dns.signed
    .filter((z) => !z.dnssecSigning)
    .map((z) => ({ urn, message: `zone ${z.zone} is not signed: the node's knot.conf has no dnssec-signing: on for it` }));
}

// state-self-hosted ------------------------------------------------------------------------

const SELF_HOSTED_BACKENDS = ["file", "s3"];
const MEMBER_KEYS = ["passphrase", "awskms", "azurekeyvault", "gcpkms", "hashivault"];

function stateSelfHosted(facts: NodeFacts, urn: string): Finding[] {
  const { backend, secrets } = facts.state;
  const findings: Finding[] = [];
  if (!SELF_HOSTED_BACKENDS.includes(backend.split("://")[0])) {
    findings.push({
      urn,
      message: `the state backend is ${backend}: keep state on file:// or the member's own S3-compatible bucket (s3://)`,
    });
  }
  if (!MEMBER_KEYS.includes(secrets.split("://")[0])) {
    findings.push({
      urn,
      message: `secrets are encrypted by ${secrets}: use a passphrase (a non-empty PULUMI_CONFIG_PASSPHRASE) or the member's own KMS`,
    });
  }
  return findings;
}

// descriptor-current -----------------------------------------------------------------------

/** The node's descriptor command (its Registration's): it writes and publishes the signed descriptor. */
function descriptorCommand(resources: PlannedResource[], node: string): PlannedResource | undefined {
  return resources.find((r) => r.type === "command:local:Command" && r.name === `${node}-registration-descriptor`);
}

function descriptorCurrent(facts: NodeFacts, urn: string, resources: PlannedResource[]): Finding[] {
  const command = descriptorCommand(resources, facts.node);
  if (!command) return [{ urn, message: `node ${facts.node} publishes no descriptor: peers would never learn its key and addresses` }];
  // The descriptor holds the key read off the node: known during the update, not in a preview.
  const env = (command.props.environment ?? {}) as Record<string, unknown>;
  if (typeof env.CONTENT !== "string" || typeof env.SIGNATURE !== "string") return [];
  const problems: string[] = [];
  const verified = verifySignature({ message: env.CONTENT, signature: env.SIGNATURE, namespace: REGISTRY_NAMESPACE });
  if (!verified.ok) problems.push(`its signature does not verify: ${verified.reason}`);
  else if (!sameKey(verified.publicKey, facts.signingKey)) problems.push("it is signed by a key other than the member's");
  const descriptor = (parse(env.CONTENT) ?? {}) as { member?: string; node?: string; mesh?: { ipv4?: string; ipv6?: string } };
  if (descriptor.member !== facts.member || descriptor.node !== facts.node)
    problems.push(`it names ${descriptor.member}/${descriptor.node}, not ${facts.member}/${facts.node}`);
  if (descriptor.mesh?.ipv4 !== facts.mesh.ipv4 || descriptor.mesh?.ipv6 !== facts.mesh.ipv6)
    problems.push("its mesh addresses are not the node's plan");
  return problems.map((p) => ({ urn: command.urn, message: `the descriptor of ${facts.node}: ${p}` }));
}

/** Rule id → its plan check. The pack refuses to start unless this covers every plan rule. */
export const PLAN_CHECKS: Record<string, PlanCheck> = {
  "keys-stay-on-node": { resource: keysInResource },
  "underlay-declared-only": { stack: perNode(underlayDeclaredOnly) },
  "mesh-only-internals": { stack: perNode(meshOnlyInternals) },
  "dnssec-valid": { stack: perNode(dnssecValid) },
  "state-self-hosted": { stack: perNode(stateSelfHosted) },
  "no-public-resolver": { resource: resolversInResource },
  "descriptor-current": { stack: perNode(descriptorCurrent) },
};
