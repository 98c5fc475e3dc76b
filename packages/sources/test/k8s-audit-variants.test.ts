/**
 * Kubernetes audit output as real clusters write it, beyond the happy path: the log backend's variants
 * (watch, non-resource URLs, IPv6 and proxy chains, TokenRequest/TokenReview bodies, exec over
 * websocket, Panic, impersonation, Pod Security and webhook annotations, namespaces), its legacy text
 * format, log shippers' wrappers, and the managed services' own shapes (GKE Cloud Audit Log entries,
 * AKS storage-account blobs). Fixtures are written from the audit.k8s.io/v1 reference and the vendors'
 * documentation, redacted (example.com, 192.0.2.0/24, 2001:db8::/32).
 */
import { describe, expect, it } from "vitest";
import { gcpAudit } from "../src/sources/gcp-audit";
import { k8sAudit, objectRefFromUri } from "../src/sources/k8s-audit";
import { CTX, fixture, run } from "./helpers";

const PLANT = /PLANTED|UExBTlRFRC/; // UExBTlRFRC… is base64 of "PLANTED…"

/** Nothing planted survives accept (bus), redact (dead letters) or normalize (store). */
function expectClean(text: string) {
  expect(text).toMatch(PLANT);
  const r = run(k8sAudit, text);
  expect(JSON.stringify(r.wire)).not.toMatch(PLANT);
  expect(JSON.stringify(r.events)).not.toMatch(PLANT);
  for (const rec of k8sAudit.decode(text).records)
    expect(JSON.stringify(k8sAudit.redact?.(rec) ?? null)).not.toMatch(PLANT);
}

const id = (n: number) => `7c0a1f3e-0000-4000-8000-${String(n).padStart(12, "0")}`;

