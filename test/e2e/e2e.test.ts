// End to end: five members join a federation with the real `pulumi up` (CLI, Node.js
// language host, command provider over SSH with pinned host keys) on lab machines. No
// member ever re-applies for another's sake: the nodes' sync agents pull the signed
// registry from the lab's mirror and apply the peer set themselves. The servers are
// checked for what they do. Needs root, the toolchain and the command provider plugin.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { descriptorPath, signaturePath } from "../../src/core/registry/format";
import { LAB_FEDERATION, LabMember, git } from "../../src/lab/federation";
import { isLabSuiteChoice, LAB_SUITE_CHOICES } from "../../src/lab/image";
import { LAB_PASSPHRASE, labDns, labDown, labExec, LabMachine, labUp, setUnderlay, stackFileOf, writeLabStacks } from "../../src/lab/lab";
import { makeMemberProject, packCheckout } from "../../src/lab/member-projects";
import { labStackName } from "../../src/lab/pulumi";
import { authenticated } from "../../src/lab/dns";
import { dsForZone, formatDs, parseDnskeys } from "../../src/core/dns/ds";
import { stopMirror } from "../../src/lab/mirror";
import { LabStacks, StackOutputs } from "../../src/lab/stacks";
import { writeNodeObject } from "../../src/io/registry/write";
import { makeWireguardProof, wireguardPublicKey } from "../../src/core/registry/keyproof";
import { parse as parseYaml } from "yaml";
import * as checks from "../helpers/federation-checks";
import { eventually, NodeView, Servers, timed } from "../helpers/federation-checks";
import { commandPluginInstalled, PROJECT_ROOT, pulumiCliAvailable, Workspace } from "../helpers/workspace";
import { runStatus, targetFromStack } from "../../src/cli/status";
import { runDns } from "../../src/cli/dns";
import { judgeLabels, runLabel } from "../../src/cli/label";
import { Chromium, CHROMIUM } from "../helpers/chromium";
import { sendNudges } from "../../src/io/nudge";
import { sleepSync } from "../../src/io/process";
import { NUDGE_PORT } from "../../src/core/values/ports";
import { SYNC_INTERVAL_DEFAULT } from "../../src/core/spec/stack";

/** Pulls a lab machine's underlay cable for `seconds` (its port on the lab bridge), then plugs it back. */
function cutUnderlay(machine: LabMachine, seconds: number): void {
  setUnderlay(machine, false);
  try {
    sleepSync(seconds * 1000);
  } finally {
    setUnderlay(machine, true);
  }
}

const ready = process.getuid?.() === 0 && pulumiCliAvailable() && commandPluginInstalled();
const COUNT = 5;
/** Member 3's server has this sudo user and refuses root over SSH. */
const SUDO_USER = "debian";
/**
 * The Debian release of the lab machines: BOREAL_E2E_SUITE=trixie runs the suite on Debian 13,
 * mixed on a federation of both (node1, node3, node5 on 12; node2, node4 on 13).
 */
const SUITE = process.env.BOREAL_E2E_SUITE ?? "bookworm";
if (!isLabSuiteChoice(SUITE)) throw new Error(`BOREAL_E2E_SUITE must be ${LAB_SUITE_CHOICES.join(", ")}, got ${SUITE}`);

