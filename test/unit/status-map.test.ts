// The map (`boreal status --html`): a pure function of the report `boreal status` makes,
// snapshot-tested; every state a symbol and a word; hostile names escaped; and opened in
// Chromium with JavaScript off, node1 powered off reads as down from the DOM.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, test } from "vitest";
import { renderStatusMap } from "../../src/core/status/map";
import { federationStatus, formatStatus, LabelStates } from "../../src/core/status/report";
import { answers, sample, who } from "../helpers/status-answers";
import { ARTEFACTS, Chromium, CHROMIUM } from "../helpers/chromium";

const AT = "2026-11-21T12:00:00.000Z";
const LABELS: LabelStates = {
  judged: true,
  at: AT,
  federation: "lab",
  version: 3,
  nodes: {
    node1: { holds: true, since: "2026-11-21T09:00:00.000Z", until: "2026-11-28T09:00:00.000Z", summary: "holds" },
    node2: { holds: true, since: "2026-11-21T09:00:00.000Z", until: "2026-11-28T10:00:00.000Z", summary: "holds" },
    node3: { holds: false, summary: "does not hold: 1 of the 2 other member(s) needed attest it passes every mandatory rule" },
  },
};

/** node1 powered off, as node2 sees it two minutes later. */
const node1Down = () =>
  federationStatus(
    "node2",
    answers(["node1"], {}, [
      sample(1, { alertname: "BorealPeerExporterDown", ...who("node1") }),
      sample(1, { alertname: "BorealZoneNotAnswered", ...who("node1"), zone: "coop-a.lab.test." }),
    ]),
    LABELS,
  );

