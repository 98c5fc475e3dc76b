/**
 * Kafka through kafkajs. Produce resolves after acks from all in-sync replicas (acks=-1); consumers
 * commit a batch's offsets only after the handler resolved, i.e. after its writes were acknowledged.
 * The producer runs on its own thread (ProducerThread below); consumers and admin stay on the caller's.
 */
import { Worker } from "node:worker_threads";
import { logger } from "@identrail/core";
import type { Admin, Consumer, Kafka } from "kafkajs";
import { createKafka, type KafkaBusOptions } from "./kafka-config";
import { packValues } from "./packed-values";
import type { ProducerReply, ProducerRequest } from "./producer-worker";
import type { Bus, BusMessage, ConsumeOptions, ConsumerHandle } from "./types";

export type { KafkaBusOptions } from "./kafka-config";

type Call = ProducerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/**
 * kafkajs' producer on a worker thread. Encoding a produce request is CPU work in JavaScript (per message:
 * record encoding with several buffer allocations, then CRC32C over the batch; ~10 µs per ~1 KB message,
 * ~40% of the collector's busy CPU under load, profiled), so on the caller's thread it competes with request
 * handling, parsing and redaction; here it runs beside them on another core. Each call resolves only after
 * the worker's producer.send() resolved for exactly those messages (acks=-1), and rejects with its error
 * otherwise; if the thread dies, every call in flight is rejected (the caller answers 503 and the client
 * retries: at-least-once) and the next call starts a new thread.
 */
export class ProducerThread {
  private worker: Worker | undefined;
  private pending = new Map<number, { resolve: (partitions?: number) => void; reject: (e: Error) => void }>();
  private seq = 0;

  constructor(private readonly opts: KafkaBusOptions) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL("./producer-worker-entry.mjs", import.meta.url), {
      workerData: this.opts,
      // Not the parent's loader flags: the entry registers tsx itself.
      execArgv: [],
    });
    w.on("message", (r: ProducerReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (!this.pending.size) w.unref();
      if (r.ok) p.resolve(r.partitions);
      else p.reject(Object.assign(new Error(r.message), { name: r.name }));
    });
    const fail = (e: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on("error", (e) => fail(e));
    w.on("exit", (code) => fail(new Error(`kafka producer thread exited (code ${code})`)));
    w.unref();
    this.worker = w;
    return w;
  }

  /** Resolves once the thread's send or connect succeeded, with the topic's partition count for a send. */
  call(req: Call, transfer: ArrayBuffer[] = []): Promise<number | undefined> {
    const w = this.start();
    const id = ++this.seq;
    return new Promise<number | undefined>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced while calls are in flight, like kafkajs' own sockets would be.
      w.ref();
      w.postMessage({ ...req, id }, transfer);
    });
  }

  async close() {
    const w = this.worker;
    if (!w) return;
    await this.call({ type: "close" }).catch(() => {});
    this.worker = undefined;
    await w.terminate();
  }
}

/** How long partition counts are trusted before a background refresh (kafkajs' metadataMaxAge default). */
const PARTITIONS_MAX_AGE_MS = 5 * 60_000;

export class KafkaBus implements Bus {
  readonly kind = "kafka" as const;
  private kafka: Kafka;
  private producer: ProducerThread;
  private admin: Admin | undefined;
  private consumers = new Set<Consumer>();
  private knownTopics = new Set<string>();

  constructor(private readonly opts: KafkaBusOptions) {
    this.kafka = createKafka(opts);
    this.producer = new ProducerThread(opts);
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
    const values = packValues(messages.map((m) => m.value));
    const transfer = [values.bytes.buffer as ArrayBuffer, values.lengths.buffer as ArrayBuffer];
    let partitions: Int32Array | undefined;
    if (messages.some((m) => m.partition !== undefined)) {
      partitions = Int32Array.from(messages, (m) => m.partition ?? -1);
      transfer.push(partitions.buffer as ArrayBuffer);
    }
    const keys = messages.map((m) => m.key);
    const count = await this.producer.call({ type: "send", topic, keys, values, partitions }, transfer);
    // The count kafkajs placed these messages with: a topic this send created is known from here on,
    // instead of after the next metadata refresh (at most one a second), so the collector packs its
    // records from the next request on; a topic that grew is seen at once, as kafkajs sees it.
    if (count !== undefined && count > 0) this.sentPartitions.set(topic, count);
  }

