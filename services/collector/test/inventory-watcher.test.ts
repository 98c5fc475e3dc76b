import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Bus, type ConsumedMessage, LocalBus } from "@identrail/bus";
import { type NormalizedEvent, RawEnvelope, Topics } from "@identrail/schema";
import { inventory } from "@identrail/sources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryWatcher } from "../src/inventory";
import { eventually, tempDir, testConfig } from "./helpers";
import { type Route, startK8sApi } from "./k8s-api-server";

// Recorded-shape API answers shared with the inventory parser's tests (redacted: example.com, 123456789012).
const FIXTURES = resolve(import.meta.dirname, "../../../packages/sources/test/fixtures/inventory");
const load = (f: string) => JSON.parse(readFileSync(join(FIXTURES, f), "utf8"));
const clone = <T>(v: T): T => structuredClone(v);

const saList = load("serviceaccount-list.json");
const podList = load("pod-list.json");
const jobList = load("job-list.json");

const podEvent = (type: string, rv: string, phase: string, extra: Record<string, unknown> = {}) => ({
  type,
  object: {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      name: "preprocess-1",
      namespace: "ml-data",
      uid: "d4e5f6a7-b8c9-4d0e-8f1a-3b4c5d6e7f80",
      resourceVersion: rv,
      creationTimestamp: "2026-11-24T11:00:00Z",
      ...(type === "DELETED" ? { deletionTimestamp: "2026-11-24T11:30:30Z" } : {}),
    },
    spec: {
      serviceAccountName: "feature-pipeline",
      containers: [
        {
          name: "p",
          image: "registry.example.com/ml/prep:3",
          env: [{ name: "DB_PASSWORD", value: "PLANTED-SECRET-eeee" }],
          resources: { limits: { "nvidia.com/gpu": "1" } },
        },
      ],
    },
    status: { phase, startTime: "2026-11-24T11:00:02Z", ...extra },
  },
});

/**
 * Every record on a topic, as it arrives, through one consumer group: a packed (v2) message is expanded
 * into one v1 envelope per record, keyed as that record alone would have been (the parser's key).
 */
async function collect(bus: Bus, topic: string) {
  const got: ConsumedMessage[] = [];
  const handle = await bus.consume({
    groupId: `c-${Math.random()}`,
    topics: [topic],
    handler: async (b) => {
      for (const m of b.messages) {
        const env = JSON.parse(m.value);
        if (env.v !== 2) {
          got.push(m);
          continue;
        }
        const { records, ...head } = env;
        for (const record of records) {
          const a = inventory.accept(record);
          if (!a.ok) throw new Error(a.error);
          const value = JSON.stringify({ ...head, v: 1, record });
          got.push({ ...m, key: a.value.key, value });
        }
      }
    },
  });
  return { got, stop: () => handle.stop() };
}

function normalizeAll(msgs: ConsumedMessage[]): NormalizedEvent[] {
  return msgs.flatMap((m) => {
    const env = RawEnvelope.parse(JSON.parse(m.value));
    const n = inventory.normalize(env.record, { cluster: env.cluster, receivedAt: env.received_at });
    if (!n.ok) throw new Error(n.error);
    return n.value.events;
  });
}
const steps = (evs: NormalizedEvent[]) =>
  new Set(evs.map((e) => `${e.resource.type}/${e.resource.name}/${e.attrs.lifecycle}`));

let dir: string;
let bus: LocalBus;
beforeAll(() => {
  dir = tempDir();
  bus = new LocalBus(join(dir, "bus"));
});
afterAll(async () => {
  await bus.close();
});

