// Look before closing (src/core/firewall/listening.ts): `ss -H -lntup` and `ip -o addr show`
// as real machines printed them, and what the kit's strict policy would cut of it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  ListeningContext,
  listeningProblems,
  parseInterfaceAddresses,
  parseListeners,
  judgeLook,
  lookWarnings,
  parseServerLook,
  sudoProblem,
  underlayListeners,
} from "../../src/core/firewall/listening";
import { firewallPlan } from "../../src/core/firewall/plan";
import { parseStackConfig } from "../../src/core/spec/stack";
import { BorealConfigError } from "../../src/core/values/problems";
import { fixtureSpec, rawStackConfig } from "../helpers/fixtures";

const sample = (name: string) => readFileSync(join(__dirname, "..", "fixtures", "listening", name), "utf8");
/** A workstation's sockets: every form ss gives an address (`*`, `[::]`, `%lo`, `%eth0`, a link-local one). */
const SS = sample("ss-lntup.txt");
const ADDRESSES = sample("ip-o-addr.txt");

/** A Debian 13 server before the kit: sshd, Postfix, nginx, chrony, WireGuard's kernel socket. */
const DEBIAN_SS = [
  'udp   UNCONN 0      0          127.0.0.1:323        0.0.0.0:*    users:(("chronyd",pid=488,fd=5))',
  'udp   UNCONN 0      0              [::1]:323           [::]:*    users:(("chronyd",pid=488,fd=6))',
  "udp   UNCONN 0      0            0.0.0.0:51820      0.0.0.0:*",
  'udp   UNCONN 0      0       0.0.0.0%eth0:68         0.0.0.0:*    users:(("dhclient",pid=412,fd=7))',
  'tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=301,fd=3))',
  'tcp   LISTEN 0      100          0.0.0.0:25         0.0.0.0:*    users:(("master",pid=812,fd=13))',
  'tcp   LISTEN 0      100             [::]:25            [::]:*    users:(("master",pid=812,fd=14))',
  'tcp   LISTEN 0      511                *:80               *:*    users:(("nginx",pid=901,fd=6),("nginx",pid=900,fd=6))',
  'tcp   LISTEN 0      511     198.51.100.12:443       0.0.0.0:*    users:(("nginx",pid=901,fd=7),("nginx",pid=900,fd=7))',
  'tcp   LISTEN 0      128          100.64.0.17:9100   0.0.0.0:*    users:(("prometheus-node",pid=655,fd=3))',
  // Debian's defaults of the monitoring packages the kit installs, before it configures them.
  'tcp   LISTEN 0      4096                 *:9115             *:*    users:(("prometheus-blac",pid=661,fd=3))',
  'tcp   LISTEN 0      4096                 *:9094             *:*    users:(("prometheus-aler",pid=662,fd=7))',
  'udp   UNCONN 0      0                    *:9094             *:*    users:(("prometheus-aler",pid=662,fd=8))',
].join("\n");
const DEBIAN_ADDRESSES = [
  "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
  "1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever",
  "2: eth0    inet 198.51.100.12/24 brd 198.51.100.255 scope global eth0\\       valid_lft forever preferred_lft forever",
  "5: wg0    inet 100.64.0.17/10 scope global wg0\\       valid_lft forever preferred_lft forever",
].join("\n");

const context = (firewall: unknown = {}, more: Partial<ListeningContext> = {}): ListeningContext => ({
  firewall: firewallPlan(fixtureSpec("b1", { firewall }).firewall, { sshPort: 22, listenPort: 51820 }),
  closeListening: [],
  meshInterface: "wg0",
  knotIsKits: false,
  ...more,
});
const ports = (problems: { message: string }[]) => problems.map((p) => /on (tcp|udp)\/\d+/.exec(p.message)?.[0].slice(3));

