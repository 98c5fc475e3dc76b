/**
 * Realistic, redacted multi-source traffic for benchmarks and load tests: many identities (training and
 * serving service accounts, CI runners, cloud roles, a few humans) acting on secrets, config, pods, model
 * artefacts. Formats are the vendors' own: Kubernetes audit EventLists (webhook backend), Vault audit
 * response lines (file device), CloudTrail `{"Records":[…]}` documents, S3 server access log lines.
 * Deterministic for a given seed. Addresses are 192.0.2.x, domains example.com, account 123456789012.
 */

export type GenSource =
  | "k8s-audit"
  | "vault"
  | "cloudtrail"
  | "s3-access"
  | "gcp-audit"
  | "azure-keyvault"
  | "minio";
export const GEN_SOURCES: GenSource[] = [
  "k8s-audit",
  "vault",
  "cloudtrail",
  "s3-access",
  "gcp-audit",
  "azure-keyvault",
  "minio",
];

/** Small fast PRNG (mulberry32): deterministic traffic for a seed. */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMESPACES = [
  "ml-training",
  "ml-serving",
  "data-prep",
  "feature-store",
  "ci",
  "eval",
  "payments",
  "platform",
];
const JOBS = ["fine-tuning", "trainer", "evaluator", "exporter", "ingest", "runner", "indexer", "serving"];
const K8S_RESOURCES: [string, string, number][] = [
  // resource, verb, weight
  ["configmaps", "get", 30],
  ["secrets", "get", 20],
  ["pods", "list", 12],
  ["pods", "get", 10],
  ["jobs", "create", 4],
  ["leases", "update", 14],
  ["events", "create", 6],
  ["secrets", "list", 2],
  ["serviceaccounts", "get", 2],
];
const UAS = [
  "python-requests/2.31",
  "kubectl/v1.30.2 (linux/amd64) kubernetes/39683505",
  "argo-workflows/3.5",
  "kube-controller-manager/v1.30.2",
];

export interface TrafficOptions {
  /** Distinct identities (service accounts / roles / users); default 2000. */
  identities?: number;
  seed?: number;
  /** Event time of the first event (ms); events advance `stepMs` each. Default 2026-11-01T00:00Z. */
  start?: number;
  stepMs?: number;
  cluster?: string;
}

export class Traffic {
  private r: () => number;
  private t: number;
  private seq = 0;
  private weights: number;
  readonly identities: number;
  readonly step: number;

  constructor(private readonly o: TrafficOptions = {}) {
    this.r = rng(o.seed ?? 1);
    this.t = o.start ?? Date.parse("2026-11-01T00:00:00Z");
    this.identities = o.identities ?? 2000;
    this.step = o.stepMs ?? 50;
    this.weights = K8S_RESOURCES.reduce((s, x) => s + x[2], 0);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }

  /** Zipf-like identity popularity: a few busy controllers, a long tail of jobs. */
  private identity(): number {
    return Math.floor(this.identities * this.r() ** 2.2);
  }

  private tick(): string {
    this.t += this.step;
    return new Date(this.t).toISOString();
  }

  private uuid(prefix: number): string {
    const n = (this.seq++).toString(16).padStart(12, "0");
    // The seed is part of every id: two generators with different seeds never collide.
    const seed = ((this.o.seed ?? 1) & 0xffff).toString(16).padStart(4, "0");
    return `${prefix.toString(16).padStart(8, "0")}-${seed}-4000-8000-${n}`;
  }

  /** The identity's current projected-token id: stable per identity for an hour of event time. */
  private jti(identity: number): string {
    const hour = Math.floor(this.t / 3_600_000)
      .toString(16)
      .padStart(8, "0");
    return `JTI=c7ed${hour.slice(-4)}-${hour.slice(0, 4)}-4000-8000-${String(identity).padStart(12, "0")}`;
  }

  sa(i: number) {
    const ns = NAMESPACES[i % NAMESPACES.length];
    return { ns, name: `${JOBS[(i >> 3) % JOBS.length]}-${i}` };
  }

