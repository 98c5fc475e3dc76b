/**
 * MinIO audit log entries as posted by the audit webhook target (`MINIO_AUDIT_WEBHOOK_ENDPOINT`) or
 * the Kafka audit target: one JSON object per request (arrays and NDJSON accepted for batches).
 * Reference: https://min.io/docs/minio/linux/operations/monitoring/minio-logging.html and
 * internal/logger/message/audit in minio/minio. Schema version "1" throughout; fields were added over
 * time (`accessKey` ~2023, `parentUser` for service accounts/STS, `api.rx/tx` ~2021), so every one is
 * optional except `time` and `api.name`. Entries without `accessKey` still name it in the SigV4
 * `Authorization: … Credential=<accessKey>/<date>/…` header, which we keep minus its signature, and
 * entries from 2021–2023 carry it (and the parent user) in `requestClaims` (`accessKey`, `parent`).
 * The entry struct: `Entry` in minio/pkg logger/message/audit (older: internal/logger/message/audit).
 * Besides S3 calls the log holds admin API calls (`/minio/admin/v3/…`, named after their handler:
 * `AddUser`, `ServerInfo`), STS calls (`AssumeRoleWith…`) and internal subsystem entries (ILM expiry,
 * `trigger`/`event` other than `incoming`, no caller, objects in `api.objects`).
 */
import {
  err,
  humanAlias,
  k8sServiceAccountId,
  ok,
  parseServiceAccountUsername,
  stableId,
} from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import {
  attrSetter,
  equalsLowerAscii,
  finishEvent,
  isCredentialKeyAnyCase,
  lookup,
  mapDeep,
  outcomeOf,
  REDACTED,
  safeDecodeUri,
  TOO_DEEP,
  tooDeep,
} from "../common";
import type { SourceParser } from "../types";
import { decodeJsonOrNdjson, eventTime, isObj, nonNegInt, type Obj, obj, str } from "../util";

const VERSIONS = new Set(["1"]);

function unwrap(doc: unknown, depth = 0): unknown[] {
  if (depth > 2) return [doc];
  return Array.isArray(doc) ? doc.flatMap((d) => unwrap(d, depth + 1)) : [doc];
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (!isObj(r)) return "record is not a JSON object";
  // MinIO writes "1"; a shipper that re-types numeric-looking strings sends 1.
  if (r.version !== undefined && !VERSIONS.has(String(r.version)))
    return "unsupported MinIO audit version (want 1)";
  const api = obj(r.api);
  if (!api) return "missing api";
  if (typeof api.name !== "string" || api.name === "") return "missing api.name";
  return null;
}

function validate(r: unknown): string | null {
  const invalid = shapeError(r);
  if (invalid) return invalid;
  const t = eventTime((r as Obj).time);
  return "error" in t ? t.error : null;
}

/** SigV4: keep `Credential=<key>/…` (an identifier), drop the signature. */
function redactAuthorization(v: unknown): unknown {
  if (typeof v !== "string") return REDACTED;
  const cred = /Credential=([^,\s]+)/.exec(v)?.[1];
  return cred ? `AWS4-HMAC-SHA256 Credential=${cred}, Signature=${REDACTED}` : REDACTED;
}

/**
 * Query parameters and headers that hold a secret besides the shared credential names: STS form values
 * sent in the query string (`LDAPPassword` of AssumeRoleWithLDAPIdentity, which releases before the
 * audit filter logged; `Token`/`WebIdentityToken`), and any `*password*`, `*secret*`, `*token*` or
 * `*signature*` name (presigned `X-Amz-Signature`, `X-Amz-Security-Token`, a gateway's own headers).
 * https://min.io/docs/minio/linux/developers/security-token-service.html
 */
const SECRETISH = /password|secret|token|signature/i;
function redactHeaders(h: unknown): unknown {
  return mapDeep(h, (k, v) => {
    if (!isCredentialKeyAnyCase(k) && !SECRETISH.test(k)) return undefined;
    return k.toLowerCase() === "authorization" ? redactAuthorization(v) : REDACTED;
  });
}

export function redactMinio(r: Obj): Obj {
  // Spread copies the own keys in order, `__proto__` included as an own key (CopyDataProperties).
  const out: Obj = { ...r };
  for (const k of ["requestHeader", "responseHeader", "requestQuery"])
    if (k in out) out[k] = redactHeaders(out[k]);
  return out;
}

