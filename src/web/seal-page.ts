/// <reference lib="dom" />
// The seal's page script: reads the bundle (the copies inside the page when it is opened from
// disk, where a browser lets a page read no other file; the files served beside it otherwise),
// has the kit's own judgement (makeKit, ./seal-kit.ts) settle against Web Crypto, and shows
// the verdict. Everything it shows comes from the bundle and is hostile: text only, never HTML.
import type { SealFile, SealJudgement, SealInput } from "../core/label/seal";
import { SEAL_DATA_ID } from "../core/label/seal-ids";
import type { CryptoOracle } from "./crypto-oracle";
import { settle, Settled, Subtle } from "./settle";

/** The kit bundle, wrapped by the page (src/cli/seal-script.ts): a fresh instance per call. */
declare function makeKit(oracle: CryptoOracle): { judgeSeal(input: SealInput): SealJudgement };

/** The bundle as the page embeds it: seal.json's text and each file it lists. */
export interface EmbeddedSeal {
  manifest: string;
  files: Record<string, string>;
}

export function judgeInBrowser(input: SealInput, subtle: Subtle): Promise<Settled<SealJudgement>> {
  return settle((oracle) => makeKit(oracle).judgeSeal(input), subtle);
}

type Child = Node | string | undefined | false;

function el(tag: string, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  return node;
}

/** The files as served beside the page, each as the bytes the server sent (UTF-8 text). */
async function servedFiles(): Promise<{ manifest: string; files: SealFile[]; missing: string[] }> {
  const read = async (path: string) => {
    const response = await fetch(path, { cache: "no-store", redirect: "error" });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.text();
  };
  const manifest = await read("seal.json");
  let paths: string[] = [];
  try {
    paths = (JSON.parse(manifest) as { files?: unknown }).files as string[];
  } catch {
    // judgeSeal says what is wrong with seal.json.
  }
  const files: SealFile[] = [];
  const missing: string[] = [];
  for (const path of Array.isArray(paths) ? paths.filter((p) => typeof p === "string" && !p.includes("..")) : []) {
    try {
      files.push({ path, content: await read(path) });
    } catch {
      missing.push(path);
    }
  }
  return { manifest, files, missing };
}

