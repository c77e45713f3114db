// The nudge (src/core/node/nudge.ts, src/io/nudge.ts): what a nudge says and who gets one,
// the sender over real UDP sockets on the loopback, the node's nudge-gate run for real with
// a socket on its standard input (systemd-socket-activate, as boreal-nudge.socket does) and
// systemctl stood in for, and the units and firewall line that carry it on a node.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSocket, Socket } from "node:dgram";
import { describe, expect, test } from "vitest";
import { sendNudges } from "../../src/io/nudge";
import { nudgeLine, nudgeMessage, nudgeTargets } from "../../src/core/node/nudge";
import { plan } from "../../src/core/node/plan";
import { renderNode } from "../../src/core/node/render";
import { AGENT_TRIGGERS, nudgeScript } from "../../src/core/node/scripts";
import { NUDGE_PORT } from "../../src/core/values/ports";
import { fixtureFederation, fixtureSpec, templates } from "../helpers/fixtures";

const hasSocketActivate = spawnSync("systemd-socket-activate", ["--version"]).status === 0;

const WG0 = `# Managed by boreal-kit for node a1 of federation boreal-test: re-apply the stack instead of editing.
[Interface]
Address = 100.64.0.1/24, fd42:b0:ea1::1/64
ListenPort = 51820

# boreal-peer: b1 coop-b
[Peer]
PublicKey = bbbb
Endpoint = 198.51.100.12:51820
AllowedIPs = 100.64.0.17/32, fd42:b0:ea1::11/128

# boreal-peer: c1 coop-c
[Peer]
PublicKey = cccc
Endpoint = [2001:db8::13]:51821
AllowedIPs = 100.64.0.33/32, fd42:b0:ea1::21/128, 10.9.0.0/16

# boreal-peer: d1 coop-d
[Peer]
PublicKey = dddd
Endpoint = wg.coop-d.example:51820
AllowedIPs = 100.64.0.49/32
`;

describe("what a nudge is and who gets one", () => {
  test("a nudge names its federation and nothing else, as one line", () => {
    expect(nudgeLine("boreal-test")).toBe("boreal-nudge boreal-test");
    expect(nudgeMessage("boreal-test").toString()).toBe("boreal-nudge boreal-test\n");
  });

  test("every peer of wg0.conf, by its endpoint's host (brackets off) and its host addresses on the mesh", () => {
    expect(nudgeTargets(WG0)).toEqual([
      { node: "b1", underlay: "198.51.100.12", mesh: ["100.64.0.17", "fd42:b0:ea1::11"] },
      { node: "c1", underlay: "2001:db8::13", mesh: ["100.64.0.33", "fd42:b0:ea1::21"] },
      { node: "d1", underlay: "wg.coop-d.example", mesh: ["100.64.0.49"] },
    ]);
    expect(nudgeTargets("[Interface]\nListenPort = 51820\n")).toEqual([]);
  });
});

/** A UDP socket on the loopback, on a port of its own. */
async function boundSocket(type: "udp4" | "udp6" = "udp4"): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, type === "udp4" ? "127.0.0.1" : "::1", resolve));
  return socket;
}

