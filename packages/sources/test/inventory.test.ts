import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NormalizedEvent } from "@identrail/schema";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inventory, podGpuCount } from "../src/sources/inventory";

const dir = join(import.meta.dirname, "fixtures/inventory");
const fixture = (f: string) => readFileSync(join(dir, f), "utf8");
const ctx = { cluster: "prod-eu", receivedAt: "2026-11-24T12:00:05.000Z" };

/** Collector half (decode + accept) then detector half (normalize), as the pipeline runs them. */
function run(text: string) {
  const { records, errors } = inventory.decode(text);
  const accepted = records.map((r) => inventory.accept(r));
  const events: NormalizedEvent[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  const wire: string[] = [];
  for (const a of accepted) {
    if (!a.ok) {
      failed.push(a.error);
      continue;
    }
    // What travels on Kafka is JSON; normalize what the detector would parse back.
    const json = JSON.stringify(a.value.record);
    wire.push(json);
    const n = inventory.normalize(JSON.parse(json), ctx);
    if (!n.ok) failed.push(n.error);
    else {
      if (n.value.skipped) skipped.push(n.value.skipped);
      for (const e of n.value.events) events.push(NormalizedEvent.parse(e));
    }
  }
  return { decodeErrors: errors, accepted, events, skipped, failed, wire };
}

describe("inventory parser: service accounts", () => {
  const r = run(fixture("serviceaccount-list.json"));

  it("links the IRSA role and GKE service account to the Kubernetes service account", () => {
    expect(r.failed).toEqual([]);
    expect(r.events).toHaveLength(3);
    const trainer = r.events.find((e) => e.resource.name === "trainer")!;
    expect(trainer.actor.principal).toBe("system:serviceaccount:ml-train:trainer");
    expect(trainer.actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "aws-role:123456789012:trainer-s3",
    ]);
    expect(trainer.actor.attrs).toEqual({
      owner: "ml-platform@example.com",
      purpose: "nightly fine-tuning",
      expires: "2027-01-31T00:00:00Z",
    });
    expect(trainer.resource.uri).toBe("k8s://prod-eu/ml-train/serviceaccounts/trainer");
    expect(trainer.attrs.irsa_role_arn).toBe("arn:aws:iam::123456789012:role/ml/trainer-s3");
    // Annotated after creation: the event time is the last managed-field update, not the wall clock.
    expect(trainer.time).toBe("2026-11-20T14:30:00.000Z");
    expect(trainer.verb).toBe("other");
    const fp = r.events.find((e) => e.resource.name === "feature-pipeline")!;
    expect(fp.actor.links).toEqual([
      "k8s-sa:prod-eu:ml-data:feature-pipeline",
      "gcp-sa:feature-pipeline@example-project.iam.gserviceaccount.com",
    ]);
    expect(fp.attrs.automount_token).toBe("false");
    expect(fp.verb).toBe("create");
    expect(fp.time).toBe("2026-09-12T12:00:00.000Z");
    const def = r.events.find((e) => e.resource.name === "default")!;
    expect(def.actor.attrs).toEqual({});
  });

  it("keys each record by the service account username", () => {
    expect(r.accepted.map((a) => a.ok && a.value.key)).toEqual([
      "system:serviceaccount:ml-train:trainer",
      "system:serviceaccount:ml-data:feature-pipeline",
      "system:serviceaccount:ml-train:default",
    ]);
  });

  it("drops every annotation but the identity ones before the record leaves the collector", () => {
    for (const w of r.wire) expect(w).not.toMatch(/PLANTED-SECRET|last-applied|trainer-token/);
  });

  it("gives the same id to the same resourceVersion and a new one to a change", () => {
    const again = run(fixture("serviceaccount-list.json"));
    expect(again.events.map((e) => e.id)).toEqual(r.events.map((e) => e.id));
    const changed = JSON.parse(fixture("serviceaccount-list.json"));
    changed.items[0].metadata.resourceVersion = "49000";
    const c = run(JSON.stringify(changed));
    expect(c.events[0].id).not.toBe(r.events[0].id);
    expect(c.events[1].id).toBe(r.events[1].id);
  });
});

