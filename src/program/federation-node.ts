// The kit's Pulumi program as a function: stack config + verified registry → one BorealNode.
// A member's project calls it from its own index.ts (`export = federationNode();`, the package's
// entry, src/index.ts); the kit's own entry, src/program/index.ts, calls it the same way. The
// only place that reads pulumi.Config; everything it calls is validated input and pure planning.
import * as pulumi from "@pulumi/pulumi";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { bundleAgent } from "../agent/bundle";
import { BorealNode } from "./components/node";
import { precheckFiles } from "./components/precheck";
import { previewLookStep } from "./preview-look";
import { loadTemplates } from "../io/templates";
import { stackEndpointProblem } from "../core/values/scope";
import { BorealConfigError } from "../core/values/problems";
import { NodeSpec, parseStackConfig, splitPrivateKey } from "../core/spec/stack";
import { recordsKey, withZoneFiles, zoneFilesKey } from "../core/dns/records";
import { recordDelegation, registrarView } from "../core/dns/delegation";
import { loadRegistry } from "../io/registry/read";
import { describeSigner, Signer, signerPublicKey } from "../io/registry/sign";
import { formatRejection, nodeNameProblem } from "../core/registry/verify";
import { StateFacts, stateFacts } from "../core/policy/facts";
import { zoneFilePath } from "../core/node/layout";

/**
 * A relative path is relative to the project directory (where Pulumi.yaml is), like
 * Pulumi's own paths; ~ is home. Not the working directory: Pulumi runs the program in
 * the directory of `main` (src/).
 */
function projectPath(path: string): string {
  if (path === "~" || path.startsWith("~/")) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(pulumi.runtime.getRootDirectory(), path);
}

/** The member's signer and its public key, checked against the member's keys in the trusted federation. */
function memberSigner(spec: NodeSpec, keys: string[] | undefined): { signer: Signer; publicKey: string } {
  const signer: Signer = spec.signingKey !== undefined ? { privateKey: spec.signingKey } : { keyFile: projectPath(spec.signingKeyFile!) };
  const key = signerPublicKey(signer);
  if (keys && !keys.includes(key)) {
    throw new BorealConfigError([
      {
        source: "stack config",
        key: spec.signingKey !== undefined ? "boreal:signingKey" : "boreal:signingKeyFile",
        message: `${describeSigner(signer)} (${key.slice(0, 30)}…) is not a signing key of member ${spec.member} in the federation`,
        fix: "use one of the member's keys listed in federation/<N>.yaml, or have the federation add this key (boreal registry admit --add-key)",
      },
    ]);
  }
  return { signer, publicKey: key };
}

/** Where this stack's state lives and how its secrets are encrypted, read where the CLI reads them (for the policy pack). */
function stackStateFacts(): StateFacts {
  const root = pulumi.runtime.getRootDirectory();
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : undefined);
  const projectYaml = readFileSync(join(root, "Pulumi.yaml"), "utf8");
  const stackConfigDir = /^stackConfigDir:\s*(\S+)/m.exec(projectYaml)?.[1] ?? ".";
  const env = process.env;
  const passphraseFile = env.PULUMI_CONFIG_PASSPHRASE_FILE;
  return stateFacts({
    projectYaml,
    stackYaml: read(resolve(root, stackConfigDir, `Pulumi.${pulumi.getStack()}.yaml`)),
    backendUrlEnv: env.PULUMI_BACKEND_URL,
    credentialsJson: read(join(env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "credentials.json")),
    // Only whether it is empty: an empty passphrase encrypts nothing worth the name.
    passphraseEmpty:
      env.PULUMI_CONFIG_PASSPHRASE !== undefined
        ? env.PULUMI_CONFIG_PASSPHRASE === ""
        : passphraseFile !== undefined && (read(passphraseFile) ?? "").trim() === "",
  });
}

/**
 * The server check's retry token (src/program/components/check.ts), one file per stack beside
 * the agent's bundle: written anew when the check refuses an up, so the next up looks again.
 */
