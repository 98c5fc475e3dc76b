/** Splitting a produce so no partition's record batch in one send exceeds what a broker accepts. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_PARTITION_SEND_BYTES, sendRounds } from "../src/send-rounds";

describe("sendRounds", () => {
  it("keeps an ordinary request in one send", () => {
    const msgs = Array.from({ length: 12 }, (_, i) => ({
      key: `k${i}`,
      value: "x".repeat(36_000),
      partition: i % 12,
    }));
    expect(sendRounds(msgs)).toEqual([msgs]);
  });

  it("spreads one partition's 10 MB over sends of at most ~900 KiB, in order", () => {
    const msgs = Array.from({ length: 40 }, (_, i) => ({
      key: "same",
      value: `${i}`.padEnd(256 * 1024),
      partition: 3,
    }));
    const rounds = sendRounds(msgs);
    expect(rounds.map((r) => r.length)).toEqual([...Array(13).fill(3), 1]);
    expect(rounds.flat()).toEqual(msgs);
  });

  it("property: every message once, per-partition order kept, no partition over the limit unless alone", () => {
    const msg = fc.record({
      key: fc.constantFrom("a", "b", "c"),
      value: fc.integer({ min: 0, max: 5000 }).map((n) => "v".repeat(n)),
      partition: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 200 }), fc.integer({ min: 1000, max: 20_000 }), (msgs, max) => {
        const tagged = msgs.map((m, i) => ({ ...m, i }));
        const rounds = sendRounds(tagged, max);
        expect(
          rounds
            .flat()
            .map((m) => m.i)
            .sort((x, y) => x - y),
        ).toEqual(tagged.map((m) => m.i));
        const order = new Map<string, number>();
        for (const m of rounds.flat()) {
          const p = String(m.partition ?? -1);
          expect(m.i).toBeGreaterThan(order.get(p) ?? -1);
          order.set(p, m.i);
        }
        for (const r of rounds) {
          expect(r.length).toBeGreaterThan(0);
          const per = new Map<number, { bytes: number; n: number }>();
          for (const m of r) {
            const e = per.get(m.partition ?? -1) ?? { bytes: 0, n: 0 };
            e.bytes += m.value.length + m.key.length + 32;
            e.n++;
            per.set(m.partition ?? -1, e);
          }
          for (const e of per.values()) if (e.n > 1) expect(e.bytes).toBeLessThanOrEqual(max);
        }
      }),
      { numRuns: 300 },
    );
    expect(MAX_PARTITION_SEND_BYTES).toBeLessThan(1048588);
  });
});
