// The seal (`boreal label publish`): the page's own verifier, the exact script index.html
// carries, run with nothing but Web Crypto (a bare vm context: no Buffer, no require, no
// node:crypto), must reach the kit's verdict on the same files: good, a tampered byte, a
// wrong key, expired, withdrawn, another federation. Its report must be the kit's own, field
// for field; the commands it prints must pass with the real ssh-keygen.
import { spawnSync } from "node:child_process";
import { createHash, webcrypto } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { beforeAll, describe, expect, test } from "vitest";
import { readAttestations } from "../../src/io/label/files";
import { readRegistrySource, verifySources } from "../../src/io/registry/read";
import { evaluateLabel, LabelReport, AttestationFile } from "../../src/core/label/label";
import type { SealJudgement } from "../../src/core/label/seal";
import { renderSealBadge } from "../../src/core/label/seal-html";
import type { Settled } from "../../src/web/settle";
import { Buffer as BrowserBuffer } from "../../src/web/buffer";
import { federationPath } from "../../src/core/registry/format";
import { parseTrust, sha256 } from "../../src/core/registry/verify";
import { fixtureTrust, FIXTURE_REGISTRY } from "../helpers/fixtures";
import { ago, attest, DAY, failing, HOUR, mallory, NOW, registryFiles, work } from "../helpers/label-fixture";
import { label, pageParts, publishSeal, PublishedSeal } from "../helpers/seal";

type Verdict = SealJudgement["nodes"][number]["verdict"];

/** A federation of another name: its pin is what a link to another federation's seal carries. */
const otherFederationPin = () =>
  `1:${sha256(readFileSync(join(FIXTURE_REGISTRY, federationPath(1)), "utf8").replace(/^name: .*$/m, "name: another-federation"))}`;

interface Case {
  name: string;
  attestations: () => AttestationFile[][];
  at: Date;
  /** The pin the customer checks against (the page's #trust=, the kit's --trust). */
  pin?: () => string;
  verdict: Verdict;
}

const good = () => [attest("b1", { observedAt: ago(2 * HOUR) }), attest("c1")];
const CASES: Case[] = [
  { name: "good", attestations: good, at: NOW, verdict: "held" },
  {
    name: "tampered byte",
    // One byte of c1's statement changed after it was signed.
    attestations: () => [attest("b1"), attest("c1", { edit: (c) => c.replace('"detail": "as expected"', '"detail": "as expectee"') })],
    at: NOW,
    verdict: "tampered",
  },
  { name: "wrong key", attestations: () => [attest("b1"), attest("c1", { key: mallory })], at: NOW, verdict: "wrong-key" },
  { name: "expired", attestations: good, at: new Date(NOW.getTime() + 7 * DAY), verdict: "expired" },
  {
    name: "withdrawn",
    attestations: () => [
      attest("b1"),
      attest("c1", { results: failing("underlay-declared-only", "underlay", "open but not declared: tcp/8080") }),
    ],
    at: NOW,
    verdict: "withdrawn",
  },
  { name: "another federation", attestations: good, at: NOW, pin: otherFederationPin, verdict: "other-federation" },
];

/** What `boreal label verify` reads and decides: the registry verified from the pin, then evaluateLabel. */
function kitReport(registry: string, pin: string, at: Date): LabelReport | undefined {
  const verified = verifySources([readRegistrySource(registry)], parseTrust(pin)!);
  if (!verified.federation) return undefined;
  return evaluateLabel("a1", { federation: verified.federation, held: verified.held }, readAttestations(registry).files, at);
}

/** The page's script in a context that has Web Crypto and text codecs only, as a browser page has. */
function browserVerifier(seal: string): (pin: string | undefined, at: Date) => Promise<Settled<SealJudgement>> {
  const { script, data } = pageParts(seal);
  const context: Record<string, unknown> = { crypto: webcrypto, TextEncoder, TextDecoder };
  runInNewContext(script, context);
  expect(Object.keys(context)).toContain("borealSeal");
  const api = context.borealSeal as { judgeInBrowser(input: unknown, subtle: unknown): Promise<Settled<SealJudgement>> };
  const files = Object.entries(data.files).map(([path, content]) => ({ path, content }));
  return (pin, at) => api.judgeInBrowser({ manifest: data.manifest, files, linkTrust: pin, at }, webcrypto.subtle);
}

