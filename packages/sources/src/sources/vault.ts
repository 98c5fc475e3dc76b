/**
 * HashiCorp Vault audit device entries (file, socket and syslog devices write one JSON object per line).
 * Format: https://developer.hashicorp.com/vault/docs/audit — every request is logged twice, a `request`
 * entry before it is handled and a `response` entry after, both carrying the same `request.id`.
 * Sensitive strings are HMAC-SHA256'd by default (`hmac-sha256:<hex>`); we keep HMACs as they are
 * (they are stable per value, useful for correlation, and cannot be reversed) and drop anything
 * under request/response data that is not an HMAC (`log_raw` or `audit_non_hmac_*_keys` setups).
 *
 * Field reference: https://developer.hashicorp.com/vault/docs/audit/schema and `audit/types.go` in
 * hashicorp/vault (entry, request, response, auth). Fields were added over releases (`policy_results` in
 * 1.14, `mount_point`, `mount_class`, `client_id` …), so every field but `type`, `time`, `request.path`
 * and `request.operation` is optional.
 *
 * The cluster of a Kubernetes-auth token's service account is not in the entry; it comes from the
 * collector (`?cluster=` on /ingest/vault, or the tailer's `cluster`), i.e. the Kubernetes cluster whose
 * TokenReview API the Vault kubernetes auth mount points at. One Vault serving several clusters maps each
 * auth mount to its cluster with `vault.kubernetes_auth_clusters` (NormalizeContext.vaultAuthClusters).
 */
import {
  awsRoleAlias,
  awsUserAlias,
  err,
  gcpServiceAccountAlias,
  humanAlias,
  k8sServiceAccountId,
  ok,
  parseServiceAccountUsername,
  SA_PREFIX,
  stableId,
} from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import {
  attrSetter,
  equalsLowerAscii,
  finishEvent,
  lookup,
  REDACTED,
  setOwn,
  shippedLine,
  TOO_DEEP,
  tooDeep,
  Undecodable,
} from "../common";
import type { SourceParser } from "../types";
import { commaList, decodeJsonOrNdjson, eventTime, isObj, type Obj, obj, str, strArr } from "../util";

const HMAC_PREFIX = "hmac-sha256:";
const ENTRY_TYPES = new Set(["request", "response"]);

