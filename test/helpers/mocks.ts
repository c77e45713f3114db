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
/** The server check's output on a fresh server reached as root: sshd alone listens (ss and ip as Debian 13 prints them). */
export const MOCK_LOOK = [
  "boreal-check: root",
  "boreal-check: listening",
  'tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=301,fd=3))',
  'tcp   LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=301,fd=4))',
  "boreal-check: addresses",
  "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
  "2: eth0    inet 198.51.100.12/24 brd 198.51.100.255 scope global eth0\\       valid_lft forever preferred_lft forever",
  "boreal-check: end",
  "",
].join("\n");
let mocksInstalled = false;

export class Recorder {
  readonly resources: Recorded[] = [];
  private readonly deps = new Map<string, { parent?: string; dependsOn: string[] }>();

  /**
   * `publicKey`: what every remote `wg pubkey` returns in these tests. `look`: what the server
   * check prints (templates/run/server-check.sh.hbs); by default a server where the user is
   * root and only sshd listens.
   */
  constructor(
    readonly publicKey = wireguardPublicKey(MOCK_WIREGUARD_PRIVATE_KEY),
    readonly look = MOCK_LOOK,
  ) {}

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
    // The script as the node's root runs it: a user other than root sends it through sudo.
    const create = unwrapSudo(String(args.inputs.create ?? ""));
    if (args.type === "command:remote:Command" && create.includes("boreal-check: listening")) state.stdout = this.look;
    if (args.type === "command:remote:Command" && create.includes("wg pubkey")) state.stdout = `${this.publicKey}\n`;
    // The attestation key script: the key, then its proof, signed for what the script names.
    const attest = /printf 'boreal-attestation-key-proof[^']*' '([^']*)' '([^']*)'/.exec(create);
    if (args.type === "command:remote:Command" && attest) {
      chmodSync(MOCK_ATTESTATION_KEY_FILE, 0o600);
      const statement = attestationProofStatement({ federation: attest[1], node: attest[2], attestationKey: MOCK_ATTESTATION_KEY });
      state.stdout = `${MOCK_ATTESTATION_KEY}\n${signText(statement, { keyFile: MOCK_ATTESTATION_KEY_FILE }, NODE_PROOF_NAMESPACE)}`;
    }
    // The agent's prove-wireguard-key, with the mocked node's key, for what the command names
    // (a fixed Z instead of a random one: the same build, the same descriptor).
    const prove = /prove-wireguard-key --federation '([^']*)' --node '([^']*)' --key '([^']*)'/.exec(create);
    if (args.type === "command:remote:Command" && prove) {
      const statement = Buffer.from(wireguardProofStatement({ federation: prove[1], node: prove[2], publicKey: prove[3] }));
      state.stdout = `${Buffer.from(signXEdDSA(Buffer.from(MOCK_WIREGUARD_PRIVATE_KEY, "base64"), statement, new Uint8Array(64))).toString("base64")}\n`;
    }
    // What Knot serves for each zone the DNSKEY query names: a ZSK and a KSK (key tag 45141).
    const dnskeyZones = /for zone in ([^;]*); do[\s\S]*DNSKEY/.exec(create);
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

/** The script inside `sudo -n -- sh -c '<script>'` (src/program/components/ssh.ts), or the command as it is. */
export function unwrapSudo(command: string): string {
  const m = /^sudo -n -- sh -c '([\s\S]*)'$/.exec(command);
  return m ? m[1].replace(/'\\''/g, "'") : command;
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