const VERBS: Record<string, Verb> = {
  GetObject: "read",
  SelectObjectContent: "read",
  GetObjectAttributes: "other",
  HeadObject: "other",
  PutObject: "write",
  PutObjectPart: "write",
  CopyObject: "write",
  CopyObjectPart: "write",
  CompleteMultipartUpload: "write",
  PostPolicyBucket: "write",
  PutObjectExtract: "write",
  PutObjectFanOut: "write",
  // The pre-2021 MinIO Browser's own handlers.
  WebUpload: "write",
  WebDownload: "read",
  WebDownloadZip: "read",
  NewMultipartUpload: "other",
  DeleteObject: "delete",
  DeleteMultipleObjects: "delete",
  AbortMultipartUpload: "delete",
  ListObjectsV1: "list",
  ListObjectsV2: "list",
  ListObjectVersions: "list",
  ListObjectVersionsM: "list",
  ListBuckets: "list",
  ListMultipartUploads: "list",
  ListObjectParts: "list",
  PutBucketPolicy: "update",
  DeleteBucketPolicy: "update",
  PutObjectRetention: "update",
  PutObjectLegalHold: "update",
  PutObjectTagging: "update",
  MakeBucket: "create",
  DeleteBucket: "delete",
  // Internal subsystem entries (cmd/data-scanner.go auditLogLifecycle): lifecycle expiry deletes objects,
  // transition moves their data to a remote tier.
  ILMExpiry: "delete",
  ILMFreeVersionDelete: "delete",
  ILMTransition: "update",
};

/**
 * Verb of a handler the table does not name, from the naming MinIO's S3 and admin handlers follow:
 * `List…`; `Put…`/`Set…`/`Update…`/`Attach…`/`Detach…`/`Edit…` change configuration;
 * `Delete<Bucket|Object><Config>` (tagging, policy, encryption…) removes configuration, not data;
 * admin `Add…`/`Create…`/`Import…` create, `Remove…`/`Delete…` delete; reads of state are `other`.
 */
function verbOf(handler: string): Verb {
  const v = lookup(VERBS, handler);
  if (v) return v;
  if (/^AssumeRole/.test(handler)) return "auth";
  if (/^List/.test(handler)) return "list";
  if (/^Delete(Bucket|Object)[A-Z]/.test(handler)) return "update";
  if (/^(Put|Set|Update|Attach|Detach|Edit|Restore|Reset)[A-Z]/.test(handler)) return "update";
  if (/^(Add|Create|Make|Import)[A-Z]/.test(handler)) return "create";
  if (/^(Remove|Delete)[A-Z]/.test(handler)) return "delete";
  return "other";
}

function headerOf(h: Obj | undefined, name: string): string | undefined {
  if (!h) return undefined;
  const lower = name.toLowerCase();
  for (const k of Object.keys(h)) if (equalsLowerAscii(k, lower)) return str(h[k], 3000);
  return undefined;
}

/** Admin API calls name no bucket object: their target (user, policy, group) is a query parameter. */
const ADMIN_TARGETS = ["accessKey", "userOrGroup", "name", "group", "policyName", "bucket"];

interface Target {
  uri: string;
  type: string;
  name?: string;
}

/**
 * What the request acted on. S3 calls: `minio://<bucket>/<object>`. Admin API calls (request path under
 * `/minio/admin/`, or a bucket-less handler other than ListBuckets and STS in entries without
 * `requestPath`) and STS calls get their own schemes, so they never read as object-store activity.
 */
function targetOf(r: Obj, handler: string, bucket: string, object: string): Target {
  if (/^AssumeRole/.test(handler)) return { uri: `minio-sts://${handler}`, type: "sts" };
  const reqPath = str(r.requestPath, 3000);
  const admin = reqPath
    ? /^\/minio\/(admin|kms)\//.test(reqPath)
    : !bucket && handler !== "ListBuckets" && !lookup(VERBS, handler);
  if (admin) {
    const q = obj(r.requestQuery);
    let target: string | undefined;
    for (const k of ADMIN_TARGETS) if ((target = str(q?.[k], 512))) break;
    return {
      uri: `minio-admin://${handler}${target ? `/${target}` : ""}`,
      type: "admin",
      name: target,
    };
  }
  if (!bucket) return { uri: "minio://", type: "service" };
  return {
    uri: `minio://${bucket}/${object}`,
    type: object ? "object" : "bucket",
    name: object || bucket,
  };
}

