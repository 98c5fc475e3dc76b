/**
 * Bad input at /ingest/k8s-audit: every case gets the right status and a JSON error, nothing crashes,
 * rejected records reach the dead-letter store with their reason, and valid records still go through.
 */
import { gzipSync } from "node:zlib";
import { type Runtime, startRuntime } from "@identrail/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent } from "./helpers/k8s";
import { ADMIN_TOKEN, auth, INGEST_TOKEN, READ_TOKEN, testConfig, waitFor } from "./helpers/runtime";

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime(
    testConfig({ ingest: { max_body_bytes: 10 * 1024 * 1024, max_decompressed_bytes: 16 * 1024 * 1024 } }),
  );
});
afterAll(async () => {
  await rt?.stop();
});

const good = (name: string) =>
  k8sEvent({
    user: "system:serviceaccount:ci:runner",
    verb: "get",
    resource: "configmaps",
    namespace: "ci",
    name,
    time: at("2026-11-02", 0, 9),
  });

function post(
  payload: string | Buffer,
  headers: Record<string, string> = {},
  token: string | null = INGEST_TOKEN,
) {
  return rt.app.inject({
    method: "POST",
    url: "/ingest/k8s-audit",
    headers: { "content-type": "application/json", ...(token ? auth(token) : {}), ...headers },
    payload,
  });
}

describe("ingest bad input", () => {
  it.each([
    ["empty body", "", 400],
    ["whitespace only", "   \n ", 400],
    ["malformed JSON", '{"kind": "EventList", "items": [', 400],
    ["wrong apiVersion", JSON.stringify({ ...good("x"), apiVersion: "audit.k8s.io/v9" }), 400],
    ["missing auditID", JSON.stringify({ ...good("x"), auditID: undefined }), 400],
    [
      "timestamp in 1970",
      JSON.stringify({
        ...good("x"),
        requestReceivedTimestamp: "1970-01-01T00:00:00Z",
        stageTimestamp: "1970-01-01T00:00:00Z",
      }),
      400,
    ],
    ["not an object", "[1, 2, 3]", 400],
  ])("%s → %s with a JSON error", async (_name, body, status) => {
    const r = await post(body);
    expect(r.statusCode).toBe(status);
    expect(r.json().error.code).toMatch(/invalid_body/);
  });

  it("rejects a 20 MB body with 413", async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 0x20);
    const r = await post(big);
    expect(r.statusCode).toBe(413);
    expect(r.json().error.code).toBe("payload_too_large");
  });

  it("rejects gzip that expands past the limit with 413 (without inflating it all)", async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const r = await post(bomb, { "content-encoding": "gzip" });
    expect(r.statusCode).toBe(413);
  });

  it("rejects truncated gzip with 400", async () => {
    const gz = gzipSync(Buffer.from(JSON.stringify(eventList([good("t")]))));
    const r = await post(gz.subarray(0, gz.length - 10), { "content-encoding": "gzip" });
    expect(r.statusCode).toBe(400);
  });

  it("accepts gzip-compressed EventLists", async () => {
    const gz = gzipSync(Buffer.from(JSON.stringify(eventList([good("gz")]))));
    const r = await post(gz, { "content-encoding": "gzip" });
    expect(r.statusCode).toBe(200);
    expect(r.json().accepted).toBe(1);
  });

  it("refuses unsupported content types and encodings", async () => {
    expect((await post("x", { "content-type": "image/png" })).statusCode).toBe(415);
    expect((await post("x", { "content-encoding": "br" })).statusCode).toBe(415);
  });

  it("401 without a token or with a wrong one, 403 without the ingest scope", async () => {
    const body = JSON.stringify(eventList([good("a")]));
    const none = await post(body, {}, null);
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe("unauthorized");
    expect((await post(body, {}, "wrong-token-0000000000000000")).statusCode).toBe(401);
    expect((await post(body, {}, READ_TOKEN)).statusCode).toBe(403);
    expect((await rt.app.inject({ url: "/api/v1/alerts" })).statusCode).toBe(401);
    expect((await rt.app.inject({ url: "/api/v1/alerts", headers: auth(INGEST_TOKEN) })).statusCode).toBe(
      403,
    );
  });

  it("a mixed batch: valid events accepted, invalid ones dead-lettered with their reason", async () => {
    const ok1 = good("mixed-1");
    const ok2 = good("mixed-2");
    const lines = [
      JSON.stringify(ok1),
      JSON.stringify({ ...good("bad"), auditID: "" }),
      "{not json",
      JSON.stringify(ok2),
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x"', // broken last line
    ].join("\n");
    const r = await post(lines, { "content-type": "application/x-ndjson" });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.accepted).toBe(2);
    expect(body.rejected).toBe(3);
    expect(body.errors.map((e: { reason: string }) => e.reason).join("|")).toMatch(/missing auditID/);
    // Nothing valid is lost: both good events reach ClickHouse; the bad ones are dead letters with reasons.
    await waitFor(async () => {
      const rs = await rt.store!.ch.query({
        query: "SELECT count() AS n FROM events WHERE raw_ref IN {refs:Array(String)}",
        query_params: { refs: [`${ok1.auditID}/ResponseComplete`, `${ok2.auditID}/ResponseComplete`] },
        format: "JSONEachRow",
      });
      const [row] = (await rs.json()) as { n: number }[];
      return Number(row.n) === 2;
    });
    const reasons = await waitFor(async () => {
      const rs = await rt.store!.ch.query({
        query: "SELECT reason FROM dead_letters WHERE stage = 'collector'",
        format: "JSONEachRow",
      });
      const rows = (await rs.json()) as { reason: string }[];
      return rows.some((x) => x.reason.includes("missing auditID")) ? rows.map((x) => x.reason) : undefined;
    });
    expect(reasons.some((x) => /malformed JSON/.test(x))).toBe(true);
    const m = await rt.app.inject({ url: "/metrics" });
    expect(m.body).toMatch(
      /identrail_pipeline_dead_letters_total\{stage="collector",source="k8s-audit",reason="missing auditID"\} \d+/,
    );
  });

  it("invalid UTF-8 in one NDJSON line rejects that line only", async () => {
    const a = Buffer.from(JSON.stringify(good("utf-a")) + "\n");
    const bad = Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
    const b = Buffer.from(JSON.stringify(good("utf-b")));
    const r = await post(Buffer.concat([a, bad, b]), { "content-type": "application/x-ndjson" });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ accepted: 2, rejected: 1 });
    expect(r.json().errors[0].reason).toMatch(/invalid UTF-8/);
  });

  it("deeply nested JSON and __proto__ keys neither crash nor pollute", async () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    expect((await post(deep)).statusCode).toBe(400);
    const proto = JSON.stringify({
      ...good("proto"),
      __proto__: { polluted: true },
      user: { username: "u", __proto__: { admin: true } },
    });
    const r = await post(`{"__proto__":{"polluted":1},${proto.slice(1)}`);
    expect([200, 400]).toContain(r.statusCode);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const health = await rt.app.inject({ url: "/livez" });
    expect(health.statusCode).toBe(200);
  });

  it("rejects a bad cluster name", async () => {
    const r = await rt.app.inject({
      method: "POST",
      url: "/ingest/k8s-audit?cluster=../../etc",
      headers: { ...auth(ADMIN_TOKEN), "content-type": "application/json" },
      payload: JSON.stringify(good("c")),
    });
    expect(r.statusCode).toBe(400);
  });
});

