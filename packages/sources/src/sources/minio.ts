/**
 * MinIO audit log entries as posted by the audit webhook target (`MINIO_AUDIT_WEBHOOK_ENDPOINT`) or
 * the Kafka audit target: one JSON object per request (arrays and NDJSON accepted for batches).
 * Reference: https://min.io/docs/minio/linux/operations/monitoring/minio-logging.html and
 * internal/logger/message/audit in minio/minio. Schema version "1" throughout; fields were added over
 * time (`accessKey` ~2023, `parentUser` for service accounts/STS, `api.rx/tx` ~2021), so every one is
 * optional except `time` and `api.name`. Entries without `accessKey` still name it in the SigV4
 * `Authorization: … Credential=<accessKey>/<date>/…` header, which we keep minus its signature.
 */
import { err, ok, stableId } from "@identrail/core";
import type { NormalizedEvent, Verb } from "@identrail/schema";
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

function redactHeaders(h: unknown): unknown {
  return mapDeep(h, (k, v) => {
    if (!isCredentialKeyAnyCase(k)) return undefined;
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
};

function headerOf(h: Obj | undefined, name: string): string | undefined {
  if (!h) return undefined;
  const lower = name.toLowerCase();
  for (const k of Object.keys(h)) if (equalsLowerAscii(k, lower)) return str(h[k], 3000);
  return undefined;
}

export function normalizeMinio(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent | { error: string } {
  // The timestamp is parsed once, here, instead of in validate and again after it.
  const invalid = shapeError(r);
  if (invalid) return { error: invalid };
  const t = eventTime(r.time);
  if ("error" in t) return { error: t.error };
  const api = r.api as Obj;
  const name = api.name as string;
  const bucket = str(api.bucket, 256) ?? "";
  const object = str(api.object, 3000) ?? "";
  const reqH = obj(r.requestHeader);
  const fromSig =
    /Credential=([^/,\s]+)\//.exec(headerOf(reqH, "Authorization") ?? "")?.[1] ??
    /^([^/]+)\//.exec(safeDecodeUri(headerOf(obj(r.requestQuery), "X-Amz-Credential") ?? ""))?.[1];
  const accessKey = str(r.accessKey, 512) || fromSig || undefined;
  const parentUser = str(r.parentUser, 512) || undefined;
  const links: string[] = [];
  // Service accounts and STS credentials act for their parent user: the parent is the identity.
  if (parentUser) links.push(`minio-user:${parentUser}`);
  if (accessKey) links.push(`minio-key:${accessKey}`);
  const status = nonNegInt(api.statusCode);
  // Some builds and gateways qualify the handler name (`s3.GetObject`); the verb is the handler's.
  const handler = name.replace(/^s3\./i, "");
  const verb =
    lookup(VERBS, handler) ?? (/^Get/.test(handler) ? "other" : /^List/.test(handler) ? "list" : "other");
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("deployment_id", str(r.deploymentid, 128));
  put("trigger", str(r.trigger, 64));
  put("request_host", str(r.requestHost, 512));
  put("api_status", str(api.status, 128));
  put("time_to_response", str(api.timeToResponse, 64));
  put("access_key", accessKey);
  put("parent_user", parentUser);
  put("bucket", bucket);
  put("node", str(r.host, 256) ?? str(r.node, 256));
  put("error", str(r.error, 1024));
  const copy = headerOf(reqH, "X-Amz-Copy-Source");
  if (copy) {
    const p = safeDecodeUri(copy.split("?")[0].replace(/^\//, ""));
    put("copy_source", `minio://${p}`);
  }
  const requestId = str(r.requestID, 256) ?? "";
  const uri = bucket ? `minio://${bucket}/${object}` : "minio://";
  return finishEvent({
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
      principal: parentUser ?? accessKey ?? "anonymous",
      type: parentUser || accessKey ? "service_account" : "unknown",
      groups: [],
      credential_id: accessKey,
      links,
      attrs: {},
    },
    operation: name,
    verb,
    resource: {
      uri,
      type: object ? "object" : bucket ? "bucket" : "service",
      name: object || bucket || undefined,
    },
    src_ip: str(r.remotehost, 128) ?? "",
    user_agent: str(r.userAgent, 2048) ?? "",
    outcome: outcomeOf(status),
    status_code: status,
    reason: status >= 400 ? (str(api.status, 256) ?? str(r.error, 1024) ?? "") : "",
    bytes_in: nonNegInt(api.rx),
    bytes_out: nonNegInt(api.tx),
    raw_ref: requestId,
    attrs,
  });
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
    const key = str(r.parentUser) || str(r.accessKey) || cred || "anonymous";
    return ok({ key, record: redactMinio(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactMinio(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeMinio(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    return ok({ events: [n] });
  },
};
