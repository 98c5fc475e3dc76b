/**
 * Cluster inventory: ServiceAccounts, Pods and Jobs as the collector's Kubernetes watcher sees them
 * (services/collector/src/inventory). A record has the shape of a watch event,
 * `{"type":"ADDED"|"MODIFIED"|"DELETED"|"SYNC","observed_at":…,"object":{…}}`
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes); bare
 * objects and `…List` documents (`kubectl get pods -A -o json`) are accepted too and read as SYNC.
 *
 * The collector keeps only the fields below (`accept` trims the object): Pod specs carry env values,
 * `last-applied-configuration` annotations carry whole manifests, and neither may leave the collector.
 *
 * One record yields every lifecycle step its object proves (a Pod seen for the first time after it finished
 * gives start and end), each with an id of uid + step, so relists and resyncs collapse downstream.
 */
import {
  awsRoleAlias,
  err,
  gcpServiceAccountAlias,
  k8sServiceAccountId,
  ok,
  SA_PREFIX,
  stableId,
} from "@identrail/core";
import type { NormalizedEvent, Verb } from "@identrail/schema";
import type { SourceParser } from "../types";
import { arr, decodeJsonOrNdjson, eventTime, isObj, nonNegInt, type Obj, obj, str } from "../util";

export const INVENTORY_KINDS = ["ServiceAccount", "Pod", "Job"] as const;
export type InventoryKind = (typeof INVENTORY_KINDS)[number];
const KINDS = new Set<string>(INVENTORY_KINDS);
const TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "SYNC"]);

/** Service-account annotations that carry identity facts; every other annotation is dropped. */
export const ANNOTATIONS = {
  owner: "identrail.io/owner",
  purpose: "identrail.io/purpose",
  expires: "identrail.io/expires",
  environment: "identrail.io/environment",
  /** EKS IRSA: https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html */
  irsa: "eks.amazonaws.com/role-arn",
  /** GKE Workload Identity: https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity */
  gke: "iam.gke.io/gcp-service-account",
  /** AKS Workload Identity: https://azure.github.io/azure-workload-identity/docs/topics/service-account-labels-and-annotations.html */
  azure: "azure.workload.identity/client-id",
} as const;
const KEPT_ANNOTATIONS = new Set<string>(Object.values(ANNOTATIONS));
const KEPT_LABELS = new Set(["job-name", "batch.kubernetes.io/job-name", "app.kubernetes.io/name"]);
const MAX_CONTAINERS = 64;

export interface InventoryRecord {
  type: "ADDED" | "MODIFIED" | "DELETED" | "SYNC";
  /** Collector wall clock when the change was seen: only the fallback time of a deletion without deletionTimestamp. */
  observed_at?: string;
  object: Obj;
}

function listItemKind(listKind: unknown): string | undefined {
  return typeof listKind === "string" && listKind.endsWith("List") ? listKind.slice(0, -4) : undefined;
}

/** Watch events pass through; bare objects and lists become SYNC records. */
export function unwrapInventory(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc.flatMap(unwrapInventory);
  if (!isObj(doc)) return [doc];
  if (Array.isArray(doc.items)) {
    const itemKind = listItemKind(doc.kind);
    return doc.items.map((it) =>
      isObj(it)
        ? { type: "SYNC", object: it.kind === undefined && itemKind ? { ...it, kind: itemKind } : it }
        : it,
    );
  }
  if ("object" in doc && "type" in doc) return [doc];
  if (typeof doc.kind === "string" && KINDS.has(doc.kind)) return [{ type: "SYNC", object: doc }];
  return [doc];
}

function validate(r: unknown): string | null {
  if (!isObj(r)) return "record is not a JSON object";
  if (typeof r.type !== "string" || !TYPES.has(r.type)) return "type is not ADDED, MODIFIED, DELETED or SYNC";
  const o = obj(r.object);
  if (!o) return "missing object";
  if (typeof o.kind !== "string" || !KINDS.has(o.kind))
    return "object kind is not ServiceAccount, Pod or Job";
  const md = obj(o.metadata);
  if (!md) return "missing metadata";
  for (const f of ["name", "namespace", "uid"] as const)
    if (typeof md[f] !== "string" || md[f] === "" || (md[f] as string).length > 253)
      return `missing metadata.${f}`;
  if (/[:/]/.test(md.namespace as string) || /[:/]/.test(md.name as string))
    return "name or namespace contains ':' or '/'";
  return null;
}