describe("inventory watcher against a scripted Kubernetes API", () => {
  let firstRunIds: Set<string>;
  // Second service-account list (after the 410): trainer's owner changed, default was deleted meanwhile.
  const finalSaList = clone(saList);
  finalSaList.metadata.resourceVersion = "52000";
  finalSaList.items[0].metadata.resourceVersion = "51999";
  finalSaList.items[0].metadata.annotations["identrail.io/owner"] = "new-owner@example.com";
  finalSaList.items.pop();
  // Second job list (after the 410 on watch): eval-bad is gone.
  const finalJobList = clone(jobList);
  finalJobList.metadata.resourceVersion = "52001";
  finalJobList.items.pop();

  it("lists and watches service accounts, pods and jobs; survives a failed list, a dropped watch and 410 Gone", async () => {
    const routes: Record<string, Route> = {
      "/api/v1/serviceaccounts": {
        lists: [{ status: 500 }, { body: saList }, { body: finalSaList }],
        // The apiserver reports an expired resourceVersion in the stream, then closes it.
        watches: [
          {
            events: [
              {
                type: "ERROR",
                object: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410 },
              },
            ],
            after: "end",
          },
        ],
      },
      "/api/v1/pods": {
        lists: [{ body: podList }],
        watches: [
          { events: [podEvent("ADDED", "50004", "Running")], after: "drop" },
          {
            events: [
              podEvent("MODIFIED", "50008", "Failed", {
                containerStatuses: [
                  { name: "p", state: { terminated: { exitCode: 137, finishedAt: "2026-11-24T11:30:01Z" } } },
                ],
              }),
              podEvent("DELETED", "50010", "Failed", {
                containerStatuses: [
                  { name: "p", state: { terminated: { exitCode: 137, finishedAt: "2026-11-24T11:30:01Z" } } },
                ],
              }),
            ],
          },
        ],
      },
      "/apis/batch/v1/jobs": {
        lists: [{ body: jobList }, { body: finalJobList }],
        watches: [{ status: 410 }],
      },
    };
    const api = await startK8sApi(routes);
    // The bus refuses the first publish: nothing may be lost, the watcher retries.
    let refusals = 1;
    const flaky: Bus = {
      kind: "local",
      produce: (t, m) => (refusals-- > 0 ? Promise.reject(new Error("broker down")) : bus.produce(t, m)),
      consume: (o) => bus.consume(o),
      partitionCount: () => 1,
      healthy: () => bus.healthy(),
      close: async () => {},
    };
    const sink = await collect(bus, Topics.raw("inventory"));
    const w = new InventoryWatcher({
      kubeConfig: api.kubeConfig,
      cluster: "prod-eu",
      deps: { bus: flaky, config: testConfig(dir) },
      resyncMs: 3_600_000,
      minBackoffMs: 20,
      maxBackoffMs: 200,
    });
    const want = [
      "serviceaccounts/trainer/observe",
      "serviceaccounts/feature-pipeline/observe",
      "serviceaccounts/default/delete",
      "pods/finetune-28871-abcde/start",
      "pods/finetune-28871-abcde/end",
      "pods/notebook-0/start",
      "pods/preprocess-1/start",
      "pods/preprocess-1/end",
      "pods/preprocess-1/delete",
      "jobs/finetune-28871/end",
      "jobs/eval-bad/end",
      "jobs/eval-bad/delete",
    ];
    try {
      await w.start();
      const events = await eventually(() => {
        const evs = normalizeAll(sink.got);
        const have = steps(evs);
        const trainerOwners = evs
          .filter((e) => e.resource.name === "trainer")
          .map((e) => e.actor.attrs.owner);
        return (
          want.every((s) => have.has(s)) &&
          trainerOwners.includes("new-owner@example.com") &&
          w.backlog === 0 &&
          evs
        );
      });

      // Keys are the service account usernames; secrets in pod specs never reach the bus.
      const keys = new Set(sink.got.map((m) => m.key));
      expect(keys).toContain("system:serviceaccount:ml-train:trainer");
      expect(keys).toContain("system:serviceaccount:ml-data:feature-pipeline");
      for (const m of sink.got)
        expect(m.value).not.toMatch(/PLANTED-SECRET|last-applied-configuration|DB_PASSWORD/);

      // The first state may have been replaced by the newer one while the bus was refusing (newest wins);
      // the last word is the new owner, and each published state has its own id.
      const trainer = events.filter((e) => e.resource.name === "trainer");
      expect(trainer.at(-1)?.actor.attrs.owner).toBe("new-owner@example.com");
      expect(new Set(trainer.map((e) => e.id)).size).toBe(
        new Set(trainer.map((e) => e.actor.attrs.owner)).size,
      );
      expect(trainer[0].actor.links).toEqual([
        "k8s-sa:prod-eu:ml-train:trainer",
        "aws-role:123456789012:trainer-s3",
      ]);
      const prep = events.filter((e) => e.resource.name === "preprocess-1");
      expect(prep.find((e) => e.attrs.lifecycle === "end")).toMatchObject({
        outcome: "failure",
        time: "2026-11-24T11:30:01.000Z",
      });
      expect(prep[0].attrs).toMatchObject({
        gpu_count: "1",
        service_account: "feature-pipeline",
        images: "registry.example.com/ml/prep:3",
      });
      const ft = events.find((e) => e.resource.name === "finetune-28871-abcde")!;
      expect(ft.attrs).toMatchObject({ gpu_count: "4", job_name: "finetune-28871" });
      expect(events.find((e) => e.resource.name === "eval-bad" && e.attrs.lifecycle === "end")?.outcome).toBe(
        "failure",
      );

      // The protocol the informers spoke: a bearer token; lists retried after the 500 and relisted after
      // each 410; after the dropped pod watch, a new watch from the last resourceVersion, without a relist.
      expect(api.seen.every((s) => s.authorization === "Bearer test-bearer-token")).toBe(true);
      const lists = (p: string) => api.seen.filter((s) => s.path === p && !s.watch).length;
      expect(lists("/api/v1/serviceaccounts")).toBe(3);
      expect(lists("/apis/batch/v1/jobs")).toBe(2);
      expect(lists("/api/v1/pods")).toBe(1);
      const podWatches = api.seen
        .filter((s) => s.path === "/api/v1/pods" && s.watch)
        .map((s) => s.resourceVersion);
      expect(podWatches.slice(0, 2)).toEqual(["48390", "50004"]);
      expect(refusals).toBeLessThan(0);
      firstRunIds = new Set(events.map((e) => e.id));
    } finally {
      await w.stop();
      await sink.stop();
      await api.close();
    }
  });

  it("after a restart, relists and republishes state whose events all carry ids already seen", async () => {
    expect(firstRunIds?.size).toBeGreaterThan(0);
    const api = await startK8sApi({
      "/api/v1/serviceaccounts": { lists: [{ body: finalSaList }], watches: [] },
      "/api/v1/pods": { lists: [{ body: podList }], watches: [] },
      "/apis/batch/v1/jobs": { lists: [{ body: finalJobList }], watches: [] },
    });
    const sink = await collect(bus, Topics.raw("inventory"));
    const before = await eventually(() => sink.got.length > 0 && sink.got.length);
    const w = new InventoryWatcher({
      kubeConfig: api.kubeConfig,
      cluster: "prod-eu",
      deps: { bus, config: testConfig(dir) },
      resyncMs: 3_600_000,
    });
    try {
      await w.start();
      // 2 service accounts, 3 pods, 1 job (the cluster as the first run left it): each published once.
      const fresh = await eventually(() => sink.got.length >= before + 6 && sink.got.slice(before));
      expect(fresh).toHaveLength(6);
      const ids = normalizeAll(fresh).map((e) => e.id);
      expect(ids.length).toBeGreaterThan(0);
      // Same resourceVersions, same lifecycle steps: every event collapses onto an id the first run produced.
      expect(ids.filter((id) => !firstRunIds.has(id))).toEqual([]);
      // Nothing changed: a resync publishes nothing new.
      w.resync();
      expect(w.backlog).toBe(0);
    } finally {
      await w.stop();
      await sink.stop();
      await api.close();
    }
  });
});
