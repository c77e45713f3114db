// The hints a user gets for a mistyped config key, a member share written as an address, and
// a message that would repeat its key: what the fix line says, not only that there is one.
import { describe, expect, test } from "vitest";
import { parseFederationVersion } from "../../src/core/registry/format";
import { parseStackConfig } from "../../src/core/spec/stack";
import { alignedPrefix } from "../../src/core/values/ip";
import { BorealConfigError, ConfigProblem, formatProblems, withoutKey } from "../../src/core/values/problems";
import { fixtureRegistryFiles, rawStackConfig } from "../helpers/fixtures";

function problemsOf(raw: Record<string, string>): ConfigProblem[] {
  try {
    parseStackConfig(raw);
  } catch (error) {
    if (error instanceof BorealConfigError) return error.problems;
    throw error;
  }
  throw new Error("the config was accepted");
}

describe("did you mean, for boreal: keys", () => {
  test.each([
    ["boreal:registy", "boreal:registry"],
    ["boreal:endpiont", "boreal:endpoint"],
    ["boreal:zone", "boreal:zones"],
    ["boreal:signingKeyFil", "boreal:signingKeyFile"],
  ])("%s: did you mean %s?", (typo, meant) => {
    const problems = problemsOf({ ...rawStackConfig("b1"), [typo]: "x" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ key: typo, message: "unknown key" });
    expect(problems[0].fix).toBe(`did you mean ${meant}? (pulumi config rm ${typo}, then pulumi config set ${meant} ...)`);
  });

  test("a key nothing is near: remove it, and where the keys are listed (not all of them inline)", () => {
    const [problem] = problemsOf({ ...rawStackConfig("b1"), "boreal:colour": "blue" });
    expect(problem.fix).toBe("remove it (pulumi config rm boreal:colour); the keys are listed in docs/reference/config.md");
  });
});

describe("a member share written with host bits set", () => {
  const federation = fixtureRegistryFiles().find((f) => f.path === "federation/1.yaml")!;
  const withShare = (share: string) => {
    const content = federation.content.replace("mesh: 100.64.0.16/28", `mesh: ${share}`);
    expect(content).not.toBe(federation.content);
    const parsed = parseFederationVersion({ path: federation.path, content });
    if (!("problems" in parsed)) throw new Error("accepted");
    return parsed.problems.find((p) => p.key === "members[1].mesh")!;
  };

  test("100.64.0.40/28 → did you mean 100.64.0.32/28", () => {
    expect(alignedPrefix("100.64.0.40/28")).toBe("100.64.0.32/28");
    expect(alignedPrefix("fd42:b0:ea1::1234/120")).toBe("fd42:b0:ea1::1200/120");
    expect(alignedPrefix("100.64.0.40")).toBeUndefined();
    const problem = withShare("100.64.0.40/28");
    expect(problem.message).toBe("100.64.0.40/28 is not an IPv4 prefix: its host bits are set");
    expect(problem.fix).toBe("did you mean 100.64.0.32/28? (the /28 that holds it)");
  });

  test("something that is no prefix at all keeps the general fix, and names what was written", () => {
    const problem = withShare("100.64.0.x/28");
    expect(problem.message).toBe('"100.64.0.x/28" is not an IPv4 prefix');
    expect(problem.fix).toMatch(/^give the member a prefix of the federation's mesh.ipv4/);
  });
});

describe("a problem's line names its key once", () => {
  test("the key (or its general form) in front of a verb is dropped from the message", () => {
    expect(withoutKey("members[0].mesh", "members[].mesh is missing")).toBe("is missing");
    expect(withoutKey("boreal:mtu", "mtu must be a whole number")).toBe("must be a whole number");
    expect(withoutKey("boreal:ssh.port", "boreal:ssh.port is not a port")).toBe("is not a port");
    // Not a subject then a verb: kept as written.
    expect(withoutKey("threshold", "threshold 5 is more than the 2 member(s)")).toBe("threshold 5 is more than the 2 member(s)");
    expect(withoutKey("mesh.ipv4", "mesh.ipv4 and mesh.ipv6 overlap")).toBe("mesh.ipv4 and mesh.ipv6 overlap");
  });

  test("as printed for a stack config", () => {
    const problems = problemsOf(rawStackConfig("b1", { mtu: "many" }));
    const text = formatProblems(problems);
    expect(text).toMatch(/\n {2}- stack config: boreal:mtu: \S/);
    expect(text).not.toMatch(/boreal:mtu: (boreal:)?mtu /);
  });
});
