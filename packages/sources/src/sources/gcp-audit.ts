/**
 * Google Cloud Audit Logs (LogEntry with an AuditLog protoPayload): NDJSON exports, single entries,
 * arrays, `{"entries":[…]}` (Logging API entries.list), Pub/Sub push envelopes from a log sink, Pub/Sub
 * pull responses, CloudEvents (Eventarc), and the rows of a BigQuery sink or of Log Analytics.
 * LogEntry: https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry
 * AuditLog: https://cloud.google.com/logging/docs/reference/audit/auditlog/rest/Shared.Types/AuditLog
 * Pub/Sub push: https://cloud.google.com/pubsub/docs/push#receive_push (message.data is base64)
 * GKE `k8s.io` entries are Kubernetes audit events and are normalized by the k8s-audit normalizer.
 */
import {
  err,
  gcpServiceAccountAlias,
  humanAlias,
  k8sServiceAccountId,
  ok,
  parseServiceAccountUsername,
  stableId,
} from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import {
  attrSetter,
  finishEvent,
  isCredentialKey,
  lookup,
  pick,
  redactKeys,
  setOwn,
  TOO_DEEP,
  tooDeep,
  Undecodable,
  unwrapPubSub,
} from "../common";
import type { SourceParser } from "../types";
import { arr, decodeJsonOrNdjson, eventTime, isObj, jsonColumn, num, type Obj, obj, str } from "../util";
import { GRPC_HTTP, gkeEntryToK8sEvent, isGkeK8sEntry, normalizeK8sEvent } from "./k8s-audit";

const AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog";

function unwrap(doc: unknown, depth = 0): unknown[] {
  if (depth > 3) return [doc];
  if (Array.isArray(doc)) return doc.flatMap((d) => unwrap(d, depth + 1));
  if (!isObj(doc)) return [doc];
  if (Array.isArray(doc.entries)) return doc.entries.flatMap((d) => unwrap(d, depth + 1));
  // Pub/Sub pull (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions/pull):
  // `{"receivedMessages":[{"ackId","message"}]}`, and `gcloud pubsub subscriptions pull --format=json`
  // prints the ReceivedMessage list itself. Same base64 `message.data` as a push, without `subscription`.
  if (Array.isArray(doc.receivedMessages)) return doc.receivedMessages.flatMap((d) => unwrap(d, depth + 1));
  const push = unwrapPubSub(
    typeof doc.ackId === "string" && isObj(doc.message) ? { message: doc.message, subscription: "" } : doc,
  );
  if (push instanceof Undecodable) return [push];
  if (push) return unwrap(push.value, depth + 1);
  // CloudEvents JSON (structured mode, https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md):
  // Eventarc's `google.cloud.audit.log.v1.written` events carry the LogEntry as `data`.
  if (typeof doc.specversion === "string" && isObj(doc.data)) return unwrap(doc.data, depth + 1);
  return [canonicalEntry(doc)];
}

/**
 * The LogEntry of a row exported from BigQuery or Log Analytics, so everything after decode sees one
 * shape; any other value is returned as it is.
 * - BigQuery sink (https://cloud.google.com/logging/docs/export/bigquery#schema): the payload column is
 *   `protopayload_auditlog`, its Struct fields are JSON text (`requestJson`, `responseJson`,
 *   `metadataJson`, `serviceDataJson`), TIMESTAMP columns print as `2024-01-01 12:00:00.123456 UTC`
 *   and INT64 as strings in JSON exports.
 * - Log Analytics (https://cloud.google.com/logging/docs/analyze/query-linked-dataset): proto field names
 *   in snake_case (`proto_payload.audit_log.authentication_info.principal_email`), JSON columns
 *   (`request`, `metadata`, `resource.labels`) as objects or JSON text. Proto3 JSON parsers accept
 *   the original field names too (https://protobuf.dev/programming-guides/json/), so an entry
 *   serialized with them (`proto_payload`, `insert_id`) takes the same path.
 */
