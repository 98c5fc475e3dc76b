/**
 * Identity events: what a normalized event means for an identity. Kept source-agnostic by working on
 * the normalized verb, resource type/URI, the workload attributes parsers extract, and the resource
 * catalog. Most identity events belong to the event's own identity; workload facts (gpu_job,
 * job_lifecycle) belong to the service account the workload runs as, which may be another identity than
 * the creator (a human or the job controller) — those rows are written under the workload's id.
 */
import type { Config } from "@identrail/config";
import { stableId } from "@identrail/core";
import type { IdentityEvent, IdentityEventKind, NormalizedEvent } from "@identrail/schema";
import type { ResourceCatalog } from "./catalog";
import {
  ARTIFACT_KINDS,
  inWorkingHours,
  isHuman,
  isObjectUri,
  isSystemPrincipal,
  scheduleCovers,
  workloadIdentity,
} from "./features";
import type { IdentityState } from "./state";

/** Resource types that denote a secret across sources (K8s secrets, Vault, AWS/GCP/Azure secret stores). */
export const SECRET_TYPES = new Set(["secrets", "secret", "vault-secret"]);
const RBAC_TYPES = new Set(["rolebindings", "clusterrolebindings", "roles", "clusterroles"]);
const WORKLOAD_TYPES = new Set(["pods", "jobs", "cronjobs"]);
/** Cloud token-minting operations that hand one identity another's credentials (GCP IAM Credentials API). */
const TOKEN_MINT_OPS =
  /^(GenerateAccessToken|GenerateIdToken|SignJwt|SignBlob)$|iamcredentials.*\.(generateAccessToken|signJwt)/i;

export function isSecretResource(e: NormalizedEvent, catalog?: ResourceCatalog): boolean {
  if (SECRET_TYPES.has(e.resource.type)) return true;
  return catalog?.classify(e.resource.uri)?.kind === "secret";
}

export interface DeriveContext {
  config?: Config;
  /** The event identity's state before this event (learned schedule for off-hours). */
  state?: IdentityState;
}

/**
 * CloudTrail's `x-amz-copy-source` is `bucket/key` (URL-encoded, optional `?versionId=`); other sources
 * may already give a URI. Returns a canonical URI in the destination's scheme.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html#API_CopyObject_RequestSyntax
 */
export function copySourceUri(raw: string, destUri: string): string {
  if (raw.includes("://")) return raw;
  let s = raw.split("?")[0].replace(/^\/+/, "");
  try {
    s = decodeURIComponent(s);
  } catch {
    // keep the encoded form: still a stable key
  }
  const scheme = destUri.slice(0, Math.max(0, destUri.indexOf("://"))) || "s3";
  return `${scheme}://${s}`;
}

/** Why `e` falls outside its identity's working window, or undefined when it does not. */
export function offHoursReason(e: NormalizedEvent, ctx: DeriveContext): string | undefined {
  const { config, state } = ctx;
  if (!config || e.source === "inventory" || isSystemPrincipal(e.actor.principal)) return undefined;
  const t = Date.parse(e.time);
  if (isHuman(e, state))
    return inWorkingHours(t, config.working_hours) ? undefined : "outside configured working hours";
  const type = state?.info.type ?? e.actor.type;
  if (type !== "service_account" && type !== "cloud_role" && type !== "workload") return undefined;
  // Machines have no configured hours: judge them against the schedule they showed while learning.
  if (!state || state.learning(t, config.detector.learning_period)) return undefined;
  return scheduleCovers(state, t, state.firstSeen + config.detector.learning_period)
    ? undefined
    : "outside the learned hour-of-week schedule";
}

