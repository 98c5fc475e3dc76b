/**
 * `npm run bench` runs every benchmark, each in its own process (one chDB data dir per process, clean
 * heap), with a time limit, then regenerates docs/performance.md from bench/results/*.json.
 * `npm run bench -- <name> [<name> …]` runs only those. `BENCH_SCALE=small` shrinks sizes (validation).
 * Everything is loopback and stops by itself; the whole run is bounded (< 15 min on 2 cores).
 */
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { log, ROOT } from "./lib";

/** name → [file, time limit in seconds] */
export const BENCHES: Record<string, [string, number]> = {
  "parse-normalize": ["bench/parse-normalize.ts", 120],
  "collector-http": ["bench/collector-http.ts", 150],
  "kafka-consume": ["bench/kafka-consume.ts", 120],
  tailer: ["bench/tailer.ts", 150],
  "clickhouse-write": ["bench/clickhouse-write.ts", 120],
  "detector-e2e": ["bench/detector-e2e.ts", 200],
  "alert-latency": ["bench/alert-latency.ts", 240],
  "timeline-api": ["bench/timeline-api.ts", 240],
  "detector-memory": ["bench/detector-memory.ts", 180],
};

function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

function runOne(name: string): Promise<number> {
  const [file, limit] = BENCHES[name];
  return new Promise((resolve) => {
    log(`${name}: start (limit ${limit}s)`);
    const started = Date.now();
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", join(ROOT, file)], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "error" },
      detached: true,
    });
    const timer = setTimeout(() => {
      log(`${name}: over its ${limit}s limit, stopping it`);
      // The mock Kafka brokers run detached (their own process group): end the benchmark's direct
      // children's groups first, or they outlive it.
      for (const pid of childrenOf(child.pid!)) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {}
      }
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, limit * 1000);
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      // The benchmark's own helpers (kcat mock brokers) live in its process group: end them too.
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
      log(
        `${name}: ${code === 0 ? "done" : `failed (${code ?? sig})`} in ${Math.round((Date.now() - started) / 1000)}s`,
      );
      resolve(code ?? 1);
    });
  });
}

const args = process.argv.slice(2);
const unknown = args.filter((a) => !BENCHES[a]);
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const name of args.length ? args : Object.keys(BENCHES)) if ((await runOne(name)) !== 0) failed++;
const { writeReport } = await import("./report");
writeReport();
process.exit(failed ? 1 : 0);
