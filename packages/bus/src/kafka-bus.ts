/**
 * Kafka through kafkajs. Produce resolves after acks from all in-sync replicas (acks=-1); consumers
 * commit a batch's offsets only after the handler resolved, i.e. after its writes were acknowledged.
 */
import { logger } from "@identrail/core";
import {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
  type SASLOptions,
} from "kafkajs";
import { javaCompatiblePartitioner } from "./partitioner";
import type { Bus, BusMessage, ConsumeOptions, ConsumerHandle } from "./types";

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

const kafkaLog =
  () =>
  ({ level, log }: { level: logLevel; log: { message: string } & Record<string, unknown> }) => {
    const msg = `kafka: ${log.message}`;
    if (level === logLevel.ERROR) logger.warn({ broker: log.broker }, msg);
    else if (level === logLevel.WARN) logger.debug({ broker: log.broker }, msg);
  };

export class KafkaBus implements Bus {
  readonly kind = "kafka" as const;
  private kafka: Kafka;
  private producer: Producer;
  private admin: Admin | undefined;
  private connected: Promise<void> | undefined;
  private consumers = new Set<Consumer>();
  private knownTopics = new Set<string>();

  constructor(private readonly opts: KafkaBusOptions) {
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
    this.kafka = new Kafka(cfg);
    this.producer = this.kafka.producer({
      // Same placement as Partitioners.DefaultPartitioner (Java's murmur2), at a fraction of its CPU cost.
      createPartitioner: javaCompatiblePartitioner,
      allowAutoTopicCreation: true,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  private connect() {
    this.connected ??= this.producer.connect().catch((e) => {
      this.connected = undefined;
      throw e;
    });
    return this.connected;
  }

  /**
   * Creates topics that do not exist yet. Brokers that auto-create topics (and the librdkafka mock
   * cluster, whose CreateTopics is unsupported) make this a no-op; errors are not fatal.
   */
  async ensureTopics(topics: string[]) {
    const missing = topics.filter((t) => !this.knownTopics.has(t));
    if (!missing.length) return;
    try {
      this.admin ??= this.kafka.admin();
      await this.admin.connect();
      const existing = new Set(await this.admin.listTopics());
      const create = missing.filter((t) => !existing.has(t));
      if (create.length)
        await this.admin.createTopics({
          topics: create.map((topic) => ({ topic, numPartitions: this.opts.partitions ?? 12 })),
          waitForLeaders: true,
        });
    } catch (e) {
      logger.debug({ err: (e as Error).message }, "createTopics failed; relying on auto-creation");
    }
    for (const t of missing) this.knownTopics.add(t);
  }

  async produce(topic: string, messages: BusMessage[]): Promise<void> {
    if (!messages.length) return;
    await this.connect();
    await this.producer.send({ topic, acks: -1, timeout: 10_000, messages });
  }

  async consume(opts: ConsumeOptions): Promise<ConsumerHandle> {
    await this.ensureTopics(opts.topics);
    const consumer = this.kafka.consumer({
      groupId: opts.groupId,
      allowAutoTopicCreation: true,
      sessionTimeout: 10_000,
      rebalanceTimeout: 20_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: this.opts.fetchMaxWaitMs ?? 20,
      maxBytesPerPartition: 1024 * 1024,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: opts.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Several partitions in flight at once: handlers coalesce them into one write round (group commit),
      // so the fixed cost of a batch (queries, inserts, commit) is paid once for many small batches.
      partitionsConsumedConcurrently: this.opts.partitionsConsumedConcurrently ?? 12,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!batch.messages.length || !isRunning() || isStale()) return;
        const messages = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key?.toString() ?? "",
          value: m.value?.toString() ?? "",
        }));
        const hb = setInterval(() => heartbeat().catch(() => {}), 1000);
        try {
          // Throws on failure: kafkajs then restarts the consumer from the last committed offset.
          await opts.handler({
            topic: batch.topic,
            partition: batch.partition,
            messages,
            lag: Number(batch.offsetLag()),
          });
        } finally {
          clearInterval(hb);
        }
        const last = batch.messages[batch.messages.length - 1].offset;
        resolveOffset(last);
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
      },
    });
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  async healthy(): Promise<boolean> {
    try {
      await this.connect();
      return true;
    } catch {
      return false;
    }
  }

  async close() {
    for (const c of [...this.consumers]) {
      this.consumers.delete(c);
      await c.disconnect().catch(() => {});
    }
    await this.admin?.disconnect().catch(() => {});
    if (this.connected) await this.producer.disconnect().catch(() => {});
  }
}
