import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      // Many unit tests run real tools (knotc, ssh-keygen, git, the compiled CLI): 5 s is too tight on a loaded 2-core CI machine.
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], testTimeout: 30_000 } },
      { test: { name: "components", include: ["test/components/**/*.test.ts"], testTimeout: 30_000 } },
      // Real engine, real machines: need the toolchain (npm run toolchain) and root.
      { test: { name: "engine", include: ["test/engine/**/*.test.ts"], testTimeout: 600_000, hookTimeout: 600_000 } },
      { test: { name: "lab", include: ["test/lab/**/*.test.ts"], testTimeout: 1_800_000, hookTimeout: 1_800_000, fileParallelism: false } },
      { test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], testTimeout: 1_800_000, hookTimeout: 1_800_000, fileParallelism: false } },
    ],
  },
});
