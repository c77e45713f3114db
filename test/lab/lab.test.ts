// The local lab on real systemd-nspawn machines (root only). Asserts on what the machines do.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  DEFAULT_RECIPE,
  imagePath,
  imageReady,
  isLabSuite,
  LAB_SUITES,
  labRecipe,
  LabSuite,
  machineSuites,
  recipeHash,
  staleImages,
} from "../../src/lab/image";
import { authenticated, LAB_DNS_NAMESPACE, stopLabDns } from "../../src/lab/dns";
import {
  LAB_PASSPHRASE,
  labDns,
  labDown,
  labExec,
  labMounts,
  labProcesses,
  labStatus,
  labUp,
  LabState,
  pidAlive,
  portOpen,
  readState,
  sshArgs,
  writeLabStacks,
} from "../../src/lab/lab";
import { mirrorProcesses } from "../../src/lab/mirror";
import { parseStackConfig } from "../../src/core/spec/stack";
import { loadRegistry } from "../../src/io/registry/read";
import { pulumiCliAvailable, Workspace } from "../helpers/workspace";
import { labNamespaces } from "../../src/lab/net";

const isRoot = process.getuid?.() === 0;
/** The Debian release the lab test runs on: BOREAL_LAB_SUITE (bookworm unless set). */
const SUITE: LabSuite = (() => {
  const suite = process.env.BOREAL_LAB_SUITE ?? "bookworm";
  if (!isLabSuite(suite)) throw new Error(`BOREAL_LAB_SUITE must be ${LAB_SUITES.join(" or ")}, got ${suite}`);
  return suite;
})();
const VERSION: Record<LabSuite, string> = { bookworm: "12", trixie: "13" };
const dir = mkdtempSync(join(tmpdir(), "boreal-lab-test-"));
const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);
const git = (args: string[], cwd?: string) =>
  execFileSync("git", ["-c", "user.name=Lab Test", "-c", "user.email=lab@boreal.test", ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
/** Who listens on TCP port 9418 on the host, as `ss -ltnp` shows it: local address and pid. */
const gitPortListeners = () =>
  (spawnSync("ss", ["-H", "-ltnp", "sport = :9418"], { encoding: "utf8" }).stdout ?? "")
    .split("\n")
    .filter(Boolean)
    .map((line) => ({ local: line.trim().split(/\s+/)[3], pid: Number(/pid=(\d+)/.exec(line)?.[1]) }));

describe("the lab's images", () => {
  test("one recipe per Debian suite, bookworm by default, differing only in the suite", () => {
    expect(DEFAULT_RECIPE).toEqual(labRecipe("bookworm"));
    expect(labRecipe()).toEqual(labRecipe("bookworm"));
    expect({ ...labRecipe("trixie"), suite: "bookworm" }).toEqual(DEFAULT_RECIPE);
    expect(imagePath(labRecipe("trixie"))).toMatch(/\/debian-trixie-[0-9a-f]{12}$/);
    expect(recipeHash(labRecipe("trixie"))).not.toBe(recipeHash(labRecipe("bookworm")));
    expect(() => labRecipe("sid" as LabSuite)).toThrow(/unknown Debian suite "sid": use bookworm or trixie/);
  });

  test("machines get one release each: the one asked for, or 12 and 13 alternating when mixed", () => {
    expect(machineSuites("trixie", 3)).toEqual(["trixie", "trixie", "trixie"]);
    expect(machineSuites("mixed", 5)).toEqual(["bookworm", "trixie", "bookworm", "trixie", "bookworm"]);
    expect(() => machineSuites("sid" as LabSuite, 2)).toThrow(/unknown Debian suite "sid": use bookworm, trixie, mixed/);
  });

  test("a new image replaces the older images of its own suite only", () => {
    const trixie = labRecipe("trixie");
    const own = `debian-trixie-${recipeHash(trixie)}`;
    const entries = [
      own,
      "debian-trixie-0123456789ab",
      "debian-trixie-0123456789ab.partial",
      "debian-bookworm-0123456789ab",
      "debian-bookworm-ba9876543210.partial",
      "debian-trixie-notes",
      "other",
    ];
    expect(staleImages(entries, trixie)).toEqual(["debian-trixie-0123456789ab", "debian-trixie-0123456789ab.partial"]);
    expect(staleImages(entries, labRecipe("bookworm"))).toEqual(["debian-bookworm-0123456789ab", "debian-bookworm-ba9876543210.partial"]);
  });

  test("the usual and the sudo image of a suite do not replace each other", () => {
    const usual = labRecipe("bookworm");
    const sudo = labRecipe("bookworm", ["sudo"]);
    expect(imagePath(sudo)).toMatch(/\/debian-bookworm-sudo-[0-9a-f]{12}$/);
    const entries = [
      basename(imagePath(usual)),
      basename(imagePath(sudo)),
      "debian-bookworm-sudo-0123456789ab",
      "debian-bookworm-0123456789ab",
    ];
    expect(staleImages(entries, usual)).toEqual(["debian-bookworm-0123456789ab"]);
    expect(staleImages(entries, sudo)).toEqual(["debian-bookworm-sudo-0123456789ab"]);
  });
});

describe.runIf(isRoot)(`the local lab (Debian ${SUITE})`, () => {
  let state: LabState;
  afterAll(() => labDown({ dir, log }));

  test("up: 3 machines answer SSH with their pinned host keys", async () => {
    const started = Date.now();
    const up = await labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log, dir, suite: SUITE });
    state = up;
    log(`up in ${Math.round((Date.now() - started) / 1000)}s (image ${up.imageBuilt ? `built in ${up.imageSeconds}s` : "reused"})`);
    expect(state.machines.map((m) => m.name)).toEqual(["node1", "node2", "node3"]);
    for (const m of state.machines) {
      const result = labExec(state, m, "hostname && systemctl is-active ssh", dir);
      expect(result.output, `ssh ${m.name}`).toBe(`${m.name}\nactive\n`);
    }
    expect(state.mirror).toEqual({
      pid: expect.any(Number),
      url: "git://198.51.100.1/registry.git",
      repo: join(dir, "mirrors", "registry.git"),
    });
    expect(pidAlive(state.mirror.pid)).toBe(true);
  });

  test(`the machines run Debian ${VERSION[SUITE]} (${SUITE}), from the image of that suite`, () => {
    expect(state.suite).toBe(SUITE);
    for (const m of state.machines) {
      expect([m.suite, m.image], m.name).toEqual([SUITE, imagePath(labRecipe(SUITE))]);
      const result = labExec(state, m, ". /etc/os-release && echo $VERSION_CODENAME $VERSION_ID", dir);
      expect(result.output, m.name).toBe(`${SUITE} ${VERSION[SUITE]}\n`);
    }
  });

  test("each machine has what the sync agent needs: Debian's nodejs and git", () => {
    for (const m of state.machines) {
      const result = labExec(state, m, 'node --version && git --version && dpkg -S "$(readlink -f "$(command -v node)")"', dir);
      expect(result.status, `${m.name}: ${result.output}`).toBe(0);
      const [node, gitVersion, owner] = result.output.trim().split("\n");
      expect(node, m.name).toMatch(/^v\d+\.\d+\.\d+$/);
      expect(gitVersion, m.name).toMatch(/^git version \d+\.\d+/);
      expect(owner, m.name).toMatch(/^nodejs: \/usr\/bin\/node/);
    }
  });

  let pushed: string;

  test("the registry mirror serves what the host pushed to every machine over the lab network", () => {
    const work = mkdtempSync(join(tmpdir(), "boreal-mirror-work-"));
    try {
      git(["clone", "--quiet", state.mirror.repo, work]);
      writeFileSync(join(work, "federation.yaml"), "name: boreal-lab\n");
      git(["add", "federation.yaml"], work);
      git(["commit", "--quiet", "-m", "lab test: first registry commit"], work);
      git(["push", "--quiet", "origin", "HEAD:main"], work);
      pushed = git(["rev-parse", "HEAD"], work);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    for (const m of state.machines) {
      const remote = labExec(state, m, `git ls-remote ${state.mirror.url}`, dir);
      expect(remote.status, `${m.name}: ${remote.output}`).toBe(0);
      expect(remote.output, m.name).toContain(`${pushed}\trefs/heads/main`);
      const clone = labExec(
        state,
        m,
        `rm -rf /root/registry && git clone --quiet ${state.mirror.url} /root/registry && git -C /root/registry log -1 --format=%H && cat /root/registry/federation.yaml`,
        dir,
      );
      expect(clone.status, `${m.name}: ${clone.output}`).toBe(0);
      expect(clone.output, m.name).toBe(`${pushed}\nname: boreal-lab\n`);
    }
  });

  test("over git:// the mirror takes attestations only: a push of anything else from a machine is refused, and the repository is unchanged", () => {
    const [node1] = state.machines;
    const commit = (file: string) =>
      `cd /root/registry && git fetch -q origin main && git reset -q --hard FETCH_HEAD && mkdir -p $(dirname ${file}) && echo forged > ${file} && git add ${file} && git -c user.name=x -c user.email=x@x commit --quiet -m forged && git push origin HEAD:main`;
    const forged = labExec(state, node1, commit("forged.yaml"), dir);
    expect(forged.status, forged.output).not.toBe(0);
    expect(forged.output).toMatch(/boreal inbox: refused: an anonymous push may only add or change attestations/);
    const beside = labExec(state, node1, commit("attestations/node2/node1.yaml"), dir);
    expect(beside.status, beside.output).not.toBe(0);
    expect(git(["--git-dir", state.mirror.repo, "for-each-ref", "--format=%(objectname) %(refname)"])).toBe(`${pushed} refs/heads/main`);
    // What the inbox is for; whether it is true is for readers to verify (its signature).
    const attestation = labExec(state, node1, commit("attestations/node2/node1.json"), dir);
    expect(attestation.status, attestation.output).toBe(0);
    expect(git(["--git-dir", state.mirror.repo, "show", "main:attestations/node2/node1.json"])).toBe("forged");
    const force = labExec(state, node1, `cd /root/registry && git push --force origin ${pushed}:main`, dir);
    expect(force.status, force.output).not.toBe(0);
  });

  test("the mirror listens on the lab host address only", async () => {
    const listeners = gitPortListeners();
    expect(listeners).toEqual([{ local: `${state.hostAddress}:9418`, pid: state.mirror.pid }]);
    expect(await portOpen("127.0.0.1", 9418)).toBe(false);
    expect(await portOpen(state.hostAddress, 9418)).toBe(true);
  });

  test("a wrong pinned host key is refused", () => {
    const [node1, node2] = state.machines;
    const wrong = join(dir, "wrong_known_hosts");
    writeFileSync(wrong, `${node1.address} ${node2.hostKey}\n`);
    const args = sshArgs(state, node1, dir).map((a) => (a.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${wrong}` : a));
    const result = spawnSync("ssh", [...args, "true"], { encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test("each machine pings the others on the lab subnet, and reaches nothing else", () => {
    for (const from of state.machines) {
      for (const to of state.machines.filter((m) => m !== from)) {
        const result = labExec(state, from, `ping -c 1 -W 2 ${to.address}`, dir);
        expect(result.status, `${from.name} → ${to.name}: ${result.output}`).toBe(0);
      }
      expect(labExec(state, from, "ip route show default", dir).output.trim()).toBe("");
    }
  });

  test("the lab's parent zone and validating resolver: the parent validates (AD) at the resolver, which reaches nothing outside the lab", async () => {
    const dns = await labDns(state, [], dir);
    try {
      const ask = (name: string, type: string) =>
        spawnSync("kdig", [`@${dns.resolver.address}`, "+dnssec", "+time=2", "+retry=0", name, type], { encoding: "utf8" }).stdout ?? "";
      expect(authenticated(ask("lab.test.", "SOA"))).toBe(true);
      // A delegation the parent does not hold: proven absent (NXDOMAIN), still validated.
      const missing = ask("nobody.lab.test.", "A");
      expect(missing).toMatch(/status: NXDOMAIN/);
      expect(authenticated(missing)).toBe(true);
      expect(spawnSync("ip", ["-n", LAB_DNS_NAMESPACE, "route", "show", "default"], { encoding: "utf8" }).stdout.trim()).toBe("");
      expect(spawnSync("ip", ["-n", LAB_DNS_NAMESPACE, "-4", "route"], { encoding: "utf8" }).stdout.trim()).toBe(
        `198.51.100.0/24 dev eth0 proto kernel scope link src ${dns.parent.address}`,
      );
    } finally {
      stopLabDns(dns);
      state.dns = undefined;
    }
  });

  test.runIf(pulumiCliAvailable())(
    "it writes a signed federation on the mirror, one clone and key per member, one stack per machine, the SSH key as a secret",
    () => {
      const project = new Workspace("lab-stacks");
      try {
        const { members, missing } = writeLabStacks(state, project.dir, log);
        expect(missing).toEqual([]);
        const env = { ...project.env, PULUMI_CONFIG_PASSPHRASE: LAB_PASSPHRASE };
        for (const m of state.machines) {
          const file = readFileSync(join(project.dir, "stacks", `Pulumi.lab-${m.name}.yaml`), "utf8");
          expect(file).toMatch(/privateKey:\n\s+secure: v1:/);
          expect(file).not.toContain("PRIVATE KEY");
          const shown = spawnSync(
            join(project.dir, "node_modules/.bin/pulumi"),
            ["config", "--show-secrets", "--json", "-s", `lab-${m.name}`],
            { cwd: project.dir, env, encoding: "utf8" },
          );
          const raw = Object.fromEntries(
            Object.entries(JSON.parse(shown.stdout) as Record<string, { value: string }>).map(([k, v]) => [
              k,
              typeof v.value === "string" ? v.value : JSON.stringify(v.value),
            ]),
          );
          const spec = parseStackConfig(raw);
          // One endpoint, read as a list of one (boreal:endpoint may list an IPv4 and an IPv6 one).
          expect(spec).toMatchObject({ node: m.name, endpoint: [`${m.address}:51820`], ssh: { host: m.address, hostKey: m.hostKey } });
          expect(spec.ssh.privateKey.trim()).toBe(readFileSync(state.sshKey, "utf8").trim());
          expect(spec).toMatchObject({
            publish: "origin",
            signingKeyFile: members[state.machines.indexOf(m)].signingKey,
            registry: members[state.machines.indexOf(m)].registry,
          });
        }
        // Version 1 is on the mirror, and verifies against the pin every stack carries.
        for (const member of members) {
          const verified = loadRegistry(
            member.registry,
            readFileSync(join(project.dir, "stacks", "Pulumi.lab-node1.yaml"), "utf8").match(/boreal:trust: "?([0-9]+:[0-9a-f]{64})/)![1],
          );
          expect(verified.rejected).toEqual([]);
          expect(verified.federation.settings.members.map((x) => x.name)).toEqual(members.map((x) => x.name));
          expect(verified.federation.settings.mirrors).toEqual([state.mirror.url]);
        }
      } finally {
        project.remove();
      }
    },
  );

  test("status shows them running with sshd up", async () => {
    const rows = await labStatus(dir);
    expect(rows.map((r) => [r.name, r.running, r.sshd])).toEqual([
      ["node1", true, true],
      ["node2", true, true],
      ["node3", true, true],
    ]);
  });

  test("an unknown suite is refused before anything of the running lab is touched", async () => {
    await expect(
      labUp({ nodes: 1, subnet: "198.51.100.0/24", installPrerequisites: false, log, dir, suite: "sid" as LabSuite }),
    ).rejects.toThrow(/unknown Debian suite "sid"/);
    expect(labProcesses()).toHaveLength(3);
    expect(pidAlive(state.mirror.pid)).toBe(true);
  });

  test("a second up reuses the image (no debootstrap) and replaces the first lab cleanly", async () => {
    expect(imageReady(labRecipe(SUITE))).toBe(true);
    // As after a crash that lost the daemon's pid: the leftover is found by its command line.
    const firstDaemon = state.mirror.pid;
    writeFileSync(join(dir, "state.json"), JSON.stringify({ ...readState(dir), mirror: undefined }));
    const up = await labUp({ nodes: 3, subnet: "198.51.100.0/24", installPrerequisites: true, log, dir, suite: SUITE });
    state = up;
    expect(up.imageBuilt).toBe(false);
    expect(labProcesses()).toHaveLength(3);
    expect(pidAlive(firstDaemon)).toBe(false);
    expect(mirrorProcesses(dir)).toEqual([up.mirror.pid]);
    expect(gitPortListeners()).toEqual([{ local: `${state.hostAddress}:9418`, pid: up.mirror.pid }]);
    // New machines, new federation: the mirror starts empty.
    expect(labExec(state, state.machines[0], `git ls-remote ${state.mirror.url}`, dir)).toEqual({ status: 0, output: "" });
  });

  test("down stops the mirror daemon", () => {
    const daemon = state.mirror.pid;
    expect(pidAlive(daemon)).toBe(true);
    labDown({ dir, log });
    expect(pidAlive(daemon)).toBe(false);
    expect(mirrorProcesses(dir)).toEqual([]);
    expect(gitPortListeners()).toEqual([]);
  });

  test("a subnet overlapping a host route is refused", async () => {
    const uplink = readFileSync("/proc/net/route", "utf8").includes("eth0") ? "192.0.2.0/24" : undefined;
    if (uplink)
      await expect(labUp({ nodes: 1, subnet: uplink, installPrerequisites: false, log, dir })).rejects.toThrow(/overlaps the host route/);
  });

  test("down leaves no namespace, veth, bridge, mount or process behind", async () => {
    labDown({ dir, log });
    expect(labNamespaces()).toEqual([]);
    expect(mirrorProcesses(dir)).toEqual([]);
    expect(gitPortListeners()).toEqual([]);
    expect(labProcesses()).toEqual([]);
    expect(labMounts(dir)).toEqual([]);
    expect(spawnSync("ip", ["link", "show", "boreal-host"]).status).not.toBe(0);
    expect(await labStatus(dir)).toEqual([]);
  });
});
