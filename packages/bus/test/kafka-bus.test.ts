import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KafkaBus } from "../src/kafka-bus";
import { partitionFor } from "../src/partitioner";
import { type KafkaPeer, startKafkaPeer } from "../src/testing/mock-kafka";
import type { ConsumedMessage } from "../src/types";

let peer: KafkaPeer;
beforeAll(async () => {
  peer = await startKafkaPeer();
}, 20_000);
afterAll(async () => {
  await peer?.stop();
});

describe("KafkaBus over the Kafka protocol", () => {
  it("delivers produced messages to a consumer group, keyed and in order per key, and commits", async () => {
    const bus = new KafkaBus({ brokers: peer.brokers, clientId: "test" });
    const topic = `${peer.prefix}.orders`;
    const msgs = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: JSON.stringify({ i }) }));
    await bus.produce(topic, msgs);
    const got: ConsumedMessage[] = [];
    const done = new Promise<void>((resolve) => {
      void bus.consume({
        groupId: `${peer.prefix}-g`,
        topics: [topic],
        handler: async (b) => {
          got.push(...b.messages);
          if (got.length >= 50) resolve();
        },
      });
    });
    await done;
    // Let the commit that follows the last handler call finish before disconnecting.
    await new Promise((r) => setTimeout(r, 1500));
    expect(got).toHaveLength(50);
    for (const k of ["k0", "k1", "k2", "k3", "k4"]) {
      const seq = got.filter((m) => m.key === k).map((m) => JSON.parse(m.value).i);
      expect(seq).toEqual([...seq].sort((a, b) => a - b));
    }
    await bus.close();

    // A new consumer in the same group starts after the committed offsets: nothing is redelivered.
    const bus2 = new KafkaBus({ brokers: peer.brokers, clientId: "test2" });
    await bus2.produce(topic, [{ key: "k0", value: JSON.stringify({ i: 999 }) }]);
    const again: ConsumedMessage[] = [];
    await new Promise<void>((resolve) => {
      void bus2.consume({
        groupId: `${peer.prefix}-g`,
        topics: [topic],
        handler: async (b) => {
          again.push(...b.messages);
          resolve();
        },
      });
    });
    expect(again.map((m) => JSON.parse(m.value).i)).toEqual([999]);
    await bus2.close();
  }, 60_000);

  it("knows a topic's partition count once it exists, and puts an explicitly placed message there", async () => {
    const bus = new KafkaBus({ brokers: peer.brokers, clientId: "test-partitions" });
    const topic = `${peer.prefix}.placed`;
    try {
      // Unknown before the topic exists; the first keyed produce auto-creates it.
      expect(bus.partitionCount(topic)).toBeUndefined();
      await bus.produce(topic, [{ key: "seed", value: "0" }]);
      const deadline = Date.now() + 20_000;
      let n = bus.partitionCount(topic);
      while (n === undefined && Date.now() < deadline) {
        await bus.refreshPartitions();
        await new Promise((r) => setTimeout(r, 200));
        n = bus.partitionCount(topic);
      }
      expect(n).toBeGreaterThan(1);
      const partitions = n as number;
      // Keyed messages land where partitionFor says, explicit partitions override the key.
      const keys = Array.from({ length: 40 }, (_, i) => `principal-${i}`);
      const other = (k: string) => (partitionFor(k, partitions) + 1) % partitions;
      await bus.produce(topic, [
        ...keys.map((key) => ({ key, value: `keyed:${key}` })),
        ...keys.map((key) => ({ key, value: `placed:${key}`, partition: other(key) })),
      ]);
      const got: ConsumedMessage[] = [];
      await new Promise<void>((resolve) => {
        void bus.consume({
          groupId: `${peer.prefix}-placed`,
          topics: [topic],
          handler: async (b) => {
            got.push(...b.messages);
            if (got.length >= 81) resolve();
          },
        });
      });
      for (const m of got) {
        if (m.value.startsWith("keyed:")) expect(m.partition).toBe(partitionFor(m.key, partitions));
        if (m.value.startsWith("placed:")) expect(m.partition).toBe(other(m.key));
      }
      expect(got.filter((m) => m.value.startsWith("placed:"))).toHaveLength(40);
    } finally {
      await bus.close();
    }
  }, 60_000);
});