function keep(src: Obj | undefined, allowed: Set<string>): Obj | undefined {
  if (!src) return undefined;
  const out: Obj = {};
  for (const k of Object.keys(src))
    if (allowed.has(k) && typeof src[k] === "string") out[k] = str(src[k], 1024);
  return Object.keys(out).length ? out : undefined;
}

function trimResources(v: unknown): Obj | undefined {
  const r = obj(v);
  if (!r) return undefined;
  const pick = (q: unknown) => {
    const o = obj(q);
    if (!o) return undefined;
    const out: Obj = {};
    for (const [k, x] of Object.entries(o))
      if (isGpuResource(k) && (typeof x === "string" || typeof x === "number")) out[k] = x;
    return Object.keys(out).length ? out : undefined;
  };
  const limits = pick(r.limits);
  const requests = pick(r.requests);
  return limits || requests ? { limits, requests } : undefined;
}

function trimContainers(v: unknown): Obj[] {
  return arr(v)
    .slice(0, MAX_CONTAINERS)
    .flatMap((c) => {
      const co = obj(c);
      if (!co) return [];
      return [
        {
          name: str(co.name, 256),
          image: str(co.image, 512),
          restartPolicy: str(co.restartPolicy, 32),
          resources: trimResources(co.resources),
        },
      ];
    });
}

function trimPodSpec(v: unknown): Obj | undefined {
  const s = obj(v);
  if (!s) return undefined;
  return {
    serviceAccountName: str(s.serviceAccountName, 253) ?? str(s.serviceAccount, 253),
    activeDeadlineSeconds: typeof s.activeDeadlineSeconds === "number" ? s.activeDeadlineSeconds : undefined,
    nodeName: str(s.nodeName, 253),
    containers: trimContainers(s.containers),
    initContainers: trimContainers(s.initContainers),
  };
}

function trimConditions(v: unknown): Obj[] {
  return arr(v)
    .slice(0, 32)
    .flatMap((c) => {
      const co = obj(c);
      return co
        ? [
            {
              type: str(co.type, 64),
              status: str(co.status, 16),
              lastTransitionTime: str(co.lastTransitionTime, 64),
            },
          ]
        : [];
    });
}

/** Keeps what normalization reads and nothing else (this is the collector's redaction). */
export function trimInventoryObject(o: Obj): Obj {
  const md = obj(o.metadata) ?? {};
  const managed = arr(md.managedFields)
    .slice(0, 64)
    .flatMap((m) => {
      const t = str(obj(m)?.time, 64);
      return t ? [{ time: t }] : [];
    });
  const metadata: Obj = {
    name: md.name,
    namespace: md.namespace,
    uid: md.uid,
    resourceVersion: str(md.resourceVersion, 64),
    creationTimestamp: str(md.creationTimestamp, 64),
    deletionTimestamp: str(md.deletionTimestamp, 64),
    annotations: keep(obj(md.annotations), KEPT_ANNOTATIONS),
    labels: keep(obj(md.labels), KEPT_LABELS),
    ownerReferences: arr(md.ownerReferences)
      .slice(0, 8)
      .flatMap((r) => {
        const ro = obj(r);
        return ro ? [{ kind: str(ro.kind, 64), name: str(ro.name, 253), uid: str(ro.uid, 64) }] : [];
      }),
    managedFields: managed.length ? managed : undefined,
  };
  const kind = o.kind as InventoryKind;
  const out: Obj = { apiVersion: str(o.apiVersion, 64), kind, metadata };
  if (kind === "ServiceAccount") {
    if (typeof o.automountServiceAccountToken === "boolean")
      out.automountServiceAccountToken = o.automountServiceAccountToken;
    return out;
  }
  const spec = obj(o.spec);
  const status = obj(o.status) ?? {};
  if (kind === "Pod") {
    out.spec = trimPodSpec(spec);
    out.status = {
      phase: str(status.phase, 32),
      startTime: str(status.startTime, 64),
      conditions: trimConditions(status.conditions),
      containerStatuses: [...arr(status.containerStatuses), ...arr(status.initContainerStatuses)]
        .slice(0, MAX_CONTAINERS)
        .flatMap((c) => {
          const term = obj(obj(obj(c)?.state)?.terminated);
          return term
            ? [
                {
                  state: {
                    terminated: {
                      finishedAt: str(term.finishedAt, 64),
                      exitCode: term.exitCode,
                      reason: str(term.reason, 128),
                    },
                  },
                },
              ]
            : [];
        }),
    };
  } else {
    out.spec = spec && {
      activeDeadlineSeconds:
        typeof spec.activeDeadlineSeconds === "number" ? spec.activeDeadlineSeconds : undefined,
      parallelism: typeof spec.parallelism === "number" ? spec.parallelism : undefined,
      completions: typeof spec.completions === "number" ? spec.completions : undefined,
      template: { spec: trimPodSpec(obj(spec.template)?.spec) },
    };
    out.status = {
      startTime: str(status.startTime, 64),
      completionTime: str(status.completionTime, 64),
      active: nonNegInt(status.active),
      succeeded: nonNegInt(status.succeeded),
      failed: nonNegInt(status.failed),
      conditions: trimConditions(status.conditions),
    };
  }
  return out;
}

