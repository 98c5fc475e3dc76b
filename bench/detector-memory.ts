/**
 * Detector memory per active (identity, resource) pair: the engine's in-memory state (IdentityState in a
 * StateStore: learned features, counters, rule scratch) after processing events where every event is a
 * new pair — 1M pairs (100k identities × 10 secrets each) — through Engine.process without ClickHouse
 * (state is what stays in memory; persistence is not measured here). RSS and heap after a full GC,
 * minus the same process's baseline. Run with --expose-gc (bench/run.ts does).
 */
import { parseConfig } from "@identrail/config";
import { Engine } from "@identrail/detector";
import type { NormalizedEvent } from "@identrail/schema";
import { normalizedEvents } from "./events";
import { figure, log, RUNS, SMALL, writeResult } from "./lib";

const IDENTITIES = SMALL ? 10_000 : 100_000;
const PER_IDENTITY = 10;
const PAIRS = IDENTITIES * PER_IDENTITY;
const BATCH = 2000;

const gc = () => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
};

async function once(template: NormalizedEvent): Promise<{ rss: number; heap: number }> {
  gc();
  const base = process.memoryUsage();
  const engine = new Engine(parseConfig({ data_dir: "/nonexistent" }));
  const t0 = Date.parse("2026-11-01T00:00:00Z");
  let batch: NormalizedEvent[] = [];
  let n = 0;
  for (let r = 0; r < PER_IDENTITY; r++)
    for (let i = 0; i < IDENTITIES; i++) {
      const id = `k8s-sa:prod:ns-${i % 100}:job-${i}`;
      const uri = `k8s://prod/ns-${i % 100}/secrets/secret-${r}`;
      batch.push({
        ...template,
        id: `e${n++}`,
        time: new Date(t0 + n * 10).toISOString(),
        identity_id: id,
        actor: { ...template.actor, principal: `system:serviceaccount:ns-${i % 100}:job-${i}`, links: [id] },
        resource: {
          ...template.resource,
          uri,
          name: `secret-${r}`,
          namespace: `ns-${i % 100}`,
          type: "secret",
        },
        operation: "get secrets",
        verb: "get",
      } as unknown as NormalizedEvent);
      if (batch.length === BATCH) {
        await engine.process(batch);
        batch = [];
      }
    }
  if (batch.length) await engine.process(batch);
  gc();
  const after = process.memoryUsage();
  const res = { rss: after.rss - base.rss, heap: after.heapUsed - base.heapUsed, states: engine.states.size };
  log(
    `${PAIRS} pairs in ${res.states} identities: RSS +${Math.round(res.rss / 2 ** 20)} MB, heap +${Math.round(res.heap / 2 ** 20)} MB`,
  );
  return res;
}

async function main() {
  const template = normalizedEvents(1)[0];
  const rss: number[] = [];
  const heap: number[] = [];
  for (let i = 0; i < Math.min(RUNS, SMALL ? RUNS : 3); i++) {
    const r = await once(template);
    rss.push(r.rss);
    heap.push(r.heap);
  }
  const notes = [`${IDENTITIES.toLocaleString("en-US")} identities × ${PER_IDENTITY} secrets read once each`];
  if (!(globalThis as { gc?: unknown }).gc) notes.push("run without --expose-gc: figures include garbage");
  if (!SMALL) notes.push("3 runs (each builds the full state), not 5, to stay inside the time limit");
  writeResult({
    name: "detector-memory",
    title: "Detector memory per active (identity, resource) pair",
    figures: [
      figure(
        "heap per pair",
        "bytes",
        heap.map((h) => h / PAIRS),
        undefined,
        "≤ 1 KB",
        { pairs: PAIRS },
      ),
      figure(
        `RSS growth for ${PAIRS.toLocaleString("en-US")} pairs`,
        "MB",
        rss.map((r) => r / 2 ** 20),
        undefined,
        "1M pairs < 1.5 GB RSS",
      ),
    ],
    notes,
  });
}

await main();