describe.runIf(ready)(`end to end (Debian ${SUITE}): ${COUNT} members join with the real pulumi up; their agents do the rest`, () => {
  let servers: Servers;
  let ws: Workspace;
  let stacks: LabStacks;
  /** Each member's own Pulumi project (boreal init's), by member. */
  let projects: string[];
  let members: LabMember[];
  /** The federation's version 1 pin, as the lab wrote it into every stack. */
  let trust: string;
  const nodes: NodeView[] = [];
  const machineOf = (i: number) => servers.state.machines[i].name;
  const stackOf = (i: number) => stacks.stackOf(machineOf(i));
  let dir: string;
  /** node2's descriptor and signature before its rotation: replayed later. */
  let oldNode2: { content: string; signature: string };

  /** Per member, what its stack outputs for the registrar (NS, glue, DS lines). */
  const delegationRecords: string[][] = [];
  /** Per member, its stack's whole delegations output (with `note` when it must act again). */
  const delegationOutputs: StackOutputs["delegations"][] = [];
  /** Asked from the host, as any resolver or member's machine asks. */
  const dig = (server: string, ...args: string[]) =>
    execFileSync("kdig", [`@${server}`, "+time=3", "+retry=1", ...args], { encoding: "utf8" });
  const resolve = (name: string, type: string) => dig(servers.state.dns!.resolver.address, "+dnssec", name, type);
  /** `boreal dns check ZONE` as member 1 runs it, with the lab's parent to ask for the DS. */
  async function dnsCheck(zone: string): Promise<{ code: number; output: string }> {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const code = await runDns("check", [zone, "--stack", stackOf(0), "--cwd", projects[0], "--parent", servers.state.dns!.parent.address], {
      projectDir: PROJECT_ROOT,
      io,
      env: ws.env,
    });
    return { code, output: lines.join("\n") };
  }

  function up(i: number): NodeView {
    const outputs = stacks.up(machineOf(i));
    delegationRecords[i] = Object.values(outputs.delegations).flatMap((d) => d.records);
    delegationOutputs[i] = outputs.delegations;
    nodes[i] = {
      machine: servers.state.machines[i],
      member: members[i].name,
      zone: outputs.zones[0],
      mesh: { ipv4: outputs.meshIpv4, ipv6: outputs.meshIpv6 },
      publicKey: outputs.publicKey,
    };
    return nodes[i];
  }
  const live = () => nodes.filter(Boolean);
  const peersOf = (node: NodeView) => servers.ok(node, "wg show wg0 peers").trim().split("\n").filter(Boolean).sort();
  const agentLog = (node: NodeView) => servers.ok(node, "journalctl -u boreal-sync --no-pager -o cat");

  /** A nudge to every live node from the lab's host, as anyone on the underlay may send one: it carries nothing. */
  const nudgeAll = () =>
    sendNudges(
      LAB_FEDERATION,
      live().map((n) => ({ node: n.machine.name, underlay: n.machine.address, mesh: [] })),
    );

  /** Publishes files into the mirror as someone with write access would (a forger, say), and nudges the nodes. */
  async function pushToMirror(files: Record<string, string | Buffer>, message: string): Promise<void> {
    const clone = mkdtempSync(join(dir, "forger-"));
    git(dir, "clone", "-q", servers.state.mirror.repo, clone);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(clone, path, ".."), { recursive: true });
      writeFileSync(join(clone, path), content);
    }
    git(clone, "add", "-A");
    git(clone, "commit", "-q", "-m", message);
    // Nodes push their attestations to the same mirror at any time: rebase on them, as
    // members' registrations do.
    for (let attempt = 1; ; attempt++) {
      try {
        git(clone, "push", "-q", "origin", "HEAD:main");
        await nudgeAll();
        return;
      } catch (error) {
        if (attempt === 5) throw error;
        git(clone, "pull", "-q", "--rebase", "origin", "main");
      }
    }
  }

  /** What the seal's page shows once it has checked its signatures. */
  interface SealView {
    verdict: string;
    node: string;
    banner: string;
    votes: string[];
    ms: number;
  }

  /**
   * Node 1's seal, published from member 2's registry clone as a member publishes it, opened
   * from disk in headless Chromium (network shut) with the federation's pin in the link; the
   * verdict as the page's DOM says it, a screenshot kept.
   */
  async function sealOfNode1(name: string): Promise<SealView> {
    if (!CHROMIUM) throw new Error("chromium is not installed: .ci/run installs it (apt-get install chromium)");
    const registry = members[1].registry;
    git(registry, "pull", "-q", "origin", "main");
    const seal = join(dir, `seal-${name}`);
    const lines: string[] = [];
    const published = runLabel("publish", [seal, "--node", nodes[0].machine.name, "--registry", registry, "--trust", trust], {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    expect(published, lines.join("\n")).toBe(0);
    const browser = Chromium.launch();
    try {
      const page = await browser.page();
      await page.goto(`file://${seal}/index.html#trust=${trust}`);
      const view = await page.waitFor<SealView>(
        `(() => {
          const root = document.getElementById("seal");
          if (root.dataset.sealState !== "done") return undefined;
          const node = document.querySelector('section.node[data-node="${nodes[0].machine.name}"]');
          return {
            verdict: root.dataset.verdict,
            node: node ? node.dataset.verdict : "",
            banner: document.getElementById("verdict").innerText,
            votes: [...document.querySelectorAll("tr[data-vote]")].map((tr) => tr.dataset.member + " " + tr.dataset.vote),
            ms: Number(root.dataset.verifyMs),
          };
        })()`,
        60,
      );
      checks.log(
        `seal of ${nodes[0].machine.name} (${name}): "${view.banner.replace(/\s+/g, " ")}" in ${view.ms} ms in Chromium; screenshot ${await page.screenshot(`e2e-seal-${name}`)}`,
      );
      // From disk the page reads nothing but itself (a request's URL has no fragment).
      expect(page.requests).toEqual([`file://${seal}/index.html`]);
      return view;
    } finally {
      browser.close();
    }
  }

  /** The map `boreal status --html` writes, as member 2 runs it (labels from its registry clone), read in Chromium with JavaScript off. */
  async function mapAsNode2Sees(name: string): Promise<{ code: number; rows: Record<string, string>; overall: string }> {
    if (!CHROMIUM) throw new Error("chromium is not installed: .ci/run installs it (apt-get install chromium)");
    const registry = members[1].registry;
    git(registry, "pull", "-q", "origin", "main");
    const map = join(dir, `map-${name}.html`);
    const quiet = { out: () => {}, err: () => {} };
    const code = await runStatus(targetFromStack(PROJECT_ROOT, stackOf(1), projects[1], ws.env), false, () => {}, {
      html: map,
      labels: { judge: () => judgeLabels(registry, trust, quiet, new Date()), explicit: true },
    });
    const browser = Chromium.launch();
    try {
      const page = await browser.page({ javascript: false });
      await page.goto(`file://${map}`);
      const read = await page.waitFor<{ rows: Record<string, string>; overall: string }>(`(() => {
        const rows = [...document.querySelectorAll("tr[data-node]")];
        if (rows.length === 0) return undefined;
        return {
          rows: Object.fromEntries(rows.map((r) => [r.dataset.node, r.dataset.state + " " + r.innerText.replace(/\\s+/g, " ")])),
          overall: document.querySelector(".overall").innerText,
        };
      })()`);
      checks.log(`map (${name}): "${read.overall}"; screenshot ${await page.screenshot(`e2e-map-${name}`)}`);
      expect(page.requests).toEqual([`file://${map}`]);
      return { code, ...read };
    } finally {
      browser.close();
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "boreal-e2e-"));
    ws = new Workspace("e2e", {}, false);
    ws.env.PULUMI_CONFIG_PASSPHRASE = LAB_PASSPHRASE;
    const backend = `file://${ws.dir}/state`;
    // Each member's own project, made as the tutorial says (the kit under test packed, boreal
    // init, npm install), while the machines boot.
    const [state, madeProjects] = await timed(`lab up (${COUNT} machines), and the members' projects meanwhile`, () =>
      Promise.all([
        // Member 3's server comes as cloud images do: a sudo user, root's SSH login off (issue #27).
        labUp({
          nodes: COUNT,
          subnet: "198.51.100.0/24",
          installPrerequisites: true,
          log: checks.log,
          dir,
          suite: SUITE,
          sudoUser: SUDO_USER,
          sudoMachines: ["node3"],
        }),
        packCheckout(PROJECT_ROOT, join(ws.dir, "kit")).then((kit) =>
          Promise.all(Array.from({ length: COUNT }, (_, i) => makeMemberProject(join(ws.dir, `member-${i + 1}`), kit, backend))),
        ),
      ]),
    );
    projects = madeProjects;
    servers = new Servers(state, dir);
    stacks = new LabStacks(Object.fromEntries(state.machines.map((m, i) => [labStackName(m.name), projects[i]])), state, ws.env);
    const written = writeLabStacks(state, projects, checks.log, { env: ws.env });
    expect(written.missing, "stacks whose SSH key could not be stored").toEqual([]);
    members = written.members;
    trust = written.trust;
    // Member 1 runs its own web service on the node: it declares it (issue 10).
    stacks.must(["config", "set", "--path", "boreal:firewall.allow[0]", "tcp/8443", "-s", stacks.stackOf(state.machines[0].name)]);
  });
  afterAll(() => {
    labDown({ dir, log: checks.log });
    ws?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`releases: each machine runs the Debian it was given (${SUITE}), with that release's Knot`, () => {
    const major: Record<string, string> = { bookworm: "12", trixie: "13" };
    const knotOf: Record<string, RegExp> = { bookworm: /^3\.2\./, trixie: /^3\.4\./ };
    for (const machine of servers.state.machines) {
      const [version, knot] = labExec(
        servers.state,
        machine,
        ". /etc/os-release && echo $VERSION_ID; dpkg-query -W -f='${Version}' knot",
        dir,
      )
        .output.trim()
        .split("\n");
      expect(version, machine.name).toBe(major[machine.suite]);
      expect(knot, `${machine.name}'s knot`).toMatch(knotOf[machine.suite]);
    }
  });

  test("join: each member runs pulumi up once; with no re-apply, every pair handshakes and every zone answers everywhere", async () => {
    for (let i = 0; i < COUNT; i++) {
      // As the join steps say: the latest registry first, so the delegation names those already in.
      git(members[i].registry, "pull", "-q");
      await timed(`pulumi up ${stackOf(i)}`, () => up(i));
    }
    const lastUp = Date.now();
    // The timers pull every 300 s: what the others learn in seconds, they learn from the
    // publisher's nudge.
    const meshed = await checks.timeToFullMesh(servers, live(), lastUp);
    checks.log(
      `join: full mesh (every pair's handshake, WireGuard's own times) ${meshed.toFixed(1)}s after the last pulumi up (syncInterval ${SYNC_INTERVAL_DEFAULT} s)`,
    );
    const zoned = await checks.timeToAllZones(servers, live(), lastUp);
    checks.log(`join: every zone on every node ${zoned.toFixed(1)}s after the last pulumi up`);
    expect(meshed).toBeLessThan(10);
    expect(zoned).toBeLessThan(20);
    await checks.expectMesh(servers, live());
    await checks.expectDns(servers, live());
    // Where an agent's run spends its time (a joining member waits on the others' runs).
    const status = JSON.parse(servers.ok(nodes[0], "node /usr/local/lib/boreal-agent.js status")) as {
      seconds: number;
      phases: Record<string, number>;
    };
    expect(Object.keys(status.phases)).toEqual(expect.arrayContaining(["fetch", "decide"]));
    for (const seconds of Object.values(status.phases)) expect(seconds).toBeGreaterThanOrEqual(0);
    checks.log(
      `join: node 1's last full agent run took ${status.seconds}s (${Object.entries(status.phases)
        .map(([phase, s]) => `${phase} ${s}s`)
        .join(", ")})`,
    );
  });

  test("a server as it comes: member 3 joined as its sudo user, root's SSH login refused, every remote command through sudo", () => {
    const machine = servers.state.machines[2];
    expect(machine.sshUser).toBe(SUDO_USER);
    const stackFile = parseYaml(readFileSync(stackFileOf(projects[2], stackOf(2)), "utf8")) as {
      config: Record<string, { user?: string }>;
    };
    expect(stackFile.config["boreal:ssh"].user).toBe(SUDO_USER);
    const asRoot = labExec(servers.state, { ...machine, sshUser: "root" }, "true", dir);
    expect(asRoot.status, "root's SSH login is disabled").not.toBe(0);
    // sudo says nothing of its own (a server whose name does not resolve makes it warn and wait on every command).
    expect(servers.exec(nodes[2], "true")).toEqual({ status: 0, output: "" });
    // What sudo ran for the kit, as the server's own journal says: the up went through sudo -n.
    const sudoLog = servers.ok(nodes[2], `journalctl _COMM=sudo --no-pager -q | grep -c 'USER=root' || true`);
    expect(Number(sudoLog.trim())).toBeGreaterThan(10);
    checks.log(
      `sudo user: ${machine.name} joined as ${SUDO_USER} (root's SSH login refused); sudo ran ${sudoLog.trim()} commands as root for it`,
    );
  });

  test("DNS: a zone transfer is refused from an underlay address and served over the mesh", () =>
    checks.expectTransfers(servers, nodes[0], nodes[1]));

  test("delegation: the kit tells the founders, whose peers did not exist at their first pulumi up, to act again, and only them; they do as the docs say", async () => {
    const noted = live()
      .map((_, i) => i)
      .filter((i) => Object.values(delegationOutputs[i]).some((d) => d.note !== undefined));
    // Node 1 met no one, node 2 only node 1; node 3 met two others, enough to hold.
    expect(noted, "members whose output says to act again").toEqual([0, 1]);
    // The parent as the registrars hold it after each member's one pulumi up: `boreal dns check --parent` says the same.
    await labDns(servers.state, delegationRecords.flat(), dir);
    git(members[0].registry, "pull", "-q");
    const founder = await dnsCheck(nodes[0].zone);
    expect(founder.code, founder.output).toBe(1);
    expect(founder.output).toMatch(/only 0 name server\(s\) of other members at the parent/);
    const third = await dnsCheck(nodes[2].zone);
    expect(third.code, third.output).toBe(0);
    // The documented step: pull the registry, pulumi up again, give the registrar the new set.
    for (const i of noted) {
      git(members[i].registry, "pull", "-q");
      await timed(`pulumi up ${stackOf(i)} (a founder's delegation)`, () => up(i));
      for (const [zone, d] of Object.entries(delegationOutputs[i])) {
        expect(d.note, `${zone}'s note after acting`).toBeUndefined();
        expect(d.nameServers.filter((ns) => ns.member !== members[i].name).length, `${zone}'s name servers of other members`).toBe(3);
      }
    }
    checks.log(
      `delegation: ${noted.length} founder(s) acted again (pull, pulumi up, registrar); every other member's first output was final: ${live()
        .map(
          (n, i) =>
            `${n.machine.name} ${Object.values(delegationOutputs[i])[0]
              .nameServers.map((ns) => ns.node)
              .join("+")}`,
        )
        .join(", ")}`,
    );
  });

  test("DNS as resolvers see it: the lab's parent holds each member's delegation as its stack output it; through a validating resolver each member's www and MX resolve with AD", async () => {
    for (const [i, node] of live().entries()) {
      // The DS the stack printed is the one of the KSK every node serves for the zone.
      const served = dsForZone(
        parseDnskeys(
          dig(node.machine.address, "+short", node.zone, "DNSKEY")
            .split("\n")
            .filter(Boolean)
            .map((k) => `${node.zone} DNSKEY ${k}`)
            .join("\n"),
        ),
        node.zone,
      );
      expect(
        delegationRecords[i].filter((r) => / DS /.test(r)),
        `${node.zone}'s DS`,
      ).toEqual(served.map(formatDs));
      // The NS set: its own node first, by a name in its own zone, glue beside it; the others' by their own names, no glue.
      expect(delegationRecords[i], `${node.zone}'s NS set`).toContain(`${node.zone} NS ns-${node.machine.name}.${node.zone}`);
      expect(delegationRecords[i].filter((r) => / A /.test(r))).toEqual([`ns-${node.machine.name}.${node.zone} A ${node.machine.address}`]);
    }
    await timed("the lab's parent zone and validating resolver", () => labDns(servers.state, delegationRecords.flat(), dir));
    for (const node of live()) {
      const www = resolve(`www.${node.zone}`, "A");
      expect(authenticated(www), `www.${node.zone} validated:\n${www}`).toBe(true);
      expect(www).toMatch(
        new RegExp(`^www\\.${node.zone.replace(/\./g, "\\.")}\\s+\\d+\\s+IN\\s+A\\s+${node.machine.address.replace(/\./g, "\\.")}$`, "m"),
      );
      const mx = resolve(node.zone, "MX");
      expect(authenticated(mx), `${node.zone} MX validated:\n${mx}`).toBe(true);
      expect(mx).toMatch(/\sMX\s+10 mail\./);
    }
  });

  test("monitoring: exporters scraped over the mesh with per-peer WireGuard metrics, not on the underlay", () =>
    checks.expectMonitoring(servers, live()));

  test("firewall: from another node's underlay only SSH, WireGuard and DNS answer", () =>
    checks.expectFirewall(servers, nodes[0], nodes[1]));

  test("mutual monitoring: every node's Prometheus has every exporter up, every probe succeeding, nothing firing, none of the kit's units failed; its ports face the mesh only", async () => {
    await checks.expectWatching(servers, live());
    checks.expectMonitoringMeshOnly(servers, nodes[0], nodes[1]);
    checks.expectKitUnitsClean(servers, live());
    // `boreal status` from member 2's machine: its own node, over SSH with the pinned host key.
    let table = "";
    expect(await runStatus(targetFromStack(PROJECT_ROOT, stackOf(1), projects[1], ws.env), false, (t) => (table = t))).toBe(0);
    for (const node of live()) expect(table).toMatch(new RegExp(`^${node.machine.name}\\b.*\\bup\\b`, "m"));
    expect(table).toMatch(/federation healthy, as node2 sees it/);
    const healthyMap = await mapAsNode2Sees("healthy");
    expect(healthyMap.code).toBe(0);
    expect(healthyMap.overall).toBe("✓ Healthy, as node2 sees it");
    for (const node of live()) expect(healthyMap.rows[node.machine.name]).toMatch(/^up .*▲ up/);
  });

  test("the member's own services: a declared port answers from another node's underlay, an undeclared one does not", async () => {
    const [a, b] = nodes;
    const listen = (port: number) =>
      servers.ok(a, `systemd-run --unit=web-${port} node -e 'require("net").createServer((s) => s.end("hello\\n")).listen(${port})'`);
    listen(8443);
    listen(8444);
    const probe = (port: number) =>
      servers.exec(b, `timeout 3 bash -c 'exec 3<>/dev/tcp/${a.machine.address}/${port}; cat <&3' 2>&1; echo "exit=$?"`).output;
    await eventually("the declared service answers", 20, () => /hello[\s\S]*exit=0/.test(probe(8443)));
    expect(probe(8444)).toMatch(/exit=124/);
    expect(servers.ok(a, "nft list chain inet boreal input")).toMatch(/tcp dport 8443 accept/);
    // Still mesh-only, whatever the member declares.
    expect(servers.scrape(b, a.machine.address).status).not.toBe(0);
    servers.ok(a, "systemctl stop web-8443 web-8444");
  });

  test("label: every node holds it after the joins; an undeclared port opened on node 1 withdraws node 1's label, closing it restores it; boreal label verify agrees with plain ssh-keygen -Y verify", async () => {
    const [first, second] = nodes;
    // What any member or customer does: a clone of the registry, the label checked offline.
    const registry = members[1].registry;
    const label = (node: NodeView, ...flags: string[]) => {
      git(registry, "pull", "-q", "origin", "main");
      const lines: string[] = [];
      const code = runLabel("verify", [node.machine.name, "--registry", registry, "--trust", trust, ...flags], {
        out: (l) => lines.push(l),
        err: (l) => lines.push(l),
      });
      return { code, output: lines.join("\n") };
    };
    const secondsUntil = async (what: string, seconds: number, probe: () => boolean) => {
      const started = Date.now();
      await eventually(what, seconds, probe);
      return ((Date.now() - started) / 1000).toFixed(1);
    };
    checks.log(
      `label held by every node ${await secondsUntil("every node holds the label (2 other members attest every mandatory rule)", 240, () => live().every((n) => label(n).code === 0))} s into this test`,
    );
    expect(label(first).output).toMatch(/HOLDS/);
    // The seal, as a customer of member 1 opens it: held, every vote counting.
    const held = await sealOfNode1("held");
    expect(held).toMatchObject({ verdict: "held", node: "held" });
    expect(held.banner).toMatch(/✓\s*Label held/);
    expect(held.votes.length).toBeGreaterThanOrEqual(2);
    expect(held.votes.every((v) => v.endsWith(" counts"))).toBe(true);

    // Open to the internet what member 1 never declared: a listener and a hole in the firewall.
    servers.ok(
      first,
      `nft insert rule inet boreal input tcp dport 8080 accept comment e2e-undeclared; systemd-run --unit=undeclared-8080 node -e 'require("net").createServer((s) => s.end()).listen(8080)'`,
    );
    const withdrawn = await secondsUntil("node 1 loses the label", 300, () => label(first).code === 1);
    const lost = label(first).output;
    expect(lost).toMatch(/DOES NOT HOLD/);
    expect(lost).toMatch(/WITHDRAWN/);
    expect(lost).toMatch(/underlay-declared-only[\s\S]*8080/);
    expect(label(second).code, "a node with nothing undeclared keeps its label").toBe(0);
    checks.log(`node 1's label withdrawn ${withdrawn} s after tcp/8080 was opened`);
    // A seal published now says withdrawn, naming the rule.
    const lostSeal = await sealOfNode1("withdrawn");
    expect(lostSeal).toMatchObject({ verdict: "withdrawn", node: "withdrawn" });
    expect(lostSeal.banner).toMatch(/✕\s*Label NOT held \(withdrawn\)/);
    expect(lostSeal.votes.some((v) => v.endsWith(" withdrawn"))).toBe(true);

    const handle = /# handle (\d+)/.exec(servers.ok(first, "nft -a list chain inet boreal input | grep e2e-undeclared"))![1];
    servers.ok(first, `systemctl stop undeclared-8080; nft delete rule inet boreal input handle ${handle}`);
    const restored = await secondsUntil("node 1 holds the label again", 300, () => label(first).code === 0);
    checks.log(`node 1's label restored ${restored} s after tcp/8080 was closed`);

    // The customer's way, without the kit: the allowed signers it prints, then ssh-keygen.
    const allowed = join(dir, "label_allowed_signers");
    writeFileSync(allowed, `${label(first, "--print-allowed-signers").output}\n`);
    const counted = label(first)
      .output.split("\n")
      .filter((l) => /^\s+coop-\S+\s+counts/.test(l))
      .map((l) => l.trim().split(/\s+/)[0]);
    expect(counted.length).toBeGreaterThanOrEqual(2);
    const files = execFileSync("sh", ["-c", `cd ${registry} && ls attestations/${first.machine.name}/*.json`], { encoding: "utf8" })
      .trim()
      .split("\n");
    const good = files.filter((path) => {
      const who = execFileSync("sh", ["-c", `cd ${registry} && ssh-keygen -Y find-principals -f ${allowed} -s ${path}.sig | head -n 1`], {
        encoding: "utf8",
      }).trim();
      const verify = execFileSync(
        "sh",
        ["-c", `cd ${registry} && ssh-keygen -Y verify -f ${allowed} -I ${who} -n boreal-label -s ${path}.sig < ${path}; echo "exit=$?"`],
        { encoding: "utf8" },
      );
      return /Good "boreal-label" signature/.test(verify) && /exit=0/.test(verify) && counted.includes(who);
    });
    expect(good.length, `attestations of node 1 that ssh-keygen verifies, signed by a member the kit counts: ${good.join(", ")}`).toBe(
      counted.length,
    );
  });

  test("secrets: no private key in the exported state, the registry, the logs or the agents' journals", () => {
    const state = live()
      .map((_, i) => stacks.must(["stack", "export", "-s", stackOf(i)]))
      .join("\n");
    const registryText = execFileSync("sh", ["-c", `cat ${members[0].registry}/nodes/*`], { encoding: "utf8" });
    const journals = live().map(agentLog).join("\n");
    checks.expectNoPrivateKeys(servers, live(), {
      "the exported state": state,
      registry: registryText,
      "the pulumi logs": stacks.transcript.join("\n"),
      "the agents' journals": journals,
    });
    const sshKeyBody = readFileSync(servers.state.sshKey, "utf8").split("\n")[1];
    expect(state.includes(sshKeyBody), "the operator's SSH key in plaintext in the state").toBe(false);
    const signingKeyBody = readFileSync(members[0].signingKey, "utf8").split("\n")[1];
    expect(
      state.includes(signingKeyBody) || stacks.transcript.join("\n").includes(signingKeyBody),
      "the member's signing key in state or logs",
    ).toBe(false);
  });

  test("idempotence: a second pulumi up of every stack changes nothing", () => {
    for (let i = 0; i < COUNT; i++) {
      const preview = stacks.preview(machineOf(i));
      expect(preview.status, `pulumi preview --expect-no-changes -s ${stackOf(i)}:\n${preview.output.slice(-4000)}`).toBe(0);
    }
  });

  test("every signature the kit published verifies with plain ssh-keygen -Y verify", () => {
    const registry = members[0].registry;
    git(registry, "pull", "-q", "origin", "main");
    const allowed = join(dir, "allowed_signers");
    writeFileSync(
      allowed,
      members.map((m) => `${m.name} namespaces="boreal-registry" ${readFileSync(`${m.signingKey}.pub`, "utf8").trim()}\n`).join(""),
    );
    for (let i = 0; i < COUNT; i++) {
      const path = join(registry, descriptorPath(machineOf(i)));
      const out = execFileSync(
        "sh",
        ["-c", `ssh-keygen -Y verify -f ${allowed} -I ${members[i].name} -n boreal-registry -s ${path}.sig < ${path}`],
        { encoding: "utf8" },
      );
      expect(out).toMatch(/Good "boreal-registry" signature for coop-/);
    }
  });

  test("a record changed by member 1's pulumi up alone: every node answers it within seconds (NOTIFY, IXFR), the resolver with AD", async () => {
    const [first] = nodes;
    const serials = () => live().map((n) => servers.soaSerial(n, first.zone));
    const before = serials();
    stacks.must(["config", "set", "--path", `boreal:records["${first.zone}"][0]`, "www 300 A 198.51.100.99", "-s", stackOf(0)]);
    const delegationBefore = delegationRecords[0];
    const started = Date.now();
    await timed(`pulumi up ${stackOf(0)} (a changed record)`, () => up(0));
    const upDone = Date.now();
    await eventually("every node answers the new www", 60, () =>
      live().every((n) => dig(n.machine.address, "+short", "+norec", `www.${first.zone}`, "A").trim() === "198.51.100.99"),
    );
    checks.log(
      `record change: every node answers it ${((Date.now() - upDone) / 1000).toFixed(1)}s after member 1's pulumi up finished (${((Date.now() - started) / 1000).toFixed(1)}s from its start)`,
    );
    expect(delegationRecords[0], "member 1's delegation: a record change asks nothing of the registrar").toEqual(delegationBefore);
    expect(
      serials().every((s, i) => Number(s) > Number(before[i])),
      `serials moved: ${before} → ${serials()}`,
    ).toBe(true);
    await labDns(servers.state, delegationRecords.flat(), dir);
    const www = resolve(`www.${first.zone}`, "A");
    expect(authenticated(www) && /\sA\s+198\.51\.100\.99$/m.test(www), www).toBe(true);
    // `boreal dns check` from member 1's machine: every node, signatures, the parent's DS.
    const { code, output } = await dnsCheck(first.zone);
    expect(code, output).toBe(0);
    for (const n of live()) expect(output).toMatch(new RegExp(`^${n.machine.name}\\b`, "m"));
  });

  test("a bad record is refused before anything reaches a node, naming the key and the reason; every node serves the zone as it was", () => {
    const [first] = nodes;
    const before = live().map((n) => servers.soaSerial(n, first.zone));
    const key = `boreal:records["${first.zone}"][4]`;
    stacks.must(["config", "set", "--path", key, "www 300 CNAME elsewhere.example.", "-s", stackOf(0)]);
    try {
      const refused = stacks.run(["up", "--yes", "--skip-preview", "-s", stackOf(0)]);
      expect(refused.status).not.toBe(0);
      expect(refused.output).toContain(key);
      expect(refused.output).toMatch(/a CNAME must be alone at its name/);
    } finally {
      stacks.must(["config", "rm", "--path", key, "-s", stackOf(0)]);
    }
    expect(live().map((n) => servers.soaSerial(n, first.zone))).toEqual(before);
    for (const n of live())
      expect(dig(n.machine.address, "+short", "+norec", `www.${first.zone}`, "A").trim(), n.machine.name).toBe("198.51.100.99");
    expect(stacks.unchanged(machineOf(0)), "the stack is back to what was applied").toBe(true);
  });

  test("a node's endpoint address changes, by its member's pulumi up only: no other member's zone, output or delegation needs anything; resolution with AD goes on", async () => {
    const moved = nodes[3];
    const others = live().filter((n) => n !== moved);
    const newAddress = "198.51.100.64";
    // What the other members' zones serve of their name servers, and what they gave their registrars.
    const servedNs = () =>
      others.map((n) => dig(n.machine.address, "+norec", "+noall", "+answer", "+additional", n.zone, "NS").split("\n").sort().join("\n"));
    const before = { served: servedNs(), records: others.map((n) => delegationRecords[nodes.indexOf(n)]) };
    // The server gets a second address (the old one stays: the stack's SSH still goes there).
    servers.ok(moved, `ip addr add ${newAddress}/24 dev eth0`);
    stacks.must(["config", "set", "boreal:endpoint", `${newAddress}:51820`, "-s", stackOf(3)]);
    await timed(`pulumi up ${stackOf(3)} (a new endpoint address)`, () => up(3));
    expect(delegationRecords[3]).toContain(`ns-${moved.machine.name}.${moved.zone} A ${newAddress}`);
    // Only its own registrar changes: the lab's parent takes member 4's new output, the others' as they were.
    await labDns(servers.state, delegationRecords.flat(), dir);
    expect(others.map((n) => delegationRecords[nodes.indexOf(n)])).toEqual(before.records);
    // Every peer's agent applied the new endpoint. (Which of the server's two addresses
    // WireGuard then uses follows the traffic: both are the node's, and the old one stays here.)
    await eventually("every peer's WireGuard config has the new endpoint", 30, () =>
      others.every((n) => servers.ok(n, "cat /etc/wireguard/wg0.conf").includes(`Endpoint = ${newAddress}:51820`)),
    );
    await checks.expectMesh(servers, live());
    expect(servedNs(), "the other members' zones serve the same NS set and glue").toEqual(before.served);
    git(members[0].registry, "pull", "-q");
    for (const n of live()) {
      const check = await dnsCheck(n.zone);
      expect(check.code, `${n.zone}:\n${check.output}`).toBe(0);
      const www = resolve(`www.${n.zone}`, "A");
      expect(authenticated(www), `www.${n.zone} validated:\n${www}`).toBe(true);
    }
    // Resolvers reach node 4 at its new address: the name server answers there.
    expect(dig(newAddress, "+short", "+norec", moved.zone, "SOA").trim()).not.toBe("");
    checks.log(
      `endpoint change: ${moved.machine.name} moved to ${newAddress} with its member's pulumi up only; no other member's delegation changed, every zone validates`,
    );
  });

  test("a parent left stale on purpose (an NS removed, a glue address changed, a DS changed): boreal dns check --parent names each record, and the member's node fires BorealDelegationDrift", async () => {
    const target = nodes[1];
    const i = 1;
    const own = `ns-${target.machine.name}.${target.zone}`;
    const removed = delegationRecords[i].find((r) => / NS /.test(r) && !r.endsWith(` NS ${own}`))!;
    const stale = delegationRecords[i]
      .filter((r) => r !== removed)
      .map((r) => (r.startsWith(`${own} A `) ? `${own} A 198.51.100.98` : r))
      .map((r) => (/ DS /.test(r) ? r.replace(/.$/, (c) => (c === "0" ? "1" : "0")) : r));
    const parent = () => delegationRecords.flatMap((records, j) => (j === i ? stale : records));
    await labDns(servers.state, parent(), dir);
    const broke = Date.now();
    const check = await dnsCheck(target.zone);
    expect(check.code, check.output).toBe(1);
    const removedName = removed.split(" NS ")[1];
    expect(check.output).toContain(`${target.zone} NS ${removedName}`);
    expect(check.output).toMatch(new RegExp(`glue ${own.replace(/\./g, "\\.")} A 198\\.51\\.100\\.98 at the parent is stale`));
    expect(check.output).toMatch(/DS at the parent: mismatch/);
    const firing = () =>
      checks.promQuery(servers, target, target, `ALERTS{alertname="BorealDelegationDrift",alertstate="firing",zone="${target.zone}"}`)
        .length > 0;
    await eventually(`${target.machine.name} fires BorealDelegationDrift for ${target.zone}`, 150, firing);
    checks.log(
      `stale parent: dns check names ${check.output.split("\n").filter((l) => l.startsWith("problem:")).length} problem(s); ${target.machine.name} fires BorealDelegationDrift ${((Date.now() - broke) / 1000).toFixed(0)}s after the parent went stale`,
    );
    const problems = servers.ok(target, "journalctl -u boreal-delegation --no-pager -o cat -n 200");
    expect(problems).toContain(removedName);
    // The registrar mended: the alert resolves.
    await labDns(servers.state, delegationRecords.flat(), dir);
    await eventually(`${target.machine.name}'s BorealDelegationDrift resolves`, 150, () => !firing());
  });

  test("key rotation of node 2, one pulumi up by its member only: every other node's pings to it, over mesh IPv4 and IPv6, lose nothing; the old key is gone everywhere", async () => {
    const registry = members[1].registry;
    oldNode2 = {
      content: readFileSync(join(registry, descriptorPath(machineOf(1))), "utf8"),
      signature: readFileSync(join(registry, signaturePath(descriptorPath(machineOf(1)))), "utf8"),
    };
    const before = nodes[1];
    stacks.must(["config", "set", "boreal:keyEpoch", "1", "-s", stackOf(1)]);
    const { toRotated, between, losses, after } = await checks.measureRotation(
      servers,
      live(),
      before,
      () => timed("rotate node2 (its pulumi up only)", () => up(1)),
      async (rotated) => {
        for (const n of live().filter((x) => x !== rotated))
          await eventually(
            `${n.machine.name} has node2's new key, not its old one`,
            30,
            () => peersOf(n).includes(rotated.publicKey) && !peersOf(n).includes(before.publicKey),
            250,
          );
      },
    );
    expect(after.publicKey).not.toBe(before.publicKey);
    // The node switches to its new key right after publishing it, and nudges; its packets wait
    // in WireGuard's queue until each peer has pulled it; the peers' packets still arrive
    // under the old sessions. Nothing is dropped: late, at most.
    expect(toRotated.transmitted).toBeGreaterThan(100);
    expect(toRotated.lost, `pings to the rotated node lost: ${losses.join("; ")}`).toBe(0);
    expect(between.lost, `pings between the other nodes lost: ${losses.join("; ")}`).toBe(0);
  });

  test("a lost nudge: node 3 drops every nudge while node 1 rotates its key; the others have it in seconds, node 3 at its next timer run", async () => {
    const third = nodes[2];
    // A table of the test's own on node 3: nudges never reach its listener.
    servers.ok(
      third,
      `nft add table inet lost-nudge; nft add chain inet lost-nudge input '{ type filter hook input priority -10; }'; nft add rule inet lost-nudge input udp dport ${NUDGE_PORT} counter drop`,
    );
    try {
      const since = servers.ok(third, "date +%s").trim();
      stacks.must(["config", "set", "boreal:keyEpoch", "1", "-s", stackOf(0)]);
      const rotated = await timed("rotate node1 (its pulumi up only)", () => up(0));
      const published = Date.now();
      for (const n of live().filter((x) => x !== rotated && x !== third))
        await eventually(`${n.machine.name} has node1's new key`, 15, () => peersOf(n).includes(rotated.publicKey), 250);
      const others = (Date.now() - published) / 1000;
      // Node 3's timer is the safety net: it pulls at its next tick, at most syncInterval away.
      await eventually(
        "node3 has node1's new key after its timer",
        SYNC_INTERVAL_DEFAULT + 30,
        () => peersOf(third).includes(rotated.publicKey),
        1000,
      );
      // Nudges came, and were dropped before node 3's nudge-gate ever started.
      expect(servers.ok(third, "nft list table inet lost-nudge"), "nudges were sent to node 3").toMatch(/counter packets [1-9]/);
      expect(
        servers.ok(third, `journalctl -u boreal-nudge.service --since @${since} -o cat --no-pager`),
        "no nudge reached node 3's gate",
      ).not.toMatch(/Starting boreal-nudge/);
      const late = (Date.now() - published) / 1000;
      await eventually(
        "node3 reaches node1 over the mesh again",
        30,
        () => servers.exec(third, `ping -c 1 -W 2 ${rotated.mesh.ipv4}`).status === 0,
      );
      checks.log(
        `lost nudge: the others had node1's new key ${others.toFixed(1)}s after its pulumi up, node3 (no nudge) ${late.toFixed(1)}s after, at its timer run`,
      );
    } finally {
      servers.exec(third, "nft delete table inet lost-nudge");
    }
  });

  test("hostile objects in the mirror change nothing anywhere, and each is logged by file and reason, escaped", async () => {
    const before = live().map(peersOf);
    const federationName = LAB_FEDERATION;
    const sign = (member: string, object: object) => {
      const tmp = mkdtempSync(join(dir, "sign-"));
      writeNodeObject(tmp, object as never, { keyFile: member });
      const path = descriptorPath((object as { node: string }).node);
      return { content: readFileSync(join(tmp, path), "utf8"), signature: readFileSync(join(tmp, signaturePath(path)), "utf8") };
    };
    /** A WireGuard key made here, with the proof it makes for `node`: objects that must reach the checks after the proof. */
    const proven = (node: string) => {
      const privateKey = Buffer.from(generateKeyPairSync("x25519").privateKey.export({ format: "jwk" }).d!, "base64url").toString("base64");
      const publicKey = wireguardPublicKey(privateKey);
      return { publicKey, keyProof: makeWireguardProof(privateKey, { federation: federationName, node, publicKey }) };
    };
    const mallory = join(dir, "mallory");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", mallory]);
    const [a, b, c] = members;
    /** A file as the mirror holds it now. */
    const published = (path: string) =>
      execFileSync("git", ["-C", servers.state.mirror.repo, "show", `main:${path}`], { encoding: "utf8" });
    const base = (node: string, host: number, member: { name: string }) => ({
      member: member.name,
      node,
      serial: 1,
      endpoint: "198.51.100.99:51820",
      ...proven(node),
      mesh: { ipv4: `100.64.0.${host}`, ipv6: `fd42:b0:ea1::${host.toString(16)}` },
      zones: [] as string[],
      exporter: `100.64.0.${host}:9100`,
      updatedAt: new Date().toISOString(),
    });
    const files = (signed: { content: string; signature: string }, node: string) => ({
      [descriptorPath(node)]: signed.content,
      [signaturePath(descriptorPath(node))]: signed.signature,
    });
    const name = (member: LabMember, what: string) => `${member.name}-${what}`;
    const evil = sign(mallory, { ...base(name(a, "evil"), 10, a), zones: ["bank.lab.test."] });
    const forged = sign(b.signingKey, { ...base(name(a, "forged"), 11, a), zones: [a.zone] });
    const claim = sign(b.signingKey, { ...base(name(b, "claim"), 29, b), zones: [a.zone] });
    const squat = sign(c.signingKey, base(name(c, "squat"), 12, c));
    // A member taking another's node name, with nothing held: a fresh reader refuses it too.
    const node4 = machineOf(3);
    const takeover = sign(a.signingKey, { ...base(node4, 13, a), serial: 4_000_000_000 });
    // node2's key and proof, copied into a node of coop-a.
    const copied = sign(a.signingKey, {
      ...base(name(a, "copy"), 14, a),
      publicKey: nodes[1].publicKey,
      keyProof: parseYaml(published(descriptorPath(machineOf(1)))).keyProof,
    });
    const loopback = sign(a.signingKey, { ...base(name(a, "loop"), 10, a), endpoint: "127.0.0.1:51820" });
    const elsewhere = sign(a.signingKey, { ...base(name(a, "exp"), 11, a), exporter: "198.51.100.1:80" });
    const latin1 = Buffer.concat([
      Buffer.from(sign(a.signingKey, base(name(a, "latin"), 12, a)).content),
      Buffer.from([0x23, 0x20, 0xe9, 0x0a]),
    ]);
    const latin1Sig = (() => {
      const tmp = join(mkdtempSync(join(dir, "latin-")), "object");
      writeFileSync(tmp, latin1);
      execFileSync("ssh-keygen", ["-q", "-Y", "sign", "-f", a.signingKey, "-n", "boreal-registry", tmp]);
      return readFileSync(`${tmp}.sig`, "utf8");
    })();
    const node3 = published(descriptorPath(machineOf(2)));
    const node3sig = published(signaturePath(descriptorPath(machineOf(2))));
    const forgedLine = "nodes/evil\n[ok] every peer verified\u001b[2K.yaml";
    const hostile: Record<string, string | Buffer> = {
      ...files(evil, name(a, "evil")),
      ...files(forged, name(a, "forged")),
      ...files(claim, name(b, "claim")),
      ...files(squat, name(c, "squat")),
      ...files(takeover, node4),
      ...files(copied, name(a, "copy")),
      ...files(loopback, name(a, "loop")),
      ...files(elsewhere, name(a, "exp")),
      [descriptorPath(name(a, "latin"))]: latin1,
      [signaturePath(descriptorPath(name(a, "latin")))]: latin1Sig,
      [descriptorPath(name(a, "bigsig"))]: claim.content,
      [signaturePath(descriptorPath(name(a, "bigsig")))]: "x".repeat(3000),
      [descriptorPath(name(b, "unsigned"))]: claim.content.replace(/node: .*/, `node: ${name(b, "unsigned")}`),
      [descriptorPath(machineOf(2))]: node3.replace(/endpoint: .*/, "endpoint: 198.51.100.66:51820"),
      [signaturePath(descriptorPath(machineOf(2)))]: node3sig,
      [descriptorPath(machineOf(1))]: oldNode2.content,
      [signaturePath(descriptorPath(machineOf(1)))]: oldNode2.signature,
      "federation/2.yaml": published("federation/1.yaml").replace("version: 1", "version: 2").replace("threshold: 2", "threshold: 1"),
      "federation/2.yaml.coop-e.sig": "not a signature",
      "federation/10000000000000000000.yaml": "version: 10000000000000000000\n",
      [`nodes/.${name(a, "hidden")}.yaml`]: claim.content,
      [forgedLine]: "x",
    };
    for (let i = 0; i < 2000; i++) hostile[`nodes/junk-${i}.txt`] = "x";
    await pushToMirror(hostile, "hostile objects");
    const expected: [string, RegExp][] = [
      [descriptorPath(name(a, "evil")), /signed by a key of no member/],
      [descriptorPath(name(a, "forged")), /signed by member coop-b, but node name coop-a-forged is member coop-a's/],
      [descriptorPath(name(b, "claim")), /zone coop-a.lab.test. is outside member coop-b's zones/],
      [descriptorPath(name(c, "squat")), /mesh address 100.64.0.12 is outside member coop-c's share/],
      [descriptorPath(node4), new RegExp(`signed by member coop-a, but node name ${node4} is member coop-d's`)],
      [descriptorPath(name(a, "copy")), /keyProof does not verify/],
      [descriptorPath(name(a, "loop")), /endpoint 127.0.0.1:51820 is in 127.0.0.0\/8 \(loopback\)/],
      [descriptorPath(name(a, "exp")), /exporter 198.51.100.1:80 is not node coop-a-exp's own mesh address/],
      [descriptorPath(name(a, "latin")), /is not UTF-8 text/],
      [signaturePath(descriptorPath(name(a, "bigsig"))), /over the cap of 2048 bytes for a signature/],
      [descriptorPath(name(b, "unsigned")), /unsigned/],
      [descriptorPath(machineOf(2)), /bad signature/],
      [descriptorPath(machineOf(1)), /replay: serial \d+ is lower than serial \d+ already held/],
      ["federation/2.yaml", /signed by 0 member\(s\) of version 1; it needs 2/],
      ["federation/10000000000000000000.yaml", /is not a federation version's name/],
      [`nodes/.${name(a, "hidden")}.yaml`, /is a hidden file/],
      ["nodes/evil\\n[ok] every peer verified\\x1b[2K.yaml", /is not a node object's name/],
      ["(more)", /more files are not part of a registry/],
    ];
    const started = Date.now();
    for (const node of live()) {
      await eventually(`${node.machine.name}'s agent logs every refusal`, 90, () => {
        const journal = agentLog(node).split("\n");
        const missing = expected.filter(([path, reason]) => !journal.some((l) => l.includes(`: ${path}: `) && reason.test(l)));
        if (missing.length > 0)
          throw new Error(
            `not logged yet: ${missing.map(([path, reason]) => `${path} ${reason}`).join("; ")}; the journal's last lines: ${journal.slice(-12).join(" | ")}`,
          );
        return true;
      });
      const journal = agentLog(node);
      // Escaped: no line of the journal starts with the forged text, none carries the terminal escape.
      expect(journal.split("\n").some((l) => l.startsWith("[ok] every peer verified"))).toBe(false);
      expect(journal).not.toContain("\u001b[2K");
    }
    checks.log(
      `hostile objects: ${expected.length} classes refused by every node, by file and reason, escaped, ${((Date.now() - started) / 1000).toFixed(1)}s after the push`,
    );
    expect(live().map(peersOf)).toEqual(before);
    for (const node of live()) {
      expect(servers.exec(node, `kdig @${node.machine.address} bank.lab.test. SOA +norec +timeout=2`).output).not.toMatch(/Flags: qr aa/);
      const endpoints = servers.ok(node, "wg show wg0 endpoints");
      expect(endpoints).not.toContain("198.51.100.66");
      expect(endpoints).not.toContain("127.0.0.1");
    }
  });

  test("an interrupted pulumi up (killed by its process id mid-apply) recovers as the README says, and the node converges", async () => {
    const i = 2;
    const node = nodes[i];
    stacks.must(["config", "set", "boreal:mtu", "1400", "-s", stackOf(i)]);
    const killed = await stacks.killDuring(machineOf(i), 5_000);
    checks.log(`interrupted: pulumi up ${killed}`);
    const recovered = await timed("recover: pulumi cancel if locked, then pulumi up", () => stacks.recover(machineOf(i)));
    checks.log(`interrupted: ${recovered}`);
    await eventually(`${node.machine.name} runs wg0 with MTU 1400`, 30, () => /mtu 1400/.test(servers.ok(node, "ip -o link show wg0")));
    expect(stacks.unchanged(machineOf(i)), "nothing left to do after recovery").toBe(true);
    await checks.expectMesh(servers, live());
  });

  test("the SSH connection cut mid-apply (the node's underlay down for 8 s): the re-run converges", async () => {
    const i = 2;
    const node = nodes[i];
    stacks.must(["config", "rm", "boreal:mtu", "-s", stackOf(i)]);
    const run = stacks.upAsync(machineOf(i));
    await new Promise((r) => setTimeout(r, 7_000));
    cutUnderlay(node.machine, 8);
    const first = await run;
    checks.log(`SSH cut: the interrupted pulumi up exited ${first.status}`);
    if (first.status !== 0) await timed("re-run after the cut", () => stacks.recover(machineOf(i)));
    await eventually(`${node.machine.name} runs wg0 with MTU 1420 again`, 30, () =>
      /mtu 1420/.test(servers.ok(node, "ip -o link show wg0")),
    );
    const preview = stacks.preview(machineOf(i));
    expect(preview.status, preview.output).toBe(0);
    await checks.expectMesh(servers, live());
  });

  test("member down: the others keep their tunnels and still answer member 1's zone, alert within 2 minutes, and `boreal status` shows it; it rejoins by itself and the alerts resolve", async () => {
    const [down, b, c] = nodes;
    const name = down.machine.name;
    await checks.expectMemberDown(servers, down, [b, c], async () => {
      const stopped = Date.now();
      for (const at of [b, c]) {
        await eventually(`${at.machine.name} fires the peer-down and DNS alerts for ${name}`, 150, () => {
          const firing = checks.firingAbout(servers, at, name);
          return firing.includes("BorealPeerExporterDown") && firing.includes("BorealZoneNotAnswered");
        });
        checks.log(
          `member down: ${at.machine.name} fires BorealPeerExporterDown and BorealZoneNotAnswered for ${name} ${((Date.now() - stopped) / 1000).toFixed(0)}s after power-off`,
        );
        // What it asks of the other nodes (its member's zone at each, each one's own zone) still answers.
        const atOthers = checks.promQuery(servers, at, at, `probe_success{job="boreal-dns",node!="${name}"}`);
        const expected = new Set(
          live()
            .filter((n) => n !== down)
            .flatMap((n) => [`${at.zone}@${n.machine.name}`, `${n.zone}@${n.machine.name}`]),
        );
        expect(new Set(atOthers.map((s) => `${s.metric.zone}@${s.metric.node}`))).toEqual(expected);
        expect(
          atOthers.every((s) => s.value === 1),
          `the zones ${at.machine.name} asks of the other nodes`,
        ).toBe(true);
      }
      // Member 1's records through a resolver with an empty cache: the other nodes answer, validated.
      await labDns(servers.state, delegationRecords.flat(), dir);
      const www = await eventually(`www.${down.zone} resolves with AD while ${name} is off`, 30, () => {
        const answer = resolve(`www.${down.zone}`, "A");
        return authenticated(answer) && /\sA\s/.test(answer) ? answer : undefined;
      });
      expect(www).toMatch(/\sA\s+198\.51\.100\.99$/m);
      const check = await dnsCheck(down.zone);
      expect(check.code, check.output).toBe(1);
      expect(check.output).toMatch(new RegExp(`${name}.*(timeout|did not answer|no answer)`, "i"));
      let table = "";
      expect(await runStatus(targetFromStack(PROJECT_ROOT, stackOf(1), projects[1], ws.env), false, (t) => (table = t))).toBe(1);
      expect(table).toMatch(new RegExp(`^${name}\\s+${down.member}\\s+DOWN\\s.*BorealPeerExporterDown`, "m"));
      const downMap = await mapAsNode2Sees("node1-down");
      expect(downMap.code).toBe(1);
      expect(downMap.rows[name]).toMatch(new RegExp(`^down ${name} ${down.member} ✕ DOWN .*BorealPeerExporterDown`));
      expect(downMap.overall).toMatch(new RegExp(`✕ NOT healthy, as node2 sees it: .*\\b${name}\\b`));
      for (const other of live().filter((n) => n !== down)) expect(downMap.rows[other.machine.name]).toMatch(/^up /);
    });
    for (const at of [b, c])
      await eventually(`${at.machine.name}'s alerts about ${name} resolve`, 120, () => checks.firingAbout(servers, at, name).length === 0);
  });

  test("leave: pulumi destroy by member 5 only, published after the hostile objects; the others drop it by themselves; its server is clean", async () => {
    const left = nodes[COUNT - 1];
    await timed(`pulumi destroy ${stackOf(COUNT - 1)}`, () =>
      stacks.must(["destroy", "--yes", "--skip-preview", "-s", stackOf(COUNT - 1)]),
    );
    const destroyed = Date.now();
    expect(readFileSync(join(members[COUNT - 1].registry, descriptorPath(machineOf(COUNT - 1))), "utf8")).toMatch(/left: true/);
    nodes.length = COUNT - 1;
    const dropped = await checks.timeToDropped(servers, left, live(), destroyed);
    checks.log(`leave: every peer dropped node${COUNT} (WireGuard, catalog, probes) ${dropped.toFixed(1)}s after pulumi destroy ended`);
    expect(dropped).toBeLessThan(10);
    await checks.expectLeft(servers, left, live());
    // Nobody edits a target: each agent rewrote its Prometheus's targets from the registry.
    for (const node of live()) {
      expect(servers.ok(node, "cat /etc/prometheus/boreal-targets/*.json /etc/prometheus/blackbox.yml")).not.toMatch(
        new RegExp(`"${left.machine.name}"|${left.zone.replaceAll(".", "\\.")}`),
      );
      await eventually(
        `${node.machine.name}'s Prometheus no longer scrapes ${left.machine.name}`,
        60,
        () => checks.promQuery(servers, node, node, `up{node="${left.machine.name}"}`).length === 0,
      );
    }
  });

  test("a tombstoned node coming back with its old serial is refused", async () => {
    const path = descriptorPath(machineOf(COUNT - 1));
    const old = execFileSync("git", ["-C", servers.state.mirror.repo, "log", "--format=%H", "--", path], { encoding: "utf8" })
      .trim()
      .split("\n");
    const first = old[old.length - 1];
    const content = execFileSync("git", ["-C", servers.state.mirror.repo, "show", `${first}:${path}`], { encoding: "utf8" });
    const signature = execFileSync("git", ["-C", servers.state.mirror.repo, "show", `${first}:${path}.sig`], { encoding: "utf8" });
    await pushToMirror({ [path]: content, [`${path}.sig`]: signature }, "replay of a departed node");
    for (const node of live()) {
      await eventually(`${node.machine.name} refuses the revived node${COUNT}`, 60, () =>
        agentLog(node)
          .split("\n")
          .some((l) => l.includes(`: ${path}: replay`)),
      );
      expect(peersOf(node)).toHaveLength(COUNT - 2);
    }
  });

  test("all mirrors down: the mesh and DNS keep working, and a rebooted node comes back with its last good peer set", async () => {
    stopMirror(servers.state.mirror.pid);
    const [a, b] = nodes;
    const before = peersOf(b);
    // A nudge makes them look now rather than at their next timer run.
    await nudgeAll();
    await eventually(`${b.machine.name}'s agent notices the mirror is gone`, 60, () => /did not answer/.test(agentLog(b)));
    await checks.expectMesh(servers, live());
    await checks.expectMemberDown(servers, b, [a, nodes[2]]);
    expect(peersOf(b)).toEqual(before);
    await checks.expectDns(servers, live());
  });
});