function isGpuResource(name: string): boolean {
  // nvidia.com/gpu and amd.com/gpu are the device plugins' resource names; other vendors follow <vendor>/gpu.
  return name === "nvidia.com/gpu" || name === "amd.com/gpu" || /^[a-z0-9.-]+\/gpu$/.test(name);
}

function gpuOf(c: Obj): number {
  const res = obj(c.resources);
  const count = (q: Obj | undefined) => {
    let n = 0;
    for (const [k, v] of Object.entries(q ?? {})) {
      const x = Number(v);
      if (isGpuResource(k) && Number.isFinite(x) && x > 0) n += Math.min(x, 1024);
    }
    return n;
  };
  // Extended resources must have requests == limits when both are set; take the larger if a record disagrees.
  return Math.max(count(obj(res?.limits)), count(obj(res?.requests)));
}

/**
 * GPUs a Pod holds, by the scheduler's rule: the larger of the sum over app (and sidecar) containers and
 * the largest single init container, since init containers run one at a time before the app containers.
 * https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers
 */
export function podGpuCount(spec: Obj | undefined): number {
  if (!spec) return 0;
  let sum = 0;
  let initMax = 0;
  for (const c of arr(spec.containers)) if (isObj(c)) sum += gpuOf(c);
  for (const c of arr(spec.initContainers)) {
    if (!isObj(c)) continue;
    // Sidecars (init containers with restartPolicy Always) keep running next to the app containers.
    if (c.restartPolicy === "Always") sum += gpuOf(c);
    else initMax = Math.max(initMax, gpuOf(c));
  }
  return Math.max(sum, initMax);
}

function images(spec: Obj | undefined): string {
  const out: string[] = [];
  for (const c of [...arr(spec?.initContainers), ...arr(spec?.containers)]) {
    const img = str(obj(c)?.image, 512);
    if (img && !out.includes(img)) out.push(img);
  }
  return out.join(",").slice(0, 1024);
}

function latest(times: (string | undefined)[]): string | undefined {
  let best: string | undefined;
  let bestMs = -1;
  for (const t of times) {
    const ms = t ? Date.parse(t) : Number.NaN;
    if (!Number.isNaN(ms) && ms > bestMs) {
      bestMs = ms;
      best = t;
    }
  }
  return best;
}

function conditionTime(conds: unknown, type: string): string | undefined {
  for (const c of arr(conds)) {
    const co = obj(c);
    if (co && co.type === type && co.status === "True") return str(co.lastTransitionTime, 64);
  }
  return undefined;
}

/** The Kubernetes username of a service account: what the apiserver and the audit log call it. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SA_PREFIX}${namespace}:${name}`;
}

function workloadServiceAccount(o: Obj): string {
  const spec = o.kind === "Job" ? obj(obj(obj(o.spec)?.template)?.spec) : obj(o.spec);
  return str(spec?.serviceAccountName, 253) || str(spec?.serviceAccount, 253) || "default";
}

/** Kafka key: the service account the object is or runs as, so an identity's inventory stays ordered. */
export function inventoryKey(o: Obj): string {
  const md = obj(o.metadata) ?? {};
  const ns = md.namespace as string;
  return serviceAccountUsername(
    ns,
    o.kind === "ServiceAccount" ? (md.name as string) : workloadServiceAccount(o),
  );
}

/** Aliases a service account's annotations prove: IRSA role, GKE and Azure workload identity bindings. */
export function serviceAccountLinks(
  cluster: string,
  ns: string,
  name: string,
  ann: Obj | undefined,
): string[] {
  const links = [k8sServiceAccountId(cluster, ns, name)];
  const arn = str(ann?.[ANNOTATIONS.irsa], 2048);
  const aws = arn ? awsRoleAlias(arn.trim()) : null;
  if (aws) links.push(aws);
  const email = str(ann?.[ANNOTATIONS.gke], 512);
  const gcp = email ? gcpServiceAccountAlias(email.trim()) : null;
  if (gcp) links.push(gcp);
  const azure = str(ann?.[ANNOTATIONS.azure], 128)?.trim().toLowerCase();
  if (azure && /^[0-9a-f-]{36}$/.test(azure)) links.push(`azure-app:${azure}`);
  return links;
}