  /**
   * Partition counts from the cluster's metadata, the same list kafkajs' partitioner is handed
   * (`partitionMetadata`, https://kafka.js.org/docs/producing#custom-partitioner). Read by the admin client
   * on this thread (the producer's own metadata lives on its thread) and refreshed in the background every
   * PARTITIONS_MAX_AGE_MS, like the producer's `metadataMaxAge` (kafkajs default 5 min). One request lists
   * every topic: a topic that does not exist yet stays unknown (the admin client does not auto-create, and
   * asking for it by name would only retry UNKNOWN_TOPIC_OR_PARTITION) until a keyed produce created it.
   */
  partitionCount(topic: string): number | undefined {
    // What the producer used at its last send to the topic, when there was one (kafkajs refreshes its
    // own metadata every metadataMaxAge, 5 min by default).
    const sent = this.sentPartitions.get(topic);
    if (sent !== undefined) return sent;
    if (Date.now() - this.partitionsAt > PARTITIONS_MAX_AGE_MS || !this.partitions.has(topic))
      this.refreshPartitions();
    return this.partitions.get(topic);
  }

  private partitions = new Map<string, number>();
  private sentPartitions = new Map<string, number>();
  private partitionsAt = 0;
  private partitionsLookup: Promise<void> | undefined;
  private partitionsTried = 0;
  private closed = false;

  /** Starts one metadata lookup unless one runs or one ran less than a second ago. */
  refreshPartitions(): Promise<void> {
    if (this.partitionsLookup) return this.partitionsLookup;
    if (this.closed || Date.now() - this.partitionsTried < 1000) return Promise.resolve();
    this.partitionsTried = Date.now();
    this.partitionsLookup = (async () => {
      try {
        this.admin ??= this.kafka.admin();
        await this.admin.connect();
        const { topics } = await this.admin.fetchTopicMetadata();
        const next = new Map<string, number>();
        for (const t of topics) if (t.partitions.length) next.set(t.name, t.partitions.length);
        this.partitions = next;
        this.partitionsAt = Date.now();
      } catch (e) {
        logger.debug({ err: (e as Error).message }, "topic metadata lookup failed");
      } finally {
        this.partitionsLookup = undefined;
      }
    })();
    return this.partitionsLookup;
  }

