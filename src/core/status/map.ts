// `boreal status --html`: the federation as one page, from the very data `boreal status`
// prints (./report.ts). Pure: a function of the report. No script at all; every state is a
// symbol and a word, colour only repeats it (Okabe-Ito blue and vermillion, which people who
// cannot tell red from green still tell apart). Every name comes from the registry through
// Prometheus's labels: escaped.
import { contentSecurityPolicy, escapeHtml as h } from "../values/html";
import { HANDSHAKE_MAX_AGE_S } from "../label/judge";
import { ageText, FederationStatus, MeshLink, NodeStatus, ZoneAnswer } from "./report";

export const MAP_CSS = `
:root { --ok: #0072b2; --bad: #d55e00; --warn: #8a6d00; --ink: #1d1d1d; --muted: #555; --line: #ccc; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--ink); margin: 0; background: #fafafa; }
main { max-width: 80rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; background: #fff; }
h1 { margin: .2rem 0; font-size: 1.5rem; }
.overall { font-size: 1.25rem; font-weight: 600; border: 3px solid; padding: .4rem .8rem; border-radius: 6px; display: inline-block; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
thead th, tbody th { background: #f3f3f3; }
.ok { color: var(--ok); }
.bad { color: var(--bad); font-weight: 600; }
td.bad { background: #fdf0e8; border-style: dashed; }
.overall.bad { border-style: dashed; }
.warn { color: var(--warn); font-weight: 600; }
.none { color: var(--muted); }
.legend li { margin: .1rem 0; }
small { color: var(--muted); }
`;

type Tone = "ok" | "bad" | "warn" | "none";

/** A cell: its tone (a class and a data-state for readers and tests) and its text, symbol first. */
interface Cell {
  tone: Tone;
  state: string;
  text: string;
}

const cell = (tone: Tone, state: string, text: string): Cell => ({ tone, state, text });

function td(c: Cell, extra = ""): string {
  return `<td class="${c.tone}" data-state="${h(c.state)}"${extra}>${h(c.text)}</td>`;
}

function exporterCell(n: NodeStatus): Cell {
  return n.reachable ? cell("ok", "up", "▲ up") : cell("bad", "down", "✕ DOWN");
}

function syncCell(n: NodeStatus): Cell {
  if (!n.sync) return cell("none", "unknown", "— no data");
  return n.sync.succeeded
    ? cell("ok", "ok", `✓ ${ageText(n.sync.ageSeconds)} ago`)
    : cell("bad", "failed", `✕ failed, ${ageText(n.sync.ageSeconds)} ago`);
}

function labelCell(n: NodeStatus, judged: boolean): Cell {
  if (!judged || !n.label) return cell("none", "not-judged", "— not judged");
  return n.label.holds
    ? cell("ok", "held", `✓ held until ${n.label.until?.slice(0, 16).replace("T", " ")} UTC`)
    : cell("bad", "not-held", `✕ not held`);
}

function linkCell(link: MeshLink | undefined, from: NodeStatus): Cell {
  if (!from.reachable) return cell("none", "no-data", "— exporter down");
  if (!link) return cell("none", "no-data", "— no data");
  const ping = link.pingMs
    ? ` · ping ${(["ipv4", "ipv6"] as const)
        .filter((f) => link.pingMs![f] !== undefined)
        .map((f) => `${f === "ipv4" ? "v4" : "v6"} ${link.pingMs![f]!.toFixed(1)} ms`)
        .join(", ")}`
    : "";
  if (link.handshakeAge === null) return cell("bad", "never", `✕ never${ping}`);
  if (link.handshakeAge > HANDSHAKE_MAX_AGE_S) return cell("bad", "stale", `⚠ ${ageText(link.handshakeAge)}, stale${ping}`);
  return cell("ok", "fresh", `✓ ${ageText(link.handshakeAge)}${ping}`);
}

function zoneCell(answer: ZoneAnswer | undefined): Cell {
  if (!answer) return cell("none", "not-asked", "—");
  if (!answer.answered) return cell("bad", "no-answer", "✕ no answer");
  if (answer.serial === undefined) return cell("warn", "no-serial", "? no serial");
  return answer.current ? cell("ok", "current", `✓ ${answer.serial}`) : cell("warn", "behind", `≠ ${answer.serial}, behind`);
}

export interface MapContext {
  /** When the report was made (the CLI's clock). */
  at: string;
}

