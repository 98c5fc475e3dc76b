/**
 * Kafka consumption alone: our KafkaBus consumer (kafkajs, batches, manual commits, pipelined as the
 * detector stages consume it) reading a topic of
 * raw envelopes from the beginning, against `kcat -C` (librdkafka) reading the same topic. Rate is
 * messages/s from the first delivered message to the last, so group join and process start-up are not
 * counted for either. 12k messages of ~1 KB over the mock's 4 auto-created partitions keeps every
 * partition under the mock's ~5 MB log.
 */
import { spawn } from "node:child_process";
import { KafkaBus } from "@identrail/bus";
import { startKafkaPeer } from "@identrail/bus/testing";
import { Topics } from "@identrail/schema";
import { Traffic } from "./gen/traffic";
import { figure, log, RUNS, SMALL, writeResult } from "./lib";

// 12k × ~1 KB stays well under the mock's ~5 MB per partition (16k sat at the edge and lost the oldest data).
const N = SMALL ? 4000 : 12_000;

async function busRate(bus: KafkaBus, topic: string, group: string): Promise<number> {
  let count = 0;
  let first = 0;
  let firstBatch = 0;
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let last = 0;
  const h = await bus.consume({
    groupId: group,
    topics: [topic],
    // As the detector stages consume: batches handed over while earlier ones are still being processed.
    pipelined: true,
    handler: async (b) => {
      const now = performance.now();
      if (!first) {
        first = now;
        firstBatch = b.messages.length;
      }
      count += b.messages.length;
      last = now;
      if (count >= N) done();
    },
  });
  await finished;
  await h.stop();
  return (count - firstBatch) / ((last - first) / 1000);
}

function kcatRate(brokers: string[], topic: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      "kcat",
      [
        "-b",
        brokers.join(","),
        "-C",
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-X",
        "fetch.wait.max.ms=10",
        "-f",
        "%s\n",
      ],
      {
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    let first = 0;
    let firstLines = 0;
    let lines = 0;
    let last = 0;
    p.stdout.on("data", (d: Buffer) => {
      let n = 0;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) n++;
      const now = performance.now();
      if (!first) {
        first = now;
        firstLines = n;
      }
      lines += n;
      last = now;
    });
    p.on("error", reject);
    p.on("exit", () =>
      lines >= N
        ? resolve((lines - firstLines) / ((last - first) / 1000))
        : reject(new Error(`kcat read ${lines}/${N}`)),
    );
  });
}

async function main() {
  const peer = await startKafkaPeer({ brokers: 3 });
  const bus = new KafkaBus({ brokers: peer.brokers, clientId: "bench" });
  const topic = Topics.raw("k8s-audit");
  const runs: number[] = [];
  const refs: number[] = [];
  try {
    const t = new Traffic({ identities: 5000, seed: 11 });
    for (let i = 0; i < N; i += 1000) {
      const msgs = t.k8sEventList(1000).items.map((e) => ({
        key: e.user.username,
        value: JSON.stringify({
          v: 1,
          source: "k8s-audit",
          cluster: "prod",
          received_at: new Date().toISOString(),
          record: e,
        }),
      }));
      await bus.produce(topic, msgs);
    }
    for (let i = 0; i < RUNS; i++) {
      runs.push(await busRate(bus, topic, `bench-consume-${i}`));
      refs.push(await kcatRate(peer.brokers, topic));
      log(`KafkaBus ${Math.round(runs[i])} msg/s, kcat ${Math.round(refs[i])} msg/s`);
    }
  } finally {
    await bus.close();
    await peer.stop();
  }
  writeResult({
    name: "kafka-consume",
    title: "Kafka consumption alone",
    figures: [
      figure(
        `KafkaBus consumer (kafkajs), ${N} raw envelopes of ~1 KB`,
        "messages/s",
        runs,
        { what: "kcat -C on the same topic", runs: refs },
        "report the ratio",
      ),
    ],
    notes: [],
  });
}

await main();