function unwrap(doc: unknown, depth = 0): unknown[] {
  if (Array.isArray(doc)) return depth > 0 ? [doc] : doc.flatMap((d) => unwrap(d, depth + 1));
  if (!isObj(doc) || doc.type !== undefined || doc.request !== undefined || depth > 2) return [doc];
  // A log shipper's record around one line of the file device writing to stdout (`file_path=stdout`, the
  // usual setup in containers).
  const line = shippedLine(doc, "audit entry");
  if (line === undefined) return [doc];
  if (line instanceof Undecodable) return [line];
  return unwrap(line, depth + 1);
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

/**
 * Vault tokens in a URL (the deprecated `auth/token/lookup/:token` form, a token pasted into a path): the
 * path is never HMAC'd. Service, batch and recovery tokens are `hvs.`/`hvb.`/`hvr.` since Vault 1.10
 * and `s.`/`b.`/`r.` with 24 characters before (https://developer.hashicorp.com/vault/docs/concepts/tokens).
 */
const TOKEN_SEGMENT = /(^|\/)(hv[sbr]\.[A-Za-z0-9_-]{20,}|[sbr]\.[A-Za-z0-9]{24})(?=\/|$)/g;
function scrubPathTokens(path: string): string {
  return path.replace(TOKEN_SEGMENT, `$1${REDACTED}`);
}

/**
 * Audited headers (`sys/config/auditing/request-headers`) are HMAC'd unless configured with `hmac=false`,
 * and every one is in clear on a `log_raw` device. These carry no credential and are kept in clear; any
 * other header (X-Vault-Token, Authorization, cookies, whatever the operator chose to audit) is scrubbed.
 */
const CLEAR_HEADERS = new Set([
  "user-agent",
  "x-forwarded-for",
  "x-real-ip",
  "x-request-id",
  "x-vault-namespace",
]);
function scrubHeaders(h: unknown): unknown {
  if (!isObj(h)) return scrubNonHmac(h);
  let out: Obj | undefined;
  for (const k of Object.keys(h)) {
    const x = h[k];
    const y = CLEAR_HEADERS.has(k.toLowerCase()) ? clearHeaderValue(x) : scrubNonHmac(x);
    if (y === x) continue;
    if (out === undefined) out = Object.getPrototypeOf(h) === Object.prototype ? { ...h } : copyOwn(h);
    setOwn(out, k, y);
  }
  if (out === undefined && Object.getPrototypeOf(h) !== Object.prototype) return copyOwn(h);
  return out ?? h;
}
function copyOwn(h: Obj): Obj {
  const o: Obj = {};
  for (const k of Object.keys(h)) setOwn(o, k, h[k]);
  return o;
}
/** Header values are `[]string` in the entry: strings (and lists of them) pass, anything else is scrubbed. */
function clearHeaderValue(v: unknown): unknown {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
  return scrubNonHmac(v);
}

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
    if (typeof q.path === "string" && q.path.includes(".")) q.path = scrubPathTokens(q.path);
    if ("headers" in q) q.headers = scrubHeaders(q.headers);
    // Plugin-supplied details of the request (binary protocols such as KMIP), as opaque as `data`.
    if ("supplemental_audit_data" in q) q.supplemental_audit_data = scrubNonHmac(q.supplemental_audit_data);
    out.request = q;
  }
  const res = obj(r.response);
  if (res) {
    const s: Obj = { ...res };
    for (const k of ["data", "secret", "supplemental_audit_data"]) if (k in s) s[k] = scrubNonHmac(s[k]);
    if ("headers" in s) s.headers = scrubHeaders(s.headers);
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

function serviceAccountOf(
  meta: Obj | undefined,
  displayName: string | undefined,
): { namespace: string; name: string } | null {
  if (meta) {
    const name = str(meta.service_account_name, 253);
    const namespace = str(meta.service_account_namespace, 253);
    if (name && namespace) return { namespace, name };
    // JWT/OIDC auth against a cluster's issuer maps the token subject into metadata.
    for (const k of ["sub", "subject", "service_account"]) {
      const v = str(meta[k], 600);
      const sa = v ? parseServiceAccountUsername(v) : null;
      if (sa) return sa;
    }
  }
  // JWT auth with `user_claim="sub"` against a cluster's OIDC issuer (the documented Kubernetes setup,
  // https://developer.hashicorp.com/vault/docs/auth/jwt/oidc-providers/kubernetes) names the entity alias,
  // and so the token's display name, `<mount>-system:serviceaccount:<ns>:<name>`.
  const i = displayName ? displayName.indexOf(SA_PREFIX) : -1;
  return i >= 0 ? parseServiceAccountUsername((displayName as string).slice(i)) : null;
}

/**
 * Claims that GitHub Actions and GitLab CI put in their job ID tokens (and that `claim_mappings` commonly
 * copies into the token metadata): a token carrying them belongs to a pipeline, even when a mapped
 * `email` names the person who triggered it.
 * https://docs.github.com/actions/deployment/security-hardening-your-deployments/about-security-hardening-with-openid-connect
 * https://docs.gitlab.com/ee/ci/secrets/id_token_authentication.html
 */
const CI_KEYS = [
  "repository",
  "project_path",
  "job_workflow_ref",
  "pipeline_source",
  "pipeline_id",
  "run_id",
];

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

/**
 * Secrets engines whose reads (or, for some, writes) hand out credential material: dynamic database,
 * cloud and service credentials, static-role passwords, PKI certificates with their private keys, exported
 * transit keys. Path relative to the mount, per engine's API docs
 * (https://developer.hashicorp.com/vault/api-docs/secret/<engine>). They are secret reads whatever the
 * HTTP method (aws/sts, ssh/creds and pki/issue are POSTs).
 */
const CREDENTIAL_PATHS: Record<string, RegExp> = {
  database: /^(creds|static-creds)\//,
  aws: /^(creds|sts)\//,
  azure: /^creds\//,
  gcp: /^(roleset|static-account|impersonated-account)\/[^/]+\/(token|key)$|^(token|key)\//,
  consul: /^creds\//,
  nomad: /^creds\//,
  rabbitmq: /^creds\//,
  kubernetes: /^creds\//,
  // Library sets check out a service account's password (POST .../check-out).
  ldap: /^(creds|static-cred)\/|^library\/[^/]+\/check-out$/,
  openldap: /^(creds|static-cred)\/|^library\/[^/]+\/check-out$/,
  ad: /^creds\/|^library\/[^/]+\/check-out$/,
  ssh: /^creds\//,
  terraform: /^creds\//,
  mongodbatlas: /^creds\//,
  alicloud: /^creds\//,
  pki: /^(issue\/|issuer\/[^/]+\/issue\/)/,
  transit: /^export\//,
};

interface Classified {
  verb: Verb;
  type: string;
  /** Set for reads that hand out a secret value or credential (attrs.secret_kind). */
  secretKind?: string;
}

/**
 * Verb and resource type of one request. `rel` is the path below the mount point. KV v2 puts values under
 * `data/`, names and versions under `metadata/` and `subkeys/`, and soft/hard deletes under `delete/` and
 * `destroy/` (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2); KV v1 has none of these.
 */
function classify(
  path: string,
  rel: string,
  mountType: string,
  operation: string,
  login: boolean,
): Classified {
  if (login) return { verb: "auth", type: mountType || "auth" };
  const verb = lookup(VERBS, operation) ?? "other";
  // Response wrapping hands the wrapped secret (often an AppRole SecretID) to whoever unwraps it.
  if (path === "sys/wrapping/unwrap" && (verb === "update" || verb === "read"))
    return { verb: "read", type: "vault-secret", secretKind: "wrapped" };
  // Cubbyhole is a per-token KV v1 store.
  if (mountType === "kv" || mountType === "generic" || mountType === "cubbyhole") {
    const head = rel.slice(0, rel.indexOf("/") + 1);
    if (head === "metadata/" || head === "subkeys/") {
      // LIST always runs on metadata/: enumerating secret names is a secret listing.
      return verb === "list" ? { verb, type: "vault-secret" } : { verb, type: "kv-metadata" };
    }
    if ((head === "delete/" || head === "destroy/") && verb === "update")
      return { verb: "delete", type: "vault-secret" };
    if (head === "config/" || rel === "config") return { verb, type: "kv-config" };
    return verb === "read"
      ? { verb, type: "vault-secret", secretKind: "kv" }
      : { verb, type: "vault-secret" };
  }
  const cred = lookup(CREDENTIAL_PATHS, mountType);
  if (cred?.test(rel) && (verb === "read" || verb === "update" || verb === "create"))
    return { verb: "read", type: "vault-secret", secretKind: mountType };
  // Transit decrypt (and rewrap-free datakey generation) returns plaintext: a read of protected data.
  if (mountType === "transit" && /^(decrypt|datakey\/plaintext)\//.test(rel) && verb === "update")
    return { verb: "read", type: "transit" };
  // Token creation and AppRole SecretID generation mint credentials (POSTs in Vault's API).
  if (
    (mountType === "token" && /^create(-orphan)?(\/|$)/.test(rel)) ||
    (mountType === "approle" && /^role\/[^/]+\/(secret-id|custom-secret-id)$/.test(rel) && verb === "update")
  )
    return { verb: "create", type: mountType };
  return { verb, type: mountType || fallbackMountType(path) };
}

/**
 * Mount type of the system, token and identity backends when the entry has none (older releases, or a
 * request rejected before it was routed to a mount).
 */
function fallbackMountType(path: string): string {
  if (path.startsWith("sys/")) return "system";
  if (path.startsWith("auth/token/")) return "token";
  if (path.startsWith("identity/")) return "identity";
  return "unknown";
}

/**
 * Whether the request is a login: `auth/<mount>/login[/<user>]` (every auth method), the OIDC/JWT
 * browser-flow callback, login MFA completion (`sys/mfa/validate`), or any other auth-mount request whose
 * response issues a token (plugins with their own login paths). Token-store operations (create, renew)
 * also return an auth block but are not logins.
 */
function isLogin(path: string, mountType: string, responseAuth: Obj | undefined): boolean {
  if (/^auth\/.+\/login(\/|$)/.test(path) || /^auth\/.+\/callback$/.test(path) || path === "sys/mfa/validate")
    return true;
  if (!responseAuth || mountType === "token" || path.startsWith("auth/token/") || !path.startsWith("auth/"))
    return false;
  return !!(str(responseAuth.accessor) || str(responseAuth.client_token));
}

/**
 * The name Vault would give the token of a userpass/LDAP/Okta/RADIUS login (`auth/<mount>/login/<user>`):
 * the mount path with `/` as `-`, then the user. A failed login has no auth block; the path still names
 * who tried.
 */
function attemptedLogin(path: string): string | undefined {
  const m = /^auth\/(.+)\/login\/([^/]+)$/.exec(path);
  return m ? `${m[1].replace(/\//g, "-")}-${m[2]}` : undefined;
}

/** HTTP status Vault answers with for the errors it logs; 0 (unknown) for the rest. */
function statusOf(error: string, auth: Obj | undefined): number {
  if (/permission denied/i.test(error) || obj(auth?.policy_results)?.allowed === false)
    return error ? 403 : 0;
  if (/unsupported path|no handler for route/i.test(error)) return 404;
  if (/rate limit quota exceeded/i.test(error)) return 429;
  return 0;
}

/** Namespace path of the request ("" for the root namespace), with one trailing slash. */
function namespacePath(req: Obj): string {
  const p = str(obj(req.namespace)?.path, 256);
  if (!p) return "";
  const t = p.replace(/^\/+|\/+$/g, "");
  return t ? `${t}/` : "";
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
  const path = str(req.path, 3000) ?? "";
  const operation = str(req.operation, 64) ?? "";
  const mountType = str(req.mount_type, 64) || str(res?.mount_type, 64) || "";
  const mountPoint = str(req.mount_point, 512) || str(res?.mount_point, 512) || undefined;
  const login = isLogin(path, mountType, obj(res?.auth));

  const auth = actorAuth(r);
  const meta = obj(auth?.metadata);
  const entityId = str(auth?.entity_id, 256) || undefined;
  const accessor = str(auth?.accessor, 512) || str(req.client_token_accessor, 512) || undefined;
  const displayName = str(auth?.display_name, 1024) || undefined;
  const sa = serviceAccountOf(meta, displayName);
  const cluster = sa ? kubernetesAuthCluster(r, auth, defaultCluster, authClusters) : defaultCluster;
  const ci = !!meta && CI_KEYS.some((k) => str(meta[k]));
  const email = ci ? undefined : str(meta?.email, 320);
  const links: string[] = [];
  if (entityId) links.push(`vault-entity:${entityId}`);
  if (sa) links.push(k8sServiceAccountId(cluster, sa.namespace, sa.name));
  // AWS IAM auth: Vault resolves the caller to `canonical_arn` (an assumed role's role ARN, or a user's
  // ARN), the same role CloudTrail names (https://developer.hashicorp.com/vault/docs/auth/aws).
  const arn = str(meta?.canonical_arn, 2048) || str(meta?.client_arn, 2048);
  const awsRole = arn ? awsRoleAlias(arn) : null;
  const awsUser = arn && !awsRole ? awsUserAlias(arn) : null;
  if (awsRole) links.push(awsRole);
  else if (awsUser) links.push(awsUser);
  // GCP auth (iam and gce types) puts the caller's service account in metadata.
  const gcpSa = gcpServiceAccountAlias(str(meta?.service_account_email, 320) ?? "");
  if (gcpSa) links.push(gcpSa);
  // An OIDC/JWT login's verified email claim names the person behind the entity.
  const human = !sa && !awsRole && !gcpSa && !!email?.includes("@");
  if (human) links.push(humanAlias(email as string));
  // No entity (root or orphan token): the token accessor is the most specific handle we have.
  if (links.length === 0 && accessor) links.push(`vault-accessor:${accessor}`);
  // A rejected (unknown or expired) token, or a batch token (no accessor): its HMAC tells tokens apart.
  const tokenHmac = str(req.client_token, 512) || str(auth?.client_token, 512);
  const token = tokenHmac?.startsWith(HMAC_PREFIX) ? tokenHmac : undefined;
  if (links.length === 0 && token) links.push(`vault-token:${token}`);
  const type: IdentityType = sa
    ? "service_account"
    : awsRole
      ? "cloud_role"
      : gcpSa
        ? "service_account"
        : human
          ? "human"
          : entityId
            ? "service_account"
            : "unknown";

  // Enterprise: `request.path` is relative to the request's namespace; the URI names the namespace so that
  // the same path in two namespaces stays two resources.
  const nsPath = namespacePath(req);
  const fullPath = nsPath && !path.startsWith(nsPath) ? `${nsPath}${path}` : path;
  // Path below the mount; entries of older releases have no mount_point: the mount is then the first segment.
  const rel =
    mountPoint && path.startsWith(mountPoint)
      ? path.slice(mountPoint.length)
      : path.slice(path.indexOf("/") + 1);
  const c = classify(path, rel, mountType, operation, login);
  const requestId = str(req.id, 256);
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("entry_type", r.type as string);
  put("mount_type", mountType);
  put("mount_point", mountPoint);
  put("mount_accessor", str(req.mount_accessor));
  put("namespace", str(obj(req.namespace)?.path) || str(obj(req.namespace)?.id));
  const policies = strArr(auth?.policies);
  put("policies", commaList(policies));
  put("token_policies", commaList(strArr(auth?.token_policies)));
  put("identity_policies", commaList(strArr(auth?.identity_policies)));
  put("granting_policies", grantingPolicies(auth));
  put("token_type", str(auth?.token_type));
  put("entity_id", entityId);
  put("auth_role", str(meta?.role, 256) || str(meta?.role_name, 256));
  put("service_account_uid", str(meta?.service_account_uid, 256));
  put("aws_account", str(meta?.account_id, 32));
  put("ci_repository", ci ? str(meta?.repository, 512) || str(meta?.project_path, 512) : undefined);
  put("ci_ref", ci ? str(meta?.ref, 512) : undefined);
  put("secret_kind", c.secretKind);
  put("client_id", str(req.client_id, 256));
  put("forwarded_from", str(r.forwarded_from, 256));
  put("remote_port", str(req.remote_port));
  put("request_id", requestId);
  const actorAttrs: Record<string, string> = {};
  attrSetter(actorAttrs)("display_name", displayName);
  // A failed password login has no auth block, but its path names the user who tried.
  const attempted = login && !auth?.display_name && !entityId && !accessor ? attemptedLogin(path) : undefined;
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
      principal: displayName ?? entityId ?? accessor ?? attempted ?? (token ? "vault-token" : "anonymous"),
      type,
      display_name: displayName,
      uid: entityId,
      groups: policies,
      // Batch tokens have no accessor; the token's HMAC is their per-token handle.
      credential_id: accessor ?? token,
      links,
      attrs: actorAttrs,
    },
    operation,
    verb: c.verb,
    resource: {
      uri: `vault://${fullPath}`,
      type: c.type,
      name: path,
      namespace: str(obj(req.namespace)?.path, 256),
    },
    src_ip: str(req.remote_address, 128) ?? "",
    user_agent: userAgent(req),
    outcome: error ? "failure" : "success",
    status_code: statusOf(error, obj(r.auth)),
    reason: error,
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: requestId ?? "",
    attrs,
  });
}

