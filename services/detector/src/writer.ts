import type { ClickHouseClient } from "@clickhouse/client";
import { logger, metrics } from "@identrail/core";
import type { DeadLetter, NormalizedEvent } from "@identrail/schema";
import { chTime } from "@identrail/store";

export class StoppedError extends Error {
  constructor() {
    super("stopping");
  }
}

/**
 * Inserts with retry and backoff. ClickHouse being down pauses the pipeline here (the batch is neither
 * committed nor dropped); stopping aborts so the batch is redelivered to whoever takes the partition.
 */
export async function insertWithRetry(
  ch: ClickHouseClient,
  table: string,
  rows: object[],
  stopping: () => boolean = () => false,
): Promise<void> {
  if (!rows.length) return;
  let delay = 100;
  for (;;) {
    try {
      await ch.insert({ table, values: rows, format: "JSONEachRow" });
      metrics.storeWrites.inc({ table }, rows.length);
      return;
    } catch (e) {
      metrics.storeErrors.inc({ table });
      logger.warn({ table, err: (e as Error).message.slice(0, 200) }, "ClickHouse insert failed; retrying");
      if (stopping()) throw new StoppedError();
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** Query with the same retry policy (reads the pipeline depends on, such as the replay check). */
export async function queryWithRetry<T>(
  ch: ClickHouseClient,
  query: string,
  params: Record<string, unknown>,
  stopping: () => boolean = () => false,
): Promise<T[]> {
  let delay = 100;
  for (;;) {
    try {
      const rs = await ch.query({ query, query_params: params, format: "JSONEachRow" });
      return (await rs.json()) as T[];
    } catch (e) {
      metrics.storeErrors.inc({ table: "query" });
      logger.warn({ err: (e as Error).message.slice(0, 200) }, "ClickHouse query failed; retrying");
      if (stopping()) throw new StoppedError();
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

export function eventRow(e: NormalizedEvent) {
  return {
    id: e.id,
    time: chTime(e.time),
    received_at: chTime(e.received_at),
    source: e.source,
    cluster: e.cluster,
    identity_id: e.identity_id,
    principal: e.actor.principal,
    principal_type: e.actor.type,
    credential_id: e.actor.credential_id ?? "",
    impersonated: e.actor.impersonated ?? "",
    groups: e.actor.groups,
    operation: e.operation,
    verb: e.verb,
    resource_uri: e.resource.uri,
    resource_type: e.resource.type,
    namespace: e.resource.namespace ?? "",
    src_ip: e.src_ip,
    user_agent: e.user_agent,
    outcome: e.outcome,
    status_code: e.status_code,
    reason: e.reason,
    bytes_in: e.bytes_in,
    bytes_out: e.bytes_out,
    raw_ref: e.raw_ref,
    attrs: e.attrs,
  };
}

export function deadLetterRow(d: DeadLetter) {
  return {
    id: d.id,
    time: chTime(d.time),
    stage: d.stage,
    source: d.source,
    reason: d.reason,
    payload: d.payload,
    replayed_at: null,
  };
}
