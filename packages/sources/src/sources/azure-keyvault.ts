/**
 * Azure Key Vault AuditEvent resource logs as written by diagnostic settings to a storage account or
 * Event Hub (`{"records":[…]}`), plus bare arrays and single records, and the same records read back
 * from a Log Analytics workspace (`AzureDiagnostics` or the resource-specific `AZKVAuditLogs` table).
 * Schema: https://learn.microsoft.com/azure/key-vault/general/logging#interpret-your-key-vault-logs
 * Operation names: https://learn.microsoft.com/azure/key-vault/general/logging#operation-names-table
 * Key Vault never logs secret values; `properties` is still reduced to known descriptive fields.
 */
import { err, humanAlias, ok, stableId } from "@identrail/core";
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
} from "../common";
import type { SourceParser } from "../types";
import { arr, decodeJsonOrNdjson, eventTime, isObj, jsonColumn, num, type Obj, obj, str } from "../util";

/** A list of records: a bare array, `records` (diagnostic settings), `value` (ARM/OData list responses). */
function listOf(d: unknown): unknown[] | undefined {
  if (Array.isArray(d)) return d;
  if (!isObj(d)) return undefined;
  if (Array.isArray(d.records)) return d.records;
  if (Array.isArray(d.value)) return d.value;
  if (Array.isArray(d.tables)) return queryRows(d.tables);
  return undefined;
}

function unwrap(doc: unknown): unknown[] {
  const list = listOf(doc);
  return list === undefined ? [canonicalRecord(doc)] : unwrapList(list, 1);
}

function unwrapList(list: unknown[], depth: number): unknown[] {
  // What `list.flatMap((d) => unwrap(d))` returns (holes skipped), without flatMap's per-call setup,
  // which cost as much as the rest of decode for a diagnostic-settings blob of one record.
  const out: unknown[] = [];
  for (let i = 0; i < list.length; i++) {
    if (!(i in list)) continue;
    const d = list[i];
    const sub = depth < 4 ? listOf(d) : undefined;
    if (sub !== undefined) {
      for (const x of unwrapList(sub, depth + 1)) out.push(x);
    } else out.push(canonicalRecord(d));
  }
  return out;
}

/**
 * Log Analytics query API result (https://learn.microsoft.com/azure/azure-monitor/logs/api/response-format):
 * `{"tables":[{"name","columns":[{"name","type"}],"rows":[[…]]}]}`, each row one object keyed by column.
 */
function queryRows(tables: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const t of tables) {
    const cols = arr(obj(t)?.columns).map((c) => str(obj(c)?.name, 256));
    for (const row of arr(obj(t)?.rows)) {
      if (!Array.isArray(row)) {
        out.push(row);
        continue;
      }
      const o: Obj = {};
      for (let i = 0; i < cols.length && i < row.length; i++) {
        const c = cols[i];
        if (c) setOwn(o, c, row[i]);
      }
      out.push(o);
    }
  }
  return out;
}

/** Tables whose rows are Key Vault AuditEvent records. */
const LA_TABLES = new Set(["AzureDiagnostics", "AZKVAuditLogs"]);

/**
 * A Log Analytics row as the AuditEvent record it was ingested from, so that accept and normalize see one
 * shape; anything else is returned as it is.
 * - `AzureDiagnostics` (https://learn.microsoft.com/azure/azure-monitor/reference/tables/azurediagnostics):
 *   common fields in PascalCase (`OperationName`, `TimeGenerated`, `CallerIPAddress`, `ResultSignature`),
 *   each property and identity claim flattened into a column named after it plus a type suffix
 *   (`requestUri_s`, `httpStatusCode_d`, `isRbacAuthorized_b`, `identity_claim_appid_g`; a claim URI's
 *   punctuation becomes `_`: `identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g`).
 * - `AZKVAuditLogs` (https://learn.microsoft.com/azure/azure-monitor/reference/tables/azkvauditlogs): one
 *   PascalCase column per field (`Id`, `RequestUri`, `HttpStatusCode`, `CallerIpAddress`) and `Identity`
 *   as a dynamic object.
 * `az monitor log-analytics query` prints every value as text; normalize reads numbers and booleans
 * from text too.
 */
