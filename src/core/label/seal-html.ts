// The seal's page and badge as text. Pure. The page's static part says what it is for, what
// the label means and how to check it with OpenSSH, with JavaScript or without; its script
// (src/web/seal-page.ts, built by src/cli/seal-script.ts) adds the verdict it reaches itself.
import { contentSecurityPolicy, escapeHtml as h } from "../values/html";
import { labelRequirements, RULES } from "./rules";
import { SEAL_SIGNERS, type SealFile, type SealManifest } from "./seal";
import { SEAL_DATA_ID } from "./seal-ids";

// Okabe-Ito blue and vermillion (told apart by people who cannot tell red from green), and
// every state is also a symbol and a word. System fonts only: the page loads nothing.
export const SEAL_CSS = `
:root { color-scheme: light; --held: #0072b2; --not: #d55e00; --ink: #1d1d1d; --muted: #555; --line: #ccc; }
body { font: 16px/1.5 system-ui, sans-serif; color: var(--ink); margin: 0; background: #fafafa; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; background: #fff; }
.kicker { color: var(--muted); margin: 0; font-size: .9rem; }
h1 { margin: .2rem 0; font-size: 1.6rem; }
.verdict { font-size: 1.4rem; border: 3px solid var(--muted); padding: .6rem 1rem; border-radius: 6px; }
.verdict.held { border-color: var(--held); color: var(--held); }
.verdict.not-held { border-color: var(--not); color: var(--not); border-style: dashed; }
.verdict .symbol { font-size: 1.8rem; margin-right: .5rem; }
section.node { border-left: 6px solid var(--line); padding-left: 1rem; margin: 1.5rem 0; }
section.node.held { border-left-color: var(--held); }
section.node.not-held { border-left-color: var(--not); border-left-style: dotted; }
.headline { font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; overflow-wrap: break-word; }
td:nth-child(-n+3) { white-space: nowrap; }
.vote-counts { color: var(--held); } .vote-withdrawn, .vote-expired { color: var(--not); font-weight: 600; }
.problem { color: var(--not); font-weight: 600; }
pre { background: #f0f0f0; padding: .75rem; overflow-x: auto; font-size: .85rem; }
code { overflow-wrap: anywhere; }
#checked { color: var(--muted); font-size: .85rem; }
`;

export interface SealPage {
  manifest: SealManifest;
  /** seal.json's exact text, and the bundle's files: the page checks these copies when opened from disk. */
  manifestText: string;
  files: SealFile[];
  /** The page script (kit and page, as one inline script). */
  script: string;
  /** sealCommands: what checks the same with OpenSSH. */
  commands: string[];
}

function subjectTitle(manifest: SealManifest): string {
  const { member, nodes } = manifest.subject;
  return member ? `Member ${member} (node${nodes.length > 1 ? "s" : ""} ${nodes.join(", ")})` : `Node ${nodes.join(", ")}`;
}

/** A JSON text that may stand inside a <script> element: "<" never appears as itself. */
function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

export function renderSealPage(page: SealPage): string {
  const { manifest } = page;
  const title = `${subjectTitle(manifest)}: peer-signed label of federation ${manifest.federation.name}`;
  const needed = labelRequirements();
  const rules = RULES.filter((r) => needed.some((n) => n.rule === r.id));
  const data = scriptSafeJson({ manifest: page.manifestText, files: Object.fromEntries(page.files.map((f) => [f.path, f.content])) });
  const lines = [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="${h(contentSecurityPolicy(SEAL_CSS, page.script))}">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>${h(title)}</title>`,
    `<style>${SEAL_CSS}</style>`,
    "</head>",
    "<body>",
    '<main id="seal" data-seal-state="checking">',
    '<p class="kicker">boreal-kit · a label signed by the federation\'s other members, checked in your browser</p>',
    `<h1>${h(subjectTitle(manifest))}</h1>`,
    `<p>Federation ${h(manifest.federation.name)}, version ${manifest.federation.version}; bundle published ${h(manifest.publishedAt)}.</p>`,
    '<p id="verdict" class="verdict pending" role="status" aria-live="polite">… Checking the signatures in this browser</p>',
    '<noscript><p class="verdict not-held">This page checks the signatures with your browser\'s JavaScript, which is off here. The commands below check the same with OpenSSH.</p></noscript>',
    '<div id="details"></div>',
    "<section>",
    "<h2>What the label means</h2>",
    "<p>A node holds the label while enough of the federation's <em>other</em> members have each signed, recently, that they checked it from outside and it passed every mandatory rule. Its own member's word never counts, and nobody else decides: there is no central party.</p>",
    "<ul>",
    ...rules.map((r) => `<li><strong>${h(r.id)}</strong>: ${h(r.rationale)}</li>`),
    "</ul>",
    "</section>",
    '<section id="by-hand">',
    "<h2>Check it yourself, without this page</h2>",
    `<p>Put the files below in one directory, keeping their paths, and run there (OpenSSH and coreutils). The first prints the digests: the federation file's must be the pin <code>${h(manifest.federation.trust)}</code> (compare it with the pin your federation publishes), each node's descriptor's must be the <code>digest.sha256</code> in its attestations. The others must each say <q>Good "boreal-label" signature</q>; then read each attestation's results and <code>validUntil</code>.</p>`,
    `<pre><code>${page.commands.map(h).join("\n")}</code></pre>`,
    `<p><code>${SEAL_SIGNERS}</code> holds the member keys of the federation version and the attestation keys of its nodes' descriptors, which their members signed: <code>boreal label verify</code> checks those signatures too.</p>`,
    "</section>",
    "<section>",
    "<h2>The files</h2>",
    "<ul>",
    '<li><a href="seal.json">seal.json</a></li>',
    ...manifest.files.map((path) => `<li><a href="${h(encodeURI(path))}">${h(path)}</a></li>`),
    "</ul>",
    "</section>",
    '<p id="checked"></p>',
    "</main>",
    `<script type="application/json" id="${SEAL_DATA_ID}">${data}</script>`,
    `<script>${page.script}</script>`,
    "</body>",
    "</html>",
    "",
  ];
  return lines.join("\n");
}

/** Roughly how wide a text is at 11px in a sans-serif font: enough for a badge's box. */
const textWidth = (text: string) => Math.ceil([...text].length * 6.6) + 12;

/** A small SVG for the member's pages, linking to the bundle's page; it says what the kit found when it was published. */
export function renderSealBadge(state: { held: boolean; until?: string }): string {
  const left = "peer-signed label";
  const right = state.held ? `✓ held until ${state.until?.slice(0, 10)}` : "✕ not held";
  const [lw, rw] = [textWidth(left), textWidth(right)];
  const colour = state.held ? "#0072b2" : "#d55e00";
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + rw}" height="20" role="img" aria-label="${h(`${left}: ${right}`)}">`,
    `<title>${h(`${left}: ${right} (when published; the page checks it now)`)}</title>`,
    '<a href="index.html">',
    `<rect width="${lw}" height="20" fill="#333"/>`,
    `<rect x="${lw}" width="${rw}" height="20" fill="${colour}"/>`,
    '<g fill="#fff" font-family="system-ui,sans-serif" font-size="11">',
    `<text x="6" y="14">${h(left)}</text>`,
    `<text x="${lw + 6}" y="14">${h(right)}</text>`,
    "</g>",
    "</a>",
    "</svg>",
    "",
  ].join("\n");
}
