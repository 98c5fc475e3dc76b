/**
 * API behaviour against an embedded ClickHouse (chDB) seeded directly: alert filters and actions,
 * pagination stability, identities, events, suppressions, rules, dead letters, tokens and audit.
 */
import { rmSync } from "node:fs";
import { activeSuppressions } from "@identrail/api";
import { LocalBus } from "@identrail/bus";
import type { Config } from "@identrail/config";
import type { StoreClient } from "@identrail/store";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apiApp,
  apiConfig,
  bearer,
  openStore,
  seedAlerts,
  seedEvents,
  seedIdentities,
  TOKENS,
} from "./helpers";

let config: Config;
let store: StoreClient;
let app: FastifyInstance;
let bus: LocalBus;
const H = bearer(TOKENS.all);

const base = Date.parse("2026-11-20T10:00:00.000Z");
const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();

beforeAll(async () => {
  config = apiConfig();
  store = await openStore(config);
  bus = new LocalBus(`${config.data_dir}/bus`);
  app = await apiApp(config, store.ch, { bus });
  // 25 alerts; a few share last_seen to exercise the (last_seen, id) tie-break.
  await seedAlerts(
    store.ch,
    Array.from({ length: 25 }, (_, i) => ({
      id: `alert-${String(i).padStart(2, "0")}`,
      last_seen: at(Math.floor(i / 3)),
      severity: i % 5 === 0 ? "critical" : "high",
      labels: { namespace: i % 2 ? "ml" : "data", environment: i % 2 ? "prod" : "dev" },
      identity: i === 24 ? "k8s-sa:prod:ml:trainer" : "aws-role:123456789012:etl",
      title: i === 7 ? "Checkpoint copied to example.com" : undefined,
    })),
  );
  await seedIdentities(store.ch, [
    {
      id: "k8s-sa:prod:ml:trainer",
      owner: "ml-team@example.com",
      first_seen: at(-100000),
      last_seen: at(30),
      aliases: ["raw:system:serviceaccount:ml:trainer"],
    },
    {
      id: "aws-role:123456789012:etl",
      first_seen: at(-200000),
      last_seen: at(-90000),
      expires_at: "2025-01-01T00:00:00Z",
    },
  ]);
  await seedEvents(
    store.ch,
    Array.from({ length: 12 }, (_, i) => ({
      id: `ev-${String(i).padStart(2, "0")}`,
      time: at(i),
      resource: i % 2 ? "s3://models/ckpt/a.bin" : "k8s://prod/ml/secrets/db",
    })),
  );
  await store.ch.insert({
    table: "alert_evidence",
    format: "JSONEachRow",
    values: [{ alert_id: "alert-24", event_id: "ev-03", time: at(3).replace("T", " ").replace("Z", "") }],
  });
});

afterAll(async () => {
  await app?.close();
  await bus?.close();
  await store?.close();
  rmSync(config.data_dir, { recursive: true, force: true });
});

async function get(url: string, headers = H) {
  const r = await app.inject({ method: "GET", url, headers });
  return { status: r.statusCode, body: r.json() as any };
}
async function send(method: "POST" | "PATCH" | "DELETE", url: string, payload?: unknown, headers = H) {
  const r = await app.inject({ method, url, headers, payload: payload as any });
  return { status: r.statusCode, body: r.body ? (r.json() as any) : undefined };
}