function canonicalRecord(d: unknown): unknown {
  if (!isObj(d) || d.operationName !== undefined || typeof d.OperationName !== "string") return d;
  const table = str(d.Type, 64);
  if (table !== undefined && !LA_TABLES.has(table)) return d;
  const provider = str(d.ResourceProvider, 64);
  if (provider !== undefined && provider.toUpperCase() !== "MICROSOFT.KEYVAULT") return d;
  const out: Obj = {
    time: d.TimeGenerated ?? d.time,
    category: d.Category ?? (table === "AZKVAuditLogs" ? "AuditEvent" : undefined),
    operationName: d.OperationName,
    operationVersion: d.OperationVersion,
    resultType: d.ResultType,
    resultSignature: d.ResultSignature,
    resultDescription: d.ResultDescription,
    durationMs: d.DurationMs,
    callerIpAddress: d.CallerIPAddress ?? d.CallerIpAddress,
    correlationId: d.CorrelationId,
    resourceId: d.ResourceId ?? d._ResourceId,
  };
  const props: Obj = {};
  const claim: Obj = {};
  for (const k of Object.keys(d)) {
    const v = d[k];
    if (v === null || v === undefined) continue;
    if (k.startsWith("identity_claim_")) {
      setOwn(claim, k.slice(15).replace(/_[sgdbt]$/, ""), v);
      continue;
    }
    // `requestUri_s` (AzureDiagnostics) and `RequestUri` (AZKVAuditLogs) → `requestUri`.
    const base = k.replace(/_[sgdbt]$/, "");
    const name = base.charAt(0).toLowerCase() + base.slice(1);
    if (PROPERTY_KEEP.includes(name) && !Object.hasOwn(props, name)) setOwn(props, name, v);
  }
  const identity = jsonColumn(d.Identity, 65_536);
  if (isObj(identity)) out.identity = identity;
  else if (Object.keys(claim).length) out.identity = { claim };
  out.properties = props;
  return out;
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (!isObj(r)) return "record is not a JSON object";
  if (r.category !== undefined && r.category !== "AuditEvent") return "category is not AuditEvent";
  if (typeof r.operationName !== "string" || r.operationName === "")
    return typeof r.OperationName === "string"
      ? "Log Analytics row is not a Key Vault AuditEvent (want AZKVAuditLogs, or AzureDiagnostics from Microsoft.KeyVault)"
      : "missing operationName";
  if (r.identity !== undefined && r.identity !== null && !isObj(r.identity))
    return "identity is not an object";
  return null;
}

function validate(r: unknown): string | null {
  const invalid = shapeError(r);
  if (invalid) return invalid;
  const t = eventTime((r as Obj).time);
  return "error" in t ? t.error : null;
}

const PROPERTY_KEEP = [
  "id",
  "requestUri",
  "httpStatusCode",
  "clientInfo",
  "isAccessPolicyMatch",
  "isRbacAuthorized",
  "tlsVersion",
  "trustedService",
  "appliedAssignmentId",
  "addressAuthorizationType",
  "networkAcl",
];

export function redactAzureRecord(r: Obj): Obj {
  // Spread copies the own keys in order, `__proto__` included as an own key (CopyDataProperties).
  const out: Obj = { ...r };
  const p = obj(r.properties);
  if (p) out.properties = redactKeys(pick(p, PROPERTY_KEEP), isCredentialKey);
  else delete out.properties;
  if ("identity" in out) out.identity = redactKeys(out.identity, isCredentialKey);
  return out;
}

/**
 * Claim names as Key Vault writes them: the token's short names (`oid`, `appid`, `upn`), the WS-Federation
 * URIs older records use, and their AzureDiagnostics column form (URI punctuation as `_`, see canonicalRecord).
 * Token claims: https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
 */
const CLAIM = {
  oid: [
    "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "oid",
    "http_schemas_microsoft_com_identity_claims_objectidentifier",
  ],
  upn: [
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn",
    "unique_name",
  ],
  appid: ["appid", "azp", "http://schemas.microsoft.com/identity/claims/appid"],
  idtyp: ["idtyp"],
  tid: [
    "http://schemas.microsoft.com/identity/claims/tenantid",
    "tid",
    "http_schemas_microsoft_com_identity_claims_tenantid",
  ],
  // The ARM id of the managed identity a token was issued to: a user-assigned identity
  // (…/Microsoft.ManagedIdentity/userAssignedIdentities/<name>) or the resource with a system-assigned one.
  mirid: ["xms_mirid"],
  name: ["name"],
} as const;
function claimOf(c: Obj | undefined, names: readonly string[]): string | undefined {
  if (!c) return undefined;
  for (const n of names) {
    const v = str(c[n], 512);
    if (v) return v;
  }
  return undefined;
}

/**
 * Operation → [verb, object kind]; the kind comes from the name's prefix (Secret*, Key*, Certificate*,
 * Vault*), the action from the rest (`Get`, `PolicyGet`, `GetDeleted`, `ListVersions`, `PendingMerge` …).
 */
