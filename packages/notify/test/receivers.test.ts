/**
 * Notifier against local HTTP receivers (PagerDuty Events v2, Slack, generic webhook) and an
 * embedded ClickHouse outbox: payload shapes, dedup keys, resolve, retries, outage and recovery.
 * The notifier's clock is injected so retries become due without sleeping.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenStoreFor } from "@identrail/api";
import { buildApp } from "@identrail/cli";
import { type Config, parseConfig } from "@identrail/config";
import { createAuthenticator } from "@identrail/http";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Notifier, type NotifierOptions } from "../src";
import { Recorder, setStatus, upsertAlert } from "./helpers";

const dir = mkdtempSync(join(tmpdir(), "identrail-notify-"));
let store: StoreClient;
let clock = Date.now();
const recorders: Recorder[] = [];

beforeAll(async () => {
  store = await createStoreClient({ dataDir: dir });
  await migrate(store.ch);
});
afterEach(async () => {
  for (const t of ["alerts", "alert_state", "notify_outbox", "notify_state", "notify_attempts"])
    await store.ch.command({ query: "TRUNCATE TABLE {t:Identifier}", query_params: { t } });
  await Promise.all(recorders.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function recorder() {
  const r = await new Recorder().start();
  recorders.push(r);
  return r;
}

function notifier(raw: { receivers: unknown[]; routes: unknown[] }, extra: Partial<NotifierOptions> = {}) {
  const config = parseConfig({ data_dir: dir, ...raw });
  return new Notifier({ ch: store.ch, config, now: () => clock, baseBackoff: 1000, ...extra });
}

async function round(n: Notifier) {
  await n.poll();
  return n.deliver();
}

const PD_KEY = "R0UT1NGKEY0123456789abcdef012345";
/** A PagerDuty receiver named "pd" pointed at a local recorder. */
const pagerDuty = (url: string, extra: Record<string, unknown> = {}) => ({
  name: "pd",
  type: "pagerduty",
  routing_key: PD_KEY,
  url,
  allow_loopback: true,
  ...extra,
});

describe("PagerDuty", () => {
  it("triggers, updates under the same dedup key and resolves", async () => {
    const pd = await recorder();
    const n = notifier({
      receivers: [pagerDuty(`${pd.url}/v2/enqueue`)],
      routes: [{ receiver: "pd", group_wait: 0, match: { min_severity: "medium" } }],
    });
    await upsertAlert(store.ch, { id: "al-1", severity: "high", version: 1 });
    await upsertAlert(store.ch, { id: "al-low", severity: "low", version: 1 });
    expect(await round(n)).toBe(1);
    const [first] = pd.json();
    expect(pd.requests[0].url).toBe("/v2/enqueue");
    expect(first).toMatchObject({
      routing_key: PD_KEY,
      event_action: "trigger",
      dedup_key: "al-1",
      payload: { severity: "error", source: "k8s-sa:prod:ml:trainer", class: "secret-read-unusual" },
    });
    expect(first.payload.summary).toContain("al-1");

    expect(await round(n)).toBe(0); // nothing changed, nothing sent
    await upsertAlert(store.ch, { id: "al-1", severity: "critical", count: 4, version: 2 });
    await round(n);
    expect(pd.json()[1]).toMatchObject({
      event_action: "trigger",
      dedup_key: "al-1",
      payload: { severity: "critical" },
    });

    await setStatus(store.ch, "al-1", "resolved");
    await round(n);
    expect(pd.json()[2]).toEqual({ routing_key: PD_KEY, event_action: "resolve", dedup_key: "al-1" });
    expect(await round(n)).toBe(0);
    expect(pd.requests).toHaveLength(3);
  });

  it("stays under the per-minute event budget and sends the rest in the next window", async () => {
    const pd = await recorder();
    const n = notifier({
      receivers: [pagerDuty(pd.url, { max_events_per_minute: 2 })],
      routes: [{ receiver: "pd", group_wait: 0 }],
    });
    for (const id of ["b-1", "b-2", "b-3"]) await upsertAlert(store.ch, { id, version: 1 });
    expect(await round(n)).toBe(2);
    expect(await n.deliver()).toBe(0);
    clock += 61_000;
    expect(await n.deliver()).toBe(1);
    expect(
      pd
        .json()
        .map((e) => e.dedup_key)
        .sort(),
    ).toEqual(["b-1", "b-2", "b-3"]);
  });
});

