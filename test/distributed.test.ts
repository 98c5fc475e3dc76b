/**
 * Distributed mode in one process: a collector, two detector instances in one consumer group, and an
 * API, all over the Kafka protocol and sharing one ClickHouse store (chDB allows one engine per
 * process, so the instances share it as they would share a ClickHouse server).
 */
import { type KafkaPeer, startKafkaPeer } from "@identrail/bus/testing";
import { type Runtime, startRuntime } from "@identrail/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent, secretStory } from "./helpers/k8s";
import { auth, INGEST_TOKEN, READ_TOKEN, tempDir, testConfig, waitFor } from "./helpers/runtime";

let peer: KafkaPeer;
const runtimes: Runtime[] = [];
beforeAll(async () => {
  peer = await startKafkaPeer();
});
afterAll(async () => {
  for (const r of runtimes.reverse()) await r.stop().catch(() => {});
  await peer?.stop();
});

describe("collector, 2 detectors and API as separate targets", () => {
  it("splits the work and every event lands once", async () => {
    const dataDir = tempDir();
    const base = { data_dir: dataDir, kafka: { brokers: peer.brokers, client_id: "dist" } };
    const start = async (target: string) => {
      const rt = await startRuntime(testConfig({ ...base, target }));
      runtimes.push(rt);
      return rt;
    };
    const collector = await start("collector");
    expect(collector.store).toBeUndefined();
    const d1 = await start("detector");
    const d2 = await start("detector");
    const api = await start("api");
    expect(api.bus).toBeUndefined();

    const story = secretStory();
    const noise = Array.from({ length: 200 }, (_, i) =>
      k8sEvent({
        user: `system:serviceaccount:team-${i % 10}:worker`,
        verb: "list",
        resource: "pods",
        namespace: `team-${i % 10}`,
        time: at("2026-11-03", 0, 8, i % 60),
      }),
    );
    const r = await collector.app.inject({
      method: "POST",
      url: "/ingest/k8s-audit?cluster=prod",
      headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
      payload: eventList([...story.normal, story.attack, ...noise]),
    });
    expect(r.json()).toMatchObject({ accepted: 211, rejected: 0 });

    await waitFor(
      async () => {
        const rs = await api.store!.ch.query({
          query: "SELECT count() AS n FROM events",
          format: "JSONEachRow",
        });
        const [row] = (await rs.json()) as { n: number }[];
        return Number(row.n) === 211;
      },
      120_000,
      500,
    );
    const rs = await api.store!.ch.query({
      query: "SELECT count() AS n, uniqExact(id) AS u FROM events",
      format: "JSONEachRow",
    });
    const [row] = (await rs.json()) as { n: number; u: number }[];
    expect([Number(row.n), Number(row.u)]).toEqual([211, 211]);

    const alerts = await waitFor(async () => {
      const a = await api.app.inject({ url: "/api/v1/alerts", headers: auth(READ_TOKEN) });
      return a.json().items.length ? a.json().items : undefined;
    });
    expect(alerts.map((a: { rule: string; identity: string }) => [a.rule, a.identity])).toEqual([
      ["secret-read-unusual", "k8s-sa:prod:ml-training:fine-tuning-job"],
    ]);
    expect(d1.detector).toBeDefined();
    expect(d2.detector).toBeDefined();
  }, 240_000);
});
