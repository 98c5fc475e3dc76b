/**
 * Kubernetes audit events (audit.k8s.io/v1 and v1beta1), as sent by the apiserver's webhook backend
 * (an EventList per batch) or written by the log backend (one Event per line).
 * Field reference: https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/
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
  stableId,
} from "@identrail/core";
import type { IdentityType, NormalizedEvent, Verb } from "@identrail/schema";
import { unwrapCloudWatchLogs } from "../cloudwatch-logs";
import {
  finishEvent,
  lookup,
  REDACTED,
  setOwn,
  shippedLine,
  TOO_DEEP,
  tooDeep,
  Undecodable,
  unwrapPubSub,
} from "../common";
import type { DecodeError, DecodeResult, SourceParser } from "../types";
import {
  arr,
  commaList,
  decodeJsonOrNdjson,
  eventTime,
  isObj,
  type Obj,
  obj,
  safeJsonParse,
  str,
  strArr,
} from "../util";

/**
 * Unwraps the shapes an audit payload arrives in: EventList (webhook backend), arrays, single Events
 * (log backend lines), EKS's CloudWatch Logs payloads (each message one Event), AKS diagnostic records
 * (unwrapped to their Event) and GKE Cloud Audit Log entries (kept whole; `accept` converts them with
 * `gkeEntryToK8sEvent`).
 * Bounded depth: a few known wrapper levels, so nesting in the input never drives stack depth.
 */
export function unwrapK8s(doc: unknown, depth = 0): unknown[] {
  if (depth > 3) return [doc];
  if (Array.isArray(doc)) return doc.flatMap((d) => unwrapK8s(d, depth + 1));
  if (!isObj(doc)) return [doc];
  if (doc.kind === "EventList" && Array.isArray(doc.items)) return doc.items;
  const cwl = unwrapCloudWatchLogs(doc, eksStreamCheck);
  if (cwl) return cwl;
  // AKS diagnostic settings → storage account / Event Hub: {"records":[{category, properties:{log}}]}.
  if (Array.isArray(doc.records)) return doc.records.flatMap((d) => unwrapK8s(d, depth + 1));
  if (isAksRecord(doc)) return [unwrapAksRecord(doc)];
  // GKE through Cloud Logging: entries.list responses and Pub/Sub push envelopes from a log sink.
  if (Array.isArray(doc.entries)) return doc.entries.flatMap((d) => unwrapK8s(d, depth + 1));
  const push = unwrapPubSub(doc);
  if (push instanceof Undecodable) return [push];
  if (push) return unwrapK8s(push.value, depth + 1);
  // A log shipper's record around one line of the log backend's file.
  if (doc.auditID === undefined) {
    const line = shippedLine(doc, "audit event");
    if (line instanceof Undecodable) return [line];
    if (line !== undefined) return unwrapK8s(line, depth + 1);
  }
  return [doc];
}

/**
 * EKS sends its control-plane logs to the CloudWatch Logs group `/aws/eks/<cluster>/cluster`, one stream
 * per component: `kube-apiserver-audit-<id>` holds the audit Events (standard audit.k8s.io/v1 JSON);
 * `kube-apiserver-`, `authenticator-`, `kube-controller-manager-`, `kube-scheduler-` and
 * `cloud-controller-manager-<id>` hold component logs in klog text
 * (https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html). A subscription on the whole
 * group forwards those too: they are rejected with this reason rather than as malformed JSON.
 */
function eksStreamCheck(stream: string): string | undefined {
  if (stream.startsWith("kube-apiserver-audit-")) return undefined;
  const m =
    /^(kube-apiserver|authenticator|kube-controller-manager|kube-scheduler|cloud-controller-manager)-/.exec(
      stream,
    );
  return m ? `EKS log stream ${m[1]}-* holds component logs, not audit events` : undefined;
}

const AKS_CATEGORIES = new Set(["kube-audit", "kube-audit-admin"]);
function isAksRecord(d: Obj): boolean {
  return typeof d.category === "string" && isObj(d.properties) && "log" in d.properties;
}
/**
 * AKS resource logs (https://learn.microsoft.com/azure/aks/monitor-aks-reference#resource-logs):
 * `properties.log` holds the apiserver's audit Event, as a JSON string (kube-audit) or an object.
 */
function unwrapAksRecord(d: Obj): unknown {
  const category = d.category as string;
  if (!AKS_CATEGORIES.has(category))
    return new Undecodable(`AKS record category ${JSON.stringify(category.slice(0, 64))} is not kube-audit`);
  const log = (d.properties as Obj).log;
  if (typeof log === "string") {
    const p = safeJsonParse(log);
    return "value" in p ? p.value : new Undecodable(`AKS properties.log: ${p.error}`);
  }
  return log;
}

