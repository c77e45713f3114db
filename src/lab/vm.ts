// The lab's VM backend (issue #29): the same machines as the containers (names, addresses, host
// keys, mirror, parent zone), each a QEMU virtual machine booting Debian's own kernel
// (linux-image-amd64) from a disk made from the container image of its suite, on the lab's
// bridge through a tap device, with a clock of its own. The kernel's WireGuard, a real boot
// and a clock that may differ from the host's are what the containers cannot give.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { runAsync } from "../io/process";
import { ensureImage, IMAGE_CACHE, imageStem, ImageRecipe, recipeHash, staleVersions } from "./image";
import { BRIDGE, LAB_NS, sh } from "./net";

/** How the lab runs its machines: systemd-nspawn containers (the default) or QEMU VMs. */
export const LAB_BACKENDS = ["nspawn", "vm"] as const;
export type LabBackend = (typeof LAB_BACKENDS)[number];

export function isLabBackend(value: string): value is LabBackend {
  return (LAB_BACKENDS as readonly string[]).includes(value);
}

/** BOREAL_LAB_BACKEND (the demo and the suites), else nspawn; anything else is refused by name. */
export function backendFromEnv(value: string | undefined): LabBackend {
  if (value === undefined || value === "") return "nspawn";
  if (!isLabBackend(value)) throw new Error(`BOREAL_LAB_BACKEND must be ${LAB_BACKENDS.join(" or ")}, got "${value}"`);
  return value;
}

export type Accelerator = "kvm" | "tcg";

/**
 * The accelerators to try, in order. BOREAL_LAB_ACCEL forces one; else KVM first where the
 * host has /dev/kvm (bounded by the probe: a guest that does not reach userspace in time falls
 * back), TCG (emulation: slow, always there) last.
 */
export function acceleratorsToTry(kvmDevice: boolean, forced: string | undefined): Accelerator[] {
  if (forced !== undefined && forced !== "") {
    if (forced !== "kvm" && forced !== "tcg") throw new Error(`BOREAL_LAB_ACCEL must be kvm or tcg, got "${forced}"`);
    if (forced === "kvm" && !kvmDevice) throw new Error("BOREAL_LAB_ACCEL=kvm, but this host has no /dev/kvm: unset it to use TCG");
    return [forced];
  }
  return kvmDevice ? ["kvm", "tcg"] : ["tcg"];
}

/** Seconds a KVM guest gets to reach userspace before the lab gives up on KVM (a working one needs 2 or 3). */
export const KVM_PROBE_SECONDS = 30;

/** What the console shows once the kernel runs the initramfs's /init: the guest reached userspace. */
export const USERSPACE_MARKER = "Run /init as init process";

/** The tap device of a machine, on the lab's bridge (IFNAMSIZ: 15 characters). */
export function tapName(machine: string): string {
  return `t-${machine}`.slice(0, 15);
}

