// `boreal registry check` (a registry verified exactly as the nodes verify it, for its CI;
// with --since or --held also as the nodes holding an earlier state do) and `boreal registry
// allowed-signers` (the file plain `ssh-keygen -Y verify` needs).
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { formatProblems, problemsFromZod } from "../core/values/problems";
import { escapeShort, escapeText } from "../core/values/escape";
import { descriptorPath, FEDERATION_DIR, federationPath, parseFederationVersion } from "../core/registry/format";
import { memberShare } from "../core/mesh/allocate";
import { REGISTRY_NAMESPACE } from "../core/registry/sshsig";
import { HeldState, Rejection, sha256, TrustAnchor, VerifiedRegistry } from "../core/registry/verify";
import { verifySources } from "../io/registry/read";
import { Parsed, wholeNumber } from "./args";
import { BorealError, EXIT } from "./errors";
import { CliIo, hint, jsonText, table } from "./output";
import { resolveRevision, withRevision } from "./registry-history";
import {
  AnchorCandidates,
  ChainEntry,
  chainOf,
  escapedProblems,
  fingerprint,
  misnamedVersions,
  orphanSignatures,
  pinLine,
  readSource,
  registryDir,
  registryFiles,
  rejectionLine,
  signaturesOf,
  Trusted,
  trustAnchor,
  verifiedTrusted,
  verifyDir,
  versionsIn,
} from "./registry-trust";

/** What the directory is checked against beside the anchor: what nodes held before (--since, --held). */
interface History {
  /** Where the held state came from, for the report: "--held FILE", "origin/main (1a2b3c4d)". */
  from: string[];
  /** Refusals found by comparing with the previous revision (a changed or removed federation version). */
  rejected: Rejection[];
  notes: string[];
}

