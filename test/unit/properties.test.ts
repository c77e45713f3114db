// Property-based tests of two pure pieces of the core, each against an independent
// brute-force model:
// - the mesh address allocator (src/core/mesh/allocate.ts) on random federations: random
//   disjoint member shares, random nodes already holding addresses (sometimes a different
//   host index in each family, as overrides leave them), random overrides;
// - the port ranges the firewall plans with (src/core/values/ports.ts, used by
//   src/core/firewall/plan.ts and spec.ts), against sets of ports.
// The model's IPv6 arithmetic goes through the WHATWG URL parser, never src/core/values/ip.ts.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { allocateMeshAddresses, memberShare, type MeshAddresses } from "../../src/core/mesh/allocate";
import { federationSchema, type Federation, type FederationVersion, type NodeDescriptor } from "../../src/core/registry/format";
import { isIP } from "../../src/core/values/ip";
import { parsePortSpec, portSpecText, rangesOverlap, splitAround, type PortRange, type Protocol } from "../../src/core/values/ports";
import { BorealConfigError, type ConfigProblem } from "../../src/core/values/problems";
import { meshHostProblem } from "../../src/core/values/scope";

// ---------------------------------------------------------------------------------------
// The model's own address arithmetic.

/** 100.64.0.0, where the shared address space (RFC 6598) every federation's mesh lives in starts. */
const SPACE_BASE = 0x64400000;
const SPACE_SIZE = 2 ** 22;

const v4text = (n: number): string => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
const v4value = (text: string): number => text.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);

const v6groups = (value: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((value >> BigInt((7 - i) * 16)) & 0xffffn));
/** Eight groups, every one written with four digits. */
const v6full = (value: bigint): string =>
  v6groups(value)
    .map((g) => g.toString(16).padStart(4, "0"))
    .join(":");
/** RFC 5952 form, as the WHATWG URL parser serialises an IPv6 host. */
const v6canonical = (text: string): string => new URL(`http://[${text}]/`).hostname.slice(1, -1);
const v6value = (text: string): bigint => {
  const canonical = v6canonical(text);
  const [head, tail] = canonical.includes("::") ? canonical.split("::") : [canonical, undefined];
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const parts =
    tail === undefined ? headParts : [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill("0"), ...tailParts];
  return parts.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
};

/** How a node or an override writes its IPv6 address: every form the stack config and the descriptor schema accept. */
type V6Style = "canonical" | "full" | "upper";
const v6StyleArb = fc.constantFrom<V6Style>("canonical", "full", "upper");
const v6text = (value: bigint, style: V6Style): string =>
  style === "full" ? v6full(value) : style === "upper" ? v6full(value).toUpperCase() : v6canonical(v6full(value));

// ---------------------------------------------------------------------------------------
// Random federations.

interface ModelMember {
  name: string;
  /** First IPv4 address of the share, and its size (a power of two). */
  base: number;
  bits: number;
  size: number;
}

interface ModelNode {
  node: string;
  member: string;
  a4: number;
  /** Host index of the IPv6 address in the federation's /48 (the IPv6 address is fed6 + off6). */
  off6: number;
}

interface World {
  fedBase: number;
  fedBits: number;
  fedSize: number;
  /** Base of the federation's IPv6 /48. */
  fed6: bigint;
  members: ModelMember[];
  nodes: ModelNode[];
  federation: Federation;
}

