/**
 * The identity timeline merges two tables (events, identity_events) newest first and pages through
 * both with one cursor; pages are kept for at most one second.
 */
import { rmSync } from "node:fs";
import type { Config } from "@identrail/config";
import type { StoreClient } from "@identrail/store";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiApp, apiConfig, bearer, openStore, seedEvents, seedIdentities, TOKENS } from "./helpers";

let config: Config;
let store: StoreClient;
let app: FastifyInstance;
const ID = "k8s-sa:prod:ml:merger";
const base = Date.parse("2026-11-20T10:00:00.000Z");
const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
const chTime = (iso: string) => iso.replace("T", " ").replace("Z", "");
const url = `/api/v1/identities/${encodeURIComponent(ID)}/timeline?from=${at(-60)}&to=${at(60)}`;

async function get(u: string) {
  const r = await app.inject({ url: u, headers: bearer(TOKENS.read) });
  expect(r.statusCode, u).toBe(200);
  return r.json();
}

async function identityEvents(list: { id: string; time: string; kind?: string; bytes?: number }[]) {
  await store.ch.insert({
    table: "identity_events",
    format: "JSONEachRow",
    values: list.map((e) => ({
      id: e.id,
      identity_id: ID,
      kind: e.kind ?? "secret_read",
      time: chTime(e.time),
      event_id: `ev-of-${e.id}`,
      source: "k8s-audit",
      resource_uri: "k8s://prod/ml/secrets/db",
      resource_kind: "secret",
      bytes: e.bytes ?? 0,
      attrs: { why: "test" },
    })),
  });
}

beforeAll(async () => {
  config = apiConfig();
  store = await openStore(config);
  app = await apiApp(config, store.ch);
  await seedIdentities(store.ch, [{ id: ID, first_seen: at(-60), last_seen: at(60) }]);
  // Events at even minutes, identity events at odd minutes, and one tie at minute 4 (ids decide).
  await seedEvents(
    store.ch,
    [0, 2, 4, 6, 8].map((m) => ({ id: `ev-${m}`, time: at(m), identity: ID })),
  );
  await identityEvents([
    ...[1, 3, 5, 7].map((m) => ({ id: `ie-${m}`, time: at(m), bytes: m })),
    { id: "ie-4", time: at(4), kind: "artifact_transfer" },
  ]);
});

afterAll(async () => {
  await app.close();
  await store.close();
  rmSync(config.data_dir, { recursive: true, force: true });
});

describe("identity timeline", () => {
  it("merges events and identity events newest first, with every field on every row", async () => {
    const body = await get(url);
    expect(body.identity).toBe(ID);
    expect(body.items.map((i: { id: string }) => i.id)).toEqual([
      "ev-8",
      "ie-7",
      "ev-6",
      "ie-5",
      "ie-4",
      "ev-4",
      "ie-3",
      "ev-2",
      "ie-1",
      "ev-0",
    ]);
    expect(body.next_page_token).toBeNull();
    expect(body.items[1]).toEqual({
      type: "identity_event",
      id: "ie-7",
      time: at(7),
      source: "k8s-audit",
      operation: "",
      verb: "",
      resource_uri: "k8s://prod/ml/secrets/db",
      resource_type: "secret",
      outcome: "",
      status_code: 0,
      principal: "",
      src_ip: "",
      user_agent: "",
      kind: "secret_read",
      event_id: "ev-of-ie-7",
      bytes: 7,
      attrs: { why: "test" },
    });
    expect(body.items[0]).toMatchObject({
      type: "event",
      kind: "",
      event_id: "",
      status_code: 200,
      bytes: 0,
    });
  });

  it("pages through both tables with one cursor, each row once", async () => {
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const body = await get(`${url}&page_size=3${token ? `&page_token=${token}` : ""}`);
      expect(body.items.length).toBeLessThanOrEqual(3);
      seen.push(...body.items.map((i: { id: string }) => i.id));
      token = body.next_page_token;
    } while (token);
    expect(seen).toEqual(["ev-8", "ie-7", "ev-6", "ie-5", "ie-4", "ev-4", "ie-3", "ev-2", "ie-1", "ev-0"]);
  });

  it("with a kind filter reads identity events only", async () => {
    const body = await get(`${url}&kind=artifact_transfer`);
    expect(body.items.map((i: { id: string }) => i.id)).toEqual(["ie-4"]);
  });

  it("serves a page for at most one second after it was read", async () => {
    const u = `${url}&page_size=2`;
    expect((await get(u)).items[0].id).toBe("ev-8");
    await seedEvents(store.ch, [{ id: "ev-9", time: at(9), identity: ID }]);
    // Within the second the cached page may still be served; after it the new row shows.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get(u)).items[0].id).toBe("ev-9");
  });
});