function canonicalEntry(r: Obj): Obj {
  if (r.protoPayload !== undefined) return r;
  if (isObj(r.protopayload_auditlog)) {
    const { protopayload_auditlog: bq, ...rest } = r;
    const p: Obj = { "@type": AUDIT_LOG_TYPE };
    for (const k of Object.keys(bq)) {
      const v = bq[k];
      if (v === null || k === "serviceDataJson" || k.startsWith("servicedata_")) continue;
      if (k === "requestJson" || k === "responseJson" || k === "metadataJson")
        setOwn(p, k.slice(0, -4), jsonColumn(v, JSON_COLUMN_MAX));
      else setOwn(p, k, v);
    }
    return {
      ...rest,
      protoPayload: p,
      timestamp: bqTime(r.timestamp),
      receiveTimestamp: bqTime(r.receiveTimestamp),
    };
  }
  if (isObj(r.proto_payload)) {
    const e = camelKeys(r) as Obj;
    const pp = e.protoPayload as Obj;
    const p: Obj = { "@type": AUDIT_LOG_TYPE, ...(isObj(pp.auditLog) ? pp.auditLog : pp) };
    for (const k of ["request", "response", "metadata"]) if (k in p) p[k] = jsonColumn(p[k], JSON_COLUMN_MAX);
    const res = obj(e.resource);
    return {
      ...e,
      protoPayload: p,
      resource:
        res && "labels" in res ? { ...res, labels: jsonColumn(res.labels, JSON_COLUMN_MAX) } : e.resource,
      timestamp: bqTime(e.timestamp),
      receiveTimestamp: bqTime(e.receiveTimestamp),
    };
  }
  return r;
}

/** Struct-valued fields (maps and free-form messages): their keys are data, never renamed. */
const VERBATIM = new Set([
  "labels",
  "request",
  "response",
  "metadata",
  "serviceData",
  "resourceOriginalState",
  "thirdPartyClaims",
  "headers",
  "details",
]);

/** snake_case proto field names → lowerCamelCase JSON names, except inside Struct-valued fields. */
function camelKeys(v: unknown, depth = 0): unknown {
  if (depth > 16) return v;
  if (Array.isArray(v)) return v.map((x) => camelKeys(x, depth + 1));
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const k of Object.keys(v)) {
    const c = k.includes("_") ? k.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()) : k;
    // An exact camelCase key present as well wins (it is what the LogEntry reference names).
    if (c !== k && Object.hasOwn(v, c)) continue;
    setOwn(out, c, VERBATIM.has(c) ? v[k] : camelKeys(v[k], depth + 1));
  }
  return out;
}

/** JSON text columns longer than this are kept as text (normalize then ignores them). */
const JSON_COLUMN_MAX = 1_000_000;

/**
 * BigQuery TIMESTAMP text (`2024-01-01 12:00:00.123456 UTC`, or without the zone: a TIMESTAMP is an
 * absolute UTC time, https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#timestamp_type)
 * as RFC 3339, and the epoch seconds the BigQuery REST API writes (`"1.7e9"`) as a number.
 */
function bqTime(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(?: ?(?:UTC|Z|[+-]00(?::?00)?))?$/.exec(
    v,
  );
  if (m) return `${m[1]}T${m[2]}Z`;
  return /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(v) ? num(v) : v;
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (r instanceof Undecodable) return r.reason;
  if (!isObj(r)) return "record is not a JSON object";
  const p = obj(r.protoPayload);
  if (!p) return "not a Cloud Audit Log entry (no protoPayload)";
  const type = p["@type"];
  if (type !== undefined && type !== AUDIT_LOG_TYPE)
    return "unsupported protoPayload @type (want google.cloud.audit.AuditLog)";
  if (typeof p.methodName !== "string" || p.methodName === "") return "missing protoPayload.methodName";
  if (typeof r.insertId !== "string" || r.insertId === "") return "missing insertId";
  return null;
}

function validate(r: unknown): string | null {
  const invalid = shapeError(r);
  if (invalid) return invalid;
  const t = eventTime((r as Obj).timestamp);
  return "error" in t ? t.error : null;
}

/**
 * request fields that name the target and never carry a value (`delegates`: the service accounts of an
 * IAM Credentials delegation chain).
 */
const REQUEST_KEEP = [
  "@type",
  "name",
  "parent",
  "bucket",
  "object",
  "resource",
  "secretId",
  "destination",
  "source",
  "delegates",
];

/**
 * The AuditLog fields kept (https://cloud.google.com/logging/docs/reference/audit/auditlog/rest/Shared.Types/AuditLog).
 * Everything else is dropped: `serviceData` and `resourceOriginalState` are whole API objects (a
 * resource's state before a mutation can hold configuration values), and a field Google adds later is
 * not read by normalize.
 */
