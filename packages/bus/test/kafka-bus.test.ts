import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KafkaBus } from "../src/kafka-bus";
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
});
