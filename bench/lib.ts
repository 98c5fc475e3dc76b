/**
 * Shared pieces of the benchmarks: result shape, medians and percentiles, machine facts, and the
 * JSON files under bench/results/ that bench/report.ts turns into docs/performance.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");
export const RESULTS_DIR = join(ROOT, "bench/results");
/** Runs per figure; the issue asks for the median of at least 5. */
export const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** `BENCH_SCALE=small` shrinks every size (harness validation on a busy machine). */
export const SMALL = process.env.BENCH_SCALE === "small";

export interface Figure {
  /** What is measured, e.g. "k8s-audit parse + normalize". */
  what: string;
  unit: string;
  runs: number[];
  median: number;
  /** The reference measured in the same run (same bytes, same machine). */
  reference?: { what: string; runs: number[]; median: number };
  /** median / reference.median */
  ratio?: number;
  /** Target from issue 7, as text (e.g. "≥ 100k/s; ≥ 0.5×"). */
  target?: string;
  /** Other measured values worth keeping (percentiles, sizes …). */
  extra?: Record<string, number | string>;
}

export interface BenchResult {
  name: string;
  title: string;
  command: string;
  date: string;
  machine: { cores: number; cpu: string; memory_gb: number; node: string };
  scale: string;
  figures: Figure[];
  notes: string[];
}

export function median(xs: number[]): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function figure(
  what: string,
  unit: string,
  runs: number[],
  reference?: { what: string; runs: number[] },
  target?: string,
  extra?: Record<string, number | string>,
): Figure {
  const f: Figure = { what, unit, runs: runs.map(round), median: round(median(runs)) };
  if (reference) {
    const rm = median(reference.runs);
    f.reference = { what: reference.what, runs: reference.runs.map(round), median: round(rm) };
    f.ratio = Math.round((median(runs) / rm) * 1000) / 1000;
  }
  if (target) f.target = target;
  if (extra) f.extra = extra;
  return f;
}

const round = (x: number) => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 100) / 100);

export function machine() {
  const c = cpus();
  return {
    cores: c.length,
    cpu: c[0]?.model ?? "unknown",
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function writeResult(r: Omit<BenchResult, "date" | "machine" | "scale" | "command">) {
  const full: BenchResult = {
    ...r,
    command: `npm run bench -- ${r.name}`,
    date: new Date().toISOString(),
    machine: machine(),
    scale: SMALL ? "small" : "full",
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${r.name}.json`), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

/** Calls `fn` repeatedly for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(fn: () => number, ms: number): number {
  // Warm-up so the JIT has compiled the hot path before we time it.
  const warmEnd = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmEnd) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    ops += fn();
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function log(msg: string) {
  process.stderr.write(`[bench] ${msg}\n`);
}
