/**
 * Builders for source records in their vendors' real formats (redacted: example.com, 192.0.2.x, account
 * 123456789012), turned into normalized, resolved events by the real parsers and the real resolver — the
 * same path stage 1 of the detector takes. Field references are cited per builder.
 */
import { randomUUID } from "node:crypto";
import type { Config } from "@identrail/config";
import { IdentityResolver } from "@identrail/detector";
import type { NormalizedEvent, SourceName } from "@identrail/schema";
import { parserFor } from "@identrail/sources";
import { k8sEvent } from "../helpers/k8s";

export const ACCOUNT = "123456789012";
export const CLUSTER = "prod";

/** ISO time `day` days after Monday 2026-10-05 (the story stays in the past of the test run), at hh:mm UTC. */
export function at(day: number, hh = 10, mm = 0, ss = 0): string {
  return new Date(Date.UTC(2026, 9, 5 + day, hh, mm, ss)).toISOString();
}

export interface Raw {
  source: SourceName;
  record: unknown;
  /** The story's label for precision/recall bookkeeping (never read by the product). */
  tag?: string;
}

/** K8s audit Event (audit.k8s.io/v1) with the user.extra pod binding when `pod` is given. */
export function k8s(o: Parameters<typeof k8sEvent>[0] & { pod?: string }): Raw {
  const e = k8sEvent(o) as Record<string, any>;
  if (o.pod) e.user.extra = { "authentication.kubernetes.io/pod-name": [o.pod] };
  return { source: "k8s-audit", record: e };
}

/** A Job object as the apiserver receives it (batch/v1). */
export function jobObject(o: {
  ns: string;
  name: string;
  sa: string;
  image: string;
  gpus?: number;
  deadline?: number;
}) {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: o.name, namespace: o.ns, uid: randomUUID() },
    spec: {
      ...(o.deadline ? { activeDeadlineSeconds: o.deadline } : {}),
      template: {
        spec: {
          serviceAccountName: o.sa,
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: o.image,
              ...(o.gpus ? { resources: { limits: { "nvidia.com/gpu": String(o.gpus) } } } : {}),
            },
          ],
        },
      },
    },
  };
}

/** K8s audit: `who` creates a Job (RequestResponse level, so the parser sees the spec). */
export function createJob(who: string, time: string, o: Parameters<typeof jobObject>[0]): Raw {
  return k8s({
    user: who,
    verb: "create",
    resource: "jobs",
    apiGroup: "batch",
    namespace: o.ns,
    name: o.name,
    time,
    requestObject: jobObject(o),
  });
}

/**
 * Inventory watch event for a Job (packages/sources inventory.ts): status.startTime gives the start step,
 * status.completionTime the end step (https://kubernetes.io/docs/concepts/workloads/controllers/job/).
 */
export function inventoryJob(
  o: Parameters<typeof jobObject>[0] & { start: string; end?: string; uid: string },
): Raw {
  const job = jobObject(o) as Record<string, any>;
  job.metadata.uid = o.uid;
  job.status = { startTime: o.start, ...(o.end ? { completionTime: o.end, succeeded: 1 } : { active: 1 }) };
  return { source: "inventory", record: { type: o.end ? "MODIFIED" : "ADDED", object: job } };
}

/** Inventory ServiceAccount with identrail.io annotations (owner/purpose/expires) and IRSA role. */
export function inventorySA(ns: string, name: string, time: string, ann: Record<string, string>): Raw {
  return {
    source: "inventory",
    record: {
      type: "SYNC",
      object: {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name, namespace: ns, uid: `sa-${ns}-${name}`, creationTimestamp: time, annotations: ann },
      },
    },
  };
}

