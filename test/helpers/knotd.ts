// A knotd of our own on loopback, in a temp dir, serving zones signed with the kit's DNSSEC
// policy (the `policy:` block of the rendered knot.conf, verbatim): what `boreal dns check`
// is tested against, and what test/fixtures/dns/ was captured from. Stopped by its pid.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zoneRecordLines } from "../../src/core/dns/records";
import { ask } from "../../src/io/dns/transport";
import { RECORD_TYPES } from "../../src/core/dns/zonefile";
import type { NodeSpec } from "../../src/core/spec/stack";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { fixtureFederation, templates } from "./fixtures";

export interface KnotZone {
  name: string;
  /** Master-file text; the zone is signed unless `signed: false` (a parent for the DS test). */
  text: string;
  signed?: boolean;
}

export interface Knotd {
  pid: number;
  port: number;
  dir: string;
  /** Rewrites a zone's file and has Knot load it (knotc zone-reload), then waits for the new serial. */
  reload(zone: KnotZone): Promise<void>;
  /** SIGTERM to our knotd, by its pid; resolves once it has exited and its temp dir is gone. */
  stop(): Promise<void>;
}

export const hasKnot = ["knotd", "knotc"].every((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0);

/**
 * A fixture node's zone as the kit renders it (its SOA, NS, glue and the member's records),
 * the member's record lines, and the kit's signing policy from the rendered knot.conf (with
 * another algorithm when asked).
 */
export function renderedZone(spec: NodeSpec, zone: string, algorithm?: string): { zone: KnotZone; records: string[]; policy: string } {
  const files = renderNode(plan(spec, fixtureFederation()), templates);
  const fileOf = (path: string) => files.find((f) => f.path === path)!.content;
  const policy = /^policy:\n[\s\S]*?(?=^\S)/m.exec(fileOf("/etc/knot/knot.conf"))?.[0];
  if (!policy) throw new Error("the rendered knot.conf has no policy block");
  return {
    zone: { name: zone, text: fileOf(`/var/lib/knot/zones/${zone}zone`) },
    records: zoneRecordLines(zone, spec),
    policy: algorithm ? policy.replace(/algorithm: \S+/, `algorithm: ${algorithm}`) : policy,
  };
}

/** A port nothing listens on now (the kernel's choice, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function serial(port: number, zone: string): Promise<{ serial?: number; signed: boolean }> {
  const reply = await ask({ host: "127.0.0.1", port }, { name: zone, type: RECORD_TYPES.SOA }, 500);
  if ("error" in reply || reply.message.rcode !== 0) return { signed: false };
  const soa = reply.message.answer.find((r) => r.type === RECORD_TYPES.SOA);
  return {
    serial: soa?.canonical.readUInt32BE(soa.canonical.length - 20),
    signed: reply.message.answer.some((r) => r.type === RECORD_TYPES.RRSIG),
  };
}

async function until(what: string, ready: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > end) throw new Error(`knotd: ${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts knotd on 127.0.0.1 at a free port; resolves once every zone answers (signed ones with RRSIGs). */
export async function startKnotd(zones: KnotZone[], policy: string): Promise<Knotd> {
  const dir = mkdtempSync(join(tmpdir(), "boreal-knotd-"));
  for (const sub of ["zones", "db", "run"]) mkdirSync(join(dir, sub));
  const port = await freePort();
  const writeZone = (z: KnotZone) => writeFileSync(join(dir, "zones", `${z.name}zone`), z.text);
  zones.forEach(writeZone);
  const conf = [
    "server:",
    `    rundir: "${dir}/run"`,
    `    listen: 127.0.0.1@${port}`,
    "database:",
    `    storage: "${dir}/db"`,
    "control:",
    `    listen: "${dir}/run/knot.sock"`,
    "log:",
    "  - target: stderr",
    "    any: warning",
    policy.trimEnd(),
    "template:",
    "  - id: default",
    `    storage: "${dir}/zones"`,
    '    file: "%s.zone"',
    // As the kit's own-member template: Knot never writes back into the zone file.
    "    zonefile-sync: -1",
    "    zonefile-load: difference-no-serial",
    "    journal-content: all",
    "    serial-policy: unixtime",
    "zone:",
    ...zones.flatMap((z) => [
      `  - domain: ${z.name}`,
      ...(z.signed === false ? [] : ["    dnssec-signing: on", `    dnssec-policy: ${/id: (\S+)/.exec(policy)![1]}`]),
    ]),
    "",
  ].join("\n");
  writeFileSync(join(dir, "knot.conf"), conf);
  const child: ChildProcess = spawn("knotd", ["-c", join(dir, "knot.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until("every zone answered", async () => {
      if (child.exitCode !== null) throw new Error(`knotd exited (${child.exitCode}): ${log}`);
      const states = await Promise.all(zones.map((z) => serial(port, z.name)));
      return states.every((s, i) => s.serial !== undefined && (zones[i].signed === false || s.signed));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    pid: child.pid!,
    port,
    dir,
    stop,
    async reload(zone) {
      const before = (await serial(port, zone.name)).serial;
      writeZone(zone);
      const r = spawnSync("knotc", ["-s", join(dir, "run/knot.sock"), "zone-reload", zone.name], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`knotc zone-reload ${zone.name}: ${r.stdout}${r.stderr}`);
      await until(`${zone.name} reloaded`, async () => (await serial(port, zone.name)).serial !== before);
    },
  };
}
