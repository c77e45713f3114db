// `sudo npm run demo` leaves no root-owned file of the user's in the checkout: what the lab
// verbs wrote there goes back to the user who typed sudo, but for what the lab's root
// processes keep using (src/lab/owner.ts).
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { handBackToCheckoutOwner, labInside, ownerToRestore, pathsToHandBack } from "../../src/lab/owner";

const isRoot = process.getuid?.() === 0;
const USER = { uid: 12345, gid: 12346 };

describe("whom the files go back to", () => {
  test("the checkout's owner, only when root runs through sudo typed by that user", () => {
    expect(ownerToRestore(0, "12345", USER)).toEqual(USER);
    expect(ownerToRestore(0, "1000", USER)).toBeUndefined(); // sudo typed by someone else
    expect(ownerToRestore(0, undefined, USER)).toBeUndefined(); // root, not through sudo: root's git would refuse the clones
    expect(ownerToRestore(12345, "12345", USER)).toBeUndefined(); // the user's own run wrote the user's files
    expect(ownerToRestore(0, "0", { uid: 0, gid: 0 })).toBeUndefined(); // root's own checkout (CI)
    expect(ownerToRestore(undefined, "12345", USER)).toBeUndefined(); // no uids (Windows)
  });
});

describe("what goes back", () => {
  test("the lab's stack files, the agent's cache, the lab directory but for what root keeps using", () => {
    expect(
      pathsToHandBack({
        stacks: ["Pulumi.example.yaml", "Pulumi.lab-node2.yaml", "Pulumi.coop-a-1.yaml", "Pulumi.lab-node1.yaml"],
        agentCache: true,
        lab: { path: ".lab", entries: ["state.json", "machines", "members", "mirrors", "dns", "id_ed25519", "known_hosts"] },
      }),
    ).toEqual([
      { path: "stacks/Pulumi.lab-node1.yaml", recursive: false },
      { path: "stacks/Pulumi.lab-node2.yaml", recursive: false },
      { path: ".boreal", recursive: true },
      { path: ".lab", recursive: false },
      { path: ".lab/id_ed25519", recursive: true },
      { path: ".lab/known_hosts", recursive: true },
      { path: ".lab/members", recursive: true },
      { path: ".lab/state.json", recursive: true },
    ]);
    expect(pathsToHandBack({ stacks: ["Pulumi.example.yaml"], agentCache: false })).toEqual([]);
  });

  test("the lab directory counts only inside the checkout (BOREAL_LAB_DIR may be elsewhere)", () => {
    expect(labInside("/home/ana/boreal-kit", "/home/ana/boreal-kit/.lab")).toBe(".lab");
    expect(labInside("/home/ana/boreal-kit", "/tmp/boreal-lab-x")).toBeUndefined();
    expect(labInside("/home/ana/boreal-kit", "/home/ana/boreal-kit-2/.lab")).toBeUndefined();
    expect(labInside("/home/ana/boreal-kit", "/home/ana/boreal-kit")).toBeUndefined();
  });
});

describe("on disk", () => {
  const work = mkdtempSync(join(tmpdir(), "boreal-owner-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** A checkout as a demo run through sudo leaves it: every file root's. */
  function checkoutAfterDemo(name: string): string {
    const checkout = join(work, name);
    const files = [
      "stacks/Pulumi.example.yaml",
      "stacks/Pulumi.lab-node1.yaml",
      ".boreal/agent-0123.js",
      ".lab/state.json",
      ".lab/id_ed25519",
      ".lab/members/lab-m1/registry/federation/1.yaml",
      ".lab/machines/node1/upper/etc/hostname",
      ".lab/mirrors/federation.git/HEAD",
      ".lab/dns/parent/knot.conf",
      "src/program/index.ts",
    ];
    for (const file of files) {
      mkdirSync(dirname(join(checkout, file)), { recursive: true });
      writeFileSync(join(checkout, file), "x");
    }
    // A link in the cache to a file outside: the link is handed back, never what it points to.
    writeFileSync(join(work, `${name}-outside`), "x");
    symlinkSync(join(work, `${name}-outside`), join(checkout, ".boreal/link"));
    return checkout;
  }

  const ownersBelow = (checkout: string) =>
    Object.fromEntries(
      readdirSync(checkout, { recursive: true, encoding: "utf8" })
        .sort()
        .map((path) => [path, lstatSync(join(checkout, path)).uid]),
    );

  test.runIf(isRoot)("through sudo: the user's files are the user's again, the lab's live parts and the sources stay as they were", () => {
    const checkout = checkoutAfterDemo("sudo");
    // The user cloned it (the checkout and its sources are theirs); root wrote the rest.
    chownSync(checkout, USER.uid, USER.gid);
    chownSync(join(checkout, "src/program/index.ts"), USER.uid, USER.gid);
    const { owner, paths } = handBackToCheckoutOwner(checkout, join(checkout, ".lab"), { uid: 0, sudoUid: String(USER.uid) });
    expect(owner).toEqual(USER);
    expect(paths).toEqual(["stacks/Pulumi.lab-node1.yaml", ".boreal", ".lab", ".lab/id_ed25519", ".lab/members", ".lab/state.json"]);
    const owners = ownersBelow(checkout);
    const handedBack = Object.keys(owners).filter((path) => owners[path] === USER.uid);
    expect(handedBack).toEqual([
      ".boreal",
      ".boreal/agent-0123.js",
      ".boreal/link",
      ".lab",
      ".lab/id_ed25519",
      ".lab/members",
      ".lab/members/lab-m1",
      ".lab/members/lab-m1/registry",
      ".lab/members/lab-m1/registry/federation",
      ".lab/members/lab-m1/registry/federation/1.yaml",
      ".lab/state.json",
      "src/program/index.ts",
      "stacks/Pulumi.lab-node1.yaml",
    ]);
    expect(lstatSync(join(checkout, ".lab/members")).gid).toBe(USER.gid);
    expect(statSync(join(work, "sudo-outside")).uid).toBe(0);
    expect(owners[".lab/machines/node1/upper/etc/hostname"]).toBe(0);
    expect(owners[".lab/mirrors/federation.git/HEAD"]).toBe(0);
    expect(owners["stacks/Pulumi.example.yaml"]).toBe(0);
  });

  test("not through sudo, or through sudo typed by another user than the checkout's: nothing changes", () => {
    const checkout = checkoutAfterDemo("plain");
    const before = ownersBelow(checkout);
    const self = process.getuid?.() ?? 0;
    expect(handBackToCheckoutOwner(checkout, join(checkout, ".lab"), { uid: self, sudoUid: undefined })).toEqual({ paths: [] });
    expect(handBackToCheckoutOwner(checkout, join(checkout, ".lab"), { uid: 0, sudoUid: String(self + 1) })).toEqual({ paths: [] });
    expect(ownersBelow(checkout)).toEqual(before);
  });
});