const work = mkdtempSync(join(tmpdir(), "boreal-map-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the map: the report as one page", () => {
  test("node1 down: the same data as the table, as a page (snapshot)", async () => {
    const status = node1Down();
    const html = renderStatusMap(status, { at: AT });
    await expect(html).toMatchFileSnapshot("__snapshots__/status-map.html");
    // The table reads the same report.
    expect(formatStatus(status)).toMatch(/^node1\s+coop-a\s+DOWN\s.*-\s+held until 2026-11-28T09:00Z\s+BorealPeerExporterDown/m);
    expect(formatStatus(status)).toMatch(/^node3\s+coop-c\s+up\s.*ok 42s ago\s+NOT HELD\s+-$/m);
  });

  test("every state is a symbol and a word, never a colour alone; no script, nothing loaded", () => {
    const html = renderStatusMap(node1Down(), { at: AT });
    expect(html).toMatch(
      /<tr data-node="node1" data-state="down"><th scope="row">node1<\/th><td>coop-a<\/td><td class="bad" data-state="down">✕ DOWN<\/td>/,
    );
    expect(html).toMatch(/<td class="bad" data-state="stale" data-from="node2" data-to="node1">⚠ 7m, stale<\/td>/);
    expect(html).toMatch(/data-from="node2" data-to="node3">✓ 22s · ping v4 0\.4 ms, v6 0\.5 ms<\/td>/);
    expect(html).toMatch(/<td class="none" data-state="no-data" data-from="node1" data-to="node2">— exporter down<\/td>/);
    expect(html).toMatch(/data-zone="coop-a.lab.test." data-node="node1">✕ no answer<\/td>/);
    expect(html).toMatch(/<td class="ok" data-state="held">✓ held until 2026-11-28 09:00 UTC<\/td>/);
    expect(html).toMatch(/<td class="bad" data-state="not-held">✕ not held<\/td>/);
    expect(html).toMatch(/✕ NOT healthy, as node2 sees it: node1 down/);
    for (const [, tone, text] of html.matchAll(/<td class="(ok|bad|warn)"[^>]*>([^<]*)</g))
      expect(text, `a ${tone} cell says it in a symbol`).toMatch(/^[✓✕⚠≠▲?]/);
    expect(html).not.toMatch(/<script|<link|<img|url\(|@import|https?:/i);
  });

  test("a serial behind, a handshake never made, a failed sync, labels not judged", () => {
    const base = answers([], { "node3/coop-b.lab.test.": 99 });
    base.handshakeMatrix = base.handshakeMatrix!.map((s) =>
      s.metric.node === "node1" && s.metric.peer === "node3" ? { ...s, value: -1 } : s,
    );
    base.syncSuccess = base.syncSuccess!.map((s) => (s.metric.node === "node3" ? { ...s, value: 0 } : s));
    const html = renderStatusMap(federationStatus("node2", base), { at: AT });
    expect(html).toMatch(/data-zone="coop-b.lab.test." data-node="node3">≠ 99, behind<\/td>/);
    expect(html).toMatch(/<td class="bad" data-state="disagree">✕ not all current<\/td>/);
    expect(html).toMatch(/data-from="node1" data-to="node3">✕ never<\/td>/);
    expect(html).toMatch(/<td class="bad" data-state="failed">✕ failed, 42s ago<\/td>/);
    expect(html).toMatch(/Labels not judged: no registry was given to judge the labels from/);
    // From a Prometheus without the map's series: says so, never breaks.
    const { handshakeMatrix, pingTimes, syncAge, syncSuccess, ...tableOnly } = base;
    void [handshakeMatrix, pingTimes, syncAge, syncSuccess];
    expect(renderStatusMap(federationStatus("node2", tableOnly), { at: AT })).toMatch(/data-from="node1" data-to="node2">— no data<\/td>/);
  });

  test("names from the registry are escaped: no markup, no script", () => {
    const evil = '<img src=x onerror="alert(1)">';
    const status = federationStatus("node2", {
      ...answers(),
      exporters: [...answers().exporters, sample(1, { node: evil, member: "coop-</td>" })],
    });
    const html = renderStatusMap(status, { at: AT });
    expect(html).not.toContain(evil);
    expect(html).toContain("&#60;img src=x onerror=&#34;alert(1)&#34;&#62;");
    expect(html).not.toContain("coop-</td>");
  });
});

describe.skipIf(!CHROMIUM)("the map in Chromium, JavaScript off, the network shut", () => {
  test("node1 powered off: its row says down, the page says which node is down", async () => {
    const path = join(work, "map.html");
    writeFileSync(path, renderStatusMap(node1Down(), { at: AT }));
    const browser = Chromium.launch();
    try {
      const page = await browser.page({ javascript: false });
      await page.goto(`file://${path}`);
      const read = await page.waitFor<{ state: string; text: string; overall: string; stale: string[]; healthy: string }>(`(() => {
        const row = document.querySelector('tr[data-node="node1"]');
        if (!row) return undefined;
        return {
          state: row.dataset.state,
          text: row.innerText,
          overall: document.querySelector(".overall").innerText,
          stale: [...document.querySelectorAll('td[data-to="node1"]')].map((td) => td.dataset.from + ":" + td.dataset.state),
          healthy: document.getElementById("map").dataset.healthy,
        };
      })()`);
      expect(read.state).toBe("down");
      expect(read.text).toMatch(/✕ DOWN/);
      expect(read.overall).toBe("✕ NOT healthy, as node2 sees it: node1 down");
      expect(read.stale).toEqual(["node2:stale", "node3:stale"]);
      expect(read.healthy).toBe("false");
      // The page ran no script (it has none, and scripts were off) and asked for nothing else.
      expect(page.requests).toEqual([`file://${path}`]);
      console.log(`map in the browser: node1 down; screenshot ${await page.screenshot("map-node1-down")} (in ${ARTEFACTS})`);
    } finally {
      browser.close();
    }
  });
});

describe("boreal status --html: its options", () => {
  test("--trust goes with --registry; the map is written only where asked", async () => {
    const { statusCommand } = await import("../../src/cli/status");
    await expect(statusCommand(["--html", join(work, "x.html"), "--trust", "1:abc"], ".")).rejects.toThrow(/--trust goes with --registry/);
    await expect(statusCommand(["--html", join(work, "x.html"), "--port", "22"], ".")).rejects.toThrow(/--port goes with --host/);
  });
});
