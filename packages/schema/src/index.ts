/**
 * Shared event schemas. Field names follow OCSF where a counterpart exists:
 * normalized activity is aligned with API Activity (class_uid 6003, https://schema.ocsf.io/classes/api_activity)
 * and alerts with Detection Finding (class_uid 2004, https://schema.ocsf.io/classes/detection_finding).
 * We keep a flat, ClickHouse-friendly shape rather than OCSF's deep nesting; `toOcsf*` helpers give the
 * nested view for exports.
 */
import { z } from "zod";

export const SOURCES = [
  "k8s-audit",
  "vault",
  "cloudtrail",
  "gcp-audit",
  "azure-keyvault",
  "s3-access",
  "minio",
  "inventory",
] as const;
export const SourceName = z.enum(SOURCES);
export type SourceName = z.infer<typeof SourceName>;

export const IDENTITY_TYPES = ["human", "service_account", "workload", "cloud_role", "unknown"] as const;
export const IdentityType = z.enum(IDENTITY_TYPES);
export type IdentityType = z.infer<typeof IdentityType>;

export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** Coarse verb every source maps onto, so rules need not know each vendor's operation names. */
export const VERBS = [
  "read",
  "list",
  "write",
  "create",
  "update",
  "delete",
  "exec",
  "impersonate",
  "auth",
  "other",
] as const;
export const Verb = z.enum(VERBS);
export type Verb = z.infer<typeof Verb>;

export const Outcome = z.enum(["success", "failure", "unknown"]);
export type Outcome = z.infer<typeof Outcome>;

/** RFC 3339 timestamp with millisecond precision in UTC, e.g. 2026-11-24T10:00:00.000Z */
export const Timestamp = z.string().datetime({ offset: true });

export const Actor = z.object({
  /** The principal exactly as the source names it (username, ARN, email, access key …). */
  principal: z.string().min(1).max(1024),
  type: IdentityType,
  display_name: z.string().max(1024).optional(),
  uid: z.string().max(256).optional(),
  groups: z.array(z.string().max(512)).max(256).default([]),
  /** Credential identifier when the source exposes one (K8s credential-id, Vault accessor, AWS access key id). */
  credential_id: z.string().max(512).optional(),
  /** Session identity, e.g. an assumed-role session ARN. */
  session: z.string().max(1024).optional(),
  /** The identity `principal` acted as (K8s impersonatedUser, GCP service-account impersonation target). */
  impersonated: z.string().max(1024).optional(),
  /**
   * Other identifiers this event itself proves belong to the same identity (a Vault token's
   * kubernetes-auth service account, an IRSA web-identity subject, an assumed role's issuer role).
   * Each is an alias string in canonical-alias form (see packages/core identity ids).
   */
  links: z.array(z.string().max(1024)).max(64).default([]),
  attrs: z.record(z.string(), z.string()).default({}),
});
export type Actor = z.infer<typeof Actor>;

export const Resource = z.object({
  /** Canonical URI: s3://bucket/key, vault://path, k8s://cluster/ns/resource/name … */
  uri: z.string().max(4096),
  /** Resource type in the source's vocabulary (secrets, pods, object, secret …). */
  type: z.string().max(256),
  name: z.string().max(2048).optional(),
  namespace: z.string().max(256).optional(),
});
export type Resource = z.infer<typeof Resource>;

export const NormalizedEvent = z.object({
  /** Stable id: a hash of the source and the source's own event id, so replays collapse. */
  id: z.string().min(8).max(128),
  class_uid: z.literal(6003).default(6003),
  source: SourceName,
  /** Event time as the source recorded it. */
  time: Timestamp,
  received_at: Timestamp,
  cluster: z.string().max(256).default(""),
  actor: Actor,
  /** Canonical identity id, filled by the resolver; empty until resolved. */
  identity_id: z.string().max(1024).default(""),
  /** The source's own operation name (get, GetSecretValue, REST.GET.OBJECT, storage.objects.get …). */
  operation: z.string().max(512),
  verb: Verb,
  resource: Resource,
  src_ip: z.string().max(128).default(""),
  user_agent: z.string().max(2048).default(""),
  outcome: Outcome,
  status_code: z.number().int().default(0),
  reason: z.string().max(2048).default(""),
  bytes_in: z.number().int().nonnegative().default(0),
  bytes_out: z.number().int().nonnegative().default(0),
  /** Source-native id (auditID, requestID, eventID, insertId …) to find the original record. */
  raw_ref: z.string().max(512),
  attrs: z.record(z.string(), z.string()).default({}),
});
export type NormalizedEvent = z.infer<typeof NormalizedEvent>;