export function renderStatusMap(status: FederationStatus, context: MapContext): string {
  const asked = h(status.askedNode);
  const names = status.nodes.map((n) => n.node);
  const judged = status.labels.judged;
  const header = (cells: string[]) => `<tr><th></th>${cells.map((c) => `<th scope="col">${h(c)}</th>`).join("")}</tr>`;

  const nodeRows = status.nodes.map((n) => {
    const row = [exporterCell(n), syncCell(n), labelCell(n, judged)].map((c) => td(c)).join("");
    const alerts = n.alerts.length ? `<td class="bad">✕ ${h(n.alerts.join(", "))}</td>` : '<td class="ok">✓ none</td>';
    const state = n.reachable ? "up" : "down";
    return `<tr data-node="${h(n.node)}" data-state="${state}"><th scope="row">${h(n.node)}${n.node === status.askedNode ? " (asked)" : ""}</th><td>${h(n.member)}</td>${row}${alerts}</tr>`;
  });

  const meshRows = status.nodes.map((from) => {
    const cells = names.map((to) =>
      to === from.node
        ? '<td class="none" data-state="self">·</td>'
        : td(linkCell(status.mesh[from.node]?.[to], from), ` data-from="${h(from.node)}" data-to="${h(to)}"`),
    );
    return `<tr><th scope="row">${h(from.node)}</th>${cells.join("")}</tr>`;
  });

  const zoneRows = Object.keys(status.zones)
    .sort()
    .map((zone) => {
      const byNode = status.zones[zone];
      const answers = Object.values(byNode);
      const agree = answers.every((a) => a.answered && a.current);
      const summary = agree ? cell("ok", "agree", "✓ all agree") : cell("bad", "disagree", "✕ not all current");
      const cells = names.map((node) => td(zoneCell(byNode[node]), ` data-zone="${h(zone)}" data-node="${h(node)}"`));
      return `<tr><th scope="row">${h(zone)}</th>${td(summary)}${cells.join("")}</tr>`;
    });

  const down = status.nodes.filter((n) => !n.reachable).map((n) => n.node);
  const overall = status.healthy
    ? `<p class="overall ok" data-state="healthy">✓ Healthy, as ${asked} sees it</p>`
    : `<p class="overall bad" data-state="not-healthy">✕ NOT healthy, as ${asked} sees it${down.length ? `: ${h(down.join(", "))} down` : ""}</p>`;
  const labels = status.labels.judged
    ? `<p>Labels judged at ${h(status.labels.at)} from federation ${h(status.labels.federation)} version ${status.labels.version}, as <code>boreal label verify</code> judges them.</p>`
    : `<p class="none">Labels not judged: ${h(status.labels.why)}.</p>`;
  const firing = [...status.nodes.flatMap((n) => n.alerts.map((a) => `${n.node}: ${a}`)), ...status.otherAlerts];

  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="${h(contentSecurityPolicy(MAP_CSS))}">`,
    `<title>Federation map, as ${asked} sees it</title>`,
    `<style>${MAP_CSS}</style>`,
    "</head>",
    "<body>",
    `<main id="map" data-asked="${asked}" data-healthy="${status.healthy}">`,
    `<h1>The federation, as ${asked} sees it</h1>`,
    `<p><small>Made ${h(context.at)} by <code>boreal status --html</code>, from ${asked}'s Prometheus over SSH.</small></p>`,
    overall,
    "<h2>Nodes</h2>",
    "<table>",
    `<thead>${header(["member", "exporter", "last sync run", "label", "firing alerts"])}</thead>`,
    `<tbody>${nodeRows.join("\n")}</tbody>`,
    "</table>",
    labels,
    "<h2>The mesh</h2>",
    `<p>Row: the node that reports; column: its peer. Each cell: the age of their latest WireGuard handshake (stale after ${HANDSHAKE_MAX_AGE_S} s). Ping round trips are measured from ${asked} only.</p>`,
    "<table>",
    `<thead>${header(names)}</thead>`,
    `<tbody>${meshRows.join("\n")}</tbody>`,
    "</table>",
    "<h2>Zones</h2>",
    `<p>Each zone's SOA serial at the nodes ${asked} asks it of; the newest serial is current.</p>`,
    "<table>",
    `<thead>${header(["agreement", ...names])}</thead>`,
    `<tbody>${zoneRows.join("\n")}</tbody>`,
    "</table>",
    "<h2>Firing alerts</h2>",
    firing.length ? `<ul>${firing.map((a) => `<li class="bad">✕ ${h(a)}</li>`).join("")}</ul>` : '<p class="ok">✓ none</p>',
    "<h2>Reading it</h2>",
    '<ul class="legend">',
    '<li><span class="ok">✓</span> as it should be; <span class="ok">▲ up</span> the node\'s exporter answers</li>',
    '<li><span class="bad">✕</span> down, failed, never or not held</li>',
    '<li><span class="warn">⚠ / ≠</span> stale handshake, serial behind</li>',
    '<li><span class="none">—</span> no data: not asked, or the reporting node is down</li>',
    "</ul>",
    "</main>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
