/**
 * The events write path: rows sent positionally (JSONCompactEachRow with a column list) are stored exactly
 * as the object form (JSONEachRow) of the same event, Map, Array, DateTime64 and UInt64 columns included.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ev } from "../src/cases";
import { EVENT_COLUMNS, eventRow, eventValues, insertEvents, insertWithRetry } from "../src/writer";

let store: StoreClient;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "identrail-writer-"));
  store = await createStoreClient({ dataDir: dir });
  await migrate(store.ch);
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("stores the compact rows exactly like the object rows", async () => {
  const base = ev({
    who: "system:serviceaccount:ml:trainer",
    time: "2026-11-02T03:04:05.678Z",
    uri: "k8s:prod/secrets/ml/hf-token",
  });
  const e = {
    ...base,
    actor: { ...base.actor, groups: ["system:serviceaccounts", 'q"uote\\'], credential_id: "JTI=abc" },
    attrs: { pod_name: "trainer-0", "odd key": "ü\n\u0000" },
    bytes_out: 2 ** 40,
  };
  expect(eventValues(e)).toHaveLength(EVENT_COLUMNS.length);
  await insertEvents(store.ch, [eventValues(e)]);
  const copy = { ...e, id: `${e.id}-obj` };
  await insertWithRetry(store.ch, "events", [eventRow(copy)]);
  const rs = await store.ch.query({
    query: "SELECT * EXCEPT id FROM events WHERE id IN {ids:Array(String)} ORDER BY id",
    query_params: { ids: [e.id, copy.id] },
    format: "JSONEachRow",
  });
  const [compact, object] = (await rs.json()) as Record<string, unknown>[];
  expect(compact).toEqual(object);
  expect(compact.attrs).toEqual({ pod_name: "trainer-0", "odd key": "ü\n\u0000" });
  expect(compact.groups).toEqual(["system:serviceaccounts", 'q"uote\\']);
  expect(String(compact.time)).toBe("2026-11-02 03:04:05.678");
  expect(Number(compact.bytes_out)).toBe(2 ** 40);
});
