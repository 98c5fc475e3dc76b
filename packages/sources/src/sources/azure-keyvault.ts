/**
 * Azure Key Vault AuditEvent resource logs as written by diagnostic settings to a storage account or
 * Event Hub (`{"records":[…]}`), plus bare arrays and single records.
 * Schema: https://learn.microsoft.com/azure/key-vault/general/logging#interpret-your-key-vault-logs
 * Operation names: https://learn.microsoft.com/azure/key-vault/general/logging#operation-names-table
 * Key Vault never logs secret values; `properties` is still reduced to known descriptive fields.
 */
import { err, humanAlias, ok, stableId } from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import { attrSetter, finishEvent, isCredentialKey, pick, redactKeys, TOO_DEEP, tooDeep } from "../common";
import type { SourceParser } from "../types";
import { decodeJsonOrNdjson, eventTime, isObj, num, type Obj, obj, str } from "../util";

function unwrap(doc: unknown, depth = 0): unknown[] {
  if (depth > 3) return [doc];
  const list = Array.isArray(doc) ? doc : isObj(doc) && Array.isArray(doc.records) ? doc.records : undefined;
  if (list === undefined) return [doc];
  // What `list.flatMap((d) => unwrap(d, depth + 1))` returns (holes skipped), without flatMap's
  // per-call setup, which cost as much as the rest of decode for a diagnostic-settings blob of one record.
  const out: unknown[] = [];
  for (let i = 0; i < list.length; i++) {
    if (!(i in list)) continue;
    const d = list[i];
    if (depth + 1 <= 3 && (Array.isArray(d) || (isObj(d) && Array.isArray(d.records)))) {
      for (const x of unwrap(d, depth + 1)) out.push(x);
    } else out.push(d);
  }
  return out;
}

/** Structural checks: everything `validate` checks except the timestamp, which normalize parses itself. */
function shapeError(r: unknown): string | null {
  if (!isObj(r)) return "record is not a JSON object";
  if (r.category !== undefined && r.category !== "AuditEvent") return "category is not AuditEvent";
  if (typeof r.operationName !== "string" || r.operationName === "") return "missing operationName";
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

const CLAIM = {
  oid: ["http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"],
  upn: ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "unique_name"],
  appid: ["appid", "azp", "http://schemas.microsoft.com/identity/claims/appid"],
  idtyp: ["idtyp"],
} as const;
function claimOf(c: Obj | undefined, names: readonly string[]): string | undefined {
  if (!c) return undefined;
  for (const n of names) {
    const v = str(c[n], 512);
    if (v) return v;
  }
  return undefined;
}

/** Operation → [verb, object kind]; the kind comes from the name's prefix (Secret*, Key*, Certificate*, Vault*). */
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
  if (/^(Get|Backup)$/.test(action)) verb = "read";
  else if (/^List/.test(action)) verb = "list";
  else if (/^(Set|Restore|Import)$/.test(action)) verb = "write";
  else if (/^(Create|Put)$/.test(action)) verb = "create";
  else if (/^(Update|Recover|Rotate|.*Policy.*)$/.test(action)) verb = "update";
  else if (/^(Delete|Purge)$/.test(action)) verb = "delete";
  else if (kind === "key" && /^(Decrypt|Unwrap|Sign)$/.test(action)) verb = "read";
  return [verb, kind];
}

/** `https://<vault>.vault.azure.net/secrets/<name>[/<version>]` → parts. */
function objectUrl(u: string | undefined) {
  if (!u) return null;
  const m =
    /^https:\/\/([^./]+)\.[^/]*\/(secrets|keys|certificates|deletedsecrets|deletedkeys|deletedcertificates)(?:\/([^/?]+))?(?:\/([^/?]+))?/i.exec(
      u,
    );
  if (m) return { vault: m[1].toLowerCase(), collection: m[2].toLowerCase(), name: m[3], version: m[4] };
  const v = /^https:\/\/([^./]+)\.vault\./i.exec(u);
  return v ? { vault: v[1].toLowerCase(), collection: undefined, name: undefined, version: undefined } : null;
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
  const links: string[] = [];
  let type: IdentityType = "unknown";
  let principal: string;
  // A user token also carries the appid of the client application (portal, CLI): that app is not the actor.
  if (upn && idtyp !== "app") {
    principal = upn;
    // Guest (MSA/B2B) UPNs are written `live.com#user@example.com`; the alias is the address itself.
    links.push(humanAlias(upn.replace(/^[^#@]+#(?=[^#]+@)/, "")));
    type = "human";
  } else if (appid) {
    principal = appid;
    links.push(`azure-app:${appid}`);
    type = "service_account";
  } else {
    principal = oid ?? "anonymous";
  }
  if (oid) links.push(`azure-app:${oid}`);

  const op = r.operationName as string;
  const [verb, kind] = operationOf(op);
  const url = objectUrl(str(props.id, 2048)) ?? objectUrl(str(props.requestUri, 2048));
  const resourceId = str(r.resourceId, 1024) ?? "";
  const vault = url?.vault ?? resourceId.split("/").filter(Boolean).pop()?.toLowerCase() ?? "";
  const collection = url?.collection?.replace(/^deleted/, "") ?? (kind === "vault" ? undefined : `${kind}s`);
  const objName = url?.name;
  const uri =
    collection && objName
      ? `azure-keyvault://${vault}/${collection}/${objName}`
      : collection
        ? `azure-keyvault://${vault}/${collection}/*`
        : `azure-keyvault://${vault}`;
  const status = num(props.httpStatusCode) ?? num(r.httpStatusCode) ?? 0;
  const resultType = str(r.resultType, 64) ?? "";
  const resultSig = str(r.resultSignature, 128) ?? "";
  const failed = status >= 400 || /^fail/i.test(resultType);
  const outcome = failed ? "failure" : status > 0 || /^success/i.test(resultType) ? "success" : "unknown";
  const attrs: Record<string, string> = {};
  const put = attrSetter(attrs);
  put("vault", vault);
  put("resource_id", resourceId);
  put("object_version", url?.version);
  put("operation_version", str(r.operationVersion, 32));
  put("result_signature", resultSig);
  put("result_type", resultType);
  put("correlation_id", str(r.correlationId, 128));
  put(
    "is_rbac_authorized",
    str(props.isRbacAuthorized, 8) ??
      (typeof props.isRbacAuthorized === "boolean" ? String(props.isRbacAuthorized) : undefined),
  );
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
    actor: { principal, type, uid: oid, groups: [], links, attrs: {} },
    operation: op,
    verb,
    resource: {
      uri,
      type: kind === "vault" ? "vault" : kind === "secret" ? "secret" : kind,
      name: objName ?? vault,
    },
    src_ip: str(r.callerIpAddress, 128) ?? "",
    user_agent: str(props.clientInfo, 2048) ?? "",
    outcome,
    status_code: Number.isInteger(status) ? status : 0,
    reason: failed ? resultSig || str(r.resultDescription, 1024) || "" : "",
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
