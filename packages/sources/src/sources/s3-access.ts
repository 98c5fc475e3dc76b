/**
 * Amazon S3 server access log lines: https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html
 * Space-separated fields; Request-URI, Referer and User-Agent are double-quoted, the time is bracketed,
 * `-` means empty. AWS appends new fields at the end over time ("we might add new fields to the end of
 * each line"), so anything past the known columns is tolerated and ignored.
 * `decode` splits lines into named fields; the record on the wire is that object.
 */
import { awsRoleAlias, awsUserAlias, err, ok, stableId } from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import {
  attrSetter,
  finishEvent,
  outcomeOf,
  REDACTED,
  safeDecodeUri,
  setOwn,
  TOO_DEEP,
  tooDeep,
} from "../common";
import type { DecodeError, SourceParser } from "../types";
import { eventTime, isObj, nonNegInt, type Obj, str } from "../util";

/** Column names in documented order. */
export const S3_FIELDS = [
  "bucket_owner",
  "bucket",
  "time",
  "remote_ip",
  "requester",
  "request_id",
  "operation",
  "key",
  "request_uri",
  "http_status",
  "error_code",
  "bytes_sent",
  "object_size",
  "total_time",
  "turn_around_time",
  "referer",
  "user_agent",
  "version_id",
  "host_id",
  "signature_version",
  "cipher_suite",
  "authentication_type",
  "host_header",
  "tls_version",
  "access_point_arn",
  "acl_required",
  "source_region",
] as const;
const MIN_FIELDS = 18; // through version_id; older logs end there
const MAX_LINE = 64 * 1024;

/**
 * What may follow the closing quote of the quoted field at column `k`, as a sticky regex tested right after
 * that quote. S3 writes the User-Agent and Referer as the client sent them, without escaping quotes, so
 * `"Mozilla/5.0 (compatible; "bot" 2.1)"` has a `" ` inside the field (a known real-world case, e.g.
 * aws-samples/siem-on-amazon-opensearch-service#34); the first `" ` then is not always the close. The close
 * is the first candidate after which the next columns have their documented shape
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html): HTTP status after the
 * Request-URI, the quoted (or `-`) User-Agent after the Referer, and after the User-Agent the unquoted
 * version id and host id, then the signature version (`SigV2`, `SigV4` or `-`) when the line has one.
 */
const AFTER_QUOTED: Record<number, RegExp> = {
  8: / (?:\d{3}|-)(?: |$)/y,
  15: / (?:"|-(?: |$))/y,
  16: /(?:$| [^ ]+$| [^ ]+ [^ ]+$| [^ ]+ [^ ]+ (?:SigV\d|-)(?: |$))/y,
};

/** Splits one line into raw tokens, or explains why it cannot be split. */
export function tokenizeS3Line(line: string): string[] | { error: string } {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && line[i] === " ") i++;
    if (i >= n) break;
    const c = line[i];
    if (c === '"' || c === "[") {
      const close = c === '"' ? '"' : "]";
      const after = c === '"' ? AFTER_QUOTED[out.length] : undefined;
      // A closing delimiter ends the token only when followed by a space or the end of the line:
      // user agents and URIs can contain stray quotes. Of those candidates the first one after which the
      // line continues as documented wins; when none does, the first candidate (the line is odd anyway).
      let first = -1;
      let j = i + 1;
      for (;;) {
        j = line.indexOf(close, j);
        if (j < 0) break;
        if (line[j - 1] !== "\\" && (j + 1 >= n || line[j + 1] === " ")) {
          if (first < 0) first = j;
          if (after === undefined) break;
          after.lastIndex = j + 1;
          if (after.test(line)) break;
        }
        j++;
      }
      if (j < 0) j = first;
      if (j < 0) return { error: `unterminated ${c === '"' ? "quoted field" : "bracketed time"}` };
      out.push(line.slice(i + 1, j));
      i = j + 1;
    } else {
      let j = line.indexOf(" ", i);
      if (j < 0) j = n;
      out.push(line.slice(i, j));
      i = j;
    }
  }
  return out;
}

