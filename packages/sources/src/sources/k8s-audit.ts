/**
 * Kubernetes audit events (audit.k8s.io/v1 and v1beta1), as sent by the apiserver's webhook backend
 * (an EventList per batch) or written by the log backend (one Event per line).
 * Field reference: https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/
 */
import { err, humanAlias, k8sServiceAccountId, ok, parseServiceAccountUsername, stableId } from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import type { SourceParser } from "../types";
import { arr, decodeJsonOrNdjson, eventTime, isObj, type Obj, obj, str, strArr } from "../util";

const API_VERSIONS = new Set(["audit.k8s.io/v1", "audit.k8s.io/v1beta1"]);

/** Unwraps the shapes an audit payload arrives in; managed-cluster wrappers are handled by their own unwrappers. */
export function unwrapK8s(doc: unknown): unknown[] {
  // One level only: a JSON array of events. Recursing would let nesting depth drive stack depth.
  if (Array.isArray(doc)) return doc.flatMap((d) => (isObj(d) && d.kind === "EventList" && Array.isArray(d.items) ? d.items : [d]));
  if (!isObj(doc)) return [doc];
  if (doc.kind === "EventList" && Array.isArray(doc.items)) return doc.items;
  return [doc];
}

const VERB_MAP: Record<string, Verb> = {
  get: "read",
  list: "list",
  watch: "list",
  create: "create",
  update: "update",
  patch: "update",
  delete: "delete",
  deletecollection: "delete",
  impersonate: "impersonate",
};
const EXEC_SUBRESOURCES = new Set(["exec", "attach", "portforward", "proxy"]);
/** Stages that carry the request's outcome. RequestReceived is a duplicate of the same request without it. */
const FINAL_STAGES = new Set(["ResponseComplete", "Panic"]);

export function validateK8sEvent(r: unknown): string | null {
  if (!isObj(r)) return "record is not a JSON object";
  const av = r.apiVersion;
  if (av !== undefined && !API_VERSIONS.has(av as string)) return "unsupported apiVersion (want audit.k8s.io/v1 or v1beta1)";
  if (r.kind !== undefined && r.kind !== "Event") return "kind is not Event";
  if (typeof r.auditID !== "string" || r.auditID === "") return "missing auditID";
  if (typeof r.stage !== "string") return "missing stage";
  if (typeof r.verb !== "string") return "missing verb";
  if (!isObj(r.user)) return "missing user";
  const t = eventTime(r.requestReceivedTimestamp ?? r.timestamp ?? r.stageTimestamp);
  if ("error" in t) return t.error;
  return null;
}

/** Secret-bearing resources: their request/response bodies are dropped whole. */
const SECRET_RESOURCES = new Set(["secrets", "tokenrequests"]);
const SECRET_KINDS = new Set(["Secret", "SecretList", "TokenRequest"]);

function redactDeep(v: unknown, depth = 0): unknown {
  if (depth > 64) return "[redacted: too deep]";
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, depth + 1));
  if (!isObj(v)) return v;
  if (typeof v.kind === "string" && SECRET_KINDS.has(v.kind)) {
    return { kind: v.kind, apiVersion: v.apiVersion, metadata: redactMeta(v.metadata), redacted: true };
  }
  const out: Obj = {};
  for (const k of Object.keys(v)) out[k] = redactDeep(v[k], depth + 1);
  return out;
}
function redactMeta(m: unknown) {
  const md = obj(m);
  if (!md) return undefined;
  return { name: md.name, namespace: md.namespace, uid: md.uid };
}

/** Removes secret material: Secret bodies, TokenRequest tokens, any nested Secret object. */
export function redactK8sEvent(r: Obj): Obj {
  const ref = obj(r.objectRef);
  const resource = str(ref?.resource);
  const sub = str(ref?.subresource);
  const out: Obj = { ...r };
  if ((resource && SECRET_RESOURCES.has(resource)) || sub === "token") {
    if ("requestObject" in out) out.requestObject = { redacted: true };
    if ("responseObject" in out) out.responseObject = { redacted: true };
  } else {
    if ("requestObject" in out) out.requestObject = redactDeep(out.requestObject);
    if ("responseObject" in out) out.responseObject = redactDeep(out.responseObject);
  }
  return out;
}

function principalType(username: string, groups: string[]): IdentityType {
  if (parseServiceAccountUsername(username) || groups.includes("system:serviceaccounts")) return "service_account";
  if (username.startsWith("system:node:")) return "workload";
  if (username.startsWith("system:")) return "unknown";
  return "human";
}

