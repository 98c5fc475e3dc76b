/**
 * Key → partition exactly as the Java client's default partitioner does for keyed records
 * (`Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions`, KIP-480 keeps this for keyed records), so
 * a principal lands on the partition any other Kafka producer would pick for it.
 *
 * Same result as kafkajs' `Partitioners.DefaultPartitioner`, which computes murmur2 with its own 64-bit
 * `Long` emulation (several object allocations per 4 key bytes) and filters the partition list for every
 * message; profiled, that was ~12% of the collector's CPU. Here it is 32-bit integer math (`Math.imul`
 * wraps like Java's int multiplication) and a bounded per-key cache, plugged in through kafkajs' documented
 * `createPartitioner` option (https://kafka.js.org/docs/producing#custom-partitioner).
 */
import type { ICustomPartitioner, PartitionerArgs } from "kafkajs";

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2) over UTF-8 bytes, as a signed int. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length & ~3;
  for (let i = 0; i < length4; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The Java switch's fall-through, spelled out: the 1–3 trailing bytes, then one multiply.
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= data[length4 + 2] << 16;
    if (rest >= 2) h ^= data[length4 + 1] << 8;
    h ^= data[length4];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Distinct keys remembered; principals repeat a lot, and the cache is simply dropped when full. */
const CACHE_MAX = 50_000;
const hashes = new Map<string, number>();

/**
 * The partition a string key lands on among `numPartitions` (Java's `toPositive(murmur2(key)) % n`). The
 * collector uses it to pack records bound for the same partition into one message (ingest.ts), and the
 * producer's partitioner below uses it for keyed messages, so both always agree.
 */
export function partitionFor(key: string, numPartitions: number): number {
  let h = hashes.get(key);
  if (h === undefined) {
    if (hashes.size >= CACHE_MAX) hashes.clear();
    h = murmur2(Buffer.from(key, "utf8")) & 0x7fffffff;
    hashes.set(key, h);
  }
  return h % numPartitions;
}

export const javaCompatiblePartitioner: ICustomPartitioner = () => {
  let counter = Math.floor(Math.random() * 0x7fffffff);
  return ({ partitionMetadata, message }: PartitionerArgs) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const numPartitions = partitionMetadata.length;
    const key = message.key;
    if (key !== null && key !== undefined) {
      if (typeof key !== "string") return (murmur2(key) & 0x7fffffff) % numPartitions;
      return partitionFor(key, numPartitions);
    }
    // Keyless (not used by this bus): round-robin over partitions that have a leader, as kafkajs does.
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    counter = (counter + 1) & 0x7fffffff;
    return available.length ? available[counter % available.length].partitionId : counter % numPartitions;
  };
};
