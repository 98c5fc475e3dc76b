import { Partitioners } from "kafkajs";
import { describe, expect, it } from "vitest";
import { javaCompatiblePartitioner, murmur2 } from "../src/partitioner";

const meta = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    partitionId: i,
    leader: i % 3,
    partitionErrorCode: 0,
    replicas: [],
    isr: [],
  }));

describe("javaCompatiblePartitioner", () => {
  it("computes Kafka's murmur2 (vectors from the Java client's UtilsTest)", () => {
    const cases: [string, number][] = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107],
    ];
    for (const [s, want] of cases) expect(murmur2(Buffer.from(s))).toBe(want);
  });

  it("puts every key on the partition kafkajs' DefaultPartitioner picks", () => {
    const ours = javaCompatiblePartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys = ["", "a", "ab", "abc", "abcd", "système:ü€🙂", "system:serviceaccount:ml:trainer-7"];
    for (let i = 0; i < 2000; i++) keys.push(`user-${i}@example.com`, `arn:aws:iam::1234:role/r${i * 7}`);
    for (const n of [1, 3, 12, 50])
      for (const key of keys) {
        const args = { topic: "t", partitionMetadata: meta(n), message: { key, value: "v" } };
        // Twice: the second answer comes from the cache.
        expect(ours(args)).toBe(theirs(args));
        expect(ours(args)).toBe(theirs(args));
        const buf = { ...args, message: { key: Buffer.from(key), value: "v" } };
        expect(ours(buf)).toBe(theirs(buf));
      }
  });

  it("keeps an explicit partition", () => {
    const p = javaCompatiblePartitioner();
    expect(
      p({ topic: "t", partitionMetadata: meta(12), message: { key: "x", value: "v", partition: 5 } }),
    ).toBe(5);
  });
});
