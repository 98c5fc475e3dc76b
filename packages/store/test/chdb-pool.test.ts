import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createStoreClient } from "../src";

describe("embedded store: several chDB connections on one data directory", () => {
  it("runs statements side by side and every connection sees every write", async () => {
    let conn: unknown;
    const store = await createStoreClient({
      dataDir: mkdtempSync(join(tmpdir(), "identrail-pool-")),
      connections: 3,
      wrapConnection: (c) => {
        conn = c;
        return c;
      },
    });
    // chDB's own extension stays reachable through the pool (the write benchmark's reference uses it).
    expect(typeof (conn as { chdb: { rawInsert: unknown } }).chdb.rawInsert).toBe("function");
    try {
      // Three 300 ms statements at once: on one connection libchdb runs them one after another (≥ 900 ms);
      // spread over three they overlap. The bound leaves wide room for a slow machine either way.
      const sleep = () =>
        store.ch.query({ query: "SELECT sleep(0.3) AS s", format: "JSONEachRow" }).then((r) => r.json());
      await sleep();
      const t0 = performance.now();
      await Promise.all([sleep(), sleep(), sleep()]);
      expect(performance.now() - t0).toBeLessThan(750);

      await store.ch.command({
        query: "CREATE TABLE IF NOT EXISTS pool_t (n UInt32) ENGINE = MergeTree ORDER BY n",
      });
      // Concurrent inserts land on different connections; counts read back through any of them agree.
      await Promise.all(
        [0, 1, 2].map((i) =>
          store.ch.insert({
            table: "pool_t",
            values: Array.from({ length: 100 }, (_, j) => ({ n: i * 100 + j })),
            format: "JSONEachRow",
          }),
        ),
      );
      const counts = await Promise.all(
        [0, 1, 2].map(async () => {
          const rs = await store.ch.query({
            query: "SELECT count() AS c FROM pool_t",
            format: "JSONEachRow",
          });
          return Number(((await rs.json()) as { c: string }[])[0].c);
        }),
      );
      expect(counts).toEqual([300, 300, 300]);
    } finally {
      await store.close();
    }
  });
});
