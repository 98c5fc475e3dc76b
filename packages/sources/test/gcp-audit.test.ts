import { describe, expect, it } from "vitest";
import { routeRecord } from "../src/index";
import { gcpAudit } from "../src/sources/gcp-audit";
import { k8sAudit } from "../src/sources/k8s-audit";
import { fixture, one, run } from "./helpers";

describe("gcp-audit parser", () => {
  it("Pub/Sub push: AccessSecretVersion via GKE Workload Identity → KSA actor, GSA linked (not impersonated), version dropped from URI", () => {
    const e = one(gcpAudit, fixture("gcp-audit/pubsub-access-secret-version.json"));
    expect(e.resource).toMatchObject({
      uri: "gcp-secretmanager://projects/123456789/secrets/wandb-api-key",
      type: "secret",
      name: "wandb-api-key",
    });
    expect(e.attrs.secret_version).toBe("3");
    expect(e.verb).toBe("read");
    expect(e.actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "gcp-sa:trainer-gsa@ml-proj-example.iam.gserviceaccount.com",
    ]);
    // Workload Identity is the KSA acting as its bound GSA: linked, not impersonation (no privilege change).
    expect(e.actor.impersonated).toBeUndefined();
    expect(e.actor.attrs.workload_identity_sa).toBe("trainer-gsa@ml-proj-example.iam.gserviceaccount.com");
    expect(e).toMatchObject({
      outcome: "success",
      src_ip: "192.0.2.50",
      time: "2026-11-20T02:10:00.123Z",
      raw_ref: "sm0001",
    });
  });

  const gcs = run(gcpAudit, fixture("gcp-audit/gcs-data-access.ndjson"));

  it("GCS data access: impersonation puts the first delegate as the caller, the SA as impersonated (not linked)", () => {
    expect(gcs.events).toHaveLength(3);
    const get = gcs.events[0];
    expect(get.actor.principal).toBe("alice@example.com");
    expect(get.actor.links).toEqual(["human:alice@example.com"]);
    expect(get.actor.impersonated).toBe("pipeline-sa@ml-proj-example.iam.gserviceaccount.com");
    expect(get.actor.attrs.delegation_chain).toBe("alice@example.com");
    expect(get.resource).toMatchObject({ uri: "gs://ml-ckpt-example/llm/step-1000.pt", type: "object" });
    expect(get.verb).toBe("read");
  });

  it("status code 7 is a 403 failure; a WIF subject naming a K8s SA links it", () => {
    const deny = gcs.events[1];
    expect(deny).toMatchObject({ outcome: "failure", status_code: 403, verb: "write" });
    expect(deny.reason).toMatch(/^7/);
    expect(deny.actor.links).toEqual(["k8s-sa:prod-eu:ml-train:trainer"]);
    expect(gcs.events[2]).toMatchObject({
      verb: "list",
      resource: { uri: "gs://ml-ckpt-example/", type: "bucket" },
    });
  });

  it("GKE-form WIF subjects and plain service accounts", () => {
    const base = JSON.parse(fixture("gcp-audit/gcs-data-access.ndjson").split("\n")[1]);
    base.protoPayload.authenticationInfo = {
      principalSubject:
        "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p.svc.id.goog/subject/ns/ml-train/sa/trainer",
    };
    expect(one(gcpAudit, JSON.stringify(base)).actor.links).toEqual(["k8s-sa:prod-eu:ml-train:trainer"]);
    base.protoPayload.authenticationInfo = {
      principalEmail: "Pipeline-SA@ml-proj-example.iam.gserviceaccount.com",
    };
    expect(one(gcpAudit, JSON.stringify(base)).actor.links).toEqual([
      "gcp-sa:pipeline-sa@ml-proj-example.iam.gserviceaccount.com",
    ]);
  });

  it("accepts an array and an entries.list response", () => {
    const lines = fixture("gcp-audit/gcs-data-access.ndjson")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(run(gcpAudit, JSON.stringify(lines)).events).toHaveLength(3);
    expect(run(gcpAudit, JSON.stringify({ entries: lines })).events).toHaveLength(3);
  });

  it("GKE k8s.io entries reach the Kubernetes normalizer from either endpoint, with the same event id", () => {
    const viaGcp = run(gcpAudit, fixture("k8s-audit/gke-entries.json"));
    const viaK8s = run(k8sAudit, fixture("k8s-audit/gke-entries.json"));
    expect(viaGcp.events).toHaveLength(3);
    expect(viaGcp.events.map((e) => e.source)).toEqual(["k8s-audit", "k8s-audit", "k8s-audit"]);
    expect(viaGcp.events.map((e) => e.id)).toEqual(viaK8s.events.map((e) => e.id));
    const [get, denied, pod] = viaK8s.events;
    expect(get).toMatchObject({
      verb: "read",
      operation: "get",
      resource: { uri: "k8s://prod-eu/ml-train/secrets/wandb", type: "secrets" },
    });
    expect(get.actor.links).toEqual(["k8s-sa:prod-eu:ml-train:trainer"]);
    expect(denied).toMatchObject({ outcome: "failure", status_code: 403, verb: "list" });
    expect(pod.attrs).toMatchObject({
      gpu_count: "8",
      workload_service_account: "trainer",
      images: "registry.example.com/ml/train:1.4",
    });
    // The collector can route them onto the Kubernetes topic.
    const rec = JSON.parse(fixture("k8s-audit/gke-entries.json")).entries[0];
    expect(routeRecord("gcp-audit", rec)).toBe("k8s-audit");
    expect(
      routeRecord("gcp-audit", JSON.parse(fixture("gcp-audit/gcs-data-access.ndjson").split("\n")[0])),
    ).toBe("gcp-audit");
  });

  it("rejects non-audit entries, bad Pub/Sub data and bad times with reasons", () => {
    const base = JSON.parse(fixture("gcp-audit/gcs-data-access.ndjson").split("\n")[0]);
    const cases: [unknown, RegExp][] = [
      [{ ...base, protoPayload: undefined, jsonPayload: {} }, /no protoPayload/],
      [{ ...base, protoPayload: { ...base.protoPayload, "@type": "type.googleapis.com/other" } }, /@type/],
      [{ ...base, insertId: undefined }, /insertId/],
      [{ ...base, timestamp: "1970-01-01T00:00:00Z" }, /before 2000/],
    ];
    for (const [rec, re] of cases) {
      const a = gcpAudit.accept(rec);
      expect(a.ok).toBe(false);
      if (!a.ok) expect(a.error).toMatch(re);
    }
    const bad = run(
      gcpAudit,
      JSON.stringify({
        subscription: "projects/p/subscriptions/s",
        message: { data: Buffer.from("{not json").toString("base64") },
      }),
    );
    expect(bad.rejected).toEqual(["Pub/Sub message data: malformed JSON"]);
  });
});