describe("k8s-audit: log backend variants", () => {
  const text = fixture("k8s-audit/log-backend-variants.ndjson");
  const r = run(k8sAudit, text);
  const ev = (n: number, stage = "ResponseComplete") => {
    const e = r.events.find((x) => x.raw_ref === `${id(n)}/${stage}`);
    if (!e) throw new Error(`no event ${n}/${stage}`);
    return e;
  };

  it("every line is accepted; only RequestReceived and a watch's ResponseStarted are skipped", () => {
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.skipped).toHaveLength(2);
    expect(r.events).toHaveLength(20);
  });

  it("a long-running watch is a list at the time the request was received, not when it ended", () => {
    expect(ev(1)).toMatchObject({
      verb: "list",
      operation: "watch",
      time: "2026-11-20T03:00:00.123Z",
      resource: { uri: "k8s://prod-eu/ml-train/jobs", type: "jobs", namespace: "ml-train" },
    });
    expect(ev(1).attrs.api_group).toBe("batch");
  });

  it("non-resource URLs: path without query, anonymous caller, IPv6 source, proxy chain kept", () => {
    expect(ev(2)).toMatchObject({
      verb: "read",
      src_ip: "2001:db8::10",
      outcome: "success",
      resource: { uri: "k8s://prod-eu/_/nonresource/healthz", type: "nonresource" },
      actor: { principal: "system:anonymous", type: "unknown", links: ["k8s-user:prod-eu:system:anonymous"] },
    });
    expect(ev(3).src_ip).toBe("2001:db8:0:1::20");
    expect(ev(3).attrs.source_ips).toBe("2001:db8:0:1::20,192.0.2.20");
    expect(ev(4)).toMatchObject({ outcome: "failure", status_code: 403, reason: "Forbidden" });
    expect(ev(4).attrs.decision).toBe("forbid");
  });

  it("selfsubjectaccessreviews is a cluster-scoped create", () => {
    expect(ev(5)).toMatchObject({
      verb: "create",
      status_code: 201,
      resource: { uri: "k8s://prod-eu/_/selfsubjectaccessreviews" },
    });
  });

  it("TokenRequest (serviceaccounts/token): the minted token is dropped, the target SA stays", () => {
    expect(ev(6)).toMatchObject({
      operation: "create serviceaccounts/token",
      verb: "create",
      resource: { uri: "k8s://prod-eu/ml-train/serviceaccounts/trainer/token", name: "trainer" },
    });
    const wire = r.wire.find((w) => (w as { auditID: string }).auditID === id(6)) as Record<string, unknown>;
    expect(wire.requestObject).toEqual({ redacted: true });
    expect(wire.responseObject).toEqual({ redacted: true });
  });

  it("exec over websocket (verb get, code 101): both ResponseStarted and ResponseComplete are exec", () => {
    for (const stage of ["ResponseStarted", "ResponseComplete"])
      expect(ev(7, stage)).toMatchObject({
        verb: "exec",
        outcome: "success",
        status_code: 101,
        resource: { uri: "k8s://prod-eu/ml-train/pods/train-llm-0/exec" },
      });
  });

  it("Panic is a failure with the apiserver's status", () => {
    expect(ev(11, "Panic")).toMatchObject({ outcome: "failure", status_code: 500, reason: "InternalError" });
  });

  it("impersonation: the authenticated user acts, the impersonated one is named", () => {
    expect(ev(12).actor).toMatchObject({
      principal: "oidc:bob@example.com",
      impersonated: "system:serviceaccount:ml-train:trainer",
    });
    expect(ev(12).attrs.impersonated_groups).toContain("system:serviceaccounts:ml-train");
  });

  it("Pod create with Pod Security and webhook annotations keeps the workload facts", () => {
    expect(ev(13).attrs).toMatchObject({
      workload_service_account: "llm-api",
      images: "registry.example.com/ml/llm-api:2.3.1",
      gpu_count: "2",
      owner: "ReplicaSet/llm-api-6d9f7c8b5",
    });
  });

  it("a forbidden list carries the Status reason and the authorizer's decision", () => {
    expect(ev(14)).toMatchObject({ outcome: "failure", status_code: 403, reason: "Forbidden" });
  });

  it("a namespace is one resource whether its objectRef names a namespace (delete) or not (create)", () => {
    const create = ev(16);
    const del = ev(17);
    expect(create.resource).toEqual(del.resource);
    expect(del.resource).toMatchObject({
      uri: "k8s://prod-eu/_/namespaces/team-a",
      name: "team-a",
      namespace: "team-a",
    });
  });

  it("a policy without annotations or user.extra still normalizes", () => {
    expect(ev(20)).toMatchObject({ outcome: "success", verb: "read", reason: "" });
    expect(ev(21)).toMatchObject({ verb: "delete", operation: "deletecollection" });
  });

  it("secret material: Secret bodies, TokenRequest/TokenReview tokens, webhook patches of a Secret", () => {
    expectClean(text);
    const wire = (n: number) =>
      r.wire.find((w) => (w as { auditID: string }).auditID === id(n)) as Record<string, unknown>;
    expect(wire(15).requestObject).toEqual({ redacted: true });
    const ann = wire(10).annotations as Record<string, string>;
    expect(ann["patch.webhook.admission.k8s.io/round_0_index_0"]).toBe("[redacted]");
    // What a webhook did (without values) and the authorizer's annotations stay.
    expect(ann["mutation.webhook.admission.k8s.io/round_0_index_0"]).toContain('"mutated":true');
    expect(ann["authorization.k8s.io/decision"]).toBe("allow");
    // A Pod's webhook annotations are not secret: kept as written.
    const pod = wire(13).annotations as Record<string, string>;
    expect(pod["pod-security.kubernetes.io/enforce-policy"]).toBe("baseline:latest");
  });

  it("a Metadata-level event with nothing to redact leaves accept as the same object", () => {
    const rec = k8sAudit.decode(text).records[2];
    const a = k8sAudit.accept(rec);
    expect(a.ok && a.value.record).toBe(rec);
  });
});