/** A Cloud Audit Log entry written by GKE's apiserver. */
export function isGkeK8sEntry(r: unknown): boolean {
  return isObj(r) && isObj(r.protoPayload) && r.protoPayload.serviceName === "k8s.io";
}

/** google.rpc.Code → HTTP status, as documented in google/rpc/code.proto. */
export const GRPC_HTTP: Record<number, number> = {
  0: 200,
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};

/**
 * Parses a GKE resourceName (`core/v1/namespaces/<ns>/secrets/<name>[/<sub>]`,
 * `rbac.authorization.k8s.io/v1/clusterroles/<name>`); anything else is a non-resource path (`readyz`).
 */
export function gkeObjectRef(resourceName: string): Obj | undefined {
  const segs = resourceName.split("/");
  if (segs.length < 3 || !/^v\d/.test(segs[1])) return undefined;
  const rest = segs.slice(2);
  const ref: Obj = { apiGroup: segs[0] === "core" ? "" : segs[0], apiVersion: segs[1] };
  if (rest[0] === "namespaces" && rest.length >= 3) {
    ref.namespace = rest[1];
    rest.splice(0, 2);
  }
  ref.resource = rest[0];
  if (rest[1]) ref.name = rest[1];
  if (rest[2]) ref.subresource = rest[2];
  return ref;
}

/**
 * Maps a GKE `k8s.io` LogEntry (https://cloud.google.com/kubernetes-engine/docs/how-to/audit-logging)
 * onto an audit.k8s.io/v1 Event so one normalizer serves every cluster: methodName
 * `io.k8s.core.v1.secrets.get` gives the verb, resourceName the objectRef, labels the authorization
 * annotations, status (google.rpc.Status) the response code. GKE does not expose the apiserver's
 * auditID; operation.id (or insertId) stands in for it. Request/response bodies are redacted here.
 */
export function gkeEntryToK8sEvent(e: Obj): { event: Obj } | { error: string } {
  const p = e.protoPayload as Obj;
  const method = str(p.methodName, 512) ?? "";
  if (!method.startsWith("io.k8s.")) return { error: "GKE entry methodName is not io.k8s.*" };
  const verb = method.slice(method.lastIndexOf(".") + 1);
  const auth = obj(p.authenticationInfo);
  const username = str(auth?.principalEmail, 1024) || str(auth?.principalSubject, 1024);
  if (!username) return { error: "GKE entry has no authenticationInfo.principalEmail" };
  const id = str(obj(e.operation)?.id, 256) || str(e.insertId, 256);
  if (!id) return { error: "GKE entry has neither operation.id nor insertId" };
  const resourceName = str(p.resourceName, 2048) ?? "";
  const ref = gkeObjectRef(resourceName);
  const meta = obj(p.requestMetadata);
  const status = obj(p.status);
  const grpc = typeof status?.code === "number" ? status.code : 0;
  const labels = obj(e.labels) ?? {};
  const annotations: Obj = {};
  for (const k of Object.keys(labels))
    if (k.startsWith("authorization.k8s.io/")) setOwn(annotations, k, labels[k]);
  const ip = str(meta?.callerIp, 128);
  const ev: Obj = {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "RequestResponse",
    auditID: id,
    stage: "ResponseComplete",
    verb,
    user: { username, groups: [] },
    sourceIPs: ip ? [ip] : [],
    responseStatus: { code: lookup(GRPC_HTTP, grpc) ?? 500 },
    requestReceivedTimestamp: e.timestamp,
    annotations,
  };
  if (ref) ev.objectRef = ref;
  else ev.requestURI = `/${resourceName}`;
  const ua = str(meta?.callerSuppliedUserAgent, 2048);
  if (ua) ev.userAgent = ua;
  const msg = str(status?.message, 1024);
  if (msg) (ev.responseStatus as Obj).reason = msg;
  if (p.request !== undefined) ev.requestObject = p.request;
  if (p.response !== undefined) ev.responseObject = p.response;
  const cluster = str(obj(obj(e.resource)?.labels)?.cluster_name, 256);
  if (cluster) ev.annotations = { ...annotations, "identrail.io/gke-cluster": cluster };
  return { event: redactK8sEvent(ev) };
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
  // Non-resource requests (/healthz, /metrics, /logs) carry the lower-cased HTTP method as their verb:
  // https://kubernetes.io/docs/reference/access-authn-authz/authorization/#determine-the-request-verb
  head: "read",
  post: "write",
  put: "update",
};
const EXEC_SUBRESOURCES = new Set(["exec", "attach", "portforward", "proxy"]);