/** A locally administered MAC per lab address (QEMU's 52:54:00 prefix, then the address's last three bytes). */
export function vmMac(ipv4: string): string {
  const bytes = ipv4.split(".").map(Number);
  if (bytes.length !== 4 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new Error(`not an IPv4 address: ${ipv4}`);
  return ["52", "54", "00", ...bytes.slice(1).map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/** QEMU's -rtc base: the host's UTC shifted by offsetSeconds (0: the host's time). */
export function rtcBase(now: Date, offsetSeconds: number): string {
  if (offsetSeconds === 0) return "utc";
  return new Date(now.getTime() + offsetSeconds * 1000).toISOString().slice(0, 19);
}

export interface VmSpec {
  name: string;
  /** The machine's disk (a qcow2 overlay on the suite's VM disk) and its seed (its own files). */
  disk: string;
  seed: string;
  kernel: string;
  initrd: string;
  mac: string;
  tap: string;
  accel: Accelerator;
  memoryMiB: number;
  cpus: number;
  /** The guest clock's offset from the host's, in seconds. */
  clockOffset: number;
  now: Date;
}

/**
 * The kernel's command line: root on the first virtio disk, console on the serial port (the
 * console log), eth0 by name; no first-boot questions on a console nobody reads (the image has
 * no machine id, so each VM's first boot is one).
 */
export function kernelCommandLine(name: string): string {
  return `root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=${name} systemd.firstboot=off panic=-1`;
}

/** qemu-system-x86_64's arguments for a lab VM; the name comes first, so that `pgrep -f` finds the lab's. */
export function qemuArgs(spec: VmSpec): string[] {
  return [
    "-name",
    `boreal-${spec.name}`,
    "-machine",
    "q35",
    "-accel",
    spec.accel,
    "-cpu",
    spec.accel === "kvm" ? "host" : "max",
    "-smp",
    String(spec.cpus),
    "-m",
    String(spec.memoryMiB),
    "-kernel",
    spec.kernel,
    "-initrd",
    spec.initrd,
    "-append",
    kernelCommandLine(spec.name),
    "-drive",
    `file=${spec.disk},if=virtio,format=qcow2`,
    "-drive",
    `file=${spec.seed},if=virtio,format=raw,readonly=on`,
    "-netdev",
    `tap,id=net0,ifname=${spec.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=net0,mac=${spec.mac}`,
    "-device",
    "virtio-rng-pci",
    "-rtc",
    `base=${rtcBase(spec.now, spec.clockOffset)},clock=host`,
    "-display",
    "none",
    "-monitor",
    "none",
    "-serial",
    "stdio",
  ];
}

/** systemd-networkd's file for the machine's eth0: its lab addresses, nothing learnt. */
export function networkFile(address: string, bits: number, address6?: string, bits6 = 64): string {
  return [
    "[Match]",
    "Name=eth0",
    "",
    "[Network]",
    `Address=${address}/${bits}`,
    ...(address6 !== undefined ? [`Address=${address6}/${bits6}`] : []),
    "IPv6AcceptRA=no",
    "LinkLocalAddressing=ipv6",
    "",
  ].join("\n");
}

/**
 * chrony's configuration on a VM: the lab's time server alone (the host's clock, at the lab's
 * host address), polled every 16 to 64 s; a step at start-up only, as Debian's own chrony.conf
 * does, and a slew after that.
 */
export function chronyConf(server: string): string {
  return [
    "# The lab's time server (boreal lab: the host's clock), as a server's hoster's NTP.",
    `server ${server} iburst minpoll 4 maxpoll 6`,
    "driftfile /var/lib/chrony/chrony.drift",
    "makestep 1 3",
    "",
  ].join("\n");
}

/**
 * What a VM disk adds to the container image: Debian's kernel, and what booting it needs; and
 * chrony, as a server has an NTP client (a VM's clock is its own: set from its RTC to the
 * second at boot, then kept by an emulated timer).
 */
export const VM_PACKAGES = ["linux-image-amd64", "initramfs-tools", "udev", "kmod", "chrony"];
/** Bump when the VM disk's preparation below changes. */
const VM_POST_PROCESS = 1;
/** The disk's size (a sparse file): the image, the kernel, and room for what a member installs. */
const VM_DISK_BYTES = 6 * 1024 ** 3;

export function vmDiskHash(recipe: ImageRecipe): string {
  return createHash("sha256")
    .update(JSON.stringify({ image: recipeHash(recipe), packages: VM_PACKAGES, postProcess: VM_POST_PROCESS }))
    .digest("hex")
    .slice(0, 12);
}

/** The suite's VM disk, beside its container image: root.raw (ext4), vmlinuz and initrd.img. */
export function vmDiskDir(recipe: ImageRecipe): string {
  return join(IMAGE_CACHE, `vm-${imageStem(recipe)}-${vmDiskHash(recipe)}`);
}

/** Cache entries that are older VM disks of the recipe's suite (its own excepted). */
export function staleVmDisks(entries: string[], recipe: ImageRecipe): string[] {
  return staleVersions(entries, `vm-${imageStem(recipe)}`, basename(vmDiskDir(recipe)));
}

const COMPLETE = ".boreal-vm-disk-complete";

export interface VmDisk {
  dir: string;
  root: string;
  kernel: string;
  initrd: string;
}

function vmDisk(dir: string): VmDisk {
  return { dir, root: join(dir, "root.raw"), kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.img") };
}

/** The unit that copies the machine's own files (hostname, host key, operator key, addresses) from its seed disk, at first boot. */
const SEED_UNIT = `[Unit]
Description=The lab machine's own files from its seed disk (/dev/vdb), at first boot
DefaultDependencies=no
After=systemd-remount-fs.service
Before=sysinit.target systemd-networkd.service ssh.service network-pre.target
Wants=network-pre.target
ConditionPathExists=!/var/lib/boreal-lab-seeded

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/boreal-lab-seed

[Install]
WantedBy=sysinit.target
`;

const SEED_SCRIPT = `#!/bin/sh
set -eu
i=0
while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /run/boreal-seed
mount -o ro /dev/vdb /run/boreal-seed
tar -C /run/boreal-seed --exclude=./lost+found -cf - . | tar -C / -xpf -
umount /run/boreal-seed
touch /var/lib/boreal-lab-seeded
`;

/** The image's install of the VM packages, in a private mount namespace: nothing of the cached image changes. */
function diskScript(image: string, work: string, disk: VmDisk): string {
  const root = join(work, "root");
  const chroot = (cmd: string) => `chroot '${root}' /bin/sh -c '${cmd}'`;
  return [
    "set -eu",
    `mount -t overlay overlay -o 'lowerdir=${image},upperdir=${work}/upper,workdir=${work}/work' '${root}'`,
    `mount -t proc proc '${root}/proc'`,
    `mount -t sysfs sysfs '${root}/sys'`,
    `mount --bind /dev '${root}/dev'`,
    `mount -t tmpfs tmpfs '${root}/run'`,
    `mount -t tmpfs tmpfs '${root}/tmp'`,
    chroot("apt-get -q update"),
    chroot(`DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${VM_PACKAGES.join(" ")}`),
    chroot("apt-get clean && rm -f /usr/sbin/policy-rc.d && systemctl enable systemd-networkd.service boreal-lab-seed.service"),
    `umount '${root}/tmp' '${root}/run' '${root}/dev' '${root}/sys' '${root}/proc'`,
    `cp -L "$(ls '${root}'/boot/vmlinuz-* | tail -1)" '${disk.kernel}'`,
    `cp -L "$(ls '${root}'/boot/initrd.img-* | tail -1)" '${disk.initrd}'`,
    `truncate -s ${VM_DISK_BYTES} '${disk.root}'`,
    `mkfs.ext4 -q -F -L boreal-root -d '${root}' '${disk.root}'`,
    `umount '${root}'`,
  ].join("\n");
}

/** mkfs.ext4 -d and a kernel's initramfs on a loaded machine: minutes, an hour is a hang. */
const VM_DISK_TIMEOUT_MS = 3_600_000;

/**
 * The suite's VM disk, built first when the recipe has none: the container image (built first
 * if need be), plus VM_PACKAGES installed in a chroot on an overlay of it, made into an ext4
 * file system with mkfs.ext4 -d (no loop device), the kernel and initramfs copied beside it.
 */
export async function ensureVmDisk(
  recipe: ImageRecipe,
  log: (line: string) => void,
): Promise<VmDisk & { built: boolean; seconds: number }> {
  const dir = vmDiskDir(recipe);
  if (existsSync(join(dir, COMPLETE))) return { ...vmDisk(dir), built: false, seconds: 0 };
  const image = await ensureImage(recipe, log);
  const started = Date.now();
  const temp = `${dir}.partial`;
  rmSync(temp, { recursive: true, force: true });
  const work = join(temp, "tree");
  for (const d of ["upper/etc/systemd/system", "upper/usr/local/sbin", "upper/usr/sbin", "work", "root"])
    mkdirSync(join(work, d), { recursive: true });
  // Its apt reaches the mirror as the host does; no service starts inside the chroot.
  writeFileSync(join(work, "upper/etc/resolv.conf"), readFileSync("/etc/resolv.conf"));
  writeFileSync(join(work, "upper/usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  writeFileSync(join(work, "upper/etc/systemd/system/boreal-lab-seed.service"), SEED_UNIT);
  writeFileSync(join(work, "upper/usr/local/sbin/boreal-lab-seed"), SEED_SCRIPT, { mode: 0o755 });
  log(`building the VM disk ${dir} (Debian's kernel on the ${recipe.suite} image; a few minutes, once)`);
  const disk = vmDisk(temp);
  await runAsync("unshare", ["--mount", "--propagation", "private", "sh", "-c", diskScript(image.path, work, disk)], {
    timeoutMs: VM_DISK_TIMEOUT_MS,
    purpose: `building the lab's VM disk in ${temp}`,
  });
  rmSync(work, { recursive: true, force: true });
  writeFileSync(join(temp, COMPLETE), `${JSON.stringify({ recipe, packages: VM_PACKAGES })}\n`);
  renameSync(temp, dir);
  for (const other of staleVmDisks(readdirSync(IMAGE_CACHE), recipe)) rmSync(join(IMAGE_CACHE, other), { recursive: true, force: true });
  return { ...vmDisk(dir), built: true, seconds: Math.round((Date.now() - started) / 1000) };
}

export function machineDiskPaths(machineDir: string): { disk: string; seed: string } {
  return { disk: join(machineDir, "disk.qcow2"), seed: join(machineDir, "seed.img") };
}

/**
 * A machine's own disks in machineDir: disk.qcow2 (its writes, on the suite's disk) and
 * seed.img (an ext4 file system of the files in `own`, copied in at first boot).
 */
export function createMachineDisks(machineDir: string, disk: VmDisk, own: string): { disk: string; seed: string } {
  const { disk: overlay, seed } = machineDiskPaths(machineDir);
  rmSync(overlay, { force: true });
  rmSync(seed, { force: true });
  sh("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", disk.root, overlay]);
  sh("truncate", ["-s", "32M", seed]);
  sh("mkfs.ext4", ["-q", "-F", "-L", "boreal-seed", "-d", own, seed]);
  return { disk: overlay, seed };
}

/** The machine's tap device on the lab's bridge (in the lab's namespace: removed with it). */
export function createTap(machine: string): string {
  const tap = tapName(machine);
  sh("ip", ["-n", LAB_NS, "tuntap", "add", "dev", tap, "mode", "tap"]);
  sh("ip", ["-n", LAB_NS, "link", "set", tap, "master", BRIDGE, "up"]);
  return tap;
}

/** The command that runs a VM: QEMU in the lab's namespace (where its tap is); exec keeps the pid. */
export function vmCommand(spec: VmSpec): { command: string; args: string[] } {
  return { command: "ip", args: ["netns", "exec", LAB_NS, "qemu-system-x86_64", ...qemuArgs(spec)] };
}

/** Whether the console log shows the guest in userspace. */
export function reachedUserspace(consoleLog: string): boolean {
  return existsSync(consoleLog) && readFileSync(consoleLog, "utf8").includes(USERSPACE_MARKER);
}