export function decodeS3Access(text: string): { records: unknown[]; errors: DecodeError[] } {
  const records: unknown[] = [];
  const errors: DecodeError[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    if (line.length > MAX_LINE) {
      errors.push({ index: i, reason: `line ${i + 1}: longer than ${MAX_LINE} characters` });
      continue;
    }
    const toks = tokenizeS3Line(line);
    if (!Array.isArray(toks)) {
      // No payload: the raw line may hold a presigned URL's credentials.
      errors.push({ index: i, reason: `line ${i + 1}: ${toks.error}` });
      continue;
    }
    if (toks.length < MIN_FIELDS) {
      errors.push({ index: i, reason: `line ${i + 1}: ${toks.length} fields, want at least ${MIN_FIELDS}` });
      continue;
    }
    const rec: Obj = {};
    S3_FIELDS.forEach((f, k) => {
      if (k < toks.length && toks[k] !== "-") setOwn(rec, f, toks[k]);
    });
    if (toks.length > S3_FIELDS.length) rec.extra_fields = toks.length - S3_FIELDS.length;
    records.push(rec);
  }
  if (records.length === 0 && errors.length === 0) errors.push({ index: 0, reason: "empty body" });
  return { records, errors };
}

const MONTHS: Record<string, string> = {
  Jan: "01",
  Feb: "02",
  Mar: "03",
  Apr: "04",
  May: "05",
  Jun: "06",
  Jul: "07",
  Aug: "08",
  Sep: "09",
  Oct: "10",
  Nov: "11",
  Dec: "12",
};
/** `06/Feb/2019:00:00:38 +0000` → RFC 3339. */
export function s3Time(v: string): string | undefined {
  const m = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(v);
  if (!m || !MONTHS[m[2]]) return undefined;
  return `${m[3]}-${MONTHS[m[2]]}-${m[1]}T${m[4]}:${m[5]}:${m[6]}${m[7]}${m[8]}:${m[9]}`;
}

function validate(r: unknown): string | null {
  const c = check(r);
  return "error" in c ? c.error : null;
}
/** validate that also hands back the event time, so normalize parses it once. */
function check(r: unknown): { error: string } | { time: string } {
  if (!isObj(r)) return { error: "record is not an S3 access log entry" };
  if (typeof r.bucket !== "string" || r.bucket === "") return { error: "missing bucket" };
  if (typeof r.operation !== "string" || r.operation === "") return { error: "missing operation" };
  const iso = typeof r.time === "string" ? s3Time(r.time) : undefined;
  if (!iso) return { error: "missing or unparseable timestamp" };
  return eventTime(iso);
}

/** Presigned URLs put the signature and the session token in the query string. */
const QUERY_SECRETS =
  /([?&](?:X-Amz-Signature|X-Amz-Security-Token|Signature|x-amz-security-token)=)[^&\s]*/gi;
export function redactS3Record(r: Obj): Obj {
  // Spread copies the own keys in order, `__proto__` included as an own key (CopyDataProperties).
  const out: Obj = { ...r };
  if (typeof out.request_uri === "string")
    out.request_uri = out.request_uri.replace(QUERY_SECRETS, `$1${REDACTED}`);
  if (typeof out.referer === "string") out.referer = out.referer.replace(QUERY_SECRETS, `$1${REDACTED}`);
  return out;
}

function requesterAlias(req: string, bucket: string): { links: string[]; type: IdentityType } {
  if (!req) return { links: [`aws-anonymous:${bucket}`], type: "unknown" };
  const role = awsRoleAlias(req);
  if (role) return { links: [role], type: "cloud_role" };
  const user = awsUserAlias(req);
  if (user) return { links: [user], type: "unknown" };
  // The root user and STS federated users are logged by ARN; same aliases and types as CloudTrail's
  // Root and FederatedUser identities, so both sources resolve to one identity.
  const root = /^arn:aws[a-z-]*:iam::(\d{12}):root$/.exec(req);
  if (root) return { links: [`aws-user:${root[1]}:root`], type: "human" };
  const fed = /^arn:aws[a-z-]*:sts::(\d{12}):federated-user\/(.+)$/.exec(req);
  if (fed) return { links: [`aws-federated:${fed[1]}:${fed[2]}`], type: "human" };
  if (req.startsWith("svc:") || req === "AmazonS3")
    return { links: [`aws-service:${req.replace(/^svc:/, "")}`], type: "workload" };
  if (/^[0-9a-f]{64}$/.test(req)) return { links: [`aws-canonical:${req}`], type: "unknown" };
  return { links: [`aws-principal:${req}`], type: "unknown" };
}

/**
 * Operation is `<kind>.<HTTP method>.<target>`: REST.GET.OBJECT, WEBSITE.GET.OBJECT (static website
 * endpoint), BATCH.DELETE.OBJECT (one line per key of a multi-object delete), S3.EXPIRE.OBJECT /
 * S3.CREATE.DELETEMARKER / S3.TRANSITION… (lifecycle). The target names the sub-resource:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html (Operation) and the request list
 * in https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-s3-access-logs-to-identify-requests.html.
 * Verbs match what the CloudTrail parser gives the same API (GetObject read, ListParts list …).
 */
