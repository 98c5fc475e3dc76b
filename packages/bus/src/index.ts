import { join } from "node:path";
import { KafkaBus, type KafkaBusOptions } from "./kafka-bus";
import { LocalBus } from "./local-bus";
import type { Bus } from "./types";

export * from "./kafka-bus";
export * from "./local-bus";
export { partitionFor } from "./partitioner";
export { MAX_PARTITION_SEND_BYTES } from "./send-rounds";
export * from "./types";

export function createBus(opts: { kafka?: KafkaBusOptions; dataDir: string }): Bus {
  if (opts.kafka?.brokers.length) return new KafkaBus(opts.kafka);
  return new LocalBus(join(opts.dataDir, "bus"));
}

/** Namespaces every topic (tests sharing one Kafka cluster); consumer group ids are prefixed by callers. */
export function prefixedBus(bus: Bus, prefix: string): Bus {
  return {
    kind: bus.kind,
    produce: (topic, msgs) => bus.produce(prefix + topic, msgs),
    partitionCount: (topic) => bus.partitionCount(prefix + topic),
    consume: (o) =>
      bus.consume({
        ...o,
        groupId: prefix + o.groupId,
        topics: o.topics.map((x) => prefix + x),
        handler: (b) => o.handler({ ...b, topic: b.topic.slice(prefix.length) }),
      }),
    healthy: () => bus.healthy(),
    close: () => bus.close(),
  };
}
