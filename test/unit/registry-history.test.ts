// `boreal registry check` in a registry's CI: with --since REV (a git revision of the registry)
// or --held FILE (what a node holds), the directory is verified as the nodes that hold the
// earlier state verify it, so a rollback, a same-serial swap or a lower serial after a
// tombstone is refused there too, by file and reason. And whatever a registry names its
// files, the report stays the report: every name escaped, no line forged, no internal error.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { runLabel } from "../../src/cli/label";
import { failureLines, reportFailure, runRegistry } from "../../src/cli/registry";
import { neutralizeJson } from "../../src/cli/status";
import type { NodeDescriptor, Tombstone } from "../../src/core/registry/format";
import { signText } from "../../src/io/registry/sign";
import { REGISTRY_NAMESPACE } from "../../src/core/registry/sshsig";
import { writeNodeObject } from "../../src/io/registry/write";
import { federationStatus, formatStatus } from "../../src/core/status/report";
import { FIXTURE_REGISTRY, fixtureSigner, fixtureTrust } from "../helpers/fixtures";

const work = mkdtempSync(join(tmpdir(), "boreal-history-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
/** ssh-keygen signs each object: a second or so per test on a busy machine. */
const SLOW = 60_000;

interface Run {
  code: number;
  out: string[];
  err: string[];
  text: string;
}

/** `boreal registry check ARGS...` in process, its io captured line by line. */
function check(...args: string[]): Run {
  const out: string[] = [];
  const err: string[] = [];
  const code = runRegistry("check", args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err, text: [...out, ...err].join("\n") };
}

const git = (dir: string, ...args: string[]) =>
  execFileSync(
    "git",
    ["-C", dir, "-c", "user.name=boreal-test", "-c", "user.email=test@boreal.example", "-c", "commit.gpgsign=false", ...args],
    { encoding: "utf8" },
  );

function commit(dir: string, message: string): void {
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "--allow-empty", "-m", message);
}

let count = 0;
/** A git repository holding the fixture registry, committed. */
function registryRepo(): string {
  const dir = join(work, `registry-${++count}`);
  cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
  git(dir, "init", "-q");
  commit(dir, "the fixture registry");
  return dir;
}

/** The fixture's descriptor of a1 (signed by coop-a), as a value to change. */
const fixtureA1 = (): NodeDescriptor => parse(readFileSync(join(FIXTURE_REGISTRY, "nodes/a1.yaml"), "utf8")) as NodeDescriptor;
const SERIAL = fixtureA1().serial;

function publish(dir: string, object: NodeDescriptor | Tombstone): void {
  writeNodeObject(dir, object, fixtureSigner("coop-a"));
}

/** nodes/a1.yaml and its signature back as the fixture has them: the older, validly signed object. */
function restoreFixtureA1(dir: string): void {
  for (const file of ["nodes/a1.yaml", "nodes/a1.yaml.sig"]) cpSync(join(FIXTURE_REGISTRY, file), join(dir, file));
}

const moved = (serial: number): NodeDescriptor => ({
  ...fixtureA1(),
  serial,
  endpoint: "198.51.100.111:51820",
  updatedAt: "2026-11-21T10:00:00Z",
});
const tombstone = (serial: number): Tombstone => ({ member: "coop-a", node: "a1", serial, left: true, updatedAt: "2026-11-21T10:00:00Z" });

/** Nothing that reached the terminal can act on it: no control character in any line. */
function expectSafe(run: Run): void {
  for (const line of [...run.out, ...run.err]) expect(line).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
}

describe("check --since REV and --held FILE: the CI refuses what the nodes refuse", () => {
  test(
    "a clean forward change (a higher serial) is accepted, with --since and with --held",
    () => {
      const dir = registryRepo();
      const held = join(work, `held-${count}.json`);
      expect(check(dir, "--trust", fixtureTrust(), "--write-held", held).code).toBe(0);
      publish(dir, moved(SERIAL + 60));
      const since = check(dir, "--trust", fixtureTrust(), "--since", "HEAD");
      expect(since.code, since.text).toBe(0);
      expect(since.out[0]).toMatch(/: federation boreal-test version 1, 3 node\(s\), valid$/);
      expect(since.text).toMatch(/checked as a new node and as the nodes holding what HEAD \([0-9a-f]{12}\) held/);
      expect(since.text).toMatch(new RegExp(`\\n\\s+a1 \\(coop-a\\)\\s+serial ${SERIAL + 60}\\s`));
      expect(since.text).not.toMatch(/rejected/);
      const fromFile = check(dir, "--trust", fixtureTrust(), "--held", held);
      expect(fromFile.code, fromFile.text).toBe(0);
      expect(fromFile.text).toContain(`nodes holding what --held ${held} held`);
      // Committed, and checked against the commit before, as a CI does on a push.
      commit(dir, "a1 moves");
      expect(check(dir, "--trust", fixtureTrust(), "--since", "HEAD~1").code).toBe(0);
    },
    SLOW,
  );

  test(
    "a rollback to an older signed serial: accepted by a plain check, refused with --since and with --held",
    () => {
      const dir = registryRepo();
      publish(dir, moved(SERIAL + 60));
      commit(dir, "a1 moves");
      const held = join(work, `held-${count}.json`);
      expect(check(dir, "--trust", fixtureTrust(), "--write-held", held).code).toBe(0);
      restoreFixtureA1(dir);

      // What a registry's CI said before: every object is validly signed.
      expect(check(dir, "--trust", fixtureTrust()).code).toBe(0);
      const refusal = new RegExp(`\\n  nodes/a1\\.yaml: .*serial ${SERIAL}\\b.*\\b${SERIAL + 60}\\b.*held`);
      const since = check(dir, "--trust", fixtureTrust(), "--since", "HEAD");
      expect(since.code).toBe(1);
      expect(since.out[0]).toMatch(/1 rejected object\(s\)$/);
      expect(since.text).toMatch(refusal);
      // The nodes keep what they hold: the report shows the node as they have it.
      expect(since.text).toMatch(new RegExp(`\\n\\s+a1 \\(coop-a\\)\\s+serial ${SERIAL + 60}\\s`));
      const fromFile = check(dir, "--trust", fixtureTrust(), "--held", held);
      expect(fromFile.code).toBe(1);
      expect(fromFile.text).toMatch(refusal);
      // The same when the rollback is committed and checked against the commit before it.
      commit(dir, "a1 rolled back");
      const pushed = check(dir, "--trust", fixtureTrust(), "--since", "HEAD~1");
      expect(pushed.code).toBe(1);
      expect(pushed.text).toMatch(refusal);
    },
    SLOW,
  );

  test(
    "a same-serial swap: other content under a serial already held is refused",
    () => {
      const dir = registryRepo();
      const held = join(work, `held-${count}.json`);
      expect(check(dir, "--trust", fixtureTrust(), "--write-held", held).code).toBe(0);
      publish(dir, moved(SERIAL));
      expect(check(dir, "--trust", fixtureTrust()).code).toBe(0);
      const refusal = new RegExp(`\\n  nodes/a1\\.yaml: .*serial ${SERIAL}\\b.*already held with other content`);
      for (const run of [check(dir, "--trust", fixtureTrust(), "--since", "HEAD"), check(dir, "--trust", fixtureTrust(), "--held", held)]) {
        expect(run.code).toBe(1);
        expect(run.text).toMatch(refusal);
      }
    },
    SLOW,
  );

  test(
    "a lower serial after a tombstone cannot bring the node back",
    () => {
      const dir = registryRepo();
      publish(dir, tombstone(SERIAL + 60));
      commit(dir, "a1 leaves");
      const held = join(work, `held-${count}.json`);
      const left = check(dir, "--trust", fixtureTrust(), "--write-held", held);
      expect(left.code).toBe(0);
      expect(left.text).toMatch(/departed \(1\):\n\s+a1 \(coop-a\)\s+serial \d+\s+left/);
      restoreFixtureA1(dir);
      expect(check(dir, "--trust", fixtureTrust()).code).toBe(0);
      const refusal = new RegExp(`\\n  nodes/a1\\.yaml: .*serial ${SERIAL}\\b.*\\b${SERIAL + 60}\\b.*held`);
      for (const run of [check(dir, "--trust", fixtureTrust(), "--since", "HEAD"), check(dir, "--trust", fixtureTrust(), "--held", held)]) {
        expect(run.code).toBe(1);
        expect(run.text).toMatch(refusal);
        expect(run.text).toMatch(/departed \(1\):\n\s+a1 \(coop-a\)/);
        expect(run.text).not.toMatch(/\n\s+a1 \(coop-a\)\s+serial \d+\s+100\.64/);
      }
      // A descriptor with a serial above the tombstone's brings it back, as on the nodes.
      publish(dir, moved(SERIAL + 120));
      expect(check(dir, "--trust", fixtureTrust(), "--since", "HEAD").code).toBe(0);
    },
    SLOW,
  );

  test(
    "unpinned, the anchor is the previous revision's: a change cannot bring its own federation version 1",
    () => {
      const dir = registryRepo();
      const path = join(dir, "federation/1.yaml");
      writeFileSync(path, readFileSync(path, "utf8").replace("threshold: 2", "threshold: 1"));
      const run = check(dir, "--since", "HEAD");
      expect(run.code).toBe(1);
      expect(run.err.join("\n")).toMatch(/WARNING: UNPINNED\. No --trust given, so HEAD:federation\/1\.yaml is trusted as found/);
      expect(run.text).toMatch(/\n  federation\/1\.yaml: changed since HEAD, where it was accepted/);
    },
    SLOW,
  );

  test(
    "a removed descriptor is said: the nodes holding it keep it, a new node never learns it",
    () => {
      const dir = registryRepo();
      rmSync(join(dir, "nodes/c1.yaml"));
      rmSync(join(dir, "nodes/c1.yaml.sig"));
      const run = check(dir, "--trust", fixtureTrust(), "--since", "HEAD");
      expect(run.code).toBe(0);
      expect(run.text).toMatch(/held, but not in \S+ \(1\): the nodes holding it keep it/);
      expect(run.text).toMatch(/\n  nodes\/c1\.yaml \(serial \d+\)/);
    },
    SLOW,
  );

  test(
    "bad --since and --held: exit 2, the option named with its fix, never git's or Node's own words alone",
    () => {
      const dir = registryRepo();
      const unknown = check(dir, "--trust", fixtureTrust(), "--since", "origin/no-such-branch");
      expect(unknown.code).toBe(2);
      expect(unknown.err[0]).toBe(`boreal registry check: --since origin/no-such-branch is no commit of the git repository of ${dir}`);
      expect(unknown.err[1]).toMatch(/^ {2}fix: fetch it first, e\.g\. git fetch origin main/);
      const option = check(dir, "--since", "-n");
      expect(option.code).toBe(2);
      expect(option.err[0]).toMatch(/--since "-n" is not a git revision/);
      const notGit = join(work, "not-git");
      cpSync(FIXTURE_REGISTRY, notGit, { recursive: true });
      const outside = check(notGit, "--trust", fixtureTrust(), "--since", "HEAD");
      expect(outside.code).toBe(2);
      expect(outside.err[0]).toMatch(/--since HEAD: \S+not-git is not in a git repository/);

      const garbage = join(work, "garbage.json");
      writeFileSync(garbage, "{ not json");
      const notJson = check(dir, "--held", garbage);
      expect(notJson.code).toBe(2);
      expect(notJson.err[0]).toMatch(/--held \S+garbage\.json is not JSON: /);
      writeFileSync(garbage, JSON.stringify({ held: { nodes: { "a1\u001b[2J": { serial: "x" } } } }));
      const wrongShape = check(dir, "--held", garbage);
      expect(wrongShape.code).toBe(2);
      expect(wrongShape.text).toMatch(/--held \S+garbage\.json is not a held state:/);
      expect(wrongShape.text).toContain("a1\\x1b[2J");
      expectSafe(wrongShape);
      const missing = check(dir, "--held", join(work, "no-such-file.json"));
      expect(missing.err[0]).toMatch(/--held \S+no-such-file\.json cannot be read \(ENOENT\)/);
    },
    SLOW,
  );
});

describe("hostile names: escaped in every line, never a forged line or a terminal escape", () => {
  const FORGED = "[ok] all good";
  const hostileNames = ["evil\n[ok] all good.yaml", "\u001b]0;pwn\u0007.yaml", "a\u202egnp.yaml", "x\r[ok] all good.yaml"];

  function hostile(dir: string): void {
    for (const name of hostileNames) writeFileSync(join(dir, "nodes", name), "member: coop-a\n");
    // A node object, validly signed, whose unknown field is a terminal escape: the reason quotes it.
    const a1 = join(dir, "nodes/a1.yaml");
    const content = `${readFileSync(a1, "utf8")}"\\e[2J\\e]0;pwn\\a": 1\n`;
    writeFileSync(a1, content);
    writeFileSync(`${a1}.sig`, signText(content, fixtureSigner("coop-a"), REGISTRY_NAMESPACE));
  }

  function expectNoForgery(run: Run): void {
    expectSafe(run);
    for (const line of [...run.out, ...run.err]) expect(line.trimStart().startsWith(FORGED)).toBe(false);
    expect(run.text).toContain("evil\\n[ok] all good.yaml");
    expect(run.text).toContain("\\x1b]0;pwn\\x07.yaml");
    expect(run.text).toContain("a\\u202egnp.yaml");
    expect(run.text).toContain("x\\r[ok] all good.yaml");
  }

  test(
    "files named to forge a report line or drive a terminal, in the directory",
    () => {
      const dir = join(work, "hostile");
      cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
      hostile(dir);
      const run = check(dir, "--trust", fixtureTrust());
      expect(run.code).toBe(1);
      expectNoForgery(run);
      expect(run.text).toMatch(/\n  nodes\/a1\.yaml: .*\\x1b\[2J\\x1b\]0;pwn\\x07/);
    },
    SLOW,
  );

  test(
    "the same names in the previous revision (--since) and in a held state (--held)",
    () => {
      const dir = registryRepo();
      hostile(dir);
      commit(dir, "hostile names");
      const held = join(work, `held-${count}.json`);
      const run = check(dir, "--trust", fixtureTrust(), "--since", "HEAD", "--write-held", held);
      expect(run.code).toBe(1);
      expectNoForgery(run);
      const state = JSON.parse(readFileSync(held, "utf8"));
      state.held.nodes["evil\n[ok] all good"] = state.held.nodes.a1;
      writeFileSync(held, JSON.stringify(state));
      const fromFile = check(dir, "--trust", fixtureTrust(), "--held", held);
      expectNoForgery(fromFile);
    },
    SLOW,
  );

  test("hidden files (names starting with a dot) are reported like every other refusal", () => {
    const dir = join(work, "hidden");
    cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
    writeFileSync(join(dir, "nodes", ".a1.yaml.swp"), "x");
    writeFileSync(join(dir, "nodes", ".\u001b[2J"), "x");
    const run = check(dir, "--trust", fixtureTrust());
    expectSafe(run);
    expect(run.text).toMatch(/\n  nodes\/\.a1\.yaml\.swp: /);
    expect(run.text).toMatch(/\n  nodes\/\.\\x1b\[2J: /);
  });
});

describe("hostile names elsewhere: boreal label and boreal status", () => {
  test("boreal label show: attestation files named to forge lines are named, escaped", () => {
    const dir = join(work, "label-hostile");
    cpSync(FIXTURE_REGISTRY, dir, { recursive: true });
    mkdirSync(join(dir, "attestations", "a1"), { recursive: true });
    writeFileSync(join(dir, "attestations", "a1", ".\u001b]0;pwn\u0007"), "x");
    mkdirSync(join(dir, "attestations", "evil\n[ok] all good"), { recursive: true });
    writeFileSync(join(dir, "attestations", "evil\n[ok] all good", "b1.json"), "{}");
    const out: string[] = [];
    const code = runLabel("show", ["--registry", dir, "--trust", fixtureTrust()], {
      out: (line) => out.push(line),
      err: (line) => out.push(line),
    });
    expect(code).toBe(0);
    for (const line of out) {
      expect(line).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      expect(line.trimStart().startsWith("[ok]")).toBe(false);
    }
    expect(out.join("\n")).toContain("\\x1b]0;pwn\\x07");
  });

  test("boreal status: node, member and alert labels from the registry are escaped in the table and the JSON", () => {
    const evil = "evil\n[ok] all good\u001b[2J";
    const status = federationStatus("a1", {
      exporters: [
        { metric: { node: evil, member: "coop-\u009b31m" }, value: 1 },
        { metric: { node: "a1", member: "coop-a" }, value: 1 },
      ],
      pings: [],
      handshakes: [],
      zonesAnswered: [],
      zoneSerials: [],
      alerts: [{ metric: { alertname: "BorealPeerExporterDown", node: evil, zone: "x\u202ey" }, value: 1 }],
    });
    const table = formatStatus(status);
    for (const line of table.split("\n")) {
      expect(line).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
      expect(line.startsWith("[ok]")).toBe(false);
    }
    expect(table).toContain("evil\\n[ok] all good\\x1b[2J");
    const json = neutralizeJson(JSON.stringify(status, null, 2));
    expect(json).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
    expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(status)));
  });
});

