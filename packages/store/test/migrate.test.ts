import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createStoreClient, migrate, replicate, splitStatements } from "../src";

describe("migrations", () => {
  it("apply on embedded ClickHouse and are idempotent", async () => {
    const store = await createStoreClient({ dataDir: mkdtempSync(join(tmpdir(), "identrail-store-")) });
    try {
      const files = await migrate(store.ch);
      expect(files[0]).toBe("001_init.sql");
      await migrate(store.ch);
      const rs = await store.ch.query({
        query:
          "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)} ORDER BY name",
        query_params: {
          names: ["alerts", "alerts_with_status", "events", "identity_aliases", "dead_letters"],
        },
        format: "JSONEachRow",
      });
      expect(((await rs.json()) as { name: string }[]).map((r) => r.name)).toEqual([
        "alerts",
        "alerts_with_status",
        "dead_letters",
        "events",
        "identity_aliases",
      ]);
    } finally {
      await store.close();
    }
  });

  it("rewrites engines for a replicated cluster", () => {
    const [stmt] = splitStatements(
      "-- c\nCREATE TABLE IF NOT EXISTS alerts (id String, version UInt64) ENGINE = ReplacingMergeTree(version)\nORDER BY id;\n",
    );
    const r = replicate(stmt, "main");
    expect(r).toContain("CREATE TABLE IF NOT EXISTS alerts ON CLUSTER 'main'");
    expect(r).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)",
    );
    expect(replicate("CREATE TABLE IF NOT EXISTS e (a UInt8) ENGINE = MergeTree ORDER BY a", "c")).toContain(
      "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
    );
    expect(replicate("CREATE VIEW IF NOT EXISTS v AS SELECT 1", "c")).toBe(
      "CREATE VIEW IF NOT EXISTS v ON CLUSTER 'c' AS SELECT 1",
    );
  });
});
