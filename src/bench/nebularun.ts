// Nebula on the lab (issue #32): built from the Go module proxy at bench time, then on a fresh
// lab of N+1 machines: bare → every pair pings, a host joins with its certificate alone, one
// host's key and certificate rotated, a host removed by the blocklist, the idle cost. Root
// only: it runs the lab. The files it writes come from src/bench/nebula.ts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../io/process";
import { labExecAsync, LabMachine, LabState } from "../lab/lab";
import { formatFigure, measured, NebulaRun, notMeasured } from "./labsection";
import {
  copyTo,
  joinPings,
  LabBenchOptions,
  MachineFile,
  measureIdleCpu,
  measureRssWith,
  onFreshLab,
  PENDING,
  reason,
  waitForNoPings,
  waitForPings,
  waitUntil,
  watchRotation,
} from "./labrun";
import { meshRows } from "./mesh";
import {
  caArgs,
  NEBULA_DIR,
  NEBULA_RELEASE,
  NebulaHost,
  nebulaInventory,
  nebulaRssScript,
  parseFingerprint,
  renderNebulaConfig,
  renderNebulaInventory,
  signArgs,
} from "./nebula";

/** The Go toolchain the module proxy serves for Nebula's go.mod (the machine's own Go is older). */
export const NEBULA_GO_TOOLCHAIN = "go1.27.3";
/** Where the built binaries are kept between runs: outside the repository, one folder a release. */
export const NEBULA_CACHE_DIR = process.env.BOREAL_NEBULA_CACHE ?? join("/var/cache/boreal-bench", `nebula-${NEBULA_RELEASE}`);
const NEBULA_MODULE = "github.com/slackhq/nebula";
/** The transient systemd unit nebula runs as on a lab machine. */
const UNIT = "boreal-bench-nebula";
const BINARY = "/usr/local/bin/nebula";
/** How long a reload may take to show in the log before the rotation is called failed. */
const SETTLE_SECONDS = 60;

export interface NebulaBinaries {
  nebula: string;
  nebulaCert: string;
}

/** nebula and nebula-cert of NEBULA_RELEASE, built once into NEBULA_CACHE_DIR with `go install`. */
export function ensureNebula(log: (line: string) => void, cacheDir = NEBULA_CACHE_DIR): NebulaBinaries {
  const binaries = { nebula: join(cacheDir, "nebula"), nebulaCert: join(cacheDir, "nebula-cert") };
  const version = NEBULA_RELEASE.replace(/^v/, "");
  const built = () =>
    existsSync(binaries.nebula) &&
    existsSync(binaries.nebulaCert) &&
    run(binaries.nebula, ["-version"], { allowFailure: true, timeoutMs: 10_000 }).stdout.includes(`Version: ${version}`);
  if (built()) return binaries;
  if (run("sh", ["-c", "command -v go"], { allowFailure: true }).status !== 0)
    throw new Error("the bench builds Nebula with Go, and `go` is not on this machine's PATH: install Go (Debian: apt-get install golang-go), or leave Nebula out with --only kit,role");
  mkdirSync(cacheDir, { recursive: true });
  log(`building Nebula ${NEBULA_RELEASE} (nebula, nebula-cert) from the Go module proxy into ${cacheDir}: a minute or two`);
  run(
    "nice",
    ["-n", "19", "go", "install", `${NEBULA_MODULE}/cmd/nebula@${NEBULA_RELEASE}`, `${NEBULA_MODULE}/cmd/nebula-cert@${NEBULA_RELEASE}`],
    {
      // Outside any module, so no go.mod of ours is read or touched.
      cwd: tmpdir(),
      env: { GOTOOLCHAIN: NEBULA_GO_TOOLCHAIN, GOBIN: cacheDir, GOFLAGS: "" },
      // Cold on 2 cores: the toolchain's download and a build of a few hundred packages.
      timeoutMs: 30 * 60_000,
      purpose: `building Nebula ${NEBULA_RELEASE} with go install (GOTOOLCHAIN=${NEBULA_GO_TOOLCHAIN})`,
    },
  );
  if (!built()) throw new Error(`go install left no working nebula ${version} in ${cacheDir}`);
  return binaries;
}

