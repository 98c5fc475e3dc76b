import { defineConfig } from "vitest/config";

/** Cross-service tests (end to end, scenarios, faults, deploy). Each file runs in its own process. */
export default defineConfig({
  test: {
    root: new URL("..", import.meta.url).pathname,
    include: ["test/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