const assumed = (role: string, session: string) => ({
  type: "AssumedRole",
  principalId: `AROAEXAMPLEID:${session}`,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${session}`,
  accountId: ACCOUNT,
  accessKeyId: "ASIAEXAMPLEKEY",
  sessionContext: {
    sessionIssuer: {
      type: "Role",
      principalId: "AROAEXAMPLEID",
      arn: `arn:aws:iam::${ACCOUNT}:role/${role}`,
      accountId: ACCOUNT,
      userName: role,
    },
    attributes: { creationDate: "2026-11-01T00:00:00Z", mfaAuthenticated: "false" },
  },
});

/**
 * CloudTrail S3 data event (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-understanding-s3-entries.html):
 * bytes in additionalEventData.bytesTransferredIn/Out; CopyObject names its source in x-amz-copy-source.
 */
export function s3Event(o: {
  time: string;
  role?: string;
  user?: string;
  op: "GetObject" | "PutObject" | "CopyObject" | "DeleteObject";
  bucket: string;
  key: string;
  bytesOut?: number;
  bytesIn?: number;
  copySource?: string;
  ip?: string;
}): Raw {
  const identity = o.user
    ? {
        type: "IAMUser",
        principalId: "AIDAEXAMPLEID",
        arn: `arn:aws:iam::${ACCOUNT}:user/${o.user}`,
        accountId: ACCOUNT,
        userName: o.user,
        accessKeyId: "AKIAEXAMPLEKEY",
      }
    : assumed(o.role!, "botocore-session-1");
  return {
    source: "cloudtrail",
    record: {
      eventVersion: "1.09",
      userIdentity: identity,
      eventTime: o.time.replace(/\.\d{3}Z$/, "Z"),
      eventSource: "s3.amazonaws.com",
      eventName: o.op,
      awsRegion: "us-east-1",
      sourceIPAddress: o.ip ?? "192.0.2.20",
      userAgent: "[Boto3/1.34.0 md/Botocore#1.34.0]",
      requestParameters: {
        bucketName: o.bucket,
        Host: `${o.bucket}.s3.us-east-1.amazonaws.com`,
        key: o.key,
        ...(o.copySource ? { "x-amz-copy-source": o.copySource } : {}),
      },
      responseElements: null,
      additionalEventData: {
        bytesTransferredIn: o.bytesIn ?? 0,
        bytesTransferredOut: o.bytesOut ?? 0,
        "x-amz-id-2": "EXAMPLE",
      },
      requestID: randomUUID().replace(/-/g, "").slice(0, 16).toUpperCase(),
      eventID: randomUUID(),
      readOnly: o.op === "GetObject",
      resources: [
        { type: "AWS::S3::Object", ARN: `arn:aws:s3:::${o.bucket}/${o.key}` },
        { accountId: ACCOUNT, type: "AWS::S3::Bucket", ARN: `arn:aws:s3:::${o.bucket}` },
      ],
      eventType: "AwsApiCall",
      managementEvent: false,
      recipientAccountId: ACCOUNT,
      eventCategory: "Data",
    },
  };
}

/**
 * CloudTrail AssumeRoleWithWebIdentity by an EKS IRSA token: the subject is the K8s service account, so
 * the record proves the SA holds the role (https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts.html).
 */
export function irsaAssume(time: string, ns: string, sa: string, role: string): Raw {
  const sub = `system:serviceaccount:${ns}:${sa}`;
  const idp = `arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789`;
  return {
    source: "cloudtrail",
    record: {
      eventVersion: "1.08",
      userIdentity: {
        type: "WebIdentityUser",
        principalId: `${idp}:sts.amazonaws.com:${sub}`,
        userName: sub,
        identityProvider: idp,
      },
      eventTime: time.replace(/\.\d{3}Z$/, "Z"),
      eventSource: "sts.amazonaws.com",
      eventName: "AssumeRoleWithWebIdentity",
      awsRegion: "us-east-1",
      sourceIPAddress: "192.0.2.21",
      userAgent: "Boto3/1.34.0",
      requestParameters: {
        roleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`,
        roleSessionName: "botocore-session-1",
      },
      responseElements: {
        assumedRoleUser: {
          assumedRoleId: "AROAEXAMPLEID:botocore-session-1",
          arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/botocore-session-1`,
        },
        provider: idp,
        audience: "sts.amazonaws.com",
      },
      requestID: randomUUID(),
      eventID: randomUUID(),
      readOnly: true,
      eventType: "AwsApiCall",
      managementEvent: true,
      recipientAccountId: ACCOUNT,
      eventCategory: "Management",
    },
  };
}

/** Vault audit response entry for a kv read by a token from the kubernetes auth method (shape of the vault-guides sample). */
export function vaultRead(time: string, ns: string, sa: string, path: string, entity: string): Raw {
  return {
    source: "vault",
    record: {
      time,
      type: "response",
      auth: {
        client_token: "hmac-sha256:0000000000000000000000000000000000000000000000000000000000000001",
        accessor: "hmac-sha256:0000000000000000000000000000000000000000000000000000000000000002",
        display_name: `kubernetes-${ns}-${sa}`,
        policies: ["default", `${ns}-read`],
        metadata: {
          role: sa,
          service_account_name: sa,
          service_account_namespace: ns,
          service_account_uid: `uid-${sa}`,
        },
        entity_id: entity,
        token_type: "service",
      },
      request: {
        id: randomUUID(),
        operation: "read",
        mount_type: "kv",
        mount_point: "secret/",
        path,
        namespace: { id: "root" },
        remote_address: "192.0.2.30",
      },
      response: { mount_type: "kv", data: { value: "hmac-sha256:00" } },
    },
  };
}

/** Stage 1 in-process: parser.normalize + the real resolver (explicit config links included). */
export function normalizer(config: Config) {
  const resolver = new IdentityResolver(undefined, config.identities.links);
  return (raws: Raw[]): { events: NormalizedEvent[]; tags: Map<string, string> } => {
    const events: NormalizedEvent[] = [];
    const tags = new Map<string, string>();
    for (const r of raws) {
      const parser = parserFor(r.source);
      if (!parser) throw new Error(`no parser for ${r.source}`);
      const acc = parser.accept(r.record);
      if (!acc.ok) throw new Error(`${r.source} rejected a scenario record: ${acc.error}`);
      const n = parser.normalize(acc.value.record, {
        cluster: CLUSTER,
        receivedAt: new Date().toISOString(),
      });
      if (!n.ok) throw new Error(`${r.source} failed to normalize a scenario record: ${n.error}`);
      for (const e of n.value.events) {
        resolver.resolve(e);
        events.push(e);
        if (r.tag) tags.set(e.id, r.tag);
      }
    }
    return { events, tags };
  };
}

/**
 * Google Cloud Audit Log entry (LogEntry + AuditLog protoPayload):
 * https://cloud.google.com/logging/docs/reference/audit/auditlog/rest/Shared.Types/AuditLog. Data-access
 * entries for Cloud Storage and Secret Manager; GenerateAccessToken for service-account impersonation.
 */
export function gcpEntry(o: {
  time: string;
  principal: string;
  service: "storage.googleapis.com" | "secretmanager.googleapis.com" | "iamcredentials.googleapis.com";
  method: string;
  resourceName: string;
  denied?: boolean;
}): Raw {
  return {
    source: "gcp-audit",
    record: {
      protoPayload: {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        status: o.denied ? { code: 7, message: "PERMISSION_DENIED" } : {},
        authenticationInfo: { principalEmail: o.principal },
        requestMetadata: {
          callerIp: "192.0.2.40",
          callerSuppliedUserAgent: "google-cloud-sdk gcloud/470.0.0",
        },
        serviceName: o.service,
        methodName: o.method,
        authorizationInfo: [
          { resource: o.resourceName, permission: `${o.service.split(".")[0]}.access`, granted: !o.denied },
        ],
        resourceName: o.resourceName,
        ...(o.service === "iamcredentials.googleapis.com" ? { request: { name: o.resourceName } } : {}),
      },
      insertId: randomUUID().replace(/-/g, "").slice(0, 16),
      resource: {
        type: o.service === "storage.googleapis.com" ? "gcs_bucket" : "audited_resource",
        labels: { project_id: "acme-ml" },
      },
      timestamp: o.time,
      severity: o.denied ? "ERROR" : "INFO",
      logName: "projects/acme-ml/logs/cloudaudit.googleapis.com%2Fdata_access",
      receiveTimestamp: o.time,
    },
  };
}

/**
 * Azure Key Vault AuditEvent resource log record (https://learn.microsoft.com/azure/key-vault/general/logging):
 * an application (appid/oid claims) or a user (upn) calling SecretGet.
 */
export function keyVaultEvent(o: {
  time: string;
  appid?: string;
  upn?: string;
  vault: string;
  secret: string;
  status?: number;
}): Raw {
  const status = o.status ?? 200;
  // Object ids: the app's service principal, or a fixed id for the user.
  const claim: Record<string, string> = {
    "http://schemas.microsoft.com/identity/claims/objectidentifier":
      o.appid ?? "7a1c0de0-0000-4000-8000-00000000cafe",
  };
  if (o.appid) claim.appid = o.appid;
  if (o.upn) claim["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = o.upn;
  return {
    source: "azure-keyvault",
    record: {
      time: o.time,
      resourceId: `/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/ML/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/${o.vault.toUpperCase()}`,
      operationName: "SecretGet",
      operationVersion: "7.4",
      category: "AuditEvent",
      resultType: status < 400 ? "Success" : "Failed",
      resultSignature: status < 400 ? "OK" : "Forbidden",
      durationMs: "12",
      callerIpAddress: "192.0.2.50",
      correlationId: randomUUID(),
      identity: { claim },
      properties: {
        clientInfo: "azsdk-python-keyvault-secrets/4.7.0",
        requestUri: `https://${o.vault}.vault.azure.net/secrets/${o.secret}/?api-version=7.4`,
        id: `https://${o.vault}.vault.azure.net/secrets/${o.secret}`,
        httpStatusCode: status,
      },
    },
  };
}