  /** One audit.k8s.io/v1 Event (webhook shape, Metadata level). */
  k8sEvent(identity = this.identity()) {
    let w = this.r() * this.weights;
    let res = K8S_RESOURCES[0];
    for (const x of K8S_RESOURCES) {
      w -= x[2];
      if (w <= 0) {
        res = x;
        break;
      }
    }
    const [resource, verb] = res;
    const { ns, name } = this.sa(identity);
    const human = identity % 97 === 0;
    const user = human ? `user-${identity}@example.com` : `system:serviceaccount:${ns}:${name}`;
    const objName =
      verb === "list" || verb === "create"
        ? undefined
        : `${resource.slice(0, 3)}-${Math.floor(this.r() * 20)}`;
    const time = this.tick();
    const code = this.r() < 0.02 ? 403 : verb === "create" ? 201 : 200;
    return {
      kind: "Event",
      apiVersion: "audit.k8s.io/v1",
      level: "Metadata",
      auditID: this.uuid(0xa0d17),
      stage: "ResponseComplete",
      requestURI: `/api/v1/namespaces/${ns}/${resource}${objName ? `/${objName}` : ""}`,
      verb,
      user: {
        username: user,
        uid: `0b8c2d0e-8a5f-4c4e-9a53-${String(identity).padStart(12, "0")}`,
        groups: human
          ? ["system:authenticated", "ml-engineers"]
          : ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
        ...(human
          ? {}
          : {
              extra: {
                "authentication.kubernetes.io/pod-name": [`${name}-7d9f8-abcde`],
                // A projected token lives about an hour (the kubelet refreshes it at 80% of its
                // expiry), so one identity presents the same JTI on every request within the hour.
                "authentication.kubernetes.io/credential-id": [this.jti(identity)],
              },
            }),
      },
      sourceIPs: [`192.0.2.${(identity % 250) + 1}`],
      userAgent: this.pick(UAS),
      objectRef: {
        resource,
        namespace: ns,
        ...(objName ? { name: objName } : {}),
        apiVersion: resource === "jobs" ? "batch/v1" : "v1",
        ...(resource === "jobs"
          ? { apiGroup: "batch" }
          : resource === "leases"
            ? { apiGroup: "coordination.k8s.io" }
            : {}),
      },
      responseStatus: { metadata: {}, code },
      requestReceivedTimestamp: time,
      stageTimestamp: time,
      annotations: {
        "authorization.k8s.io/decision": code === 403 ? "forbid" : "allow",
        "authorization.k8s.io/reason":
          code === 403
            ? ""
            : `RBAC: allowed by RoleBinding "${name}" of Role "${name}" to ServiceAccount "${name}/${ns}"`,
      },
    };
  }

  /** An EventList as the API server's webhook backend posts it. */
  k8sEventList(n: number) {
    const items = [];
    for (let i = 0; i < n; i++) items.push(this.k8sEvent());
    return { kind: "EventList", apiVersion: "audit.k8s.io/v1", metadata: {}, items };
  }

  /** A Vault file-audit-device response line: a Kubernetes-auth token reading a KV secret. */
  vaultLine(identity = this.identity()): string {
    const { ns, name } = this.sa(identity);
    const hmac = (s: string) => `hmac-sha256:${Buffer.from(s).toString("hex").padEnd(64, "0").slice(0, 64)}`;
    return JSON.stringify({
      time: this.tick(),
      type: "response",
      auth: {
        client_token: hmac(`tok${identity}`),
        accessor: hmac(`acc${identity}`),
        display_name: `kubernetes-${ns}-${name}`,
        policies: ["default", `${ns}-kv-read`],
        token_policies: ["default", `${ns}-kv-read`],
        metadata: {
          role: name,
          service_account_name: name,
          service_account_namespace: ns,
          service_account_secret_name: "",
          service_account_uid: `c0fed346-308e-4bdf-a18c-${String(identity).padStart(12, "0")}`,
        },
        entity_id: `6021bd59-6f00-e459-3c69-${String(identity).padStart(12, "0")}`,
        token_type: "service",
        token_ttl: 3600,
      },
      request: {
        id: this.uuid(0x7a017),
        operation: "read",
        mount_type: "kv",
        client_token: hmac(`tok${identity}`),
        client_token_accessor: hmac(`acc${identity}`),
        namespace: { id: "root" },
        path: `kv/data/${ns}/${this.pick(["hf-token", "wandb-key", "db-credentials", "registry-pull"])}`,
        remote_address: `192.0.2.${(identity % 250) + 1}`,
      },
      response: { mount_type: "kv", data: { data: hmac("redacted") } },
    });
  }

