/**
 * HashiCorp Vault audit device entries (file, socket and syslog devices write one JSON object per line).
 * Format: https://developer.hashicorp.com/vault/docs/audit — every request is logged twice, a `request`
 * entry before it is handled and a `response` entry after, both carrying the same `request.id`.
 * Sensitive strings are HMAC-SHA256'd by default (`hmac-sha256:<hex>`); we keep HMACs as they are
 * (they are stable per value, useful for correlation, and cannot be reversed) and drop anything
 * under request/response data that is not an HMAC (`log_raw` or `audit_non_hmac_*_keys` setups).
 *
 * The cluster of a Kubernetes-auth token's service account is not in the entry; it comes from the
 * collector (`?cluster=` on /ingest/vault, or the tailer's `cluster`), i.e. the Kubernetes cluster whose
 * TokenReview API the Vault kubernetes auth mount points at. One Vault serving several clusters maps each
 * auth mount to its cluster with `vault.kubernetes_auth_clusters` (NormalizeContext.vaultAuthClusters).
 */
import { err, k8sServiceAccountId, ok, parseServiceAccountUsername, stableId } from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import { attrSetter, finishEvent, lookup, REDACTED, setOwn, TOO_DEEP, tooDeep } from "../common";
import type { SourceParser } from "../types";
import { commaList, decodeJsonOrNdjson, eventTime, isObj, type Obj, obj, str, strArr } from "../util";

const HMAC_PREFIX = "hmac-sha256:";
const ENTRY_TYPES = new Set(["request", "response"]);

function unwrap(doc: unknown): unknown[] {
  return Array.isArray(doc) ? doc : [doc];
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (!isObj(r)) return "record is not a JSON object";
  const type = r.type;
  if (typeof type !== "string") return "missing type";
  if (!ENTRY_TYPES.has(type))
    return `unsupported Vault audit entry type ${JSON.stringify(type.slice(0, 40))} (want request or response)`;
  const req = obj(r.request);
  if (!req) return "missing request";
  if (typeof req.path !== "string") return "missing request.path";
  if (typeof req.operation !== "string") return "missing request.operation";
  if (r.auth !== undefined && r.auth !== null && !isObj(r.auth)) return "auth is not an object";
  return null;
}

function validate(r: unknown): string | null {
  const invalid = shapeError(r);
  if (invalid) return invalid;
  const t = eventTime((r as Obj).time);
  return "error" in t ? t.error : null;
}

/**
 * Keeps HMACs; any other scalar under a data/secret subtree is replaced (it may be a plaintext value).
 * Copy on write: an all-HMAC array or plain object (the default audit device setting) is returned as it
 * is, one with something to replace is copied once; other objects are copied into plain objects.
 */
function scrubNonHmac(v: unknown, depth = 0): unknown {
  if (typeof v === "string") return v.startsWith(HMAC_PREFIX) ? v : REDACTED;
  if (typeof v === "number") return REDACTED;
  if (v === null || typeof v === "boolean") return v;
  if (depth > 64) return REDACTED;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      const y = scrubNonHmac(x, depth + 1);
      if (y === x) continue;
      if (out === undefined) out = v.slice();
      out[i] = y;
    }
    return out ?? v;
  }
  if (!isObj(v)) return REDACTED;
  if (Object.getPrototypeOf(v) !== Object.prototype) {
    const copy: Obj = {};
    for (const k of Object.keys(v)) setOwn(copy, k, scrubNonHmac(v[k], depth + 1));
    return copy;
  }
  let out: Obj | undefined;
  for (const k of Object.keys(v)) {
    const x = v[k];
    const y = scrubNonHmac(x, depth + 1);
    if (y === x) continue;
    if (out === undefined) out = { ...v };
    setOwn(out, k, y);
  }
  return out ?? v;
}
const hmacOnly = (v: unknown) =>
  typeof v === "string" && !v.startsWith(HMAC_PREFIX) && v !== "" ? REDACTED : v;

/** Token fields inside an auth block: a raw client token is a live credential. */
function redactAuth(a: unknown): unknown {
  if (!isObj(a)) return a;
  // Kept as it is when the token is already an HMAC (or absent), as in every default audit entry.
  if (Object.getPrototypeOf(a) === Object.prototype && hmacOnly(a.client_token) === a.client_token) return a;
  const out: Obj = { ...a };
  if ("client_token" in out) out.client_token = hmacOnly(out.client_token);
  return out;
}

