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

describe("coalesce, two-phase rounds (prepare while the previous round writes)", () => {
  const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

  it("prepares the next round while the previous one writes, and writes rounds one at a time in order", async () => {
    const log: string[] = [];
    let writing = 0;
    let overlappedWrites = false;
    let releaseFirst!: () => void;
    const firstWrite = new Promise<void>((r) => {
      releaseFirst = r;
    });
    let round = 0;
    const handle = coalesce(async (bs) => {
      const id = round++;
      log.push(`prepare ${id}:${bs.map((b) => b.partition).join(",")}`);
      return {
        async write() {
          if (++writing > 1) overlappedWrites = true;
          log.push(`write ${id}`);
          if (id === 0) await firstWrite;
          await tick();
          writing--;
        },
        abort() {
          log.push(`abort ${id}`);
        },
      };
    }, 10);
    const a = handle(batch(0, 10));
    await tick(30); // round 0 prepared, its write held open
    const b = handle(batch(1, 10));
    await tick(30); // round 1 prepared while round 0 still writes
    expect(log).toEqual(["prepare 0:0", "write 0", "prepare 1:1"]);
    releaseFirst();
    await Promise.all([a, b]);
    expect(log).toEqual(["prepare 0:0", "write 0", "prepare 1:1", "write 1"]);
    expect(overlappedWrites).toBe(false);
  });

  it("a failed write rejects its round, aborts the round prepared behind it and every queued batch; later batches run", async () => {
    const log: string[] = [];
    let round = 0;
    let releaseFirst!: () => void;
    const firstWrite = new Promise<void>((r) => {
      releaseFirst = r;
    });
    const handle = coalesce(
      async () => {
        const id = round++;
        log.push(`prepare ${id}`);
        return {
          async write() {
            log.push(`write ${id}`);
            if (id === 0) {
              await firstWrite;
              throw new Error("insert failed");
            }
          },
          abort() {
            log.push(`abort ${id}`);
          },
        };
      },
      10, // a round is one batch of 10
    );
    const first = handle(batch(0, 10));
    await tick(30);
    const second = handle(batch(1, 10)); // prepared while round 0 writes
    await tick(30);
    const third = handle(batch(2, 10)); // queued: round 2 waits for round 0's write before preparing
    await tick(30);
    releaseFirst();
    const settled = await Promise.allSettled([first, second, third]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(log).toEqual(["prepare 0", "write 0", "prepare 1", "abort 1"]);
    // Batches handed over after the failure (the redelivery) are processed normally.
    await expect(handle(batch(0, 10))).resolves.toBeUndefined();
    expect(log.slice(4)).toEqual(["prepare 2", "write 2"]);
  });

  it("bounds a round by characters as well as messages", async () => {
    const sizes: number[] = [];
    const handle = coalesce(
      async (bs) => {
        sizes.push(bs.length);
      },
      1000,
      10,
      50, // characters: each batch below carries 10 messages of "{}" = 20 characters
    );
    await Promise.all([0, 1, 2, 3, 4].map((p) => handle(batch(p, 10))));
    // 2 batches (40 characters) fit; a third would make 60.
    expect(sizes).toEqual([2, 2, 1]);
  });
});
