// The lab's S3 server, for Pulumi state kept the way a team keeps it (issue #28): SeaweedFS
// (Apache-2.0), a real, maintained S3-compatible server, built once from the Go module proxy
// (its go.mod has replace directives, so `go install` refuses it: it is built from the
// downloaded module) and cached outside the repository. A lab test starts one on an address of
// this host's (the loopback by default: the lab's Pulumi CLI runs in the host's namespace),
// with credentials of its own that the server checks, and one bucket; Pulumi's S3 backend
// keeps the members' stacks in it. Nothing of SeaweedFS goes into the repository.
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { contains, isIPv4, parseCidr, parseIPv4 } from "../core/values/ip";
import { ProcessError, run, runAsync, startDetached } from "../io/process";
import { pidAlive, stopProcesses } from "./net";

export const SEAWEEDFS_MODULE = "github.com/seaweedfs/seaweedfs";
/** The module version built: a pseudo-version of its master (the proxy serves no tagged release as a module). */
export const SEAWEEDFS_VERSION = "v0.0.0-20261109003541-7506e5f91cd6";
/** The Go toolchain the module proxy serves for its go.mod (the machine's own Go may be older). */
export const SEAWEEDFS_GO_TOOLCHAIN = "go1.27.3";
/** Where the built `weed` is kept between runs: outside the repository, one folder a version. */
export const SEAWEEDFS_CACHE_DIR = process.env.BOREAL_SEAWEEDFS_CACHE ?? `/var/cache/boreal-lab/seaweedfs-${SEAWEEDFS_VERSION}`;
/** Written beside the binary once it is built and answers: the module and version it is. */
const COMPLETE = "weed.complete";

/** The region Pulumi's S3 backend is told; SeaweedFS takes any. */
export const LAB_S3_REGION = "us-east-1";
/** The host's uplink in this workplace: never a lab address. */
const UPLINK = parseCidr("192.0.2.0/24");

/** Whether `cacheDir` holds a complete build of SEAWEEDFS_VERSION. */
export function seaweedfsBuilt(cacheDir = SEAWEEDFS_CACHE_DIR): boolean {
  const marker = join(cacheDir, COMPLETE);
  return (
    existsSync(join(cacheDir, "weed")) &&
    existsSync(marker) &&
    readFileSync(marker, "utf8").trim() === `${SEAWEEDFS_MODULE}@${SEAWEEDFS_VERSION}`
  );
}

/**
 * The `weed` binary of SEAWEEDFS_VERSION, built first when the cache has none: the module
 * downloaded from the Go module proxy, copied where it may be written, and `go build ./weed`
 * in it at the lowest priority (cold: about 6 minutes on 2 cores, a few hundred MB of module
 * cache). A second call is instant.
 */