const PAYLOAD_KEEP = [
  "@type",
  "serviceName",
  "methodName",
  "resourceName",
  "resourceLocation",
  "numResponseItems",
  "status",
  "authenticationInfo",
  "authorizationInfo",
  "policyViolationInfo",
  "requestMetadata",
  "request",
  "response",
  "metadata",
];

/**
 * Audit logs never include secret payloads or object contents, but `request`/`response` echo API
 * messages (AddSecretVersion's payload would be one); only naming fields are kept, and for GKE the
 * Kubernetes objects are run through the Kubernetes redaction.
 */
export function redactGcpEntry(r: Obj): Obj {
  if (isGkeK8sEntry(r)) {
    const g = gkeEntryToK8sEvent(r);
    const p: Obj = { ...(r.protoPayload as Obj) };
    if ("error" in g) {
      delete p.request;
      delete p.response;
    } else {
      if ("request" in p) p.request = g.event.requestObject;
      if ("response" in p) p.response = g.event.responseObject;
    }
    return { ...r, protoPayload: p };
  }
  // Spread copies the own keys in order, `__proto__` included as an own key (CopyDataProperties).
  const out: Obj = { ...r };
  const p = obj(r.protoPayload);
  if (p) {
    const q: Obj = pick(p, PAYLOAD_KEEP);
    if (isObj(q.request)) q.request = redactKeys(pick(q.request, REQUEST_KEEP), isCredentialKey);
    else delete q.request;
    if (isObj(q.response)) q.response = redactKeys(pick(q.response, REQUEST_KEEP), isCredentialKey);
    else delete q.response;
    if ("metadata" in q) q.metadata = redactKeys(q.metadata, isCredentialKey);
    const deltas = bindingDeltas(p);
    if (deltas.length) q.serviceData = { policyDelta: { bindingDeltas: deltas } };
    out.protoPayload = q;
  }
  return out;
}

/**
 * The IAM binding changes of a SetIamPolicy call: `serviceData.policyDelta.bindingDeltas` (action ADD or
 * REMOVE, role, member), which Cloud Audit Logs write for IAM policy changes
 * (https://cloud.google.com/logging/docs/reference/audit/auditlog/rest/Shared.Types/AuditLog, serviceData
 * → google.iam.v1.logging.AuditData / PolicyDelta). Only these three strings are kept from serviceData:
 * they name who got which role, never a value.
 */
function bindingDeltas(p: Obj): Obj[] {
  const deltas = arr(obj(obj(p.serviceData)?.policyDelta)?.bindingDeltas);
  const out: Obj[] = [];
  for (const d of deltas.slice(0, 64)) {
    const o = obj(d);
    const role = str(o?.role, 256);
    if (!role) continue;
    out.push({ action: str(o?.action, 16) ?? "", role, member: str(o?.member, 512) ?? "" });
  }
  return out;
}

interface Caller {
  principal: string;
  type: IdentityType;
  links: string[];
  impersonated?: string;
  /** `serviceAccountKeyName`: the service account key the call was made with. */
  credential?: string;
  attrs: Record<string, string>;
}

/**
 * Kubernetes service accounts in federated principals: Workload Identity Federation subjects
 * (`…/subject/system:serviceaccount:<ns>:<name>`), GKE Workload Identity (`…/subject/ns/<ns>/sa/<name>`,
 * and the delegation form `serviceAccount:<project>.svc.id.goog[<ns>/<name>]`).
 */
export function k8sSaFromSubject(s: string): { namespace: string; name: string } | null {
  const m1 = /\/subject\/(system:serviceaccount:[^/]+)$/.exec(s);
  if (m1) return parseServiceAccountUsername(m1[1]);
  const m2 = /\/subject\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(s);
  if (m2) return { namespace: m2[1], name: m2[2] };
  const m3 = /\.svc\.id\.goog\[([^/\]]+)\/([^\]]+)\]$/.exec(s);
  if (m3) return { namespace: m3[1], name: m3[2] };
  return parseServiceAccountUsername(s);
}