function verbOf(op: string): Verb {
  const [kind, method, target = ""] = op.split(".");
  if (kind === "BATCH" && method === "DELETE") return "delete";
  // Lifecycle expiration removes the object, or in a versioned bucket puts a delete marker over it.
  if (kind === "S3") return method === "EXPIRE" || target === "DELETEMARKER" ? "delete" : "other";
  if (kind !== "REST" && kind !== "WEBSITE") return "other";
  switch (target) {
    case "OBJECT":
    case "OBJECT_GET":
    case "PART":
    case "PART_GET":
    case "UPLOAD":
    case "MULTI_OBJECT_DELETE":
      // GET on UPLOAD is ListParts (a listing, like ListMultipartUploadParts in CloudTrail).
      if (method === "GET") return target === "UPLOAD" ? "list" : "read";
      // A copy logs the source side as …_GET (in the source bucket's log) and the destination as the write.
      if (method === "COPY") return target.endsWith("_GET") ? "read" : "write";
      if (method === "PUT" || method === "POST") return target === "MULTI_OBJECT_DELETE" ? "delete" : "write";
      if (method === "DELETE") return "delete";
      return "other";
    // ListObjects(V2), ListObjectVersions, ListMultipartUploads.
    case "BUCKET":
    case "BUCKETVERSIONS":
    case "UPLOADS":
      if (method === "GET") return "list";
  }
  if (method === "PUT") return "update";
  if (method === "DELETE") return "delete";
  return "other";
}

/** Keys are logged URL-encoded (a space as `+`). */
function decodeKey(k: string): string {
  return safeDecodeUri(k.replace(/\+/g, " "));
}

/**
 * `str(r[k], max)`. Module-level: a closure over `r` per record gets a `__name` defineProperty call from
 * tsx/esbuild's keepNames each time it is created.
 */
function field(r: Obj, k: string, max = 2048): string | undefined {
  return str(r[k], max);
}

export function normalizeS3(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent | { error: string } {
  const t = check(r);
  if ("error" in t) return { error: t.error };
  const bucket = field(r, "bucket", 256) as string;
  const op = field(r, "operation", 128) as string;
  const requester = field(r, "requester", 1024) ?? "";
  const { links, type } = requesterAlias(requester, bucket);
  const rawKey = field(r, "key", 3000);
  const key = rawKey ? decodeKey(rawKey) : undefined;
  const status = nonNegInt(r.http_status);
  const verb = verbOf(op);
  const objectSize = nonNegInt(r.object_size);
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  for (const f of [
    "bucket_owner",
    "object_size",
    "total_time",
    "turn_around_time",
    "version_id",
    "signature_version",
    "cipher_suite",
    "authentication_type",
    "host_header",
    "tls_version",
    "access_point_arn",
    "acl_required",
    "source_region",
    "error_code",
    "request_uri",
    "referer",
    "host_id",
  ] as const) {
    put(f, field(r, f));
  }
  put("bucket", bucket);
  const requestId = field(r, "request_id", 256) ?? "";
  return finishEvent({
    // A copy logs REST.COPY.OBJECT_GET and REST.COPY.OBJECT under one request id; the operation and key tell them apart.
    id: stableId("s3-access", requestId, op, rawKey ?? "", field(r, "time", 64) ?? ""),
    class_uid: 6003,
    source: "s3-access",
    time: t.time,
    received_at: receivedAt,
    cluster,
    identity_id: "",
    actor: { principal: requester || "anonymous", type, groups: [], links, attrs: {} },
    operation: op,
    verb,
    resource: { uri: `s3://${bucket}/${key ?? ""}`, type: key ? "object" : "bucket", name: key ?? bucket },
    src_ip: field(r, "remote_ip", 128) ?? "",
    user_agent: field(r, "user_agent") ?? "",
    outcome: outcomeOf(status),
    status_code: status,
    reason: status >= 400 ? (field(r, "error_code", 256) ?? "") : "",
    // Bytes sent is the response body; for uploads the object size is what came in. Completing a
    // multipart upload (REST.POST.UPLOAD) logs the whole object's size, but its body is the part list:
    // the data came in with the REST.PUT.PART requests, already counted.
    bytes_in: verb === "write" && op !== "REST.POST.UPLOAD" ? objectSize : 0,
    bytes_out: nonNegInt(r.bytes_sent),
    raw_ref: requestId,
    attrs,
  });
}

export const s3Access: SourceParser = {
  source: "s3-access",
  contentTypes: ["text/plain", "application/octet-stream"],
  decode: decodeS3Access,
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    return ok({ key: str(r.requester, 1024) || "anonymous", record: redactS3Record(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactS3Record(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not an S3 access log entry");
    const n = normalizeS3(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    return ok({ events: [n] });
  },
};