/** Objects of the entry: `api.object`, else `api.objects[].objectName` (batch deletes, internal entries). */
function objectsOf(api: Obj): string[] {
  const one = str(api.object, 3000);
  if (one) return [one];
  const list = api.objects;
  if (!Array.isArray(list)) return [""];
  // Several versions of one object are one resource (and one event id).
  const out = new Set<string>();
  for (const o of list) {
    const n = str(obj(o)?.objectName, 3000);
    if (n) out.add(n);
    if (out.size >= MAX_OBJECTS) break;
  }
  return out.size ? [...out] : [""];
}
/** One event per object of a batch delete, up to this many (the S3 API allows 1000 per request). */
const MAX_OBJECTS = 1000;

interface Caller {
  principal: string;
  type: IdentityType;
  displayName?: string;
  accessKey?: string;
  parentUser?: string;
  links: string[];
}

/**
 * Who made the request. Service accounts and STS credentials act for their parent user (`parentUser`,
 * or `requestClaims.parent` before the field existed). `requestClaims` holds the claims of the
 * credential's session — for OIDC/WebIdentity STS credentials, the identity provider's token claims:
 * a Kubernetes service-account subject (`system:serviceaccount:<ns>:<name>`, MinIO Operator STS or any
 * cluster issuer) or a verified email names the identity behind MinIO's opaque parent-user hash.
 * https://min.io/docs/minio/linux/administration/identity-access-management/oidc-access-management.html
 */
function callerOf(r: Obj, handler: string, cluster: string): Caller {
  const claims = obj(r.requestClaims);
  const reqH = obj(r.requestHeader);
  const fromSig =
    /Credential=([^/,\s]+)\//.exec(headerOf(reqH, "Authorization") ?? "")?.[1] ??
    /^([^/]+)\//.exec(safeDecodeUri(headerOf(obj(r.requestQuery), "X-Amz-Credential") ?? ""))?.[1];
  const accessKey = str(r.accessKey, 512) || str(claims?.accessKey, 512) || fromSig || undefined;
  const parentUser = str(r.parentUser, 512) || str(claims?.parent, 512) || undefined;
  const sub = str(claims?.sub, 600);
  const sa = sub ? parseServiceAccountUsername(sub) : null;
  const email = str(claims?.email, 320);
  const human = !sa && !!email?.includes("@") && !!str(claims?.iss);
  const ldapUser = str(claims?.ldapUsername, 512) || str(obj(r.requestQuery)?.LDAPUsername, 512);
  const displayName =
    str(claims?.preferred_username, 512) || (human ? email : undefined) || ldapUser || sub || undefined;
  const links: string[] = [];
  if (parentUser) links.push(`minio-user:${parentUser}`);
  if (accessKey) links.push(`minio-key:${accessKey}`);
  if (sa) links.push(k8sServiceAccountId(cluster, sa.namespace, sa.name));
  if (human) links.push(humanAlias(email as string));
  if (parentUser || accessKey) {
    return {
      principal: (parentUser ?? accessKey) as string,
      type: sa ? "service_account" : human ? "human" : "service_account",
      displayName,
      accessKey,
      parentUser,
      links,
    };
  }
  // An STS call before credentials exist: the web identity's subject, or the LDAP user name.
  if (sa || human)
    return {
      principal: sub ?? (email as string),
      type: sa ? "service_account" : "human",
      displayName,
      links,
    };
  if (ldapUser && /^AssumeRole/.test(handler))
    return { principal: ldapUser, type: "unknown", displayName, links };
  // Internal subsystem entries (lifecycle, replication, healing) have no caller: the subsystem acts.
  const event = str(r.event, 128) || str(r.trigger, 128);
  if (event && event !== "incoming" && !str(r.remotehost))
    return { principal: `system:minio:${event.trim()}`, type: "unknown", links };
  return { principal: "anonymous", type: "unknown", links };
}