export function validateK8sEvent(r: unknown): string | null {
  const c = checkK8sEvent(r);
  return "error" in c ? c.error : null;
}

/** validateK8sEvent that also hands back the parsed event time, so normalize parses it once. */
function checkK8sEvent(r: unknown): { error: string } | { time: string } {
  if (!isObj(r)) return { error: "record is not a JSON object" };
  const av = r.apiVersion;
  // Comparisons rather than a Set: a Set hashes the record's fresh string on every call.
  if (av !== undefined && av !== "audit.k8s.io/v1" && av !== "audit.k8s.io/v1beta1")
    return { error: "unsupported apiVersion (want audit.k8s.io/v1 or v1beta1)" };
  if (r.kind !== undefined && r.kind !== "Event") return { error: "kind is not Event" };
  if (typeof r.auditID !== "string" || r.auditID === "") return { error: "missing auditID" };
  if (typeof r.stage !== "string") return { error: "missing stage" };
  if (typeof r.verb !== "string") return { error: "missing verb" };
  if (!isObj(r.user)) return { error: "missing user" };
  return eventTime(r.requestReceivedTimestamp ?? r.timestamp ?? r.stageTimestamp);
}

/**
 * Secret-bearing resources: their request/response bodies are dropped whole. A TokenReview's
 * `spec.token` is the bearer token under review (authentication.k8s.io/v1, posted by every
 * kube-rbac-proxy and metrics-server), as live as a TokenRequest's `status.token`.
 * https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-review-v1/
 */
const SECRET_RESOURCES = new Set(["secrets", "tokenrequests", "tokenreviews"]);
const SECRET_KINDS = new Set(["Secret", "SecretList", "TokenRequest", "TokenReview"]);
/**
 * A mutating webhook's JSON patch, recorded at Request level and above as the audit annotation
 * `patch.webhook.admission.k8s.io/round_<r>_index_<i>`: on a Secret it holds the values the webhook wrote.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#mutating-webhook-auditing-annotations
 */
const WEBHOOK_PATCH_PREFIX = "patch.webhook.admission.k8s.io/";

export function redactDeep(v: unknown, depth = 0): unknown {
  if (depth > 64) return "[redacted: too deep]";
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, depth + 1));
  if (!isObj(v)) return v;
  if (typeof v.kind === "string" && SECRET_KINDS.has(v.kind)) {
    return { kind: v.kind, apiVersion: v.apiVersion, metadata: redactMeta(v.metadata), redacted: true };
  }
  const out: Obj = {};
  for (const k of Object.keys(v)) setOwn(out, k, redactDeep(v[k], depth + 1));
  return out;
}
function redactMeta(m: unknown) {
  const md = obj(m);
  if (!md) return undefined;
  return { name: md.name, namespace: md.namespace, uid: md.uid };
}

/**
 * Removes secret material: Secret bodies, TokenRequest and TokenReview tokens, any nested Secret object,
 * webhook patches of secret-bearing objects.
 */
export function redactK8sEvent(r: Obj): Obj {
  const bodies = "requestObject" in r || "responseObject" in r;
  const ref = obj(r.objectRef);
  const resource = str(ref?.resource);
  const sub = str(ref?.subresource);
  const secret = (resource !== undefined && SECRET_RESOURCES.has(resource)) || sub === "token";
  const annotations = secret ? redactWebhookPatches(r.annotations) : undefined;
  // Metadata-level events (most of them) carry no bodies: nothing to remove, and the record is not
  // modified by anyone downstream, so it is returned as is rather than copied.
  if (!bodies && !annotations) return r;
  const out: Obj = { ...r };
  if (annotations) out.annotations = annotations;
  if (secret) {
    if ("requestObject" in out) out.requestObject = { redacted: true };
    if ("responseObject" in out) out.responseObject = { redacted: true };
  } else {
    if ("requestObject" in out) out.requestObject = redactDeep(out.requestObject);
    if ("responseObject" in out) out.responseObject = redactDeep(out.responseObject);
  }
  return out;
}

/** A copy of the annotations with webhook patches replaced, or undefined when there is none. */
function redactWebhookPatches(a: unknown): Obj | undefined {
  if (!isObj(a)) return undefined;
  let out: Obj | undefined;
  for (const k of Object.keys(a)) {
    if (!k.startsWith(WEBHOOK_PATCH_PREFIX)) continue;
    out ??= { ...a };
    setOwn(out, k, REDACTED);
  }
  return out;
}