export function check(a: Parsed, io: CliIo): number {
  const command = "boreal registry check";
  const dir = registryDir(a);
  const since = a.one("--since");
  const heldFile = a.one("--held");
  const writeHeld = a.one("--write-held");
  const given = heldFile === undefined ? undefined : readHeldFile(heldFile);
  const source = readSource(dir);
  const files = registryFiles(source);
  const here: AnchorCandidates = { name: (path) => join(dir, path), files, paths: source.files.map((f) => f.path) };
  const history: History = { from: heldFile === undefined ? [] : [`--held ${heldFile}`], rejected: [], notes: [] };
  let t: Trusted;
  if (since === undefined) {
    const { anchor, pinned } = trustAnchor(a.one("--trust"), [here], dir, io, command);
    t = verifiedTrusted(source, files, anchor, pinned, given);
  } else {
    const revision = resolveRevision(dir, since);
    history.from.push(`${since} (${revision.commit.slice(0, 12)})`);
    t = withRevision(dir, revision, `${basename(dir) || dir}@${since}`, (previous) => {
      const before = registryFiles(previous);
      // Unpinned, the anchor is the previous revision's lowest version: a change cannot bring its own.
      const { anchor, pinned } = trustAnchor(
        a.one("--trust"),
        [{ name: (path) => `${since}:${path}`, files: before, paths: previous.files.map((f) => f.path) }, here],
        dir,
        io,
        command,
      );
      const earlier = verifySources([previous], anchor, given && structuredClone(given));
      compareWithPrevious(since, before, earlier, anchor, files, history);
      return verifiedTrusted(source, files, anchor, pinned, earlier.held);
    });
  }

  const extra: Rejection[] = [];
  const chain = chainOf(t, extra);
  extra.push(...orphanSignatures(t));
  // Only what the directory holds fails the check; what nodes drop of what they held is said apart.
  const rejected: Rejection[] = [];
  const dropped: Rejection[] = [];
  const seen = new Set<string>();
  const add = (list: Rejection[], r: Rejection) => {
    const key = `${r.path}\0${r.reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    list.push(r);
  };
  for (const r of t.verified.rejected) add(r.source === "held state" ? dropped : rejected, r);
  for (const r of t.fresh?.rejected ?? []) add(rejected, r);
  for (const r of [...history.rejected, ...extra]) add(rejected, r);
  for (const path of misnamedVersions(here.paths)) {
    if (!rejected.some((r) => r.path === path))
      add(rejected, {
        source: t.source.name,
        path,
        reason: `is not a federation version's name: versions are ${FEDERATION_DIR}/1.yaml, ${FEDERATION_DIR}/2.yaml, ... without leading zeros (nodes never read it)`,
      });
  }

  const json = a.on("--json");
  const say = (line: string) => {
    if (!json) io.out(line);
  };
  const pending = pendingVersion(t, chain, rejected);
  const unpinned = t.pinned ? "" : " (UNPINNED: no --trust given)";
  const federation = t.verified.federation;
  if (!federation) {
    say(`${dir}: no trusted federation version, ${rejected.length} rejected object(s)${unpinned}`);
  } else {
    const settings = federation.settings;
    say(
      `${dir}: federation ${escapeText(settings.name)} version ${settings.version}, ${federation.nodes.length} node(s), ${rejected.length === 0 ? "valid" : `${rejected.length} rejected object(s)`}${pending ? `, version ${pending.version} pending` : ""}${unpinned}`,
    );
  }
  if (history.from.length > 0) {
    const held = t.fresh ? heldSummary(t) : "";
    say(
      `checked as a new node and as the nodes holding what ${history.from.join(", then ")} held${held}: rollbacks, same-serial swaps and lower serials after a tombstone are refused`,
    );
  }
  for (const note of history.notes) say(`note: ${note}`);
  if (federation) {
    const settings = federation.settings;
    say("versions:");
    for (const line of table(chain.map((c) => [String(c.version), `sha256 ${c.sha256}`, c.how]))) say(line);
    const mirrors = settings.mirrors.length ? `, mirrors ${settings.mirrors.map((m) => escapeShort(m)).join(" ")}` : "";
    say(
      `members of version ${settings.version} (domain ${escapeText(settings.domain)}, threshold ${settings.threshold} of ${settings.members.length}${mirrors}):`,
    );
    const memberRows = settings.members.map((m) => {
      const share = memberShare(settings, m.name)!;
      return [
        escapeText(m.name),
        `mesh ${escapeText(m.mesh)} ${share.ipv6.text}`,
        `zones ${m.zones.map(escapeText).join(" ")}`,
        `keys ${m.keys.map(fingerprint).join(" ")}`,
      ];
    });
    for (const line of table(memberRows)) say(line);
    say(`nodes (${federation.nodes.length}):`);
    const nodeRows = federation.nodes.map((n) => [
      `${escapeText(n.node)} (${escapeText(n.member)})`,
      `serial ${n.serial}`,
      escapeText(n.mesh.ipv4),
      escapeText(n.mesh.ipv6),
      n.zones.map(escapeText).join(" "),
    ]);
    for (const line of table(nodeRows)) say(line);
    const held = t.verified.held.nodes;
    if (t.verified.departed.length > 0) {
      say(`departed (${t.verified.departed.length}):`);
      for (const line of table(
        t.verified.departed.map((node) => [
          `${escapeText(node)} (${escapeText(held[node]?.member ?? "?")})`,
          `serial ${held[node]?.serial ?? "?"}`,
          "left",
        ]),
      ))
        say(line);
    }
    if (t.fresh) {
      // An object disappearing removes nothing from a node (only a signed tombstone does).
      const missing = Object.keys(held)
        .filter((node) => !files.has(descriptorPath(node)))
        .sort();
      if (missing.length > 0) {
        say(
          `held, but not in ${dir} (${missing.length}): the nodes holding it keep it (only a signed tombstone removes a node); a new node never learns it`,
        );
        for (const node of missing)
          say(`  ${escapeText(descriptorPath(node))} (serial ${held[node].serial}${held[node].left ? ", a tombstone" : ""})`);
      }
    }
  }
  if (pending) {
    say("pending (1): collecting signatures, not a rejection (nodes keep the newest trusted version until it has enough):");
    say(`  ${pendingLine(pending, dir)}`);
  }
  if (rejected.length > 0) {
    say(`rejected (${rejected.length}):`);
    for (const r of rejected) say(rejectionLine(r));
  }
  if (dropped.length > 0) {
    say(`dropped from what was held (${dropped.length}), as the nodes holding it drop them:`);
    for (const r of dropped) say(rejectionLine(r));
  }
  const newest = chain[chain.length - 1];
  if (newest && federation) {
    say(
      t.pinned
        ? "pin of the newest trusted version, for each stack of the federation:"
        : "pin of the newest version (UNPINNED check: compare it with the other members over a channel you trust before you use it):",
    );
    say(`  ${pinLine({ version: newest.version, sha256: t.verified.version!.sha256 })}`);
  }
  if (writeHeld !== undefined) {
    if (!federation) io.err(`${command}: --write-held ${writeHeld} not written: nothing of ${dir} could be trusted`);
    else {
      writeHeldFile(writeHeld, t.verified.held, { registry: dir, since, held: heldFile });
      say(
        `wrote ${writeHeld}: what a node holds after this check (federation version ${federation.settings.version}, ${Object.keys(t.verified.held.nodes).length} node object(s)); give it to the next check with --held ${writeHeld}`,
      );
    }
  }
  const exitCode = rejected.length > 0 || !federation ? EXIT.problem : pending ? EXIT.pending : EXIT.ok;
  if (json) io.out(jsonText(checkData({ dir, t, chain, rejected, dropped, pending, history, exitCode })));
  return exitCode;
}

