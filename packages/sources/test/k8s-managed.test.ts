import { describe, expect, it } from "vitest";
import { gkeObjectRef, k8sAudit } from "../src/sources/k8s-audit";
import { fixture, run } from "./helpers";

describe("k8s-audit: webhook EventList and managed-cluster wrappers", () => {
  it("webhook EventList: RequestReceived skipped, credential-id linked, Secret body redacted", () => {
    const r = run(k8sAudit, fixture("k8s-audit/webhook-eventlist.json"));
    expect(r.skipped).toHaveLength(1);
    expect(r.events).toHaveLength(2);
    expect(r.events[0].actor.links).toEqual([
      "k8s-sa:prod-eu:ml-train:trainer",
      "credential:prod-eu:JTI=7f6e5d4c-0000-4000-8000-000000000001",
    ]);
    expect(r.events[0].attrs.pod_name).toBe("train-llm-0");
    expect(r.events[1]).toMatchObject({ outcome: "failure", status_code: 403 });
    expect(JSON.stringify(r.wire)).not.toContain("UExBTlRFRC1LOFMtU0VDUkVU");
  });

  it("AKS records: string and object properties.log; other categories and broken logs are reported", () => {
    const r = run(k8sAudit, fixture("k8s-audit/aks-records.json"));
    expect(r.events.map((e) => e.verb)).toEqual(["create", "delete"]);
    expect(r.events[0].resource.uri).toBe("k8s://prod-eu/ml-train/rolebindings/bob-admin");
    expect(r.events[0].actor.links).toEqual(["human:bob@example.com"]);
    expect(r.rejected).toEqual([
      'AKS record category "kube-apiserver" is not kube-audit',
      "AKS properties.log: malformed JSON",
    ]);
    // NDJSON of single AKS records (as in storage-account exports) works the same.
    const recs = JSON.parse(fixture("k8s-audit/aks-records.json")).records.slice(0, 2);
    expect(run(k8sAudit, recs.map((x: unknown) => JSON.stringify(x)).join("\n")).events).toHaveLength(2);
  });

  it("GKE entries are converted at the collector: the wire record is a redacted audit Event", () => {
    const r = run(k8sAudit, fixture("k8s-audit/gke-entries.json"));
    expect(r.events).toHaveLength(3);
    const wire = r.wire[0] as Record<string, unknown>;
    expect(wire.apiVersion).toBe("audit.k8s.io/v1");
    expect(wire.auditID).toBe("gke0001-op");
    expect(JSON.stringify(r.wire)).not.toContain("UExBTlRFRC1HS0UtU0VDUkVU");
  });

  it("GKE resourceName parsing", () => {
    expect(gkeObjectRef("core/v1/namespaces/ml/secrets/x")).toEqual({
      apiGroup: "",
      apiVersion: "v1",
      namespace: "ml",
      resource: "secrets",
      name: "x",
    });
    expect(gkeObjectRef("core/v1/namespaces/ml/pods/p/exec")).toMatchObject({
      resource: "pods",
      name: "p",
      subresource: "exec",
    });
    expect(gkeObjectRef("rbac.authorization.k8s.io/v1/clusterroles/admin")).toMatchObject({
      apiGroup: "rbac.authorization.k8s.io",
      resource: "clusterroles",
      name: "admin",
    });
    expect(gkeObjectRef("core/v1/namespaces/ml")).toMatchObject({ resource: "namespaces", name: "ml" });
    expect(gkeObjectRef("readyz")).toBeUndefined();
  });
});