export function redactVault(r: Obj): Obj {
  // Spread copies the own keys in order, `__proto__` included as an own key (CopyDataProperties).
  const out: Obj = { ...r };
  if ("auth" in out) out.auth = redactAuth(out.auth);
  const req = obj(r.request);
  if (req) {
    const q: Obj = { ...req };
    if ("data" in q) q.data = scrubNonHmac(q.data);
    if ("client_token" in q) q.client_token = hmacOnly(q.client_token);
    if ("headers" in q) q.headers = scrubNonHmac(q.headers);
    out.request = q;
  }
  const res = obj(r.response);
  if (res) {
    const s: Obj = { ...res };
    for (const k of ["data", "secret", "headers"]) if (k in s) s[k] = scrubNonHmac(s[k]);
    if ("auth" in s) s.auth = redactAuth(s.auth);
    const wrap = obj(s.wrap_info);
    if (wrap) s.wrap_info = { ...wrap, token: hmacOnly(wrap.token) };
    out.response = s;
  }
  return out;
}

const VERBS: Record<string, Verb> = {
  read: "read",
  list: "list",
  create: "create",
  update: "update",
  patch: "update",
  delete: "delete",
};

/** The auth block describing the actor: the request's token, or for logins the token being issued. */
function actorAuth(r: Obj): Obj | undefined {
  const a = obj(r.auth);
  if (a && (str(a.display_name) || str(a.entity_id) || str(a.accessor))) return a;
  const ra = obj(obj(r.response)?.auth);
  return ra ?? a;
}

function serviceAccountOf(meta: Obj | undefined): { namespace: string; name: string } | null {
  if (!meta) return null;
  const name = str(meta.service_account_name, 253);
  const namespace = str(meta.service_account_namespace, 253);
  if (name && namespace) return { namespace, name };
  // JWT/OIDC auth against a cluster's issuer maps the token subject into metadata.
  for (const k of ["sub", "subject", "service_account"]) {
    const v = str(meta[k], 600);
    const sa = v ? parseServiceAccountUsername(v) : null;
    if (sa) return sa;
  }
  return null;
}

/**
 * The cluster whose TokenReview a Kubernetes auth mount uses. A login names its mount
 * (request.mount_point); later requests only carry the token's display name, which Vault prefixes with
 * the auth mount path (`auth/k8s-eu/` → `k8s-eu-<namespace>-<name>`), so the longest matching prefix wins.
 */
export function kubernetesAuthCluster(
  r: Obj,
  auth: Obj | undefined,
  fallback: string,
  map: Readonly<Record<string, string>> | undefined,
): string {
  if (!map) return fallback;
  const trim = (m: string) => m.replace(/^\/+|\/+$/g, "");
  const mounts = Object.keys(map)
    .filter((m) => typeof map[m] === "string" && map[m] !== "")
    .sort((a, b) => b.length - a.length);
  const loginMount = str(obj(r.request)?.mount_point, 512);
  if (loginMount && /^auth\//.test(loginMount)) {
    const hit = mounts.find((m) => trim(m) === trim(loginMount));
    if (hit) return map[hit];
  }
  const dn = str(auth?.display_name, 1024);
  if (dn) {
    const hit = mounts.find((m) =>
      dn.startsWith(
        `${trim(m)
          .replace(/^auth\//, "")
          .replace(/\//g, "-")}-`,
      ),
    );
    if (hit) return map[hit];
  }
  return fallback;
}

