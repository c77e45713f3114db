// A recording Pulumi mocks harness: every resource the program registers, with its
// inputs, parent and explicit dependencies (read through a transformation).
import * as pulumi from "@pulumi/pulumi";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  attestationProofStatement,
  NODE_PROOF_NAMESPACE,
  signXEdDSA,
  wireguardProofStatement,
  wireguardPublicKey,
} from "../../src/core/registry/keyproof";
import { signText } from "../../src/io/registry/sign";

export interface Recorded {
  type: string;
  name: string;
  parent?: string;
  dependsOn: string[];
  inputs: Record<string, any>;
}

let current: Recorder;

/** Keys Knot 3.2 made for a test zone (ECDSA P-256): what the mocked node serves. */
export const MOCK_ZSK = "256 3 13 Dobs0v9TgvmV5DAWPhjKyy/6OE/qDL/3SfZhW0rcMZ67MVBrTrf/hbSMDs3KNVhRh54JJQ9i2dWer0pvoZocCg==";
export const MOCK_KSK = "257 3 13 zlKh3E3BNv5V/WwR/FkKJ/tceSulrPvK6OWDy4TlGGgHip96wL59NEqoJ8cL3K/G7nx4sDv5qFSCbnumXYsUpA==";
/** What the mocked node's `ssh-keygen` made: its attestation key (the label), a throwaway fixture key. */
const MOCK_ATTESTATION_KEY_FILE = join(__dirname, "..", "fixtures", "keys", "node-attestation");
export const MOCK_ATTESTATION_KEY = readFileSync(`${MOCK_ATTESTATION_KEY_FILE}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
/** The mocked node's WireGuard key (32 bytes, base64): a real one, so the proof the node makes of it verifies. */
export const MOCK_WIREGUARD_PRIVATE_KEY = Buffer.from("mock-wireguard-private-key-0000!").toString("base64");
let mocksInstalled = false;

export class Recorder {
  readonly resources: Recorded[] = [];
  private readonly deps = new Map<string, { parent?: string; dependsOn: string[] }>();

  /** Public key every remote `wg pubkey` returns in these tests. */
  constructor(readonly publicKey = wireguardPublicKey(MOCK_WIREGUARD_PRIVATE_KEY)) {}

  /** Make this recorder the one the (single, shared) mock engine reports to. */
  install(): void {
    current = this;
    if (!mocksInstalled) {
      // One mock engine per test file: resetting it between tests would orphan the late
      // registerOutputs calls of the previous test's components.
      pulumi.runtime.setMocks({ newResource: (args) => current.record(args), call: () => ({}) }, "boreal", "test", false);
      mocksInstalled = true;
    }
  }

  private record(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const seen = this.deps.get(`${args.type}::${args.name}`);
    this.resources.push({
      type: args.type,
      name: args.name,
      parent: seen?.parent,
      dependsOn: seen?.dependsOn ?? [],
      inputs: unwrapSecrets(args.inputs),
    });
    const state: Record<string, unknown> = { ...args.inputs, stdout: "", stderr: "" };
    if (args.type === "command:remote:Command" && String(args.inputs.create).includes("wg pubkey")) state.stdout = `${this.publicKey}\n`;
    // The attestation key script: the key, then its proof, signed for what the script names.
    const attest = /printf 'boreal-attestation-key-proof[^']*' '([^']*)' '([^']*)'/.exec(String(args.inputs.create ?? ""));
    if (args.type === "command:remote:Command" && attest) {
      chmodSync(MOCK_ATTESTATION_KEY_FILE, 0o600);
      const statement = attestationProofStatement({ federation: attest[1], node: attest[2], attestationKey: MOCK_ATTESTATION_KEY });
      state.stdout = `${MOCK_ATTESTATION_KEY}\n${signText(statement, { keyFile: MOCK_ATTESTATION_KEY_FILE }, NODE_PROOF_NAMESPACE)}`;
    }
    // The agent's prove-wireguard-key, with the mocked node's key, for what the command names
    // (a fixed Z instead of a random one: the same build, the same descriptor).
    const prove = /prove-wireguard-key --federation '([^']*)' --node '([^']*)' --key '([^']*)'/.exec(String(args.inputs.create ?? ""));
    if (args.type === "command:remote:Command" && prove) {
      const statement = Buffer.from(wireguardProofStatement({ federation: prove[1], node: prove[2], publicKey: prove[3] }));
      state.stdout = `${Buffer.from(signXEdDSA(Buffer.from(MOCK_WIREGUARD_PRIVATE_KEY, "base64"), statement, new Uint8Array(64))).toString("base64")}\n`;
    }
    // What Knot serves for each zone the DNSKEY query names: a ZSK and a KSK (key tag 45141).
    const dnskeyZones = /for zone in ([^;]*); do[\s\S]*DNSKEY/.exec(String(args.inputs.create ?? ""));
    if (args.type === "command:remote:Command" && dnskeyZones) {
      state.stdout = dnskeyZones[1]
        .split(" ")
        .map((zone) => `${zone} DNSKEY ${MOCK_ZSK}\n${zone} DNSKEY ${MOCK_KSK}\n`)
        .join("");
    }
    return { id: `${args.name}-id`, state };
  }

  /** Pass as `transformations` on the component under test. */
  readonly transformation: pulumi.ResourceTransformation = (args) => {
    const dependsOn = ([] as pulumi.Resource[]).concat((args.opts.dependsOn as pulumi.Resource[] | undefined) ?? []);
    this.deps.set(`${args.type}::${args.name}`, {
      parent: args.opts.parent ? nameOf(args.opts.parent) : undefined,
      dependsOn: dependsOn.map(nameOf),
    });
    return undefined;
  };

  /** Resolves once every resource seen by the transformation has reached the mock engine. */
  async settled(): Promise<void> {
    for (let i = 0; i < 200 && this.resources.length < this.deps.size; i++) await new Promise((r) => setTimeout(r, 10));
    if (this.resources.length < this.deps.size) throw new Error(`only ${this.resources.length} of ${this.deps.size} resources registered`);
  }

  byName(name: string): Recorded {
    const found = this.resources.find((r) => r.name === name);
    if (!found) throw new Error(`no resource named ${name}; have: ${this.resources.map((r) => r.name).join(", ")}`);
    return found;
  }
}

function nameOf(resource: pulumi.Resource): string {
  // Every Resource keeps its name in a private field the SDK itself uses for messages.
  return (resource as unknown as { __name: string }).__name;
}

/** Resolve every Output in a value (as the engine would before sending it). */
export function settle<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((value) => resolve(value)));
}

// The SDK serializes a secret as {<signature>: <secret sig>, value}; tests look at the value.
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
function unwrapSecrets(value: any): any {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    if (Object.values(value).includes(SECRET_SIG) && "value" in value) return unwrapSecrets(value.value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}