const signingKey = (i: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA${String(i).padStart(44, "A")}`;

function descriptor(n: ModelNode, fed6: bigint, style: V6Style): NodeDescriptor {
  return {
    member: n.member,
    node: n.node,
    serial: 1,
    endpoint: "198.51.100.1:51820",
    publicKey: Buffer.alloc(32, 7).toString("base64"),
    keyProof: `${"P".repeat(86)}==`,
    mesh: { ipv4: v4text(n.a4), ipv6: v6text(fed6 + BigInt(n.off6), style) },
    zones: [],
    exporter: `${v4text(n.a4)}:9100`,
    updatedAt: "2026-11-20T10:00:00Z",
  };
}

/** The federation value the allocator reads, from the model's numbers. */
function makeWorld(
  fedBase: number,
  fedBits: number,
  fed6: bigint,
  members: ModelMember[],
  nodes: (ModelNode & { style?: V6Style })[],
): World {
  const fedSize = 2 ** (32 - fedBits);
  const settings: FederationVersion = {
    version: 1,
    name: "prop",
    domain: "fed.example.",
    mesh: { ipv4: `${v4text(fedBase)}/${fedBits}`, ipv6: `${v6canonical(v6full(fed6))}/48` },
    defaults: { listenPort: 51820, mtu: 1420, persistentKeepalive: 25 },
    threshold: 1,
    mirrors: [],
    members: members.map((m, i) => ({
      name: m.name,
      keys: [signingKey(i)],
      zones: [`${m.name}.example.`],
      mesh: `${v4text(m.base)}/${m.bits}`,
      nodes: [`${m.name}-*`],
    })),
  };
  const descriptors = nodes.map((n) => descriptor(n, fed6, n.style ?? "canonical")).sort((a, b) => a.node.localeCompare(b.node));
  return {
    fedBase,
    fedBits,
    fedSize,
    fed6,
    members,
    nodes: nodes.map(({ node, member, a4, off6 }) => ({ node, member, a4, off6 })),
    federation: { settings, nodes: descriptors },
  };
}

const isHost4 = (w: World, a4: number) => a4 !== w.fedBase && a4 !== w.fedBase + w.fedSize - 1;
/** The federation's /48 has one address that is no host: its first. */
const isHost6 = (off6: number) => off6 !== 0;

const slotArb = fc.oneof(fc.constant("first" as const), fc.constant("last" as const), fc.nat());
const pickSlot = (slot: "first" | "last" | number, slots: number) => (slot === "first" ? 0 : slot === "last" ? slots - 1 : slot % slots);

/** A federation whose member shares are disjoint, each node inside its member's share, on a host, and unique in each family. */
const worldArb: fc.Arbitrary<World> = fc
  .integer({ min: 16, max: 30 })
  .chain((fedBits) =>
    fc.record({
      fedBits: fc.constant(fedBits),
      fedSlot: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** (fedBits - 10) - 1 })),
      fed6: fc.bigInt({ min: 0n, max: (1n << 41n) - 1n }).map((r) => ((0b1111110n << 41n) | r) << 80n),
      members: fc.array(
        fc.record({
          bits: fc.integer({ min: Math.max(fedBits, 24), max: 32 }),
          slot: slotArb,
          fill: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
          nodes: fc.array(fc.record({ i: fc.nat(), j: fc.option(fc.nat(), { nil: undefined, freq: 3 }), style: v6StyleArb }), {
            maxLength: 10,
          }),
        }),
        { minLength: 1, maxLength: 5 },
      ),
    }),
  )
  .map(({ fedBits, fedSlot, fed6, members: specs }) => {
    const fedSize = 2 ** (32 - fedBits);
    const fedBase = SPACE_BASE + fedSlot * fedSize;
    const members: ModelMember[] = [];
    const nodes: (ModelNode & { style: V6Style })[] = [];
    const taken4 = new Set<number>();
    const taken6 = new Set<number>();
    specs.forEach((spec, k) => {
      const size = 2 ** (32 - spec.bits);
      const base = fedBase + pickSlot(spec.slot, 2 ** (spec.bits - fedBits)) * size;
      if (members.some((m) => base < m.base + m.size && m.base < base + size)) return;
      const member = { name: `m${k}`, base, bits: spec.bits, size };
      members.push(member);
      const wanted = [
        ...(spec.fill ? Array.from({ length: size }, (_, i) => ({ i, j: undefined, style: "canonical" as const })) : []),
        ...spec.nodes,
      ];
      for (const { i, j, style } of wanted) {
        const a4 = base + (i % size);
        const off6 = base - fedBase + ((j ?? i) % size);
        if (a4 === fedBase || a4 === fedBase + fedSize - 1 || off6 === 0 || taken4.has(a4) || taken6.has(off6)) continue;
        taken4.add(a4);
        taken6.add(off6);
        nodes.push({ node: `${member.name}-${nodes.length}`, member: member.name, a4, off6, style });
      }
    });
    return makeWorld(fedBase, fedBits, fed6, members, nodes);
  });

/** A world and one of its members. */
const worldMemberArb = worldArb.chain((w) => fc.tuple(fc.constant(w), fc.constantFrom(...w.members)));

/** The lowest host index of the share free in both families, ignoring the node asking (its own old addresses). */
function modelLowest(w: World, m: ModelMember, node: string): { a4: number; off6: number } | undefined {
  const others = w.nodes.filter((n) => n.node !== node);
  const taken4 = new Set(others.map((n) => n.a4));
  const taken6 = new Set(others.map((n) => n.off6));
  for (let a4 = m.base; a4 < m.base + m.size; a4++) {
    const off6 = a4 - w.fedBase;
    if (isHost4(w, a4) && isHost6(off6) && !taken4.has(a4) && !taken6.has(off6)) return { a4, off6 };
  }
  return undefined;
}

const texts = (w: World, a: { a4: number; off6: number }): MeshAddresses => ({
  ipv4: v4text(a.a4),
  ipv6: v6canonical(v6full(w.fed6 + BigInt(a.off6))),
});

type Outcome = { ok: MeshAddresses } | { problem: ConfigProblem };

function outcome(run: () => MeshAddresses): Outcome {
  try {
    return { ok: run() };
  } catch (error) {
    if (!(error instanceof BorealConfigError)) throw error;
    expect(error.problems).toHaveLength(1);
    return { problem: error.problems[0] };
  }
}

function exhausted(m: ModelMember): Outcome {
  return {
    problem: {
      source: "federation",
      key: `members.${m.name}.mesh`,
      message: `no free mesh address left in member ${m.name}'s share ${v4text(m.base)}/${m.bits}`,
      fix: expect.stringMatching(/larger share/),
    },
  };
}

