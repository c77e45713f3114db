// `boreal registry init|admit|sign`: how a federation changes. init writes its version 1,
// admit drafts the next version from the newest trusted one, sign adds a member's signature;
// each says what changed and what comes next.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatProblems, problemsFromZod, withoutKey } from "../core/values/problems";
import { escapeShort, escapeText } from "../core/values/escape";
import { FEDERATION_DIR, federationPath, federationSchema, FederationVersion, parseFederationVersion } from "../core/registry/format";
import { parseSshPublicKey, REGISTRY_NAMESPACE } from "../core/registry/sshsig";
import { sha256 } from "../core/registry/verify";
import { describeSigner, Signer, signerPublicKey } from "../io/registry/sign";
import { signFederationVersion, writeFederationVersion } from "../io/registry/write";
import { attestationInboxProblems, INBOX_MAX_PUSH_BYTES, installAttestationInbox } from "../io/registry/inbox";
import { git, gitRun } from "../io/git";
import { Parsed, required, wholeNumber } from "./args";
import { EXIT, inputError, unavailableError, usageError } from "./errors";
import { BOREAL_COMMAND, CliIo, hint, jsonText } from "./output";
import { escapedProblems, fingerprint, pinLine, readSource, registryDir, signaturesOf, verifyDir, versionsOnDisk } from "./registry-trust";

export const MEMBER_SPEC = "NAME:PUBKEYFILE:ZONE[,ZONE...]:MESHCIDR";
export const NODES_SPEC = "NAME:NODE[,NODE...]";