export function deriveIdentityEvents(
  e: NormalizedEvent,
  catalog: ResourceCatalog,
  ctx: DeriveContext = {},
): IdentityEvent[] {
  const out: IdentityEvent[] = [];
  const add = (kind: IdentityEventKind, extra: Partial<IdentityEvent> = {}) =>
    out.push({
      id: stableId(e.id, kind, extra.identity_id ?? "", extra.attrs?.change ?? ""),
      identity_id: extra.identity_id ?? e.identity_id,
      kind,
      time: e.time,
      event_id: e.id,
      source: e.source,
      resource_uri: extra.resource_uri ?? e.resource.uri,
      resource_kind: extra.resource_kind ?? "",
      bytes: extra.bytes ?? 0,
      attrs: extra.attrs ?? {},
    });
  const ok = e.outcome !== "failure";
  const uri = e.resource.uri;
  if (
    e.outcome === "failure" &&
    !isBearerChallenge(e) &&
    (e.status_code === 401 ||
      e.status_code === 403 ||
      e.attrs.decision === "forbid" ||
      /denied|forbidden|unauthori/i.test(e.reason))
  )
    add("access_denied", { attrs: { operation: e.operation, reason: e.reason.slice(0, 256) } });

  if (isSecretResource(e, catalog) && ok) {
    if (e.verb === "read") add("secret_read", { resource_kind: "secret" });
    else if (e.verb === "list") add("secret_list", { resource_kind: "secret" });
  }

  // artifact_transfer / activity: data-plane access to catalogued artifacts and to any object-store object.
  const cls = catalog.classify(uri);
  const copySrc = e.attrs.copy_source ? copySourceUri(e.attrs.copy_source, uri) : undefined;
  const srcCls = copySrc ? catalog.classify(copySrc) : null;
  const artifactKind = cls && ARTIFACT_KINDS.has(cls.kind) ? cls.kind : undefined;
  const srcKind = srcCls && ARTIFACT_KINDS.has(srcCls.kind) ? srcCls.kind : undefined;
  const dataVerb =
    e.verb === "read" ||
    e.verb === "write" ||
    e.verb === "create" ||
    e.verb === "update" ||
    e.verb === "delete";
  if (ok && dataVerb && (artifactKind || srcKind || isObjectUri(uri))) {
    const direction = copySrc
      ? "copy"
      : e.verb === "read"
        ? "read"
        : e.verb === "delete"
          ? "delete"
          : "write";
    const who = `${e.identity_id}${e.src_ip ? `@${e.src_ip}` : ""}`;
    const bytes =
      direction === "read"
        ? e.bytes_out || e.bytes_in
        : direction === "write"
          ? e.bytes_in || e.bytes_out
          : Math.max(e.bytes_in, e.bytes_out);
    // Catalogued artifacts are artifact_transfer; any other object-store object flows as generic activity
    // with the same shape (its bytes still count towards the identity's volume baseline).
    add(artifactKind || srcKind ? "artifact_transfer" : "activity", {
      resource_kind: artifactKind ?? srcKind ?? "object",
      bytes,
      attrs: {
        direction,
        bytes_in: String(e.bytes_in),
        bytes_out: String(e.bytes_out),
        source: copySrc ?? (direction === "read" ? uri : who),
        destination: direction === "read" ? who : uri,
        ...(copySrc ? { source_kind: srcKind ?? "object" } : {}),
        ...(cls?.environment ? { environment: cls.environment } : {}),
      },
    });
  }

  const off = offHoursReason(e, ctx);
  if (off) add("off_hours_access", { attrs: { reason: off, operation: e.operation } });

  if (e.source === "k8s-audit" && ok) {
    const type = e.resource.type;
    const sub = e.attrs.subresource;
    if (RBAC_TYPES.has(type) && !sub && (e.verb === "create" || e.verb === "update"))
      add("privilege_change", {
        attrs: {
          change: "rbac",
          object: type,
          name: e.resource.name ?? "",
          namespace: e.resource.namespace ?? "",
        },
      });
    if (type === "serviceaccounts" && sub === "token" && e.verb === "create") {
      const target =
        e.resource.namespace && e.resource.name
          ? `k8s-sa:${e.cluster || "default"}:${e.resource.namespace}:${e.resource.name}`
          : "";
      add("privilege_change", { attrs: { change: "token", target } });
    }
  }
  const impersonated = e.actor.impersonated ?? e.attrs.impersonated_user;
  if (ok && (impersonated || e.verb === "impersonate"))
    add("privilege_change", {
      attrs: { change: "impersonation", target: impersonated ?? e.resource.name ?? "" },
    });
  if (ok && e.source !== "k8s-audit") {
    const pc = cloudPrivilegeChange(e);
    if (pc) add("privilege_change", { attrs: pc });
  }
  // Token minting that the parser did not already express as impersonation of the target.
  if (
    ok &&
    !impersonated &&
    e.verb !== "impersonate" &&
    e.source !== "k8s-audit" &&
    TOKEN_MINT_OPS.test(e.operation)
  )
    add("privilege_change", { attrs: { change: "token", target: e.resource.name ?? uri } });

  // Workload facts: gpu_job and job_lifecycle, on the identity the workload runs as.
  const workload = workloadIdentity(e);
  const wAttrs = (extra: Record<string, string>) => ({
    namespace: e.attrs.namespace ?? e.resource.namespace ?? "",
    creator: e.identity_id,
    ...(e.attrs.images ? { images: e.attrs.images } : {}),
    ...(e.attrs.gpu_count ? { gpu_count: e.attrs.gpu_count } : {}),
    ...(e.attrs.active_deadline_seconds ? { active_deadline_seconds: e.attrs.active_deadline_seconds } : {}),
    ...(workload ? { workload_service_account: workload } : {}),
    ...extra,
  });
  let phase: "start" | "end" | undefined;
  let name: string | undefined;
  if (e.source === "k8s-audit" && ok && WORKLOAD_TYPES.has(e.resource.type)) {
    const jobOfPod =
      e.attrs.job_name ?? (e.attrs.owner?.startsWith("Job/") ? e.attrs.owner.slice(4) : undefined);
    const sub = e.attrs.subresource;
    if (e.verb === "create" && !sub) {
      phase = "start";
      name =
        e.resource.type === "pods" ? (jobOfPod ?? e.resource.name) : (e.resource.name ?? e.attrs.job_name);
    } else if (
      e.resource.type === "jobs" &&
      sub === "status" &&
      /^(Complete|Failed|SuccessCriteriaMet|FailureTarget)$/.test(e.attrs.job_condition ?? "")
    ) {
      // Needs the parser to surface status.conditions[] of the Job as attrs.job_condition.
      phase = "end";
      name = e.resource.name;
    } else if (e.verb === "delete" && !sub) {
      phase = "end";
      name = e.resource.type === "pods" ? (jobOfPod ?? e.resource.name) : e.resource.name;
    }
  } else if (
    e.source === "inventory" &&
    /^(start|end|delete)$/.test(e.attrs.lifecycle ?? "") &&
    e.attrs.kind !== "ServiceAccount"
  ) {
    // Inventory lifecycle steps of Pods and Jobs (packages/sources inventory.ts); "observe" is a SA fact.
    phase = e.attrs.lifecycle === "start" ? "start" : "end";
    name = e.attrs.job_name ?? e.resource.name;
  }
  if (phase && workload && name) {
    const pod = e.resource.type === "pods" || e.attrs.kind === "pod" ? (e.resource.name ?? "") : "";
    add("job_lifecycle", {
      identity_id: workload,
      resource_kind: "workload",
      attrs: wAttrs({
        phase,
        workload: name,
        ...(pod ? { pod } : {}),
        ...(e.attrs.lifecycle ? { lifecycle: e.attrs.lifecycle } : {}),
      }),
    });
  }
  const gpus = Number(e.attrs.gpu_count ?? 0);
  // A Job's pods repeat the Job's GPU request; count the Job (or a bare pod) once.
  const podOfJob = e.resource.type === "pods" && (e.attrs.job_name || e.attrs.owner?.startsWith("Job/"));
  if (gpus > 0 && phase === "start" && !podOfJob) {
    add("gpu_job", {
      identity_id: workload ?? e.identity_id,
      resource_kind: "workload",
      attrs: wAttrs({ workload: name ?? "" }),
    });
  }
  return out;
}