export function nebulaFigures(why: string): NebulaRun {
  return {
    bare: notMeasured(why),
    bareSetup: notMeasured(why),
    joinSetup: notMeasured(why),
    joinPing: notMeasured(why),
    joinPinged: notMeasured(why),
    rotation: { why },
    leaveSend: notMeasured(why),
    leaveGone: notMeasured(why),
    idleCpu: { why },
    rss: { why },
  };
}

const reload = `systemctl kill -s HUP ${UNIT}`;
const start = `systemd-run --unit=${UNIT} --collect ${BINARY} -config ${NEBULA_DIR}/config.yml`;

export async function nebulaRun(n: number, options: LabBenchOptions, binaries: NebulaBinaries): Promise<NebulaRun> {
  const { log } = options;
  const figures = nebulaFigures(PENDING);
  return onFreshLab("nebula", n, figures, options, async (state, dir) => {
    const cert = (args: string[]) => run(binaries.nebulaCert, args, { purpose: `nebula-cert ${args[0]}` }).stdout;
    const machineOf = (host: NebulaHost): LabMachine => state.machines.find((m) => m.name === host.name)!;
    const hosts = nebulaInventory(state.machines);
    const first = hosts.slice(0, n);
    const newcomer = hosts[n];
    const addresses = (list: NebulaHost[]) => Object.fromEntries(list.map((h) => [h.name, h.overlay]));
    writeFileSync(join(dir, "nebula-inventory.yml"), renderNebulaInventory(hosts));
    const pki = join(dir, "pki");
    mkdirSync(pki);
    /** A host's CA, certificate, key and config. */
    const filesOf = (host: NebulaHost): MachineFile[] => [
      { path: `${NEBULA_DIR}/ca.crt`, content: readFileSync(join(pki, "ca.crt")), mode: "644" },
      { path: `${NEBULA_DIR}/host.crt`, content: readFileSync(join(pki, `${host.name}.crt`)), mode: "644" },
      { path: `${NEBULA_DIR}/host.key`, content: readFileSync(join(pki, `${host.name}.key`)), mode: "600" },
      { path: `${NEBULA_DIR}/config.yml`, content: renderNebulaConfig(host, hosts), mode: "644" },
    ];

    // The binary on every machine first, as the image has wireguard-go for the others: not timed.
    const binary = readFileSync(binaries.nebula);
    await Promise.all(state.machines.map((m) => copyTo(state, dir, m, [{ path: BINARY, content: binary, mode: "755" }])));

    // Bare: the CA, the first N certificates, each host's files and its start, all hosts at once.
    const started = Date.now();
    cert(caArgs(pki));
    for (const host of first) cert(signArgs(host, pki, pki));
    await Promise.all(first.map((host) => copyTo(state, dir, machineOf(host), filesOf(host), start)));
    figures.bareSetup = measured(Date.now() - started);
    await waitForPings(state, dir, meshRows(addresses(first)));
    figures.bare = measured(Date.now() - started);
    log(`  nebula bare → every pair pings: ${formatFigure(figures.bare)} (setup ${formatFigure(figures.bareSetup)})`);

    // Join: the new host's certificate and files; nothing on any other host. Then its start.
    const joinStarted = Date.now();
    cert(signArgs(newcomer, pki, pki));
    await copyTo(state, dir, machineOf(newcomer), filesOf(newcomer));
    figures.joinSetup = measured(Date.now() - joinStarted);
    const startedAt = Date.now();
    const startResult = await labExecAsync(state, machineOf(newcomer), start, dir);
    if (startResult.status !== 0) throw new Error(`${newcomer.name}: nebula did not start: ${startResult.output.slice(-500)}`);
    const joined = await joinPings(state, dir, addresses(hosts), newcomer.name, startedAt);
    figures.joinPing = joined.ping;
    figures.joinPinged = joined.pinged;
    log(`  nebula join: setup ${formatFigure(figures.joinSetup)}, then ${formatFigure(joined.ping)} until it pings every other, ${formatFigure(joined.pinged)} until every other pings it`);

    const rss = measureRssWith(state, dir, nebulaRssScript());
    const without = Object.entries(rss).filter(([, services]) => !("nebula" in services)).map(([name]) => name);
    figures.rss = without.length > 0 ? { why: `nebula not running on ${without.join(", ")}` } : { perNode: Object.fromEntries(Object.entries(rss).map(([name, s]) => [name, s.nebula])) };
    figures.idleCpu = await measureIdleCpu(state);

    await measureNebulaRotation(state, dir, hosts, pki, cert, figures, log);

    // Leave: the new host's fingerprint into every other host's blocklist, each reloaded.
    const fingerprint = parseFingerprint(cert(["print", "-json", "-path", join(pki, `${newcomer.name}.crt`)]));
    const rest = hosts.filter((h) => h !== newcomer);
    const sendStarted = Date.now();
    const configWithBlocklist = (host: NebulaHost): MachineFile => ({ path: `${NEBULA_DIR}/config.yml`, content: renderNebulaConfig(host, hosts, [fingerprint]), mode: "644" });
    await Promise.all(rest.map((host) => copyTo(state, dir, machineOf(host), [configWithBlocklist(host)], reload)));
    figures.leaveSend = measured(Date.now() - sendStarted);
    const sent = Date.now();
    await waitForNoPings(state, dir, rest.map(machineOf), newcomer.overlay);
    figures.leaveGone = measured(Date.now() - sent);
    log(`  nebula leave: blocklist sent in ${formatFigure(figures.leaveSend)}, ${newcomer.name} unreachable ${formatFigure(figures.leaveGone)} after`);
  });
}