/** The public keys in a file: one `ssh-ed25519 AAAA... comment` per line. */
function readPublicKeys(file: string, flag: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw inputError(
      `${flag}: cannot read public key file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      "give the path of the member's ssh-ed25519 public key, e.g. ~/.ssh/id_ed25519.pub",
      flag,
    );
  }
  if (/PRIVATE KEY/.test(text))
    throw inputError(
      `${flag}: ${file} is a private key`,
      "give the public half (the .pub file); a private key never leaves its member",
      flag,
    );
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (lines.length === 0)
    throw inputError(`${flag}: ${file} holds no public key`, "give the member's key.pub (ssh-keygen -t ed25519 makes one)", flag);
  return lines.map((line, i) => {
    try {
      return parseSshPublicKey(line).text;
    } catch (error) {
      throw inputError(
        `${flag}: ${file}${lines.length > 1 ? ` (key ${i + 1})` : ""}: ${(error as Error).message}`,
        "members sign with ssh-ed25519 keys: ssh-keygen -t ed25519, then give the .pub file",
        flag,
      );
    }
  });
}

type Member = FederationVersion["members"][number];

function parseMemberSpec(text: string, flag: string): Member {
  const example = `${flag} coop-a:keys/coop-a.pub:coop-a.example.:100.64.0.16/28`;
  const last = text.lastIndexOf(":");
  const zonesAt = last > 0 ? text.lastIndexOf(":", last - 1) : -1;
  const first = text.indexOf(":");
  if (first < 0 || zonesAt <= first) throw usageError(`${flag} ${JSON.stringify(text)} is not ${MEMBER_SPEC}`, `e.g. ${example}`);
  const name = text.slice(0, first);
  const keyFile = text.slice(first + 1, zonesAt);
  const zones = text
    .slice(zonesAt + 1, last)
    .split(",")
    .filter(Boolean);
  const mesh = text.slice(last + 1);
  if (!name || !keyFile || zones.length === 0 || !mesh)
    throw usageError(`${flag} ${JSON.stringify(text)} is not ${MEMBER_SPEC} (a part is empty)`, `e.g. ${example}`);
  // The node names only this member may publish; --nodes gives others (a prefix ends in *).
  return { name, keys: readPublicKeys(keyFile, `${flag} ${name}`), zones, mesh, nodes: [`${name}-*`] };
}

/** --nodes coop-a:a1,a2 or coop-a:coop-a-*: the node names a member may publish (members[].nodes). */
function parseNodesSpec(text: string): { name: string; nodes: string[] } {
  const at = text.indexOf(":");
  const nodes = text
    .slice(at + 1)
    .split(",")
    .filter(Boolean);
  if (at <= 0 || nodes.length === 0)
    throw usageError(`--nodes ${JSON.stringify(text)} is not ${NODES_SPEC}`, 'e.g. --nodes coop-a:a1,a2 or --nodes "coop-a:coop-a-*"');
  return { name: text.slice(0, at), nodes };
}

/** Applies --nodes to the members of a draft, naming the option when a member is unknown. */
function applyNodes(members: { name: string; nodes: string[] }[], specs: string[]): void {
  for (const spec of specs) {
    const { name, nodes } = parseNodesSpec(spec);
    const member = members.find((m) => m.name === name);
    if (!member)
      throw usageError(
        `--nodes ${JSON.stringify(spec)}: ${name} is not a member of this draft`,
        `give --member ${name}:... first, or check the spelling`,
      );
    member.nodes = nodes;
  }
}

function parseKeySpec(text: string, flag: string): { name: string; keys: string[] } {
  const at = text.indexOf(":");
  if (at <= 0 || at === text.length - 1)
    throw usageError(`${flag} ${JSON.stringify(text)} is not NAME:PUBKEYFILE`, `e.g. ${flag} coop-a:keys/coop-a-2027.pub`);
  const name = text.slice(0, at);
  return { name, keys: readPublicKeys(text.slice(at + 1), `${flag} ${name}`) };
}

/** Validates a federation version as the nodes will parse it; problems name the flags. */
function validate(draft: unknown, where: string, flagOf: (key: string) => string): FederationVersion {
  const parsed = federationSchema.safeParse(draft);
  if (parsed.success) return parsed.data;
  const problems = problemsFromZod(parsed.error, where, "").map((p) => ({
    ...p,
    message: withoutKey(p.key, p.message),
    key: flagOf(p.key),
  }));
  throw inputError(
    formatProblems(problems).replace(/^boreal-kit found/, "the federation version would not be valid:"),
    "correct the options named above and run the command again",
  );
}

function flagOfKey(draft: { members?: { name?: string }[] }) {
  return (key: string): string => {
    const member = /^members\[(\d+)\]/.exec(key);
    if (member)
      return `${key} (member ${draft.members?.[Number(member[1])]?.name ?? "?"}: ${/\.nodes/.test(key) ? "--nodes" : "--member"})`;
    const flags: Record<string, string> = {
      name: "--name",
      domain: "--domain",
      "mesh.ipv4": "--mesh-ipv4",
      "mesh.ipv6": "--mesh-ipv6",
      threshold: "--threshold",
      members: "--member",
      underlay: "--allow-underlay",
    };
    const flag = flags[key] ?? (key.startsWith("mirrors") ? "--mirror" : undefined);
    return flag ? `${key} (${flag})` : key;
  };
}

export function init(a: Parsed, io: CliIo): number {
  const dir = registryDir(a);
  const name = required(a, "--name", "coops-north");
  const domain = required(a, "--domain", "federation.example.");
  const ipv4 = required(a, "--mesh-ipv4", "100.64.0.0/24");
  const ipv6 = required(a, "--mesh-ipv6", "fd42:b0:ea1::/48");
  const threshold = wholeNumber(required(a, "--threshold", "2"), "--threshold", 1)!;
  if (a.all("--member").length === 0)
    throw usageError("--member is missing: a federation starts with its founding members", `add one --member ${MEMBER_SPEC} per founder`);
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw inputError(`${dir} is not a directory`, "give the directory of the registry (a new git repository)");
  const existing = versionsOnDisk(dir);
  if (existing.length > 0) {
    throw inputError(
      `${join(dir, FEDERATION_DIR)} already holds version(s) ${existing.join(", ")}: a federation starts only once and init never overwrites a version`,
      `to change the federation, draft the next version: ${BOREAL_COMMAND} registry admit ${dir} ...`,
    );
  }
  const members = a.all("--member").map((spec) => parseMemberSpec(spec, "--member"));
  applyNodes(members, a.all("--nodes"));
  const allow = a.all("--allow-underlay");
  const draft = {
    version: 1,
    name,
    domain,
    mesh: { ipv4, ipv6 },
    threshold,
    ...(allow.length ? { underlay: { allow } } : {}),
    mirrors: a.all("--mirror"),
    members,
  };
  const version = validate(draft, join(dir, federationPath(1)), flagOfKey(draft));
  const path = writeFederationVersion(dir, version);
  const repository = ensureGitRepository(dir);
  const hash = sha256(readFileSync(join(dir, path), "utf8"));
  io.out(
    `wrote ${join(dir, path)}: federation ${version.name} version 1, ${version.members.length} founding member(s), threshold ${version.threshold} (sha256 ${hash})`,
  );
  io.out(repository);
  io.out("next:");
  io.out(
    `  1. each founder reads ${path} and signs it with a key it lists for them (this records their consent; the nodes trust version 1 by its pin):`,
  );
  for (const m of version.members)
    io.out(`       ${BOREAL_COMMAND} registry sign ${dir} --version 1 --member ${m.name} --key ~/.ssh/id_ed25519`);
  io.out(
    `  2. each founder runs ${BOREAL_COMMAND} registry check ${dir} on their own clone and compares the pin it prints with the other founders'`,
  );
  io.out("     over a channel they trust (a call, a meeting): the same 64 hex digits for everyone. Every stack pins it:");
  io.out(`       ${pinLine({ version: 1, sha256: hash })}`);
  io.out(
    `  3. commit ${FEDERATION_DIR}/ (git -C ${dir} add ${FEDERATION_DIR} && git -C ${dir} commit -m "federation version 1") and push it to every mirror; later versions need ${version.threshold} of the ${version.members.length} founders' signatures (${BOREAL_COMMAND} registry admit)`,
  );
  return 0;
}

