/**
 * Google Cloud Audit Logs (LogEntry with an AuditLog protoPayload): NDJSON exports, single entries,
 * arrays, `{"entries":[…]}` (Logging API entries.list) and Pub/Sub push envelopes from a log sink.
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
  TOO_DEEP,
  tooDeep,
  Undecodable,
  unwrapPubSub,
} from "../common";
import type { SourceParser } from "../types";
import { arr, decodeJsonOrNdjson, eventTime, isObj, type Obj, obj, str } from "../util";
import { GRPC_HTTP, gkeEntryToK8sEvent, isGkeK8sEntry, normalizeK8sEvent } from "./k8s-audit";

function unwrap(doc: unknown, depth = 0): unknown[] {
  if (depth > 3) return [doc];
  if (Array.isArray(doc)) return doc.flatMap((d) => unwrap(d, depth + 1));
  if (!isObj(doc)) return [doc];
  if (Array.isArray(doc.entries)) return doc.entries.flatMap((d) => unwrap(d, depth + 1));
  const push = unwrapPubSub(doc);
  if (push instanceof Undecodable) return [push];
  if (push) return unwrap(push.value, depth + 1);
  return [doc];
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (r instanceof Undecodable) return r.reason;
  if (!isObj(r)) return "record is not a JSON object";
  const p = obj(r.protoPayload);
  if (!p) return "not a Cloud Audit Log entry (no protoPayload)";
  const type = p["@type"];
  if (type !== undefined && type !== "type.googleapis.com/google.cloud.audit.AuditLog")
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

/** request fields that name the target and never carry a value. */
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
    const q: Obj = { ...p };
    if (isObj(q.request)) q.request = redactKeys(pick(q.request, REQUEST_KEEP), isCredentialKey);
    else delete q.request;
    if (isObj(q.response)) q.response = redactKeys(pick(q.response, REQUEST_KEEP), isCredentialKey);
    else delete q.response;
    delete q.serviceData;
    if ("metadata" in q) q.metadata = redactKeys(q.metadata, isCredentialKey);
    out.protoPayload = q;
  }
  return out;
}

interface Caller {
  principal: string;
  type: IdentityType;
  links: string[];
  impersonated?: string;
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
  const gsa = gcpServiceAccountAlias(principal);
  if (gsa) return { links: [gsa], type: "service_account" };
  if (/^[^@\s]+@[^@\s]+$/.test(principal)) return { links: [humanAlias(principal)], type: "human" };
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
  put("service_account_key", str(auth.serviceAccountKeyName, 1024));
  const caller = chain[0] ?? email ?? subject;
  if (!caller) return { principal: "anonymous", type: "unknown", links: [], attrs };
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
  return { principal: caller, type, links, impersonated, attrs };
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
  const code = typeof status?.code === "number" ? status.code : 0;
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
    const s = secretResource(resourceName);
    const sm = lookup(SM_METHODS, shortMethod);
    if (sm) [verb, type] = sm;
    else type = "secret";
    if (s) {
      uri = `gcp-secretmanager://projects/${s.project}/secrets/${s.secret}`;
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
  } else if (verb === "impersonate" && !caller.impersonated) {
    // iamcredentials: the target service account is in the resource/request name.
    const target = /serviceAccounts\/([^/]+@[^/]+)$/.exec(
      str(obj(p.request)?.name, 1024) ?? resourceName,
    )?.[1];
    const chainMeta = arr(obj(p.metadata)?.identityDelegationChain);
    const last = str(chainMeta[chainMeta.length - 1], 1024)?.replace(/^projects\/-\/serviceAccounts\//, "");
    caller.impersonated = target ?? last;
  }
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
