// The BorealNode arguments of the component tests: a fixture member's node, built with the
// fixture registry, signer and templates.
import type { Federation } from "../../src/core/registry/format";
import type { splitPrivateKey } from "../../src/core/spec/stack";
import { FIXTURE_REGISTRY, fixturePublicKey, fixtureRegistryFiles, fixtureSigner, templates } from "./fixtures";

/** A stand-in for the bundled agent: its bundling is tested on its own (agent.test.ts). */
export const AGENT_PROGRAM = { path: "/nonexistent/agent-0123456789abcdef.js", hash: "0123456789abcdef" };

export const nodeArgs = (spec: ReturnType<typeof splitPrivateKey>["spec"], privateKey: string, federation: Federation) => ({
  spec,
  sshPrivateKey: privateKey,
  federation,
  registryDir: FIXTURE_REGISTRY,
  templates,
  agentProgram: AGENT_PROGRAM,
  seed: fixtureRegistryFiles(),
  signer: fixtureSigner(spec.member as "coop-b"),
  signingKey: fixturePublicKey(spec.member as "coop-b"),
  state: { backend: "file://~/.boreal-kit/state", secrets: "passphrase" },
  now: "2030-01-01T00:00:00.000Z",
});