describe("every ingest endpoint refuses unusable bodies the same way", () => {
  const endpoints = ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault", "s3-access", "minio"];
  const send = (endpoint: string, payload: string | Buffer, headers: Record<string, string> = {}) =>
    rt.app.inject({
      method: "POST",
      url: `/ingest/${endpoint}`,
      headers: {
        ...auth(INGEST_TOKEN),
        "content-type": endpoint === "s3-access" ? "text/plain" : "application/json",
        ...headers,
      },
      payload,
    });

  it.each(endpoints)("/ingest/%s", async (endpoint) => {
    expect((await send(endpoint, "")).statusCode).toBe(400);
    expect((await send(endpoint, "x", { "content-type": "image/png" })).statusCode).toBe(415);
    expect((await send(endpoint, Buffer.alloc(11 * 1024 * 1024, 0x20))).statusCode).toBe(413);
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024, 0x7b));
    expect((await send(endpoint, bomb, { "content-encoding": "gzip" })).statusCode).toBe(413);
    const gz = gzipSync(Buffer.from('{"a":1}\n'.repeat(100)));
    expect(
      (await send(endpoint, gz.subarray(0, gz.length - 8), { "content-encoding": "gzip" })).statusCode,
    ).toBe(400);
    const garbage = await send(endpoint, "\u0000\u0001 not a log at all");
    expect(garbage.statusCode).toBe(400);
    expect(garbage.json()).toMatchObject({ accepted: 0 });
    expect(await send(endpoint, "{}", {}).then((r) => r.statusCode)).toBeLessThan(500);
    const noToken = await rt.app.inject({ method: "POST", url: `/ingest/${endpoint}`, payload: "{}" });
    expect(noToken.statusCode).toBe(401);
  });

  it("unknown endpoints are 404", async () => {
    expect((await send("splunk", "{}")).statusCode).toBe(404);
  });
});