export async function ensureSeaweedfs(
  log: (line: string) => void,
  cacheDir = SEAWEEDFS_CACHE_DIR,
): Promise<{ weed: string; built: boolean; seconds: number }> {
  const weed = join(cacheDir, "weed");
  if (seaweedfsBuilt(cacheDir)) return { weed, built: false, seconds: 0 };
  if (run("sh", ["-c", "command -v go"], { allowFailure: true }).status !== 0)
    throw new Error(
      "the lab's S3 server (SeaweedFS) is built with Go, and `go` is not on this machine's PATH: install Go (Debian: apt-get install golang-go, or put /usr/local/go/bin on the PATH)",
    );
  const started = Date.now();
  const env = { GOTOOLCHAIN: SEAWEEDFS_GO_TOOLCHAIN, GOFLAGS: "-mod=mod" };
  const module = `${SEAWEEDFS_MODULE}@${SEAWEEDFS_VERSION}`;
  log(`building SeaweedFS ${SEAWEEDFS_VERSION} (weed) from the Go module proxy into ${cacheDir}: about 6 minutes on 2 cores, once`);
  const downloaded = await runAsync("go", ["mod", "download", "-json", module], {
    // Outside any module, so no go.mod of ours is read or touched.
    cwd: tmpdir(),
    env,
    timeoutMs: 15 * 60_000,
    purpose: `downloading ${module} from the Go module proxy (GOTOOLCHAIN=${SEAWEEDFS_GO_TOOLCHAIN})`,
  });
  const moduleDir = (JSON.parse(downloaded.stdout) as { Dir?: string }).Dir;
  if (!moduleDir || !existsSync(moduleDir))
    throw new Error(`go mod download named no directory for ${module}: ${downloaded.stdout.trim()}`);
  // The module cache is read-only, and the build with -mod=mod may write go.sum: a copy of our own.
  const partial = `${cacheDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const source = join(partial, "src");
  cpSync(moduleDir, source, { recursive: true, mode: 0 });
  run("chmod", ["-R", "u+w", source]);
  await runAsync("nice", ["-n", "19", "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", join(partial, "weed"), "./weed"], {
    cwd: source,
    env,
    timeoutMs: 60 * 60_000,
    purpose: `building SeaweedFS ${SEAWEEDFS_VERSION} (go build ./weed, GOTOOLCHAIN=${SEAWEEDFS_GO_TOOLCHAIN})`,
  });
  const version = run(join(partial, "weed"), ["version"], { timeoutMs: 30_000, allowFailure: true });
  if (version.status !== 0)
    throw new Error(`the built weed does not answer \`weed version\`: ${version.stderr.trim() || version.stdout.trim()}`);
  mkdirSync(cacheDir, { recursive: true });
  renameSync(join(partial, "weed"), weed);
  writeFileSync(join(cacheDir, COMPLETE), `${module}\n`);
  rmSync(partial, { recursive: true, force: true });
  return { weed, built: true, seconds: Math.round((Date.now() - started) / 1000) };
}

/** An S3 bucket name as S3 takes it: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, not an IPv4 address. */
export function checkBucketName(bucket: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes("..") || isIPv4(bucket))
    throw new Error(
      `bucket must be 3 to 63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit (not an IPv4 address), got ${JSON.stringify(bucket)}: e.g. bucket: "boreal-state"`,
    );
}

/**
 * An address the server may listen on: an IPv4 address of this host's, the loopback or the lab's
 * host address; never all addresses, never the uplink's 192.0.2.0/24.
 */
export function checkListenAddress(address: string): void {
  const fix = 'e.g. address: "127.0.0.1" (the loopback), or the lab\'s host address (198.51.100.1)';
  if (!isIPv4(address)) throw new Error(`address must be an IPv4 address of this host's, got ${JSON.stringify(address)}: ${fix}`);
  if (address === "0.0.0.0") throw new Error(`address 0.0.0.0 would listen on every address of this host's, the uplink's too: ${fix}`);
  if (contains(UPLINK, parseIPv4(address)))
    throw new Error(`address ${address} is in ${UPLINK.text}, the host's uplink, never the lab's: ${fix}`);
}

/** A TCP port a server listens on. */
export function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${field} must be a whole number from 1 to 65535, got ${String(port)}`);
}

/** Pulumi's S3 backend URL (for PULUMI_BACKEND_URL or a project's backend.url) of a bucket on an S3 server spoken to over plain HTTP. */
export function s3BackendUrl(bucket: string, address: string, port: number): string {
  checkBucketName(bucket);
  checkListenAddress(address);
  checkPort(port, "port");
  // Without response_checksum_validation, Pulumi's AWS SDK warns at every read from a server that sends no checksums.
  return `s3://${bucket}?endpoint=http://${address}:${port}&s3ForcePathStyle=true&region=${LAB_S3_REGION}&response_checksum_validation=when_required`;
}

/** The ports a SeaweedFS server of the lab takes; each gRPC port is its HTTP port + 10000, SeaweedFS's own rule. */
export interface WeedPorts {
  master: number;
  volume: number;
  filer: number;
  s3: number;
}

/** The gRPC port SeaweedFS derives from a server's HTTP port. */
export const grpcPort = (port: number) => port + 10_000;