function operationOf(op: string): [Verb, string] {
  const kind = /^Secret/.test(op)
    ? "secret"
    : /^Key/.test(op)
      ? "key"
      : /^Certificate/.test(op)
        ? "certificate"
        : "vault";
  const action = op.replace(/^(Secret|Key|Certificate|Vault)/, "");
  let verb: Verb = "other";
  // Event Grid notifications (SecretNearExpiry…, VaultAccessPolicyChanged…) are Key Vault's own records.
  if (/EventGridNotification$/.test(action)) verb = "other";
  else if (/^List|List$/.test(action)) verb = "list";
  // GetDeleted returns the deleted bundle, value included; Backup the protected blob; Release (secure key
  // release) the key itself.
  else if (/^(Get|GetDeleted|Backup|Release)$|Get$/.test(action)) verb = "read";
  else if (/^(Set|Restore|Import)$/.test(action)) verb = "write";
  else if (/^(Create|Put)$|Create$/.test(action)) verb = "create";
  else if (/^(Update|Patch|Recover|Rotate)$|Policy|Update$|Set$|Merge$/.test(action)) verb = "update";
  else if (/^(Delete|Purge)$|Delete$/.test(action)) verb = "delete";
  else if (kind === "key" && /^(Decrypt|Unwrap|Sign)$/.test(action)) verb = "read";
  return [verb, kind];
}

/** Path segments after an object name that name an operation or a sub-resource, not a version. */
const NOT_A_VERSION =
  /^(policy|pending|rotationpolicy|rotate|backup|recover|create|import|release|decrypt|encrypt|sign|verify|wrapkey|unwrapkey|merge)$/i;

/** `https://<vault>.vault.azure.net/secrets/<name>[/<version>]` (or a Managed HSM host) → parts. */
function objectUrl(u: string | undefined) {
  if (!u) return null;
  const m =
    /^https:\/\/([^./]+)\.[^/]*\/(secrets|keys|certificates|deletedsecrets|deletedkeys|deletedcertificates)(?:\/([^/?]+))?(?:\/([^/?]+))?/i.exec(
      u,
    );
  if (m) {
    // POST /secrets/restore, /keys/restore: the object is in the body.
    const name = m[3] && !/^restore$/i.test(m[3]) ? m[3] : undefined;
    const version = name && m[4] && !NOT_A_VERSION.test(m[4]) ? m[4] : undefined;
    return { vault: m[1].toLowerCase(), collection: m[2].toLowerCase(), name, version };
  }
  const v = /^https:\/\/([^./]+)\.(?:vault|managedhsm)\./i.exec(u);
  return v ? { vault: v[1].toLowerCase(), collection: undefined, name: undefined, version: undefined } : null;
}

/** `resultSignature` is the HTTP status as a reason phrase (logging reference); its code when no number is given. */
const SIGNATURE_STATUS: Record<string, number> = {
  OK: 200,
  Created: 201,
  Accepted: 202,
  NoContent: 204,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  Gone: 410,
  PreconditionFailed: 412,
  TooManyRequests: 429,
  InternalServerError: 500,
  NotImplemented: 501,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
};

/** Boolean properties: JSON booleans, or text in Log Analytics CLI output. */
function boolText(v: unknown): string | undefined {
  if (typeof v === "boolean") return String(v);
  const s = str(v, 8)?.toLowerCase();
  return s === "true" || s === "false" ? s : undefined;
}

