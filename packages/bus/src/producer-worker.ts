/**
 * The Kafka producer's thread (see ProducerThread in kafka-bus.ts): one kafkajs producer that encodes and
 * sends what the main thread posts, and answers each request once Kafka acknowledged it (acks=-1) or it
 * failed. kafkajs encodes record batches in JavaScript (varints, CRC32C, buffer copies: ~10 µs per message
 * of ~1 KB, profiled), which otherwise takes half of the collector's main thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { installFastCrc32c } from "./fast-crc32c";
import { createKafka, type KafkaBusOptions, producerOptions } from "./kafka-config";
import { type PackedValues, unpackValues } from "./packed-values";
import { javaCompatiblePartitioner } from "./partitioner";
import { sendRounds } from "./send-rounds";

export type ProducerRequest =
  | { id: number; type: "connect" }
  | {
      id: number;
      type: "send";
      topic: string;
      keys: string[];
      values: PackedValues;
      /** Explicit partition per message, -1 where the partitioner decides from the key. */
      partitions?: Int32Array;
    }
  | { id: number; type: "close" };
export type ProducerReply =
  /** `partitions`: the topic's partition count in the metadata kafkajs placed this send's messages with. */
  { id: number; ok: true; partitions?: number } | { id: number; ok: false; name: string; message: string };

const port = parentPort!;
// Before the first produce loads kafkajs' record batch encoder (see fast-crc32c.ts).
installFastCrc32c();
// Partition counts as kafkajs' own metadata has them: its partitioner is handed every message of a send
// with the topic's partition list (groupMessagesPerPartition), including messages placed explicitly.
const partitionCounts = new Map<string, number>();
const producer = createKafka(workerData as KafkaBusOptions).producer({
  ...producerOptions,
  createPartitioner: () => {
    const place = javaCompatiblePartitioner();
    return (args) => {
      partitionCounts.set(args.topic, args.partitionMetadata.length);
      return place(args);
    };
  },
});
let connected: Promise<void> | undefined;
const connect = () =>
  (connected ??= producer.connect().catch((e) => {
    connected = undefined;
    throw e;
  }));

port.on("message", async (req: ProducerRequest) => {
  let reply: ProducerReply;
  try {
    if (req.type === "connect") {
      await connect();
      reply = { id: req.id, ok: true };
    } else if (req.type === "send") {
      await connect();
      const messages: { key: string; value: Buffer; partition?: number }[] = unpackValues(
        req.keys,
        req.values,
      );
      const parts = req.partitions;
      if (parts)
        for (let i = 0; i < messages.length; i++) if (parts[i] >= 0) messages[i].partition = parts[i];
      // Usually one send; more only when a partition's share would exceed what a broker accepts.
      for (const round of sendRounds(messages))
        await producer.send({ topic: req.topic, acks: -1, timeout: 10_000, messages: round });
      reply = { id: req.id, ok: true, partitions: partitionCounts.get(req.topic) };
    } else {
      if (connected) await producer.disconnect().catch(() => {});
      reply = { id: req.id, ok: true };
    }
  } catch (e) {
    const err = e as Error;
    reply = { id: req.id, ok: false, name: err?.name ?? "Error", message: err?.message ?? String(e) };
  }
  port.postMessage(reply);
});