/**
 * `weed server`'s arguments: master, volume server, filer and S3 gateway in one process, every
 * one of them listening on `address` alone (their gRPC ports too), with its data in `dataDir`;
 * the S3 gateway checks the credentials of `configFile`. What it would do beyond that is off:
 * the telemetry it sends to its makers by default (there is no route out, and a lab never
 * reports), the Iceberg and Lance catalogs on ports of their own, the Unix sockets it puts in /tmp.
 */
export function weedServerArgs(options: {
  dataDir: string;
  address: string;
  ports: WeedPorts;
  configFile: string;
  socketDir: string;
}): string[] {
  const { dataDir, address, ports, configFile, socketDir } = options;
  checkListenAddress(address);
  for (const [name, port] of Object.entries(ports)) {
    checkPort(port, `ports.${name}`);
    checkPort(grpcPort(port), `ports.${name} + 10000 (its gRPC port)`);
  }
  return [
    "server",
    `-dir=${dataDir}`,
    `-ip=${address}`,
    `-ip.bind=${address}`,
    `-master.port=${ports.master}`,
    `-volume.port=${ports.volume}`,
    `-filer`,
    `-filer.port=${ports.filer}`,
    `-filer.localSocket=${join(socketDir, "filer.sock")}`,
    `-s3`,
    `-s3.port=${ports.s3}`,
    `-s3.config=${configFile}`,
    `-s3.localSocket=${join(socketDir, "s3.sock")}`,
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
    "-master.telemetry=false",
    // A volume server waits 10 s for clients to go elsewhere before it stops: there is nowhere else.
    "-volume.preStopSeconds=0",
    // One master, so no one to wait for: at a restart it leads again after this, not after 10 s.
    "-master.electionTimeout=1s",
    // Small volumes: a lab's state is a few MB, and each bucket grows volumes of its own.
    "-master.volumeSizeLimitMB=64",
    "-volume.max=16",
  ];
}

/** The S3 gateway's identities (its -s3.config file): one, with every right, and no anonymous access. */
export function s3Identities(accessKey: string, secretKey: string): string {
  return `${JSON.stringify(
    {
      identities: [{ name: "boreal-lab", credentials: [{ accessKey, secretKey }], actions: ["Admin", "Read", "List", "Tagging", "Write"] }],
    },
    null,
    2,
  )}\n`;
}

export interface LabS3Options {
  /** A directory of the caller's (a lab test's scratch); the server's data, log and credentials go in `dir`/s3. */
  dir: string;
  /** The one bucket, created at the first start. */
  bucket: string;
  /** Where every one of its ports listens: the loopback by default (the lab's Pulumi CLI runs in the host's namespace). */
  address?: string;
  /** The whole wait for it to answer, at a start or a restart; default 120 s (a cold start here: a few seconds). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /** The built weed; default: ensureSeaweedfs's cache, built first when missing. */
  weed?: string;
}

export interface LabS3 {
  readonly bucket: string;
  readonly address: string;
  /** The S3 gateway's port. */
  readonly port: number;
  /** `s3://BUCKET?endpoint=http://ADDRESS:PORT&s3ForcePathStyle=true&region=us-east-1&response_checksum_validation=when_required`. */
  readonly backendUrl: string;
  /** What Pulumi needs to use it: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (checked by the server), AWS_REGION. */
  readonly env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string; AWS_REGION: string };
  /** The weed process's pid while it runs. */
  readonly pid: number | undefined;
  /** Its log file (every start appends to it). */
  readonly logFile: string;
  /** Stops the process (by its pid) and starts it again on the same data and ports; resolves once it answers, with the seconds the whole took. */
  restart(): Promise<number>;
  /** Stops the process by its pid (SIGTERM; SIGKILL after WEED_STOP_GRACE_MS). Idempotent. */
  stop(): void;
}

/**
 * How long weed server may take to end after SIGTERM before it is killed: its filer's graceful
 * stop waits 15 s for a stream of its own S3 gateway's that never ends (measured here: it exits
 * by itself 15.2 s after SIGTERM, its volumes and filer store closed within the first second).
 */