describe("alerts", () => {
  it("keeps the issue-2 response fields", async () => {
    const { status, body } = await get("/api/v1/alerts?page_size=1");
    expect(status).toBe(200);
    expect(Object.keys(body.items[0]).sort()).toEqual(
      [
        "assignee",
        "class_uid",
        "count",
        "created_at",
        "description",
        "first_seen",
        "id",
        "identity",
        "labels",
        "last_seen",
        "mitre",
        "resource",
        "rule",
        "severity",
        "status",
        "title",
      ].sort(),
    );
  });

  it("pages through every alert exactly once in a stable order", async () => {
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const { status, body }: { status: number; body: any } = await get(
        `/api/v1/alerts?page_size=4${token ? `&page_token=${token}` : ""}`,
      );
      expect(status).toBe(200);
      seen.push(...body.items.map((a: any) => a.id));
      token = body.next_page_token;
    } while (token);
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    const all = (await get("/api/v1/alerts?page_size=100")).body.items.map((a: any) => a.id);
    expect(seen).toEqual(all);
  });

  it("keeps a cursor stable while new alerts arrive", async () => {
    const p1 = await get("/api/v1/alerts?page_size=10");
    await seedAlerts(store.ch, [
      {
        id: "alert-new",
        last_seen: at(100),
        labels: { namespace: "other", environment: "other" },
        identity: "k8s-sa:prod:other:x",
      },
    ]);
    const rest: string[] = [];
    let token: string | null = p1.body.next_page_token;
    while (token) {
      const page: { body: any } = await get(`/api/v1/alerts?page_size=10&page_token=${token}`);
      rest.push(...page.body.items.map((a: any) => a.id));
      token = page.body.next_page_token;
    }
    const ids = [...p1.body.items.map((a: any) => a.id), ...rest];
    expect(ids).toHaveLength(25);
    expect(ids).not.toContain("alert-new");
    expect((await get("/api/v1/alerts?page_size=1")).body.items[0].id).toBe("alert-new");
  });

  it("filters by severity, namespace, environment, text, identity alias and time", async () => {
    expect(
      (await get("/api/v1/alerts?severity=critical&page_size=100")).body.items.map((a: any) => a.id).sort(),
    ).toEqual(["alert-00", "alert-05", "alert-10", "alert-15", "alert-20"]);
    const ns = (await get("/api/v1/alerts?namespace=ml&environment=prod&page_size=100")).body.items;
    expect(ns).toHaveLength(12);
    expect(ns.every((a: any) => a.labels.namespace === "ml")).toBe(true);
    expect((await get("/api/v1/alerts?q=EXAMPLE.COM")).body.items.map((a: any) => a.id)).toEqual([
      "alert-07",
    ]);
    const byAlias = await get(
      `/api/v1/alerts?identity=${encodeURIComponent("system:serviceaccount:ml:trainer")}`,
    );
    expect(byAlias.body.items.map((a: any) => a.id)).toEqual(["alert-24"]);
    const ranged = await get(`/api/v1/alerts?since=${at(7)}&until=${at(8)}&page_size=100`);
    expect(ranged.body.items.map((a: any) => a.id).sort()).toEqual([
      "alert-21",
      "alert-22",
      "alert-23",
      "alert-24",
    ]);
  });

  it("refuses bad filters with stable codes", async () => {
    expect((await get("/api/v1/alerts?severity=urgent")).body.error.code).toBe("bad_request");
    expect((await get("/api/v1/alerts?page_size=100000")).status).toBe(400);
    expect((await get("/api/v1/alerts?page_token=bm90LWpzb24")).body.error.code).toBe("bad_request");
    expect((await get("/api/v1/alerts?since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z")).status).toBe(
      400,
    );
    expect((await get("/api/v1/alerts/nope")).status).toBe(404);
  });

  it("records ack, assign, comment, resolve and reopen with who and when", async () => {
    const id = "alert-24";
    expect((await send("POST", `/api/v1/alerts/${id}/ack`, {})).body.status).toBe("acknowledged");
    expect(
      (await send("POST", `/api/v1/alerts/${id}/assign`, { assignee: "sam@example.com" })).body.assignee,
    ).toBe("sam@example.com");
    expect(
      (await send("POST", `/api/v1/alerts/${id}/comments`, { comment: "looking into the trainer job" }))
        .status,
    ).toBe(201);
    expect(
      (await send("POST", `/api/v1/alerts/${id}/resolve`, { comment: "expected rotation" })).body.status,
    ).toBe("resolved");
    expect((await get("/api/v1/alerts?status=resolved")).body.items.map((a: any) => a.id)).toEqual([id]);
    expect((await send("POST", `/api/v1/alerts/${id}/reopen`)).body.status).toBe("open");

    const one = await get(`/api/v1/alerts/${id}`);
    expect(one.body.status).toBe("open");
    expect(one.body.assignee).toBe("sam@example.com");
    expect(one.body.evidence.map((e: any) => e.id)).toEqual(["ev-03"]);
    expect(one.body.identity_summary).toMatchObject({
      id: "k8s-sa:prod:ml:trainer",
      owner: "ml-team@example.com",
    });
    expect(one.body.history.map((h: any) => [h.action, h.from_status, h.to_status])).toEqual([
      ["ack", "open", "acknowledged"],
      ["assign", "acknowledged", "acknowledged"],
      ["comment", "acknowledged", "acknowledged"],
      ["resolve", "acknowledged", "resolved"],
      ["reopen", "resolved", "open"],
    ]);
    expect(one.body.history.every((h: any) => h.actor === "analyst" && !Number.isNaN(Date.parse(h.at)))).toBe(
      true,
    );
    expect((await send("POST", "/api/v1/alerts/missing/ack", {})).status).toBe(404);
    expect((await send("POST", `/api/v1/alerts/${id}/comments`, { comment: "" })).status).toBe(400);
  });
});