type Step = { lifecycle: string; verb: Verb; time: string | undefined; outcome?: "success" | "failure" };

function steps(r: InventoryRecord, o: Obj, fallback: string): Step[] {
  const md = obj(o.metadata) ?? {};
  const status = obj(o.status) ?? {};
  const deleted = r.type === "DELETED" || typeof md.deletionTimestamp === "string";
  // deletionTimestamp is when graceful deletion ends (can be seconds ahead); objects without finalizers or
  // grace periods (ServiceAccounts) are gone without one, and then the watcher's observation time is all we have.
  const deleteStep: Step = {
    lifecycle: "delete",
    verb: "delete",
    time: str(md.deletionTimestamp, 64) ?? r.observed_at ?? fallback,
  };
  if (o.kind === "ServiceAccount") {
    if (deleted) return [deleteStep];
    const created = str(md.creationTimestamp, 64);
    const updated = latest([created, ...arr(md.managedFields).map((m) => str(obj(m)?.time, 64))]);
    return [{ lifecycle: "observe", verb: updated === created ? "create" : "other", time: updated }];
  }
  const out: Step[] = [];
  const start = str(status.startTime, 64);
  if (start) out.push({ lifecycle: "start", verb: "create", time: start });
  if (o.kind === "Pod") {
    const phase = status.phase;
    if (phase === "Succeeded" || phase === "Failed") {
      const finished = latest(
        arr(status.containerStatuses).map((c) => str(obj(obj(obj(c)?.state)?.terminated)?.finishedAt, 64)),
      );
      out.push({
        lifecycle: "end",
        verb: "other",
        time: finished ?? conditionTime(status.conditions, "Ready") ?? r.observed_at ?? fallback,
        outcome: phase === "Failed" ? "failure" : "success",
      });
    }
  } else {
    // A Job finishes with condition Complete (completionTime set) or Failed (no completionTime).
    // https://kubernetes.io/docs/concepts/workloads/controllers/job/#terminal-job-conditions
    const completed = str(status.completionTime, 64) ?? conditionTime(status.conditions, "Complete");
    const failed = conditionTime(status.conditions, "Failed");
    if (completed) out.push({ lifecycle: "end", verb: "other", time: completed, outcome: "success" });
    else if (failed) out.push({ lifecycle: "end", verb: "other", time: failed, outcome: "failure" });
  }
  if (deleted) out.push(deleteStep);
  return out;
}

const RESOURCE: Record<InventoryKind, string> = {
  ServiceAccount: "serviceaccounts",
  Pod: "pods",
  Job: "jobs",
};

