/** A detector over Kafka (mock cluster) and embedded ClickHouse, for the end-to-end benchmarks. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { KafkaBus } from "@identrail/bus";
import { startKafkaPeer } from "@identrail/bus/testing";
import { parseConfig } from "@identrail/config";
import { startDetector } from "@identrail/detector";
import { Topics } from "@identrail/schema";
import { createStoreClient, migrate } from "@identrail/store";
import type { Traffic } from "./gen/traffic";

export async function startPipeline(
  opts: { wrapCh?: (ch: ClickHouseClient) => ClickHouseClient; config?: Record<string, unknown> } = {},
) {
  const peer = await startKafkaPeer({ brokers: 3 });
  const dataDir = mkdtempSync(join(tmpdir(), "identrail-bench-pipe-"));
  const store = await createStoreClient({ dataDir });
  await migrate(store.ch);
  const config = parseConfig({
    data_dir: dataDir,
    kafka: { brokers: peer.brokers, client_id: "bench" },
    ...opts.config,
  });
  const bus = new KafkaBus({ brokers: peer.brokers, clientId: "bench" });
  const ch = opts.wrapCh ? opts.wrapCh(store.ch) : store.ch;
  const detector = await startDetector({ bus, ch, config });
  const count = async (table = "events") => {
    const rs = await store.ch.query({
      query: "SELECT count() AS n FROM {t:Identifier}",
      query_params: { t: table },
      format: "JSONEachRow",
    });
    const [r] = (await rs.json()) as { n: string }[];
    return Number(r.n);
  };
  return {
    store,
    bus,
    count,
    /** Raw k8s envelopes as the collector publishes them. */
    async produce(items: ReturnType<Traffic["k8sEvent"]>[], cluster = "prod") {
      const receivedAt = new Date().toISOString();
      await bus.produce(
        Topics.raw("k8s-audit"),
        items.map((e) => ({
          key: e.user.username,
          value: JSON.stringify({ v: 1, source: "k8s-audit", cluster, received_at: receivedAt, record: e }),
        })),
      );
    },
    async stop() {
      await detector.stop();
      await bus.close();
      await store.close();
      await peer.stop();
    },
  };
}