describe("inventory parser: pods and jobs", () => {
  it("emits start and end for a finished pod, with GPUs, images, job and deadline", () => {
    const r = run(fixture("pod-list.json"));
    expect(r.failed).toEqual([]);
    expect(r.skipped).toEqual(["Pod not started yet"]);
    const ft = r.events.filter((e) => e.resource.name === "finetune-28871-abcde");
    expect(ft.map((e) => [e.attrs.lifecycle, e.time, e.verb, e.outcome])).toEqual([
      ["start", "2026-11-24T02:00:03.000Z", "create", "success"],
      ["end", "2026-11-24T05:09:59.000Z", "other", "success"],
    ]);
    expect(ft[0].actor.principal).toBe("system:serviceaccount:ml-train:trainer");
    expect(ft[0].actor.links).toEqual(["k8s-sa:prod-eu:ml-train:trainer"]);
    expect(ft[0].resource.uri).toBe("k8s://prod-eu/ml-train/pods/finetune-28871-abcde");
    expect(ft[0].attrs).toMatchObject({
      gpu_count: "4", // max(4 in the app container, 1 in the init container)
      images:
        "registry.example.com/ml/fetch:1.2,registry.example.com/ml/train:4.0,registry.example.com/ml/metrics:0.3",
      service_account: "trainer",
      namespace: "ml-train",
      job_name: "finetune-28871",
      phase: "Succeeded",
    });
    expect(ft[0].attrs.active_deadline_seconds).toBeUndefined();
    const nb = r.events.filter((e) => e.resource.name === "notebook-0");
    expect(nb.map((e) => e.attrs.lifecycle)).toEqual(["start"]);
    // A sidecar init container (restartPolicy Always) keeps its GPU next to the app container's two.
    expect(nb[0].attrs.gpu_count).toBe("3");
    expect(nb[0].attrs.active_deadline_seconds).toBe("28800");
    for (const w of r.wire) expect(w).not.toMatch(/PLANTED-SECRET|HF_TOKEN|--token/);
  });

  it("ends a job on Complete (success) or Failed (failure)", () => {
    const r = run(fixture("job-list.json"));
    expect(r.failed).toEqual([]);
    const rows = r.events.map((e) => [e.resource.name, e.attrs.lifecycle, e.time, e.outcome]);
    expect(rows).toEqual([
      ["finetune-28871", "start", "2026-11-24T02:00:00.000Z", "success"],
      ["finetune-28871", "end", "2026-11-24T05:10:02.000Z", "success"],
      ["eval-bad", "start", "2026-11-24T06:00:01.000Z", "success"],
      ["eval-bad", "end", "2026-11-24T06:20:00.000Z", "failure"],
    ]);
    const job = r.events[0];
    expect(job.resource.uri).toBe("k8s://prod-eu/ml-train/jobs/finetune-28871");
    expect(job.attrs).toMatchObject({
      job_name: "finetune-28871",
      gpu_count: "4",
      active_deadline_seconds: "21600",
      succeeded: "1",
      failed: "0",
    });
    expect(r.events[3].attrs).toMatchObject({ failed: "3", gpu_count: "0", service_account: "default" });
    expect(r.accepted.map((a) => a.ok && a.value.key)).toEqual([
      "system:serviceaccount:ml-train:trainer",
      "system:serviceaccount:ml-train:default",
    ]);
    for (const w of r.wire) expect(w).not.toMatch(/PLANTED-SECRET/);
  });

  it("follows a watch stream: each lifecycle step once, whatever record shows it again", () => {
    const r = run(fixture("watch-events.ndjson"));
    expect(r.failed).toEqual([]);
    const byStep = new Map<string, NormalizedEvent>();
    for (const e of r.events) byStep.set(e.id, e);
    const pod = [...byStep.values()].filter((e) => e.resource.type === "pods");
    expect(pod.map((e) => [e.attrs.lifecycle, e.time, e.verb])).toEqual([
      ["start", "2026-11-24T11:00:02.000Z", "create"],
      ["end", "2026-11-24T11:30:01.000Z", "other"],
      ["delete", "2026-11-24T11:30:30.000Z", "delete"],
    ]);
    expect(pod[1].outcome).toBe("failure");
    // MODIFIED and DELETED both prove the start: same id, so it collapses downstream.
    expect(r.events.filter((e) => e.attrs.lifecycle === "start" && e.resource.type === "pods")).toHaveLength(
      2,
    );
    const sa = [...byStep.values()].find((e) => e.resource.type === "serviceaccounts")!;
    // No deletionTimestamp on a deleted service account: the watcher's observation time stands in.
    expect([sa.verb, sa.time, sa.attrs.lifecycle]).toEqual(["delete", "2026-11-24T12:00:00.000Z", "delete"]);
  });
});

