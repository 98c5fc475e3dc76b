export interface BusMessage {
  /** Partition key: the source principal on raw topics, the canonical identity on the events topic. */
  key: string;
  value: string;
  /**
   * Explicit partition, for a message that packs several keys' records (ingest.ts): it must land where
   * each packed record's own key would have, which the key of the message alone does not say.
   */
  partition?: number;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  value: string;
}

export interface Batch {
  topic: string;
  partition: number;
  messages: ConsumedMessage[];
  /** Messages still behind this batch on the partition, when the bus knows. */
  lag?: number;
}

/**
 * Handles one batch. Resolve only when its effects are durable: the bus then commits the batch's
 * offsets. Throwing means "not processed": nothing is committed from then on and the batch comes again,
 * with every batch of the consumer after it (Kafka: the consumer restarts from the committed offsets).
 */
export type BatchHandler = (batch: Batch) => Promise<void>;

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  handler: BatchHandler;
  /** Upper bound on messages per handler call (in-process bus; Kafka batches by fetch size). */
  maxBatch?: number;
  /**
   * Kafka: hand the next batches over while earlier ones are still being processed (their offsets commit
   * later, in order, each once its handler call resolved). The handler may then be called again for a
   * partition before its previous call settled (always in offset order) and must keep that order itself,
   * as the detector's coalescing stages do. Off: one call per partition at a time.
   */
  pipelined?: boolean;
  /** With `pipelined`: uncommitted messages handed over, at most (default 2 × maxBatch). */
  maxInFlightMessages?: number;
  /** With `pipelined`: characters of uncommitted values handed over, at most (default 8 Mi). */
  maxInFlightChars?: number;
}

export interface ConsumerHandle {
  stop(): Promise<void>;
}

/** The small interface every component talks to: Kafka in production, an in-process log when embedded. */
export interface Bus {
  readonly kind: "kafka" | "local";
  /** Resolves once the messages are durable (Kafka: acks from all in-sync replicas; local: fsynced). */
  produce(topic: string, messages: BusMessage[]): Promise<void>;
  /**
   * The topic's partition count as the producer sees it, or undefined while the bus does not know it yet
   * (never waits: a lookup, if needed, runs in the background). Keyed messages land on
   * `partitionFor(key, count)`.
   */
  partitionCount(topic: string): number | undefined;
  consume(opts: ConsumeOptions): Promise<ConsumerHandle>;
  /** True when the bus can currently accept writes (used by /readyz). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
