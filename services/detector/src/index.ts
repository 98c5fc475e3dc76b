import type { ClickHouseClient } from "@clickhouse/client";
import { type Bus, type ConsumerHandle, prefixedBus } from "@identrail/bus";
import type { Config } from "@identrail/config";
import { SOURCES, Topics } from "@identrail/schema";
import { createDeadLetterSink, createNormalizer } from "./normalizer";
import { createDetectorPipeline } from "./pipeline";
import type { Rule } from "./rules";

export * from "./engine";
export * from "./normalizer";
export * from "./pipeline";
export * from "./resolver";
export * from "./rules";
export * from "./writer";

export const GROUPS = {
  normalizer: "identrail-normalizer",
  detector: "identrail-detector",
  deadLetters: "identrail-deadletters",
} as const;

export interface DetectorHandle {
  pipeline: ReturnType<typeof createDetectorPipeline>;
  stop(): Promise<void>;
}

/** Starts both detector stages and the dead-letter sink as consumers of the bus. */
export async function startDetector(opts: {
  bus: Bus;
  ch: ClickHouseClient;
  config: Config;
  rules?: Rule[];
  topicPrefix?: string;
}): Promise<DetectorHandle> {
  let stopping = false;
  const isStopping = () => stopping;
  const bus = opts.topicPrefix ? prefixedBus(opts.bus, opts.topicPrefix) : opts.bus;
  const normalizer = createNormalizer({ bus, ch: opts.ch, config: opts.config, stopping: isStopping });
  await normalizer.resolver.refresh(true);
  const pipeline = createDetectorPipeline({
    ch: opts.ch,
    config: opts.config,
    stopping: isStopping,
    rules: opts.rules,
  });
  const handles: ConsumerHandle[] = [];
  const batch = opts.config.detector.batch_size;
  handles.push(
    await bus.consume({
      groupId: GROUPS.detector,
      topics: [Topics.events],
      handler: pipeline.handle,
      maxBatch: batch,
      // Both stages coalesce (rounds in hand-over order), so the consumer may hand over batches while
      // earlier rounds are being written: larger rounds under load, fetches overlapping writes.
      pipelined: true,
    }),
  );
  handles.push(
    await bus.consume({
      groupId: GROUPS.normalizer,
      topics: SOURCES.map((s) => Topics.raw(s)),
      handler: normalizer.handle,
      maxBatch: batch,
      pipelined: true,
    }),
  );
  handles.push(
    await bus.consume({
      groupId: GROUPS.deadLetters,
      topics: [Topics.deadLetters],
      handler: createDeadLetterSink({ bus, ch: opts.ch, config: opts.config, stopping: isStopping }),
    }),
  );
  return {
    pipeline,
    async stop() {
      stopping = true;
      await Promise.allSettled(handles.map((h) => h.stop()));
    },
  };
}
