#!/usr/bin/env node
// `npm test`: every package's unit tests (through turbo), then the cross-service suites in test/,
// then one closing line "N passed, N failed" summed over all vitest runs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const out = join(root, ".tmp", "vitest");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const env = { ...process.env, IDENTRAIL_VITEST_OUT: out };
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: "inherit", env }).status ?? 1;

const only = process.argv.slice(2);
let status = 0;
if (!only.length)
  status |= run("npx", ["turbo", "run", "test:unit", "--concurrency=1", "--output-logs=full"]);
status |= run("npx", [
  "vitest",
  "run",
  "--config",
  "test/vitest.config.ts",
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${join(out, "cross-service.json")}`,
  ...only,
]);

let passed = 0;
let failed = 0;
let skipped = 0;
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (f.endsWith(".json")) {
      const r = JSON.parse(readFileSync(p, "utf8"));
      passed += r.numPassedTests ?? 0;
      failed += r.numFailedTests ?? 0;
      skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      if ((r.numFailedTestSuites ?? 0) > 0 && (r.numFailedTests ?? 0) === 0) failed += r.numFailedTestSuites;
    }
  }
};
if (existsSync(out)) walk(out);
console.log(`\nTests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(status !== 0 || failed > 0 ? 1 : 0);
