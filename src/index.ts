// The Pulumi program: stack config + registry → one BorealNode. The only place that reads
// pulumi.Config; everything it calls is validated input and pure planning.
import * as pulumi from "@pulumi/pulumi";
import { isAbsolute, resolve } from "node:path";
import { BorealNode } from "./components/node";
import { loadTemplates } from "./components/templates";
import { BorealConfigError } from "./config/errors";
import { parseStackConfig, splitPrivateKey } from "./config/stack";
import { loadRegistry } from "./registry";

function main() {
  const spec = parseStackConfig(pulumi.runtime.allConfig());
  // A relative registry path is relative to the project directory, like Pulumi's own paths.
  const registryDir = isAbsolute(spec.registry) ? spec.registry : resolve(process.cwd(), spec.registry);
  const federation = loadRegistry(registryDir);
  const { spec: publicSpec, privateKey } = splitPrivateKey(spec);
  const node = new BorealNode(spec.node, {
    spec: publicSpec,
    sshPrivateKey: pulumi.secret(privateKey),
    federation,
    registryDir,
    templates: loadTemplates(),
    now: new Date().toISOString(),
  });
  return {
    publicKey: node.publicKey,
    meshIpv4: node.plan.mesh.ipv4,
    meshIpv6: node.plan.mesh.ipv6,
    zones: node.plan.dns.primaryZones.map((z) => z.name),
    descriptorPath: node.descriptorPath,
  };
}

function run() {
  try {
    return main();
  } catch (error) {
    // Bad input: the message names the key and the fix; a stack trace would only hide it.
    if (error instanceof BorealConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

export = run();