export const WEED_STOP_GRACE_MS = 25_000;

/** Where a lab S3 server of `dir` keeps everything. */
const s3Dir = (dir: string) => resolve(dir, "s3");

/**
 * Starts SeaweedFS (master, volume server, filer, S3 gateway in one process) on `address`, with
 * the bucket and credentials of its own, and resolves once the bucket exists and the S3
 * gateway answers; a server of the same directory left by a crashed run is stopped first.
 */
export async function startLabS3(options: LabS3Options): Promise<LabS3> {
  const address = options.address ?? "127.0.0.1";
  checkBucketName(options.bucket);
  checkListenAddress(address);
  const log = options.log ?? (() => undefined);
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  const weed = options.weed ?? (await ensureSeaweedfs(log)).weed;
  const home = s3Dir(options.dir);
  for (const pid of labS3Processes(options.dir)) stopProcesses([pid], WEED_STOP_GRACE_MS);
  const dataDir = join(home, "data");
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(home, "identities.json");
  const keys = { accessKey: `BOREAL${randomBytes(7).toString("hex").toUpperCase()}`, secretKey: randomBytes(30).toString("base64url") };
  writeFileSync(configFile, s3Identities(keys.accessKey, keys.secretKey), { mode: 0o600 });
  const ports = await freePorts(address);
  const args = weedServerArgs({ dataDir, address, ports, configFile, socketDir: home });
  const logFile = join(home, "weed.log");
  const backendUrl = s3BackendUrl(options.bucket, address, ports.s3);
  let pid: number | undefined;

  const start = async (create: boolean): Promise<number> => {
    const started = Date.now();
    pid = startDetached(weed, args, { cwd: home, log: logFile, purpose: "starting the lab's S3 server (weed server)" });
    try {
      await waitReady({ weed, pid, address, ports, bucket: options.bucket, create, logFile, deadline: started + timeoutMs });
    } catch (error) {
      stopProcesses([pid], WEED_STOP_GRACE_MS);
      pid = undefined;
      throw error;
    }
    return (Date.now() - started) / 1000;
  };
  const stop = () => {
    if (pid !== undefined) stopProcesses([pid], WEED_STOP_GRACE_MS);
    pid = undefined;
    // Its gRPC Unix sockets are always in /tmp, named by port; a clean stop removes them, a killed one leaves them.
    for (const socket of grpcSockets(ports)) rmSync(socket, { force: true });
  };

  const seconds = await start(true);
  log(`lab S3 server: SeaweedFS on ${address}:${ports.s3}, bucket ${options.bucket}, answering in ${seconds.toFixed(1)} s (pid ${pid})`);
  return {
    bucket: options.bucket,
    address,
    port: ports.s3,
    backendUrl,
    env: { AWS_ACCESS_KEY_ID: keys.accessKey, AWS_SECRET_ACCESS_KEY: keys.secretKey, AWS_REGION: LAB_S3_REGION },
    get pid() {
      return pid;
    },
    logFile,
    restart: async () => {
      const begun = Date.now();
      stop();
      const stopped = (Date.now() - begun) / 1000;
      const again = await start(false);
      log(`lab S3 server: restarted: stopped in ${stopped.toFixed(1)} s, answering again ${again.toFixed(1)} s later (pid ${pid})`);
      return stopped + again;
    },
    stop,
  };
}

/** Lab S3 servers of `dir`, by their command line (also after a crash lost their pid): weed server with `dir`'s data. */
export function labS3Processes(dir: string): number[] {
  const mine = `-dir=${join(s3Dir(dir), "data")}`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return args[1] === "server" && args.includes(mine);
      } catch {
        return false;
      }
    });
}

/** The gRPC sockets weed server opens in /tmp whatever it is told, by its servers' gRPC ports. */
export function grpcSockets(ports: WeedPorts): string[] {
  return [
    `/tmp/seaweedfs-master-grpc-${grpcPort(ports.master)}.sock`,
    `/tmp/seaweedfs-volume-grpc-${grpcPort(ports.volume)}.sock`,
    `/tmp/seaweedfs-filer-grpc-${grpcPort(ports.filer)}.sock`,
    `/tmp/seaweedfs-s3-grpc-${grpcPort(ports.s3)}.sock`,
  ];
}

