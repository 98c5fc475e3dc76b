/**
 * Collector throughput: HTTP EventList batches of 400 → Kafka (librdkafka's mock cluster via kcat,
 * acks=all), events/s, against a bare node:http server that only reads and JSON.parses the same bodies.
 * Same keep-alive client loop for both. The mock keeps ~5 MB per partition and drops older segments,
 * which does not slow producers, so no consumer is needed here.
 */

import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startKafkaPeer } from "@identrail/bus/testing";
import { startRuntime } from "@identrail/cli";
import { parseConfig } from "@identrail/config";
import { Traffic } from "./gen/traffic";
import { load } from "./http-load";
import { figure, log, RUNS, SMALL, writeResult } from "./lib";

const SECONDS = SMALL ? 1 : 4;
const CONCURRENCY = 8;
const BATCH = 400;
const TOKEN = "bench-ingest-token-0123456789";

async function main() {
  const peer = await startKafkaPeer({ brokers: 3 });
  const t = new Traffic({ identities: 5000, seed: 7 });
  const bodies = Array.from({ length: 20 }, () => JSON.stringify(t.k8sEventList(BATCH)));
  const rt = await startRuntime(
    parseConfig({
      target: "collector",
      data_dir: mkdtempSync(join(tmpdir(), "identrail-bench-")),
      kafka: { brokers: peer.brokers, client_id: "bench" },
      auth: { tokens: [{ name: "ingest", token: TOKEN, scopes: ["ingest"] }] },
    }),
  );
  const url = await rt.app.listen({ port: 0, host: "127.0.0.1" });
  const bare = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const n = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { items: unknown[] }).items.length;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ accepted: n }));
    });
  });
  await new Promise<void>((r) => bare.listen(0, "127.0.0.1", r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  const runs: number[] = [];
  const refs: number[] = [];
  const p99s: number[] = [];
  const notes: string[] = [];
  try {
    // Warm-up: topic auto-creation, producer connections, JIT.
    await load({
      url: `${url}/ingest/k8s-audit?cluster=prod`,
      bodies,
      headers,
      concurrency: CONCURRENCY,
      seconds: 1,
    });
    for (let i = 0; i < RUNS; i++) {
      const a = await load({
        url: `${url}/ingest/k8s-audit?cluster=prod`,
        bodies,
        headers,
        concurrency: CONCURRENCY,
        seconds: SECONDS,
      });
      if (a.ok !== a.requests)
        notes.push(`run ${i + 1}: ${a.requests - a.ok} of ${a.requests} collector requests were not 200`);
      runs.push((a.ok * BATCH) / a.seconds);
      p99s.push(a.latenciesMs.sort((x, y) => x - y)[Math.floor(a.latenciesMs.length * 0.99)] ?? 0);
      const b = await load({ url: bareUrl, bodies, headers, concurrency: CONCURRENCY, seconds: SECONDS });
      refs.push((b.ok * BATCH) / b.seconds);
      log(`collector ${Math.round(runs[i])} events/s, bare ${Math.round(refs[i])} events/s`);
    }
  } finally {
    await rt.stop();
    bare.close();
    await peer.stop();
  }
  const p99 = p99s.sort((x, y) => x - y)[p99s.length >> 1];
  writeResult({
    name: "collector-http",
    title: "Collector: HTTP EventList batches of 400 → Kafka",
    figures: [
      figure(
        `collector → Kafka mock (acks=all), ${CONCURRENCY} keep-alive clients`,
        "events/s",
        runs,
        { what: "bare node:http server, JSON.parse only", runs: refs },
        "≥ 0.5×",
        { request_p99_ms: Math.round(p99) },
      ),
    ],
    notes: [
      ...notes,
      "client and servers share the machine's cores (loopback); the broker is kcat's librdkafka mock cluster",
      `the collector prepares bodies on ${rt.config.ingest.prepare_threads} prepare thread(s) (ingest.prepare_threads' default here) and produces from its Kafka producer thread; the reference parses on its one thread`,
    ],
  });
}

await main();