describe("Alertmanager payloads", () => {
  it("re-sends active alerts every repeat interval with endsAt ahead, then resolves with endsAt", async () => {
    const am = await recorder();
    const n = notifier({
      receivers: [{ name: "am", type: "alertmanager", url: `${am.url}/`, allow_loopback: true }],
      routes: [{ receiver: "am", group_wait: 0, repeat_interval: "5m" }],
    });
    await upsertAlert(store.ch, { id: "rep-1", version: 1 });
    await round(n);
    expect(am.requests[0].url).toBe("/api/v2/alerts");
    const [[first]] = am.json();
    expect(first.labels).toMatchObject({
      alertname: "secret-read-unusual",
      identrail_alert_id: "rep-1",
      severity: "high",
    });
    expect(Date.parse(first.endsAt)).toBeGreaterThan(Date.now());
    clock += 60_000;
    expect(await round(n)).toBe(0); // inside the repeat interval
    await setStatus(store.ch, "rep-1", "acknowledged");
    expect(await round(n)).toBe(0); // acknowledging is not a change receivers care about
    clock += 5 * 60_000;
    expect(await round(n)).toBe(1); // repeat
    await setStatus(store.ch, "rep-1", "resolved");
    await round(n);
    const last = am.json()[2][0];
    expect(last.endsAt).toBe(new Date(clock).toISOString());
    expect(am.requests).toHaveLength(3);
  });
});