describe("the seal's verifier in the browser agrees with the kit's on the same files", () => {
  const published = new Map<string, PublishedSeal>();
  beforeAll(() => {
    for (const c of CASES)
      published.set(
        c.name,
        publishSeal(join(work, `seal-${c.name.replace(/ /g, "-")}`), registryFiles, c.attestations(), fixtureTrust(), c.at),
      );
  }, 60_000);

  test.each(CASES)("$name: $verdict", async (c) => {
    const { registry, seal } = published.get(c.name)!;
    const pin = c.pin?.() ?? fixtureTrust();
    const kit = kitReport(registry, pin, c.at);
    const verify = label("verify", "a1", "--registry", registry, "--trust", pin, "--at", c.at.toISOString());
    expect(verify.status, verify.stdout).toBe(c.verdict === "held" ? 0 : 1);

    const settled = await browserVerifier(seal)(c.pin?.(), c.at);
    const page = settled.result.nodes[0];
    expect(page.verdict, page.headline).toBe(c.verdict);
    // Field for field the kit's report (JSON: the vm's objects come from another realm).
    expect(JSON.parse(JSON.stringify(page.report ?? null))).toEqual(JSON.parse(JSON.stringify(kit ?? null)));
    expect(Boolean(page.report?.holds)).toBe(c.verdict === "held");
    if (c.verdict === "other-federation") {
      expect(kit).toBeUndefined();
      expect(verify.stdout).toMatch(/does not match the pinned trust anchor/);
      expect(page.headline).toMatch(/not held here: the bundle's federation is not the one pinned by 1:/);
      expect(settled.result.trust.from).toBe("link");
    } else {
      expect(settled.result.federation).toEqual({ name: "boreal-test", version: 1, sha256: fixtureTrust().slice(2) });
      // Every signature the registry and the attestations hold was checked by Web Crypto.
      expect(settled.verifications).toBeGreaterThanOrEqual(5 + 2);
    }
    expect(settled.runs).toBeLessThanOrEqual(8);
  });

  test("the headline says what happened, in words", async () => {
    const headline = async (name: string) =>
      (await browserVerifier(published.get(name)!.seal)(undefined, CASES.find((c) => c.name === name)!.at)).result.nodes[0].headline;
    expect(await headline("good")).toBe(
      `held since ${ago(HOUR).toISOString()}, until ${new Date(ago(2 * HOUR).getTime() + 7 * DAY).toISOString()} at the latest`,
    );
    expect(await headline("tampered byte")).toMatch(/^not held: attestations\/a1\/c1\.json does not match its signature/);
    expect(await headline("wrong key")).toMatch(/^not held: attestations\/a1\/c1\.json signed by a key that does not count/);
    expect(await headline("withdrawn")).toBe("not held: withdrawn by coop-c (fails underlay-declared-only)");
    expect(await headline("expired")).toMatch(
      /^not held: coop-b's attestation ended 2026-11-28T10:00:00\.000Z, coop-c's attestation ended/,
    );
  });

  test("a byte changed in the page's own copy of a file, or a bad pin in the link, shows as such", async () => {
    const { seal } = published.get("good")!;
    const html = readFileSync(join(seal, "index.html"), "utf8");
    const tampered = join(work, "seal-tampered-copy");
    publishSeal(tampered, registryFiles, good(), fixtureTrust(), NOW);
    // The statement's "as expected" inside the embedded JSON, once.
    writeFileSync(join(tampered, "seal", "index.html"), html.replace("as expected", "as expectee"));
    const settled = await browserVerifier(join(tampered, "seal"))(undefined, NOW);
    expect(settled.result.nodes[0].verdict).toBe("tampered");
    const badPin = await browserVerifier(seal)("1:cafe", NOW);
    expect(badPin.result.problems).toEqual([
      "the link's #trust=1:cafe is not N:SHA256 (a version and 64 hex digits): the bundle's own pin is used",
    ]);
    expect(badPin.result.nodes[0].verdict).toBe("held");
  });
});

describe("the bundle", () => {
  let bundle: PublishedSeal;
  beforeAll(() => {
    bundle = publishSeal(join(work, "seal-bundle"), registryFiles, [...good(), attest("d1", { subject: "b1" })], fixtureTrust(), NOW);
  }, 60_000);

  test("its files: the pin's federation version, every node object held, the node's attestations only, allowed_signers; the page embeds the same bytes", () => {
    const { seal } = bundle;
    const manifest = JSON.parse(readFileSync(join(seal, "seal.json"), "utf8"));
    expect(manifest).toMatchObject({
      format: "boreal-seal/1",
      federation: { name: "boreal-test", version: 1, trust: fixtureTrust() },
      subject: { nodes: ["a1"] },
      publishedAt: NOW.toISOString(),
    });
    expect(manifest.files).toEqual([
      "allowed_signers",
      "attestations/a1/b1.json",
      "attestations/a1/b1.json.sig",
      "attestations/a1/c1.json",
      "attestations/a1/c1.json.sig",
      "federation/1.yaml",
      // The founders' signatures of the pinned version: ssh-keygen can check those too.
      ...["coop-a", "coop-b", "coop-c", "coop-d"].map((m) => `federation/1.yaml.${m}.sig`),
      ...["a1", "b1", "b2", "c1", "d1"].flatMap((n) => [`nodes/${n}.yaml`, `nodes/${n}.yaml.sig`]),
    ]);
    const { data } = pageParts(seal);
    expect(data.manifest).toBe(readFileSync(join(seal, "seal.json"), "utf8"));
    for (const path of manifest.files) expect(data.files[path], path).toBe(readFileSync(join(seal, path), "utf8"));
    expect(readFileSync(join(seal, "federation/1.yaml"), "utf8")).toBe(readFileSync(join(FIXTURE_REGISTRY, "federation/1.yaml"), "utf8"));
    const size = readdirSync(seal, { recursive: true })
      .map((p) => join(seal, String(p)))
      .filter((p) => statSync(p).isFile())
      .reduce((n, p) => n + statSync(p).size, 0);
    console.log(
      `seal bundle of node a1 (2 attestations, 5 nodes): ${(size / 1024).toFixed(0)} KiB, index.html ${(statSync(join(seal, "index.html")).size / 1024).toFixed(0)} KiB`,
    );
    expect(bundle.published.stdout).toMatch(/seal of node a1 written to .*: 23 files, \d+ KiB\n  a1: HELD, held since/);
  });

  test("the page loads nothing: one inline script and one style, both pinned by the page's Content-Security-Policy", () => {
    const html = readFileSync(join(bundle.seal, "index.html"), "utf8");
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1].replace(/&#39;/g, "'");
    const { script } = pageParts(bundle.seal);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    expect(csp).toBe(
      `default-src 'none'; style-src ${hash(style)}; script-src ${hash(script)}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'`,
    );
    // Outside the script and its data (the kit's code holds URL patterns of its own), nothing that could load.
    const markup = html.replace(/<script\b[\s\S]*?<\/script>/g, "");
    expect(markup).not.toMatch(/<(link|img|iframe|object|embed)\b|@import|url\(|https?:/i);
    expect(script).not.toMatch(
      /\bfetch\((?!\w+,\{cache:"no-store",redirect:"error"\})|XMLHttpRequest|WebSocket|EventSource|sendBeacon|importScripts|\bimport\(/,
    );
    expect(html.match(/<script\b/g)).toHaveLength(2); // the data, and the script
  });

  test("the commands the page prints pass with OpenSSH and coreutils alone, in the bundle's directory", () => {
    const html = readFileSync(join(bundle.seal, "index.html"), "utf8");
    const commands = /<pre><code>([\s\S]*?)<\/code><\/pre>/
      .exec(html)![1]
      .replace(/&lt;/g, "<")
      .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
      .split("\n");
    expect(commands).toEqual([
      "sha256sum federation/1.yaml nodes/a1.yaml",
      "ssh-keygen -Y verify -f allowed_signers -I coop-b -n boreal-label -s attestations/a1/b1.json.sig < attestations/a1/b1.json",
      "ssh-keygen -Y verify -f allowed_signers -I coop-c -n boreal-label -s attestations/a1/c1.json.sig < attestations/a1/c1.json",
    ]);
    const sums = spawnSync("sh", ["-c", commands[0]], { cwd: bundle.seal, encoding: "utf8" }).stdout;
    expect(sums).toMatch(new RegExp(`^${fixtureTrust().slice(2)}  federation/1.yaml$`, "m"));
    const digest = JSON.parse(readFileSync(join(bundle.seal, "attestations/a1/b1.json"), "utf8")).subject[0].digest.sha256;
    expect(sums).toMatch(new RegExp(`^${digest}  nodes/a1.yaml$`, "m"));
    for (const command of commands.slice(1)) {
      const r = spawnSync("sh", ["-c", command], { cwd: bundle.seal, encoding: "utf8" });
      expect(r.status, `${command}\n${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/Good "boreal-label" signature/);
    }
    // A byte changed: ssh-keygen refuses, as the page does.
    const tampered = readFileSync(join(bundle.seal, "attestations/a1/b1.json"), "utf8").replace("as expected", "as expectee");
    const r = spawnSync("sh", ["-c", commands[1].replace(/ < .*$/, "")], { cwd: bundle.seal, input: tampered, encoding: "utf8" });
    expect(r.status).not.toBe(0);
  });

  test("publish: bad input names the option and the fix; an earlier seal is replaced, anything else is never overwritten", () => {
    const { registry, seal } = bundle;
    const pin = fixtureTrust();
    expect(label("publish", "--node", "a1", "--registry", registry).stderr).toMatch(
      /the directory OUT to write the seal to is missing\n  fix: give it first/,
    );
    expect(label("publish", seal, "--registry", registry, "--trust", pin).stderr).toMatch(
      /say what the seal is for: --node or --member is missing\n  fix: name one node \(--node a1\) or one member/,
    );
    expect(label("publish", seal, "--node", "a1", "--member", "coop-a", "--registry", registry).status).toBe(2);
    const noNode = label("publish", seal, "--node", "z9", "--registry", registry, "--trust", pin);
    expect(noNode.status).toBe(2);
    expect(noNode.stderr).toMatch(
      /node z9 is no live node of federation boreal-test version 1\n  fix: name one of its nodes: a1, b1, b2, c1, d1/,
    );
    expect(label("publish", seal, "--member", "coop-z", "--registry", registry, "--trust", pin).stderr).toMatch(
      /member coop-z is no member of federation boreal-test version 1\n  fix: name a member: coop-a/,
    );
    // coop-b's seal covers both its nodes.
    const other = join(work, "seal-member");
    const member = label("publish", other, "--member", "coop-b", "--registry", registry, "--trust", pin, "--at", NOW.toISOString());
    expect(member.status, member.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(other, "seal.json"), "utf8")).subject).toEqual({ member: "coop-b", nodes: ["b1", "b2"] });
    expect(readdirSync(join(other, "attestations"))).toEqual(["b1"]);
    // Again over itself: replaced whole.
    expect(label("publish", other, "--node", "b1", "--registry", registry, "--trust", pin).status).toBe(0);
    expect(JSON.parse(readFileSync(join(other, "seal.json"), "utf8")).subject).toEqual({ nodes: ["b1"] });
    const notOurs = label("publish", registry, "--node", "a1", "--registry", registry, "--trust", pin);
    expect(notOurs.status).toBe(2);
    expect(notOurs.stderr).toMatch(
      /the seal cannot be written to .*registry: .*exists and is not a directory this command wrote\n  fix: give a new or empty directory/,
    );
  });

  test("the badge links to the page and says what the kit found when it was published, in words and a symbol", () => {
    const badge = readFileSync(join(bundle.seal, "badge.svg"), "utf8");
    expect(badge).toMatch(/<a href="index.html">/);
    expect(badge).toMatch(/✓ held until 2026-11-28/);
    expect(renderSealBadge({ held: false })).toMatch(/✕ not held/);
    expect(badge).not.toMatch(/<script|@font-face|url\(/);
  });
});

describe("the browser's Buffer reads and writes bytes as Node's does", () => {
  test("base64 (with junk, padding, the URL alphabet), hex, latin1, UTF-8, and the readers the core uses", () => {
    const texts = ["", "YQ==", "YQ", "Y Q = =", "Y*Q==", "YWJj-_", "YWJ=j", "=YQ", "YQ===x", "AAAAC3NzaC1lZDI1NTE5AAAAIA==", "ÿé\u0000\n"];
    for (const t of texts)
      for (const enc of ["base64", "base64url", "latin1", "utf8", "hex"] as const)
        expect([...BrowserBuffer.from(t, enc)], `${JSON.stringify(t)} ${enc}`).toEqual([...Buffer.from(t, enc)]);
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let n = 0; n < 8; n++) {
      const slice = bytes.subarray(0, 290 + n);
      for (const enc of ["base64", "base64url", "hex", "latin1", "utf8"] as const)
        expect(BrowserBuffer.from(slice).toString(enc), enc).toBe(Buffer.from(slice).toString(enc));
    }
    const b = BrowserBuffer.from([0, 0, 1, 2, 0xff, 0xfe, 0x0a, 0x2d]);
    expect([
      b.readUInt32BE(0),
      b.readUInt16BE(4),
      b.indexOf("\n-"),
      b.indexOf(0xff),
      (b.subarray(2, 4) as BrowserBuffer).equals(Buffer.from([1, 2])),
    ]).toEqual([258, 0xfffe, 6, 4, true]);
    expect(b.subarray(1)).toBeInstanceOf(BrowserBuffer);
    expect(() => b.readUInt32BE(6)).toThrow(RangeError);
  });
});
