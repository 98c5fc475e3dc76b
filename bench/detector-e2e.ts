/**
 * Detector end to end: raw envelopes on Kafka → normalizer (parse, normalize, resolve) → events topic →
 * detector (identity events, rules, alerts) → ClickHouse, events/s until every event row is stored,
 * against the parse + normalize rate of the same records measured in the same process. Producing runs
 * alongside consumption through the collector's own ingest path, at most 6,000 events ahead of what is
 * stored, so the mock's ~5 MB partitions never drop data.
 */

import { cpus } from "node:os";
import { k8sAudit } from "@identrail/sources";
import { Traffic } from "./gen/traffic";
import { figure, log, median, opsPerSecond, RUNS, SMALL, sleep, writeResult } from "./lib";
import { startPipeline } from "./pipeline-setup";

const N = SMALL ? 4000 : 40_000;
const CHUNK = 1000;
/** Events produced but not yet stored, at most: ~1.5 MB per partition of the raw and the events topic. */
const AHEAD = 6000;

function parseNormalizeRate(bodies: string[]) {
  const receivedAt = new Date().toISOString();
  return opsPerSecond(
    () => {
      let n = 0;
      for (const b of bodies)
        for (const rec of k8sAudit.decode(b).records) {
          const a = k8sAudit.accept(rec);
          if (a.ok && k8sAudit.normalize(a.value.record, { cluster: "prod", receivedAt }).ok) n++;
        }
      return n;
    },
    SMALL ? 200 : 1000,
  );
}

async function main() {
  const p = await startPipeline();
  const runs: number[] = [];
  const refs: number[] = [];
  const elus: number[] = [];
  const cores: number[] = [];
  try {
    let stored = 0;
    let start: number | undefined;
    for (let i = 0; i < RUNS + 1; i++) {
      // Steady state: the same 5,000 identities in every run (run 0 introduces them), fresh event ids per
      // run (a new seed, so nothing is skipped as already stored), and event time continuing where the
      // previous run ended, as a live stream does.
      const t = new Traffic({ identities: 5000, seed: 100 + i, start });
      const bodies = Array.from({ length: 5 }, () => JSON.stringify(t.k8sEventList(400)));
      const t0 = performance.now();
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      // The stored count is polled apart from producing: a count is one more statement for the engine, and
      // waiting for one before every chunk would pace the producer by the engine's queue, not the window.
      let seen = stored;
      let polling = true;
      const poller = (async () => {
        while (polling) {
          seen = await p.count();
          await sleep(25);
        }
      })();
      let produced = 0;
      while (produced < N) {
        while (produced - (seen - stored) > AHEAD) await sleep(5);
        await p.produce(t.k8sEventList(Math.min(CHUNK, N - produced)).items);
        produced += Math.min(CHUNK, N - produced);
      }
      while (seen - stored < N) await sleep(5);
      polling = false;
      await poller;
      start = Date.parse(t.k8sEvent().stageTimestamp);
      const elapsed = performance.now() - t0;
      const rate = N / (elapsed / 1000);
      const cpu = process.cpuUsage(cpu0);
      stored += N;
      // Run 0 warms up (topic creation, group join, JIT) and is not counted.
      if (i === 0) continue;
      runs.push(rate);
      elus.push(performance.eventLoopUtilization(elu0).utilization);
      cores.push((cpu.user + cpu.system) / 1000 / elapsed);
      refs.push(parseNormalizeRate(bodies));
      log(
        `pipeline ${Math.round(rate)} events/s (main thread busy ${Math.round(elus[elus.length - 1] * 100)}%, process ${cores[cores.length - 1].toFixed(2)} cores), parse + normalize ${Math.round(refs[refs.length - 1])} events/s`,
      );
    }
  } finally {
    await p.stop();
  }
  writeResult({
    name: "detector-e2e",
    title: "Detector end to end (Kafka → normalize → detect → ClickHouse)",
    figures: [
      figure(
        `${N} k8s audit events per run, Kafka mock + embedded chDB, one process`,
        "events/s",
        runs,
        { what: "parse + normalize of the same records, one core", runs: refs },
        "≥ 25k events/s on 2 cores; ≥ 0.25×",
      ),
    ],
    notes: [
      "envelopes are produced through the collector's ingest path (decode, accept, redact, pack per partition, produce) on the same thread as the normalizer and the detector",
      `main thread busy (event-loop utilisation, median) ${Math.round(median(elus) * 100)}%; whole process ${median(cores).toFixed(2)} cores (chDB, the Kafka producer thread) of ${cpus().length}, beside the Kafka mock's own process`,
    ],
  });
}

await main();