/**
 * Control-plane users that are neither people nor service accounts: Kubernetes' own `system:` users and
 * EKS's `eks:` ones (eks:node-manager, eks:certificate-controller, eks:addon-manager …; EKS reserves the
 * prefix: https://docs.aws.amazon.com/eks/latest/userguide/default-roles-users.html).
 */
function isPlatformUser(username: string): boolean {
  return username.startsWith("system:") || username.startsWith("eks:");
}

function principalType(
  username: string,
  groups: string[],
  sa: { namespace: string; name: string } | null,
  primary: string,
  awsAlias?: string,
): IdentityType {
  if (sa || groups.includes("system:serviceaccounts")) return "service_account";
  if (username.startsWith("system:node:")) return "workload";
  if (isPlatformUser(username)) return "unknown";
  // Usernames that are cloud identities (EKS access entries, GKE Google service accounts), or names an IAM
  // principal is mapped to.
  if (primary.startsWith("aws-role:") || awsAlias?.startsWith("aws-role:")) return "cloud_role";
  if (awsAlias) return "unknown";
  if (primary.startsWith("gcp-sa:")) return "service_account";
  if (primary.startsWith("aws-user:")) return "unknown";
  return "human";
}

/**
 * The IAM identity behind an EKS user. EKS authenticates IAM principals with aws-iam-authenticator
 * (also behind access entries), which sets user.uid `aws-iam-authenticator:<account>:<principalId>` and
 * user.extra `arn` (the caller: an assumed-role session or IAM user ARN), `canonicalArn` (the role or
 * user), `sessionName`, `accessKeyId`, `principalId`, whichever Kubernetes username the principal is
 * mapped to (aws-auth ConfigMap or access entry). Extra keys come from the authenticator, never from the
 * client: impersonation headers set the impersonated user's extra, which is audited apart.
 * https://github.com/kubernetes-sigs/aws-iam-authenticator#how-does-it-work
 * https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html
 */
function awsCaller(
  username: string,
  extra: Obj | undefined,
): { alias?: string; session?: string; accessKeyId?: string } | undefined {
  if (!extra || (!("canonicalArn" in extra) && !("arn" in extra))) return undefined;
  const arn = extraFirst(extra, "arn", 1024) ?? "";
  const canonical = extraFirst(extra, "canonicalArn", 1024) ?? "";
  const alias = awsArnAlias(canonical) ?? awsArnAlias(arn);
  if (!alias) return undefined;
  // A username templated from the session (`{{SessionName}}` in aws-auth or an access entry, e.g. one
  // per SSO user of a shared role) names one caller among the role's many: the role is not linked to it.
  // Nodes likewise: every node of a node group assumes the group's role and is mapped to its own
  // `system:node:{{EC2PrivateDNSName}}`, so linking would merge all nodes into the role. The session ARN
  // (which names the instance) still ties a node to the role's CloudTrail activity.
  const session = extraFirst(extra, "sessionName", 256);
  const perSession =
    (session !== undefined && session !== "" && username.includes(session)) ||
    username.startsWith("system:node:");
  return {
    alias: perSession ? undefined : alias,
    session: arn.includes(":assumed-role/") ? arn : undefined,
    accessKeyId: extraFirst(extra, "accessKeyId", 128),
  };
}

/** `aws-role:<account>:<role>` for role and assumed-role ARNs, `aws-user:<account>:<name>` for IAM users. */
function awsArnAlias(arn: string): string | null {
  if (!arn.startsWith("arn:")) return null;
  return awsRoleAlias(arn) ?? awsUserAlias(arn);
}

function extraFirst(extra: Obj | undefined, key: string, max?: number): string | undefined {
  if (!extra) return undefined;
  const v = extra[key];
  return Array.isArray(v) ? str(v[0], max) : str(v, max);
}

export function k8sResourceUri(
  cluster: string,
  ref: Obj | undefined,
  requestURI: string | undefined,
): string {
  if (!ref) return `k8s://${cluster}/_/nonresource${requestURI ? requestURI.split("?")[0] : ""}`;
  const res = str(ref.resource) ?? "unknown";
  const ns = isNamespaceObject(ref, res) ? "_" : str(ref.namespace) || "_";
  const sub = str(ref.subresource);
  const name = str(ref.name);
  let uri = `k8s://${cluster}/${ns}/${res}`;
  if (name) uri += `/${name}`;
  if (sub) uri += `/${sub}`;
  return uri;
}