export function admit(a: Parsed, io: CliIo): number {
  const dir = registryDir(a);
  const threshold = wholeNumber(a.one("--threshold"), "--threshold", 1);
  const changes =
    ["--member", "--nodes", "--remove", "--add-key", "--remove-key", "--mirror", "--remove-mirror"].some((f) => a.all(f).length > 0) ||
    threshold !== undefined;
  if (!changes)
    throw usageError(
      "nothing to change",
      "give --member, --nodes, --remove, --add-key, --remove-key, --threshold, --mirror or --remove-mirror",
    );
  const t = verifyDir(dir, a.one("--trust"), io);
  const settings = t.verified.federation?.settings;
  if (!settings) {
    throw inputError(
      `${dir} has no trusted federation version to draft from: ${t.verified.rejected.map((r) => `${escapeText(r.path)}: ${escapeText(r.reason)}`).join("; ")}`,
      "check --trust against your stack's boreal:trust, or update the clone (git pull)",
    );
  }
  const current = settings.version;
  const next = current + 1;
  const later = versionsOnDisk(dir).filter((v) => v > current);
  const pendingSignatures = [...t.files.keys()].filter((p) => p.startsWith(`${federationPath(next)}.`));
  if (later.length > 0 || pendingSignatures.length > 0) {
    throw inputError(
      `version ${current} is the newest trusted one, but ${later.length ? `${later.map((v) => join(dir, federationPath(v))).join(", ")} already exist(s)` : `${pendingSignatures.join(", ")} already exist(s)`} (a draft not yet signed by ${settings.threshold} of version ${current}'s members?); admit never overwrites a version`,
      `collect the signatures it needs (${BOREAL_COMMAND} registry sign ${dir} --version ${next} ...), or delete it and its .sig files to draft again`,
    );
  }

  const draft: FederationVersion = structuredClone({ ...settings, version: next });
  const memberNamed = (name: string, flag: string, spec: string) => {
    const m = draft.members.find((x) => x.name === name);
    if (!m)
      throw inputError(
        `${flag} ${spec}: ${name} is not a member of version ${current} (members: ${draft.members.map((x) => escapeText(x.name)).join(", ")})`,
        "check the spelling of the member's name",
        flag,
      );
    return m;
  };
  for (const name of a.all("--remove")) {
    memberNamed(name, "--remove", name);
    draft.members = draft.members.filter((m) => m.name !== name);
  }
  for (const spec of a.all("--member")) {
    const member = parseMemberSpec(spec, "--member");
    if (draft.members.some((m) => m.name === member.name)) {
      throw inputError(
        `--member ${spec}: ${member.name} is already a member`,
        `for a new key use --add-key ${member.name}:PUBKEYFILE; to change its zones or mesh share, give --remove ${member.name} too`,
        "--member",
      );
    }
    draft.members.push(member);
  }
  applyNodes(draft.members, a.all("--nodes"));
  for (const spec of a.all("--add-key")) {
    const { name, keys } = parseKeySpec(spec, "--add-key");
    const m = memberNamed(name, "--add-key", spec);
    for (const key of keys) {
      if (m.keys.includes(key))
        throw inputError(
          `--add-key ${spec}: ${fingerprint(key)} is already one of ${name}'s keys`,
          "give the new key's .pub file",
          "--add-key",
        );
      m.keys.push(key);
    }
  }
  for (const spec of a.all("--remove-key")) {
    const { name, keys } = parseKeySpec(spec, "--remove-key");
    const m = memberNamed(name, "--remove-key", spec);
    for (const key of keys) {
      if (!m.keys.includes(key))
        throw inputError(
          `--remove-key ${spec}: ${fingerprint(key)} is not one of ${name}'s keys`,
          `its keys: ${m.keys.map(fingerprint).join(", ")}`,
          "--remove-key",
        );
      m.keys = m.keys.filter((k) => k !== key);
    }
    if (m.keys.length === 0)
      throw inputError(
        `--remove-key ${spec} would leave ${name} without a signing key`,
        `add its new key in the same draft: --add-key ${name}:NEWKEY.pub`,
        "--remove-key",
      );
  }
  for (const url of a.all("--remove-mirror")) {
    if (!draft.mirrors.includes(url))
      throw inputError(
        `--remove-mirror ${url} is not a mirror of version ${current} (mirrors: ${draft.mirrors.map((m) => escapeShort(m)).join(", ") || "none"})`,
        `give the URL as ${federationPath(current)} lists it`,
        "--remove-mirror",
      );
    draft.mirrors = draft.mirrors.filter((m) => m !== url);
  }
  for (const url of a.all("--mirror")) if (!draft.mirrors.includes(url)) draft.mirrors.push(url);
  if (threshold !== undefined) draft.threshold = threshold;

  const version = validate(draft, join(dir, federationPath(next)), flagOfKey(draft));
  const path = writeFederationVersion(dir, version);
  const hash = sha256(readFileSync(join(dir, path), "utf8"));
  io.out(`drafted ${join(dir, path)} (unsigned, sha256 ${hash}) from trusted version ${current}:`);
  for (const line of describeChanges(settings, version)) io.out(`  ${line}`);
  io.out(
    `it counts once ${settings.threshold} of version ${current}'s ${settings.members.length} members sign it (${settings.members.map((m) => escapeText(m.name)).join(", ")}); each runs:`,
  );
  for (const m of settings.members)
    io.out(`  ${BOREAL_COMMAND} registry sign ${dir} --version ${next} --member ${escapeText(m.name)} --key ~/.ssh/id_ed25519`);
  io.out(
    `then: ${BOREAL_COMMAND} registry check ${dir} --trust <your pin> accepts version ${next}; commit and push it with its .sig files`,
  );
  return 0;
}

