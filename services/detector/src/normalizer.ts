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
import { coalesce } from "./coalesce";
import { IdentityResolver } from "./resolver";
import { deadLetterRow, insertWithRetry } from "./writer";

export interface NormalizerDeps {
  bus: Bus;
  ch: ClickHouseClient;
  config: Config;
  stopping: () => boolean;
}

export function createNormalizer(deps: NormalizerDeps) {
  const resolver = new IdentityResolver(deps.ch, deps.config.identities.links);
  async function processBatches(batches: Batch[]) {
    await resolver.refresh();
    const out: { key: string; value: string }[] = [];
    const dead: DeadLetter[] = [];
    const aliasRows = [];
    const now = new Date().toISOString();
    for (const m of batches.flatMap((b) => b.messages)) {
      const fail = (source: string, reason: string, payload: string) => {
        dead.push({
          id: stableId("dl", m.topic, m.partition, m.offset),
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
      const source = isObj(env) ? SourceName.safeParse(env.source) : undefined;
      if (!isObj(env) || !source?.success || env.v !== 1) {
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
      let r: ReturnType<typeof parser.normalize>;
      try {
        r = parser.normalize(env.record, {
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
        fail(source.data, r.error, preview(parser.redact ? parser.redact(env.record) : env.record));
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
    await Promise.all([
      insertWithRetry(deps.ch, "identity_aliases", aliasRows, deps.stopping),
      insertWithRetry(deps.ch, "dead_letters", dead.map(deadLetterRow), deps.stopping),
    ]);
    await deps.bus.produce(Topics.events, out);
  }
  // Concurrent per-partition batches share one round of inserts and one produce (see coalesce.ts).
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