/** A proposed version collecting signatures: the next one, well-formed, signed by fewer members than it needs. */
interface Pending {
  version: number;
  path: string;
  sha256: string;
  signers: string[];
  missing: string[];
  needed: number;
  /** The version whose members sign it. */
  signedBy: number;
}

/**
 * The draft after the newest trusted version, when all it lacks is signatures: taken out of
 * the rejections (a registry's CI stays green while an admission collects them). Anything
 * else wrong with it (not parseable, a bad signature) stays a rejection.
 */
function pendingVersion(t: Trusted, chain: ChainEntry[], rejected: Rejection[]): Pending | undefined {
  const newest = chain[chain.length - 1]?.value;
  if (!newest) return undefined;
  const version = newest.version + 1;
  const path = federationPath(version);
  const content = t.files.get(path);
  if (content === undefined) return undefined;
  const parsed = parseFederationVersion({ path, content });
  if ("problems" in parsed || parsed.value.version !== version) return undefined;
  const report = signaturesOf(t.files, version, newest);
  if (report.enough || report.bad.length > 0) return undefined;
  const own = rejected.filter((r) => r.path === path);
  if (own.length === 0) return undefined;
  for (const r of own) rejected.splice(rejected.indexOf(r), 1);
  return {
    version,
    path,
    sha256: sha256(content),
    signers: report.signers,
    missing: newest.members.map((m) => m.name).filter((name) => !report.signers.includes(name)),
    needed: newest.threshold,
    signedBy: newest.version,
  };
}

function pendingLine(p: Pending, dir: string): string {
  const e = (names: string[]) => names.map(escapeText).join(", ") || "none";
  return `${p.path}: signed by ${p.signers.length} of the ${p.needed} needed from version ${p.signedBy}'s members (${e(p.signers)}; not yet: ${e(p.missing)}); each signs with ${hint(`registry sign ${dir} --version ${p.version} --member NAME --key KEYFILE`)}`;
}

/** `registry check --json`: what the text says, as data (names and keys as in the files; JSON escapes what a terminal would act on). */
function checkData(r: {
  dir: string;
  t: Trusted;
  chain: ChainEntry[];
  rejected: Rejection[];
  dropped: Rejection[];
  pending: Pending | undefined;
  history: History;
  exitCode: number;
}) {
  const federation = r.t.verified.federation;
  const settings = federation?.settings;
  const newest = r.chain[r.chain.length - 1];
  return {
    registry: r.dir,
    pinned: r.t.pinned,
    valid: r.exitCode !== EXIT.problem,
    exitCode: r.exitCode,
    checkedAgainst: r.history.from,
    notes: r.history.notes,
    federation: settings
      ? {
          name: settings.name,
          version: settings.version,
          domain: settings.domain,
          threshold: settings.threshold,
          mesh: settings.mesh,
          mirrors: settings.mirrors,
          members: settings.members.map((m) => ({
            name: m.name,
            mesh: { ipv4: m.mesh, ipv6: memberShare(settings, m.name)!.ipv6.text },
            zones: m.zones,
            nodes: m.nodes,
            keys: m.keys.map((key) => ({ key, fingerprint: fingerprint(key) })),
          })),
        }
      : null,
    versions: r.chain.map((c) => ({ version: c.version, sha256: c.value ? c.sha256 : null, how: c.how })),
    nodes: (federation?.nodes ?? []).map((n) => ({
      node: n.node,
      member: n.member,
      serial: n.serial,
      mesh: n.mesh,
      zones: n.zones,
    })),
    departed: r.t.verified.departed,
    pending: r.pending ? [r.pending] : [],
    rejected: r.rejected,
    dropped: r.dropped,
    pin: newest && federation ? { version: newest.version, sha256: r.t.verified.version!.sha256 } : null,
  };
}