/** What a version changes against the one before, one line each, for people to review (every value from the files escaped). */
function describeChanges(before: FederationVersion, after: FederationVersion): string[] {
  const lines: string[] = [];
  const e = escapeText;
  const zones = (m: Member) => m.zones.map(e).join(" ");
  const show = (m: Member) =>
    `zones ${zones(m)}, mesh ${e(m.mesh)}, nodes ${m.nodes.map(e).join(" ")}, keys ${m.keys.map(fingerprint).join(" ")}`;
  for (const m of before.members) if (!after.members.some((x) => x.name === m.name)) lines.push(`- member ${e(m.name)} (${show(m)})`);
  for (const m of after.members) {
    const old = before.members.find((x) => x.name === m.name);
    if (!old) {
      lines.push(`+ member ${e(m.name)} (${show(m)})`);
      continue;
    }
    for (const key of m.keys) if (!old.keys.includes(key)) lines.push(`+ key ${fingerprint(key)} of ${e(m.name)}`);
    for (const key of old.keys) if (!m.keys.includes(key)) lines.push(`- key ${fingerprint(key)} of ${e(m.name)}`);
    if (old.zones.join(" ") !== m.zones.join(" ")) lines.push(`~ zones of ${e(m.name)}: ${zones(old)} -> ${zones(m)}`);
    if (old.mesh !== m.mesh) lines.push(`~ mesh share of ${e(m.name)}: ${e(old.mesh)} -> ${e(m.mesh)}`);
    if (old.nodes.join(" ") !== m.nodes.join(" "))
      lines.push(`~ node names of ${e(m.name)}: ${old.nodes.map(e).join(" ")} -> ${m.nodes.map(e).join(" ")}`);
  }
  if (before.threshold !== after.threshold)
    lines.push(`~ threshold: ${before.threshold} -> ${after.threshold} (of ${after.members.length} members)`);
  for (const url of after.mirrors) if (!before.mirrors.includes(url)) lines.push(`+ mirror ${escapeShort(url)}`);
  for (const url of before.mirrors) if (!after.mirrors.includes(url)) lines.push(`- mirror ${escapeShort(url)}`);
  for (const key of ["name", "domain", "mesh", "defaults", "label", "underlay"] as const) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      lines.push(`~ ${key}: ${e(JSON.stringify(before[key]) ?? "(none)")} -> ${e(JSON.stringify(after[key]) ?? "(none)")}`);
  }
  return lines.length ? lines : ["(no change)"];
}