describe("parsing ss and ip", () => {
  test("every line of a real `ss -H -lntup`: protocol, address as bound, device, port, processes", () => {
    const listeners = parseListeners(SS);
    expect(listeners).toHaveLength(12);
    expect(listeners[0]).toEqual({
      protocol: "udp",
      address: "127.0.0.53",
      device: "lo",
      port: 18053,
      processes: [{ name: "python3", pid: 16707 }],
    });
    expect(listeners[3]).toMatchObject({ protocol: "udp", address: "fe80::fc:ff:fe00:1", device: "eth0", port: 18546 });
    // A socket of no process (a kernel one, or another user's seen without root).
    expect(listeners[4]).toEqual({ protocol: "tcp", address: "0.0.0.0", port: 2024, processes: [] });
    expect(listeners.find((l) => l.port === 18080)).toMatchObject({ address: "*" });
    expect(listeners.find((l) => l.port === 18993)).toMatchObject({ address: "::" });
    expect(listeners.find((l) => l.port === 9418)?.processes).toEqual([{ name: "git-daemon", pid: 5110 }]);
  });

  test("several processes on one socket, and lines that are not sockets, are read as they are", () => {
    const [nginx] = parseListeners(DEBIAN_SS).filter((l) => l.port === 80);
    expect(nginx.processes).toEqual([
      { name: "nginx", pid: 901 },
      { name: "nginx", pid: 900 },
    ]);
    expect(parseListeners("State Recv-Q\n\nsudo: a password is required\n")).toEqual([]);
  });

  test("`ip -o addr show`: each address with its interface", () => {
    expect(parseInterfaceAddresses(ADDRESSES)).toEqual([
      { iface: "lo", family: 4, address: "127.0.0.1" },
      { iface: "lo", family: 6, address: "::1" },
      { iface: "eth0", family: 4, address: "192.0.2.2" },
      { iface: "eth0", family: 6, address: "fd00::2" },
      { iface: "eth0", family: 6, address: "fe80::fc:ff:fe00:1" },
      { iface: "boreal-host", family: 4, address: "198.51.100.1" },
      { iface: "boreal-host", family: 6, address: "fe80::8893:96ff:fec7:bebb" },
    ]);
  });

  test("the underlay's listeners: not loopback-only, not bound to lo or to the mesh's address", () => {
    const seen = underlayListeners(parseListeners(SS), parseInterfaceAddresses(ADDRESSES), "wg0").map((l) => `${l.protocol}/${l.port}`);
    expect(seen).toEqual([
      "udp/18053",
      "udp/18068",
      "udp/18546",
      "tcp/2024",
      "tcp/18025",
      "tcp/9418",
      "tcp/18993",
      "tcp/18080",
      "tcp/18443",
    ]);
    const debian = underlayListeners(parseListeners(DEBIAN_SS), parseInterfaceAddresses(DEBIAN_ADDRESSES), "wg0");
    expect(debian.map((l) => l.port)).not.toContain(9100);
    expect(debian.map((l) => l.port)).not.toContain(323);
  });

  test("the check's sections", () => {
    const look = parseServerLook(
      `boreal-check: root\nboreal-check: listening\n${DEBIAN_SS}\nboreal-check: addresses\n${DEBIAN_ADDRESSES}\nboreal-check: end\n`,
    );
    expect(look).toMatchObject({ root: true, knotIsKits: false, listening: DEBIAN_SS, addresses: DEBIAN_ADDRESSES });
    expect(parseServerLook("boreal-check: no-sudo\nsudo: a password is required\n")).toMatchObject({
      root: false,
      sudoSaid: "sudo: a password is required",
    });
    expect(look.unresolvedHostname).toBeUndefined();
  });

  test("a server that cannot resolve its own name: a warning with the /etc/hosts line, for a sudo user only", () => {
    const look = parseServerLook(`boreal-check: unresolved-hostname\nweb-7\nboreal-check: root\nboreal-check: end\n`);
    expect(look).toMatchObject({ root: true, unresolvedHostname: "web-7" });
    expect(lookWarnings(look, "debian")).toEqual([
      `the server cannot resolve its own name "web-7": every sudo of debian, so every step of the up, waits for the resolver first (minutes for an up); fix: on the server, add '127.0.1.1 web-7' to /etc/hosts, as Debian's installer does`,
    ]);
    expect(lookWarnings(look, "root")).toEqual([]);
    expect(lookWarnings(parseServerLook("boreal-check: root\n"), "debian")).toEqual([]);
  });

  test("one judgement of the look: a user without sudo is the problem, the unresolved name a slowdown beside it", () => {
    const { firewall, closeListening, meshInterface } = context();
    const judged = judgeLook("boreal-check: unresolved-hostname\nweb-7\nboreal-check: no-sudo\nsudo: a password is required\n", {
      user: "debian",
      firewall,
      closeListening,
      meshInterface,
    });
    expect(judged.problems.map((p) => p.key)).toEqual(["boreal:ssh.user"]);
    expect(judged.slowdowns).toHaveLength(1);
    const listening = `boreal-check: root\nboreal-check: listening\n${DEBIAN_SS}\nboreal-check: addresses\n${DEBIAN_ADDRESSES}\nboreal-check: end\n`;
    expect(ports(judgeLook(listening, { user: "root", firewall, closeListening, meshInterface }).problems)).toEqual([
      "tcp/25",
      "tcp/80",
      "tcp/443",
    ]);
  });
});