export function normalizeAzureRecord(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent | { error: string } {
  // The timestamp is parsed once, here, instead of in validate and again after it.
  const invalid = shapeError(r);
  if (invalid) return { error: invalid };
  const t = eventTime(r.time);
  if ("error" in t) return { error: t.error };
  const props = obj(r.properties) ?? {};
  const claim = obj(obj(r.identity)?.claim);
  const oid = claimOf(claim, CLAIM.oid);
  const upn = claimOf(claim, CLAIM.upn);
  const appid = claimOf(claim, CLAIM.appid);
  const idtyp = claimOf(claim, CLAIM.idtyp);
  const mirid = claimOf(claim, CLAIM.mirid);
  const links: string[] = [];
  let type: IdentityType = "unknown";
  let principal: string;
  let displayName: string | undefined;
  // A user token also carries the appid of the client application (portal, CLI): that app is not the actor.
  if (upn && idtyp !== "app") {
    principal = upn;
    // Guest (MSA/B2B) UPNs are written `live.com#user@example.com`; the alias is the address itself.
    links.push(humanAlias(upn.replace(/^[^#@]+#(?=[^#]+@)/, "")));
    type = "human";
    displayName = claimOf(claim, CLAIM.name);
  } else if (appid) {
    principal = appid;
    links.push(`azure-app:${appid}`);
    type = "service_account";
  } else {
    principal = oid ?? "anonymous";
    if (oid && idtyp === "app") type = "service_account";
  }
  if (oid) links.push(`azure-app:${oid}`);
  // A managed identity's token names it only by GUIDs; its ARM id (xms_mirid) ends in the name people
  // know it by (the user-assigned identity, or the VM / app with a system-assigned one).
  if (mirid && type !== "human") displayName = mirid.slice(mirid.lastIndexOf("/") + 1) || undefined;
  const actorAttrs: Record<string, string> = {};
  const putActor = attrSetter(actorAttrs);
  putActor("tenant_id", claimOf(claim, CLAIM.tid));
  putActor("token_type", idtyp);
  putActor("managed_identity", mirid);

  const op = r.operationName as string;
  const [verb, opKind] = operationOf(op);
  const url = objectUrl(str(props.id, 2048)) ?? objectUrl(str(props.requestUri, 2048));
  const resourceId = str(r.resourceId, 1024) ?? "";
  const vault = url?.vault ?? resourceId.split("/").filter(Boolean).pop()?.toLowerCase() ?? "";
  const collection =
    url?.collection?.replace(/^deleted/, "") ?? (opKind === "vault" ? undefined : `${opKind}s`);
  // `Authentication` (and other vault-level names) on an object URL: the object the request was for.
  const kind = opKind === "vault" && collection ? collection.slice(0, -1) : opKind;
  const objName = url?.name;
  const uri =
    collection && objName
      ? `azure-keyvault://${vault}/${collection}/${objName}`
      : collection
        ? `azure-keyvault://${vault}/${collection}/*`
        : `azure-keyvault://${vault}`;
  const resultType = str(r.resultType, 64) ?? "";
  const resultSig = str(r.resultSignature, 128) ?? "";
  // Key Vault writes resultType "Success" for denied requests too: the HTTP status decides. When a record
  // has no httpStatusCode, resultSignature is that status as a number or a reason phrase.
  const status =
    num(props.httpStatusCode) ??
    num(r.httpStatusCode) ??
    num(resultSig) ??
    lookup(SIGNATURE_STATUS, resultSig) ??
    0;
  const failed = status >= 400 || /^fail/i.test(resultType);
  const outcome = failed ? "failure" : status > 0 || /^success/i.test(resultType) ? "success" : "unknown";
  const description = str(r.resultDescription, 1024)?.trim().split(/\r?\n/)[0] ?? "";
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("vault", vault);
  put("resource_id", resourceId);
  put("object_version", url?.version);
  put("operation_version", str(r.operationVersion, 32));
  put("result_signature", resultSig);
  put("result_type", resultType);
  put("correlation_id", str(r.correlationId, 128));
  put("is_rbac_authorized", boolText(props.isRbacAuthorized));
  put("is_access_policy_match", boolText(props.isAccessPolicyMatch));
  put("app_id", appid);
  put("object_id", oid);
  put("duration_ms", str(r.durationMs, 32));
  const rawRef = str(r.correlationId, 256) || str(props.id, 512) || "";
  return finishEvent({
    id: stableId(
      "azure-keyvault",
      t.time,
      op,
      str(r.correlationId, 256) ?? "",
      str(props.requestUri, 2048) ?? str(props.id, 2048) ?? "",
      oid ?? appid ?? "",
      str(r.callerIpAddress, 128) ?? "",
    ),
    class_uid: 6003,
    source: "azure-keyvault",
    time: t.time,
    received_at: receivedAt,
    cluster,
    identity_id: "",
    actor: { principal, type, display_name: displayName, uid: oid, groups: [], links, attrs: actorAttrs },
    operation: op,
    verb,
    resource: {
      uri,
      type: kind,
      name: objName ?? vault,
    },
    src_ip: str(r.callerIpAddress, 128) ?? "",
    user_agent: str(props.clientInfo, 2048) ?? "",
    outcome,
    status_code: Number.isInteger(status) ? status : 0,
    reason: failed ? [resultSig, description].filter(Boolean).join(": ") : "",
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: rawRef,
    attrs,
  });
}

export const azureKeyVault: SourceParser = {
  source: "azure-keyvault",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, (d) => unwrap(d)),
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    const claim = obj(obj(r.identity)?.claim);
    const key =
      claimOf(claim, CLAIM.upn) || claimOf(claim, CLAIM.appid) || claimOf(claim, CLAIM.oid) || "anonymous";
    return ok({ key, record: redactAzureRecord(r) });
  },
  redact: (record) =>
    tooDeep(record) ? { redacted: TOO_DEEP } : isObj(record) ? redactAzureRecord(record) : undefined,
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeAzureRecord(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    return ok({ events: [n] });
  },
};