function aliasesFor(principal: string, cluster: string): { links: string[]; type: IdentityType } {
  const sa = k8sSaFromSubject(principal);
  if (sa) return { links: [k8sServiceAccountId(cluster, sa.namespace, sa.name)], type: "service_account" };
  // principalSubject is often an IAM principal identifier (`user:<email>`, `serviceAccount:<email>`,
  // https://cloud.google.com/iam/docs/principal-identifiers): the alias is the address it names.
  const bare = principal.replace(/^(?:user|serviceAccount|group|domain):(?=[^:/]+$)/i, "");
  const gsa = gcpServiceAccountAlias(bare);
  if (gsa) return { links: [gsa], type: "service_account" };
  if (/^[^@\s]+@[^@\s]+$/.test(bare)) return { links: [humanAlias(bare)], type: "human" };
  return { links: [`gcp-principal:${principal}`], type: "unknown" };
}

function delegateOf(d: unknown): string | undefined {
  const o = obj(d);
  if (!o) return undefined;
  const first = obj(o.firstPartyPrincipal);
  const third = obj(o.thirdPartyPrincipal);
  return (
    str(first?.principalEmail, 1024) ||
    str(o.principalSubject, 1024) ||
    str(obj(third?.thirdPartyClaims)?.sub, 1024) ||
    undefined
  );
}

/**
 * The caller. With service-account impersonation, principalEmail is the impersonated account and
 * serviceAccountDelegationInfo lists the real authorities in order, so the first delegate is the caller.
 * GKE Workload Identity is the exception that proves a link: the Kubernetes service account is bound to
 * the Google service account, so both aliases belong to one identity.
 */
