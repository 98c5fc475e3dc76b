/**
 * Stage 2 of the detector: normalized events keyed by canonical identity → identity events, rules,
 * alerts → ClickHouse. The handler resolves only after every row is written, and the bus commits the
 * batch's offsets only then. Events already stored (a replay after a crash) are skipped by id.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import type { Batch } from "@identrail/bus";
import type { Config } from "@identrail/config";
import { metrics, stableId } from "@identrail/core";
import { type DeadLetter, NormalizedEvent } from "@identrail/schema";
import { coalesce, type Prepared } from "./coalesce";
import { Engine } from "./engine";
import type { Rule } from "./rules";
import { STATE_QUERY } from "./state";
import { deadLetterRow, eventValues, insertEvents, insertWithRetry, queryWithRetry } from "./writer";

export interface DetectorDeps {
  ch: ClickHouseClient;
  config: Config;
  stopping: () => boolean;
  rules?: Rule[];
}

export function createDetectorPipeline(deps: DetectorDeps) {
  const engine = new Engine(deps.config, deps.ch, deps.rules);
  const { ch, stopping } = deps;
  // Ids of rounds prepared but not yet written: the replay check cannot see them in ClickHouse yet.
  const unwritten = new Set<string>();
  async function processBatches(batches: Batch[]): Promise<Prepared> {
    const started = process.hrtime.bigint();
    // Keep memory bounded: identities idle for longer than the dormancy horizon reload on demand. Here,
    // before this round touches any state, never while a round is between its phases.
    if (engine.states.size > 200_000)
      engine.states.evict(engine.watermark - deps.config.detector.dormant_after);
    // Alert groups idle for a week (event time) reload from ClickHouse if they recur.
    if (engine.alerts.size > 50_000) engine.alerts.evict(engine.watermark - 7 * 86_400_000);
    const byId = new Map<string, NormalizedEvent>();
    const dead: DeadLetter[] = [];
    for (const m of batches.flatMap((b) => b.messages)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(m.value);
      } catch {
        parsed = undefined;
      }
      const r = NormalizedEvent.safeParse(parsed);
      if (!r.success) {
        dead.push({
          id: stableId("dl", m.topic, m.partition, m.offset),
          time: new Date().toISOString(),
          stage: "detector",
          source: "unknown",
          reason: "normalized event failed schema validation",
          payload: "",
        });
        metrics.deadLetters.inc({ stage: "detector", source: "unknown", reason: "schema" });
        continue;
      }
      if (!byId.has(r.data.id) && !unwritten.has(r.data.id)) byId.set(r.data.id, r.data);
      else metrics.dropped.inc({ stage: "detector", source: r.data.source, reason: "duplicate-in-batch" });
    }
    let events = [...byId.values()];
    // Identities met for the first time in this process: their state is read in the same statement as
    // the replay check (one statement instead of two on an engine that runs them one at a time).
    const toLoad = engine.statesToLoad(events);
    if (events.length) {
      // A stored copy has the same identity and, since the time comes from the record, the same event
      // time: bounding both keeps this read on the few granules of the primary key (identity_id, time, id)
      // that can hold it, however long the identities' histories are. The lower bound has a day of slack
      // for the one case where the time is not in the record (inventory objects without timestamps fall
      // back to the receive time of their delivery, and a redelivery comes later).
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const e of events) {
        const t = Date.parse(e.time);
        if (t < lo) lo = t;
        if (t > hi) hi = t;
      }
      const params = {
        iids: [...new Set(events.map((e) => e.identity_id))],
        ids: events.map((e) => e.id),
        lo: lo - 86_400_000,
        hi: hi + 1,
      };
      const rows = await queryWithRetry<Record<string, string>>(
        ch,
        toLoad.length ? STATE_AND_REPLAY_QUERY : REPLAY_QUERY,
        toLoad.length ? { ...params, state_ids: toLoad } : params,
        stopping,
      );
      if (toLoad.length) engine.states.apply(toLoad, rows);
      const have = new Set<string>();
      for (const r of rows) if (r.k === "r") have.add(r.id);
      if (have.size) {
        events = events.filter((e) => !have.has(e.id));
        metrics.dropped.inc({ stage: "detector", source: "any", reason: "already-stored" }, have.size);
      }
    }
    const identities = [...new Set(events.map((e) => e.identity_id))];
    let out: Awaited<ReturnType<Engine["process"]>>;
    try {
      out = await engine.process(events, new Set(toLoad));
    } catch (e) {
      engine.invalidate(identities);
      throw e;
    }
    const ids = events.map((e) => e.id);
    for (const id of ids) unwritten.add(id);
    const settle = () => {
      for (const id of ids) unwritten.delete(id);
    };
    return {
      // Runs once the previous round's writes were acknowledged, while the next round is prepared.
      async write() {
        try {
          // Derived rows first, the events themselves last: an event row marks its processing complete.
          // The derived tables do not depend on each other, so they are written concurrently (empty ones
          // are skipped by insertWithRetry); all of them must be acknowledged before the events go in.
          await Promise.all([
            insertWithRetry(ch, "identity_events", out.identityEvents.map(identityEventRow), stopping),
            insertWithRetry(ch, "identity_features", out.features, stopping),
            insertWithRetry(ch, "identity_seen", out.seen, stopping),
            insertWithRetry(ch, "identities", out.identities, stopping),
            insertWithRetry(ch, "alert_evidence", out.evidence, stopping),
            insertWithRetry(ch, "alerts", out.alerts, stopping),
            insertWithRetry(ch, "dead_letters", dead.map(deadLetterRow), stopping),
          ]);
          await insertEvents(ch, events.map(eventValues), stopping);
        } catch (e) {
          engine.invalidate(identities);
          throw e;
        } finally {
          settle();
        }
        metrics.detectorEvents.inc({ outcome: "stored" }, events.length);
        metrics.detectorLatency.observe({ stage: "detect" }, Number(process.hrtime.bigint() - started) / 1e9);
        for (const batch of batches)
          if (batch.lag !== undefined)
            metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, batch.lag);
      },
      // An earlier round's writes failed: this round's state changes were made on top of them.
      abort() {
        settle();
        engine.invalidate(identities);
      },
    };
  }
  // Concurrent per-partition batches are processed together; a round's reads and rules run while the
  // previous round is written (see coalesce.ts).
  const handle = coalesce(processBatches, deps.config.detector.batch_size);
  return { engine, handle };
}

/**
 * The replay check: which of the batch's events are stored already. The events table's primary key is
 * (identity_id, time, id), so the identity and time bounds select its few granules. STATE_AND_REPLAY_QUERY
 * is the same read as one more branch of STATE_QUERY (thirteen String columns, `k` = 'r'), for rounds that
 * also load identities; both texts are fixed, every value is a query parameter.
 */
const REPLAY_QUERY =
  "SELECT DISTINCT 'r' AS k, id FROM events WHERE identity_id IN {iids:Array(String)} AND time >= fromUnixTimestamp64Milli({lo:Int64}) AND time <= fromUnixTimestamp64Milli({hi:Int64}) AND id IN {ids:Array(String)}";
const STATE_AND_REPLAY_QUERY = STATE_QUERY.concat(
  "\nUNION ALL SELECT DISTINCT 'r', id, '', '', '', '', '', '', '', '', '', '', '' FROM events WHERE identity_id IN {iids:Array(String)} AND time >= fromUnixTimestamp64Milli({lo:Int64}) AND time <= fromUnixTimestamp64Milli({hi:Int64}) AND id IN {ids:Array(String)}",
);

function identityEventRow(ie: import("@identrail/schema").IdentityEvent) {
  return { ...ie, time: ie.time.replace("T", " ").replace("Z", "") };
}