/** Four ports free on `address` whose gRPC ports (+10000) are free too, from 20000 to 29999. */
async function freePorts(address: string): Promise<WeedPorts> {
  const chosen: number[] = [];
  for (let tries = 0; chosen.length < 4; tries++) {
    if (tries > 200) throw new Error(`no four free pairs of ports (p and p + 10000, p from 20000 to 29999) on ${address}`);
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (chosen.includes(port)) continue;
    if ((await portFree(address, port)) && (await portFree(address, grpcPort(port)))) chosen.push(port);
  }
  const [master, volume, filer, s3] = chosen;
  return { master, volume, filer, s3 };
}

function portFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(false));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The log's last lines, for an error. */
function tail(logFile: string, lines = 15): string {
  const text = existsSync(logFile) ? readFileSync(logFile, "utf8").trimEnd() : "";
  return text ? text.split("\n").slice(-lines).join("\n") : "(its log is empty)";
}

/**
 * Until the deadline: the process runs, `weed shell` lists the bucket (creating it first when
 * asked), and the S3 gateway answers a request on the bucket with S3's own refusal of an
 * unsigned request (AccessDenied: it checks credentials).
 */
async function waitReady(w: {
  weed: string;
  pid: number;
  address: string;
  ports: WeedPorts;
  bucket: string;
  create: boolean;
  logFile: string;
  deadline: number;
}): Promise<void> {
  const shell = async (command: string) => {
    try {
      const result = await runAsync(w.weed, ["shell", `-master=${w.address}:${w.ports.master}`, `-filer=${w.address}:${w.ports.filer}`], {
        input: `${command}\nexit\n`,
        timeoutMs: 20_000,
        allowFailure: true,
      });
      return `${result.stdout}${result.stderr}`;
    } catch (error) {
      if (error instanceof ProcessError) return error.message;
      throw error;
    }
  };
  let last = "nothing yet";
  for (;;) {
    if (!pidAlive(w.pid))
      throw new Error(
        `the lab's S3 server (weed server, pid ${w.pid}) ended before it answered; its log ${w.logFile}:\n${tail(w.logFile)}`,
      );
    if (Date.now() > w.deadline)
      throw new Error(
        `the lab's S3 server did not answer on ${w.address}:${w.ports.s3} in time (last: ${last}); its log ${w.logFile}:\n${tail(w.logFile)}`,
      );
    const listed = await shell("s3.bucket.list");
    if (!bucketListed(listed, w.bucket)) {
      // Created once the master and the filer answer (before, the command fails and is tried again).
      const said = w.create ? await shell(`s3.bucket.create -name ${w.bucket}`) : listed;
      last = `weed shell ${w.create ? "s3.bucket.create" : "s3.bucket.list"}: ${said.trim().split("\n").slice(-2).join(" / ") || "(nothing)"}`;
      await pause(500);
      continue;
    }
    const answer = await s3Answer(w.address, w.ports.s3, w.bucket);
    if (answer.status === 403 && answer.body.includes("<Code>AccessDenied</Code>")) return;
    last = `GET /${w.bucket} on the S3 port: ${answer.status} ${answer.body.slice(0, 200)}`;
    await pause(500);
  }
}

/** Whether `weed shell`'s s3.bucket.list output names the bucket (one line a bucket, `  NAME\tsize:…`). */
export function bucketListed(output: string, bucket: string): boolean {
  return output.split("\n").some((line) => line.trim().split(/\s+/)[0] === bucket);
}

function s3Answer(address: string, port: number, bucket: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise) => {
    // agent: false: no keep-alive connection left open, which a stopping server would wait for.
    const req = request({ host: address, port, path: `/${bucket}`, method: "GET", timeout: 5_000, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", (error) => resolvePromise({ status: 0, body: error.message }));
    req.end();
  });
}
