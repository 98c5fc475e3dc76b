/**
 * Stage 1 of the detector: raw source records → normalized events with a canonical identity, re-keyed by
 * that identity onto the events topic. Offsets of the raw topics commit only after the events topic
 * acknowledged, so at-least-once holds across the hop.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import type { Batch, Bus } from "@identrail/bus";
import type { Config } from "@identrail/config";
import { metrics, reasonLabel, stableId } from "@identrail/core";
import { type DeadLetter, type NormalizedEvent, SourceName, Topics } from "@identrail/schema";
import { isObj, parserFor, preview } from "@identrail/sources";
import { coalesce, type Prepared } from "./coalesce";
import { type AliasRow, IdentityResolver } from "./resolver";
import { deadLetterRow, insertWithRetry } from "./writer";

export interface NormalizerDeps {
  bus: Bus;
  ch: ClickHouseClient;
  config: Config;
  stopping: () => boolean;
}

export function createNormalizer(deps: NormalizerDeps) {
  const resolver = new IdentityResolver(deps.ch, deps.config.identities.links);
  async function processBatches(batches: Batch[]): Promise<Prepared> {
    await resolver.refresh();
    const out: { key: string; value: string }[] = [];
    const dead: DeadLetter[] = [];
    const aliasRows: AliasRow[] = [];
    const now = new Date().toISOString();
    for (const m of batches.flatMap((b) => b.messages)) {
      // `index` is the record's place in a v2 envelope: each packed record gets its own dead-letter id
      // (a v1 message keeps the id it always had).
      const fail = (source: string, reason: string, payload: string, index?: number) => {
        dead.push({
          id:
            index === undefined
              ? stableId("dl", m.topic, m.partition, m.offset)
              : stableId("dl", m.topic, m.partition, m.offset, index),
          time: now,
          stage: "normalizer",
          source,
          reason,
          payload,
        });
        metrics.deadLetters.inc({ stage: "normalizer", source, reason: reasonLabel(reason) });
      };
      let env: unknown;
      try {
        env = JSON.parse(m.value);
      } catch {
        fail("unknown", "envelope is not JSON", "");
        continue;
      }
      // v1: one record in `record`; v2: the collector's packed `records` (several records bound for this
      // partition), each handled exactly as a v1 record would be.
      const source = isObj(env) ? SourceName.safeParse(env.source) : undefined;
      const packed = isObj(env) && env.v === 2;
      if (
        !isObj(env) ||
        !source?.success ||
        (env.v !== 1 && !packed) ||
        (packed && !Array.isArray(env.records))
      ) {
        fail("unknown", "unsupported envelope version or source", "");
        continue;
      }
      const parser = parserFor(source.data);
      if (!parser) {
        fail(source.data, "no parser for source", "");
        continue;
      }
      const cluster =
        typeof env.cluster === "string" && env.cluster ? env.cluster : deps.config.default_cluster;
      const receivedAt = typeof env.received_at === "string" ? env.received_at : now;
      const records: unknown[] = packed ? (env.records as unknown[]) : [env.record];
      for (let i = 0; i < records.length; i++) {
        const record = records[i];
        const index = packed ? i : undefined;
        let r: ReturnType<typeof parser.normalize>;
        try {
          r = parser.normalize(record, {
            cluster,
            receivedAt,
            vaultAuthClusters: deps.config.vault.kubernetes_auth_clusters,
          });
        } catch {
          // Parsers never throw by contract; a bug here must not stop the partition.
          r = { ok: false, error: "parser failed on this record" };
        }
        if (!r.ok) {
          // The collector already redacted the record; still run the parser's redaction defensively.
          fail(source.data, r.error, preview(parser.redact ? parser.redact(record) : record), index);
          continue;
        }
        if (r.value.skipped)
          metrics.dropped.inc({ stage: "normalizer", source: source.data, reason: "skipped-stage" });
        for (const e of r.value.events as NormalizedEvent[]) {
          aliasRows.push(...resolver.resolve(e));
          out.push({ key: e.identity_id, value: JSON.stringify(e) });
          metrics.normalized.inc({ source: e.source });
        }
      }
    }
    return {
      // Runs once the previous round's writes were acknowledged, while the next round is normalized.
      async write() {
        try {
          await Promise.all([
            insertWithRetry(deps.ch, "identity_aliases", aliasRows, deps.stopping),
            insertWithRetry(deps.ch, "dead_letters", dead.map(deadLetterRow), deps.stopping),
          ]);
          await deps.bus.produce(Topics.events, out);
        } catch (e) {
          // The records come again: their links must then be emitted again, not taken as known.
          resolver.forget(aliasRows);
          throw e;
        }
      },
      abort() {
        resolver.forget(aliasRows);
      },
    };
  }
  // Concurrent per-partition batches share one round of inserts and one produce, and a round is
  // normalized while the previous one is written (see coalesce.ts).
  return { resolver, handle: coalesce(processBatches, deps.config.detector.batch_size) };
}

/** Dead letters published by collectors (which need no ClickHouse) are stored here. */
export function createDeadLetterSink(deps: NormalizerDeps) {
  return async (batch: Batch) => {
    const rows = [];
    for (const m of batch.messages) {
      try {
        const d = JSON.parse(m.value) as DeadLetter;
        rows.push(
          deadLetterRow({
            ...d,
            reason: String(d.reason).slice(0, 1024),
            payload: String(d.payload ?? "").slice(0, 8192),
          }),
        );
      } catch {
        rows.push(
          deadLetterRow({
            id: stableId("dl", m.topic, m.partition, m.offset),
            time: new Date().toISOString(),
            stage: "collector",
            source: "unknown",
            reason: "dead letter is not JSON",
            payload: "",
          }),
        );
      }
    }
    await insertWithRetry(deps.ch, "dead_letters", rows, deps.stopping);
  };
}