  /** One CloudTrail record: an IRSA role reading a secret or an S3 object (data event). */
  cloudTrailRecord(identity = this.identity()) {
    const role = `ml-${JOBS[identity % JOBS.length]}-${identity}`;
    const s3 = this.r() < 0.6;
    const key = `runs/${identity % 50}/checkpoint-${Math.floor(this.r() * 100)}.pt`;
    return {
      eventVersion: "1.09",
      userIdentity: {
        type: "AssumedRole",
        principalId: `AROAEXAMPLE${identity}:botocore-session-${identity}`,
        arn: `arn:aws:sts::123456789012:assumed-role/${role}/botocore-session-${identity}`,
        accountId: "123456789012",
        accessKeyId: `ASIAEXAMPLE${String(identity).padStart(8, "0")}`,
        sessionContext: {
          sessionIssuer: {
            type: "Role",
            principalId: `AROAEXAMPLE${identity}`,
            arn: `arn:aws:iam::123456789012:role/${role}`,
            accountId: "123456789012",
            userName: role,
          },
          attributes: {
            creationDate: new Date(this.t - 600_000).toISOString().replace(/\.\d+Z$/, "Z"),
            mfaAuthenticated: "false",
          },
        },
      },
      eventTime: this.tick().replace(/\.\d+Z$/, "Z"),
      eventSource: s3 ? "s3.amazonaws.com" : "secretsmanager.amazonaws.com",
      eventName: s3 ? "GetObject" : "GetSecretValue",
      awsRegion: "us-east-1",
      sourceIPAddress: `192.0.2.${(identity % 250) + 1}`,
      userAgent: "[Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15 lang/python#3.11.6]",
      requestParameters: s3
        ? {
            bucketName: "example-ml-checkpoints",
            key,
            Host: "example-ml-checkpoints.s3.us-east-1.amazonaws.com",
          }
        : { secretId: `arn:aws:secretsmanager:us-east-1:123456789012:secret:ml/${identity % 20}-AbCdEf` },
      responseElements: null,
      ...(s3 ? { additionalEventData: { bytesTransferredIn: 0, bytesTransferredOut: 1048576 } } : {}),
      requestID: this.uuid(0xc10d).replaceAll("-", "").slice(0, 16).toUpperCase(),
      eventID: this.uuid(0xe7e),
      readOnly: true,
      ...(s3
        ? {
            resources: [
              { type: "AWS::S3::Object", ARN: `arn:aws:s3:::example-ml-checkpoints/${key}` },
              {
                accountId: "123456789012",
                type: "AWS::S3::Bucket",
                ARN: "arn:aws:s3:::example-ml-checkpoints",
              },
            ],
          }
        : {}),
      eventType: "AwsApiCall",
      managementEvent: !s3,
      recipientAccountId: "123456789012",
      eventCategory: s3 ? "Data" : "Management",
    };
  }

  cloudTrailDocument(n: number) {
    const Records = [];
    for (let i = 0; i < n; i++) Records.push(this.cloudTrailRecord());
    return { Records };
  }