  async consume(opts: ConsumeOptions): Promise<ConsumerHandle> {
    await this.ensureTopics(opts.topics);
    let stopped = false;
    let current: { consumer: Consumer; pending: Set<Promise<void>>; notify: () => void } | undefined;
    let restarting: Promise<void> | undefined;
    let failures = 0;
    const limits = {
      messages: opts.maxInFlightMessages ?? 2 * (opts.maxBatch ?? 2000),
      chars: opts.maxInFlightChars ?? 8 * 1024 * 1024,
    };

    /**
     * One kafkajs consumer. A batch is handed to the handler and its offsets are committed when (and only
     * when) the handler's promise resolved, in offset order per partition. With `pipelined`, eachBatch does
     * not wait for that: it marks the batch consumed (resolveOffset) and returns as soon as the uncommitted
     * work is within `limits`, so the fetchers bring the next batches while earlier ones are being written
     * (kafkajs fetches a broker's partitions again only after every batch of its last fetch returned from
     * eachBatch, and librdkafka's mock answers a fetch with one record batch per partition: without this,
     * a handler's round could never be larger than one producer batch per partition).
     *
     * A handler that fails retires the whole consumer: it commits nothing more and hands nothing more over;
     * once every call in flight has settled, a fresh consumer joins the group and starts again from the
     * committed offsets, so the failed batch and everything after it come again (at-least-once; the
     * detector drops what it had stored already by event id).
     */
    const run = async (): Promise<NonNullable<typeof current>> => {
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
      let retired = false;
      const inFlight = { messages: 0, chars: 0 };
      const pending = new Set<Promise<void>>();
      const wake: (() => void)[] = [];
      const notify = () => {
        for (const w of wake.splice(0)) w();
      };
      // Per partition, the commit chain: each link commits its batch only if every earlier one did.
      const tails = new Map<string, Promise<boolean>>();
      // Offsets ready to commit, sent together: a round's handler calls resolve at once, and one
      // OffsetCommit request carries all of their partitions (Kafka protocol: OffsetCommit takes a list of
      // topics and partitions) instead of one request per batch.
      let queued = new Map<string, { topic: string; partition: number; offset: string }>();
      let flush: Promise<void> | undefined;
      const commit = (key: string, topic: string, partition: number, offset: string) => {
        queued.set(key, { topic, partition, offset });
        flush ??= new Promise<void>((resolve, reject) =>
          setImmediate(() => {
            const offsets = [...queued.values()];
            queued = new Map();
            flush = undefined;
            consumer.commitOffsets(offsets).then(resolve, reject);
          }),
        );
        return flush;
      };
      const retire = (e: unknown) => {
        if (retired) return;
        retired = true;
        notify();
        if (!stopped)
          logger.warn(
            { group: opts.groupId, err: (e as Error)?.message?.slice(0, 200) },
            "batch handler failed; restarting the consumer from the committed offsets",
          );
        restarting = (async () => {
          await Promise.allSettled([...pending]);
          this.consumers.delete(consumer);
          await consumer.disconnect().catch(() => {});
          // Until a fresh consumer runs (Kafka may be down too), with a growing pause between attempts.
          while (!stopped) {
            failures++;
            await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** failures, 5000)));
            if (stopped) return;
            try {
              current = await run();
              return;
            } catch (err) {
              logger.warn({ group: opts.groupId, err: (err as Error).message }, "consumer restart failed");
            }
          }
        })();
      };
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: opts.topics, fromBeginning: true });
      } catch (e) {
        this.consumers.delete(consumer);
        await consumer.disconnect().catch(() => {});
        throw e;
      }
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        // Several partitions in flight at once: handlers coalesce them into one write round (group commit),
        // so the fixed cost of a batch (queries, inserts, commit) is paid once for many small batches.
        partitionsConsumedConcurrently: this.opts.partitionsConsumedConcurrently ?? 12,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          if (!batch.messages.length || retired || stopped || !isRunning() || isStale()) return;
          let chars = 0;
          const messages = batch.messages.map((m) => {
            const value = m.value?.toString() ?? "";
            chars += value.length;
            return {
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key?.toString() ?? "",
              value,
            };
          });
          const { topic, partition } = batch;
          const last = batch.messages[batch.messages.length - 1].offset;
          const next = (BigInt(last) + 1n).toString();
          const done = opts.handler({ topic, partition, messages, lag: Number(batch.offsetLag()) });
          done.catch(() => {}); // observed below, in order
          const key = `${topic}\u0000${partition}`;
          const link = (tails.get(key) ?? Promise.resolve(true)).then(async (ok) => {
            if (!ok) return false;
            try {
              await done;
            } catch (e) {
              retire(e);
              return false;
            }
            if (retired) return false;
            try {
              await commit(key, topic, partition, next);
              failures = 0;
            } catch (e) {
              // Not fatal: a later commit covers this one, or the partition's next owner redelivers.
              logger.debug({ group: opts.groupId, err: (e as Error).message }, "offset commit failed");
            }
            return true;
          });
          tails.set(key, link);
          inFlight.messages += messages.length;
          inFlight.chars += chars;
          const settled = link.then(() => {
            inFlight.messages -= messages.length;
            inFlight.chars -= chars;
            pending.delete(settled);
            notify();
          });
          pending.add(settled);
          // Consumed, not committed: the next fetch continues after it; the commit follows the handler.
          resolveOffset(last);
          const hb = setInterval(() => heartbeat().catch(() => {}), 1000);
          try {
            const full = () =>
              opts.pipelined
                ? inFlight.messages >= limits.messages || inFlight.chars >= limits.chars
                : pending.has(settled);
            while (!retired && !stopped && full()) await new Promise<void>((r) => wake.push(r));
          } finally {
            clearInterval(hb);
          }
        },
      });
      return { consumer, pending, notify };
    };
    current = await run();
    return {
      stop: async () => {
        stopped = true;
        // A restart already past its last check may still bring up a consumer: stop that one too.
        for (;;) {
          const c = current;
          const r = restarting;
          if (c) {
            // Let the batches handed over finish and commit (a handler that is stopping fails fast).
            c.notify();
            await Promise.allSettled([...c.pending]);
            this.consumers.delete(c.consumer);
            await c.consumer.disconnect().catch(() => {});
          }
          await r;
          if (current === c && restarting === r) return;
        }
      },
    };
  }

  async healthy(): Promise<boolean> {
    try {
      await this.producer.call({ type: "connect" });
      return true;
    } catch {
      return false;
    }
  }

  async close() {
    this.closed = true;
    // A lookup in flight holds the admin client: let it finish (or fail) before disconnecting.
    await this.partitionsLookup;
    for (const c of [...this.consumers]) {
      this.consumers.delete(c);
      await c.disconnect().catch(() => {});
    }
    await this.admin?.disconnect().catch(() => {});
    await this.producer.close();
  }
}
