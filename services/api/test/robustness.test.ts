/**
 * What a SOC analyst or a script hits at the edges of the read API: page sizes over the limit,
 * reversed ranges, damaged page tokens, ARNs and other aliases with '/' and ':' in the path, unknown
 * ids, HEAD/OPTIONS, filters that must survive pagination, and an OpenAPI document that lists every
 * route with its parameters and security.
 */
import { rmSync } from "node:fs";
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
const H = bearer(TOKENS.all);

const base = Date.parse("2026-11-20T10:00:00.000Z");
const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
const ARN = "arn:aws:sts::123456789012:assumed-role/Trainer/session-1";
const ID = "k8s-sa:prod:ml:trainer";
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

beforeAll(async () => {
  config = apiConfig({ api: { max_page_size: 50 } });
  store = await openStore(config);
  app = await apiApp(config, store.ch);
  await seedIdentities(store.ch, [
    {
      id: ID,
      first_seen: at(-1000),
      last_seen: at(30),
      aliases: ["raw:system:serviceaccount:ml:trainer", "aws-role:123456789012:Trainer", `raw:${ARN}`],
    },
  ]);
  await seedAlerts(store.ch, [
    ...Array.from({ length: 6 }, (_, i) => ({ id: `alert-${i}`, last_seen: at(i), identity: ID })),
    // Raised while the cloud role was still its own identity, before the service-account link
    // re-anchored it under ID.
    { id: "alert-pre-link", last_seen: at(-100), identity: "aws-role:123456789012:Trainer" },
  ]);
  // Two sources interleaved in time, so a filtered second page shows whether the filter held.
  await seedEvents(
    store.ch,
    Array.from({ length: 10 }, (_, i) => ({
      id: `ev-${String(i).padStart(2, "0")}`,
      time: at(i),
      source: i % 2 ? "vault" : "k8s-audit",
    })),
  );
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  if (config) rmSync(config.data_dir, { recursive: true, force: true });
});

async function get(url: string, headers: Record<string, string> = H) {
  const r = await app.inject({ method: "GET", url, headers });
  return { status: r.statusCode, body: r.json() as any };
}

const timeline = (id: string) => `/api/v1/identities/${encodeURIComponent(id)}/timeline`;

describe("page_size", () => {
  it("answers 400 naming the configured maximum instead of clamping", async () => {
    for (const url of [
      "/api/v1/alerts?page_size=51",
      "/api/v1/events?page_size=51",
      "/api/v1/identities?page_size=51",
      "/api/v1/notifications?page_size=51",
      "/api/v1/audit?page_size=51",
      "/api/v1/dead-letters?page_size=51",
      `${timeline(ID)}?page_size=51`,
      "/api/v1/alerts?page_size=100000",
    ]) {
      const { status, body } = await get(url);
      expect(status, url).toBe(400);
      expect(body.error.code).toBe("bad_request");
      expect(body.error.message).toContain("page_size: must be at most 50 (api.max_page_size)");
    }
    expect((await get("/api/v1/alerts?page_size=50")).status).toBe(200);
    expect((await get("/api/v1/alerts?page_size=0")).status).toBe(400);
    expect((await get("/api/v1/alerts?page_size=ten")).status).toBe(400);
  });
});

