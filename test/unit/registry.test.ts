import { describe, expect, test } from "vitest";
import { BorealConfigError } from "../../src/config/errors";
import { parseRegistry, RegistryFile } from "../../src/config/registry";
import { renderDescriptor } from "../../src/registry";
import { fixtureFederation, fixtureRegistryFiles } from "../helpers/fixtures";

type Edit = (files: RegistryFile[]) => RegistryFile[];

const editFile = (path: string, change: (content: string) => string): Edit => (files) =>
  files.map((f) => (f.path === path ? { ...f, content: change(f.content) } : f));
const replaceIn = (path: string, from: string | RegExp, to: string): Edit => editFile(path, (c) => c.replace(from, to));
const addFile = (path: string, content: string): Edit => (files) => [...files, { path, content }];

function problemsOf(files: RegistryFile[]) {
  try {
    parseRegistry(files);
  } catch (error) {
    expect(error).toBeInstanceOf(BorealConfigError);
    return (error as BorealConfigError).problems;
  }
  throw new Error("expected the registry to be refused");
}

describe("registry", () => {
  test("the fixture registry loads, nodes sorted by name", () => {
    const federation = fixtureFederation();
    expect(federation.settings.domain).toBe("fed.example.");
    expect(federation.nodes.map((n) => n.node)).toEqual(["a1", "b1", "c1"]);
  });

  test("a rendered descriptor reads back as itself", () => {
    const [a1] = fixtureFederation().nodes;
    const files = fixtureRegistryFiles().map((f) => (f.path === "nodes/a1.yaml" ? { ...f, content: renderDescriptor(a1) } : f));
    expect(parseRegistry(files).nodes[0]).toEqual(a1);
  });

  const A1 = "nodes/a1.yaml";
  const FED = "federation.yaml";
  const b1Key = () => fixtureRegistryFiles().find((f) => f.path === "nodes/b1.yaml")!.content.match(/publicKey: (.*)/)![1];
  const bad: [string, Edit, string, string, RegExp][] = [
    ["federation.yaml missing", (files) => files.filter((f) => f.path !== FED), "registry/federation.yaml", "(file)", /point boreal:registry/],
    ["federation.yaml not YAML", replaceIn(FED, "name: boreal-test", "name: [unclosed"), "registry/federation.yaml", "(file)", /YAML syntax/],
    ["federation.yaml a list", editFile(FED, () => "- a\n- b\n"), "registry/federation.yaml", "(file)", /key: value/],
    ["federation name invalid", replaceIn(FED, "name: boreal-test", "name: Boreal Test"), "registry/federation.yaml", "name", /DNS-safe/],
    ["federation field unknown", replaceIn(FED, "name: boreal-test", "name: boreal-test\nowner: acme"), "registry/federation.yaml", "(root)", /remove owner/],
    ["mesh IPv4 outside 100.64.0.0/10", replaceIn(FED, "100.64.0.0/24", "10.0.0.0/24"), "registry/federation.yaml", "mesh.ipv4", /inside 100.64.0.0\/10/],
    ["mesh IPv4 with host bits", replaceIn(FED, "100.64.0.0/24", "100.64.0.1/24"), "registry/federation.yaml", "mesh.ipv4", /prefix inside/],
    ["mesh IPv6 not ULA", replaceIn(FED, "fd42:b0:ea1::/48", "2001:db8::/48"), "registry/federation.yaml", "mesh.ipv6", /RFC 4193/],
    ["mesh IPv6 not a /48", replaceIn(FED, "fd42:b0:ea1::/48", "fd42:b0:ea1::/64"), "registry/federation.yaml", "mesh.ipv6", /RFC 4193/],
    ["descriptor key too short", replaceIn(A1, /publicKey: .*/, "publicKey: AAAA"), "registry/nodes/a1.yaml", "publicKey", /wg pubkey/],
    ["descriptor key not base64", replaceIn(A1, /publicKey: .*/, `publicKey: ${".".repeat(43)}=`), "registry/nodes/a1.yaml", "publicKey", /wg pubkey/],
    ["descriptor unknown field", replaceIn(A1, "member: coop-a", "member: coop-a\nprivateKey: nope"), "registry/nodes/a1.yaml", "(root)", /remove privateKey/],
    ["descriptor missing endpoint", replaceIn(A1, /endpoint: .*\n/, ""), "registry/nodes/a1.yaml", "endpoint", /host:port/],
    ["descriptor bad timestamp", replaceIn(A1, /updatedAt: .*/, "updatedAt: yesterday"), "registry/nodes/a1.yaml", "updatedAt", /ISO 8601/],
    ["descriptor mesh address malformed", replaceIn(A1, "ipv4: 100.64.0.1", "ipv4: 100.64.0"), "registry/nodes/a1.yaml", "mesh.ipv4", /100.64.0.1/],
    ["descriptor file name differs from node", replaceIn(A1, "node: a1", "node: a9"), "registry/nodes/a1.yaml", "node", /rename the file to nodes\/a9.yaml/],
    ["stray file in the registry", addFile("notes.txt", "hello"), "registry/notes.txt", "(file)", /nodes\/<node>.yaml/],
    ["duplicate node name", addFile("nodes/a1.yml", ""), "registry/nodes/a1.yml", "(file)", /nodes\/<node>.yaml/],
    ["mesh IPv4 outside the federation prefix", replaceIn(A1, "ipv4: 100.64.0.1", "ipv4: 100.64.9.1"), "registry/nodes/a1.yaml", "mesh.ipv4", /re-apply/],
    ["mesh IPv6 outside the federation prefix", replaceIn(A1, "ipv6: fd42:b0:ea1::1", "ipv6: fd42:b0:ea2::1"), "registry/nodes/a1.yaml", "mesh.ipv6", /re-apply/],
    ["duplicate mesh IPv4", replaceIn(A1, "ipv4: 100.64.0.1", "ipv4: 100.64.0.2"), "registry/nodes/b1.yaml", "mesh.ipv4", /its own mesh address/],
    ["duplicate mesh IPv6 (other spelling)", replaceIn(A1, "ipv6: fd42:b0:ea1::1", "ipv6: fd42:b0:ea1:0:0:0:0:2"), "registry/nodes/b1.yaml", "mesh.ipv6", /its own mesh address/],
    ["duplicate public key", (files) => replaceIn(A1, /publicKey: .*/, `publicKey: ${b1Key()}`)(files), "registry/nodes/b1.yaml", "publicKey", /its own public key/],
    ["zone claimed by two members", replaceIn(A1, "- coop-a.example.", "- coop-a.example.\n  - coop-b.example."), "registry/nodes/b1.yaml", "zones", /belongs to one member/],
    ["duplicate YAML key", replaceIn(A1, "member: coop-a", "member: coop-a\nmember: coop-z"), "registry/nodes/a1.yaml", "(file)", /YAML syntax/],
  ];
  test.each(bad)("refuses %s, naming file, field and fix", (_label, edit, source, key, fix) => {
    const problems = problemsOf(edit(fixtureRegistryFiles()));
    const problem = problems.find((p) => p.source === source && p.key === key);
    expect(problem, JSON.stringify(problems, null, 1)).toBeDefined();
    expect(`${problem!.message} — ${problem!.fix}`).toMatch(fix);
  });

  test("a duplicated descriptor under a second name is refused as a duplicate node", () => {
    const a1 = fixtureRegistryFiles().find((f) => f.path === A1)!;
    const problems = problemsOf([...fixtureRegistryFiles(), { path: "nodes/a2.yaml", content: a1.content.replace("node: a1", "node: a2") }]);
    expect(problems.map((p) => `${p.source} ${p.key}`)).toEqual(
      expect.arrayContaining(["registry/nodes/a2.yaml publicKey", "registry/nodes/a2.yaml mesh.ipv4", "registry/nodes/a2.yaml mesh.ipv6"]),
    );
  });
});