/** Everything a freshly allocated pair must be, checked one by one against the model's numbers. */
function expectUsable(w: World, m: ModelMember, node: string, r: MeshAddresses): void {
  const a4 = v4value(r.ipv4);
  const a6 = v6value(r.ipv6);
  // Canonical text: dotted quad without leading zeros, RFC 5952.
  expect(r.ipv4).toBe(v4text(a4));
  expect(r.ipv6).toBe(v6canonical(r.ipv6));
  // Inside the member's share, in both families, at the same host index.
  expect(a4 >= m.base && a4 < m.base + m.size, `${r.ipv4} in ${v4text(m.base)}/${m.bits}`).toBe(true);
  const share6 = w.fed6 + BigInt(m.base - w.fedBase);
  expect(a6 >= share6 && a6 < share6 + BigInt(m.size), `${r.ipv6} in the IPv6 share`).toBe(true);
  expect(a6 - w.fed6).toBe(BigInt(a4 - w.fedBase));
  // A host peers accept: not the network or broadcast address of the federation's prefixes.
  expect(isHost4(w, a4) && isHost6(Number(a6 - w.fed6))).toBe(true);
  expect(meshHostProblem(r.ipv4, w.federation.settings.mesh.ipv4)).toBeUndefined();
  expect(meshHostProblem(r.ipv6, w.federation.settings.mesh.ipv6)).toBeUndefined();
  // Nobody else's.
  const others = w.nodes.filter((n) => n.node !== node);
  expect(others.filter((n) => n.a4 === a4 || w.fed6 + BigInt(n.off6) === a6)).toEqual([]);
}

const RUNS = { numRuns: 200 };

