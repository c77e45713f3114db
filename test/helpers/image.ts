import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageReady, inImageScript, LabSuite, labRecipe } from "../../src/lab/image";

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

/** The cached lab image of a suite can run tools here: root, unshare and chroot, and the image built. */
export function imageUsable(suite: LabSuite): boolean {
  return process.getuid?.() === 0 && has("unshare") && has("chroot") && imageReady(labRecipe(suite));
}

/**
 * Runs a command with the tools of a cached lab image (Debian 12 or 13), the files given bound
 * on its /mnt. Nothing of the image changes: a private mount namespace (its /run and /tmp on
 * tmpfs) and no network; the image may be the lower layer of running lab machines.
 */
export function inImage(image: string, files: Record<string, string>, command: string): string {
  const dir = mkdtempSync(join(tmpdir(), "boreal-image-"));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const result = spawnSync("unshare", ["--mount", "--net", "sh", "-c", inImageScript(image, dir), command], {
      encoding: "utf8",
      env: { ...process.env, PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    if (result.status !== 0) throw new Error(`${command} in ${image} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    return result.stdout + result.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