  /** One S3 server access log line (24-field layout of the AWS docs' examples). */
  s3AccessLine(identity = this.identity()): string {
    const d = new Date(Date.parse(this.tick()));
    const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][
      d.getUTCMonth()
    ];
    const p2 = (x: number) => String(x).padStart(2, "0");
    const ts = `[${p2(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000]`;
    const role = `ml-${JOBS[identity % JOBS.length]}-${identity}`;
    const key = `datasets/shard-${Math.floor(this.r() * 1000)}.parquet`;
    const req = this.uuid(0x53).replaceAll("-", "").slice(0, 16).toUpperCase();
    return [
      "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
      "example-ml-datasets",
      ts,
      `192.0.2.${(identity % 250) + 1}`,
      `arn:aws:sts::123456789012:assumed-role/${role}/session-${identity}`,
      req,
      "REST.GET.OBJECT",
      key,
      `"GET /example-ml-datasets/${key} HTTP/1.1"`,
      "200",
      "-",
      "52428800",
      "52428800",
      "310",
      "42",
      '"-"',
      '"Boto3/1.34.0"',
      "-",
      "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=",
      "SigV4",
      "ECDHE-RSA-AES128-GCM-SHA256",
      "AuthHeader",
      "example-ml-datasets.s3.us-east-1.amazonaws.com",
      "TLSv1.2",
    ].join(" ");
  }

  /**
   * One Cloud Audit Logs data_access LogEntry (https://cloud.google.com/logging/docs/audit): a Google
   * service account (GKE Workload Identity) reading a Secret Manager secret version or a GCS object.
   */
  gcpEntry(identity = this.identity()) {
    const email = `ml-${JOBS[identity % JOBS.length]}-${identity}@example-ml.iam.gserviceaccount.com`;
    const secret = this.r() < 0.6;
    const time = this.tick();
    const resourceName = secret
      ? `projects/123456789012/secrets/${this.pick(["hf-token", "wandb-key", "db-credentials"])}/versions/latest`
      : `projects/_/buckets/example-ml-datasets/objects/shards/part-${Math.floor(this.r() * 1000)}.parquet`;
    return {
      insertId: this.uuid(0x6c9).replaceAll("-", "").slice(0, 16),
      logName: "projects/example-ml/logs/cloudaudit.googleapis.com%2Fdata_access",
      protoPayload: {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        status: {},
        authenticationInfo: { principalEmail: email },
        requestMetadata: {
          callerIp: `192.0.2.${(identity % 250) + 1}`,
          callerSuppliedUserAgent: secret ? "grpc-python/1.62.0" : "gcloud-python/3.1.0 gl-python/3.11",
          requestAttributes: { time, auth: {} },
          destinationAttributes: {},
        },
        serviceName: secret ? "secretmanager.googleapis.com" : "storage.googleapis.com",
        methodName: secret
          ? "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion"
          : "storage.objects.get",
        authorizationInfo: [
          {
            resource: resourceName,
            permission: secret ? "secretmanager.versions.access" : "storage.objects.get",
            granted: true,
            resourceAttributes: {},
          },
        ],
        resourceName,
        request: secret
          ? {
              name: resourceName,
              "@type": "type.googleapis.com/google.cloud.secretmanager.v1.AccessSecretVersionRequest",
            }
          : undefined,
      },
      insertTimestamp: time,
      resource: secret
        ? {
            type: "audited_resource",
            labels: {
              service: "secretmanager.googleapis.com",
              project_id: "example-ml",
              method: "AccessSecretVersion",
            },
          }
        : {
            type: "gcs_bucket",
            labels: { bucket_name: "example-ml-datasets", project_id: "example-ml", location: "us-central1" },
          },
      timestamp: time,
      severity: "INFO",
      receiveTimestamp: time,
    };
  }

  /**
   * One Azure Key Vault AuditEvent resource-log record (https://learn.microsoft.com/azure/key-vault/general/logging):
   * a managed identity reading a secret.
   */
  azureRecord(identity = this.identity()) {
    const hex = String(identity).padStart(12, "0");
    const secret = this.pick(["hf-token", "wandb-key", "db-password"]);
    return {
      time: this.tick(),
      resourceId:
        "/SUBSCRIPTIONS/00000000-0000-4000-8000-000000000001/RESOURCEGROUPS/ML/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/EXAMPLE-ML-KV",
      operationName: "SecretGet",
      operationVersion: "7.4",
      category: "AuditEvent",
      resultType: "Success",
      resultSignature: "OK",
      resultDescription: "",
      durationMs: "12",
      callerIpAddress: `192.0.2.${(identity % 250) + 1}`,
      correlationId: this.uuid(0xa2e),
      identity: {
        claim: {
          "http://schemas.microsoft.com/identity/claims/objectidentifier": `0f3c9a52-7e1d-4c55-9a51-${hex}`,
          appid: `5b1f0c1e-2a3d-4e5f-8a9b-${hex}`,
          "http://schemas.microsoft.com/identity/claims/tenantid": "00000000-0000-4000-8000-0000000000aa",
        },
      },
      properties: {
        id: `https://example-ml-kv.vault.azure.net/secrets/${secret}/0123456789abcdef0123456789abcdef`,
        clientInfo: "azsdk-python-keyvault-secrets/4.8.0 Python/3.11.6",
        httpStatusCode: 200,
        requestUri: `https://example-ml-kv.vault.azure.net/secrets/${secret}/?api-version=7.4`,
        isAccessPolicyMatch: false,
        isRbacAuthorized: true,
        tlsVersion: "TLS1_2",
      },
    };
  }

  /** One MinIO audit-log entry (webhook or console target, https://min.io/docs/minio/linux/operations/monitoring/minio-logging.html). */
  minioEntry(identity = this.identity()) {
    const key = `ml-${JOBS[identity % JOBS.length]}-${identity}`;
    const object = `checkpoints/run-${identity % 50}/step-${Math.floor(this.r() * 1000)}.safetensors`;
    const get = this.r() < 0.8;
    const req = this.uuid(0x3a1).replaceAll("-", "").slice(0, 16).toUpperCase();
    return {
      version: "1",
      deploymentid: "bc0e4d1e-bacc-42eb-91ad-2d7f3eacfa8d",
      time: this.tick(),
      event: "",
      trigger: "incoming",
      api: {
        name: get ? "GetObject" : "PutObject",
        bucket: "ml-checkpoints",
        object,
        status: "OK",
        statusCode: 200,
        rx: get ? 310 : 104857600,
        tx: get ? 104857600 : 0,
        timeToResponse: "16438202ns",
      },
      remotehost: `192.0.2.${(identity % 250) + 1}`,
      requestID: req,
      userAgent: "MinIO (linux; amd64) minio-py/7.2.0",
      requestHeader: {
        Authorization: `AWS4-HMAC-SHA256 Credential=${key}/20261101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`,
        "X-Amz-Date": "20261101T000000Z",
      },
      responseHeader: { "Content-Length": String(get ? 104857600 : 0), "X-Amz-Request-Id": req },
      accessKey: key,
    };
  }

  /** A request body of `n` records in the source's native format, with its content type. */
  body(source: GenSource, n: number): { text: string; contentType: string } {
    switch (source) {
      case "k8s-audit":
        return { text: JSON.stringify(this.k8sEventList(n)), contentType: "application/json" };
      case "cloudtrail":
        return { text: JSON.stringify(this.cloudTrailDocument(n)), contentType: "application/json" };
      case "vault":
        return {
          text: Array.from({ length: n }, () => this.vaultLine()).join("\n") + "\n",
          contentType: "application/x-ndjson",
        };
      case "s3-access":
        return {
          text: Array.from({ length: n }, () => this.s3AccessLine()).join("\n") + "\n",
          contentType: "text/plain",
        };
      case "gcp-audit":
        return {
          text: Array.from({ length: n }, () => JSON.stringify(this.gcpEntry())).join("\n") + "\n",
          contentType: "application/x-ndjson",
        };
      case "azure-keyvault":
        return {
          text: JSON.stringify({ records: Array.from({ length: n }, () => this.azureRecord()) }),
          contentType: "application/json",
        };
      case "minio":
        return {
          text: Array.from({ length: n }, () => JSON.stringify(this.minioEntry())).join("\n") + "\n",
          contentType: "application/x-ndjson",
        };
    }
  }
}
