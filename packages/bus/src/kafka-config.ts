/** Client settings shared by the bus's consumers and admin (main thread) and its producer thread. */
import { logger } from "@identrail/core";
import { Kafka, type KafkaConfig, logLevel, type ProducerConfig, type SASLOptions } from "kafkajs";
import { javaCompatiblePartitioner } from "./partitioner";

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: { mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; username: string; password: string };
  /** Partition count used when this bus creates a topic itself. */
  partitions?: number;
  /**
   * Longest a fetch waits at the end of the log (Kafka `fetch.max.wait.ms`; kafkajs defaults to 5 s).
   * Real brokers answer as soon as `minBytes` arrived, so this only sets the idle poll rate; librdkafka's
   * mock cluster (tests, benchmarks) never cuts the wait short, so there it adds up to this much latency
   * per hop to any record produced while a fetch is parked.
   */
  fetchMaxWaitMs?: number;
  /**
   * Batches (one per partition) a consumer hands to its handler at the same time. Handlers must then be
   * safe to call concurrently for different partitions; the detector's stages coalesce such calls.
   */
  partitionsConsumedConcurrently?: number;
}

export const kafkaLog =
  () =>
  ({ level, log }: { level: logLevel; log: { message: string } & Record<string, unknown> }) => {
    const msg = `kafka: ${log.message}`;
    if (level === logLevel.ERROR) logger.warn({ broker: log.broker }, msg);
    else if (level === logLevel.WARN) logger.debug({ broker: log.broker }, msg);
  };

export function createKafka(opts: KafkaBusOptions): Kafka {
  const cfg: KafkaConfig = {
    clientId: opts.clientId,
    brokers: opts.brokers,
    ssl: opts.ssl,
    sasl: opts.sasl as SASLOptions | undefined,
    logLevel: logLevel.WARN,
    logCreator: kafkaLog,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  };
  return new Kafka(cfg);
}

export const producerOptions: ProducerConfig = {
  // Same placement as Partitioners.DefaultPartitioner (Java's murmur2), at a fraction of its CPU cost.
  createPartitioner: javaCompatiblePartitioner,
  allowAutoTopicCreation: true,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
};