function extraFirst(extra: Obj | undefined, key: string): string | undefined {
  if (!extra) return undefined;
  const v = extra[key];
  return Array.isArray(v) ? str(v[0]) : str(v);
}

export function k8sResourceUri(cluster: string, ref: Obj | undefined, requestURI: string | undefined): string {
  if (!ref) return `k8s://${cluster}/_/nonresource${requestURI ? requestURI.split("?")[0] : ""}`;
  const ns = str(ref.namespace) || "_";
  const res = str(ref.resource) ?? "unknown";
  const sub = str(ref.subresource);
  const name = str(ref.name);
  let uri = `k8s://${cluster}/${ns}/${res}`;
  if (name) uri += `/${name}`;
  if (sub) uri += `/${sub}`;
  return uri;
}

/** Builds the normalized event; shared with the GKE and AKS wrappers, which carry the same Event. */
export function normalizeK8sEvent(r: Obj, cluster: string, receivedAt: string): NormalizedEvent | { error: string } | { skipped: string } {
  const invalid = validateK8sEvent(r);
  if (invalid) return { error: invalid };
  const stage = r.stage as string;
  const ref = obj(r.objectRef);
  const sub = str(ref?.subresource);
  const longRunning = sub !== undefined && EXEC_SUBRESOURCES.has(sub);
  if (!FINAL_STAGES.has(stage) && !(stage === "ResponseStarted" && longRunning)) {
    return { skipped: `stage ${stage} (the final stage of the same auditID carries the outcome)` };
  }
  const t = eventTime(r.requestReceivedTimestamp ?? r.timestamp ?? r.stageTimestamp);
  if ("error" in t) return { error: t.error };
  const user = r.user as Obj;
  const username = str(user.username, 1024) || "system:anonymous";
  const groups = strArr(user.groups);
  const extra = obj(user.extra);
  const imp = obj(r.impersonatedUser);
  const impersonated = imp ? str(imp.username, 1024) : undefined;
  const annotations = obj(r.annotations) ?? {};
  const status = obj(r.responseStatus);
  const code = typeof status?.code === "number" ? status.code : 0;
  const decision = str(annotations["authorization.k8s.io/decision"]);
  const failed = code >= 400 || decision === "forbid";
  const verbRaw = r.verb as string;
  const verb: Verb = sub && EXEC_SUBRESOURCES.has(sub) ? "exec" : (VERB_MAP[verbRaw] ?? "other");
  const sourceIPs = strArr(r.sourceIPs, 16);
  const attrs: Record<string, string> = { stage, level: str(r.level) ?? "" };
  const put = (k: string, v: string | undefined) => {
    if (v) attrs[k] = v.length > 1024 ? v.slice(0, 1024) : v;
  };
  put("api_group", str(ref?.apiGroup));
  put("subresource", sub);
  put("decision", decision);
  put("authz_reason", str(annotations["authorization.k8s.io/reason"]));
  put("pod_name", extraFirst(extra, "authentication.kubernetes.io/pod-name"));
  put("pod_uid", extraFirst(extra, "authentication.kubernetes.io/pod-uid"));
  put("node_name", extraFirst(extra, "authentication.kubernetes.io/node-name"));
  put("impersonated_user", impersonated);
  if (imp) put("impersonated_groups", strArr(imp.groups).join(","));
  put("request_uri", str(r.requestURI, 1024));
  if (sourceIPs.length > 1) put("source_ips", sourceIPs.join(","));
  put("groups", groups.join(","));
  put("user_uid", str(user.uid));
  const credentialId = extraFirst(extra, "authentication.kubernetes.io/credential-id");
  return {
    id: stableId("k8s-audit", r.auditID as string, stage),
    class_uid: 6003,
    source: "k8s-audit",
    time: t.time,
    received_at: receivedAt,
    cluster,
    identity_id: "",
    actor: {
      principal: username,
      type: principalType(username, groups),
      uid: str(user.uid, 256),
      groups,
      credential_id: credentialId,
      impersonated,
      links: k8sPrincipalAliases(cluster, username, credentialId),
      attrs: {},
    },
    operation: sub ? `${verbRaw} ${str(ref?.resource) ?? ""}/${sub}` : verbRaw,
    verb,
    resource: {
      uri: k8sResourceUri(cluster, ref, str(r.requestURI)),
      type: str(ref?.resource) ?? "nonresource",
      name: str(ref?.name, 1024),
      namespace: str(ref?.namespace, 256),
    },
    src_ip: sourceIPs[0] ?? "",
    user_agent: str(r.userAgent, 2048) ?? "",
    outcome: code === 0 && !decision ? "unknown" : failed ? "failure" : "success",
    status_code: code,
    reason: str(status?.reason ?? annotations["authorization.k8s.io/reason"], 2048) ?? "",
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: `${r.auditID as string}/${stage}`,
    attrs: { ...attrs, ...workloadAttrs(r, ref) },
  };
}

