/**
 * The engine against real (embedded) ClickHouse through the detector pipeline: baselines, counters and job
 * facts survive a restart; late events are evaluated, not dropped; replays do not duplicate alerts;
 * suppressions, severity overrides and disabled rules from config apply.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "@identrail/config";
import type { NormalizedEvent } from "@identrail/schema";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, daily, ev, jobCreate, jobEnd, saUser, secretGet } from "../src/cases";
import { createDetectorPipeline } from "../src/pipeline";

let store: StoreClient;
let dir: string;
let offset = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "identrail-engine-"));
  store = await createStoreClient({ dataDir: dir });
  await migrate(store.ch);
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const baseConfig = (extra: Record<string, unknown> = {}) =>
  parseConfig({ default_cluster: "prod", detector: { learning_period: "2d" }, ...extra });

function pipeline(extra: Record<string, unknown> = {}) {
  return createDetectorPipeline({ ch: store.ch, config: baseConfig(extra), stopping: () => false });
}
async function feed(p: ReturnType<typeof pipeline>, events: NormalizedEvent[]) {
  await p.handle({
    topic: "identrail.events",
    partition: 0,
    messages: events.map((e) => ({
      topic: "identrail.events",
      partition: 0,
      offset: String(offset++),
      key: e.identity_id,
      value: JSON.stringify(e),
    })),
  });
}
async function alertsOf(identity: string) {
  const rs = await store.ch.query({
    query:
      "SELECT rule, severity, count, title FROM alerts FINAL WHERE identity_id = {id:String} ORDER BY rule",
    query_params: { id: identity },
    format: "JSONEachRow",
  });
  return (await rs.json()) as { rule: string; severity: string; count: number; title: string }[];
}

describe("engine with ClickHouse", () => {
  it("keeps learned secrets, learning period and job facts across a restart", async () => {
    const sa = saUser("svc-a", "worker");
    const argo = saUser("argo", "argo-workflow");
    await feed(pipeline(), [
      ...daily(0, 4, (d) => [
        jobCreate(argo, "svc-a", `job-${d}`, at(d, 2), { sa: "worker" }),
        secretGet(sa, "svc-a", "token", at(d, 2, 5)),
        jobEnd("svc-a", "worker", `job-${d}`, at(d, 3)),
      ]),
    ]);
    // A new process: state must come back from identity_features / identity_seen.
    const p2 = pipeline();
    await feed(p2, [
      jobCreate(argo, "svc-a", "job-4", at(4, 2), { sa: "worker" }),
      secretGet(sa, "svc-a", "token", at(4, 2, 5)),
    ]);
    expect(await alertsOf("k8s-sa:prod:svc-a:worker")).toEqual([]);
    await feed(p2, [
      jobEnd("svc-a", "worker", "job-4", at(4, 3)),
      secretGet(sa, "svc-a", "other", at(4, 14)),
    ]);
    const rules = (await alertsOf("k8s-sa:prod:svc-a:worker")).map((a) => a.rule);
    expect(rules).toContain("secret-read-unusual");
    expect(rules).toContain("credential-after-job");
  });

  it("sees job facts another instance recorded for a service account it already holds in memory", async () => {
    const sa = saUser("svc-h", "trainer");
    const argo = saUser("argo", "argo-workflow");
    // Instance A owns the controller's partition, instance B the service account's.
    const a = pipeline();
    const b = pipeline();
    await feed(a, [jobCreate(argo, "svc-h", "j-0", at(0, 2), { sa: "trainer" })]);
    await feed(b, daily(0, 3, (d) => secretGet(sa, "svc-h", "token", at(d, 2, 5))).slice(0, 1));
    await feed(a, [jobEnd("svc-h", "trainer", "j-0", at(0, 3))]);
    for (let d = 1; d < 4; d++) {
      await feed(a, [jobCreate(argo, "svc-h", `j-${d}`, at(d, 2), { sa: "trainer" })]);
      await feed(b, [secretGet(sa, "svc-h", "token", at(d, 2, 5))]);
      await feed(a, [jobEnd("svc-h", "trainer", `j-${d}`, at(d, 3))]);
    }
    expect(await alertsOf("k8s-sa:prod:svc-h:trainer")).toEqual([]);
    // With no job running, B does flag the service account's use.
    await feed(b, [secretGet(sa, "svc-h", "token", at(4, 12))]);
    expect((await alertsOf("k8s-sa:prod:svc-h:trainer")).map((x) => x.rule)).toContain(
      "credential-after-job",
    );
  });

  it("continues denial counts across a restart and evaluates late events", async () => {
    const sa = saUser("svc-b", "prober");
    const denied = (time: string, i: number) =>
      ev({
        who: sa,
        time,
        verb: "list",
        uri: `k8s://prod/ns-${i}/secrets`,
        type: "secrets",
        namespace: `ns-${i}`,
        outcome: "failure",
        status: 403,
      });
    await feed(pipeline(), [
      secretGet(sa, "svc-b", "x", at(5, 10)),
      ...Array.from({ length: 6 }, (_, i) => denied(at(5, 11, i), i)),
    ]);
    const p2 = pipeline();
    // Time moves on a day (watermark far ahead), then the rest of the burst arrives late.
    await feed(p2, [secretGet(sa, "svc-b", "x", at(6, 12))]);
    await feed(
      p2,
      Array.from({ length: 6 }, (_, i) => denied(at(5, 11, 6 + i), 6 + i)),
    );
    const burst = (await alertsOf("k8s-sa:prod:svc-b:prober")).filter(
      (a) => a.rule === "access-denied-burst",
    );
    expect(burst).toHaveLength(1);
    expect(burst[0].title).toMatch(/^12 denied/);
  });

  it("does not duplicate alerts when a batch is replayed", async () => {
    const sa = saUser("svc-c", "app");
    const events = [
      ...daily(0, 3, (d) => secretGet(sa, "svc-c", "token", at(d, 10))),
      secretGet(sa, "other", "db", at(3, 10)),
    ];
    await feed(pipeline(), events);
    await feed(pipeline(), events);
    const a = await alertsOf("k8s-sa:prod:svc-c:app");
    expect(a).toEqual([
      { rule: "secret-read-unusual", severity: "high", count: 1, title: expect.any(String) },
    ]);
  });

  it("a new process reads the replay check and the state of new identities in one statement", async () => {
    const sa = saUser("svc-r", "app");
    const history = daily(0, 4, (d) => secretGet(sa, "svc-r", "token", at(d, 10)));
    await feed(pipeline(), history);
    // The restarted process sees the last stored event again (a replay) with two new ones.
    const reads: string[] = [];
    const counted = new Proxy(store.ch, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === "query")
          return (params: { query: string }) => {
            reads.push(params.query);
            return (v as (p: unknown) => unknown).call(target, params);
          };
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const p2 = createDetectorPipeline({ ch: counted, config: baseConfig(), stopping: () => false });
    await feed(p2, [
      history[history.length - 1],
      secretGet(sa, "svc-r", "token", at(4, 10)),
      secretGet(sa, "svc-r", "db", at(4, 11)),
    ]);
    // The learned secret did not alert (state came back), the new one did, the replayed event was skipped.
    const a = await alertsOf("k8s-sa:prod:svc-r:app");
    expect(a.map((x) => [x.rule, x.count])).toEqual([["secret-read-unusual", 1]]);
    const rs = await store.ch.query({
      query: "SELECT count() AS n, uniqExact(id) AS u FROM events WHERE identity_id = {id:String}",
      query_params: { id: "k8s-sa:prod:svc-r:app" },
      format: "JSONEachRow",
    });
    const [c] = (await rs.json()) as { n: string | number; u: string | number }[];
    expect([Number(c.n), Number(c.u)]).toEqual([6, 6]);
    // Identity state was never read on its own: only inside the replay check's statement.
    const stateReads = reads.filter((q) => q.includes("FROM identity_seen"));
    expect(stateReads).toHaveLength(1);
    expect(stateReads[0]).toContain("FROM events");
  });

  it("applies suppressions, severity overrides and disabled rules from config", async () => {
    const sa = saUser("svc-d", "app");
    const story = (ns: string) => [
      ...daily(0, 3, (d) => secretGet(sa, "svc-d", "token", at(d, 10))),
      secretGet(sa, ns, "db", at(3, 10)),
    ];
    await feed(
      pipeline({
        suppressions: [{ rule: "secret-read-unusual", resource: "k8s://prod/payments/**", reason: "known" }],
      }),
      story("payments"),
    );
    expect(await alertsOf("k8s-sa:prod:svc-d:app")).toEqual([]);
    const sb = saUser("svc-e", "app");
    await feed(pipeline({ rules: { "secret-read-unusual": { severity: "low" } } }), [
      ...daily(0, 3, (d) => secretGet(sb, "svc-e", "token", at(d, 10))),
      secretGet(sb, "billing", "db", at(3, 10)),
    ]);
    expect((await alertsOf("k8s-sa:prod:svc-e:app")).map((a) => [a.rule, a.severity])).toEqual([
      ["secret-read-unusual", "low"],
    ]);
    const sg = saUser("svc-g", "app");
    await feed(
      pipeline({
        rules: {
          "secret-read-unusual": {
            allow: [{ identity: "system:serviceaccount:svc-g:*", namespace: "billing" }],
          },
        },
      }),
      [
        ...daily(0, 3, (d) => secretGet(sg, "svc-g", "token", at(d, 10))),
        secretGet(sg, "billing", "db", at(3, 10)),
        secretGet(sg, "ledger", "db", at(3, 11)),
      ],
    );
    // The allowlist covers svc-g's reads in billing only; the ledger read still raises.
    expect((await alertsOf("k8s-sa:prod:svc-g:app")).map((a) => a.title)).toEqual([
      expect.stringContaining("ledger"),
    ]);
    const sc = saUser("svc-f", "app");
    await feed(pipeline({ rules: { "secret-read-unusual": { enabled: false } } }), [
      ...daily(0, 3, (d) => secretGet(sc, "svc-f", "token", at(d, 10))),
      secretGet(sc, "billing", "db", at(3, 10)),
    ]);
    expect(await alertsOf("k8s-sa:prod:svc-f:app")).toEqual([]);
  });

  // Last: the overrides below are global to this file's store.
  it("applies suppressions and rule settings made through the API (ClickHouse tables)", async () => {
    const now = "2026-11-24 12:00:00.000";
    await store.ch.insert({
      table: "suppressions",
      format: "JSONEachRow",
      values: [
        {
          id: "s1",
          rule: "secret-read-unusual",
          identity: "k8s-sa:prod:svc-i:*",
          namespace: "",
          resource: "",
          reason: "test",
          created_by: "t",
          created_at: now,
          until: null,
          deleted: 0,
          updated_at: now,
          version: 1,
        },
      ],
    });
    await store.ch.insert({
      table: "rule_settings",
      format: "JSONEachRow",
      values: [
        {
          rule: "secret-enumeration",
          enabled: 0,
          severity: "",
          updated_by: "t",
          updated_at: now,
          version: 1,
        },
      ],
    });
    const p = pipeline();
    const si = saUser("svc-i", "app");
    const sj = saUser("svc-j", "app");
    await feed(p, [
      ...daily(0, 3, (d) => [
        secretGet(si, "svc-i", "token", at(d, 10)),
        secretGet(sj, "svc-j", "token", at(d, 10)),
      ]),
      secretGet(si, "payments", "db", at(3, 10)),
      ...Array.from({ length: 6 }, (_, i) => secretGet(sj, `team-${i}`, "db", at(3, 11, i))),
    ]);
    expect(await alertsOf("k8s-sa:prod:svc-i:app")).toEqual([]);
    const j = (await alertsOf("k8s-sa:prod:svc-j:app")).map((a) => a.rule);
    expect(j).toContain("secret-read-unusual");
    expect(j).not.toContain("secret-enumeration");
  });
});
