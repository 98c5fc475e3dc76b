/**
 * Fault: Kafka unavailable. The collector has no local spool (documented in docs/performance.md):
 * it answers 200 only after Kafka acknowledged every usable record (acks=all) and 503 otherwise, so
 * the sender keeps the data and retries. Two shapes of outage:
 *  - nothing listens at the configured broker address (connection refused);
 *  - the broker hangs (process frozen with SIGSTOP, then resumed with its log intact).
 * After recovery every event the collector acknowledged is on the raw topic.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startRuntime } from "@identrail/cli";
import { Topics } from "@identrail/schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent } from "../helpers/k8s";
import { auth, INGEST_TOKEN, testConfig } from "../helpers/runtime";
import { FULL, figureLine, freePort, type PausablePeer, startPausablePeer } from "./helpers";

const run = promisify(execFile);
const BATCHES = FULL ? 60 : 20;
const PER_BATCH = 100;
/** How long the broker stays frozen at most; kafkajs' request timeout (10 s) × retries fits inside. */
const OUTAGE_MS = 60_000;

let peer: PausablePeer;
beforeAll(async () => {
  peer = await startPausablePeer(1);
});
afterAll(async () => {
  await peer?.stop();
});

const batch = (b: number) =>
  Array.from({ length: PER_BATCH }, (_, i) =>
    k8sEvent({
      auditID: `20000000-0000-4000-8000-${String(b * PER_BATCH + i).padStart(12, "0")}`,
      user: `system:serviceaccount:ml:job-${i % 10}`,
      verb: "get",
      resource: "configmaps",
      namespace: "ml",
      name: `cm-${i}`,
      time: at("2026-11-01", 0, 10, i % 60),
    }),
  );

async function post(rt: Awaited<ReturnType<typeof startRuntime>>, items: unknown[]) {
  const started = performance.now();
  const res = await rt.app.inject({
    method: "POST",
    url: "/ingest/k8s-audit?cluster=prod",
    headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
    payload: eventList(items),
  });
  return { res, ms: Math.round(performance.now() - started) };
}

describe("Kafka unavailable", () => {
  it("nothing listening at the broker address: 503, never 2xx", async () => {
    const port = await freePort();
    const rt = await startRuntime(
      testConfig({ target: "collector", kafka: { brokers: [`127.0.0.1:${port}`], client_id: "faults" } }),
    );
    try {
      const statuses: number[] = [];
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const { res, ms } = await post(rt, batch(i));
        statuses.push(res.statusCode);
        times.push(ms);
        expect(res.json().error?.retryable).toBe(true);
      }
      figureLine("kafka-refused", {
        sent: 3 * PER_BATCH,
        acknowledged: 0,
        stored: 0,
        duplicates: 0,
        lost: 0,
        status: statuses.join("/"),
        ms_to_503_max: Math.max(...times),
      });
      expect(statuses).toEqual([503, 503, 503]);
      const ready = await rt.app.inject({ url: "/readyz" });
      expect(ready.statusCode).toBe(503);
    } finally {
      await rt.stop();
    }
  }, 120_000);

  it("broker frozen mid-stream, then back: every acknowledged event is on the topic", async () => {
    const rt = await startRuntime(
      testConfig({ target: "collector", kafka: { brokers: peer.brokers, client_id: "faults" } }),
    );
    const acknowledged = new Set<string>();
    let rejected503 = 0;
    let other = 0;
    let duringOutage2xx = 0;
    let outage = false;
    let outageAnswer = { status: 0, ms: 0 };
    try {
      for (let b = 0; b < BATCHES; b++) {
        const items = batch(b);
        if (b === Math.floor(BATCHES / 2)) {
          // Freeze the broker and measure how the collector answers a request meanwhile. The broker comes
          // back after the first answer (or after OUTAGE_MS), as a restarted broker would.
          await peer.pause();
          outage = true;
          const resume = setTimeout(() => {
            peer.resume();
            outage = false;
          }, OUTAGE_MS);
          const { res, ms } = await post(rt, items);
          const stillFrozen = outage;
          clearTimeout(resume);
          peer.resume();
          outage = false;
          outageAnswer = { status: res.statusCode, ms };
          if (res.statusCode === 200) {
            // Only legitimate if the broker was back by then (kafkajs retried into the recovered broker).
            if (stillFrozen) duringOutage2xx++;
            for (const it of items) acknowledged.add(it.auditID);
            continue;
          }
          if (res.statusCode === 503) rejected503++;
          else other++;
        }
        // The sender's side of the contract: retry the whole request until it is acknowledged.
        for (let attempt = 0; attempt < 20 && !items.every((it) => acknowledged.has(it.auditID)); attempt++) {
          const { res } = await post(rt, items);
          if (res.statusCode === 200) for (const it of items) acknowledged.add(it.auditID);
          else if (res.statusCode === 503) rejected503++;
          else other++;
        }
      }
    } finally {
      peer.resume();
      await rt.stop();
    }
    // Read the whole raw topic back with kcat (a client independent of ours).
    const { stdout } = await run(
      "kcat",
      ["-b", peer.brokers.join(","), "-C", "-t", Topics.raw("k8s-audit"), "-o", "beginning", "-e", "-q"],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    const onTopic = new Map<string, number>();
    for (const line of stdout.split("\n")) {
      if (!line) continue;
      // v2 envelopes pack several records (one message per partition per request); v1 hold one.
      const env = JSON.parse(line);
      for (const r of env.v === 2 ? env.records : [env.record]) {
        const id = r.auditID as string;
        onTopic.set(id, (onTopic.get(id) ?? 0) + 1);
      }
    }
    const missing = [...acknowledged].filter((id) => !onTopic.has(id)).length;
    const duplicates = [...onTopic.values()].reduce((s, n) => s + n - 1, 0);
    figureLine("kafka-frozen", {
      sent: BATCHES * PER_BATCH,
      acknowledged: acknowledged.size,
      stored: onTopic.size,
      duplicates,
      lost: missing,
      responses_503: rejected503,
      outage_answer_status: outageAnswer.status,
      outage_answer_ms: outageAnswer.ms,
    });
    expect(other).toBe(0);
    expect(duringOutage2xx).toBe(0);
    expect([200, 503]).toContain(outageAnswer.status);
    expect(acknowledged.size).toBe(BATCHES * PER_BATCH);
    expect(missing).toBe(0);
  }, 300_000);
});