/** Primary alias first (see @identrail/core identity-ids), then aliases this event proves. */
export function k8sPrincipalAliases(cluster: string, username: string, credentialId?: string): string[] {
  const sa = parseServiceAccountUsername(username);
  const c = cluster || "default";
  let primary: string;
  if (sa) primary = k8sServiceAccountId(c, sa.namespace, sa.name);
  else if (username.startsWith("system:")) primary = `k8s-user:${c}:${username}`;
  else primary = humanAlias(username);
  return credentialId ? [primary, `credential:${c}:${credentialId}`] : [primary];
}

/**
 * Workload facts from a create/update of a Pod or Job (Request-level audit carries the object):
 * service account, images, GPU requests, deadline. Used for gpu_job and job_lifecycle events.
 */
export function workloadAttrs(r: Obj, ref: Obj | undefined): Record<string, string> {
  const res = str(ref?.resource);
  if (res !== "pods" && res !== "jobs" && res !== "cronjobs") return {};
  const body = obj(r.requestObject) ?? obj(r.responseObject);
  if (!body) return {};
  let spec = obj(body.spec);
  let deadline = spec?.activeDeadlineSeconds;
  if (res === "cronjobs") spec = obj(obj(obj(spec?.jobTemplate)?.spec)?.template) ?? spec;
  if (res === "jobs" || res === "cronjobs") {
    const jobSpec = res === "jobs" ? spec : obj(obj(obj(body.spec)?.jobTemplate)?.spec);
    deadline = jobSpec?.activeDeadlineSeconds ?? deadline;
    spec = obj(obj(jobSpec?.template)?.spec) ?? obj(spec?.spec);
  }
  if (!spec) return {};
  const out: Record<string, string> = {};
  const sa = str(spec.serviceAccountName) ?? str(spec.serviceAccount);
  if (sa) out.workload_service_account = sa;
  const images: string[] = [];
  let gpus = 0;
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
    const co = obj(c);
    if (!co) continue;
    const img = str(co.image, 512);
    if (img) images.push(img);
    const resources = obj(co.resources);
    gpus += Math.max(gpuCount(obj(resources?.limits)), gpuCount(obj(resources?.requests)));
  }
  if (images.length) out.images = images.join(",");
  if (gpus > 0) out.gpu_count = String(gpus);
  if (typeof deadline === "number") out.active_deadline_seconds = String(deadline);
  const md = obj(body.metadata);
  const owner = obj(arr(md?.ownerReferences)[0]);
  if (owner) out.owner = `${str(owner.kind) ?? ""}/${str(owner.name) ?? ""}`;
  const jobName = obj(md?.labels)?.["job-name"];
  if (typeof jobName === "string") out.job_name = jobName;
  return out;
}

function gpuCount(q: Obj | undefined): number {
  if (!q) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(q)) {
    if (k === "nvidia.com/gpu" || k === "amd.com/gpu" || k.endsWith(".com/gpu")) {
      const x = Number(v);
      if (Number.isFinite(x) && x > 0) n += Math.min(x, 1024);
    }
  }
  return n;
}

export const k8sAudit: SourceParser = {
  source: "k8s-audit",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeJsonOrNdjson(text, unwrapK8s),
  accept(record) {
    const invalid = validateK8sEvent(record);
    if (invalid) return err(invalid);
    const r = record as Obj;
    const user = r.user as Obj;
    const key = str(user.username) ?? "system:anonymous";
    return ok({ key, record: redactK8sEvent(r) });
  },
  redact: (record) => (isObj(record) ? redactK8sEvent(record) : undefined),
  normalize(record, ctx) {
    if (!isObj(record)) return err("record is not a JSON object");
    const n = normalizeK8sEvent(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    if ("skipped" in n) return ok({ events: [], skipped: n.skipped });
    return ok({ events: [n] });
  },
};
