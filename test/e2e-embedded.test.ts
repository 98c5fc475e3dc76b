/**
 * The walking skeleton end to end in embedded mode: one process, chDB, the durable local bus.
 * EventList → /ingest/k8s-audit → normalizer → detector → ClickHouse → /api/v1.
 */
import { type Runtime, startRuntime } from "@identrail/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventList, secretStory } from "./helpers/k8s";
import { auth, INGEST_TOKEN, READ_TOKEN, testConfig, waitFor } from "./helpers/runtime";

let rt: Runtime;
beforeAll(async () => {
  rt = await startRuntime(testConfig());
});
afterAll(async () => {
  await rt?.stop();
});

describe("embedded mode: webhook to alert", () => {
  const story = secretStory();

  it("accepts an EventList and answers with counts only after the bus acknowledged", async () => {
    const res = await rt.app.inject({
      method: "POST",
      url: "/ingest/k8s-audit?cluster=prod",
      headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
      payload: eventList([...story.normal, story.attack]),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accepted: 11, rejected: 0, errors: [] });
  });

  it("raises secret-read-unusual for the right identity with event times", async () => {
    const alerts = await waitFor(async () => {
      const r = await rt.app.inject({
        url: "/api/v1/alerts?rule=secret-read-unusual",
        headers: auth(READ_TOKEN),
      });
      const items = r.json().items;
      return items.length ? items : undefined;
    });
    expect(alerts).toHaveLength(1);
    const a = alerts[0];
    expect(a.rule).toBe("secret-read-unusual");
    expect(a.identity).toBe("k8s-sa:prod:ml-training:fine-tuning-job");
    expect(a.status).toBe("open");
    expect(["medium", "high"]).toContain(a.severity);
    expect(a.first_seen).toBe(story.attack.requestReceivedTimestamp);
    expect(a.last_seen).toBe(story.attack.requestReceivedTimestamp);
    expect(a.count).toBe(1);
    expect(a.resource).toBe("k8s://prod/payments/secrets/db-credentials");
  });

  it("serves the identity by canonical id and by raw alias, and its timeline with keyset pagination", async () => {
    for (const id of ["k8s-sa:prod:ml-training:fine-tuning-job", story.sa]) {
      const r = await rt.app.inject({
        url: `/api/v1/identities/${encodeURIComponent(id)}`,
        headers: auth(READ_TOKEN),
      });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({
        id: "k8s-sa:prod:ml-training:fine-tuning-job",
        type: "service_account",
      });
      expect(r.json().aliases).toContain(story.sa);
    }
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const q = new URLSearchParams({
        from: "2026-10-01T00:00:00Z",
        to: "2026-12-01T00:00:00Z",
        page_size: "4",
      });
      if (token) q.set("page_token", token);
      const r = await rt.app.inject({
        url: `/api/v1/identities/${encodeURIComponent(story.sa)}/timeline?${q}`,
        headers: auth(READ_TOKEN),
      });
      expect(r.statusCode).toBe(200);
      const body = r.json();
      seen.push(...body.items.map((i: { id: string }) => i.id));
      token = body.next_page_token;
    } while (token);
    // 11 events and 11 secret_read identity events, each exactly once, newest first.
    expect(seen).toHaveLength(22);
    expect(new Set(seen).size).toBe(22);
  });

  it("404s unknown identities with a JSON error", async () => {
    const r = await rt.app.inject({ url: "/api/v1/identities/nobody", headers: auth(READ_TOKEN) });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe("not_found");
  });

  it("a replay of the same batch adds no rows and no second alert", async () => {
    const res = await rt.app.inject({
      method: "POST",
      url: "/ingest/k8s-audit?cluster=prod",
      headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
      payload: eventList([...story.normal, story.attack]),
    });
    expect(res.statusCode).toBe(200);
    // Wait until the replayed batch went through both stages, then count.
    await waitFor(async () => {
      const m = await rt.app.inject({ url: "/metrics" });
      return /identrail_pipeline_skipped_total\{stage="detector",source="any",reason="already-stored"\} 11/.test(
        m.body,
      );
    });
    const rs = await rt.store!.ch.query({
      query: "SELECT count() AS n, uniqExact(id) AS u FROM events",
      format: "JSONEachRow",
    });
    const [row] = (await rs.json()) as { n: string | number; u: string | number }[];
    expect([Number(row.n), Number(row.u)]).toEqual([11, 11]);
    const a = await rt.app.inject({ url: "/api/v1/alerts", headers: auth(READ_TOKEN) });
    expect(a.json().items).toHaveLength(1);
    expect(a.json().items[0].count).toBe(1);
  });
});
