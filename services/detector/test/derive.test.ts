/**
 * Identity events derived from real parser output: K8s audit Events (test/helpers/k8s.ts through the
 * k8s-audit parser), inventory watch events, and — when ../shared/corpus is present — CloudTrail and Vault
 * samples from the corpus (read in place, never copied).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@identrail/config";
import type { IdentityEvent, NormalizedEvent, SourceName } from "@identrail/schema";
import { parserFor } from "@identrail/sources";
import { describe, expect, it } from "vitest";
import { k8sEvent } from "../../../test/helpers/k8s";
import { ResourceCatalog } from "../src/catalog";
import { copySourceUri, deriveIdentityEvents } from "../src/derive";
import { IdentityResolver } from "../src/resolver";
import { IdentityState } from "../src/state";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const corpusDir = path.resolve(repoRoot, "../shared/corpus");
const config = parseConfig({
  default_cluster: "prod",
  resources: [
    { match: "s3://acme-checkpoints/**", kind: "checkpoint" },
    { match: "s3://elastic-cspm-cloudtrail-test-bucket/test-copy-object/**", kind: "dataset" },
  ],
});
const catalog = new ResourceCatalog(config.resources);
const resolver = new IdentityResolver(undefined);

function normalize(source: SourceName, record: unknown): NormalizedEvent[] {
  const p = parserFor(source)!;
  const a = p.accept(record);
  if (!a.ok) throw new Error(a.error);
  const n = p.normalize(JSON.parse(JSON.stringify(a.value.record)), {
    cluster: "prod",
    receivedAt: "2026-11-24T12:00:00.000Z",
  });
  if (!n.ok) throw new Error(n.error);
  for (const e of n.value.events) resolver.resolve(e);
  return n.value.events;
}
const derive = (source: SourceName, record: unknown, state?: IdentityState): IdentityEvent[] =>
  normalize(source, record).flatMap((e) => deriveIdentityEvents(e, catalog, { config, state }));
const kinds = (ies: IdentityEvent[]) => ies.map((i) => `${i.kind}@${i.identity_id}`);

const T = "2026-11-03T10:00:00.000Z";
const pod = (sa: string, gpus: number, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "train-abc12", namespace: "ml-training", ...extra },
  spec: {
    serviceAccountName: sa,
    containers: [
      {
        name: "m",
        image: "registry.example.com/t:1",
        resources: { limits: { "nvidia.com/gpu": String(gpus) } },
      },
    ],
  },
});

describe("derive: Kubernetes audit", () => {
  it("gives a GPU pod's gpu_job and job start to the service account it runs as, not its creator", () => {
    const ies = derive(
      "k8s-audit",
      k8sEvent({
        user: "alice@example.com",
        verb: "create",
        resource: "pods",
        namespace: "ml-training",
        name: "train-abc12",
        time: T,
        requestObject: pod("fine-tuning-job", 4),
      }),
    );
    expect(kinds(ies).sort()).toEqual([
      "gpu_job@k8s-sa:prod:ml-training:fine-tuning-job",
      "job_lifecycle@k8s-sa:prod:ml-training:fine-tuning-job",
    ]);
    const g = ies.find((i) => i.kind === "gpu_job")!;
    expect(g.attrs).toMatchObject({
      gpu_count: "4",
      namespace: "ml-training",
      creator: "human:alice@example.com",
      images: "registry.example.com/t:1",
    });
    expect(ies.find((i) => i.kind === "job_lifecycle")!.attrs).toMatchObject({
      phase: "start",
      workload: "train-abc12",
      pod: "train-abc12",
    });
  });

  it("ends a workload on pod deletion (response object names the service account) and counts a Job's pods once", () => {
    const del = derive(
      "k8s-audit",
      k8sEvent({
        user: "system:node:n1",
        verb: "delete",
        resource: "pods",
        namespace: "ml-training",
        name: "train-abc12",
        time: T,
        responseObject: pod("fine-tuning-job", 4, { labels: { "job-name": "train" } }),
      }),
    );
    expect(kinds(del)).toEqual(["job_lifecycle@k8s-sa:prod:ml-training:fine-tuning-job"]);
    expect(del[0].attrs).toMatchObject({ phase: "end", workload: "train", pod: "train-abc12" });
    const jobPod = derive(
      "k8s-audit",
      k8sEvent({
        user: "system:serviceaccount:kube-system:job-controller",
        verb: "create",
        resource: "pods",
        namespace: "ml-training",
        time: T,
        requestObject: pod("fine-tuning-job", 4, { labels: { "job-name": "train" } }),
      }),
    );
    expect(kinds(jobPod)).toEqual(["job_lifecycle@k8s-sa:prod:ml-training:fine-tuning-job"]);
  });

  it("ends a Job on a jobs/status update carrying a terminal condition", () => {
    const [e] = normalize(
      "k8s-audit",
      k8sEvent({
        user: "system:serviceaccount:kube-system:job-controller",
        verb: "update",
        resource: "jobs",
        subresource: "status",
        namespace: "ml-training",
        name: "train",
        time: T,
        requestObject: {
          kind: "Job",
          spec: { template: { spec: { serviceAccountName: "fine-tuning-job", containers: [] } } },
        },
      }),
    );
    expect(deriveIdentityEvents(e, catalog).filter((i) => i.kind === "job_lifecycle")).toEqual([]);
    // The condition is surfaced by the parser as attrs.job_condition (Complete / Failed).
    const ies = deriveIdentityEvents({ ...e, attrs: { ...e.attrs, job_condition: "Complete" } }, catalog);
    expect(kinds(ies)).toEqual(["job_lifecycle@k8s-sa:prod:ml-training:fine-tuning-job"]);
    expect(ies[0].attrs.phase).toBe("end");
  });

  it("derives privilege changes: RBAC writes, token requests for a service account, impersonation", () => {
    const rb = derive(
      "k8s-audit",
      k8sEvent({
        user: "bob@example.com",
        verb: "create",
        resource: "clusterrolebindings",
        apiGroup: "rbac.authorization.k8s.io",
        name: "x",
        time: T,
      }),
    );
    expect(rb.map((i) => [i.kind, i.attrs.change])).toEqual([["privilege_change", "rbac"]]);
    const tok = derive(
      "k8s-audit",
      k8sEvent({
        user: "bob@example.com",
        verb: "create",
        resource: "serviceaccounts",
        subresource: "token",
        namespace: "ml-training",
        name: "fine-tuning-job",
        time: T,
      }),
    );
    expect(tok.map((i) => [i.kind, i.attrs.change, i.attrs.target])).toEqual([
      ["privilege_change", "token", "k8s-sa:prod:ml-training:fine-tuning-job"],
    ]);
    const imp = derive(
      "k8s-audit",
      k8sEvent({
        user: "bob@example.com",
        verb: "get",
        resource: "pods",
        namespace: "a",
        time: T,
        impersonatedUser: "carol@example.com",
      }),
    );
    expect(imp.map((i) => [i.kind, i.attrs.target])).toEqual([["privilege_change", "carol@example.com"]]);
  });

  it("derives secret reads and denials, and off-hours access for people", () => {
    expect(
      kinds(
        derive(
          "k8s-audit",
          k8sEvent({
            user: "bob@example.com",
            verb: "get",
            resource: "secrets",
            namespace: "a",
            name: "s",
            time: T,
          }),
        ),
      ),
    ).toEqual(["secret_read@human:bob@example.com"]);
    expect(
      kinds(
        derive(
          "k8s-audit",
          k8sEvent({
            user: "bob@example.com",
            verb: "list",
            resource: "secrets",
            namespace: "a",
            time: T,
            code: 403,
          }),
        ),
      ),
    ).toEqual(["access_denied@human:bob@example.com"]);
    const night = derive(
      "k8s-audit",
      k8sEvent({
        user: "bob@example.com",
        verb: "get",
        resource: "pods",
        namespace: "a",
        time: "2026-11-03T03:00:00.000Z",
      }),
    );
    expect(night.map((i) => [i.kind, i.attrs.reason])).toEqual([
      ["off_hours_access", "outside configured working hours"],
    ]);
  });

  it("judges a service account's hour against its learned schedule once it is past learning", () => {
    const s = new IdentityState("k8s-sa:prod:ml-training:fine-tuning-job");
    s.firstSeen = Date.parse("2026-10-01T00:00:00Z");
    s.learn("how", "d1h2", s.firstSeen);
    const ev = (h: string) =>
      k8sEvent({
        user: "system:serviceaccount:ml-training:fine-tuning-job",
        verb: "get",
        resource: "configmaps",
        namespace: "ml-training",
        time: `2026-11-03T${h}:00:00.000Z`,
      });
    expect(kinds(derive("k8s-audit", ev("02"), s))).toEqual([]);
    expect(kinds(derive("k8s-audit", ev("14"), s))).toEqual([
      "off_hours_access@k8s-sa:prod:ml-training:fine-tuning-job",
    ]);
  });
});

describe("derive: inventory", () => {
  it("turns Job start and completion into job_lifecycle and gpu_job on the Job's service account", () => {
    const job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "train-1", namespace: "ml-training", uid: "u-1" },
      spec: {
        activeDeadlineSeconds: 3600,
        template: {
          spec: {
            serviceAccountName: "fine-tuning-job",
            containers: [
              {
                name: "m",
                image: "registry.example.com/t:1",
                resources: { limits: { "nvidia.com/gpu": "8" } },
              },
            ],
          },
        },
      },
      status: { startTime: "2026-11-03T02:00:00Z", completionTime: "2026-11-03T05:00:00Z", succeeded: 1 },
    };
    const ies = derive("inventory", { type: "MODIFIED", object: job });
    expect(ies.map((i) => `${i.kind}:${i.attrs.phase ?? ""}@${i.identity_id}`).sort()).toEqual([
      "gpu_job:@k8s-sa:prod:ml-training:fine-tuning-job",
      "job_lifecycle:end@k8s-sa:prod:ml-training:fine-tuning-job",
      "job_lifecycle:start@k8s-sa:prod:ml-training:fine-tuning-job",
    ]);
    expect(ies.find((i) => i.kind === "gpu_job")!.attrs).toMatchObject({
      gpu_count: "8",
      active_deadline_seconds: "3600",
      workload: "train-1",
    });
  });
});

describe("derive: copy sources", () => {
  it("reads CloudTrail's bucket/key and URL-encoded forms", () => {
    expect(copySourceUri("acme-checkpoints/llm/a%20b.pt?versionId=1", "s3://x/y")).toBe(
      "s3://acme-checkpoints/llm/a b.pt",
    );
    expect(copySourceUri("s3://acme/k", "s3://x/y")).toBe("s3://acme/k");
  });
});

const present = existsSync(corpusDir);
if (!present) console.log(`shared corpus not found at ${corpusDir}: corpus-based derive tests do not run`);
if (present)
  describe("derive: shared corpus samples", () => {
    const lines = (rel: string) =>
      readFileSync(path.join(corpusDir, rel), "utf8")
        .split("\n")
        .filter((l) => l.trim().startsWith("{"))
        .map((l) => JSON.parse(l));

    it("CloudTrail CopyObject: an artifact_transfer copy with source, destination and bytes", () => {
      const [rec] = lines("aws/cloudtrail/elastic_cloudtrail_test-copy-object-json.log");
      const [t] = derive("cloudtrail", rec).filter((i) => i.kind === "artifact_transfer");
      expect(t.attrs).toMatchObject({
        direction: "copy",
        source: "s3://elastic-cspm-cloudtrail-test-bucket/test-copy-object/README.md",
        destination: "s3://elastic-cspm-cloudtrail-test-bucket/test-copy-object/README-copy.md",
        source_kind: "dataset",
        bytes_out: "224",
      });
      expect(t.resource_kind).toBe("dataset");
      expect(t.bytes).toBe(224);
    });

    it("CloudTrail PutObject to an uncatalogued bucket flows as generic activity with the same shape", () => {
      const [rec] = lines("aws/cloudtrail/elastic_cloudtrail_test-put-object-json.log");
      const ies = derive("cloudtrail", rec);
      expect(ies.map((i) => i.kind)).toContain("activity");
      expect(ies.map((i) => i.kind)).not.toContain("artifact_transfer");
      expect(ies.find((i) => i.kind === "activity")!.attrs.direction).toBe("write");
    });

    it("CloudTrail GetSecretValue and a Vault kv read by a Kubernetes service account are secret reads", () => {
      const [sm] = lines("aws/cloudtrail/elastic_cloudtrail_test-get-secret-value-json.log");
      expect(derive("cloudtrail", sm).filter((i) => i.kind === "secret_read")).toHaveLength(1);
      const [v] = lines("vault/vault-guides_k8s_auth_kv_read_extract.jsonl");
      const ies = derive("vault", v).filter((i) => i.kind === "secret_read");
      expect(ies.map((i) => [i.identity_id, i.resource_uri])).toEqual([
        ["k8s-sa:prod:retail:app123", "vault://kv/retail/app123"],
      ]);
    });
  });

describe("derive: Key Vault bearer challenges", () => {
  const vault =
    "/SUBSCRIPTIONS/00000000-0000-4000-8000-000000000000/RESOURCEGROUPS/ML-RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ML-KV";
  const record = (operationName: string, status: number, identity: unknown) => ({
    time: T,
    resourceId: vault,
    operationName,
    category: "AuditEvent",
    resultType: "Success",
    resultSignature: status === 401 ? "Unauthorized" : "Forbidden",
    callerIpAddress: "192.0.2.91",
    correlationId: `c-${operationName}-${status}`,
    identity,
    properties: {
      requestUri: "https://ml-kv.vault.azure.net/secrets/hf-token/?api-version=7.4",
      httpStatusCode: status,
    },
  });
  const app = {
    claim: { appid: "66666666-6666-4666-8666-666666666666", oid: "55555555-5555-4555-8555-555555555555" },
  };

  it("does not count the SDK's unauthenticated first request as an access denial", () => {
    expect(kinds(derive("azure-keyvault", record("Authentication", 401, {})))).toEqual([]);
  });

  it("still counts a denied caller, and a 401 that names one", () => {
    expect(kinds(derive("azure-keyvault", record("SecretGet", 403, app)))).toEqual([
      "access_denied@azure-app:66666666-6666-4666-8666-666666666666",
    ]);
    expect(kinds(derive("azure-keyvault", record("Authentication", 401, app)))).toEqual([
      "access_denied@azure-app:66666666-6666-4666-8666-666666666666",
    ]);
  });
});

describe("derive: privilege changes outside Kubernetes", () => {
  const role = {
    type: "AssumedRole",
    principalId: "AROAEXAMPLE:ci",
    arn: "arn:aws:sts::123456789012:assumed-role/ci-deploy/ci",
    accountId: "123456789012",
    sessionContext: { sessionIssuer: { type: "Role", arn: "arn:aws:iam::123456789012:role/ci-deploy" } },
  };
  const iam = (eventName: string, requestParameters: unknown, responseElements: unknown = null) => ({
    eventVersion: "1.09",
    eventTime: T,
    eventSource: "iam.amazonaws.com",
    eventName,
    eventID: `${eventName}-1`,
    awsRegion: "us-east-1",
    sourceIPAddress: "192.0.2.1",
    userIdentity: role,
    requestParameters,
    responseElements,
  });
  const changes = (source: SourceName, rec: unknown) =>
    derive(source, rec)
      .filter((i) => i.kind === "privilege_change")
      .map((i) => i.attrs);

  it("IAM policy attachments and inline documents name the target and what they grant", () => {
    expect(
      changes(
        "cloudtrail",
        iam("AttachRolePolicy", {
          roleName: "ml-train",
          policyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
        }),
      ),
    ).toEqual([
      {
        change: "policy",
        object: "iam-role",
        name: "ml-train",
        grants: "arn:aws:iam::aws:policy/AdministratorAccess",
        target: "aws-iam://123456789012/role/ml-train",
      },
    ]);
    const doc = encodeURIComponent(
      JSON.stringify({
        Statement: [{ Effect: "Allow", Action: ["iam:PassRole", "ec2:RunInstances"], Resource: "*" }],
      }),
    );
    expect(
      changes(
        "cloudtrail",
        iam("PutUserPolicy", { userName: "ml-bot", policyName: "p", policyDocument: doc }),
      )[0],
    ).toMatchObject({ object: "iam-user", grants: "p iam:PassRole,ec2:RunInstances" });
    // Removing a policy grants nothing.
    expect(changes("cloudtrail", iam("DetachRolePolicy", { roleName: "ml-train", policyArn: "x" }))).toEqual(
      [],
    );
  });

  it("new access keys and service account keys are long-lived credentials", () => {
    const key = changes(
      "cloudtrail",
      iam("CreateAccessKey", { userName: "ml-bot" }, { accessKey: { accessKeyId: "AKIAEXAMPLE0000001" } }),
    );
    expect(key).toEqual([
      {
        change: "credential",
        object: "iam-user",
        name: "ml-bot",
        grants: "",
        target: "aws-iam://123456789012/user/ml-bot",
      },
    ]);
    const gcp = (methodName: string, serviceName: string, resourceName: string, extra: object = {}) => ({
      insertId: methodName,
      logName: "projects/ml/logs/cloudaudit.googleapis.com%2Factivity",
      timestamp: T,
      resource: { type: "project" },
      protoPayload: {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        serviceName,
        methodName,
        resourceName,
        authenticationInfo: { principalEmail: "deployer@ml.iam.gserviceaccount.com" },
        status: {},
        ...extra,
      },
    });
    expect(
      changes(
        "gcp-audit",
        gcp(
          "google.iam.admin.v1.CreateServiceAccountKey",
          "iam.googleapis.com",
          "projects/-/serviceAccounts/123",
        ),
      )[0],
    ).toMatchObject({ change: "credential", object: "gcp-service-account-key" });
    // SetIamPolicy: the binding deltas survive the collector's redaction and say what was granted.
    const grant = gcp("SetIamPolicy", "cloudresourcemanager.googleapis.com", "projects/ml", {
      serviceData: {
        "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
        policyDelta: {
          bindingDeltas: [{ action: "ADD", role: "roles/owner", member: "user:eve@example.com" }],
        },
      },
    });
    expect(changes("gcp-audit", grant)[0]).toMatchObject({
      change: "policy",
      object: "gcp-iam-policy",
      grants: "ADD roles/owner user:eve@example.com",
    });
  });

  it("Vault policy and auth-role writes, MinIO policy changes and Key Vault access policies", () => {
    const vault = (path: string) => ({
      time: T,
      type: "response",
      auth: { accessor: "hmac-sha256:bb", display_name: "token", policies: ["root"], entity_id: "e-1" },
      request: { id: path, operation: "update", path, mount_type: "system", remote_address: "192.0.2.1" },
      response: {},
    });
    expect(changes("vault", vault("sys/policies/acl/ml-admin"))[0]).toMatchObject({ object: "vault-policy" });
    expect(changes("vault", vault("auth/kubernetes/role/trainer"))[0]).toMatchObject({
      object: "vault-auth-role",
    });
    expect(changes("vault", vault("secret/data/ml/x"))).toEqual([]);
    const minio = (name: string) => ({
      version: "1",
      deploymentid: "d",
      time: T,
      trigger: "incoming",
      api: { name, status: "OK", statusCode: 200 },
      remotehost: "192.0.2.1",
      requestID: name,
      userAgent: "mc",
      accessKey: "admin",
    });
    expect(changes("minio", minio("SetPolicyForUserOrGroup"))[0]).toMatchObject({ object: "minio-policy" });
    expect(changes("minio", minio("AddServiceAccount"))[0]).toMatchObject({ change: "credential" });
    const kv = {
      time: T,
      resourceId: "/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV",
      operationName: "VaultPatch",
      category: "AuditEvent",
      resultType: "Success",
      resultSignature: "OK",
      callerIpAddress: "192.0.2.1",
      correlationId: "c",
      identity: { claim: { upn: "alice@example.com" } },
      properties: { id: "https://kv.vault.azure.net/", httpStatusCode: 200 },
    };
    expect(changes("azure-keyvault", kv)[0]).toMatchObject({ object: "azure-keyvault-access-policy" });
  });
});