function lookAgainToken(): { token: string; renew: () => void } {
  const path = join(pulumi.runtime.getRootDirectory(), ".boreal", `server-check-${pulumi.getStack()}`);
  return {
    token: existsSync(path) ? readFileSync(path, "utf8").trim() : "",
    renew: () => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${randomBytes(8).toString("hex")}\n`);
    },
  };
}

function main() {
  // The member's zone files are read here, once: planning and the node's agent get their records.
  const config = parseStackConfig(pulumi.runtime.allConfig());
  // As bytes: a file that is not UTF-8 is refused with the offset of its first bad byte.
  const { spec, origins } = withZoneFiles(config, (path) => readFileSync(projectPath(path)));
  const registryDir = projectPath(spec.registry);
  const registry = loadRegistry(registryDir, spec.trust);
  // Bad objects are someone else's problem to fix; they never stop this member's node.
  for (const rejection of registry.rejected) pulumi.log.warn(`registry object refused: ${formatRejection(rejection)}`);
  const federation = registry.federation;
  // The node's name and endpoint, by the rules peers will judge its descriptor with.
  const ownProblems = [
    nodeNameProblem(federation.settings, spec.member, spec.node),
    ...spec.endpoint.map((endpoint) => stackEndpointProblem(endpoint, federation.settings)),
  ].filter((p) => p !== undefined);
  if (ownProblems.length > 0) throw new BorealConfigError(ownProblems);
  const { signer, publicKey: signingKey } = memberSigner(spec, federation.settings.members.find((m) => m.name === spec.member)?.keys);
  const { spec: publicSpec, privateKey } = splitPrivateKey(spec);
  const now = new Date().toISOString();
  const templates = loadTemplates();
  const node = new BorealNode(spec.node, {
    spec: publicSpec,
    sshPrivateKey: pulumi.secret(privateKey),
    federation,
    registryDir,
    templates,
    agentProgram: bundleAgent(join(pulumi.runtime.getRootDirectory(), ".boreal")),
    seed: registry.files,
    signer,
    signingKey,
    state: stackStateFacts(),
    now,
    lookAgain: lookAgainToken(),
    // Zone files: Knot's check here first, where knotc is installed (the node checks again).
    precheck: (files) =>
      precheckFiles(
        files,
        (file) => {
          const zone = spec.zones.find((z) => zoneFilePath(z) === file.path) ?? "";
          return config.zoneFiles?.[zone] !== undefined ? zoneFilesKey(zone) : recordsKey(zone);
        },
        origins,
      ),
  });
  const outputs = {
    publicKey: node.publicKey,
    meshIpv4: node.plan.mesh.ipv4,
    meshIpv6: node.plan.mesh.ipv6,
    zones: node.plan.dns.primaryZones.map((z) => z.name),
    // What the member enters at its registrar, per zone: NS names, their glue, the DS records, since when.
    delegations: node.delegations.apply((all) => {
      const published = federation.nodes.find((n) => n.node === spec.node && n.member === spec.member);
      const { since } = recordDelegation(node.plan.delegation, published, now);
      return Object.fromEntries(all.map((d) => [d.zone, registrarView(d, spec.member, since)]));
    }),
    descriptorPath: node.descriptorPath,
    federationVersion: federation.settings.version,
  };
  if (!pulumi.runtime.isDryRun()) return outputs;
  // A preview runs no remote command: the server check's look is taken here (./preview-look.ts).
  const { host, port, user, privateKey: key, hostKey } = spec.ssh;
  const look = {
    ssh: { host, port, user, privateKey: key, hostKey },
    templates,
    firewall: node.plan.firewall,
    firewallFiles: node.firewallFiles,
  };
  return previewLookStep({ ...look, closeListening: spec.firewall.closeListening ?? [] }).then(() => outputs);
}

/**
 * The SDK records a stack trace for every promise it makes (for its leak report), and
 * ts-node maps each through source maps: a large share of a no-op `pulumi up`'s CPU
 * (bench/NOTES.md). None for the program's whole run; BOREAL_STACK_TRACES=1 keeps them, to
 * debug an error of the kit's own code.
 */
function dropStackTraces(): void {
  if (process.env.BOREAL_STACK_TRACES !== "1") Error.stackTraceLimit = 0;
}

/**
 * The federation node of the current stack: reads the stack's boreal:* config and the project
 * directory's files (zone files, the registry clone; paths relative to Pulumi.yaml), declares
 * the node, and returns the stack outputs (export them: `export = federationNode();`).
 */
export function federationNode() {
  dropStackTraces();
  try {
    return main();
  } catch (error) {
    // Bad input: the message names the key and the fix; a stack trace would only hide it.
    if (error instanceof BorealConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}