describe("mesh address allocation (properties)", () => {
  test("the generator makes federations the registry schema accepts", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const parsed = federationSchema.safeParse(w.federation.settings);
        expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
        for (const d of w.federation.nodes) {
          expect(meshHostProblem(d.mesh.ipv4, w.federation.settings.mesh.ipv4)).toBeUndefined();
          expect(meshHostProblem(d.mesh.ipv6, w.federation.settings.mesh.ipv6)).toBeUndefined();
        }
      }),
      { numRuns: 30 },
    );
  });

  test("memberShare: the member's IPv4 prefix, and the same host indexes in the federation's /48", () => {
    fc.assert(
      fc.property(worldMemberArb, ([w, m]) => {
        const share = memberShare(w.federation.settings, m.name)!;
        expect({ base: share.ipv4.base, bits: share.ipv4.bits }).toEqual({ base: BigInt(m.base), bits: m.bits });
        const base6 = w.fed6 + BigInt(m.base - w.fedBase);
        expect({ base: share.ipv6.base, bits: share.ipv6.bits, family: share.ipv6.family }).toEqual({
          base: base6,
          bits: 128 - (32 - m.bits),
          family: 6,
        });
        expect(share.ipv6.text).toBe(`${v6canonical(v6full(base6))}/${128 - (32 - m.bits)}`);
        expect(memberShare(w.federation.settings, `${m.name}x`)).toBeUndefined();
      }),
      RUNS,
    );
  });

  test("a new node gets the lowest free host index of its member's share, or a clear error when none is left", () => {
    fc.assert(
      fc.property(worldMemberArb, ([w, m]) => {
        const node = `${m.name}-new`;
        const got = outcome(() => allocateMeshAddresses(w.federation, { node, member: m.name }));
        const want = modelLowest(w, m, node);
        if (!want) {
          expect(got).toEqual(exhausted(m));
          return;
        }
        expect(got).toEqual({ ok: texts(w, want) });
        expectUsable(w, m, node, (got as { ok: MeshAddresses }).ok);
      }),
      { numRuns: 300 },
    );
  });

  test("a registered node keeps its addresses, in canonical form", () => {
    fc.assert(
      fc.property(
        worldArb.filter((w) => w.nodes.length > 0).chain((w) => fc.tuple(fc.constant(w), fc.constantFrom(...w.nodes))),
        ([w, n]) => {
          expect(allocateMeshAddresses(w.federation, { node: n.node, member: n.member })).toEqual(texts(w, n));
        },
      ),
      RUNS,
    );
  });

  test("deterministic: the same answer twice, whatever the order of the nodes, and again once the node is registered", () => {
    fc.assert(
      fc.property(
        worldMemberArb.chain(([w, m]) =>
          fc.tuple(
            fc.constant(w),
            fc.constant(m),
            fc.shuffledSubarray(w.federation.nodes, { minLength: w.nodes.length, maxLength: w.nodes.length }),
            v6StyleArb,
          ),
        ),
        ([w, m, shuffled, style]) => {
          const request = { node: `${m.name}-new`, member: m.name };
          const first = outcome(() => allocateMeshAddresses(w.federation, request));
          expect(outcome(() => allocateMeshAddresses(w.federation, request))).toEqual(first);
          expect(outcome(() => allocateMeshAddresses({ ...w.federation, nodes: shuffled }, request))).toEqual(first);
          if (!("ok" in first)) return;
          const joined = makeWorld(w.fedBase, w.fedBits, w.fed6, w.members, [
            ...w.nodes,
            { node: request.node, member: m.name, a4: v4value(first.ok.ipv4), off6: Number(v6value(first.ok.ipv6) - w.fed6), style },
          ]);
          expect(allocateMeshAddresses(joined.federation, request)).toEqual(first.ok);
          // The next node of the member gets other addresses, or the clear error.
          const next = outcome(() => allocateMeshAddresses(joined.federation, { node: `${m.name}-next`, member: m.name }));
          if ("ok" in next) {
            expect(next.ok.ipv4).not.toBe(first.ok.ipv4);
            expect(next.ok.ipv6).not.toBe(first.ok.ipv6);
          } else expect(next).toEqual(exhausted(m));
        },
      ),
      RUNS,
    );
  });

  test("nodes joining one by one fill every free host index once, then get the clear error, never a duplicate", () => {
    fc.assert(
      fc.property(
        worldMemberArb.filter(([, m]) => m.size <= 64),
        ([start, m]) => {
          const free = Array.from({ length: m.size }, (_, i) => m.base + i).filter(
            (a4) =>
              isHost4(start, a4) && isHost6(a4 - start.fedBase) && !start.nodes.some((n) => n.a4 === a4 || n.off6 === a4 - start.fedBase),
          );
          let w = start;
          const allocated: MeshAddresses[] = [];
          for (;;) {
            const node = `${m.name}-j${allocated.length}`;
            const got = outcome(() => allocateMeshAddresses(w.federation, { node, member: m.name }));
            if (!("ok" in got)) {
              expect(got).toEqual(exhausted(m));
              break;
            }
            expectUsable(w, m, node, got.ok);
            allocated.push(got.ok);
            expect(allocated.length).toBeLessThanOrEqual(free.length);
            w = makeWorld(w.fedBase, w.fedBits, w.fed6, w.members, [
              ...w.nodes,
              { node, member: m.name, a4: v4value(got.ok.ipv4), off6: Number(v6value(got.ok.ipv6) - w.fed6) },
            ]);
          }
          expect(allocated.map((r) => v4value(r.ipv4))).toEqual(free);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("a member the federation does not list is refused naming boreal:member", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        expect(outcome(() => allocateMeshAddresses(w.federation, { node: "x1", member: "stranger" }))).toEqual({
          problem: expect.objectContaining({
            source: "stack config",
            key: "boreal:member",
            message: "member stranger is not in federation version 1",
          }),
        });
      }),
      { numRuns: 20 },
    );
  });

  // Overrides: each family's address drawn from the share (free or taken), the federation's
  // edges, anywhere in the federation, another node's, or anywhere at all.
  type Pick = { kind: "share" | "edge" | "fed" | "node" | "anywhere"; n: number; wide: bigint };
  const pickArb: fc.Arbitrary<Pick> = fc.record({
    kind: fc.constantFrom("share", "share", "edge", "fed", "node", "anywhere"),
    n: fc.nat(),
    wide: fc.bigInt({ min: 0n, max: (1n << 80n) - 1n }),
  });
  const overrideArb = fc.record({
    ipv4: fc.option(pickArb, { nil: undefined }),
    ipv6: fc.option(fc.record({ pick: pickArb, style: fc.constantFrom<V6Style | "zone">("canonical", "full", "upper", "zone") }), {
      nil: undefined,
    }),
  });
  /** Host index in the federation (IPv4 address minus the federation's first) a pick lands on. */
  function pickIndex(w: World, m: ModelMember, pick: Pick, family: 4 | 6): number | bigint {
    const node = w.nodes[pick.n % Math.max(1, w.nodes.length)];
    switch (pick.kind) {
      case "share":
        return m.base - w.fedBase + (pick.n % m.size);
      case "edge":
        return pick.n % 2 === 0 ? 0 : w.fedSize - 1;
      case "fed":
        return pick.n % w.fedSize;
      case "node":
        return node ? (family === 4 ? node.a4 - w.fedBase : node.off6) : m.base - w.fedBase;
      case "anywhere":
        return family === 4 ? (pick.n % SPACE_SIZE) + SPACE_BASE - w.fedBase : pick.wide;
    }
  }

  type Expected = { ok: MeshAddresses } | { key: string; message: RegExp };

  /** What the allocator promises for a request with overrides, from the model's numbers alone. */
  function expectedWithOverride(
    w: World,
    m: ModelMember,
    node: string,
    ov4: number | undefined,
    ov6: { value: bigint; zone: boolean } | undefined,
  ): Expected | "exhausted" {
    const existing = w.nodes.find((n) => n.node === node && n.member === m.name);
    const others = w.nodes.filter((n) => n.node !== node);
    const fallback = existing ?? modelLowest(w, m, node);
    if ((ov4 === undefined || ov6 === undefined) && !fallback) return "exhausted";
    const a4 = ov4 ?? fallback!.a4;
    const a6 = ov6?.value ?? w.fed6 + BigInt(fallback!.off6);
    const key4 = "boreal:meshAddress.ipv4";
    const key6 = "boreal:meshAddress.ipv6";
    if (a4 < m.base || a4 >= m.base + m.size) return { key: key4, message: new RegExp(`is outside member ${m.name}'s mesh share`) };
    if (others.some((n) => n.a4 === a4)) return { key: key4, message: /is already used by another node/ };
    if (a4 === w.fedBase) return { key: key4, message: /is the network address of/ };
    if (a4 === w.fedBase + w.fedSize - 1) return { key: key4, message: /is the broadcast address of/ };
    // A zone names a link, not an address: refused before anything is read of it.
    if (ov6?.zone) return { key: key6, message: /is not an IPv6 address/ };
    const share6 = w.fed6 + BigInt(m.base - w.fedBase);
    if (a6 < share6 || a6 >= share6 + BigInt(m.size)) return { key: key6, message: new RegExp(`is outside member ${m.name}'s mesh share`) };
    if (others.some((n) => w.fed6 + BigInt(n.off6) === a6)) return { key: key6, message: /is already used by another node/ };
    if (a6 === w.fed6) return { key: key6, message: /is the network address of/ };
    return { ok: { ipv4: v4text(a4), ipv6: v6canonical(v6full(a6)) } };
  }

  test("an override is honoured (in canonical form) or refused with a BorealConfigError naming its field", () => {
    fc.assert(
      fc.property(
        worldMemberArb.chain(([w, m]) => {
          const own = w.nodes.filter((n) => n.member === m.name);
          const node =
            own.length > 0
              ? fc.oneof(fc.constant(`${m.name}-new`), fc.constantFrom(...own.map((n) => n.node)))
              : fc.constant(`${m.name}-new`);
          return fc.tuple(fc.constant(w), fc.constant(m), node, overrideArb);
        }),
        ([w, m, node, override]) => {
          const ov4 = override.ipv4 && w.fedBase + Number(pickIndex(w, m, override.ipv4, 4));
          const ov6 = override.ipv6 && {
            value: (w.fed6 + BigInt(pickIndex(w, m, override.ipv6.pick, 6))) & ((1n << 128n) - 1n),
            style: override.ipv6.style,
          };
          const ov4Text = ov4 === undefined ? undefined : v4text(ov4);
          const ov6Text = ov6 && (ov6.style === "zone" ? `${v6canonical(v6full(ov6.value))}%eth0` : v6text(ov6.value, ov6.style));
          // What the stack config lets through to the allocator.
          if (ov6Text !== undefined) expect(isIP(ov6Text)).toBe(ov6!.style === "zone" ? 0 : 6);
          // A zone right after "::" is the crash below.
          fc.pre(!ov6Text?.includes("::%"));
          const want = expectedWithOverride(w, m, node, ov4, ov6 && { value: ov6.value, zone: ov6.style === "zone" });
          // A new node asking with both addresses in a share with no free index is the
          // known bug below (the fallback is computed, and fails, before the override is looked at).
          const existing = w.nodes.some((n) => n.node === node && n.member === m.name);
          fc.pre(!(ov4 !== undefined && ov6 !== undefined && !existing && !modelLowest(w, m, node)));
          const got = outcome(() =>
            allocateMeshAddresses(w.federation, { node, member: m.name, override: { ipv4: ov4Text, ipv6: ov6Text } }),
          );
          if (want === "exhausted") expect(got).toEqual(exhausted(m));
          else if ("ok" in want) {
            expect(got).toEqual(want);
            expectUsableOverride(w, m, node, want.ok);
          } else
            expect(got).toEqual({
              problem: { source: "stack config", key: want.key, message: expect.stringMatching(want.message), fix: expect.any(String) },
            });
        },
      ),
      { numRuns: 250 },
    );
  });

  /** An accepted override: in the share, a host, nobody else's (the index may differ between families). */
  function expectUsableOverride(w: World, m: ModelMember, node: string, r: MeshAddresses): void {
    const a4 = v4value(r.ipv4);
    const a6 = v6value(r.ipv6);
    const share6 = w.fed6 + BigInt(m.base - w.fedBase);
    expect(a4 >= m.base && a4 < m.base + m.size && a6 >= share6 && a6 < share6 + BigInt(m.size)).toBe(true);
    expect(meshHostProblem(r.ipv4, w.federation.settings.mesh.ipv4)).toBeUndefined();
    expect(meshHostProblem(r.ipv6, w.federation.settings.mesh.ipv6)).toBeUndefined();
    expect(w.nodes.filter((n) => n.node !== node && (n.a4 === a4 || w.fed6 + BigInt(n.off6) === a6))).toEqual([]);
  }

  /**
   * A share where every host index is blocked in one family or the other, yet one IPv4
   * address and one IPv6 address are free: index p has its IPv4 address free (its IPv6 one is
   * taken by node z), index q its IPv6 address (its IPv4 one is z's).
   */
  const blockedShareArb = fc
    .record({
      fedBits: fc.integer({ min: 24, max: 30 }),
      fed6: fc.bigInt({ min: 0n, max: (1n << 41n) - 1n }).map((r) => ((0b1111110n << 41n) | r) << 80n),
      shareBits: fc.integer({ min: 28, max: 31 }),
      slot: slotArb,
      p: fc.nat(),
      q: fc.nat(),
    })
    .map(({ fedBits, fed6, shareBits, slot, p, q }) => {
      const bits = Math.max(fedBits, shareBits);
      const fedSize = 2 ** (32 - fedBits);
      const size = 2 ** (32 - bits);
      const base = SPACE_BASE + pickSlot(slot, 2 ** (bits - fedBits)) * size;
      const hosts = Array.from({ length: size }, (_, i) => base + i).filter((a4) => a4 !== SPACE_BASE && a4 !== SPACE_BASE + fedSize - 1);
      return { fedBits, fed6, m: { name: "m0", base, bits, size }, hosts, p, q };
    })
    .filter(({ hosts }) => hosts.length >= 2)
    .map(({ fedBits, fed6, m, hosts, p, q }) => {
      const ip = hosts[p % hosts.length];
      const iq = hosts.filter((a4) => a4 !== ip)[q % (hosts.length - 1)];
      const nodes: ModelNode[] = hosts
        .filter((a4) => a4 !== ip && a4 !== iq)
        .map((a4, k) => ({ node: `m0-${k}`, member: "m0", a4, off6: a4 - SPACE_BASE }));
      nodes.push({ node: "m0-z", member: "m0", a4: iq, off6: ip - SPACE_BASE });
      return { w: makeWorld(SPACE_BASE, fedBits, fed6, [m], nodes), m, free4: ip, free6: iq - SPACE_BASE };
    });

  // Was a bug (src/core/mesh/allocate.ts): allocateMeshAddresses computed the fallback
  // (lowestFree) before it looks at the override, so a new node given both addresses in
  // full is refused with "no free mesh address left" whenever its member's share has no
  // index free in *both* families, although the two addresses given are free and valid.
  // Counterexample: mesh 100.64.0.0/24 and fd42:b0:ea1::/48 (any), member m0 with share
  // 100.64.0.0/30; node m0-z holds 100.64.0.1 and fd42:b0:ea1::2 (a past override): index 1
  // is blocked (its IPv4 address is taken), index 2 too (its IPv6 address is taken), 0 and 3
  // are the network and broadcast addresses. Override { ipv4: 100.64.0.2, ipv6:
  // fd42:b0:ea1::1 } for new node m0-new: both free, inside the share, hosts; the allocator
  // throws members.m0.mesh "no free mesh address left in member m0's share 100.64.0.0/30".
  test("an override of both addresses is honoured even when no host index of the share is free in both families", () => {
    fc.assert(
      fc.property(blockedShareArb, ({ w, m, free4, free6 }) => {
        expect(modelLowest(w, m, "m0-new")).toBeUndefined();
        const override = { ipv4: v4text(free4), ipv6: v6canonical(v6full(w.fed6 + BigInt(free6))) };
        expect(expectedWithOverride(w, m, "m0-new", free4, { value: w.fed6 + BigInt(free6), zone: false })).toEqual({ ok: override });
        expect(outcome(() => allocateMeshAddresses(w.federation, { node: "m0-new", member: m.name, override }))).toEqual({ ok: override });
      }),
      { numRuns: 50 },
    );
  });

  // Was a bug (src/core/values/ip.ts parseIPv6, found by this file): an IPv6 override with a zone right after "::",
  // which isIP (and so the stack config's boreal:meshAddress.ipv6) accepts, crashes the
  // allocator with a bare RangeError instead of a BorealConfigError naming the field: the
  // group after "::" is "%eth0", parseInt("%eth0", 16) is NaN, and BigInt(NaN) throws.
  // (Other zones pass only by luck: parseInt("5%eth0", 16) is 5; meshHostProblem then
  // refuses them.) Counterexample: mesh 100.64.0.0/22 and fd45:707f:2386::/48, member share
  // 100.64.0.0/26, new node m0-new, override { ipv6: "fd45:707f:2386::%eth0" }:
  // "RangeError: The number NaN cannot be converted to a BigInt because it is not an integer".
  test("an IPv6 override with a zone is refused with a BorealConfigError, not a crash", () => {
    fc.assert(
      fc.property(
        worldMemberArb.filter(([w, m]) => modelLowest(w, m, `${m.name}-new`) !== undefined),
        fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }),
        fc.constantFrom("%eth0", "%wg0", "%1"),
        ([w, m], high, zone) => {
          // Often written ending in "::" (the last two groups are zero), where the zone once crashed the parser.
          const written = `${v6canonical(v6full(high << 32n))}${zone}`;
          // The stack config refuses it (the core's isIP refuses zones); the allocator too, by key.
          expect(isIP(written)).toBe(0);
          const got = outcome(() =>
            allocateMeshAddresses(w.federation, { node: `${m.name}-new`, member: m.name, override: { ipv6: written } }),
          );
          expect(got).toEqual({ problem: expect.objectContaining({ source: "stack config", key: "boreal:meshAddress.ipv6" }) });
        },
      ),
      { numRuns: 30 },
    );
  });

  /** IPv6 with its last 32 bits as a dotted quad, as the stack config accepts it (isIP). */
  const v4TailText = (value: bigint, compress: boolean): string => {
    const groups = v6groups(value).map((g) => g.toString(16));
    const tail = v4text(Number(value & 0xffffffffn));
    return compress && groups.slice(3, 6).every((g) => g === "0")
      ? `${groups.slice(0, 3).join(":")}::${tail}`
      : `${groups.slice(0, 6).join(":")}:${tail}`;
  };

  // Was a bug (src/core/values/ip.ts parseIPv6, used by the allocator through parseAddress): an
  // IPv6 address written with an IPv4 tail, which isIP (and so the stack config's
  // boreal:meshAddress.ipv6) accepts, is read wrongly: the dotted quad is taken as one hex
  // group, parseInt("0.0.0.5", 16) = 0. meshHostProblem reads it right (addressValue in
  // src/core/values/scope.ts), so the two disagree. Counterexample: mesh 100.64.0.0/24 and
  // fd42:b0:ea1::/48, member share 100.64.0.0/28, new node, override { ipv6:
  // "fd42:b0:ea1::0.0.0.5" } (= fd42:b0:ea1::5): the allocator returns ipv6
  // "fd42:b0:ea1::", the network address of the /48, which peers refuse; in a share not at
  // the start of the federation the same override is refused as "outside the share".
  test("an IPv6 override written with an IPv4 tail is honoured as the address it names", () => {
    fc.assert(
      fc.property(
        worldMemberArb.filter(([w, m]) => modelLowest(w, m, `${m.name}-new`) !== undefined),
        fc.boolean(),
        ([w, m], compress) => {
          const node = `${m.name}-new`;
          const want = texts(w, modelLowest(w, m, node)!);
          const written = v4TailText(v6value(want.ipv6), compress);
          expect(isIP(written)).toBe(6);
          expect(v6canonical(written)).toBe(want.ipv6);
          expect(outcome(() => allocateMeshAddresses(w.federation, { node, member: m.name, override: { ipv6: written } }))).toEqual({
            ok: want,
          });
        },
      ),
      { numRuns: 50 },
    );
  });
});

