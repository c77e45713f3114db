import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { parseAgentConfig, renderAgentConfig } from "../../src/core/spec/agent";
import { splitPrivateKey } from "../../src/core/spec/stack";
import { withZoneFiles } from "../../src/core/dns/records";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { imagePath, LAB_SUITES, labRecipe } from "../../src/lab/image";
import { FIXTURE_DIR, fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";
import { imageUsable, inImage } from "../helpers/image";

const ZONE = "coop-a.example.";
const ZONE_PATH = "/var/lib/knot/zones/coop-a.example.zone";
/** a1's stack with the fixture export as its zone file, read the way src/program/index.ts reads it. */
const { spec } = withZoneFiles(fixtureSpec("a1", { zoneFiles: { [ZONE]: "zones/coop-a.example.zone" } }), (path) =>
  readFileSync(join(FIXTURE_DIR, path)),
);
const zoneFile = renderNode(plan(spec, fixtureFederation()), templates).find((f) => f.path === ZONE_PATH)!;

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const work = mkdtempSync(join(tmpdir(), "boreal-dns-render-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A CNAME beside other data: what kzonecheck and Knot refuse, to show the checks below can fail. */
const broken = (content: string) => `${content}www.coop-a.example.\t300\tCNAME\tblog.coop-a.example.\n`;

/** knot.conf with just the zone, its file on /mnt: what `knotc zone-check` loads offline. */
const ZONE_CHECK_CONF = [
  "server:",
  '    rundir: "/tmp"',
  "database:",
  '    storage: "/tmp"',
  "zone:",
  `  - domain: ${ZONE}`,
  '    storage: "/mnt"',
  '    file: "%s.zone"',
  "",
].join("\n");

describe("the member's records in the rendered zone", () => {
  test("come after the kit's SOA, NS, glue and mesh addresses, one a line with absolute owners (snapshot)", async () => {
    await expect(`# ${zoneFile.path} (mode ${zoneFile.mode}, owner ${zoneFile.owner})\n${zoneFile.content}`).toMatchFileSnapshot(
      `./__snapshots__/dns/a1${ZONE_PATH}`,
    );
    const lines = zoneFile.content.split("\n");
    const kitEnd = lines.findIndex((l) => l.startsWith("a1\tAAAA\t"));
    const memberStart = lines.findIndex((l) => l.startsWith("; The member's own records"));
    expect(kitEnd).toBeGreaterThan(0);
    expect(memberStart).toBe(kitEnd + 1);
    expect(lines.slice(memberStart + 1).filter((l) => l.trim())).toHaveLength(19);
    for (const line of lines.slice(memberStart + 1).filter((l) => l.trim())) expect(line).toMatch(/^\S+\.\t(\d+\t)?[A-Z0-9]+\t\S/);
  });

  test("a zone without records of the member's has no such section", () => {
    const plain = renderNode(plan(fixtureSpec("a1"), fixtureFederation()), templates).find((f) => f.path === ZONE_PATH)!;
    expect(plain.content).not.toMatch(/member's own records/);
    expect(plain.content).toBe(zoneFile.content.slice(0, zoneFile.content.indexOf("; The member's own records")));
  });

  test("inline records render the same as the same records in a zone file", () => {
    const inline = fixtureSpec("a1", { records: { [ZONE]: spec.records![ZONE] } });
    expect(renderNode(plan(inline, fixtureFederation()), templates).find((f) => f.path === ZONE_PATH)!.content).toBe(zoneFile.content);
  });

  test("they reach the node's agent through agent.json, and its plan renders the same zone", () => {
    const { spec: publicSpec } = splitPrivateKey(spec);
    const agent = parseAgentConfig(renderAgentConfig(publicSpec, { ipv4: "100.64.0.1", ipv6: "fd42:b0:ea1::1" }), "/etc/boreal/agent.json");
    expect(agent.spec.records).toEqual(spec.records);
    expect(renderNode(plan(agent.spec, fixtureFederation()), templates).find((f) => f.path === ZONE_PATH)!.content).toBe(zoneFile.content);
    // Zone files not read into records would never reach the node: refused, not dropped.
    const unread = splitPrivateKey(fixtureSpec("a1", { zoneFiles: { [ZONE]: "zones/coop-a.example.zone" } })).spec;
    expect(() => renderAgentConfig(unread, { ipv4: "100.64.0.1", ipv6: "fd42:b0:ea1::1" })).toThrow(
      /boreal:zoneFiles must be read into boreal:records/,
    );
  });

  test("a record that does not check stops planning with its key and fix", () => {
    expect(() => plan({ ...spec, records: { [ZONE]: ["ns-b1 A 192.0.2.1"] } }, fixtureFederation())).toThrow(
      /boreal:records\["coop-a.example."\]\[0\]: ns-b1.coop-a.example. is the kit's.*\n\s+fix: rename the record/,
    );
  });

  test.runIf(has("kzonecheck"))("the rendered zone passes kzonecheck (and a broken one does not)", () => {
    const path = join(work, `${ZONE}zone`);
    writeFileSync(path, zoneFile.content);
    const ok = spawnSync("kzonecheck", ["-o", ZONE, path], { encoding: "utf8" });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    writeFileSync(path, broken(zoneFile.content));
    const bad = spawnSync("kzonecheck", ["-o", ZONE, path], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/another record exists beside CNAME/);
  });
});

// Debian's knot package has knotc but not kzonecheck (knot-dnssecutils, absent from the lab
// image and from nodes): `knotc zone-check` loads the zone file with the same semantic checks.
describe.each(LAB_SUITES)("the rendered zone, checked with the Knot of Debian %s (the lab image)", (suite) => {
  const image = imagePath(labRecipe(suite));
  test.runIf(imageUsable(suite))("knotc zone-check loads it (and refuses a broken one)", () => {
    const files = { "knot.conf": ZONE_CHECK_CONF, [`${ZONE}zone`]: zoneFile.content };
    inImage(image, files, `knotc -c /mnt/knot.conf zone-check ${ZONE}`);
    expect(() =>
      inImage(image, { ...files, [`${ZONE}zone`]: broken(zoneFile.content) }, `knotc -c /mnt/knot.conf zone-check ${ZONE}`),
    ).toThrow(/another record exists beside CNAME/);
  });
});
