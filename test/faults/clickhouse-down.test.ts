/**
 * Fault: ClickHouse rejects every write for a while. The embedded engine cannot be stopped, so the
 * failure is injected at the client's connection (createStoreClient's `wrapConnection` hook): inserts
 * throw as a server that is down would, reads keep working so the test can look inside.
 * Expected: the detector pauses (retries with backoff), commits no Kafka offset for rows it has not
 * written, and catches up once writes succeed again; nothing is lost, nothing is stored twice.
 */
import { KafkaBus } from "@identrail/bus";
import { ingestText } from "@identrail/collector";
import { metrics } from "@identrail/core";
import { type DetectorHandle, GROUPS, startDetector } from "@identrail/detector";
import { Topics } from "@identrail/schema";
import { k8sAudit } from "@identrail/sources";
import { type ChdbConnection, createStoreClient, migrate, type StoreClient } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent } from "../helpers/k8s";
import { tempDir, testConfig, waitFor } from "../helpers/runtime";
import { chunks, FULL, figureLine, offsetWatcher, type PausablePeer, startPausablePeer } from "./helpers";

const EVENTS = FULL ? 20_000 : 2_000;

let peer: PausablePeer;
let store: StoreClient;
let failing = true;
let failedInserts = 0;

/** Inserts throw while `failing` is set, like a ClickHouse server that refuses connections. */
function faulty(conn: ChdbConnection): ChdbConnection {
  return new Proxy(conn, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "insert")
        return async (params: unknown) => {
          if (failing) {
            failedInserts++;
            throw new Error("connect ECONNREFUSED 127.0.0.1:8123 (injected)");
          }
          return (v as (p: unknown) => Promise<unknown>).call(target, params);
        };
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

beforeAll(async () => {
  peer = await startPausablePeer(1);
  store = await createStoreClient({ dataDir: tempDir("identrail-faults-ch-"), wrapConnection: faulty });
  // Migrations need working writes; the outage starts afterwards.
  failing = false;
  await migrate(store.ch);
  failing = true;
});
afterAll(async () => {
  await store?.close();
  await peer?.stop();
});

const count = async () => {
  const rs = await store.ch.query({
    query: "SELECT count() AS n, uniqExact(id) AS u FROM events",
    format: "JSONEachRow",
  });
  const [r] = (await rs.json()) as { n: string; u: string }[];
  return { rows: Number(r.n), distinct: Number(r.u) };
};

describe("ClickHouse writes failing for a while", () => {
  it("pauses without committing, then catches up with nothing lost", async () => {
    const config = testConfig({ kafka: { brokers: peer.brokers, client_id: "faults-ch" } });
    const bus = new KafkaBus({ brokers: peer.brokers, clientId: "faults-ch" });
    const offsets = offsetWatcher(peer.brokers);
    let detector: DetectorHandle | undefined;
    try {
      detector = await startDetector({ bus, ch: store.ch, config });
      const events = Array.from({ length: EVENTS }, (_, i) =>
        k8sEvent({
          auditID: `10000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
          user: `system:serviceaccount:ml-${i % 5}:trainer-${i % 40}`,
          verb: "get",
          resource: "secrets",
          namespace: `ml-${i % 5}`,
          name: `token-${i % 3}`,
          time: at("2026-11-01", i % 9, i % 24, i % 60),
        }),
      );
      let acknowledged = 0;
      for (const batch of chunks(events, 400)) {
        const r = await ingestText({ bus, config }, k8sAudit, JSON.stringify(eventList(batch)), "prod");
        acknowledged += r.accepted;
      }
      // The outage: the pipeline keeps trying and keeps failing.
      await waitFor(async () => failedInserts >= 6, 60_000, 100);
      const raw = await offsets.progress(GROUPS.normalizer, Topics.raw("k8s-audit"));
      const during = await count();
      const det = await offsets.progress(GROUPS.detector, Topics.events).catch(() => ({
        high: 0,
        committed: 0,
      }));
      // Every request is on the raw topic (the collector packs a request's records per partition, so
      // the topic holds fewer messages than records: the records themselves are counted in ClickHouse).
      expect(raw.high).toBeGreaterThan(0);
      expect(during.rows).toBe(0);
      // Nothing was written, so nothing may be committed by the stage that writes events.
      expect(det.committed).toBe(0);
      // The normalizer writes identity aliases before it hands events on: it is paused as well.
      expect(raw.committed).toBe(0);
      const storeErrors = (await metrics.storeErrors.get()).values.reduce((s, v) => s + v.value, 0);
      expect(storeErrors).toBeGreaterThanOrEqual(6);

      failing = false; // ClickHouse is back.
      await waitFor(
        async () => {
          const a = await offsets.progress(GROUPS.normalizer, Topics.raw("k8s-audit"));
          const b = await offsets.progress(GROUPS.detector, Topics.events);
          return a.committed === raw.high && b.high > 0 && b.committed === b.high;
        },
        180_000,
        250,
      );
      const after = await count();
      figureLine("clickhouse-down", {
        sent: EVENTS,
        acknowledged,
        stored: after.distinct,
        duplicates: after.rows - after.distinct,
        lost: acknowledged - after.distinct,
        failed_inserts: failedInserts,
        stored_during_outage: during.rows,
        committed_during_outage: det.committed + raw.committed,
      });
      expect(acknowledged).toBe(EVENTS);
      expect(after).toEqual({ rows: EVENTS, distinct: EVENTS });
    } finally {
      failing = false;
      await detector?.stop();
      await offsets.close();
      await bus.close();
    }
  }, 300_000);
});
