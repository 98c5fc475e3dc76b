/** A detector over Kafka (mock cluster) and embedded ClickHouse, for the end-to-end benchmarks. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { KafkaBus } from "@identrail/bus";
import { startKafkaPeer } from "@identrail/bus/testing";
import { ingestText } from "@identrail/collector";
import { parseConfig } from "@identrail/config";
import { startDetector } from "@identrail/detector";
import { k8sAudit } from "@identrail/sources";
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
      // The collector's own path minus HTTP: decode, accept, redact, pack per partition, produce (acks=all).
      const r = await ingestText(
        { bus, config },
        k8sAudit,
        JSON.stringify({ apiVersion: "audit.k8s.io/v1", kind: "EventList", items }),
        cluster,
      );
      if (r.accepted !== items.length) throw new Error(`collector accepted ${r.accepted} of ${items.length}`);
    },
    async stop() {
      await detector.stop();
      await bus.close();
      await store.close();
      await peer.stop();
    },
  };
}