/**
 * Namespaces are cluster-scoped, yet the apiserver's request info gives a namespace's own requests
 * (`/api/v1/namespaces/<name>[/status|/finalize]`) namespace = <name>, while a create (`POST
 * /api/v1/namespaces`) has none: both name the same object, with one URI.
 */
function isNamespaceObject(ref: Obj, resource: string | undefined): boolean {
  return resource === "namespaces" && !ref.apiGroup;
}

/** Builds the normalized event; shared with the GKE and AKS wrappers, which carry the same Event. */
export function normalizeK8sEvent(
  r: Obj,
  cluster: string,
  receivedAt: string,
): NormalizedEvent | { error: string } | { skipped: string } {
  const t = checkK8sEvent(r);
  if ("error" in t) return t;
  const stage = r.stage as string;
  const ref = obj(r.objectRef);
  const sub = str(ref?.subresource);
  const resource = str(ref?.resource);
  const longRunning = sub !== undefined && EXEC_SUBRESOURCES.has(sub);
  // Stages that carry the request's outcome (ResponseComplete, Panic); RequestReceived is a duplicate of
  // the same request without it.
  if (stage !== "ResponseComplete" && stage !== "Panic" && !(stage === "ResponseStarted" && longRunning)) {
    return { skipped: `stage ${stage} (the final stage of the same auditID carries the outcome)` };
  }
  const user = r.user as Obj;
  const username = str(user.username, 1024) || "system:anonymous";
  // Parsed once for both the identity type and the primary alias.
  const sa = parseServiceAccountUsername(username);
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
  // The apiserver writes lowercase verbs; shippers that re-case fields (GET, Get) still mean the same verb.
  // VERB_MAP's keys are lowercase, so a verb found as written needs no lowercase copy.
  const verb: Verb = longRunning
    ? "exec"
    : (lookup(VERB_MAP, verbRaw) ?? lookup(VERB_MAP, verbRaw.toLowerCase()) ?? "other");
  const sourceIPs = strArr(r.sourceIPs, 16);
  const attrs: Record<string, string> = { stage, level: str(r.level) ?? "" };
  // Non-empty values only, at most 1024 chars, in this order. Named stores rather than a helper doing
  // attrs[k] = v: one store site for every key is megamorphic, and this runs for every event.
  let v: string | undefined;
  if ((v = str(ref?.apiGroup))) attrs.api_group = clip1024(v);
  if (sub) attrs.subresource = clip1024(sub);
  if (decision) attrs.decision = clip1024(decision);
  if ((v = str(annotations["authorization.k8s.io/reason"]))) attrs.authz_reason = clip1024(v);
  if ((v = extraFirst(extra, "authentication.kubernetes.io/pod-name"))) attrs.pod_name = clip1024(v);
  if ((v = extraFirst(extra, "authentication.kubernetes.io/pod-uid"))) attrs.pod_uid = clip1024(v);
  if ((v = extraFirst(extra, "authentication.kubernetes.io/node-name"))) attrs.node_name = clip1024(v);
  if (impersonated) attrs.impersonated_user = clip1024(impersonated);
  if (imp && (v = commaList(strArr(imp.groups)))) attrs.impersonated_groups = clip1024(v);
  if ((v = str(r.requestURI, 1024))) attrs.request_uri = v;
  if (sourceIPs.length > 1) attrs.source_ips = clip1024(commaList(sourceIPs));
  if ((v = commaList(groups))) attrs.groups = clip1024(v);
  if ((v = str(user.uid))) attrs.user_uid = clip1024(v);
  const credentialId = extraFirst(extra, "authentication.kubernetes.io/credential-id");
  const aws = awsCaller(username, extra);
  // A plain name that an IAM principal is mapped to (aws-auth `username: kubernetes-admin`, an access entry's
  // username) is that principal's name inside the cluster, not a person: the IAM role or user anchors it.
  let primary = primaryAlias(cluster, username, sa);
  if (aws?.alias && primary.startsWith("human:")) primary = `k8s-user:${cluster || "default"}:${username}`;
  const links = [primary];
  if (aws?.alias) links.push(aws.alias);
  if (credentialId) links.push(`credential:${cluster || "default"}:${credentialId}`);
  // finishEvent clamps to the schema (a forged responseStatus.code of 2^60 must not reach ClickHouse).
  return finishEvent({
    id: stableId("k8s-audit", r.auditID as string, stage),
    class_uid: 6003,
    source: "k8s-audit",
    time: t.time,
    received_at: receivedAt,
    cluster,
    identity_id: "",
    actor: {
      principal: username,
      type: principalType(username, groups, sa, primary, aws?.alias),
      uid: str(user.uid, 256),
      groups,
      credential_id: credentialId ?? aws?.accessKeyId,
      // The IAM role session: from the authenticator, or the username itself (EKS access entries).
      session:
        aws?.session ??
        (primary.startsWith("aws-role:") && username.includes(":assumed-role/") ? username : undefined),
      impersonated,
      links,
      attrs: {},
    },
    operation: sub ? `${verbRaw} ${resource ?? ""}/${sub}` : verbRaw,
    verb,
    resource: {
      uri: k8sResourceUri(cluster, ref, str(r.requestURI)),
      type: resource ?? "nonresource",
      name: str(ref?.name, 1024),
      // A namespace object's own namespace is itself (see isNamespaceObject).
      namespace: ref && isNamespaceObject(ref, resource) ? str(ref.name, 256) : str(ref?.namespace, 256),
    },
    src_ip: sourceIPs[0] ?? "",
    user_agent: str(r.userAgent, 2048) ?? "",
    outcome: code === 0 && !decision ? "unknown" : failed ? "failure" : "success",
    status_code: code,
    // The authorizer's reason explains denials; on success it stays in attrs.authz_reason.
    reason:
      str(status?.reason ?? (failed ? annotations["authorization.k8s.io/reason"] : undefined), 2048) ?? "",
    bytes_in: 0,
    bytes_out: 0,
    raw_ref: `${r.auditID as string}/${stage}`,
    // Same keys and order as `{ ...attrs, ...workloadAttrs(…) }` without a third object per event; only
    // RBAC, Pod and Job writes have workload attributes.
    attrs:
      resource !== undefined && hasWorkloadAttrs(resource)
        ? Object.assign(attrs, workloadAttrs(r, ref))
        : attrs,
  });
}

