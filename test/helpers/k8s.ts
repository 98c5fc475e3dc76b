/** Builders for audit.k8s.io/v1 events in the shape the apiserver's webhook backend sends. */
import { randomUUID } from "node:crypto";

export interface K8sEventOpts {
  user: string;
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  time: string;
  code?: number;
  auditID?: string;
  stage?: string;
  groups?: string[];
  requestObject?: unknown;
  responseObject?: unknown;
  subresource?: string;
  apiGroup?: string;
  sourceIP?: string;
  userAgent?: string;
  impersonatedUser?: string;
}

export function k8sEvent(o: K8sEventOpts) {
  const ns = o.namespace;
  const path = `/api/v1${ns ? `/namespaces/${ns}` : ""}/${o.resource}${o.name ? `/${o.name}` : ""}`;
  return {
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: o.requestObject || o.responseObject ? "RequestResponse" : "Metadata",
    auditID: o.auditID ?? randomUUID(),
    stage: o.stage ?? "ResponseComplete",
    requestURI: path,
    verb: o.verb,
    user: {
      username: o.user,
      uid: "0b8c2d0e-8a5f-4c4e-9a53-1f0f0e0e0e0e",
      groups:
        o.groups ??
        (o.user.startsWith("system:serviceaccount:")
          ? ["system:serviceaccounts", "system:authenticated"]
          : ["system:authenticated"]),
    },
    ...(o.impersonatedUser ? { impersonatedUser: { username: o.impersonatedUser } } : {}),
    sourceIPs: [o.sourceIP ?? "192.0.2.10"],
    userAgent: o.userAgent ?? "python-requests/2.31",
    objectRef: {
      resource: o.resource,
      ...(ns ? { namespace: ns } : {}),
      ...(o.name ? { name: o.name } : {}),
      ...(o.subresource ? { subresource: o.subresource } : {}),
      ...(o.apiGroup ? { apiGroup: o.apiGroup } : {}),
      apiVersion: "v1",
    },
    responseStatus: { metadata: {}, code: o.code ?? 200 },
    ...(o.requestObject ? { requestObject: o.requestObject } : {}),
    ...(o.responseObject ? { responseObject: o.responseObject } : {}),
    requestReceivedTimestamp: o.time,
    stageTimestamp: o.time,
    annotations: {
      "authorization.k8s.io/decision": (o.code ?? 200) === 403 ? "forbid" : "allow",
      "authorization.k8s.io/reason": "",
    },
  };
}

export const eventList = (items: unknown[]) => ({
  kind: "EventList",
  apiVersion: "audit.k8s.io/v1",
  metadata: {},
  items,
});

/** ISO time `days` after a base day at hh:mm UTC. */
export function at(base: string, days: number, hh = 10, mm = 0): string {
  const d = new Date(`${base}T00:00:00.000Z`);
  d.setUTCDate(d.getUTCDate() + days);
  d.setUTCHours(hh, mm, 0, 0);
  return d.toISOString();
}

/**
 * The walking-skeleton story: a training job's service account reads its own secret for 10 days, then
 * reads a secret it never read before (another namespace's) → secret-read-unusual.
 */
export function secretStory(base = "2026-11-01", sa = "system:serviceaccount:ml-training:fine-tuning-job") {
  const normal = Array.from({ length: 10 }, (_, d) =>
    k8sEvent({
      user: sa,
      verb: "get",
      resource: "secrets",
      namespace: "ml-training",
      name: "hf-token",
      time: at(base, d, 2),
    }),
  );
  const attack = k8sEvent({
    user: sa,
    verb: "get",
    resource: "secrets",
    namespace: "payments",
    name: "db-credentials",
    time: at(base, 10, 3, 12),
  });
  return { normal, attack, sa };
}
