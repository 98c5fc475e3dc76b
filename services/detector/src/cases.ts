/**
 * Builders for rule cases: normalized events with redacted defaults (example.com, 192.0.2.x, account
 * 123456789012), shaped like the parsers' output. Each rule file exports `cases`; the meta-test
 * (test/rules.meta.test.ts) runs them through the real Engine.
 */
import { k8sServiceAccountId, stableId } from "@identrail/core";
import type { NormalizedEvent, Severity } from "@identrail/schema";

export interface RuleCase {
  name: string;
  /** Config overrides (merged into a test config: learning period 2 days, defaults otherwise). */
  config?: Record<string, unknown>;
  events: NormalizedEvent[];
  /** fires: the rule raises at least one alert for `identity` (default: the last event's identity) at `severity` or more. */
  expect: { fires: boolean; identity?: string; severity?: Severity };
}

export const CLUSTER = "prod";
export const saId = (ns: string, name: string) => k8sServiceAccountId(CLUSTER, ns, name);
export const saUser = (ns: string, name: string) => `system:serviceaccount:${ns}:${name}`;

/** ISO time `day` days after 2026-11-02 (a Monday) at hh:mm UTC. */
export function at(day: number, hh = 10, mm = 0): string {
  return new Date(Date.UTC(2026, 10, 2 + day, hh, mm)).toISOString();
}

let seq = 0;
export interface Ev {
  who: string;
  time: string;
  verb?: NormalizedEvent["verb"];
  operation?: string;
  uri: string;
  type?: string;
  name?: string;
  namespace?: string;
  source?: NormalizedEvent["source"];
  outcome?: NormalizedEvent["outcome"];
  status?: number;
  bytesOut?: number;
  bytesIn?: number;
  attrs?: Record<string, string>;
  impersonated?: string;
  cluster?: string;
  actorAttrs?: Record<string, string>;
}

/**
 * A resolved normalized event. `who` is a K8s username (`system:serviceaccount:ns:sa`, `system:…` and `eks:…`
 * control-plane users), an email, or a canonical id.
 */
export function ev(o: Ev): NormalizedEvent {
  const cluster = o.cluster ?? CLUSTER;
  let id: string;
  let principal = o.who;
  let type: NormalizedEvent["actor"]["type"] = "unknown";
  const m = /^system:serviceaccount:([^:]+):(.+)$/.exec(o.who);
  if (m) {
    id = k8sServiceAccountId(cluster, m[1], m[2]);
    type = "service_account";
  } else if (o.who.includes("@") && !o.who.includes(":")) {
    id = `human:${o.who}`;
    type = "human";
  } else if (o.who.startsWith("system:") || o.who.startsWith("eks:")) {
    id = `k8s-user:${cluster}:${o.who}`;
  } else {
    id = o.who;
    principal = o.who.slice(o.who.indexOf(":") + 1);
    type = o.who.startsWith("aws-role:")
      ? "cloud_role"
      : o.who.startsWith("human:")
        ? "human"
        : "service_account";
  }
  const fail = o.outcome === "failure";
  return {
    id: stableId("case", String(++seq), o.time, o.uri),
    class_uid: 6003,
    source: o.source ?? "k8s-audit",
    time: o.time,
    received_at: o.time,
    cluster,
    identity_id: id,
    actor: {
      principal,
      type,
      groups: [],
      links: [id],
      attrs: o.actorAttrs ?? {},
      impersonated: o.impersonated,
    },
    operation: o.operation ?? o.verb ?? "get",
    verb: o.verb ?? "read",
    resource: { uri: o.uri, type: o.type ?? "object", name: o.name, namespace: o.namespace },
    src_ip: "192.0.2.10",
    user_agent: "case",
    outcome: o.outcome ?? "success",
    status_code: o.status ?? (fail ? 403 : 200),
    reason: fail ? "Forbidden" : "",
    bytes_in: o.bytesIn ?? 0,
    bytes_out: o.bytesOut ?? 0,
    raw_ref: `case-${seq}`,
    attrs: o.attrs ?? {},
  };
}

/** A K8s secret get. */
export function secretGet(who: string, ns: string, name: string, time: string): NormalizedEvent {
  return ev({
    who,
    time,
    verb: "read",
    operation: "get",
    uri: `k8s://${CLUSTER}/${ns}/secrets/${name}`,
    type: "secrets",
    name,
    namespace: ns,
  });
}

/** Daily events for days [from, to) at hh:mm. */
export function daily(
  from: number,
  to: number,
  make: (day: number) => NormalizedEvent | NormalizedEvent[],
): NormalizedEvent[] {
  const out: NormalizedEvent[] = [];
  for (let d = from; d < to; d++) {
    const x = make(d);
    out.push(...(Array.isArray(x) ? x : [x]));
  }
  return out;
}

/** A Job create (as the K8s parser normalizes it: workload attrs from the request object). */
export function jobCreate(
  who: string,
  ns: string,
  job: string,
  time: string,
  w: { sa: string; gpus?: number; images?: string; deadline?: number },
): NormalizedEvent {
  return ev({
    who,
    time,
    verb: "create",
    operation: "create",
    uri: `k8s://${CLUSTER}/${ns}/jobs/${job}`,
    type: "jobs",
    name: job,
    namespace: ns,
    attrs: {
      workload_service_account: w.sa,
      images: w.images ?? "registry.example.com/ml/trainer:1.4",
      ...(w.gpus ? { gpu_count: String(w.gpus) } : {}),
      ...(w.deadline ? { active_deadline_seconds: String(w.deadline) } : {}),
      job_name: job,
    },
  });
}

/** A job ending as the inventory watcher reports it (source inventory, actor = the workload's SA). */
export function jobEnd(ns: string, sa: string, job: string, time: string): NormalizedEvent {
  return ev({
    who: saUser(ns, sa),
    time,
    source: "inventory",
    verb: "update",
    operation: "job.end",
    uri: `k8s://${CLUSTER}/${ns}/jobs/${job}`,
    type: "jobs",
    name: job,
    namespace: ns,
    attrs: { lifecycle: "end", service_account: sa, namespace: ns, job_name: job },
  });
}

export function s3(
  who: string,
  verb: NormalizedEvent["verb"],
  uri: string,
  time: string,
  extra: Partial<Ev> = {},
): NormalizedEvent {
  const op = verb === "read" ? "GetObject" : verb === "delete" ? "DeleteObject" : "PutObject";
  return ev({ who, time, verb, operation: op, uri, type: "object", source: "cloudtrail", ...extra });
}