/**
 * Azure SDK clients open every Key Vault session with a request that carries no token, to learn the
 * tenant and resource from the 401's WWW-Authenticate challenge, and then retry with one ("challenge-based
 * authentication", Azure Key Vault security/authentication docs); Key Vault logs that first request as an
 * `Authentication` operation with status 401 and no caller. It denies nobody, so it is kept as an event but
 * not counted as an access denial (Microsoft's own AuditEvent queries leave these records out).
 */
function isBearerChallenge(e: NormalizedEvent): boolean {
  return (
    e.source === "azure-keyvault" &&
    e.operation === "Authentication" &&
    e.status_code === 401 &&
    e.actor.links.length === 0
  );
}

/**
 * Privilege changes outside Kubernetes RBAC, from what each source's parser names: who may do what in a
 * cloud account, a secret manager or an object store (`change: "policy"`), and new long-lived credentials
 * (`change: "credential"`: access keys, service account keys, MinIO service accounts, MITRE T1098.001).
 * `grants` carries what was granted when the record says it (policy ARN or allowed actions, GCP binding
 * deltas), for the rule to tell dangerous grants from routine ones. Removals (detach, delete, REMOVE) are
 * not escalations and yield nothing.
 */
export function cloudPrivilegeChange(
  e: NormalizedEvent,
):
  | { change: "policy" | "credential"; object: string; name: string; grants: string; target: string }
  | undefined {
  const op = e.operation;
  const name = e.resource.name ?? e.resource.uri;
  const target = e.resource.uri;
  switch (e.source) {
    case "cloudtrail":
      // IAM writes (the parser names the role/user/group in aws-iam:// and the policy in attrs).
      if (AWS_POLICY_OPS.test(op))
        return {
          change: "policy",
          object: e.resource.type,
          name,
          grants: [e.attrs.policy, e.attrs.policy_actions].filter(Boolean).join(" "),
          target,
        };
      if (AWS_CREDENTIAL_OPS.test(op))
        return { change: "credential", object: e.resource.type, name, grants: "", target };
      return undefined;
    case "gcp-audit": {
      const method = op.slice(op.lastIndexOf(".") + 1);
      if (method === "SetIamPolicy") {
        const delta = e.attrs.policy_delta ?? "";
        // A delta that only removes bindings grants nothing.
        if (delta && !/(^|, )ADD /.test(delta)) return undefined;
        return { change: "policy", object: "gcp-iam-policy", name, grants: delta, target };
      }
      if (
        /^(CreateRole|UpdateRole|UndeleteRole)$/.test(method) &&
        e.attrs.service_name === "iam.googleapis.com"
      )
        return { change: "policy", object: "gcp-iam-role", name, grants: "", target };
      if (/^(CreateServiceAccountKey|UploadServiceAccountKey)$/.test(method))
        return { change: "credential", object: "gcp-service-account-key", name, grants: "", target };
      return undefined;
    }
    case "vault": {
      if (e.verb !== "create" && e.verb !== "update") return undefined;
      // Paths as Vault logs them (a namespace prefix, when there is one, comes first).
      const path = e.resource.name ?? "";
      for (const [re, object] of VAULT_POLICY_PATHS)
        if (re.test(path)) return { change: "policy", object, name: path, grants: "", target };
      return undefined;
    }
    case "minio":
      if (e.resource.type !== "admin") return undefined;
      if (MINIO_POLICY_OPS.test(op))
        return { change: "policy", object: "minio-policy", name, grants: "", target };
      if (MINIO_CREDENTIAL_OPS.test(op))
        return { change: "credential", object: "minio-service-account", name, grants: "", target };
      return undefined;
    case "azure-keyvault":
      // VaultPut/VaultPatch write a vault's access policies (and network rules): who may read its secrets.
      if (op === "VaultPut" || op === "VaultPatch")
        return { change: "policy", object: "azure-keyvault-access-policy", name, grants: "", target };
      return undefined;
    default:
      return undefined;
  }
}

