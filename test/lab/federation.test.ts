// A federation of three members on real lab machines. Each node is planned, rendered and
// applied with the kit's own scripts (over SSH: see helpers/ssh-apply.ts), and the test
// asserts on what the servers do: packets across the tunnels, DNS answers, metrics served.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadTemplates } from "../../src/components/templates";
import { descriptorPath } from "../../src/config/registry";
import { NodeSpec, parseStackConfig } from "../../src/config/stack";
import { labDown, labExec, LabMachine, labStart, labStop, LabState, labUp } from "../../src/lab/lab";
import { buildDescriptor } from "../../src/model/descriptor";
import { NodePlan, plan } from "../../src/model/plan";
import { contentHash, renderNode, RenderedFile } from "../../src/render";
import { loadRegistry } from "../../src/registry";
import { renderDescriptor } from "../../src/registry";
import { SshApplier } from "../helpers/ssh-apply";

const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "boreal-federation-"));
const registry = join(dir, "registry");
const templates = loadTemplates();
const log = (line: string) => process.stderr.write(`[federation] ${line}\n`);

interface Member {
  machine: LabMachine;
  member: string;
  zone: string;
  keyEpoch: number;
  applied?: { hashes: string; plan: NodePlan; files: RenderedFile[]; publicKey: string };
}

async function eventually<T>(what: string, seconds: number, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what}: not true after ${seconds}s${last ? `; last error: ${String(last)}` : ""}`);
}

async function timed<T>(step: string, fn: () => Promise<T> | T): Promise<T> {
  const started = Date.now();
  const result = await fn();
  log(`${step}: ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return result;
}