describe("k8s-audit: legacy text format and log shippers", () => {
  it("--audit-log-format=legacy lines become Events; the objectRef comes from the URI", () => {
    const r = run(k8sAudit, fixture("k8s-audit/legacy-format.log"));
    expect(r.decodeErrors).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.skipped).toHaveLength(1);
    expect(r.events.map((e) => [e.verb, e.resource.uri, e.outcome])).toEqual([
      ["read", "k8s://prod-eu/ml-train/secrets/hf-token", "success"],
      ["exec", "k8s://prod-eu/ml-train/pods/train-llm-0/exec", "failure"],
      ["create", "k8s://prod-eu/_/clusterrolebindings", "success"],
      ["read", "k8s://prod-eu/_/nonresource/readyz", "success"],
      ["list", "k8s://prod-eu/ml-train/pods", "success"],
    ]);
    expect(r.events[0]).toMatchObject({
      time: "2026-11-24T06:00:00.123Z",
      src_ip: "192.0.2.90",
      actor: {
        principal: "system:serviceaccount:ml-train:trainer",
        links: ["k8s-sa:prod-eu:ml-train:trainer"],
      },
    });
    expect(r.events[0].actor.groups).toEqual([
      "system:serviceaccounts",
      "system:serviceaccounts:ml-train",
      "system:authenticated",
    ]);
    expect(r.events[1].actor).toMatchObject({
      principal: "oidc:bob@example.com",
      impersonated: "system:serviceaccount:ml-train:trainer",
    });
    expect(r.events[1].src_ip).toBe("2001:db8::5");
    // <none> user, <unknown> ip
    expect(r.events[3].actor.principal).toBe("system:anonymous");
    expect(r.events[3].src_ip).toBe("");
  });

  it("a broken legacy line is reported alone; JSON bodies never take the legacy path", () => {
    const lines = fixture("k8s-audit/legacy-format.log").split("\n");
    const r = run(k8sAudit, [lines[1], "garbage without the marker", lines[2]].join("\n"));
    expect(r.decodeErrors).toEqual(["line 2: not a legacy audit line"]);
    expect(r.events).toHaveLength(2);
    const ev = JSON.parse(fixture("k8s-audit/log-backend-variants.ndjson").split("\n")[2]);
    ev.userAgent = 'probe AUDIT: id="x"';
    expect(k8sAudit.decode(` ${JSON.stringify(ev)}`).records).toEqual([ev]);
  });

  it("a long unterminated legacy value ends the fields in linear time", () => {
    const line = `2026-11-24T06:00:00Z AUDIT: id="x" stage="ResponseComplete" method="get" uri="${"a".repeat(1 << 20)}`;
    const t0 = Date.now();
    expect(k8sAudit.decode(line).records).toMatchObject([{ auditID: "x", verb: "get", requestURI: "" }]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("request URIs map to objectRefs the way the apiserver's request info does", () => {
    expect(objectRefFromUri("/api/v1/namespaces/ml/pods/p/exec?command=sh")).toEqual({
      apiGroup: "",
      apiVersion: "v1",
      namespace: "ml",
      resource: "pods",
      name: "p",
      subresource: "exec",
    });
    expect(objectRefFromUri("/apis/apps/v1/namespaces/ml/deployments")).toMatchObject({
      apiGroup: "apps",
      namespace: "ml",
      resource: "deployments",
    });
    expect(objectRefFromUri("/api/v1/watch/namespaces/ml/pods")).toMatchObject({
      namespace: "ml",
      resource: "pods",
    });
    expect(objectRefFromUri("/api/v1/nodes/n1/status")).toMatchObject({
      resource: "nodes",
      name: "n1",
      subresource: "status",
    });
    for (const nonResource of ["/healthz", "/api", "/api/v1", "/apis/apps/v1", "/metrics", "/openapi/v2"])
      expect(objectRefFromUri(nonResource)).toBeUndefined();
  });

  it("Docker json-file and Fluent Bit records ({log: <line>}) are unwrapped to their Event", () => {
    const lines = fixture("k8s-audit/log-backend-variants.ndjson").trim().split("\n");
    const docker = lines
      .slice(0, 3)
      .map((l) => JSON.stringify({ log: `${l}\n`, stream: "stdout", time: "2026-11-20T03:20:00.000000001Z" }))
      .join("\n");
    const d = run(k8sAudit, docker);
    expect(d.rejected).toEqual([]);
    expect(d.events.map((e) => e.raw_ref)).toEqual([
      `${id(1)}/ResponseComplete`,
      `${id(2)}/ResponseComplete`,
    ]);
    // Fluent Bit's http output: a JSON array of records; a non-audit line among them is rejected alone.
    const fb = [
      ...lines.slice(3, 6).map((l) => ({ date: 1795230000.1, log: l })),
      { date: 1795230000.5, log: "I1120 03:20:00.000000 1 trace.go:236] Trace[1]: not an audit line" },
    ];
    const f = run(k8sAudit, JSON.stringify(fb));
    expect(f.rejected).toEqual(["shipped log line is not a JSON audit event"]);
    expect(f.events).toHaveLength(3);
    // Vector's file source names the line `message`; a CRI prefix inside the line is skipped.
    const v = run(
      k8sAudit,
      JSON.stringify({
        file: "/var/log/kube-apiserver/audit.log",
        message: `2026-11-20T03:20:00Z stdout F ${lines[9]}`,
      }),
    );
    expect(v.events.map((e) => e.resource.uri)).toEqual(["k8s://prod-eu/ml-train/secrets/hf-token"]);
    expectClean(JSON.stringify({ message: lines[9] }));
  });
});

describe("k8s-audit: GKE and AKS variants", () => {
  it("GKE: Google service accounts are service accounts, exec/token subresources, IPv6, namespaces, denials", () => {
    const r = run(k8sAudit, fixture("k8s-audit/gke-variants.json"));
    expect(r.rejected).toEqual([]);
    expect(r.events).toHaveLength(7);
    const [deploy, exec, token, ns, crb, livez] = r.events;
    expect(deploy.actor).toMatchObject({
      principal: "ci-deployer@ml-proj-example.iam.gserviceaccount.com",
      type: "service_account",
      links: ["gcp-sa:ci-deployer@ml-proj-example.iam.gserviceaccount.com"],
    });
    expect(exec).toMatchObject({ verb: "exec", src_ip: "2001:db8:1::44", time: "2026-11-22T10:01:00.500Z" });
    expect(exec.actor.links).toEqual(["human:alice@example.com"]);
    expect(token.resource.uri).toBe("k8s://prod-eu/ml-train/serviceaccounts/trainer/token");
    // Same URI as the raw apiserver event for the same namespace.
    expect(ns.resource).toMatchObject({ uri: "k8s://prod-eu/_/namespaces/team-a", namespace: "team-a" });
    expect(crb).toMatchObject({
      outcome: "failure",
      status_code: 403,
      resource: { uri: "k8s://prod-eu/_/clusterrolebindings/ci-admin" },
    });
    expect(livez.resource.uri).toBe("k8s://prod-eu/_/nonresource/livez");
    expectClean(fixture("k8s-audit/gke-variants.json"));
  });

  it("GKE entries posted to /ingest/gcp-audit give the same events", () => {
    const viaK8s = run(k8sAudit, fixture("k8s-audit/gke-variants.json"));
    const viaGcp = run(gcpAudit, fixture("k8s-audit/gke-variants.json"));
    expect(viaGcp.events.map((e) => [e.id, e.actor.links, e.resource.uri])).toEqual(
      viaK8s.events.map((e) => [e.id, e.actor.links, e.resource.uri]),
    );
  });

  it("AKS storage-account blob (one record per line): string and object logs, skipped-too-big bodies", () => {
    const text = fixture("k8s-audit/aks-storage-pt1h.ndjson");
    const r = run(k8sAudit, text);
    expect(r.rejected).toEqual([]);
    expect(r.events.map((e) => [e.time, e.resource.uri, e.actor.links[0]])).toEqual([
      ["2026-11-23T08:00:00.000Z", "k8s://prod-eu/ml-train/secrets/registry-cred", "human:alice@example.com"],
      [
        "2026-11-23T08:01:00.000Z",
        "k8s://prod-eu/_/nodes/aks-gpu-12345678-vmss000000/status",
        "k8s-sa:prod-eu:kube-system:cloud-node-manager",
      ],
    ]);
    expectClean(text);
  });

  it("the cluster name comes from the request, never from the payload", () => {
    const r = run(k8sAudit, fixture("k8s-audit/gke-variants.json"), { ...CTX, cluster: "gke-eu" });
    expect(r.events[1].resource.uri).toBe("k8s://gke-eu/ml-train/pods/train-llm-0/exec");
  });
});