/** IAM calls that grant: attach/put policies, new policy versions, trust policy edits, group membership. */
const AWS_POLICY_OPS =
  /^((Attach|Put)(Role|User|Group)Policy|CreatePolicyVersion|SetDefaultPolicyVersion|UpdateAssumeRolePolicy|AddUserToGroup|AddRoleToInstanceProfile|CreateRole|Delete(Role|User)PermissionsBoundary)$/;
/** IAM calls that create long-lived credentials for an IAM user. */
const AWS_CREDENTIAL_OPS =
  /^(CreateAccessKey|CreateLoginProfile|UpdateLoginProfile|CreateServiceSpecificCredential|UploadSSHPublicKey|UploadSigningCertificate)$/;
/**
 * Vault paths whose writes change who may do what: ACL/RGP/EGP policies, auth methods, auth roles (which
 * bind Kubernetes service accounts, JWT subjects or AppRoles to policies), identity entities and groups
 * (https://developer.hashicorp.com/vault/api-docs/system/policies, …/system/auth, …/secret/identity).
 */
const VAULT_POLICY_PATHS: [RegExp, string][] = [
  [/(^|\/)sys\/polic(y|ies)\/./, "vault-policy"],
  [/(^|\/)sys\/auth\/./, "vault-auth-method"],
  [/(^|\/)auth\/.+\/(role|roles|groups|users)\/[^/]+$/, "vault-auth-role"],
  [/(^|\/)identity\/(entity|group|entity-alias|group-alias)(\/|$)/, "vault-identity"],
];
/** MinIO admin API handlers that change policies, users or groups (madmin: `/minio/admin/v3/…`). */
const MINIO_POLICY_OPS =
  /^(SetPolicy|SetPolicyForUserOrGroup|AttachPolicy|AttachDetachPolicy|AddCannedPolicy|UpdateGroupMembers|SetGroupStatus|SetUserStatus|AddUser)$/;
/** MinIO admin handlers that create long-lived access keys (service accounts act for their parent user). */
const MINIO_CREDENTIAL_OPS = /^(AddServiceAccount|UpdateServiceAccount)$/;