describe("what the strict policy would cut", () => {
  const look = { listening: DEBIAN_SS, addresses: DEBIAN_ADDRESSES };

  test("mail and web undeclared: each port once, with its process, where it listens, and both ways out", () => {
    const problems = listeningProblems(look, context());
    expect(ports(problems)).toEqual(["tcp/25", "tcp/80", "tcp/443"]);
    expect(problems[0]).toEqual({
      source: "the server",
      key: "boreal:firewall.allow",
      message: '"master" (pid 812) listens on tcp/25 (every IPv4 address); the kit\'s firewall would close it to the underlay',
      fix: "keep it open: pulumi config set --path 'boreal:firewall.allow[0]' tcp/25 (add \"from\" to limit who may connect), or close it anyway: pulumi config set --path 'boreal:firewall.closeListening[0]' tcp/25",
    });
    expect(problems[2].message).toMatch(/^"nginx" \(pid 901, 900\) listens on tcp\/443 \(198\.51\.100\.12\)/);
    // Each fix names the next free index, after the entries already there.
    expect(problems[2].fix).toContain("'boreal:firewall.allow[2]' tcp/443");
  });

  test("in port order whatever order ss lists them in, so each fix's index stays the same from one look to the next", () => {
    const reversed = { ...look, listening: DEBIAN_SS.split("\n").reverse().join("\n") };
    expect(ports(listeningProblems(reversed, context()))).toEqual(["tcp/25", "tcp/80", "tcp/443"]);
    expect(listeningProblems(reversed, context())).toEqual(listeningProblems(look, context()));
  });

  test("SSH, WireGuard (a kernel socket), a DHCP client, loopback, the mesh's exporter and the kit's monitoring as Debian starts it are never reported", () => {
    const problems = listeningProblems(look, context());
    expect(problems.map((p) => p.message).join("\n")).not.toMatch(/tcp\/22|udp\/51820|udp\/68|udp\/323|9100|9115|9094/);
  });

  test("declared in allow (a range, or with from), or agreed to close: not reported", () => {
    const declared = context({ allow: ["tcp/25", "tcp/80-443"] });
    expect(listeningProblems(look, declared)).toEqual([]);
    const limited = context({ allow: [{ port: "tcp/25", from: ["198.51.100.0/24"] }] }, { closeListening: ["tcp/80", "tcp/443"] });
    expect(listeningProblems(look, limited)).toEqual([]);
    const some = context({ allow: ["tcp/443"] }, { closeListening: ["tcp/25"] });
    expect(ports(listeningProblems(look, some))).toEqual(["tcp/80"]);
    expect(listeningProblems(look, some)[0].fix).toContain("'boreal:firewall.allow[1]' tcp/80");
    expect(listeningProblems(look, some)[0].fix).toContain("'boreal:firewall.closeListening[1]' tcp/80");
  });

  test('policy "member" or the firewall off: the kit closes nothing, nothing is reported', () => {
    expect(listeningProblems(look, context({ policy: "member" }))).toEqual([]);
    expect(listeningProblems(look, context(false))).toEqual([]);
  });

  test("another DNS server on port 53 is reported whatever the policy, with the way out; the kit's own Knot is not", () => {
    const dns = {
      listening: [
        'udp   UNCONN 0      0      0.0.0.0:53     0.0.0.0:*    users:(("named",pid=700,fd=20))',
        'tcp   LISTEN 0      10     0.0.0.0:53     0.0.0.0:*    users:(("named",pid=700,fd=21))',
        'udp   UNCONN 0      0      127.0.0.53%lo:53 0.0.0.0:*  users:(("systemd-resolve",pid=352,fd=14))',
      ].join("\n"),
      addresses: DEBIAN_ADDRESSES,
    };
    for (const firewall of [{}, { policy: "member" }, false]) {
      const problems = listeningProblems(dns, context(firewall));
      expect(problems.map((p) => p.key)).toEqual(["port tcp/53", "port udp/53"]);
      expect(problems[0].message).toBe(
        "\"named\" (pid 700) already listens on tcp/53 (every IPv4 address), the port the kit's Knot serves the member's zones on",
      );
      expect(problems[0].fix).toMatch(/^stop and disable it .*or bind it to loopback only/);
    }
    const knot = dns.listening.replace(/"named"/g, '"knotd"');
    expect(listeningProblems({ ...dns, listening: knot }, context({}, { knotIsKits: true }))).toEqual([]);
    // A Knot of the member's own (its knot.conf is not the kit's) is another DNS server.
    expect(listeningProblems({ ...dns, listening: knot }, context())).toHaveLength(2);
  });
});