describe("identities and events", () => {
  it("lists the inventory with flags, aliases and open alerts", async () => {
    const { body } = await get("/api/v1/identities");
    const byId = Object.fromEntries(body.items.map((i: any) => [i.id, i]));
    expect(byId["k8s-sa:prod:ml:trainer"]).toMatchObject({
      owner: "ml-team@example.com",
      ownerless: false,
      expired: false,
      aliases: ["system:serviceaccount:ml:trainer"],
    });
    expect(byId["aws-role:123456789012:etl"]).toMatchObject({
      ownerless: true,
      expired: true,
      dormant: true,
      open_alerts: 24,
    });
    expect((await get("/api/v1/identities?ownerless=true")).body.items.map((i: any) => i.id)).toEqual([
      "aws-role:123456789012:etl",
    ]);
    const p1 = await get("/api/v1/identities?page_size=1");
    const p2 = await get(`/api/v1/identities?page_size=1&page_token=${p1.body.next_page_token}`);
    expect([p1.body.items[0].id, p2.body.items[0].id]).toEqual([
      "aws-role:123456789012:etl",
      "k8s-sa:prod:ml:trainer",
    ]);
    expect(p2.body.next_page_token).toBeNull();
  });

  it("filters the timeline by source and resource", async () => {
    const url = `/api/v1/identities/${encodeURIComponent("k8s-sa:prod:ml:trainer")}/timeline?from=${at(-10)}&to=${at(60)}`;
    expect((await get(url)).body.items).toHaveLength(12);
    const s3 = await get(`${url}&resource=${encodeURIComponent("s3://models/ckpt/a.bin")}`);
    expect(s3.body.items.map((e: any) => e.id)).toEqual([
      "ev-11",
      "ev-09",
      "ev-07",
      "ev-05",
      "ev-03",
      "ev-01",
    ]);
    expect((await get(`${url}&source=vault`)).body.items).toHaveLength(0);
  });

  it("searches events with field filters and pagination", async () => {
    const q = `/api/v1/events?from=${at(-10)}&to=${at(60)}`;
    const first = await get(`${q}&page_size=5&resource_prefix=${encodeURIComponent("k8s://prod/ml/")}`);
    expect(first.body.items.map((e: any) => e.id)).toEqual(["ev-10", "ev-08", "ev-06", "ev-04", "ev-02"]);
    const second = await get(
      `${q}&page_size=5&resource_prefix=${encodeURIComponent("k8s://prod/ml/")}&page_token=${first.body.next_page_token}`,
    );
    expect(second.body.items.map((e: any) => e.id)).toEqual(["ev-00"]);
    expect(
      (await get(`${q}&principal=${encodeURIComponent("system:serviceaccount:ml:trainer")}&outcome=success`))
        .body.items,
    ).toHaveLength(12);
    expect((await get(`/api/v1/events?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`)).status).toBe(400);
  });
});