export const IDENTITY_EVENT_KINDS = [
  "artifact_transfer",
  "secret_read",
  "secret_list",
  "off_hours_access",
  "gpu_job",
  "privilege_change",
  "access_denied",
  "job_lifecycle",
  "identity_link",
  "activity",
] as const;
export const IdentityEventKind = z.enum(IDENTITY_EVENT_KINDS);
export type IdentityEventKind = z.infer<typeof IdentityEventKind>;

export const IdentityEvent = z.object({
  id: z.string(),
  identity_id: z.string(),
  kind: IdentityEventKind,
  time: Timestamp,
  event_id: z.string(),
  source: SourceName,
  resource_uri: z.string().default(""),
  resource_kind: z.string().default(""),
  bytes: z.number().int().nonnegative().default(0),
  attrs: z.record(z.string(), z.string()).default({}),
});
export type IdentityEvent = z.infer<typeof IdentityEvent>;

export const ALERT_STATUSES = ["open", "acknowledged", "resolved"] as const;
export const AlertStatus = z.enum(ALERT_STATUSES);
export type AlertStatus = z.infer<typeof AlertStatus>;

/** Detection Finding (OCSF 2004) aligned alert. */
export const Alert = z.object({
  id: z.string(),
  class_uid: z.literal(2004).default(2004),
  rule: z.string(),
  severity: Severity,
  status: AlertStatus,
  identity: z.string(),
  title: z.string(),
  description: z.string().default(""),
  resource: z.string().default(""),
  group_key: z.string(),
  first_seen: Timestamp,
  last_seen: Timestamp,
  count: z.number().int().positive(),
  labels: z.record(z.string(), z.string()).default({}),
  mitre: z.array(z.string()).default([]),
  assignee: z.string().default(""),
  updated_at: Timestamp,
});
export type Alert = z.infer<typeof Alert>;

/** What travels on the raw topics: one source record, already redacted by the collector. */
export const RawEnvelope = z.object({
  v: z.literal(1),
  source: SourceName,
  cluster: z.string().default(""),
  received_at: Timestamp,
  record: z.unknown(),
});
export type RawEnvelope = z.infer<typeof RawEnvelope>;

/**
 * Several source records in one message (the collector's ingest path): all of one request's records that
 * map to the same partition of the raw topic, in request order. Each record is handled on its own
 * downstream, exactly as if it had come in its own v1 envelope.
 */
export const RawEnvelopeV2 = z.object({
  v: z.literal(2),
  source: SourceName,
  cluster: z.string().default(""),
  received_at: Timestamp,
  records: z.array(z.unknown()),
});
export type RawEnvelopeV2 = z.infer<typeof RawEnvelopeV2>;

export const DeadLetter = z.object({
  id: z.string(),
  time: Timestamp,
  stage: z.enum(["collector", "normalizer", "detector"]),
  source: z.string(),
  reason: z.string(),
  /** Redacted record, truncated. Never part of any log line or error message. */
  payload: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

export const Topics = {
  raw: (source: SourceName) => `identrail.raw.${source}`,
  events: "identrail.events",
  deadLetters: "identrail.deadletters",
} as const;

/** OCSF nested view of a normalized event, for exports. */
export function toOcsfApiActivity(e: NormalizedEvent) {
  return {
    class_uid: 6003,
    category_uid: 6,
    activity_name: e.verb,
    time: Date.parse(e.time),
    actor: {
      user: { name: e.actor.principal, uid: e.actor.uid, type: e.actor.type, groups: e.actor.groups },
    },
    api: { operation: e.operation, request: { uid: e.raw_ref } },
    resources: [{ uid: e.resource.uri, type: e.resource.type, name: e.resource.name }],
    src_endpoint: { ip: e.src_ip },
    http_request: { user_agent: e.user_agent },
    status: e.outcome,
    status_code: String(e.status_code),
    metadata: { uid: e.id, product: { name: e.source }, original_time: e.time },
  };
}