describe("inventory parser: bad input", () => {
  it("rejects records it cannot use, with reasons, and never throws", () => {
    const bad = [
      '{"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"a","namespace":"b","uid":"c"}}}',
      '{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","namespace":"b"}}}',
      '{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"1"}}}',
      '{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","namespace":"b:c","uid":"u"}}}',
      "[1,2",
    ].join("\n");
    const { records, errors } = inventory.decode(bad);
    expect(errors.map((e) => e.reason)).toEqual(["line 5: malformed JSON"]);
    expect(records.map((x) => inventory.accept(x)).map((a) => !a.ok && a.error)).toEqual([
      "object kind is not ServiceAccount, Pod or Job",
      "missing metadata.uid",
      "type is not ADDED, MODIFIED, DELETED or SYNC",
      "name or namespace contains ':' or '/'",
    ]);
    const old = {
      type: "SYNC",
      object: {
        kind: "Pod",
        metadata: { name: "p", namespace: "n", uid: "u" },
        status: { startTime: "1970-01-01T00:00:00Z" },
      },
    };
    const n = inventory.normalize(old, ctx);
    expect(n.ok).toBe(false);
    expect(!n.ok && n.error).toBe("start: timestamp before 2000-01-01");
  });

  it("never throws on generated input", () => {
    const k8sish = fc.record({
      type: fc.constantFrom("ADDED", "MODIFIED", "DELETED", "SYNC", "X"),
      object: fc.record({
        kind: fc.constantFrom("Pod", "Job", "ServiceAccount", "Node"),
        metadata: fc.record(
          { name: fc.string(), namespace: fc.string(), uid: fc.string(), annotations: fc.anything() },
          { requiredKeys: [] },
        ),
        spec: fc.anything(),
        status: fc.anything(),
      }),
    });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), k8sish), (v) => {
        const a = inventory.accept(v);
        inventory.redact?.(v);
        const n = inventory.normalize(a.ok ? a.value.record : v, ctx);
        expect(typeof n.ok).toBe("boolean");
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(Array.isArray(inventory.decode(s).records)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("counts GPUs by the scheduler's rule", () => {
    const c = (limits: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      resources: { limits },
      ...extra,
    });
    expect(podGpuCount({ containers: [c({ "nvidia.com/gpu": "2" }), c({ "nvidia.com/gpu": 1 })] })).toBe(3);
    expect(
      podGpuCount({
        containers: [c({ "nvidia.com/gpu": "1" })],
        initContainers: [c({ "nvidia.com/gpu": "8" })],
      }),
    ).toBe(8);
    expect(podGpuCount({ containers: [{ resources: { requests: { "amd.com/gpu": "2" } } }] })).toBe(2);
    expect(podGpuCount({ containers: [c({ "nvidia.com/gpu": "-1", cpu: "4" })] })).toBe(0);
  });
});
