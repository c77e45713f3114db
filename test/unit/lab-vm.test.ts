// The lab's VM backend, its pure parts and its per-machine disks (no VM boots here: test/lab/vm.test.ts does).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { labRecipe } from "../../src/lab/image";
import { labAddress6, labAddresses } from "../../src/lab/net";
import {
  acceleratorsToTry,
  backendFromEnv,
  createMachineDisks,
  kernelCommandLine,
  networkFile,
  qemuArgs,
  reachedUserspace,
  rtcBase,
  staleVmDisks,
  tapName,
  USERSPACE_MARKER,
  vmCommand,
  vmDiskDir,
  vmDiskHash,
  vmMac,
  VmSpec,
} from "../../src/lab/vm";

const spec: VmSpec = {
  name: "node1",
  disk: "/lab/machines/node1/disk.qcow2",
  seed: "/lab/machines/node1/seed.img",
  kernel: "/cache/vm/vmlinuz",
  initrd: "/cache/vm/initrd.img",
  mac: "52:54:00:33:64:0b",
  tap: "t-node1",
  accel: "tcg",
  memoryMiB: 1536,
  cpus: 1,
  clockOffset: 0,
  now: new Date("2026-12-05T18:00:00Z"),
};

/** The value after a QEMU option (each option given once). */
const option = (args: string[], name: string) => {
  const at = args.indexOf(name);
  expect(args.filter((a) => a === name).length, name).toBe(1);
  return args[at + 1];
};