describe("suppressions, rules, dead letters", () => {
  it("creates, lists, expires and deletes suppressions; the detector can poll the active ones", async () => {
    const created = await send("POST", "/api/v1/suppressions", {
      rule: "secret-read-unusual",
      identity: "k8s-sa:prod:ml:*",
      reason: "rotation job",
    });
    expect(created.status).toBe(201);
    const other = await send("POST", "/api/v1/suppressions", { namespace: "sandbox", reason: "lab" });
    expect((await get("/api/v1/suppressions")).body.items.map((s: any) => s.id).sort()).toEqual(
      [created.body.id, other.body.id].sort(),
    );
    expect((await activeSuppressions(store.ch)).map((s) => s.id).sort()).toEqual(
      [created.body.id, other.body.id].sort(),
    );
    expect((await send("POST", `/api/v1/suppressions/${created.body.id}/expire`)).body.active).toBe(false);
    expect((await send("DELETE", `/api/v1/suppressions/${other.body.id}`)).status).toBe(204);
    expect((await get("/api/v1/suppressions")).body.items).toHaveLength(0);
    expect((await get("/api/v1/suppressions?all=true")).body.items).toHaveLength(2);
    expect(await activeSuppressions(store.ch)).toHaveLength(0);
    expect((await send("POST", "/api/v1/suppressions", { reason: "matches everything" })).status).toBe(400);
  });

  it("lists the rule catalog and stores overrides", async () => {
    const list = await get("/api/v1/rules");
    expect(list.body.items.map((r: any) => r.id)).toContain("secret-read-unusual");
    const patched = await send("PATCH", "/api/v1/rules/secret-read-unusual", {
      enabled: false,
      severity: "critical",
    });
    expect(patched.body).toMatchObject({ enabled: false, severity: "critical" });
    const cleared = await send("PATCH", "/api/v1/rules/secret-read-unusual", { severity: null });
    expect(cleared.body).toMatchObject({ enabled: false, severity: cleared.body.default_severity });
    expect((await send("PATCH", "/api/v1/rules/no-such-rule", { enabled: true })).status).toBe(404);
  });

  it("lists, inspects and replays dead letters onto the raw topic", async () => {
    const t = new Date().toISOString().replace("T", " ").replace("Z", "");
    await store.ch.insert({
      table: "dead_letters",
      format: "JSONEachRow",
      values: [
        {
          id: "dl-1",
          time: t,
          stage: "normalizer",
          source: "k8s-audit",
          reason: "missing field user",
          payload: JSON.stringify({ kind: "Event", auditID: "a-1" }),
          replayed_at: null,
        },
        {
          id: "dl-2",
          time: t,
          stage: "normalizer",
          source: "unknown",
          reason: "envelope is not JSON",
          payload: "",
          replayed_at: null,
        },
      ],
    });
    const list = await get("/api/v1/dead-letters");
    expect(list.body.items.map((d: any) => d.id).sort()).toEqual(["dl-1", "dl-2"]);
    expect(list.body.items[0].payload).toBeUndefined();
    expect((await get("/api/v1/dead-letters/dl-1")).body).toMatchObject({
      reason: "missing field user",
      payload: expect.stringContaining("a-1"),
    });

    const received: string[] = [];
    const consumer = await bus.consume({
      groupId: "test-replay",
      topics: ["identrail.raw.k8s-audit"],
      handler: async (b) => void received.push(...b.messages.map((m) => m.value)),
    });
    const replay = await send("POST", "/api/v1/dead-letters/dl-1/replay");
    expect(replay.status).toBe(202);
    expect(replay.body.replayed_at).not.toBeNull();
    for (let i = 0; i < 100 && !received.length; i++) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    expect(JSON.parse(received[0])).toMatchObject({ v: 1, source: "k8s-audit", record: { auditID: "a-1" } });
    expect((await get("/api/v1/dead-letters?replayed=true")).body.items.map((d: any) => d.id)).toEqual([
      "dl-1",
    ]);
    expect((await send("POST", "/api/v1/dead-letters/dl-2/replay")).body.error.code).toBe("conflict");
  });
});

describe("tokens and audit", () => {
  it("issues hashed tokens that work until revoked", async () => {
    const created = await send("POST", "/api/v1/tokens", { name: "soc-bot", scopes: ["read"] });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    expect((await get("/api/v1/alerts?page_size=1", bearer(token))).status).toBe(200);
    expect((await send("POST", "/api/v1/alerts/alert-01/ack", {}, bearer(token))).status).toBe(403);
    const stored = await store.ch.query({
      query: "SELECT sha256 FROM api_tokens FINAL WHERE id = {id:String}",
      query_params: { id: created.body.id },
      format: "JSONEachRow",
    });
    const [row] = (await stored.json()) as { sha256: string }[];
    expect(row.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(row.sha256).not.toContain(token);
    const listed = await get("/api/v1/tokens");
    expect(JSON.stringify(listed.body)).not.toContain(token);
    expect((await send("DELETE", `/api/v1/tokens/${created.body.id}`)).body.revoked_at).not.toBeNull();
    expect((await get("/api/v1/alerts?page_size=1", bearer(token))).status).toBe(401);
  });

  it("audits every API request with who, route, params, status and rows", async () => {
    await get("/api/v1/alerts?severity=critical&page_size=3", bearer(TOKENS.read));
    await get("/api/v1/alerts", bearer("not-a-token-at-all-000000"));
    const { body } = await get(`/api/v1/audit?actor=reader&route=${encodeURIComponent("/api/v1/alerts")}`);
    const row = body.items.find((r: any) => r.params.includes("critical"));
    expect(row).toMatchObject({ actor: "reader", method: "GET", status: 200, rows: 3 });
    expect(JSON.parse(row.params)).toEqual({ query: { severity: "critical", page_size: "3" } });
    const denied = await get("/api/v1/audit?status=401");
    expect(denied.body.items.some((r: any) => r.actor === "" && r.route === "/api/v1/alerts")).toBe(true);
  });
});