export function normalizeVault(
  r: Obj,
  defaultCluster: string,
  receivedAt: string,
  authClusters?: Readonly<Record<string, string>>,
): NormalizedEvent | { error: string } | { skipped: string } {
  // The timestamp is parsed once, here, instead of in validate and again after it.
  const invalid = shapeError(r);
  if (invalid) return { error: invalid };
  const t = eventTime(r.time);
  if ("error" in t) return { error: t.error };
  const req = r.request as Obj;
  const res = obj(r.response);
  const error = str(r.error, 2048) ?? "";
  if (r.type === "request" && error === "") {
    return { skipped: "request entry (the response entry with the same request.id carries the outcome)" };
  }
  const auth = actorAuth(r);
  const meta = obj(auth?.metadata);
  const entityId = str(auth?.entity_id, 256) || undefined;
  const accessor = str(auth?.accessor, 512) || str(req.client_token_accessor, 512) || undefined;
  const displayName = str(auth?.display_name, 1024) || undefined;
  const sa = serviceAccountOf(meta);
  const cluster = sa ? kubernetesAuthCluster(r, auth, defaultCluster, authClusters) : defaultCluster;
  const email = str(meta?.email, 320);
  const links: string[] = [];
  if (entityId) links.push(`vault-entity:${entityId}`);
  if (sa) links.push(k8sServiceAccountId(cluster, sa.namespace, sa.name));
  // An OIDC/JWT login's verified email claim names the person behind the entity.
  if (!sa && email?.includes("@")) links.push(`human:${email.toLowerCase()}`);
  // No entity (root or orphan token): the token accessor is the most specific handle we have.
  if (links.length === 0 && accessor) links.push(`vault-accessor:${accessor}`);
  // A rejected (unknown or expired) token has no auth details: its HMAC still tells repeated attempts apart.
  const tokenHmac = str(req.client_token, 512);
  const token = tokenHmac?.startsWith(HMAC_PREFIX) ? tokenHmac : undefined;
  if (links.length === 0 && token) links.push(`vault-token:${token}`);
  const type: IdentityType = sa
    ? "service_account"
    : email?.includes("@")
      ? "human"
      : entityId
        ? "service_account"
        : "unknown";

  const path = str(req.path, 3000) ?? "";
  const operation = str(req.operation, 64) ?? "";
  const mountType = str(req.mount_type, 64) || str(res?.mount_type, 64) || "";
  const mountPoint = str(req.mount_point, 512);
  const isLogin = /^auth\/.+\/login(\/|$)/.test(path);
  const verb: Verb = isLogin ? "auth" : (lookup(VERBS, operation) ?? "other");
  let resourceType = mountType || "unknown";
  if (mountType === "kv" && operation === "read") {
    // KV v2 splits values (data/) from metadata (metadata/); only a known mount point lets us tell them apart.
    resourceType = mountPoint && path.startsWith(`${mountPoint}metadata/`) ? "kv-metadata" : "vault-secret";
  }
  const permissionDenied = /permission denied/i.test(error);
  const requestId = str(req.id, 256);
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("entry_type", r.type as string);
  put("mount_type", mountType);
  put("mount_point", mountPoint);
  put("mount_accessor", str(req.mount_accessor));
  put("namespace", str(obj(req.namespace)?.path) ?? str(obj(req.namespace)?.id));
  const policies = strArr(auth?.policies);
  put("policies", commaList(policies));
  put("token_policies", commaList(strArr(auth?.token_policies)));
  put("identity_policies", commaList(strArr(auth?.identity_policies)));
  put("token_type", str(auth?.token_type));
  put("entity_id", entityId);
  put("auth_role", str(meta?.role, 256));
  put("service_account_uid", str(meta?.service_account_uid, 256));
  put("remote_port", str(req.remote_port));
  put("request_id", requestId);
  const actorAttrs: Record<string, string> = {};
  attrSetter(actorAttrs)("display_name", displayName);
  return finishEvent({
    // Request and response entries of a failed request share the id, so the pair collapses to one event.
    id: stableId("vault", requestId ?? `${t.time}|${path}|${operation}|${accessor ?? ""}`),
    class_uid: 6003,
    source: "vault",
    time: t.time,
    received_at: receivedAt,
    cluster: defaultCluster,
    identity_id: "",
    actor: {
      principal: displayName ?? entityId ?? accessor ?? (token ? "vault-token" : "anonymous"),
      type,
      display_name: displayName,
      uid: entityId,
      groups: policies,
      credential_id: accessor,
      links,
      attrs: actorAttrs,
    },
    operation,
    verb,
    resource: {
      uri: `vault://${path}`,
      type: resourceType,
      name: path,
      namespace: str(obj(req.namespace)?.path, 256),
    },
    src_ip: str(req.remote_address, 128) ?? "",
    user_agent: userAgent(req),
    outcome: error ? "failure" : "success",
    status_code: permissionDenied ? 403 : 0,
    reason: error,
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: requestId ?? "",
    attrs,
  });
}

function userAgent(req: Obj): string {
  const h = obj(req.headers);
  if (!h) return "";
  const v = h["user-agent"] ?? h["User-Agent"];
  const s = Array.isArray(v) ? str(v[0], 2048) : str(v, 2048);
  return s && s !== REDACTED && !s.startsWith(HMAC_PREFIX) ? s : "";
}

export const vault: SourceParser = {
  source: "vault",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, unwrap),
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    const a = actorAuth(r);
    const key = str(a?.entity_id) || str(a?.display_name) || str(a?.accessor) || "anonymous";
    return ok({ key, record: redactVault(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactVault(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeVault(record, ctx.cluster, ctx.receivedAt, ctx.vaultAuthClusters);
    if ("error" in n) return err(n.error);
    if ("skipped" in n) return ok({ events: [], skipped: n.skipped });
    return ok({ events: [n] });
  },
};