// ---------------------------------------------------------------------------------------
// Port ranges.

const protocolArb = fc.constantFrom<Protocol>("tcp", "udp");
/** A valid range (1-65535, first <= last), at most 400 ports long so it can be expanded. */
const rangeArb: fc.Arbitrary<PortRange> = fc
  .record({
    protocol: protocolArb,
    first: fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 65000, max: 65535 })),
    length: fc.integer({ min: 0, max: 400 }),
  })
  .map(({ protocol, first, length }) => ({ protocol, first, last: Math.min(65535, first + length) }));

const expand = (r: PortRange): number[] => Array.from({ length: r.last - r.first + 1 }, (_, i) => r.first + i);

/** Maximal runs of `kept`, a sorted list of ports. */
function runsOf(kept: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const port of kept) {
    const last = runs[runs.length - 1];
    if (last && last[1] === port - 1) last[1] = port;
    else runs.push([port, port]);
  }
  return runs;
}

/** Ports of the range (the callers' contract: the kit's ports the range overlaps), some picked twice, in any order. */
const rangeAndPortsArb = rangeArb.chain((range) =>
  fc.tuple(
    fc.constant(range),
    fc.array(fc.oneof(fc.constant(range.first), fc.constant(range.last), fc.integer({ min: range.first, max: range.last })), {
      maxLength: 12,
    }),
  ),
);