/** Names of the policies that allowed the request (`auth.policy_results`, Vault >= 1.14). */
function grantingPolicies(auth: Obj | undefined): string | undefined {
  const g = obj(auth?.policy_results)?.granting_policies;
  if (!Array.isArray(g)) return undefined;
  const names: string[] = [];
  for (const p of g) {
    const n = str(obj(p)?.name, 256);
    if (n && !names.includes(n)) names.push(n);
    if (names.length >= 32) break;
  }
  return commaList(names);
}

function userAgent(req: Obj): string {
  const h = obj(req.headers);
  if (!h) return "";
  let v: unknown;
  for (const k of Object.keys(h)) if (equalsLowerAscii(k, "user-agent")) v = h[k];
  const s = Array.isArray(v) ? str(v[0], 2048) : str(v, 2048);
  return s && s !== REDACTED && !s.startsWith(HMAC_PREFIX) ? s : "";
}

export const vault: SourceParser = {
  source: "vault",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, unwrap),
  accept(record) {
    if (record instanceof Undecodable) return err(record.reason);
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    const a = actorAuth(r);
    const key = str(a?.entity_id) || str(a?.display_name) || str(a?.accessor) || "anonymous";
    return ok({ key, record: redactVault(r) });
  },
  redact: (record) =>
    record instanceof Undecodable
      ? record.toJSON()
      : tooDeep(record)
        ? { redacted: TOO_DEEP }
        : isObj(record)
          ? redactVault(record)
          : undefined,
  normalize(record, ctx) {
    if (record instanceof Undecodable) return err(record.reason);
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeVault(record, ctx.cluster, ctx.receivedAt, ctx.vaultAuthClusters);
    if ("error" in n) return err(n.error);
    if ("skipped" in n) return ok({ events: [], skipped: n.skipped });
    return ok({ events: [n] });
  },
};
