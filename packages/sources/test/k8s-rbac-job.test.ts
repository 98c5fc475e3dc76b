import { describe, expect, it } from "vitest";
import { k8sAudit } from "../src/sources/k8s-audit";

const base = (objectRef: object, requestObject: object, verb = "create") => ({
  kind: "Event",
  apiVersion: "audit.k8s.io/v1",
  level: "RequestResponse",
  auditID: `a-${Math.random()}`,
  stage: "ResponseComplete",
  requestURI: "/apis/x",
  verb,
  user: { username: "alice@example.com", groups: ["system:authenticated"] },
  sourceIPs: ["192.0.2.1"],
  objectRef,
  responseStatus: { code: 201 },
  requestObject,
  requestReceivedTimestamp: "2026-11-02T10:00:00.000Z",
  stageTimestamp: "2026-11-02T10:00:00.010Z",
});

const normalize = (r: unknown) => {
  const n = k8sAudit.normalize(r, { cluster: "prod", receivedAt: "2026-11-02T10:00:01.000Z" });
  if (!n.ok) throw new Error(n.error);
  return n.value.events[0];
};

describe("k8s-audit: RBAC grants and Job conditions", () => {
  it("summarises (Cluster)Role rules as verbs:resources", () => {
    const e = normalize(
      base(
        { resource: "clusterroles", name: "reader", apiGroup: "rbac.authorization.k8s.io" },
        {
          kind: "ClusterRole",
          rules: [
            { verbs: ["get", "list"], resources: ["secrets"] },
            { verbs: ["*"], resources: ["pods/exec"] },
          ],
        },
      ),
    );
    expect(e.attrs.rbac_grants).toBe("get,list:secrets;*:pods/exec");
  });

  it("keeps a binding's roleRef and subjects", () => {
    const e = normalize(
      base(
        { resource: "clusterrolebindings", name: "b", apiGroup: "rbac.authorization.k8s.io" },
        {
          kind: "ClusterRoleBinding",
          roleRef: { kind: "ClusterRole", name: "cluster-admin", apiGroup: "rbac.authorization.k8s.io" },
          subjects: [{ kind: "ServiceAccount", name: "trainer", namespace: "ml" }],
        },
      ),
    );
    expect(e.attrs.role_ref).toBe("ClusterRole/cluster-admin");
    expect(e.attrs.subjects).toBe("ServiceAccount:ml/trainer");
  });

  it("surfaces a Job's terminal condition from a status update, and only a true one", () => {
    const job = (status: string) =>
      base(
        { resource: "jobs", subresource: "status", namespace: "ml", name: "train-1", apiGroup: "batch" },
        {
          kind: "Job",
          metadata: { name: "train-1" },
          status: { conditions: [{ type: "Complete", status }] },
        },
        "update",
      );
    expect(normalize(job("True")).attrs.job_condition).toBe("Complete");
    expect(normalize(job("False")).attrs.job_condition).toBeUndefined();
  });
});