function callerOf(p: Obj, cluster: string): Caller {
  const auth = obj(p.authenticationInfo) ?? {};
  const email = str(auth.principalEmail, 1024) || undefined;
  const subject = str(auth.principalSubject, 1024) || undefined;
  const chain = arr(auth.serviceAccountDelegationInfo)
    .map(delegateOf)
    .filter((x): x is string => !!x);
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("principal_email", email);
  put("principal_subject", subject);
  put("delegation_chain", chain.join(","));
  put("authority_selector", str(auth.authoritySelector, 512));
  // "The name of the service account key used to create or exchange credentials for authenticating the
  // service account making the request" (AuthenticationInfo reference): the call was made with a key
  // (for a user-managed key, a long-lived secret held outside Google) rather than an attached or
  // federated identity, so the key is the actor's credential.
  const key = str(auth.serviceAccountKeyName, 1024) || undefined;
  put("service_account_key", key);
  if (key) attrs.credential_type = "service_account_key";
  const caller = chain[0] ?? email ?? subject;
  if (!caller) return { principal: "anonymous", type: "unknown", links: [], credential: key, attrs };
  const { links, type } = aliasesFor(caller, cluster);
  let impersonated: string | undefined;
  if (chain.length && email && email !== caller) {
    const gsa = gcpServiceAccountAlias(email);
    if (gsa && k8sSaFromSubject(caller) && /\.svc\.id\.goog\[|\/subject\/ns\//.test(caller)) {
      // GKE Workload Identity: the KSA is bound to the GSA (roles/iam.workloadIdentityUser), so every call
      // the workload makes shows the GSA as principalEmail and the KSA as delegate. That is one identity
      // acting as itself, not impersonation (which would raise a privilege change on every data access).
      links.push(gsa);
      attrs.workload_identity_sa = email;
    } else impersonated = email;
  }
  return { principal: caller, type, links, impersonated, credential: key, attrs };
}

const SM_METHODS: Record<string, [Verb, string]> = {
  AccessSecretVersion: ["read", "secret"],
  GetSecret: ["read", "secret-metadata"],
  GetSecretVersion: ["read", "secret-metadata"],
  ListSecrets: ["list", "secret"],
  ListSecretVersions: ["list", "secret-metadata"],
  CreateSecret: ["create", "secret"],
  AddSecretVersion: ["write", "secret"],
  UpdateSecret: ["update", "secret"],
  DeleteSecret: ["delete", "secret"],
  DestroySecretVersion: ["delete", "secret"],
  DisableSecretVersion: ["update", "secret"],
  EnableSecretVersion: ["update", "secret"],
  SetIamPolicy: ["update", "secret-metadata"],
  GetIamPolicy: ["read", "secret-metadata"],
};

const GCS_VERBS: Record<string, Verb> = {
  "storage.objects.get": "read",
  "storage.objects.create": "write",
  "storage.objects.update": "update",
  "storage.objects.patch": "update",
  "storage.objects.delete": "delete",
  "storage.objects.list": "list",
  "storage.objects.compose": "write",
  "storage.objects.rewrite": "write",
  "storage.objects.copy": "write",
  "storage.buckets.list": "list",
  "storage.buckets.get": "read",
  "storage.buckets.create": "create",
  "storage.buckets.delete": "delete",
  "storage.buckets.update": "update",
  "storage.setIamPermissions": "update",
  "storage.getIamPermissions": "read",
};

function verbFromMethod(method: string): Verb {
  const last = method.slice(method.lastIndexOf(".") + 1);
  if (/^(get|Get|Access|Read|read|Lookup|lookup|Search|search)/.test(last)) return "read";
  if (/^(list|List)/.test(last)) return "list";
  if (/^(create|Create|insert|Insert)/.test(last)) return "create";
  if (/^(update|Update|patch|Patch|set|Set|Add|add|Enable|Disable)/.test(last)) return "update";
  if (/^(delete|Delete|Destroy|destroy)/.test(last)) return "delete";
  if (/^(GenerateAccessToken|GenerateIdToken|SignBlob|SignJwt)$/.test(last)) return "impersonate";
  return "other";
}

/** `projects/<p>[/locations/<l>]/secrets/<name>[/versions/<v>]` */
function secretResource(name: string) {
  const m = /^projects\/([^/]+)\/(?:locations\/([^/]+)\/)?secrets\/([^/]+)(?:\/versions\/([^/]+))?/.exec(
    name,
  );
  return m ? { project: m[1], location: m[2], secret: m[3], version: m[4] } : null;
}

export function normalizeGcpEntry(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent[] | { error: string } | { skipped: string } {
  if (isGkeK8sEntry(r)) {
    const g = gkeEntryToK8sEvent(r);
    if ("error" in g) return { error: g.error };
    const n = normalizeK8sEvent(g.event, cluster, receivedAt);
    if ("error" in n || "skipped" in n) return n;
    return [n];
  }
  // The timestamp is parsed once, here, instead of in validate and again after it.
  const invalid = shapeError(r);
  if (invalid) return { error: invalid };
  const t = eventTime(r.timestamp);
  if ("error" in t) return { error: t.error };
  const p = r.protoPayload as Obj;
  const service = str(p.serviceName, 256) ?? "";
  const method = p.methodName as string;
  const resourceName = str(p.resourceName, 3000) ?? "";
  const caller = callerOf(p, cluster);
  const meta = obj(p.requestMetadata);
  const status = obj(p.status);
  // google.rpc.Code; a number in LogEntry JSON, a string in BigQuery JSON exports (INT64).
  const code = num(status?.code) ?? 0;
  const httpStatus = lookup(GRPC_HTTP, code) ?? 500;
  const labels = obj(obj(r.resource)?.labels);
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("service_name", service);
  put("log_name", str(r.logName, 512));
  put("project_id", str(labels?.project_id, 256));
  put("resource_type", str(obj(r.resource)?.type, 128));
  put("resource_location", str(arr(obj(p.resourceLocation)?.currentLocations)[0], 128));
  put("caller_network", str(meta?.callerNetwork, 512));
  const granted: string[] = [];
  for (const a of arr(p.authorizationInfo).slice(0, 16)) {
    const perm = str(obj(a)?.permission, 256);
    if (perm) granted.push(`${perm}${obj(a)?.granted === false ? ":denied" : ""}`);
  }
  put("permissions", granted.join(","));

  let uri = `gcp://${service}/${resourceName}`;
  let type = service.split(".")[0] || "api";
  let verb = verbFromMethod(method);
  let name: string | undefined = resourceName || undefined;
  const shortMethod = method.slice(method.lastIndexOf(".") + 1);
  if (service === "secretmanager.googleapis.com") {
    // CreateSecret names the parent project in resourceName; the new secret's id is in the request.
    const rq = obj(p.request);
    const parent = str(rq?.parent, 1024);
    const secretId = str(rq?.secretId, 512);
    const s =
      secretResource(resourceName) ??
      (parent && secretId && !secretId.includes("/")
        ? secretResource(`${parent}/secrets/${secretId}`)
        : null);
    const sm = lookup(SM_METHODS, shortMethod);
    if (sm) [verb, type] = sm;
    else type = "secret";
    if (s) {
      // A regional secret (projects/<p>/locations/<l>/secrets/<n>) is another resource than the global
      // secret of the same name (https://cloud.google.com/secret-manager/regional-secrets/about).
      const loc = s.location ? `/locations/${s.location}` : "";
      uri = `gcp-secretmanager://projects/${s.project}${loc}/secrets/${s.secret}`;
      name = s.secret;
      put("secret_version", s.version);
      put("secret_location", s.location);
    } else if (verb === "list") {
      uri = `gcp-secretmanager://${resourceName}/secrets/*`;
    }
  } else if (service === "storage.googleapis.com") {
    const m = /^projects\/[^/]*\/buckets\/([^/]+)(?:\/objects\/(.*))?$/.exec(resourceName);
    verb = lookup(GCS_VERBS, method) ?? verb;
    if (m) {
      uri = `gs://${m[1]}/${m[2] ?? ""}`;
      type = m[2] !== undefined ? "object" : "bucket";
      name = m[2] || m[1];
      put("bucket", m[1]);
    }
  } else if (verb === "impersonate") {
    // IAM Credentials: resourceName names the target service account by unique id; request.name, the last
    // hop of metadata.identityDelegationChain and resource.labels.email_id name it by email
    // (https://cloud.google.com/iam/docs/audit-logging/audit-logging-iamcreds,
    // https://cloud.google.com/iam/docs/create-short-lived-credentials-delegated).
    const hops = arr(obj(p.metadata)?.identityDelegationChain)
      .map((x) => str(x, 1024)?.replace(/^projects\/-\/serviceAccounts\//, ""))
      .filter((x): x is string => !!x);
    const email = (v: unknown) => /(?:^|serviceAccounts\/)([^/]+@[^/]+)$/.exec(str(v, 1024) ?? "")?.[1];
    const target =
      email(obj(p.request)?.name) ??
      email(hops[hops.length - 1]) ??
      email(labels?.email_id) ??
      email(resourceName);
    if (target) {
      uri = `gcp://${service}/projects/-/serviceAccounts/${target}`;
      type = "service_account";
      name = target;
    }
    put("delegation_targets", hops.length > 1 ? hops.join(",") : undefined);
    // With delegation (the caller itself acting through another account) the first-hop account is
    // already the impersonation; the minted token's account is then in the resource.
    caller.impersonated ??= target;
  }
  // IAM policy changes: what was granted, e.g. "ADD roles/owner serviceAccount:x@p.iam.gserviceaccount.com".
  const deltas = bindingDeltas(p);
  if (deltas.length)
    put(
      "policy_delta",
      deltas
        .map((d) => `${d.action} ${d.role} ${d.member}`.trim())
        .join(", ")
        .slice(0, 1024),
    );
  const e: NormalizedEvent = {
    id: stableId("gcp-audit", r.insertId as string, str(r.logName, 512) ?? ""),
    class_uid: 6003,
    source: "gcp-audit",
    time: t.time,
    received_at: receivedAt,
    cluster,
    identity_id: "",
    actor: {
      principal: caller.principal,
      type: caller.type,
      groups: [],
      credential_id: caller.credential,
      impersonated: caller.impersonated,
      links: caller.links,
      attrs: caller.attrs,
    },
    operation: method,
    verb,
    resource: { uri, type, name },
    src_ip: str(meta?.callerIp, 128) ?? "",
    user_agent: str(meta?.callerSuppliedUserAgent, 2048) ?? "",
    outcome: code === 0 ? "success" : "failure",
    status_code: httpStatus,
    reason: code === 0 ? "" : `${code}${str(status?.message, 1500) ? `: ${str(status?.message, 1500)}` : ""}`,
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: r.insertId as string,
    attrs,
  };
  return [finishEvent(e)];
}

/** Lets the collector publish GKE `k8s.io` entries that arrived on /ingest/gcp-audit to the Kubernetes topic. */
export function gcpRoute(record: unknown): "k8s-audit" | "gcp-audit" {
  return isGkeK8sEntry(record) ? "k8s-audit" : "gcp-audit";
}

export const gcpAudit: SourceParser = {
  source: "gcp-audit",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, (d) => unwrap(d)),
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    if (isGkeK8sEntry(r)) {
      const g = gkeEntryToK8sEvent(r);
      if ("error" in g) return err(g.error);
    }
    const auth = obj((r.protoPayload as Obj).authenticationInfo);
    const key = str(auth?.principalEmail) || str(auth?.principalSubject) || "anonymous";
    return ok({ key, record: redactGcpEntry(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactGcpEntry(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeGcpEntry(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    if ("skipped" in n) return ok({ events: [], skipped: n.skipped });
    return ok({ events: n });
  },
};
