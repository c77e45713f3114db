// The seal in a real browser: Debian's headless Chromium opens each published bundle from disk,
// its network shut, and the page reaches its verdict by itself (Web Crypto); the test reads the
// verdict from the DOM and keeps a screenshot of each. The attestations are made relative to
// the real clock, since the page judges at the browser's time.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { federationPath } from "../../src/core/registry/format";
import { sha256 } from "../../src/core/registry/verify";
import { fixtureTrust, FIXTURE_REGISTRY } from "../helpers/fixtures";
import { attest, DAY, failing, HOUR, mallory, registryFiles, work } from "../helpers/label-fixture";
import { publishSeal } from "../helpers/seal";
import { ARTEFACTS, Chromium, CHROMIUM } from "../helpers/chromium";

if (!CHROMIUM) console.log("seal in the browser: SKIPPED, chromium is not installed (apt-get install chromium; .ci/run installs it)");

const before = (ms: number) => new Date(Date.now() - ms);
const good = () => [attest("b1", { observedAt: before(2 * HOUR) }), attest("c1", { observedAt: before(HOUR) })];

interface SealView {
  state: string;
  verdict: string;
  node: string;
  headline: string;
  banner: string;
  votes: string[];
  ms: number;
  checked: string;
}

const READ_VERDICT = `(() => {
  const root = document.getElementById("seal");
  if (root.dataset.sealState !== "done") return undefined;
  const node = document.querySelector('section.node[data-node="a1"]');
  return {
    state: root.dataset.sealState,
    verdict: root.dataset.verdict,
    node: node ? node.dataset.verdict : "",
    headline: node ? node.querySelector(".headline").textContent : "",
    banner: document.getElementById("verdict").innerText,
    votes: [...document.querySelectorAll("tr[data-vote]")].map((tr) => tr.dataset.member + " " + tr.dataset.vote),
    ms: Number(root.dataset.verifyMs),
    checked: document.getElementById("checked").textContent,
  };
})()`;

describe.skipIf(!CHROMIUM)("the seal in Chromium, opened from disk with the network shut", () => {
  let browser: Chromium;
  beforeAll(() => {
    browser = Chromium.launch();
    console.log(`seal in the browser: screenshots in ${ARTEFACTS}`);
  });
  afterAll(() => browser?.close());

  /** Publishes a1's seal from these attestations, opens it and reads the verdict; keeps a screenshot. */
  async function open(
    name: string,
    attestations: ReturnType<typeof good>,
    options: { hash?: string; edit?: (html: string) => string } = {},
  ) {
    const { seal } = publishSeal(join(work, `browser-${name}`), registryFiles, attestations, fixtureTrust());
    if (options.edit) writeFileSync(join(seal, "index.html"), options.edit(readFileSync(join(seal, "index.html"), "utf8")));
    const page = await browser.page();
    await page.goto(`file://${seal}/index.html${options.hash ?? ""}`);
    const view = await page.waitFor<SealView>(READ_VERDICT);
    const shot = await page.screenshot(`seal-${name}`);
    console.log(`seal in the browser: ${name}: "${view.banner.replace(/\s+/g, " ")}" in ${view.ms} ms; screenshot ${shot}`);
    // Nothing but the page itself was asked for (a request's URL has no fragment).
    expect(page.requests).toEqual([`file://${seal}/index.html`]);
    return view;
  }

  test("good: held, since and until, both members' votes counting", async () => {
    const view = await open("held", good());
    expect(view).toMatchObject({ verdict: "held", node: "held" });
    expect(view.banner).toMatch(/✓\s*Label held/);
    expect(view.headline).toMatch(/^held since \S+Z, until \S+Z at the latest$/);
    expect(view.votes).toEqual(["coop-b counts", "coop-c counts"]);
    expect(view.checked).toMatch(
      /\d+ Ed25519 signatures and \d+ digests by Web Crypto, from the copies inside this page \(opened from disk\)/,
    );
    expect(view.ms).toBeLessThan(10_000);
  });

  test("a byte changed in the page's copy of an attestation: tampered", async () => {
    const view = await open("tampered", good(), { edit: (html) => html.replace("as expected", "as expectee") });
    expect(view).toMatchObject({ verdict: "tampered", node: "tampered" });
    expect(view.banner).toMatch(/✕\s*Label NOT held \(tampered\)/);
    expect(view.headline).toMatch(/does not match its signature/);
  });

  test("signed by a key that is no member's: wrong key", async () => {
    const view = await open("wrong-key", [
      attest("b1", { observedAt: before(HOUR) }),
      attest("c1", { observedAt: before(HOUR), key: mallory }),
    ]);
    expect(view).toMatchObject({ verdict: "wrong-key" });
    expect(view.banner).toMatch(/NOT held \(wrong key\)/);
  });

  test("attestations older than their validity: expired", async () => {
    const view = await open("expired", [attest("b1", { observedAt: before(8 * DAY) }), attest("c1", { observedAt: before(8 * DAY) })]);
    expect(view).toMatchObject({ verdict: "expired" });
    expect(view.votes).toEqual(["coop-b expired", "coop-c expired"]);
  });

  test("a member's newest attestation fails a mandatory rule: withdrawn", async () => {
    const view = await open("withdrawn", [
      attest("b1", { observedAt: before(HOUR) }),
      attest("c1", { observedAt: before(HOUR), results: failing("underlay-declared-only", "underlay", "open but not declared: tcp/8080") }),
    ]);
    expect(view).toMatchObject({ verdict: "withdrawn" });
    expect(view.headline).toBe("not held: withdrawn by coop-c (fails underlay-declared-only)");
    expect(view.votes).toEqual(["coop-b counts", "coop-c withdrawn"]);
  });

  test("a link carrying another federation's pin: another federation", async () => {
    const other = sha256(
      readFileSync(join(FIXTURE_REGISTRY, federationPath(1)), "utf8").replace(/^name: .*$/m, "name: another-federation"),
    );
    const view = await open("other-federation", good(), { hash: `#trust=1:${other}` });
    expect(view).toMatchObject({ verdict: "other-federation" });
    expect(view.banner).toMatch(/NOT held \(other federation\)/);
  });

  test("served over https (answered inside the browser, no socket): the files beside the page are what it checks, so a tampered file shows", async () => {
    const { seal } = publishSeal(join(work, "browser-served"), registryFiles, good(), fixtureTrust());
    const path = join(seal, "attestations/a1/c1.json");
    writeFileSync(path, readFileSync(path, "utf8").replace("as expected", "as expectee"));
    const page = await browser.page({ offline: false });
    await page.serve("https://seal.test", seal);
    await page.goto("https://seal.test/index.html");
    const view = await page.waitFor<SealView>(READ_VERDICT);
    console.log(
      `seal in the browser: served, one file tampered: in ${view.ms} ms; screenshot ${await page.screenshot("seal-served-tampered")}`,
    );
    expect(view).toMatchObject({ verdict: "tampered" });
    expect(view.checked).toMatch(/from the files served beside this page/);
    expect(page.requests.every((url) => url.startsWith("https://seal.test/"))).toBe(true);
    expect(page.requests).toContain("https://seal.test/attestations/a1/c1.json");
  });
});