/**
 * MinIO audit webhook entry (https://min.io/docs/minio/linux/operations/monitoring/minio-logging.html):
 * a service account (accessKey) acting for its parent user; api.rx/tx are bytes received/sent.
 */
export function minioEvent(o: {
  time: string;
  parentUser: string;
  accessKey: string;
  api: "GetObject" | "PutObject";
  bucket: string;
  object: string;
  tx?: number;
  rx?: number;
}): Raw {
  return {
    source: "minio",
    record: {
      version: "1",
      deploymentid: "6f1f2c3d-0000-4000-8000-000000000001",
      time: o.time,
      trigger: "incoming",
      api: {
        name: o.api,
        bucket: o.bucket,
        object: o.object,
        status: "OK",
        statusCode: 200,
        rx: o.rx ?? 0,
        tx: o.tx ?? 0,
        timeToResponse: "1200000ns",
      },
      remotehost: "192.0.2.60",
      requestID: randomUUID().replace(/-/g, "").slice(0, 16).toUpperCase(),
      userAgent: "MinIO (linux; amd64) minio-go/v7.0.66",
      requestHost: "minio.example.com:9000",
      requestHeader: {
        Authorization: `AWS4-HMAC-SHA256 Credential=${o.accessKey}/20261005/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=redacted`,
      },
      accessKey: o.accessKey,
      parentUser: o.parentUser,
    },
  };
}