export function sign(a: Parsed, io: CliIo): number {
  const dir = registryDir(a);
  const version = wholeNumber(required(a, "--version", "2"), "--version", 1)!;
  const memberName = required(a, "--member", "coop-a");
  const keyFile = required(a, "--key", "~/.ssh/id_ed25519");
  readSource(dir); // a readable directory
  const read = (v: number, why: string): { content: string; value: FederationVersion } => {
    const file = join(dir, federationPath(v));
    let content: string;
    try {
      content = readFileSync(file, "utf8");
    } catch (error) {
      throw inputError(
        `${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ${why}`,
        v === version
          ? `draft it first (${BOREAL_COMMAND} registry admit ${dir} ...), or check --version`
          : "update the clone (git pull): it needs the version before",
      );
    }
    const parsed = parseFederationVersion({ path: federationPath(v), content }, file);
    if ("problems" in parsed)
      throw inputError(
        formatProblems(escapedProblems(parsed.problems)).replace(/^boreal-kit found/, `${file} is not a valid federation version:`),
        `do not sign it: have it drafted again (${hint("registry admit")})`,
      );
    if (parsed.value.version !== v)
      throw inputError(
        `${file} says version ${parsed.value.version}`,
        "do not sign it: a version's file name and its version field must agree",
      );
    return { content, value: parsed.value };
  };
  const target = read(version, "the version to sign");
  const signing = version === 1 ? target.value : read(version - 1, `its members sign version ${version}`).value;
  const role =
    version === 1 ? "version 1 (the founders sign it themselves)" : `version ${version - 1}, whose members sign version ${version}`;
  const member = signing.members.find((m) => m.name === memberName);
  if (!member) {
    throw inputError(
      `--member ${memberName} is not a member of ${role}`,
      `the members who can sign: ${signing.members.map((m) => escapeText(m.name)).join(", ")}`,
      "--member",
    );
  }
  const signer: Signer = { keyFile };
  let publicKey: string;
  try {
    publicKey = signerPublicKey(signer);
  } catch (error) {
    throw inputError(
      `--key ${keyFile}: ${(error as Error).message}`,
      "give your ssh-ed25519 private key file, or its .pub with the private key loaded in ssh-agent (ssh-add) if it has a passphrase",
      "--key",
    );
  }
  if (!member.keys.includes(publicKey)) {
    throw inputError(
      `--key ${keyFile} (${fingerprint(publicKey)}) is not one of member ${memberName}'s keys in ${role}`,
      `sign with a key listed for ${memberName} in ${federationPath(signing.version)} (${member.keys.map(fingerprint).join(", ")}); a new key must be admitted first (${BOREAL_COMMAND} registry admit --add-key ${memberName}:KEY.pub)`,
      "--key",
    );
  }
  if (version > 1) {
    io.out(`federation/${version}.yaml changes against version ${version - 1}:`);
    for (const line of describeChanges(signing, target.value)) io.out(`  ${line}`);
  }
  let path: string;
  try {
    path = signFederationVersion(dir, version, memberName, signer, target.content);
  } catch (error) {
    const said = (error as Error).message;
    if (/cannot run ssh-keygen/.test(said))
      throw unavailableError(said, "install OpenSSH's client (apt install openssh-client), then sign again", "ssh-keygen");
    throw inputError(
      `--key ${describeSigner(signer)}: ${said}`,
      "a key with a passphrase must be in ssh-agent (ssh-add KEYFILE), then give KEYFILE.pub as --key",
      "--key",
    );
  }
  io.out(
    `wrote ${join(dir, path)}: member ${memberName} signs federation/${version}.yaml (sha256 ${sha256(target.content)}) with ${fingerprint(publicKey)}`,
  );
  const files = new Map<string, string>([[federationPath(version), target.content]]);
  try {
    for (const f of readdirSync(join(dir, FEDERATION_DIR)))
      if (f.startsWith(`${version}.yaml.`) && f.endsWith(".sig"))
        files.set(`${FEDERATION_DIR}/${f}`, readFileSync(join(dir, FEDERATION_DIR, f), "utf8"));
  } catch {
    /* the count is informative only */
  }
  const report = signaturesOf(files, version, signing);
  const missing = signing.members.filter((m) => !report.signers.includes(m.name)).map((m) => escapeText(m.name));
  const signers = report.signers.map(escapeText);
  if (version === 1) io.out(`founders who signed: ${signers.join(", ")}${missing.length ? `; not yet: ${missing.join(", ")}` : " (all)"}`);
  else {
    const enough = report.enough;
    io.out(
      `signatures of version ${version - 1}'s members: ${report.signers.length} of the ${signing.threshold} needed (${signers.join(", ")})${enough ? ": enough, version " + version + " is valid once pushed" : `; not yet: ${missing.join(", ")}`}`,
    );
  }
  for (const b of report.bad) io.out(`  does not count: ${escapeText(b.path)}: ${escapeText(b.reason)}`);
  io.out(
    `check the file yourself: ${BOREAL_COMMAND} registry allowed-signers ${dir} --trust <your pin> --version ${signing.version} > allowed_signers; ssh-keygen -Y verify -f allowed_signers -I ${memberName} -n ${REGISTRY_NAMESPACE} -s ${join(dir, path)} < ${join(dir, federationPath(version))}`,
  );
  return 0;
}