describe.runIf(isRoot)("a federation of three members on the lab", () => {
  let state: LabState;
  let applier: SshApplier;
  let members: Member[] = [];
  const exec = (m: Member, command: string) => labExec(state, m.machine, command, dir);
  const ok = (m: Member, command: string) => {
    const result = exec(m, command);
    if (result.status !== 0) throw new Error(`${m.machine.name}: ${command} → exit ${result.status}: ${result.output}`);
    return result.output;
  };

  function specOf(m: Member): NodeSpec {
    return parseStackConfig({
      "boreal:member": m.member,
      "boreal:node": m.machine.name,
      "boreal:endpoint": `${m.machine.address}:51820`,
      "boreal:registry": registry,
      "boreal:zones": JSON.stringify([m.zone]),
      "boreal:keyEpoch": String(m.keyEpoch),
      "boreal:ssh": JSON.stringify({ host: m.machine.address, hostKey: m.machine.hostKey, privateKey: readFileSync(state.sshKey, "utf8") }),
    });
  }

  /** One `pulumi up` of a member's stack: plan from the registry, apply, register. */
  function up(m: Member): void {
    const federation = loadRegistry(registry);
    const p = plan(specOf(m), federation);
    const files = renderNode(p, templates);
    const publicKey = applier.apply(m.machine, p, files);
    const existing = federation.nodes.find((n) => n.node === m.machine.name);
    writeFileSync(join(registry, descriptorPath(m.machine.name)), renderDescriptor(buildDescriptor(p, publicKey, existing, new Date().toISOString())));
    m.applied = { hashes: files.map((f) => contentHash(f.content)).join(","), plan: p, files, publicKey };
  }

  /** Re-apply every member whose rendered files differ from what it last applied. */
  function converge(): number {
    let reapplies = 0;
    for (let round = 0; round < 5; round++) {
      const stale = members.filter((m) => renderNode(plan(specOf(m), loadRegistry(registry)), templates).map((f) => contentHash(f.content)).join(",") !== m.applied?.hashes);
      if (stale.length === 0) return reapplies;
      for (const m of stale) up(m);
      reapplies += stale.length;
    }
    throw new Error("the registry did not converge in 5 rounds");
  }

  const mesh = (m: Member) => m.applied!.plan.mesh;

  beforeAll(async () => {
    state = await timed("lab up (3 machines)", () => labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log, dir }));
    applier = new SshApplier(state, dir);
    mkdirSync(join(registry, "nodes"), { recursive: true });
    writeFileSync(join(registry, "federation.yaml"), "name: boreal-lab\ndomain: lab.boreal.test.\nmesh:\n  ipv4: 100.64.0.0/24\n  ipv6: fd42:b0:ea1::/48\n");
    members = state.machines.map((machine, i) => ({ machine, member: `coop-${"abc"[i]}`, zone: `coop-${"abc"[i]}.lab.test.`, keyEpoch: 0 }));
  });
  afterAll(() => {
    labDown({ dir, log });
    rmSync(dir, { recursive: true, force: true });
  });

  test("three members join, one after the other; earlier ones re-apply until the registry converges", async () => {
    for (const m of members) await timed(`join ${m.member}`, () => up(m));
    const reapplies = await timed("converge", () => converge());
    log(`re-applies needed after the joins: ${reapplies}`);
    expect(reapplies).toBe(2);
    expect(readdirSync(join(registry, "nodes")).sort()).toEqual(["node1.yaml", "node2.yaml", "node3.yaml"]);
  });

  test("WireGuard: every ordered pair pings over mesh IPv4 and IPv6; handshakes are recent", async () => {
    await timed("mesh pings", async () => {
      for (const from of members) {
        for (const to of members.filter((x) => x !== from)) {
          await eventually(`${from.machine.name} → ${to.machine.name} over ${mesh(to).ipv4}`, 30, () => exec(from, `ping -c 1 -W 2 ${mesh(to).ipv4}`).status === 0);
          await eventually(`${from.machine.name} → ${to.machine.name} over ${mesh(to).ipv6}`, 30, () => exec(from, `ping -6 -c 1 -W 2 ${mesh(to).ipv6}`).status === 0);
        }
      }
    });
    for (const m of members) {
      const now = Number(ok(m, "date +%s").trim());
      const handshakes = Object.fromEntries(ok(m, "wg show wg0 latest-handshakes").trim().split("\n").map((l) => l.split("\t")));
      for (const peer of members.filter((x) => x !== m)) {
        expect(Number(handshakes[peer.applied!.publicKey]), `${m.machine.name} sees ${peer.machine.name}`).toBeGreaterThan(now - 180);
      }
    }
  });

  test("DNS: every node answers authoritatively, signed, with the same serial, for every member zone", async () => {
    await timed("DNS everywhere", async () => {
      for (const zone of members.map((m) => m.zone)) {
        const serials = new Set<string>();
        for (const server of members) {
          const answer = await eventually(`${server.machine.name} answers ${zone} with AA and RRSIG`, 120, () => {
            const out = exec(server, `kdig @${server.machine.address} ${zone} SOA +dnssec +norec +timeout=2`).output;
            return /Flags: qr aa/.test(out) && /RRSIG/.test(out) ? out : false;
          });
          expect(answer).toMatch(/status: NOERROR/);
          serials.add(await eventually(`${server.machine.name} serial of ${zone}`, 60, () => exec(server, `kdig +short @${server.machine.address} ${zone} SOA`).output.trim().split(/\s+/)[2]));
        }
        if (serials.size > 1) {
          // Secondaries follow the primary's NOTIFY: give them a moment, then compare again.
          await eventually(`one serial for ${zone}`, 60, () => new Set(members.map((s) => exec(s, `kdig +short @${s.machine.address} ${zone} SOA`).output.trim().split(/\s+/)[2])).size === 1);
        }
      }
    });
  });

  test("DNS: a zone transfer is refused from an underlay address and served over the mesh", () => {
    const [a, b] = members;
    const underlay = exec(b, `kdig @${a.machine.address} ${a.zone} AXFR +timeout=3`).output;
    expect(underlay).not.toMatch(new RegExp(`^${a.zone.replace(/\./g, "\\.")}\\s+\\d+\\s+IN\\s+SOA`, "m"));
    expect(underlay).toMatch(/REFUSED|NOTAUTH|failed/);
    const overMesh = ok(b, `kdig @${mesh(a).ipv4} ${a.zone} AXFR +timeout=3`);
    expect(overMesh).toMatch(/\tSOA\t/);
    expect(overMesh).toMatch(/\tRRSIG\t/);
  });

  test("monitoring: each exporter is scraped over the mesh with per-peer WireGuard metrics, and not on the underlay", async () => {
    const scrape = (from: Member, address: string) =>
      exec(from, `timeout 5 bash -c 'exec 3<>/dev/tcp/${address}/9100; printf "GET /metrics HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n" >&3; cat <&3'`);
    for (const target of members) {
      for (const from of members.filter((x) => x !== target)) {
        const metrics = await eventually(`${from.machine.name} scrapes ${target.machine.name}`, 60, () => {
          const out = scrape(from, mesh(target).ipv4).output;
          return /wireguard_peer_last_handshake_seconds/.test(out) ? out : false;
        });
        for (const peer of members.filter((x) => x !== target)) {
          const line = metrics.split("\n").find((l) => l.startsWith("wireguard_peer_last_handshake_seconds{") && l.includes(`peer="${peer.machine.name}"`));
          expect(line, `${target.machine.name}'s metric for ${peer.machine.name}`).toBeDefined();
          expect(line).toContain(`member="${peer.member}"`);
          expect(Number(line!.split(" ").pop())).toBeGreaterThan(0);
        }
      }
      expect(scrape(members.find((x) => x !== target)!, target.machine.address).status).not.toBe(0);
    }
  });

  test("firewall: from another node's underlay only SSH, WireGuard and DNS answer", () => {
    const [a, b] = members;
    const probe = (port: number) => exec(b, `timeout 3 bash -c '</dev/tcp/${a.machine.address}/${port}' 2>&1; echo "exit=$?"`).output;
    expect(probe(22)).toMatch(/exit=0/);
    expect(probe(53)).toMatch(/exit=0/);
    // Dropped, not refused: no RST comes back, so the connect times out (exit 124).
    expect(probe(9100)).toMatch(/exit=124/);
    expect(probe(8080)).toMatch(/exit=124/);
    expect(ok(a, "nft list chain inet boreal input")).toMatch(/policy drop/);
  });

  test("secrets: no node's WireGuard private key appears in the registry or in anything the servers printed", () => {
    const registryText = readdirSync(join(registry, "nodes")).map((f) => readFileSync(join(registry, "nodes", f), "utf8")).join("\n");
    for (const m of members) {
      const privateKey = exec(m, "cat /etc/wireguard/wg0.key").output.trim();
      expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(registryText).not.toContain(privateKey);
      expect(applier.transcript.join("\n")).not.toContain(privateKey);
      expect(exec(m, "stat -c %a /etc/wireguard/wg0.key").output.trim()).toBe("600");
    }
  });

  test("idempotence: re-applying changes no file and no descriptor", () => {
    const before = readdirSync(join(registry, "nodes")).map((f) => readFileSync(join(registry, "nodes", f), "utf8"));
    expect(converge()).toBe(0);
    for (const m of members) {
      const again = renderNode(plan(specOf(m), loadRegistry(registry)), templates);
      expect(again.map((f) => contentHash(f.content)).join(",")).toBe(m.applied!.hashes);
    }
    expect(readdirSync(join(registry, "nodes")).map((f) => readFileSync(join(registry, "nodes", f), "utf8"))).toEqual(before);
  });

  test("key rotation of node 2: node 1 ↔ node 3 lose nothing, node 2 comes back, its old key is gone everywhere", async () => {
    const [a, b, c] = members;
    const oldKey = b.applied!.publicKey;
    ok(a, `rm -f /tmp/ping-c /tmp/ping-b; (ping -D -i 0.2 -w 60 ${mesh(c).ipv4} > /tmp/ping-c 2>&1 &) ; (ping -D -i 0.2 -w 60 ${mesh(b).ipv4} > /tmp/ping-b 2>&1 &)`);
    await new Promise((r) => setTimeout(r, 2000));
    b.keyEpoch = 1;
    await timed("rotate node2 and re-apply peers", () => {
      up(b);
      return converge();
    });
    expect(b.applied!.publicKey).not.toBe(oldKey);
    await eventually("node1 reaches node2 with its new key", 30, () => exec(a, `ping -c 1 -W 2 ${mesh(b).ipv4}`).status === 0);
    await new Promise((r) => setTimeout(r, 2000));
    ok(a, "pkill -INT ping; sleep 1; true");
    const toC = ok(a, "cat /tmp/ping-c");
    const lossToC = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(toC)![1]);
    const replies = ok(a, "cat /tmp/ping-b").split("\n").filter((l) => l.includes("bytes from")).map((l) => Number(/^\[(\d+\.\d+)\]/.exec(l)![1]));
    const outage = Math.max(...replies.slice(1).map((t, i) => t - replies[i]));
    log(`rotation: node1 → node3 loss ${lossToC}%, node2 outage ${outage.toFixed(1)}s`);
    expect(lossToC).toBe(0);
    for (const m of [a, c]) expect(ok(m, "wg show wg0 peers")).not.toContain(oldKey);
    expect(ok(a, "wg show wg0 peers")).toContain(b.applied!.publicKey);
  });

  test("member down: nodes 2 and 3 keep their tunnel and still answer member 1's zone; it rejoins by itself", async () => {
    const [a, b, c] = members;
    await timed("stop node1", () => labStop(state, a.machine.name));
    expect(exec(b, `ping -c 3 -W 2 ${mesh(c).ipv4}`).status).toBe(0);
    for (const m of [b, c]) {
      const out = exec(m, `kdig @${m.machine.address} ${a.zone} SOA +norec +timeout=2`).output;
      expect(out, `${m.machine.name} serves ${a.zone} while its primary is down`).toMatch(/Flags: qr aa/);
    }
    await timed("start node1", () => labStart(state, a.machine.name, dir));
    await eventually("node2 reaches node1 again without any action", 60, () => exec(b, `ping -c 1 -W 2 ${mesh(a).ipv4}`).status === 0);
    await eventually("node1 answers its zone again", 60, () => /Flags: qr aa/.test(exec(a, `kdig @${a.machine.address} ${a.zone} SOA +norec +timeout=2`).output));
  });

  test("leave: member 3 destroys its node; the others drop it; the server is left clean", async () => {
    const [a, b, c] = members;
    await timed("destroy node3 and re-apply", () => {
      applier.destroy(c.machine, c.applied!.files);
      rmSync(join(registry, descriptorPath(c.machine.name)));
      members = [a, b];
      return converge();
    });
    for (const m of [a, b]) {
      expect(ok(m, "wg show wg0 peers")).not.toContain(c.applied!.publicKey);
      await eventually(`${m.machine.name} no longer serves ${c.zone}`, 60, () => !/Flags: qr aa/.test(exec(m, `kdig @${m.machine.address} ${c.zone} SOA +norec +timeout=2`).output));
    }
    const leftovers = exec(c, "ls /etc/wireguard/wg0.conf /etc/wireguard/wg0.key /etc/knot/knot.conf /etc/nftables.conf /usr/local/lib/boreal/wg-apply /etc/systemd/system/boreal-wg-metrics.timer 2>/dev/null; ip link show wg0 2>/dev/null; nft list table inet boreal 2>/dev/null; true").output;
    expect(leftovers.trim()).toBe("");
    expect(exec(c, "systemctl is-enabled wg-quick@wg0 knot prometheus-node-exporter").output).not.toMatch(/^enabled$/m);
  });
});