describe("time ranges", () => {
  it("refuses since after until and from after to", async () => {
    const alerts = await get(`/api/v1/alerts?since=${at(10)}&until=${at(0)}`);
    expect(alerts.status).toBe(400);
    expect(alerts.body.error.code).toBe("bad_request");
    expect(alerts.body.error.message).toContain("until is before since");
    for (const url of [
      `${timeline(ID)}?from=${at(10)}&to=${at(0)}`,
      `/api/v1/events?from=${at(10)}&to=${at(0)}`,
      `/api/v1/notifications?from=${at(10)}&to=${at(0)}`,
    ]) {
      const { status, body } = await get(url);
      expect(status, url).toBe(400);
      expect(body.error.message).toContain("to is before from");
    }
    expect((await get(`/api/v1/alerts?since=${at(0)}&until=${at(0)}`)).status).toBe(200);
    for (const bad of ["yesterday", "1", "2026-11-20", "2026-11-20T10:00:00", "2026-13-40T10:00:00Z"]) {
      const r = await get(`/api/v1/alerts?since=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error.message).toContain("since: must be an RFC 3339 timestamp");
    }
    const offset = await get(`/api/v1/alerts?since=${encodeURIComponent("2026-11-20T11:02:00+01:00")}`);
    expect(offset.body.items.map((a: any) => a.id).sort()).toEqual([
      "alert-2",
      "alert-3",
      "alert-4",
      "alert-5",
    ]);
  });
});

describe("page_token", () => {
  it("answers 400 for any damaged cursor, never 500/503", async () => {
    const bad = [
      "%%%",
      "bm90LWpzb24", // "not-json"
      b64({ a: 1 }),
      b64(["2026-11-20 10:00:00.000"]), // wrong arity
      b64(["not a time", "x"]), // right arity, garbage sort key
      b64(["2026-11-20 10:00:00.000", { id: 1 }]),
      "A".repeat(3000),
    ];
    for (const path of [
      "/api/v1/alerts",
      "/api/v1/events",
      "/api/v1/dead-letters",
      "/api/v1/audit",
      timeline(ID),
    ])
      for (const t of bad) {
        const { status, body } = await get(`${path}?page_token=${encodeURIComponent(t)}`);
        expect(status, `${path} ${t.slice(0, 20)}`).toBe(400);
        expect(body.error.code).toBe("bad_request");
      }
    // Notifications page on (at, outbox_id, attempt): the attempt must be a count.
    const n = await get(`/api/v1/notifications?page_token=${b64(["2026-11-20 10:00:00.000", "o-1", "x"])}`);
    expect(n.status).toBe(400);
    expect(
      (await get(`/api/v1/notifications?page_token=${b64(["2026-11-20 10:00:00.000", "o-1", 2])}`)).status,
    ).toBe(200);
  });
});

describe("identity lookup by alias", () => {
  it("resolves a URL-encoded assumed-role ARN (with '/' and '::') in the path", async () => {
    for (const input of [ARN, "arn:aws:sts::123456789012:assumed-role/Trainer/another-session"]) {
      const { status, body } = await get(`/api/v1/identities/${encodeURIComponent(input)}`);
      expect(status, input).toBe(200);
      expect(body.id).toBe(ID);
      expect(body.type).toBe("service_account");
      expect(body.aliases).toEqual(expect.arrayContaining([ARN, "aws-role:123456789012:Trainer"]));
    }
    const viaTimeline = await get(`${timeline(ARN)}?from=${at(-10)}&to=${at(60)}`);
    expect(viaTimeline.status).toBe(200);
    expect(viaTimeline.body.identity).toBe(ID);
    expect(viaTimeline.body.items).toHaveLength(10);
    const alerts = await get(`/api/v1/alerts?identity=${encodeURIComponent(ARN)}`);
    expect(alerts.body.items).toHaveLength(7);
  });

  it("names the current canonical identity on alerts raised before a re-anchoring link", async () => {
    const list = await get("/api/v1/alerts?page_size=50");
    expect(list.body.items.find((a: any) => a.id === "alert-pre-link").identity).toBe(ID);
    expect(new Set(list.body.items.map((a: any) => a.identity))).toEqual(new Set([ID]));
    const one = await get("/api/v1/alerts/alert-pre-link");
    expect(one.body.identity).toBe(ID);
    expect(one.body.identity_summary).toMatchObject({ id: ID, type: "service_account" });
  });

  it("answers 404 JSON for unknown identities and alerts", async () => {
    for (const url of [
      `/api/v1/identities/${encodeURIComponent("arn:aws:sts::123456789012:assumed-role/Nobody/s")}`,
      `${timeline("k8s-sa:prod:ml:nobody")}`,
      "/api/v1/alerts/no-such-alert",
      "/api/v1/alerts/no-such-alert/history",
    ]) {
      const r = await app.inject({ method: "GET", url, headers: H });
      expect(r.statusCode, url).toBe(404);
      expect(r.headers["content-type"]).toMatch(/^application\/json/);
      expect(r.json().error.code).toBe("not_found");
    }
  });
});

describe("pagination keeps filters", () => {
  it("applies source and resource filters on every timeline page", async () => {
    const url = `${timeline(ID)}?from=${at(-10)}&to=${at(60)}&source=vault&page_size=2`;
    const ids: string[] = [];
    let token: string | null = null;
    do {
      const { status, body }: { status: number; body: any } = await get(
        token ? `${url}&page_token=${token}` : url,
      );
      expect(status).toBe(200);
      expect(body.items.every((e: any) => e.source === "vault")).toBe(true);
      ids.push(...body.items.map((e: any) => e.id));
      token = body.next_page_token;
    } while (token);
    expect(ids).toEqual(["ev-09", "ev-07", "ev-05", "ev-03", "ev-01"]);
  });

  it("applies filters on every events page", async () => {
    const url = `/api/v1/events?from=${at(-10)}&to=${at(60)}&source=k8s-audit&page_size=3`;
    const first = await get(url);
    const second = await get(`${url}&page_token=${first.body.next_page_token}`);
    expect([...first.body.items, ...second.body.items].map((e: any) => e.id)).toEqual([
      "ev-08",
      "ev-06",
      "ev-04",
      "ev-02",
      "ev-00",
    ]);
    expect(second.body.next_page_token).toBeNull();
  });
});

describe("HEAD and OPTIONS", () => {
  it("HEAD follows GET's authorization and sends no body", async () => {
    const ok = await app.inject({ method: "HEAD", url: "/api/v1/alerts", headers: bearer(TOKENS.read) });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe("");
    expect((await app.inject({ method: "HEAD", url: "/api/v1/alerts" })).statusCode).toBe(401);
    const admin = await app.inject({ method: "HEAD", url: "/api/v1/audit", headers: bearer(TOKENS.read) });
    expect(admin.statusCode).toBe(403);
  });

  it("OPTIONS and unknown /api paths need a token before they answer 404 JSON", async () => {
    for (const [method, url] of [
      ["OPTIONS", "/api/v1/alerts"],
      ["GET", "/api/v1/no-such-route"],
      ["PUT", "/api/v1/alerts"],
    ] as const) {
      const anon = await app.inject({ method, url });
      expect(anon.statusCode, `${method} ${url}`).toBe(401);
      expect(anon.json().error.code).toBe("unauthorized");
      const known = await app.inject({ method, url, headers: bearer(TOKENS.read) });
      expect(known.statusCode, `${method} ${url}`).toBe(404);
      expect(known.json().error.code).toBe("not_found");
    }
  });
});

describe("OpenAPI document", () => {
  /** Every /api route, with the scope it needs and, for listings, the query parameters it takes. */
  const ROUTES: [string, string, string, string[]][] = [
    [
      "get",
      "/api/v1/alerts",
      "read",
      ["since", "until", "rule", "severity", "identity", "status", "page_size", "page_token"],
    ],
    ["get", "/api/v1/alerts/{id}", "read", []],
    ["get", "/api/v1/alerts/{id}/history", "read", []],
    ["post", "/api/v1/alerts/{id}/ack", "respond", []],
    ["post", "/api/v1/alerts/{id}/resolve", "respond", []],
    ["post", "/api/v1/alerts/{id}/reopen", "respond", []],
    ["post", "/api/v1/alerts/{id}/assign", "respond", []],
    ["post", "/api/v1/alerts/{id}/comments", "respond", []],
    ["get", "/api/v1/identities", "read", ["type", "owner", "dormant", "page_size", "page_token"]],
    ["get", "/api/v1/identities/{id}", "read", []],
    ["get", "/api/v1/identities/{id}/timeline", "read", ["from", "to", "page_size", "page_token"]],
    ["get", "/api/v1/events", "read", ["from", "to", "source", "resource_prefix", "page_size", "page_token"]],
    ["get", "/api/v1/suppressions", "read", ["all", "rule"]],
    ["post", "/api/v1/suppressions", "respond", []],
    ["post", "/api/v1/suppressions/{id}/expire", "respond", []],
    ["delete", "/api/v1/suppressions/{id}", "respond", []],
    ["get", "/api/v1/rules", "read", []],
    ["patch", "/api/v1/rules/{id}", "admin", []],
    ["get", "/api/v1/dead-letters", "admin", ["from", "to", "stage", "page_size", "page_token"]],
    ["get", "/api/v1/dead-letters/{id}", "admin", []],
    ["post", "/api/v1/dead-letters/{id}/replay", "admin", []],
    ["get", "/api/v1/notifications", "read", ["from", "to", "alert", "page_size", "page_token"]],
    ["get", "/api/v1/tokens", "admin", []],
    ["post", "/api/v1/tokens", "admin", []],
    ["delete", "/api/v1/tokens/{id}", "admin", []],
    ["get", "/api/v1/audit", "admin", ["from", "to", "actor", "status", "page_size", "page_token"]],
  ];

  it("documents every route with its path and query parameters, scope and bearer security", async () => {
    const r = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.security).toEqual([{ bearer: [] }]);
    const documented = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith("/api/"))
      .flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m} ${p}`))
      .sort();
    expect(documented).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
    for (const [method, path, scope, query] of ROUTES) {
      const op = doc.paths[path][method];
      const where = `${method} ${path}`;
      // No per-operation override may drop the document-wide bearer requirement.
      expect(op.security === undefined || op.security.length > 0, where).toBe(true);
      expect(op.description, where).toContain(`Requires scope \`${scope}\`.`);
      expect(op.summary, where).toEqual(expect.any(String));
      const params = (op.parameters ?? []) as { in: string; name: string; required?: boolean }[];
      if (path.includes("{id}"))
        expect(
          params.find((p) => p.in === "path" && p.name === "id"),
          where,
        ).toMatchObject({
          required: true,
        });
      const names = params.filter((p) => p.in === "query").map((p) => p.name);
      expect(names, where).toEqual(expect.arrayContaining(query));
    }
    for (const p of ["/livez", "/readyz", "/metrics"]) expect(doc.paths[p].get.security).toEqual([]);
    // Bodies are documented too, including the optional comment on status changes.
    for (const [path, field] of [
      ["/api/v1/alerts/{id}/ack", "comment"],
      ["/api/v1/alerts/{id}/assign", "assignee"],
      ["/api/v1/alerts/{id}/comments", "comment"],
      ["/api/v1/suppressions", "reason"],
      ["/api/v1/tokens", "scopes"],
    ]) {
      const body = doc.paths[path].post.requestBody?.content?.["application/json"]?.schema;
      expect(body?.properties, path).toHaveProperty(field);
    }
    expect(doc.paths["/api/v1/rules/{id}"].patch.requestBody).toBeDefined();
  });
});