function heldSummary(t: Trusted): string {
  const held = t.verified.held;
  const nodes = Object.values(held.nodes);
  const version = held.federation ? `federation version ${held.federation.version}, ` : "";
  return ` (they then hold ${version}${nodes.length} node object(s), ${nodes.filter((n) => n.left).length} of them tombstones)`;
}

/**
 * What the previous revision accepted must stay as it was: every federation version of its
 * chain, byte for byte (a node pinned to an early version chains through them all). And a
 * previous revision that nothing of can be trusted cannot vouch for anything.
 */
function compareWithPrevious(
  since: string,
  before: Map<string, string>,
  earlier: VerifiedRegistry,
  anchor: TrustAnchor,
  files: Map<string, string>,
  history: History,
): void {
  const source = `${since}`;
  if (!earlier.version) {
    if (versionsIn(before.keys()).length === 0) {
      history.notes.push(`${escapeText(since)} holds no federation version: nothing was held before, so nothing can be rolled back`);
      return;
    }
    history.rejected.push({
      source,
      path: `${since}:${FEDERATION_DIR}/`,
      reason:
        "nothing of the previous revision can be trusted with this pin, so it cannot be compared: check --trust (your stack's boreal:trust)",
    });
    for (const r of earlier.rejected.filter((x) => x.path.startsWith(`${FEDERATION_DIR}/`)))
      history.rejected.push({ ...r, path: `${since}:${r.path}` });
    return;
  }
  for (let version = anchor.version; version <= earlier.version.version; version++) {
    const path = federationPath(version);
    const was =
      version === earlier.version.version && earlier.held.federation?.version === version
        ? earlier.held.federation.content
        : before.get(path);
    if (was === undefined) continue;
    const now = files.get(path);
    if (now === undefined) {
      history.rejected.push({
        source,
        path,
        reason: `removed since ${since}, where it was accepted: a federation version stays (nodes pinned to an earlier version chain through it)`,
      });
    } else if (now !== was) {
      history.rejected.push({
        source,
        path,
        reason: `changed since ${since}, where it was accepted (sha256 ${sha256(was).slice(0, 12)}… → ${sha256(now).slice(0, 12)}…): an accepted version never changes; draft the next one (${hint("registry admit")})`,
      });
    }
  }
}

// held state (--held, --write-held)

const MAX_HELD_FILE_BYTES = 256 * 1024 * 1024;
const HELD_FIX = `give the agent's /var/lib/boreal/state.json, or a file ${hint("registry check --write-held")} wrote`;

const heldFileSchema = z.looseObject({
  held: z.looseObject({
    federation: z
      .looseObject({ version: z.number().int().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), content: z.string() })
      .optional(),
    nodes: z.record(
      z.string(),
      z.looseObject({ serial: z.number(), left: z.boolean(), member: z.string(), content: z.string(), signature: z.string() }),
    ),
  }),
});