function clip1024(v: string): string {
  return v.length > 1024 ? v.slice(0, 1024) : v;
}

/** Primary alias first (see @identrail/core identity-ids), then aliases this event proves. */
export function k8sPrincipalAliases(cluster: string, username: string, credentialId?: string): string[] {
  const primary = primaryAlias(cluster, username, parseServiceAccountUsername(username));
  return credentialId ? [primary, `credential:${cluster || "default"}:${credentialId}`] : [primary];
}

/**
 * The alias a username stands for: a service account; a control-plane user of this cluster; a cloud
 * identity used as the username — an IAM role session or user ARN (EKS access entries name IAM roles
 * `arn:aws:sts::<account>:assumed-role/<role>/<session>` by default, so each session would otherwise be
 * a new "person"), a Google service account email (GKE); anyone else is a person.
 */
function primaryAlias(
  cluster: string,
  username: string,
  sa: { namespace: string; name: string } | null,
): string {
  const c = cluster || "default";
  if (sa) return k8sServiceAccountId(c, sa.namespace, sa.name);
  if (isPlatformUser(username)) return `k8s-user:${c}:${username}`;
  const cloud = awsArnAlias(username) ?? gcpServiceAccountAlias(username);
  return cloud ?? humanAlias(username);
}

/**
 * Workload facts from a create/update of a Pod or Job (Request-level audit carries the object):
 * service account, images, GPU requests, deadline. Used for gpu_job and job_lifecycle events.
 */