describe("the accelerator probe's order", () => {
  test("KVM first, then TCG, where /dev/kvm exists; TCG alone where it does not", () => {
    expect(acceleratorsToTry(true, undefined)).toEqual(["kvm", "tcg"]);
    expect(acceleratorsToTry(false, undefined)).toEqual(["tcg"]);
    expect(acceleratorsToTry(true, "")).toEqual(["kvm", "tcg"]);
  });
  test("BOREAL_LAB_ACCEL forces one, and is refused when it cannot be", () => {
    expect(acceleratorsToTry(true, "tcg")).toEqual(["tcg"]);
    expect(acceleratorsToTry(false, "tcg")).toEqual(["tcg"]);
    expect(acceleratorsToTry(true, "kvm")).toEqual(["kvm"]);
    expect(() => acceleratorsToTry(false, "kvm")).toThrow(/no \/dev\/kvm: unset it/);
    expect(() => acceleratorsToTry(true, "hvf")).toThrow(/BOREAL_LAB_ACCEL must be kvm or tcg, got "hvf"/);
  });
  test("the console shows userspace once the initramfs's /init runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "boreal-vm-console-"));
    try {
      const log = join(dir, "console.log");
      expect(reachedUserspace(log)).toBe(false);
      writeFileSync(log, "[    0.000000] Linux version 6.1.0-40-amd64\n[    9.1] Freeing unused kernel image\n");
      expect(reachedUserspace(log)).toBe(false);
      writeFileSync(log, `[    9.8] ${USERSPACE_MARKER}\nLoading, please wait...\n`, { flag: "a" });
      expect(reachedUserspace(log)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the backend choice", () => {
  test("nspawn unless BOREAL_LAB_BACKEND says vm; anything else is refused by name", () => {
    expect(backendFromEnv(undefined)).toBe("nspawn");
    expect(backendFromEnv("")).toBe("nspawn");
    expect(backendFromEnv("vm")).toBe("vm");
    expect(backendFromEnv("nspawn")).toBe("nspawn");
    expect(() => backendFromEnv("qemu")).toThrow(/BOREAL_LAB_BACKEND must be nspawn or vm, got "qemu"/);
  });
});

describe("names and addresses of a lab's VMs", () => {
  test("every machine of the largest lab gets a tap name the kernel takes and a MAC of its own", () => {
    const { machines } = labAddresses("198.51.100.0/24", 200);
    const names = machines.map((_, i) => `node${i + 1}`);
    const taps = names.map(tapName);
    expect(new Set(taps).size).toBe(200);
    for (const tap of taps) expect(tap.length).toBeLessThanOrEqual(15);
    const macs = machines.map(vmMac);
    expect(new Set(macs).size).toBe(200);
    for (const mac of macs) expect(mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(vmMac("198.51.100.11")).toBe("52:54:00:33:64:0b");
    expect(() => vmMac("198.51.100")).toThrow(/not an IPv4 address/);
    expect(() => vmMac("198.51.100.300")).toThrow(/not an IPv4 address/);
  });
  test("the network file gives eth0 the machine's lab addresses, both families or IPv4 alone", () => {
    const both = networkFile("198.51.100.11", 24, labAddress6("198.51.100.11"));
    expect(both).toContain("Name=eth0\n");
    expect(both).toContain("Address=198.51.100.11/24\n");
    expect(both).toContain("Address=2001:db8:b0ea::11/64\n");
    expect(both).toContain("IPv6AcceptRA=no\n");
    const v4 = networkFile("198.51.100.12", 24);
    expect(v4).toContain("Address=198.51.100.12/24\n");
    expect(v4).not.toMatch(/Address=.*:/);
  });
});

describe("QEMU's command line", () => {
  test("Debian's kernel on the VM disk, the seed read-only, the tap on the bridge, the console on the serial port", () => {
    const args = qemuArgs(spec);
    // Named first: `pgrep -f '^qemu-system-x86_64 -name boreal-'` finds the lab's VMs (labProcesses).
    expect(args.slice(0, 2)).toEqual(["-name", "boreal-node1"]);
    expect(option(args, "-accel")).toBe("tcg");
    expect(option(args, "-cpu")).toBe("max");
    expect(option(args, "-m")).toBe("1536");
    expect(option(args, "-kernel")).toBe(spec.kernel);
    expect(option(args, "-initrd")).toBe(spec.initrd);
    expect(option(args, "-append")).toBe(kernelCommandLine("node1"));
    expect(kernelCommandLine("node1")).toMatch(/^root=\/dev\/vda rw console=ttyS0 .*systemd\.hostname=node1/);
    expect(kernelCommandLine("node1")).toContain(" systemd.firstboot=off ");
    const drives = args.filter((_, i) => args[i - 1] === "-drive");
    expect(drives).toEqual([
      "file=/lab/machines/node1/disk.qcow2,if=virtio,format=qcow2",
      "file=/lab/machines/node1/seed.img,if=virtio,format=raw,readonly=on",
    ]);
    expect(option(args, "-netdev")).toBe("tap,id=net0,ifname=t-node1,script=no,downscript=no");
    expect(args).toContain("virtio-net-pci,netdev=net0,mac=52:54:00:33:64:0b");
    expect(option(args, "-serial")).toBe("stdio");
    expect(option(args, "-rtc")).toBe("base=utc,clock=host");
  });
  test("KVM runs the host's CPU model", () => {
    const args = qemuArgs({ ...spec, accel: "kvm" });
    expect(option(args, "-accel")).toBe("kvm");
    expect(option(args, "-cpu")).toBe("host");
  });
  test("a clock offset starts the guest's RTC that far from the host's UTC", () => {
    expect(rtcBase(spec.now, 0)).toBe("utc");
    expect(rtcBase(spec.now, 600)).toBe("2026-12-05T18:10:00");
    expect(rtcBase(spec.now, -90)).toBe("2026-12-05T17:58:30");
    expect(option(qemuArgs({ ...spec, clockOffset: 600 }), "-rtc")).toBe("base=2026-12-05T18:10:00,clock=host");
  });
  test("QEMU runs in the lab's namespace, where the tap is", () => {
    const { command, args } = vmCommand(spec);
    expect([command, ...args.slice(0, 4)]).toEqual(["ip", "netns", "exec", "boreal-lab", "qemu-system-x86_64"]);
    expect(args.slice(4)).toEqual(qemuArgs(spec));
  });
  test.runIf(spawnSync("sh", ["-c", "command -v qemu-system-x86_64"]).status === 0)(
    "QEMU itself takes the command line (its machine, accelerator, CPU and devices exist)",
    () => {
      // -S with no run: QEMU parses everything and reports a bad option or device at once; a
      // good line waits, so it is ended by the timeout with no error on stderr.
      const args = qemuArgs(spec).filter(
        (a, i, all) =>
          !["-kernel", "-initrd", "-append", "-drive", "-netdev"].includes(a) &&
          !["-kernel", "-initrd", "-append", "-drive", "-netdev"].includes(all[i - 1]),
      );
      const withoutNet = args.map((a) => (a.startsWith("virtio-net-pci") ? "virtio-net-pci" : a));
      const result = spawnSync("qemu-system-x86_64", [...withoutNet, "-S"], { encoding: "utf8", timeout: 3000 });
      expect(result.stderr).toBe("");
      // Still running when the timeout came (QEMU ends quietly on SIGTERM, so no signal shows).
      expect((result.error as NodeJS.ErrnoException | undefined)?.code).toBe("ETIMEDOUT");
    },
  );
});

describe("the VM disk's cache", () => {
  test("keyed by the image recipe, beside the container images; older disks of the suite are stale, the other suite's are not", () => {
    const bookworm = labRecipe("bookworm");
    const trixie = labRecipe("trixie");
    expect(vmDiskDir(bookworm)).toMatch(/\/vm-debian-bookworm-[0-9a-f]{12}$/);
    expect(vmDiskHash(bookworm)).not.toBe(vmDiskHash(trixie));
    expect(vmDiskHash(labRecipe("bookworm", ["sudo"]))).not.toBe(vmDiskHash(bookworm));
    const own = `vm-debian-bookworm-${vmDiskHash(bookworm)}`;
    const entries = [
      own,
      "vm-debian-bookworm-0123456789ab",
      "vm-debian-bookworm-0123456789ab.partial",
      `vm-debian-trixie-${vmDiskHash(trixie)}`,
      "debian-bookworm-0123456789ab",
    ];
    expect(staleVmDisks(entries, bookworm)).toEqual(["vm-debian-bookworm-0123456789ab", "vm-debian-bookworm-0123456789ab.partial"]);
  });
});

describe.runIf(spawnSync("sh", ["-c", "command -v qemu-img && command -v debugfs"]).status === 0)("a machine's own disks", () => {
  const dir = mkdtempSync(join(tmpdir(), "boreal-vm-disks-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test("a qcow2 overlay on the suite's disk, and a seed file system holding the machine's own files", () => {
    const root = join(dir, "root.raw");
    execFileSync("truncate", ["-s", "64M", root]);
    const own = join(dir, "upper");
    mkdirSync(join(own, "etc/systemd/network"), { recursive: true });
    writeFileSync(join(own, "etc/hostname"), "node1\n");
    writeFileSync(join(own, "etc/systemd/network/10-lab.network"), networkFile("198.51.100.11", 24));
    const machineDir = join(dir, "node1");
    mkdirSync(machineDir);
    const made = createMachineDisks(machineDir, { dir, root, kernel: "", initrd: "" }, own);
    const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", made.disk], { encoding: "utf8" })) as Record<
      string,
      unknown
    >;
    expect(info.format).toBe("qcow2");
    expect(info["backing-filename"]).toBe(root);
    expect(info["virtual-size"]).toBe(64 * 1024 ** 2);
    const cat = (path: string) =>
      execFileSync("debugfs", ["-R", `cat ${path}`, made.seed], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    expect(cat("/etc/hostname")).toBe("node1\n");
    expect(cat("/etc/systemd/network/10-lab.network")).toContain("Address=198.51.100.11/24");
    // Made again (a retry after the probe): fresh disks, no error.
    createMachineDisks(machineDir, { dir, root, kernel: "", initrd: "" }, own);
  });
});