export function normalizeMinio(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent[] | { error: string } {
  // The timestamp is parsed once, here, instead of in validate and again after it.
  const invalid = shapeError(r);
  if (invalid) return { error: invalid };
  const t = eventTime(r.time);
  if ("error" in t) return { error: t.error };
  const api = r.api as Obj;
  const name = api.name as string;
  const bucket = str(api.bucket, 256) ?? "";
  // Some builds and gateways qualify the handler name (`s3.GetObject`, `admin.ServerInfo`); the verb is
  // the handler's.
  const handler = name.replace(/^(s3|admin|sts)\./i, "");
  const who = callerOf(r, handler, cluster);
  const reqH = obj(r.requestHeader);
  const status = nonNegInt(api.statusCode);
  const error = str(r.error, 1024) ?? "";
  const verb = verbOf(handler);
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("deployment_id", str(r.deploymentid, 128));
  put("trigger", str(r.trigger, 64));
  put("event", str(r.event, 64));
  put("request_host", str(r.requestHost, 512));
  put("request_path", str(r.requestPath, 1024));
  put("api_status", str(api.status, 128));
  const ttrNs = str(api.timeToResponseInNS, 32);
  put("time_to_response", str(api.timeToResponse, 64) ?? (ttrNs ? `${ttrNs}ns` : undefined));
  put("access_key", who.accessKey);
  put("parent_user", who.parentUser);
  put("bucket", bucket);
  put("node", str(r.requestNode, 256) ?? str(r.host, 256) ?? str(r.node, 256));
  put("site", str(r.siteName, 256));
  put("error", error);
  const copy = headerOf(reqH, "X-Amz-Copy-Source");
  if (copy) {
    const p = safeDecodeUri(copy.split("?")[0].replace(/^\//, ""));
    put("copy_source", `minio://${p}`);
  }
  const objects = objectsOf(api);
  if (objects.length > 1) put("batch_objects", String(objects.length));
  const requestId = str(r.requestID, 256) ?? "";
  const actorAttrs: Record<string, string> = {};
  const claims = obj(r.requestClaims);
  const putActor = attrSetter(actorAttrs);
  putActor("sub", str(claims?.sub, 600));
  putActor("issuer", str(claims?.iss, 600));
  const events: NormalizedEvent[] = [];
  for (let i = 0; i < objects.length; i++) {
    const object = objects[i];
    const target = targetOf(r, handler, bucket, object);
    events.push(
      finishEvent({
        id: stableId(
          "minio",
          requestId,
          name,
          bucket,
          object,
          str(r.deploymentid, 128) ?? "",
          requestId ? "" : t.time,
        ),
        class_uid: 6003,
        source: "minio",
        time: t.time,
        received_at: receivedAt,
        cluster,
        identity_id: "",
        actor: {
          principal: who.principal,
          type: who.type,
          display_name: who.displayName,
          groups: [],
          credential_id: who.accessKey,
          links: who.links,
          attrs: actorAttrs,
        },
        operation: name,
        verb,
        resource: { uri: target.uri, type: target.type, name: target.name },
        src_ip: str(r.remotehost, 128) ?? "",
        user_agent: str(r.userAgent, 2048) ?? "",
        // Internal entries carry no status code; an error alone still marks a failure.
        outcome: status ? outcomeOf(status) : error ? "failure" : "unknown",
        status_code: status,
        reason: status >= 400 || (!status && error) ? error || (str(api.status, 256) ?? "") : "",
        // A batch's byte counts are the request's: counted once, on its first object.
        bytes_in: i === 0 ? nonNegInt(api.rx) : 0,
        bytes_out: i === 0 ? nonNegInt(api.tx) : 0,
        raw_ref: requestId,
        attrs: i === 0 ? attrs : { ...attrs },
      }),
    );
  }
  return events;
}

export const minio: SourceParser = {
  source: "minio",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, (d) => unwrap(d)),
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    const cred = /Credential=([^/,\s]+)\//.exec(headerOf(obj(r.requestHeader), "Authorization") ?? "")?.[1];
    const claims = obj(r.requestClaims);
    const key =
      str(r.parentUser) ||
      str(claims?.parent) ||
      str(r.accessKey) ||
      str(claims?.accessKey) ||
      cred ||
      "anonymous";
    return ok({ key, record: redactMinio(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactMinio(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeMinio(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    return ok({ events: n });
  },
};