/**
 * The second host's key and certificate made anew (same name and address), copied and
 * reloaded (SIGHUP), watched by the third pinging it and the fourth, until the rotated host's
 * log says it re-handshook with the watcher on its new certificate.
 */
async function measureNebulaRotation(
  state: LabState,
  dir: string,
  hosts: NebulaHost[],
  pki: string,
  cert: (args: string[]) => string,
  figures: NebulaRun,
  log: (line: string) => void,
): Promise<void> {
  if (hosts.length < 4) {
    figures.rotation = { why: "needs N ≥ 3: a watcher, the rotated host and a bystander" };
    return;
  }
  const [rotated, watcher, bystander] = hosts.slice(1, 4).map((host) => ({ host, machine: state.machines.find((m) => m.name === host.name)!, address: host.overlay }));
  const rotatedDir = join(pki, "rotated");
  mkdirSync(rotatedDir);
  cert(signArgs(rotated.host, pki, rotatedDir));
  const files: MachineFile[] = [
    { path: `${NEBULA_DIR}/host.crt`, content: readFileSync(join(rotatedDir, `${rotated.host.name}.crt`)), mode: "644" },
    { path: `${NEBULA_DIR}/host.key`, content: readFileSync(join(rotatedDir, `${rotated.host.name}.key`)), mode: "600" },
  ];
  const logSince = (since: number, text: string) =>
    labExecAsync(state, rotated.machine, `journalctl -u ${UNIT} --since @${Math.floor(since / 1000)} -o cat --no-pager | grep -F '${text}'`, dir);
  try {
    const result = await watchRotation(
      state,
      dir,
      { tool: "nebula", log },
      { watcher, rotated, bystander },
      async () => {
        const at = Date.now();
        await copyTo(state, dir, rotated.machine, files, reload);
        return at;
      },
      async (at) => {
        await waitUntil(
          `${rotated.host.name} re-handshakes with ${watcher.host.name} on its new certificate`,
          async () => {
            const refreshed = await logSince(at, "refreshed from disk");
            const rehandshake = await logSince(at, "Re-handshaking with remote");
            return refreshed.status === 0 && rehandshake.status === 0 && rehandshake.output.includes(watcher.address);
          },
          SETTLE_SECONDS,
        );
      },
    );
    figures.rotation = result.tally;
  } catch (error) {
    log(`nebula rotation: ${(error as Error).message}`);
    figures.rotation = { why: reason(error) };
  }
}
