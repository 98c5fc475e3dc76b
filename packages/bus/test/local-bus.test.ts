import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalBus } from "../src/local-bus";
import type { ConsumedMessage } from "../src/types";

const dir = () => mkdtempSync(join(tmpdir(), "identrail-bus-"));

async function drain(bus: LocalBus, groupId: string, topic: string, n: number, fail?: () => boolean) {
  const got: ConsumedMessage[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const h = await bus.consume({
    groupId,
    topics: [topic],
    maxBatch: 7,
    handler: async (b) => {
      if (fail?.()) throw new Error("injected");
      got.push(...b.messages);
      if (got.length >= n) resolve();
    },
  });
  await done;
  await h.stop();
  return got;
}

describe("LocalBus", () => {
  it("survives a reopen: produced messages persist and committed offsets are honoured", async () => {
    const d = dir();
    const a = new LocalBus(d);
    await a.produce(
      "t",
      Array.from({ length: 20 }, (_, i) => ({ key: "k", value: String(i) })),
    );
    const first = await drain(a, "g", "t", 20);
    expect(first.map((m) => m.value)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    await a.produce("t", [{ key: "k", value: "20" }]);
    await a.close();

    const b = new LocalBus(d);
    const rest = await drain(b, "g", "t", 1);
    expect(rest.map((m) => m.value)).toEqual(["20"]);
    // A new group reads from the start.
    const other = await drain(b, "other", "t", 21);
    expect(other).toHaveLength(21);
    await b.close();
  });

  it("redelivers a batch whose handler failed, and commits nothing for it", async () => {
    const bus = new LocalBus(dir());
    await bus.produce("t", [{ key: "k", value: "x" }]);
    let failures = 2;
    const got = await drain(bus, "g", "t", 1, () => failures-- > 0);
    expect(failures).toBeLessThan(0);
    expect(got.map((m) => m.value)).toEqual(["x"]);
    await bus.close();
  });

  it("refuses to produce after close", async () => {
    const bus = new LocalBus(dir());
    await bus.close();
    await expect(bus.produce("t", [{ key: "k", value: "x" }])).rejects.toThrow(/closed/);
  });
});