export function workloadAttrs(r: Obj, ref: Obj | undefined): Record<string, string> {
  const res = str(ref?.resource);
  if (RBAC_RESOURCES.has(res ?? "")) return rbacAttrs(r, res!);
  if (res !== "pods" && res !== "jobs" && res !== "cronjobs") return {};
  const body = obj(r.requestObject) ?? obj(r.responseObject);
  if (!body) return {};
  // A Job's terminal condition (status update by the job controller) ends its lifecycle.
  // https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup
  if (res === "jobs") {
    for (const c of arr(obj(body.status)?.conditions)) {
      const co = obj(c);
      const type = str(co?.type);
      if (
        type &&
        str(co?.status) === "True" &&
        /^(Complete|Failed|SuccessCriteriaMet|FailureTarget)$/.test(type)
      )
        return { job_condition: type, ...(jobBasics(body) ?? {}) };
    }
  }
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

function jobBasics(body: Obj): Record<string, string> | undefined {
  const md = obj(body.metadata);
  const name = str(md?.name, 256);
  return name ? { job_name: name } : undefined;
}

const RBAC_RESOURCES = new Set(["roles", "clusterroles", "rolebindings", "clusterrolebindings"]);
/** Resources for which workloadAttrs can return anything (comparisons: see checkK8sEvent). */
function hasWorkloadAttrs(res: string): boolean {
  switch (res) {
    case "pods":
    case "jobs":
    case "cronjobs":
    case "roles":
    case "clusterroles":
    case "rolebindings":
    case "clusterrolebindings":
      return true;
    default:
      return false;
  }
}

/**
 * What an RBAC write grants: rules as "verbs:resources" for (Cluster)Roles, the roleRef and subjects for
 * bindings (https://kubernetes.io/docs/reference/access-authn-authz/rbac/). Needs Request-level audit.
 */
function rbacAttrs(r: Obj, res: string): Record<string, string> {
  const body = obj(r.requestObject) ?? obj(r.responseObject);
  if (!body) return {};
  const out: Record<string, string> = {};
  if (res === "roles" || res === "clusterroles") {
    const grants: string[] = [];
    for (const rule of arr(body.rules).slice(0, 64)) {
      const ru = obj(rule);
      if (!ru) continue;
      const verbs = strArr(ru.verbs, 32).join(",");
      const resources = [...strArr(ru.resources, 32), ...strArr(ru.nonResourceURLs, 16)].join(",");
      grants.push(`${verbs}:${resources}`);
    }
    if (grants.length) out.rbac_grants = grants.join(";").slice(0, 1024);
  } else {
    const roleRef = obj(body.roleRef);
    if (roleRef) out.role_ref = `${str(roleRef.kind) ?? ""}/${str(roleRef.name) ?? ""}`.slice(0, 512);
    const subjects = arr(body.subjects)
      .slice(0, 32)
      .map((x) => obj(x))
      .filter((x): x is Obj => !!x)
      .map(
        (x) => `${str(x.kind) ?? ""}:${str(x.namespace) ? `${str(x.namespace)}/` : ""}${str(x.name) ?? ""}`,
      );
    if (subjects.length) out.subjects = subjects.join(",").slice(0, 1024);
  }
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

/**
 * The log backend's `--audit-log-format=legacy` writes one text line per event instead of JSON
 * (k8s.io/apiserver pkg/audit/format.go, EventString):
 * `<requestReceivedTimestamp> AUDIT: id="…" stage="…" ip="…" method="<verb>" user="…" groups="\"a\",\"b\""
 * as="<self>" asgroups="<lookup>" user-agent="…" namespace="…" uri="…" response="<code>"`, values quoted
 * with Go's %q. https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/
 * (--audit-log-format). Such a body is recognised by its first line; each line becomes the Event it
 * stands for, with the objectRef read from the request URI. Undefined for any other body.
 */
function decodeLegacy(text: string): DecodeResult | undefined {
  const start = text.search(/\S/);
  if (start < 0 || text[start] === "{" || text[start] === "[") return undefined;
  const head = text.slice(start, start + 4096);
  const eol = head.indexOf("\n");
  if (!(eol < 0 ? head : head.slice(0, eol)).includes(LEGACY_MARK)) return undefined;
  const records: unknown[] = [];
  const errors: DecodeError[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const ev = legacyEvent(line);
    if (ev) records.push(ev);
    else errors.push({ index: i, reason: `line ${i + 1}: not a legacy audit line` });
  }
  return { records, errors };
}
const LEGACY_MARK = ' AUDIT: id="';

/**
 * The `key="Go-quoted value"` pairs after `AUDIT: `, in one pass (a regex over the line could retry from
 * every position of a long unterminated value); stops at the first value without its closing quote.
 */
function legacyFields(s: string): Record<string, string> {
  const f: Record<string, string> = {};
  let i = 0;
  for (;;) {
    const eq = s.indexOf('="', i);
    if (eq < 0) break;
    let j = eq + 2;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c === 92 /* backslash */) j++;
      else if (c === 34 /* " */) break;
    }
    if (j >= s.length) break;
    const key = s.slice(i, eq).trim();
    if (/^[a-z-]{1,32}$/.test(key)) setOwn(f, key, goUnquote(s.slice(eq + 2, j)));
    i = j + 1;
  }
  return f;
}