describe("retries and outages", () => {
  it("retries after 500 and 429 with backoff and records every attempt", async () => {
    const pd = await recorder();
    pd.statuses.push(500, 429);
    const n = notifier({
      receivers: [pagerDuty(pd.url)],
      routes: [{ receiver: "pd", group_wait: 0 }],
    });
    await upsertAlert(store.ch, { id: "r-1", version: 1 });
    expect(await round(n)).toBe(0);
    expect(await n.deliver()).toBe(0); // not due yet: backoff
    clock += 10 * 60_000;
    expect(await n.deliver()).toBe(0); // 429
    clock += 10 * 60_000;
    expect(await n.deliver()).toBe(1);
    expect(pd.json().map((e) => e.dedup_key)).toEqual(["r-1", "r-1", "r-1"]);
    const rs = await store.ch.query({
      query: "SELECT attempt, status_code, outcome FROM notify_attempts ORDER BY attempt",
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([
      { attempt: 1, status_code: 500, outcome: "retry" },
      { attempt: 2, status_code: 429, outcome: "retry" },
      { attempt: 3, status_code: 202, outcome: "delivered" },
    ]);
  });

  it("loses nothing through a receiver outage and a notifier restart", async () => {
    const hook = await recorder();
    const port = hook.port;
    const cfg = {
      receivers: [
        {
          name: "hook",
          type: "webhook",
          url: `${hook.url}/identrail`,
          secret: "s3cret-s3cret-s3cret",
          allow_loopback: true,
        },
      ],
      routes: [{ receiver: "hook", group_wait: 0 }],
    };
    await hook.stop(); // outage: connection refused
    const first = notifier(cfg);
    for (const id of ["o-1", "o-2", "o-3"]) await upsertAlert(store.ch, { id, version: 1 });
    expect(await round(first)).toBe(0);
    clock += 10 * 60_000;
    await upsertAlert(store.ch, { id: "o-4", version: 1 });
    expect(await round(first)).toBe(0);
    const failed = await store.ch.query({
      query: "SELECT count() AS n FROM notify_attempts WHERE outcome = 'retry' AND status_code = 0",
      format: "JSONEachRow",
    });
    expect(Number(((await failed.json()) as { n: string }[])[0].n)).toBeGreaterThanOrEqual(4);

    // The receiver comes back and a fresh notifier (a restarted process) picks up the outbox.
    const back = await new Recorder().start(port);
    recorders.push(back);
    const second = notifier(cfg);
    clock += 10 * 60_000;
    expect(await round(second)).toBe(4);
    const ids = back.json().flatMap((b) => b.notifications.map((x: { dedup_key: string }) => x.dedup_key));
    expect(ids.sort()).toEqual(["o-1", "o-2", "o-3", "o-4"]);
    expect(await round(second)).toBe(0);
  });

  it("gives up on a 400 without retrying", async () => {
    const slack = await recorder();
    slack.statuses.push(400);
    const n = notifier({
      receivers: [{ name: "slack", type: "slack", url: slack.url, allow_loopback: true }],
      routes: [{ receiver: "slack", group_wait: 0 }],
    });
    await upsertAlert(store.ch, { id: "g-1", version: 1 });
    await round(n);
    clock += 60 * 60_000;
    await n.deliver();
    expect(slack.requests).toHaveLength(1);
  });
});

describe("Slack and webhooks", () => {
  it("groups changes within the group window into one signed webhook request", async () => {
    const hook = await recorder();
    const secret = "webhook-secret-0123456789";
    const n = notifier({
      receivers: [{ name: "hook", type: "webhook", url: hook.url, secret, allow_loopback: true }],
      routes: [{ receiver: "hook", group_wait: "30s", match: { namespaces: ["ml"] } }],
    });
    await upsertAlert(store.ch, { id: "w-1", version: 1 });
    await upsertAlert(store.ch, { id: "w-2", version: 1 });
    await upsertAlert(store.ch, { id: "w-other", version: 1, labels: { namespace: "web" } });
    expect(await round(n)).toBe(0); // inside the group window
    clock += 31_000;
    expect(await n.deliver()).toBe(2);
    expect(hook.requests).toHaveLength(1);
    const req = hook.requests[0];
    const expected = `sha256=${createHmac("sha256", secret).update(req.body).digest("hex")}`;
    expect(req.headers["x-identrail-signature"]).toBe(expected);
    const body = JSON.parse(req.body);
    expect(req.headers["x-identrail-timestamp"]).toBe(String(Math.floor(Date.parse(body.sent_at) / 1000)));
    expect(
      body.notifications.map((x: { dedup_key: string; kind: string }) => [x.dedup_key, x.kind]).sort(),
    ).toEqual([
      ["w-1", "firing"],
      ["w-2", "firing"],
    ]);
  });

  it("posts Slack messages for firing and resolved alerts", async () => {
    const slack = await recorder();
    const n = notifier({
      receivers: [{ name: "slack", type: "slack", url: slack.url, allow_loopback: true }],
      routes: [{ receiver: "slack", group_wait: 0 }],
    });
    await upsertAlert(store.ch, { id: "s-1", version: 1 });
    await round(n);
    await setStatus(store.ch, "s-1", "resolved");
    await round(n);
    const [fire, resolved] = slack.json();
    expect(fire.text).toContain("*[HIGH]* Unusual secret read by trainer (s-1)");
    expect(resolved.text).toContain("*[RESOLVED]*");
  });

  it("shows delivery attempts through GET /api/v1/notifications", async () => {
    const slack = await recorder();
    const n = notifier({
      receivers: [{ name: "slack", type: "slack", url: slack.url, allow_loopback: true }],
      routes: [{ receiver: "slack", group_wait: 0 }],
    });
    await upsertAlert(store.ch, { id: "v-1", version: 1 });
    await round(n);
    const config: Config = parseConfig({
      data_dir: dir,
      auth: { tokens: [{ name: "r", token: "reader-token-0123456789", scopes: ["read"] }] },
    });
    const app = await buildApp({
      config,
      roles: new Set(["api"]),
      authenticate: createAuthenticator(config.auth, { extra: tokenStoreFor(store.ch) }),
      ch: store.ch,
    });
    try {
      const res = await app.inject({
        url: `/api/v1/notifications?alert=v-1&from=${new Date(clock - 60_000).toISOString()}&to=${new Date(clock + 60_000).toISOString()}`,
        headers: { authorization: "Bearer reader-token-0123456789" },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().items).toEqual([
        expect.objectContaining({
          alert_id: "v-1",
          receiver: "slack",
          outcome: "delivered",
          status_code: 202,
          attempt: 1,
        }),
      ]);
    } finally {
      await app.close();
    }
  });
});