test("a user without sudo: the problem names boreal:ssh.user, what sudo said, and the sudoers line", () => {
  const problem = sudoProblem("debian", "sudo: a password is required\nmore");
  expect(problem.key).toBe("boreal:ssh.user");
  expect(problem.message).toContain("(sudo -n said: sudo: a password is required)");
  expect(problem.fix).toContain("echo 'debian ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/boreal");
  expect(problem.fix).toContain("boreal:ssh.user to root");
  expect(problem.fix).not.toContain("apt-get install sudo");
  // A server without sudo at all: install it first.
  expect(sudoProblem("debian", "sh: 1: sudo: not found").fix).toMatch(/^on the server, as root: apt-get install sudo && echo 'debian ALL/);
});

describe("boreal:firewall.closeListening", () => {
  const firewallOf = (firewall: unknown) => parseStackConfig(rawStackConfig("b1", { firewall })).firewall;
  const problemsOf = (firewall: unknown) => {
    try {
      firewallOf(firewall);
      return [];
    } catch (error) {
      if (error instanceof BorealConfigError) return error.problems;
      throw error;
    }
  };

  test("absent unless set (the agent's config of a stack without it stays as it was); ports come out canonical", () => {
    expect(firewallOf({})).not.toHaveProperty("closeListening");
    expect(firewallOf({ closeListening: ["TCP/25", "udp/5000-5000"] }).closeListening).toEqual(["tcp/25", "udp/5000"]);
  });

  test("a bad entry names its key and the fix", () => {
    expect(problemsOf({ closeListening: [25] })).toEqual([
      expect.objectContaining({
        key: "boreal:firewall.closeListening[0]",
        message: "25 names no protocol",
        fix: 'write it as "tcp/25" or "udp/25"',
      }),
    ]);
    expect(problemsOf({ closeListening: "tcp/25" })).toEqual([
      expect.objectContaining({
        key: "boreal:firewall.closeListening",
        fix: "pulumi config set --path 'boreal:firewall.closeListening[0]' tcp/25",
      }),
    ]);
  });
});