export function normalizeInventory(record: unknown, cluster: string, receivedAt: string) {
  const invalid = validate(record);
  if (invalid) return { error: invalid } as const;
  const r = record as InventoryRecord;
  const o = trimInventoryObject(r.object);
  const md = o.metadata as Obj;
  const kind = o.kind as InventoryKind;
  const ns = md.namespace as string;
  const name = md.name as string;
  const uid = md.uid as string;
  const c = cluster || "default";
  const saName = kind === "ServiceAccount" ? name : workloadServiceAccount(o);
  const ann = obj(md.annotations);
  const actorAttrs: Record<string, string> = {};
  const baseAttrs: Record<string, string> = { namespace: ns, service_account: saName, kind };
  let links = [k8sServiceAccountId(c, ns, saName)];
  if (kind === "ServiceAccount") {
    links = serviceAccountLinks(c, ns, name, ann);
    for (const k of ["owner", "purpose", "expires", "environment"] as const) {
      const v = str(ann?.[ANNOTATIONS[k]], 1024)?.trim();
      if (v) actorAttrs[k] = v;
    }
    const put = (k: string, v: unknown) => {
      const s = str(v, 1024)?.trim();
      if (s) baseAttrs[k] = s;
    };
    put("irsa_role_arn", ann?.[ANNOTATIONS.irsa]);
    put("gcp_service_account", ann?.[ANNOTATIONS.gke]);
    put("azure_client_id", ann?.[ANNOTATIONS.azure]);
    if (typeof o.automountServiceAccountToken === "boolean")
      baseAttrs.automount_token = String(o.automountServiceAccountToken);
  } else {
    const status = obj(o.status) ?? {};
    const jobSpec = kind === "Job" ? obj(o.spec) : undefined;
    const podSpec = kind === "Job" ? obj(obj(jobSpec?.template)?.spec) : obj(o.spec);
    baseAttrs.gpu_count = String(podGpuCount(podSpec));
    const imgs = images(podSpec);
    if (imgs) baseAttrs.images = imgs;
    const deadline = jobSpec?.activeDeadlineSeconds ?? podSpec?.activeDeadlineSeconds;
    if (typeof deadline === "number") baseAttrs.active_deadline_seconds = String(deadline);
    if (kind === "Job") {
      baseAttrs.job_name = name;
      baseAttrs.succeeded = String(nonNegInt(status.succeeded));
      baseAttrs.failed = String(nonNegInt(status.failed));
      if (typeof jobSpec?.parallelism === "number") baseAttrs.parallelism = String(jobSpec.parallelism);
    } else {
      const labels = obj(md.labels);
      const owner = arr(md.ownerReferences)
        .map(obj)
        .find((x) => x?.kind === "Job");
      const jobName =
        str(owner?.name, 253) ??
        str(labels?.["batch.kubernetes.io/job-name"], 253) ??
        str(labels?.["job-name"], 253);
      if (jobName) baseAttrs.job_name = jobName;
      if (typeof status.phase === "string") baseAttrs.phase = status.phase;
      if (typeof podSpec?.nodeName === "string") baseAttrs.node_name = podSpec.nodeName;
    }
  }
  const resource = RESOURCE[kind];
  const events: NormalizedEvent[] = [];
  const errors: string[] = [];
  for (const s of steps(r, o, receivedAt)) {
    const t = eventTime(s.time);
    if ("error" in t) {
      errors.push(`${s.lifecycle}: ${t.error}`);
      continue;
    }
    // Workload steps happen once per object; a service account's state is versioned by resourceVersion.
    const version =
      kind === "ServiceAccount" && s.lifecycle !== "delete"
        ? (str(md.resourceVersion, 64) ?? t.time)
        : s.lifecycle;
    events.push({
      id: stableId("inventory", c, uid, kind, version),
      class_uid: 6003,
      source: "inventory",
      time: t.time,
      received_at: receivedAt,
      cluster: c,
      identity_id: "",
      actor: {
        principal: serviceAccountUsername(ns, saName),
        type: "service_account",
        uid: kind === "ServiceAccount" ? uid : undefined,
        groups: [],
        links,
        attrs: actorAttrs,
      },
      operation: `${resource}/${s.lifecycle}`,
      verb: s.verb,
      resource: { uri: `k8s://${c}/${ns}/${resource}/${name}`, type: resource, name, namespace: ns },
      src_ip: "",
      user_agent: "",
      outcome: s.outcome ?? "success",
      status_code: 0,
      reason: "",
      bytes_in: 0,
      bytes_out: 0,
      raw_ref: `${uid}/${version}`,
      attrs: { ...baseAttrs, lifecycle: s.lifecycle },
    });
  }
  if (!events.length && errors.length) return { error: errors[0] } as const;
  if (!events.length) return { skipped: `${kind} not started yet` } as const;
  return { events } as const;
}

export const inventory: SourceParser = {
  source: "inventory",
  contentTypes: ["application/json", "application/x-ndjson", "application/jsonl"],
  decode: (text) => decodeJsonOrNdjson(text, unwrapInventory),
  accept(record) {
    const invalid = validate(record);
    if (invalid) return err(invalid);
    const r = record as InventoryRecord;
    const object = trimInventoryObject(r.object);
    const observed =
      typeof r.observed_at === "string" && !("error" in eventTime(r.observed_at))
        ? r.observed_at
        : new Date().toISOString();
    return ok({ key: inventoryKey(object), record: { type: r.type, observed_at: observed, object } });
  },
  redact: (record) => {
    const o = isObj(record) ? obj(record.object) : undefined;
    return o && typeof o.kind === "string" && KINDS.has(o.kind)
      ? { type: (record as Obj).type, object: trimInventoryObject(o) }
      : undefined;
  },
  normalize(record, ctx) {
    const n = normalizeInventory(record, ctx.cluster, ctx.receivedAt);
    if ("error" in n) return err(n.error as string);
    if ("skipped" in n) return ok({ events: [], skipped: n.skipped });
    return ok({ events: [...n.events] });
  },
};