describe("the sender", () => {
  test("one nudge to each peer's underlay host and mesh address; an unresolvable name is reported, not thrown", async () => {
    const v4 = await boundSocket("udp4");
    const v6 = await boundSocket("udp6");
    const got: string[] = [];
    v4.on("message", (m, from) => got.push(`${from.address} ${m.toString().trim()}`));
    v6.on("message", (m, from) => got.push(`${from.address} ${m.toString().trim()}`));
    // Both sockets on one port number is not guaranteed: each target gets the port of its family's socket.
    const port = v4.address().port;
    v6.close();
    const v6again = createSocket("udp6");
    const v6bound = await new Promise<boolean>((resolve) => {
      v6again.once("error", () => resolve(false));
      v6again.bind(port, "::1", () => resolve(true));
    });
    if (v6bound) v6again.on("message", (m, from) => got.push(`${from.address} ${m.toString().trim()}`));
    const report = await sendNudges(
      "boreal-test",
      [
        { node: "b1", underlay: "127.0.0.1", mesh: v6bound ? ["::1"] : [] },
        { node: "x1", underlay: "no-such-host.invalid", mesh: [] },
      ],
      port,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(report.sent).toEqual(["b1 127.0.0.1", ...(v6bound ? ["b1 ::1"] : [])]);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatch(/^x1 no-such-host\.invalid: /);
    expect(got.sort()).toEqual(["127.0.0.1 boreal-nudge boreal-test", ...(v6bound ? ["::1 boreal-nudge boreal-test"] : [])]);
    v4.close();
    if (v6bound) v6again.close();
  });
});

describe("on the node", () => {
  const nodePlan = plan(fixtureSpec("a1"), fixtureFederation());
  const files = renderNode(nodePlan, templates);
  const file = (path: string) => files.find((f) => f.path === path)!.content;

  test("the socket listens on the federation's nudge port; its service runs nudge-gate with the socket as its input", () => {
    expect(file("/etc/systemd/system/boreal-nudge.socket")).toContain(`ListenDatagram=${NUDGE_PORT}\n`);
    const service = file("/etc/systemd/system/boreal-nudge.service");
    expect(service).toContain("ExecStart=/usr/local/lib/boreal/nudge-gate\n");
    expect(service).toContain("StandardInput=socket\n");
    expect(service).toContain("StandardOutput=journal\n");
    expect(AGENT_TRIGGERS).toContain("boreal-nudge.socket");
  });

  // nudge-gate for real: systemd-socket-activate binds a UDP port and, on the first datagram,
  // starts the gate with the socket on its standard input, as boreal-nudge.socket does;
  // systemctl and sleep are stand-ins that write down how they were called.
  // The stand-in systemctl answers `show -P ActiveState` with syncState, as systemd would.
  const gate = (federation: string, syncState: string) => {
    const dir = mkdtempSync(join(tmpdir(), "boreal-nudge-gate-"));
    const calls = join(dir, "calls");
    for (const tool of ["systemctl", "sleep"]) {
      writeFileSync(
        join(dir, tool),
        `#!/bin/sh\necho "${tool} $*" >> ${calls}\n[ "$*" != "show -P ActiveState boreal-sync.service" ] || echo ${syncState}\n`,
        { mode: 0o755 },
      );
    }
    const script = join(dir, "nudge-gate");
    writeFileSync(script, file("/usr/local/lib/boreal/nudge-gate").replace(nodePlan.federation.name, federation), { mode: 0o755 });
    return { dir, calls, script };
  };
  const runGate = async (federation: string, datagrams: Buffer[], syncState = "inactive") => {
    const { dir, calls, script } = gate(federation, syncState);
    const port = 40000 + Math.floor(Math.random() * 20000);
    const child = spawn(
      "systemd-socket-activate",
      ["--datagram", "--inetd", "-l", `127.0.0.1:${port}`, "-E", `PATH=${dir}:${process.env.PATH}`, script],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let said = "";
    child.stderr.on("data", (d) => (said += d));
    const ended = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await new Promise((r) => setTimeout(r, 300));
    const sender = createSocket("udp4");
    for (const datagram of datagrams) await new Promise((r) => sender.send(datagram, port, "127.0.0.1", r));
    sender.close();
    const status = await Promise.race([ended, new Promise<"running">((r) => setTimeout(() => r("running"), 5000))]);
    if (status === "running") child.kill();
    const recorded = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
    return { status, recorded, said };
  };

  test.runIf(hasSocketActivate)("a burst of nudges starts one sync, then the gate keeps its spacing", async () => {
    const nudge = nudgeMessage(nodePlan.federation.name);
    const { status, recorded } = await runGate(nodePlan.federation.name, [nudge, nudge, nudge]);
    expect(status).toBe(0);
    // The run is queued at once; the blocking start after the burst joins that same job.
    expect(recorded).toEqual([
      "systemctl show -P ActiveState boreal-sync.service",
      "systemctl start --no-block boreal-sync.service",
      "systemctl start boreal-sync.service",
      "sleep 5",
    ]);
  });

  test.runIf(hasSocketActivate)("a nudge during a run waits for that run, then starts one more", async () => {
    const nudge = nudgeMessage(nodePlan.federation.name);
    const { status, recorded } = await runGate(nodePlan.federation.name, [nudge], "activating");
    expect(status).toBe(0);
    expect(recorded).toEqual([
      "systemctl show -P ActiveState boreal-sync.service",
      "systemctl start boreal-sync.service",
      "systemctl start --no-block boreal-sync.service",
      "systemctl start boreal-sync.service",
      "sleep 5",
    ]);
  });

  test.runIf(hasSocketActivate)("a datagram that is no nudge of this federation starts nothing", async () => {
    const { status, recorded } = await runGate(nodePlan.federation.name, [
      nudgeMessage("another-federation"),
      Buffer.from("GET / HTTP/1.0\r\n\r\n"),
    ]);
    expect(status).toBe(0);
    expect(recorded).toEqual([]);
  });

  test("the firewall accepts nudges from anywhere, at a bounded rate", () => {
    expect(file("/etc/nftables.conf")).toMatch(
      new RegExp(`udp dport ${NUDGE_PORT} limit rate 20/second burst 100 packets accept comment "nudge from peers"`),
    );
  });

  test("the announce and the farewell never fail their step, even with no agent to run", () => {
    const script = nudgeScript("boreal-test", templates);
    expect(script).toContain("node '/usr/local/lib/boreal-agent.js' nudge --federation 'boreal-test' || true");
    expect(spawnSync("sh", ["-c", script.replace("/usr/local/lib/boreal-agent.js", "/nonexistent/agent.js")]).status).toBe(0);
  });
});