/** A new federation's directory becomes a git repository (branch main), unless it is in one already; the line that says which. */
function ensureGitRepository(dir: string): string {
  const inside = gitRun(dir, ["rev-parse", "--show-toplevel"], { allowFailure: true, purpose: "finding the registry's git repository" });
  if (inside.status === 0) return `${dir} is in the git repository ${inside.stdout.trim()}`;
  git(dir, ["init", "-q", "--initial-branch=main"], { purpose: `making ${dir} a git repository` });
  return `made ${dir} a git repository (branch main): every member clones it, and each mirror serves a copy`;
}

/** `boreal registry inbox BARE_REPO [--check]`: a mirror's attestation inbox, installed or checked. */
export function inbox(a: Parsed, io: CliIo): number {
  if (a.positional.length !== 1)
    throw usageError(
      a.positional.length === 0 ? "the bare repository BARE_REPO is missing" : `one repository expected, got ${a.positional.join(" ")}`,
      "give the mirror's bare repository, the one git daemon serves, e.g. /srv/git/registry.git",
      "BARE_REPO",
    );
  const repo = a.positional[0];
  const bare = gitRun(repo, ["rev-parse", "--is-bare-repository"], { allowFailure: true, purpose: `reading ${repo}` });
  if (bare.status !== 0 || bare.stdout.trim() !== "true")
    throw inputError(
      bare.status !== 0 ? `${repo} is not a git repository` : `${repo} is a clone with a work tree, not a bare repository`,
      `the inbox is the mirror's bare repository (git clone --bare REGISTRY ${repo.replace(/\/+$/, "")}.git makes one)`,
      repo,
    );
  const check = a.on("--check");
  if (!check) installAttestationInbox(repo);
  const problems = attestationInboxProblems(repo);
  if (a.on("--json")) io.out(jsonText({ repository: repo, installed: !check, inbox: problems.length === 0, problems }));
  else if (problems.length > 0) {
    io.out(`${repo} is not the federation's attestation inbox:`);
    for (const p of problems) io.out(`  ${p}`);
    io.out(`  fix: ${hint(`registry inbox ${repo}`)} installs it`);
  } else {
    io.out(
      `${repo} ${check ? "is" : "is now"} the federation's attestation inbox: its pre-receive hook lets a push through git daemon only add or change attestations/<node>/<node>.json(.sig) on main; pushes over ${INBOX_MAX_PUSH_BYTES / 1024 / 1024} MiB, force pushes and deletions are refused`,
    );
    if (!check)
      io.out(
        "next: serve it with git daemon (it takes pushes here: daemon.receivepack is set); members keep pushing everything else over ssh",
      );
  }
  return problems.length === 0 ? EXIT.ok : EXIT.problem;
}
