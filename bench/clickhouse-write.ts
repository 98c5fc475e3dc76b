/**
 * ClickHouse write path, rows/s: the detector's events writer (insertEvents → @clickhouse/client
 * JSONCompactEachRow over the embedded chDB connection, rows built by eventValues) against handing the same
 * rows' NDJSON (eventRow objects) straight to chDB (the connection's raw passthrough insert). Batches of 2,000
 * rows (the detector's batch size). Row building is outside the timed part on both sides.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventRow, eventValues, insertEvents } from "@identrail/detector";
import { type ChdbConnection, createStoreClient, migrate } from "@identrail/store";
import { normalizedEvents } from "./events";
import { figure, log, RUNS, SMALL, writeResult } from "./lib";

const N = SMALL ? 10_000 : 60_000;
const BATCH = 2000;

interface RawConn {
  chdb: {
    rawInsert(p: {
      table: string;
      values: string;
      format: string;
      settings?: Record<string, string>;
    }): Promise<unknown>;
  };
}

async function main() {
  let raw: RawConn | undefined;
  const store = await createStoreClient({
    dataDir: mkdtempSync(join(tmpdir(), "identrail-bench-ch-")),
    wrapConnection: (c: ChdbConnection) => {
      raw = c as unknown as RawConn;
      return c;
    },
  });
  await migrate(store.ch);
  const events = normalizedEvents(N);
  const rows = events.map(eventValues);
  const batches: (typeof rows)[] = [];
  const ndjson: string[] = [];
  for (let i = 0; i < rows.length; i += BATCH) {
    batches.push(rows.slice(i, i + BATCH));
    ndjson.push(
      `${events
        .slice(i, i + BATCH)
        .map((e) => JSON.stringify(eventRow(e)))
        .join("\n")}\n`,
    );
  }
  const runs: number[] = [];
  const refs: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      await store.ch.command({ query: "TRUNCATE TABLE events" });
      let t0 = performance.now();
      for (const b of batches) await insertEvents(store.ch, b);
      runs.push(rows.length / ((performance.now() - t0) / 1000));
      await store.ch.command({ query: "TRUNCATE TABLE events" });
      t0 = performance.now();
      for (const b of ndjson)
        await raw!.chdb.rawInsert({
          table: "events",
          values: b,
          format: "JSONEachRow",
          settings: { date_time_input_format: "best_effort" },
        });
      refs.push(rows.length / ((performance.now() - t0) / 1000));
      log(`writer ${Math.round(runs[i])} rows/s, raw chDB ${Math.round(refs[i])} rows/s`);
    }
    const rs = await store.ch.query({ query: "SELECT count() AS n FROM events", format: "JSONEachRow" });
    const [c] = (await rs.json()) as { n: string }[];
    if (Number(c.n) !== rows.length) throw new Error(`raw insert stored ${c.n} of ${rows.length} rows`);
  } finally {
    await store.close();
  }
  writeResult({
    name: "clickhouse-write",
    title: "ClickHouse write path (embedded chDB)",
    figures: [
      figure(
        `detector writer, events table, batches of ${BATCH}`,
        "rows/s",
        runs,
        { what: "same rows' NDJSON straight into chDB", runs: refs },
        "≥ 0.7×",
      ),
    ],
    notes: [],
  });
}

await main();
