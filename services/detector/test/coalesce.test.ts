import type { Batch } from "@identrail/bus";
import { describe, expect, it } from "vitest";
import { coalesce } from "../src/coalesce";

const batch = (partition: number, n: number): Batch => ({
  topic: "identrail.events",
  partition,
  messages: Array.from({ length: n }, (_, i) => ({
    topic: "identrail.events",
    partition,
    offset: String(i),
    key: "k",
    value: "{}",
  })),
});

describe("coalesce (group commit of concurrent partition batches)", () => {
  it("runs batches handed over together as one round, and never two rounds at once", async () => {
    const rounds: number[][] = [];
    let active = 0;
    let overlapped = false;
    const handle = coalesce(async (bs) => {
      if (++active > 1) overlapped = true;
      rounds.push(bs.map((b) => b.partition));
      await new Promise((r) => setTimeout(r, 5));
      active--;
    }, 2000);
    await Promise.all([handle(batch(0, 10)), handle(batch(1, 10)), handle(batch(2, 10))]);
    // Arrives while the first round may be running: processed in a later round, not concurrently.
    const late = [handle(batch(3, 10)), handle(batch(4, 10))];
    await Promise.all(late);
    expect(rounds[0]).toEqual([0, 1, 2]);
    expect(rounds.flat().sort()).toEqual([0, 1, 2, 3, 4]);
    expect(overlapped).toBe(false);
  });

  it("keeps a round within maxMessages (whole batches; one oversized batch still runs alone)", async () => {
    const sizes: number[] = [];
    const handle = coalesce(async (bs) => {
      sizes.push(bs.reduce((n, b) => n + b.messages.length, 0));
    }, 100);
    await Promise.all([
      handle(batch(0, 60)),
      handle(batch(1, 60)),
      handle(batch(2, 30)),
      handle(batch(3, 250)),
    ]);
    expect(sizes).toEqual([60, 90, 250]);
  });

  it("rejects every caller of a failed round (so none commits) and goes on with the next round", async () => {
    let calls = 0;
    const handle = coalesce(async (bs) => {
      calls++;
      if (bs.some((b) => b.partition === 1)) throw new Error("insert failed");
    }, 2000);
    const first = await Promise.allSettled([handle(batch(0, 5)), handle(batch(1, 5))]);
    expect(first.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    await expect(handle(batch(2, 5))).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});
