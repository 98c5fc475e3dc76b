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

/** Consumes `topic` in a new group until at least `n` messages arrived; the consumer stops with the bus. */
function consumeAtLeast(
  bus: KafkaBus,
  groupId: string,
  topic: string,
  n: number,
): Promise<ConsumedMessage[]> {
  const got: ConsumedMessage[] = [];
  return new Promise((resolve) => {
    void bus.consume({
      groupId,
      topics: [topic],
      handler: async (b) => {
        got.push(...b.messages);
        if (got.length >= n) resolve(got);
      },
    });
  });
}

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
      // Unknown before the topic exists; the first keyed produce auto-creates it, and its answer carries
      // the count kafkajs placed the message with: known at once, with no metadata refresh in between.
      const asked = new KafkaBus({ brokers: peer.brokers, clientId: "test-partitions-asked" });
      expect(asked.partitionCount(topic)).toBeUndefined();
      await asked.close();
      // This bus never looked the topic up: a count here can only come from its own send.
      await bus.produce(topic, [{ key: "seed", value: "0" }]);
      const n = bus.partitionCount(topic);
      expect(n).toBeGreaterThan(1);
      const partitions = n as number;
      // The cluster's metadata, read apart, agrees.
      await new Promise((r) => setTimeout(r, 1100)); // refreshes run at most once a second
      await bus.refreshPartitions();
      expect((bus as unknown as { partitions: Map<string, number> }).partitions.get(topic)).toBe(partitions);
      // Keyed messages land where partitionFor says, explicit partitions override the key.
      const keys = Array.from({ length: 40 }, (_, i) => `principal-${i}`);
      const other = (k: string) => (partitionFor(k, partitions) + 1) % partitions;
      await bus.produce(topic, [
        ...keys.map((key) => ({ key, value: `keyed:${key}` })),
        ...keys.map((key) => ({ key, value: `placed:${key}`, partition: other(key) })),
      ]);
      const got = await consumeAtLeast(bus, `${peer.prefix}-placed`, topic, 81);
      for (const m of got) {
        if (m.value.startsWith("keyed:")) expect(m.partition).toBe(partitionFor(m.key, partitions));
        if (m.value.startsWith("placed:")) expect(m.partition).toBe(other(m.key));
      }
      expect(got.filter((m) => m.value.startsWith("placed:"))).toHaveLength(40);
    } finally {
      await bus.close();
    }
  }, 60_000);

  it("sends a partition's 3 MB share in several requests, in order (Kafka refuses a batch over ~1 MiB)", async () => {
    const bus = new KafkaBus({ brokers: peer.brokers, clientId: "test-large" });
    const topic = `${peer.prefix}.large`;
    try {
      await bus.produce(topic, [{ key: "seed", value: "0", partition: 0 }]);
      const big = Array.from({ length: 12 }, (_, i) => ({
        key: "one-principal",
        value: `${i}:`.padEnd(256 * 1024, "x"),
        partition: 0,
      }));
      await bus.produce(topic, big);
      const got = await consumeAtLeast(bus, `${peer.prefix}-large`, topic, 13);
      expect(got.slice(1).map((m) => m.value.split(":")[0])).toEqual(big.map((_, i) => String(i)));
      expect(got.every((m) => m.partition === 0)).toBe(true);
    } finally {
      await bus.close();
    }
  }, 60_000);

  it("pipelined: hands later batches over before earlier ones finish, commits only what finished in order, and restarts from the last commit after a failure", async () => {
    const bus = new KafkaBus({ brokers: peer.brokers, clientId: "test-pipelined" });
    const topic = `${peer.prefix}.pipelined`;
    const groupId = `${peer.prefix}-pipelined`;
    const waitFor = async (cond: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error("timed out waiting");
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      // One key, so one partition; every produce call is one record batch (0–3, 4–7, … 16–19), and the
      // mock answers a fetch with one record batch per partition: five handler calls.
      for (let i = 0; i < 5; i++)
        await bus.produce(
          topic,
          Array.from({ length: 4 }, (_, j) => ({ key: "k", value: String(i * 4 + j) })),
        );
      const calls: { first: number; release: (ok: boolean) => void }[] = [];
      let failed = false;
      const handle = await bus.consume({
        groupId,
        topics: [topic],
        pipelined: true,
        handler: (b) => {
          const first = Number(b.messages[0].value);
          // After the failure every call succeeds at once.
          if (failed) {
            calls.push({ first, release: () => {} });
            return Promise.resolve();
          }
          return new Promise<void>((resolve, reject) => {
            calls.push({ first, release: (ok) => (ok ? resolve() : reject(new Error("write failed"))) });
          });
        },
      });
      // Three calls in flight at once on one partition, none finished: the consumer did not wait.
      await waitFor(() => calls.length >= 3);
      expect(calls.slice(0, 3).map((c) => c.first)).toEqual([0, 4, 8]);
      // The first finishes, the second fails, the ones after it finish: only 0–3 may be committed.
      failed = true;
      calls[0].release(true);
      calls[1].release(false);
      for (const c of calls.slice(2)) c.release(true);
      // A fresh consumer starts again after the last commit: 4–7 and everything after it come again.
      const again4 = () => calls.findLastIndex((c) => c.first === 4);
      await waitFor(() => calls.filter((c) => c.first === 4).length === 2);
      await waitFor(() => calls.slice(again4()).some((c) => c.first === 16));
      const redelivered = calls.slice(again4()).map((c) => c.first);
      expect(redelivered).toEqual([4, 8, 12, 16]);
      await handle.stop();

      // Everything finished the second time round was committed: a new member of the group gets only
      // what is produced after.
      await bus.produce(topic, [{ key: "k", value: "20" }]);
      const again: number[] = [];
      const h2 = await bus.consume({
        groupId,
        topics: [topic],
        pipelined: true,
        handler: async (b) => {
          again.push(...b.messages.map((m) => Number(m.value)));
        },
      });
      await waitFor(() => again.length > 0);
      expect(again).toEqual([20]);
      await h2.stop();
    } finally {
      await bus.close();
    }
  }, 60_000);
});