describe("no internal message reaches a user", () => {
  test("an unpinned check of a registry whose lowest file is federation/00.yaml says what is wrong", () => {
    const dir = join(work, "zero");
    mkdirSync(join(dir, "federation"), { recursive: true });
    cpSync(join(FIXTURE_REGISTRY, "federation/1.yaml"), join(dir, "federation/00.yaml"));
    const alone = check(dir);
    expect(alone.code).toBe(2);
    expect(alone.err[0]).toMatch(/holds no federation version a node would read: federation\/00\.yaml is not a version's name$/);
    expect(alone.err[1]).toMatch(/^ {2}fix: versions are named federation\/1\.yaml, federation\/2\.yaml, \.\.\. without leading zeros/);
    expect(alone.text).not.toMatch(/argument|TypeError|Received|\n\s+at /);
    // Beside a real version 1, it is refused by name, and version 1 is what is trusted.
    cpSync(join(FIXTURE_REGISTRY, "federation/1.yaml"), join(dir, "federation/1.yaml"));
    const beside = check(dir);
    expect(beside.code).toBe(1);
    expect(beside.text).toMatch(/\n  federation\/00\.yaml: /);
    expect(beside.err.join("\n")).toMatch(/federation\/1\.yaml is trusted as found/);
  });

  test("a bug says it is one, without Node's message or a stack trace, unless BOREAL_DEBUG=1 asks", () => {
    const bug = new TypeError(
      'The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received undefined',
    );
    const err: string[] = [];
    expect(reportFailure("boreal registry check", "usage", bug, { out: () => undefined, err: (line) => err.push(line) }, {})).toBe(2);
    expect(err).toEqual([
      "boreal registry check: internal error: this is a bug in boreal-kit, not a problem with your input",
      "  fix: run the command again with BOREAL_DEBUG=1 to see the error and its stack trace, and report them with the command you ran",
    ]);
    const debug = failureLines("boreal registry check", bug, { BOREAL_DEBUG: "1" });
    expect(debug.join("\n")).toMatch(/BOREAL_DEBUG: TypeError: The "data" argument[\s\S]*\n\s+at /);
  });

  test("a refusal of the system is said in words, naming the path", () => {
    const error = Object.assign(new Error("ENOENT: no such file or directory, open '/x/evil\u001b[2J'"), {
      code: "ENOENT",
      syscall: "open",
      path: "/x/evil\u001b[2J",
    });
    expect(failureLines("boreal", error, {})).toEqual([
      "boreal: /x/evil\\x1b[2J: does not exist (ENOENT, open)",
      "  fix: check the path and its permissions, then run the command again",
    ]);
    // A message the kit wrote for people is kept, made safe for a terminal line by line.
    expect(failureLines("boreal", new Error("no lab machine named x\u001b[2J\n  fix: see boreal lab status"), {})).toEqual([
      "boreal: no lab machine named x\\x1b[2J",
      "  fix: see boreal lab status",
    ]);
  });
});