describe("port ranges (properties)", () => {
  test("splitAround: the range without the ports, as maximal runs in order, written 'a, b and c'", () => {
    fc.assert(
      fc.property(rangeAndPortsArb, ([range, ports]) => {
        const removed = new Set(ports);
        const runs = runsOf(expand(range).filter((p) => !removed.has(p)));
        const pieces = runs.map(([a, b]) => `${range.protocol}/${a}${a === b ? "" : `-${b}`}`);
        const want = pieces.length <= 1 ? pieces.join("") : `${pieces.slice(0, -1).join(", ")} and ${pieces[pieces.length - 1]}`;
        expect(splitAround(range, ports)).toBe(want);
      }),
      { numRuns: 500 },
    );
  });

  test("splitAround: every piece parses back, and together they are exactly the range minus the ports, disjoint and ordered", () => {
    fc.assert(
      fc.property(rangeAndPortsArb, ([range, ports]) => {
        const out = splitAround(range, ports);
        const keep = expand(range).filter((p) => !ports.includes(p));
        if (keep.length === 0) {
          expect(out).toBe("");
          return;
        }
        const texts = out.split(/, | and /);
        expect(out.split(" and ").length).toBe(Math.min(2, texts.length));
        const pieces = texts.map((t) => parsePortSpec(t));
        // Each piece parses, is of the range's protocol, runs forward and is written canonical;
        // pieces are ordered, disjoint and not touching: a removed port lies between two.
        const wrong = pieces.flatMap((p, i) => {
          if (!p) return [`${texts[i]} does not parse`];
          const prev = pieces[i - 1];
          const ok =
            p.protocol === range.protocol &&
            p.first <= p.last &&
            portSpecText(p) === texts[i] &&
            (i === 0 || (prev !== undefined && prev.last + 1 < p.first));
          return ok ? [] : [`${texts[i]} (piece ${i})`];
        });
        expect(wrong).toEqual([]);
        const covered = pieces.flatMap((p) => expand(p!));
        expect(covered).toEqual(keep);
      }),
      { numRuns: 500 },
    );
  });

  test("splitAround: the order and repetition of the ports do not matter", () => {
    fc.assert(
      fc.property(
        rangeAndPortsArb.chain(([range, ports]) =>
          fc.tuple(
            fc.constant(range),
            fc.constant(ports),
            fc.shuffledSubarray(ports, { minLength: ports.length, maxLength: ports.length }),
          ),
        ),
        ([range, ports, shuffled]) => {
          expect(splitAround(range, [...shuffled, ...shuffled])).toBe(
            splitAround(
              range,
              [...new Set(ports)].sort((a, b) => a - b),
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  // Was a latent bug (src/core/values/ports.ts splitAround): a port outside the range was not
  // ignored: below the range it moves the start of the first piece down to that port + 1,
  // above it the last piece runs up to that port - 1. Counterexample: splitAround(tcp/100-200,
  // [50]) is "tcp/51-200", splitAround(tcp/100-200, [300]) is "tcp/100-299". The callers
  // today (firewall/plan.ts, firewall/spec.ts) only pass single ports the range overlaps, so
  // no fix text shows it yet.
  test("splitAround ignores ports outside the range", () => {
    fc.assert(
      fc.property(rangeArb, fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 4 }), (range, ports) => {
        const outside = ports.filter((p) => p < range.first - 1 || p > range.last + 1);
        fc.pre(outside.length > 0);
        const inside = ports.filter((p) => p >= range.first && p <= range.last);
        expect(splitAround(range, ports)).toBe(splitAround(range, inside));
      }),
      { numRuns: 100 },
    );
  });

  test("portSpecText and parsePortSpec: a range round-trips", () => {
    fc.assert(
      fc.property(rangeArb, (range) => {
        const text = portSpecText(range);
        expect(text).toBe(
          range.first === range.last ? `${range.protocol}/${range.first}` : `${range.protocol}/${range.first}-${range.last}`,
        );
        expect(parsePortSpec(text)).toEqual(range);
      }),
      { numRuns: 300 },
    );
  });

  // Text as members write it: any case, spaces around, leading zeros, a one-port range
  // written "a-a", numbers of up to five digits (bounds are the callers' to check).
  const digits = (min: number) =>
    fc
      .tuple(fc.integer({ min: 0, max: 99999 }), fc.integer({ min: 0, max: 4 }))
      .map(([n, zeros]) => "0".repeat(zeros) + String(n))
      .filter((s) => s.length >= min && s.length <= 5);
  const writtenArb = fc.record({
    protocol: fc.constantFrom("tcp", "udp", "TCP", "Udp", "uDP"),
    first: digits(1),
    last: fc.option(digits(1), { nil: undefined }),
    before: fc.constantFrom("", " ", "\t", "\n "),
    after: fc.constantFrom("", " ", "\n"),
  });

  test("parsePortSpec reads what members write; portSpecText writes it back canonical, and that parses to the same range", () => {
    fc.assert(
      fc.property(writtenArb, ({ protocol, first, last, before, after }) => {
        const text = `${before}${protocol}/${first}${last === undefined ? "" : `-${last}`}${after}`;
        const want = { protocol: protocol.toLowerCase(), first: Number(first), last: Number(last ?? first) };
        const range = parsePortSpec(text);
        expect(range).toEqual(want);
        const canonical = portSpecText(range!);
        expect(canonical).toBe(`${want.protocol}/${want.first}${want.first === want.last ? "" : `-${want.last}`}`);
        expect(parsePortSpec(canonical)).toEqual(want);
        expect(portSpecText(parsePortSpec(canonical)!)).toBe(canonical);
      }),
      { numRuns: 300 },
    );
  });

  test("parsePortSpec refuses what is no port spec", () => {
    const bad = fc.oneof(
      // an unknown protocol, or none
      fc.tuple(fc.constantFrom("sctp", "", "tcp6", "t cp", "icmp"), fc.integer({ min: 0, max: 99999 })).map(([p, n]) => `${p}/${n}`),
      // a number of six digits or more
      fc
        .tuple(protocolArb, fc.integer({ min: 100000, max: 10 ** 9 }), fc.boolean())
        .map(([p, n, asLast]) => (asLast ? `${p}/1-${n}` : `${p}/${n}`)),
      // another separator, sign or trailing text
      fc
        .tuple(protocolArb, fc.integer({ min: 0, max: 65535 }), fc.constantFrom(":", " / ", "/-", "/+", "/ "))
        .map(([p, n, sep]) => `${p}${sep}${n}`),
      fc
        .tuple(protocolArb, fc.integer({ min: 0, max: 65535 }), fc.constantFrom("-", "-x", " 80", ",80", "..80", "/"))
        .map(([p, n, tail]) => `${p}/${n}${tail}`),
    );
    fc.assert(
      fc.property(bad, (text) => {
        expect(parsePortSpec(text)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  // Small ranges near each other, so that they overlap about half the time.
  const nearRangeArb = fc
    .record({ protocol: protocolArb, first: fc.integer({ min: 1, max: 60 }), length: fc.integer({ min: 0, max: 20 }) })
    .map(({ protocol, first, length }) => ({ protocol, first, last: first + length }));

  test("rangesOverlap: symmetric, and true exactly when the two ranges share a port of one protocol", () => {
    fc.assert(
      fc.property(nearRangeArb, nearRangeArb, fc.integer({ min: 0, max: 65000 }), (a0, b0, shift) => {
        const [a, b] = [a0, b0].map((r) => ({ ...r, first: r.first + shift, last: r.last + shift }));
        const shared = a.protocol === b.protocol && expand(a).some((p) => expand(b).includes(p));
        expect(rangesOverlap(a, b)).toBe(shared);
        expect(rangesOverlap(b, a)).toBe(shared);
        expect(rangesOverlap(a, a)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