function legacyEvent(line: string): Obj | undefined {
  const at = line.indexOf(" AUDIT: ");
  if (at < 0) return undefined;
  const time = line.slice(line.lastIndexOf(" ", at - 1) + 1, at);
  const f = legacyFields(line.slice(at + 8));
  const id = lookup(f, "id");
  if (!id || !lookup(f, "stage") || !lookup(f, "method")) return undefined;
  const none = (v: string | undefined, placeholder: string) =>
    v === undefined || v === placeholder ? undefined : v;
  const username = none(lookup(f, "user"), "<none>");
  const ip = none(lookup(f, "ip"), "<unknown>");
  const as = none(lookup(f, "as"), "<self>");
  const uri = lookup(f, "uri") ?? "";
  const code = Number(lookup(f, "response"));
  const ev: Obj = {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    auditID: id,
    stage: lookup(f, "stage"),
    requestURI: uri,
    verb: lookup(f, "method"),
    user: { username: username ?? "", groups: goQuotedList(none(lookup(f, "groups"), "<none>")) },
    sourceIPs: ip ? [ip] : [],
    userAgent: lookup(f, "user-agent") ?? "",
    requestReceivedTimestamp: time,
  };
  if (as)
    ev.impersonatedUser = { username: as, groups: goQuotedList(none(lookup(f, "asgroups"), "<lookup>")) };
  const ref = objectRefFromUri(uri, none(lookup(f, "namespace"), "<none>"));
  if (ref) ev.objectRef = ref;
  if (Number.isInteger(code)) ev.responseStatus = { code };
  return ev;
}

/** A Go %q string's contents; JSON shares its escapes but for \x, \a, \v, \' (kept as written). */
function goUnquote(v: string): string {
  if (!v.includes("\\")) return v;
  const p = safeJsonParse(`"${v}"`);
  return "value" in p && typeof p.value === "string" ? p.value : v;
}
/** `"a","b"` (each %q-quoted, comma-joined) → ["a", "b"]. */
function goQuotedList(v: string | undefined): string[] {
  if (!v) return [];
  const p = safeJsonParse(`[${v}]`);
  return "value" in p ? strArr(p.value) : [];
}

/**
 * The objectRef the apiserver's request info derives from a path
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris):
 * `/api/v1/…` (core group) or `/apis/<group>/<version>/…`, then `[namespaces/<ns>/]<resource>[/<name>[/<sub>]]`;
 * the old `watch/` prefix is skipped. Anything else (discovery, /healthz, /metrics) is a non-resource URL.
 */
export function objectRefFromUri(uri: string, namespace?: string): Obj | undefined {
  const q = uri.indexOf("?");
  const segs = (q < 0 ? uri : uri.slice(0, q)).split("/").filter((x) => x !== "");
  let gv: string;
  let rest: string[];
  if (segs[0] === "api" && segs.length >= 3) {
    gv = `core/${segs[1]}`;
    rest = segs.slice(2);
  } else if (segs[0] === "apis" && segs.length >= 4) {
    gv = `${segs[1]}/${segs[2]}`;
    rest = segs.slice(3);
  } else return undefined;
  if (rest[0] === "watch") rest = rest.slice(1);
  if (rest.length === 0) return undefined;
  const ref = gkeObjectRef(`${gv}/${rest.join("/")}`);
  if (ref && namespace && ref.namespace === undefined && ref.resource !== "namespaces")
    ref.namespace = namespace;
  return ref;
}

export const k8sAudit: SourceParser = {
  source: "k8s-audit",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl", "text/plain"],
  decode: (text) => decodeLegacy(text) ?? decodeJsonOrNdjson(text, (d) => unwrapK8s(d)),
  accept(record) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (record instanceof Undecodable) return err(record.reason);
    // GKE entries are converted at the collector: what travels on is a plain, redacted audit Event.
    let ev: unknown = record;
    if (isGkeK8sEntry(record)) {
      const g = gkeEntryToK8sEvent(record as Obj);
      if ("error" in g) return err(g.error);
      ev = g.event;
    }
    const invalid = validateK8sEvent(ev);
    if (invalid) return err(invalid);
    const r = ev as Obj;
    const user = r.user as Obj;
    const key = str(user.username) ?? "system:anonymous";
    return ok({ key, record: redactK8sEvent(r) });
  },
  redact: (record) => {
    if (tooDeep(record)) return { redacted: TOO_DEEP };
    if (isGkeK8sEntry(record)) {
      const g = gkeEntryToK8sEvent(record as Obj);
      return "error" in g ? undefined : g.event;
    }
    return isObj(record) ? redactK8sEvent(record) : undefined;
  },
  normalize(record, ctx) {
    if (tooDeep(record)) return err(TOO_DEEP);
    if (!isObj(record)) return err("record is not a JSON object");
    let ev: Obj = record;
    if (isGkeK8sEntry(record)) {
      const g = gkeEntryToK8sEvent(record);
      if ("error" in g) return err(g.error);
      ev = g.event;
    }
    const n = normalizeK8sEvent(ev, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error);
    if ("skipped" in n) return ok({ events: [], skipped: n.skipped });
    return ok({ events: [n] });
  },
};
