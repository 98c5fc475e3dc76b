/**
 * Fault: the detector process is killed with SIGKILL several times while it consumes from Kafka.
 * The collector runs in this process (it is not the thing being killed) and only counts what Kafka
 * acknowledged; the detector runs as `identrail detector` children over the same broker and data dir.
 * Afterwards every acknowledged event is in ClickHouse exactly once: distinct ids = rows = events sent.
 * CI size: 20k events, 3 kills; FAULTS_SCALE=full: 200k events, 10 kills.
 */
import { startRuntime } from "@identrail/cli";
import { GROUPS } from "@identrail/detector";
import { Topics } from "@identrail/schema";
import { createStoreClient } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent } from "../helpers/k8s";
import { auth, INGEST_TOKEN, tempDir, testConfig, waitFor } from "../helpers/runtime";
import {
  type Child,
  chunks,
  FULL,
  figureLine,
  offsetWatcher,
  type PausablePeer,
  startChild,
  startPausablePeer,
  stopChild,
} from "./helpers";

const EVENTS = Number(process.env.FAULTS_SIGKILL_EVENTS ?? (FULL ? 200_000 : 20_000));
const KILLS = Number(process.env.FAULTS_SIGKILL_KILLS ?? (FULL ? 10 : 3));
/** Records sent and not yet committed by the detector, at most (~2 MB per partition of a topic). */
const AHEAD = 8000;
const BATCH = 400;

let peer: PausablePeer;
beforeAll(async () => {
  peer = await startPausablePeer(3);
});
afterAll(async () => {
  await peer?.stop();
});

/** Realistic spread: 200 service accounts in 10 namespaces, each reading its own objects over 3 days. */
function traffic(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const ns = `team-${i % 10}`;
    out.push(
      k8sEvent({
        auditID: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        user: `system:serviceaccount:${ns}:job-${i % 200}`,
        verb: i % 7 === 0 ? "list" : "get",
        resource: i % 5 === 0 ? "secrets" : "configmaps",
        namespace: ns,
        name: `obj-${i % 50}`,
        time: at("2026-11-01", Math.floor(i / (n / 3 + 1)), (i >> 6) % 24, i % 60),
      }),
    );
  }
  return out;
}

describe("detector SIGKILL during a Kafka run", () => {
  it(`${EVENTS} events, ${KILLS} kills: every acknowledged event stored exactly once`, async () => {
    const dataDir = tempDir("identrail-faults-kill-");
    const collector = await startRuntime(
      testConfig({ target: "collector", kafka: { brokers: peer.brokers, client_id: "faults-collector" } }),
    );
    const offsets = offsetWatcher(peer.brokers);
    const env = { KAFKA_BROKERS: peer.brokers.join(","), DATA_DIR: dataDir, IDENTRAIL_CLUSTER: "prod" };
    let child: Child | undefined = await startChild("detector", env);
    let acknowledged = 0;
    let kills = 0;
    try {
      // Progress in records over both stages: the normalizer's is what it put on the events topic (its
      // high watermark: raw offsets no longer count records, a raw message packs a request's records per
      // partition), the detector's the events offsets it committed (after its writes were acknowledged).
      const events = () =>
        offsets.progress(GROUPS.detector, Topics.events).catch(() => ({ high: 0, committed: 0 }));
      const progress = async () => {
        const b = await events();
        return b.high + b.committed;
      };
      const sending = (async () => {
        for (const batch of chunks(traffic(EVENTS), BATCH)) {
          // Paced: at most AHEAD records sent and not yet committed by the detector. librdkafka's mock keeps
          // only the newest ~5 MB of each partition, so an unpaced sender (in-process, far faster than the
          // pipeline) would have unread records dropped by the broker at full scale; a real cluster keeps
          // them, and pacing changes nothing there.
          while (acknowledged - (await events()).committed > AHEAD)
            await new Promise((r) => setTimeout(r, 100));
          const res = await collector.app.inject({
            method: "POST",
            url: "/ingest/k8s-audit?cluster=prod",
            headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
            payload: eventList(batch),
          });
          expect(res.statusCode).toBe(200);
          acknowledged += res.json().accepted;
        }
      })();
      // Kill while the detector is mid-stream: at evenly spaced points of the total work (2 stages).
      for (let k = 1; k <= KILLS; k++) {
        const target = Math.floor((2 * EVENTS * k) / (KILLS + 1));
        await waitFor(async () => (await progress()) >= target, 300_000, 100);
        await stopChild(child, "SIGKILL");
        kills++;
        child = await startChild("detector", env);
      }
      await sending;
      await waitFor(
        async () => {
          const a = await offsets.progress(GROUPS.normalizer, Topics.raw("k8s-audit"));
          const b = await offsets.progress(GROUPS.detector, Topics.events);
          // Everything was sent (awaited above), so a fully committed raw topic means every record was
          // normalized onto the events topic (the normalizer commits only after that produce).
          return a.high > 0 && a.committed === a.high && b.high > 0 && b.committed === b.high;
        },
        600_000,
        500,
      );
      await stopChild(child, "SIGTERM");
      child = undefined;
    } finally {
      if (child) await stopChild(child, "SIGKILL");
      await offsets.close();
      await collector.stop();
    }
    const store = await createStoreClient({ dataDir });
    try {
      const rs = await store.ch.query({
        query: "SELECT count() AS n, uniqExact(id) AS u FROM events",
        format: "JSONEachRow",
      });
      const [row] = (await rs.json()) as { n: string | number; u: string | number }[];
      const stored = Number(row.u);
      figureLine("detector-sigkill", {
        sent: EVENTS,
        acknowledged,
        stored,
        duplicates: Number(row.n) - stored,
        lost: acknowledged - stored,
        kills,
      });
      expect(kills).toBe(KILLS);
      expect(acknowledged).toBe(EVENTS);
      expect(stored).toBe(EVENTS);
      expect(Number(row.n)).toBe(EVENTS);
    } finally {
      await store.close();
    }
  }, 900_000);
});