/** The held state in FILE: the agent's state.json, or what --write-held wrote (both keep it under "held"). */
function readHeldFile(file: string): HeldState {
  let text: string;
  try {
    if (statSync(file).size > MAX_HELD_FILE_BYTES)
      throw new BorealError(`--held ${file} is over ${MAX_HELD_FILE_BYTES / 1024 / 1024} MiB: no held state is that large`, {
        where: "--held",
        fix: HELD_FIX,
      });
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (error instanceof BorealError) throw error;
    throw new BorealError(
      `--held ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? escapeText((error as Error).message)})`,
      { where: "--held", fix: HELD_FIX },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BorealError(`--held ${file} is not JSON: ${escapeShort((error as Error).message)}`, { where: "--held", fix: HELD_FIX });
  }
  const parsed = heldFileSchema.safeParse(value);
  if (!parsed.success) {
    throw new BorealError(
      formatProblems(escapedProblems(problemsFromZod(parsed.error, file, ""))).replace(
        /^boreal-kit found/,
        `--held ${file} is not a held state:`,
      ),
      { where: "--held", fix: HELD_FIX },
    );
  }
  const held = parsed.data.held as HeldState;
  if (held.federation && sha256(held.federation.content) !== held.federation.sha256) {
    throw new BorealError(`--held ${file}: held.federation.content does not match its sha256 (the file was changed by hand or damaged)`, {
      where: "--held",
      fix: HELD_FIX,
    });
  }
  return held;
}

function writeHeldFile(file: string, held: HeldState, about: { registry: string; since?: string; held?: string }): void {
  const content = {
    about: `boreal registry check --write-held: what a node holds after this registry; give it to ${hint("registry check --held")}. Keep it where only the CI writes: it is trusted as a node trusts its own state.`,
    writtenAt: new Date().toISOString(),
    ...about,
    held,
  };
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o644 });
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new BorealError(
      `--write-held ${file} cannot be written (${(error as NodeJS.ErrnoException).code ?? escapeText((error as Error).message)})`,
      { where: "--write-held", fix: "give a file in a directory you can write to" },
    );
  }
}

export function allowedSigners(a: Parsed, io: CliIo): number {
  const dir = registryDir(a);
  const wanted = wholeNumber(a.one("--version"), "--version", 1);
  const t = verifyDir(dir, a.one("--trust"), io);
  const chain = chainOf(t, []);
  if (chain.length === 0) {
    io.err(`boreal registry allowed-signers: ${dir} has no trusted federation version:`);
    for (const r of t.verified.rejected) io.err(rejectionLine(r));
    io.err("  fix: check --trust against your stack's boreal:trust, or update the clone (git pull)");
    return 1;
  }
  const entry = wanted === undefined ? chain[chain.length - 1] : chain.find((c) => c.version === wanted);
  if (!entry?.value)
    throw new BorealError(`--version ${wanted} is not a trusted version of ${dir} (trusted: ${chain.map((c) => c.version).join(", ")})`, {
      where: "--version",
      fix: "pick one of the trusted versions, or pin an earlier one with --trust",
    });
  const v = entry.value;
  if (a.on("--json")) {
    const signers = v.members.flatMap((m) => m.keys.map((key) => ({ member: m.name, key, fingerprint: fingerprint(key) })));
    io.out(jsonText({ federation: v.name, version: v.version, sha256: entry.sha256, namespace: REGISTRY_NAMESPACE, signers }));
    return 0;
  }
  io.out(
    `# allowed_signers of federation ${escapeText(v.name)} version ${v.version} (sha256 ${entry.sha256}), namespace ${REGISTRY_NAMESPACE}.`,
  );
  const verify = (sig: string, object: string) =>
    `ssh-keygen -Y verify -f allowed_signers -I MEMBER -n ${REGISTRY_NAMESPACE} -s ${sig} < ${object}`;
  const uses: [string, string][] = [];
  if (entry === chain[chain.length - 1]) uses.push(["a node object", verify("nodes/NODE.yaml.sig", "nodes/NODE.yaml")]);
  if (v.version === 1) uses.push(["a founder's signature of version 1", verify("federation/1.yaml.MEMBER.sig", "federation/1.yaml")]);
  uses.push([
    `a signature of version ${v.version + 1}`,
    verify(`federation/${v.version + 1}.yaml.MEMBER.sig`, `federation/${v.version + 1}.yaml`),
  ]);
  io.out("# Check a signature with plain OpenSSH, in the registry directory:");
  for (const line of table(
    uses.map(([what, command]) => [`${what}:`, command]),
    "#   ",
  ))
    io.out(line);
  // One line per key: an escape keeps a hostile name or key on its line (it then matches nothing).
  for (const m of v.members)
    for (const key of m.keys) io.out(`${escapeText(m.name)} namespaces="${REGISTRY_NAMESPACE}" ${escapeText(key)}`);
  return 0;
}