function linkTrust(): string | undefined {
  const match = /(?:^#|&)trust=([^&]*)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

const SYMBOL = { held: "✓", not: "✕" };

function voteRows(judgement: SealJudgement, node: string): HTMLElement | undefined {
  const report = judgement.nodes.find((n) => n.node === node)?.report;
  if (!report || report.votes.length === 0) return undefined;
  const words = { counts: "✓ counts", withdrawn: "✕ withdrawn", expired: "◷ expired" };
  return el(
    "table",
    { class: "votes" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["member", "checked from node", "vote", "observed", "counts until", "failing mandatory checks"].map((h) => el("th", {}, h)),
      ),
    ),
    el(
      "tbody",
      {},
      ...report.votes.map((v) =>
        el(
          "tr",
          { "data-member": v.member, "data-vote": v.status },
          el("td", {}, v.member),
          el("td", {}, v.node),
          el("td", { class: `vote-${v.status}` }, words[v.status]),
          el("td", {}, v.observedAt),
          el("td", {}, v.until),
          el("td", {}, v.failing.map((f) => `${f.rule} (${f.from}): ${f.detail}`).join("; ") || "none"),
        ),
      ),
    ),
  );
}

function nodeSection(judgement: SealJudgement, index: number): HTMLElement {
  const n = judgement.nodes[index];
  const r = n.report;
  const held = n.verdict === "held";
  return el(
    "section",
    { class: `node ${held ? "held" : "not-held"}`, "data-node": n.node, "data-verdict": n.verdict },
    el(
      "h2",
      {},
      `${held ? SYMBOL.held : SYMBOL.not} node ${n.node}${r?.member ? ` of ${r.member}` : ""}: ${held ? "label HELD" : "label NOT HELD"}`,
    ),
    el("p", { class: "headline" }, n.headline),
    r &&
      el(
        "dl",
        {},
        el("dt", {}, "held since"),
        el("dd", {}, r.since ?? "—"),
        el("dt", {}, "until, at the latest"),
        el("dd", {}, r.until ?? "—"),
        el("dt", {}, "needs"),
        el(
          "dd",
          {},
          `${r.settings.threshold} other members attesting every mandatory rule, each attestation counting ${r.settings.validityDays} days at most`,
        ),
        el("dt", {}, "descriptor"),
        el("dd", {}, r.descriptor ? `serial ${r.descriptor.serial}, sha256 ${r.descriptor.sha256}` : "—"),
        el("dt", {}, "the kit says"),
        el("dd", {}, r.summary),
      ),
    voteRows(judgement, n.node),
    r &&
      r.notCounted.length > 0 &&
      el(
        "div",
        { class: "refused" },
        el("h3", {}, "Files that do not count"),
        el("ul", {}, ...r.notCounted.map((x) => el("li", {}, el("code", {}, x.path), `: ${x.reason}`))),
      ),
  );
}

function render(judgement: SealJudgement, settled: Settled<unknown>, ms: number, origin: string, missing: string[]): void {
  const root = document.getElementById("seal")!;
  const held = judgement.nodes.length > 0 && judgement.nodes.every((n) => n.verdict === "held");
  const overall = held ? "held" : (judgement.nodes.find((n) => n.verdict !== "held")?.verdict ?? "unreadable");
  const verdict = document.getElementById("verdict")!;
  verdict.replaceChildren(
    el("span", { class: "symbol" }, held ? SYMBOL.held : SYMBOL.not),
    el("strong", {}, held ? "Label held" : "Label NOT held"),
    ...(held ? [] : [el("span", { class: "kind" }, ` (${overall.replace("-", " ")})`)]),
  );
  verdict.className = held ? "verdict held" : "verdict not-held";
  const fed = judgement.federation;
  const details = document.getElementById("details")!;
  details.replaceChildren(
    ...judgement.problems.map((p) => el("p", { class: "problem" }, `${SYMBOL.not} ${p}`)),
    ...missing.map((p) => el("p", { class: "problem" }, `${SYMBOL.not} ${p} was not served beside the page`)),
    el(
      "p",
      { class: "federation" },
      fed
        ? `Federation ${fed.name}, version ${fed.version} (sha256 ${fed.sha256}), verified from the pin ${judgement.trust.pin} `
        : `No federation could be trusted from the pin ${judgement.trust.pin || "(none)"} `,
      judgement.trust.from === "link"
        ? "given in the link to this page."
        : "given by the bundle itself: compare it with the pin your federation publishes.",
    ),
    ...judgement.nodes.map((_, i) => nodeSection(judgement, i)),
    ...(judgement.rejected.length === 0
      ? []
      : [
          el(
            "div",
            { class: "refused" },
            el("h3", {}, "Registry files refused"),
            el("ul", {}, ...judgement.rejected.map((x) => el("li", {}, el("code", {}, x.path), `: ${x.reason}`))),
          ),
        ]),
  );
  document.getElementById("checked")!.textContent =
    `Checked in this browser at ${judgement.at} in ${Math.round(ms)} ms: ${settled.verifications} Ed25519 signatures and ${settled.digests} digests by Web Crypto, ` +
    `from ${origin}.`;
  root.dataset.verdict = overall;
  root.dataset.verifyMs = String(Math.round(ms));
  root.dataset.sealState = "done";
}

async function main(): Promise<void> {
  const started = performance.now();
  const root = document.getElementById("seal")!;
  try {
    const embedded = JSON.parse(document.getElementById(SEAL_DATA_ID)!.textContent!) as EmbeddedSeal;
    const fromDisk = location.protocol === "file:";
    const bundle = fromDisk
      ? { manifest: embedded.manifest, files: Object.entries(embedded.files).map(([path, content]) => ({ path, content })), missing: [] }
      : await servedFiles();
    // Web Crypto exists only in a secure context: https, or a file opened from disk.
    if (!globalThis.crypto?.subtle)
      throw new Error("this page must be served over https (or opened from disk): the browser gives Web Crypto to secure pages only");
    const settled = await judgeInBrowser(
      { manifest: bundle.manifest, files: bundle.files, linkTrust: linkTrust(), at: new Date() },
      crypto.subtle as unknown as Subtle,
    );
    render(
      settled.result,
      settled,
      performance.now() - started,
      fromDisk ? "the copies inside this page (opened from disk)" : "the files served beside this page",
      bundle.missing,
    );
  } catch (error) {
    document
      .getElementById("verdict")!
      .replaceChildren(el("span", { class: "symbol" }, SYMBOL.not), el("strong", {}, `Not checked: ${(error as Error).message}`));
    root.dataset.verdict = "unreadable";
    root.dataset.sealState = "done";
  }
}

if (typeof document !== "undefined") void main();
else (globalThis as { borealSeal?: unknown }).borealSeal = { judgeInBrowser };
