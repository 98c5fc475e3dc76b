/**
 * Helpers shared by the derivation step and the rules: working hours and hour-of-week buckets, identity
 * pattern matching (any alias form), container registries, workload identities and job bookkeeping.
 * Everything here works on event time; nothing reads the wall clock.
 */
import type { Config } from "@identrail/config";
import { k8sServiceAccountId, parseServiceAccountUsername } from "@identrail/core";
import type { NormalizedEvent } from "@identrail/schema";
import picomatch from "picomatch";
import type { IdentityState } from "./state";

export const HOUR = 3_600_000;
export const MINUTE = 60_000;
export const DAY = 86_400_000;

/**
 * Grace after a job ends during which its identity may still act (the kubelet tears the pod down,
 * sidecars flush logs and uploads). Activity later than this is "after the job".
 */
export const JOB_END_GRACE = 10 * MINUTE;

const WEEKDAY_INDEX: Record<string, number> = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 };

/** UTC day label for grouping windows, e.g. "2026-11-24". */
export function dayLabel(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

const partsCache = new Map<string, Intl.DateTimeFormat>();
/** Weekday (0 = Monday) and minute of day of `t` in `timeZone` (IANA), via Intl. */
export function localClock(t: number, timeZone: string): { weekday: number; minute: number; hour: number } {
  let f = partsCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    partsCache.set(timeZone, f);
  }
  let weekday = 0;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(new Date(t))) {
    if (p.type === "weekday") weekday = WEEKDAY_INDEX[p.value.slice(0, 3).toLowerCase()] ?? 0;
    else if (p.type === "hour") hour = Number(p.value) % 24;
    else if (p.type === "minute") minute = Number(p.value);
  }
  return { weekday, hour, minute: hour * 60 + minute };
}

/** True when `t` falls inside the configured working window (days + start..end in the configured zone). */
export function inWorkingHours(t: number, wh: Config["working_hours"]): boolean {
  const c = localClock(t, wh.timezone);
  const day = Object.keys(WEEKDAY_INDEX).find((k) => WEEKDAY_INDEX[k] === c.weekday)!;
  if (!wh.days.includes(day as (typeof wh.days)[number])) return false;
  const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  const start = toMin(wh.start);
  const end = toMin(wh.end);
  return start <= end ? c.minute >= start && c.minute < end : c.minute >= start || c.minute < end;
}

/** Hour-of-week bucket (UTC) "d<0-6>h<0-23>", the unit of a service account's learned schedule. */
export function hourOfWeek(t: number): string {
  const d = new Date(t);
  return `d${(d.getUTCDay() + 6) % 7}h${d.getUTCHours()}`;
}

/** A schedule hour first seen after learning becomes part of the schedule once it is this old. */
export const SCHEDULE_ADOPT = 7 * DAY;

/**
 * Whether a service account's learned schedule covers `t`: an hour (on any weekday, so a daily job seen
 * on weekdays also covers its weekend runs) within ±1 hour of t's, that the identity showed during its
 * learning period or first showed at least a week before `t` (a moved job becomes normal after a week).
 * Judging only by those hours — not by every hour seen so far — keeps the schedule from creeping an hour
 * per event and makes the answer independent of processing order (replays, late events).
 */
export function scheduleCovers(state: IdentityState, t: number, learnedUntil: number): boolean {
  const how = state.features.get("how");
  if (!how) return false;
  const h = new Date(t).getUTCHours();
  for (const dh of [-1, 0, 1]) {
    const hh = (h + dh + 24) % 24;
    for (let day = 0; day < 7; day++) {
      const s = how.get(`d${day}h${hh}`);
      if (s && (s.first < learnedUntil || s.first <= t - SCHEDULE_ADOPT)) return true;
    }
  }
  return false;
}

/**
 * True when the identity had `value` under `feature` before event time `t`. Judging novelty in event
 * time, not by what happens to be in memory, gives the same answer whatever order events arrive in.
 */
export function seenBefore(state: IdentityState, feature: string, value: string, t: number): boolean {
  const s = state.features.get(feature)?.get(value);
  return s !== undefined && s.first < t;
}

/** Identities that follow a human's working hours rather than a learned machine schedule. */
export function isHuman(e: NormalizedEvent, state?: IdentityState): boolean {
  const type = state?.info.type ?? e.actor.type;
  return type === "human" || e.identity_id.startsWith("human:");
}

/**
 * Control-plane identities (`system:*` users that are not service accounts, nodes, and EKS's reserved
 * `eks:*` users such as eks:addon-manager, which manage RBAC as part of the platform:
 * https://docs.aws.amazon.com/eks/latest/userguide/default-roles-users.html): never judged as people.
 */
export function isSystemPrincipal(principal: string): boolean {
  if (principal.startsWith("eks:")) return true;
  return principal.startsWith("system:") && !principal.startsWith("system:serviceaccount:");
}

/**
 * Identity patterns from config may use any alias form: `system:serviceaccount:ns:name`, a canonical id
 * (`k8s-sa:cluster:ns:name`), a raw principal (ARN, email); `*` globs allowed.
 */
export function identityMatcher(
  patterns: string[] | undefined,
): ((e: NormalizedEvent) => boolean) | undefined {
  if (!patterns?.length) return undefined;
  const tests = patterns.flatMap((p) => {
    const out = [p];
    const sa = parseServiceAccountUsername(p);
    if (sa) out.push(`k8s-sa:*:${sa.namespace}:${sa.name}`);
    return out.map((x) => picomatch(x, { dot: true }));
  });
  return (e) => {
    const cands = [e.identity_id, e.actor.principal, ...e.actor.links];
    return cands.some((c) => tests.some((t) => t(c)));
  };
}

export function matchesIdentity(patterns: string[] | undefined, id: string): boolean {
  if (!patterns?.length) return false;
  return patterns.some((p) => {
    const sa = parseServiceAccountUsername(p);
    const forms = sa ? [p, `k8s-sa:*:${sa.namespace}:${sa.name}`] : [p];
    return forms.some((f) => picomatch.isMatch(id, f, { dot: true }));
  });
}

/** Registry host of an image reference (Docker's rule: the first segment is a host if it has . or :). */
export function imageRegistry(image: string): string {
  const first = image.split("/")[0];
  if (image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost"))
    return first;
  return "docker.io";
}

/** Canonical id of the service account a pod/job runs as (workload facts from the K8s parser or inventory). */
export function workloadIdentity(e: NormalizedEvent): string | undefined {
  const sa =
    e.attrs.workload_service_account ?? (e.source === "inventory" ? e.attrs.service_account : undefined);
  if (!sa) return undefined;
  if (sa.startsWith("k8s-sa:")) return sa;
  const parsed = parseServiceAccountUsername(sa);
  const ns = parsed?.namespace ?? e.attrs.namespace ?? e.resource.namespace;
  if (!ns) return undefined;
  return k8sServiceAccountId(e.cluster, ns, parsed?.name ?? sa);
}

/** Jobs known to run as this identity: started/ended feature maps (value = job or pod name). */
export function jobActivity(state: IdentityState): {
  running: string[];
  lastEnd: number;
  everBound: boolean;
} {
  const starts = state.features.get("job_start");
  const ends = state.features.get("job_end");
  const running: string[] = [];
  let lastEnd = Number.NEGATIVE_INFINITY;
  if (ends) for (const s of ends.values()) if (s.last > lastEnd) lastEnd = s.last;
  if (starts)
    for (const [name, s] of starts) {
      const end = ends?.get(name);
      // A job is running when its latest start is after its latest end (jobs with a reused name restart).
      if (!end || end.last < s.last) running.push(name);
    }
  return { running, lastEnd, everBound: (starts?.size ?? 0) > 0 };
}

/**
 * The workload a pod name belongs to: strips a Job's 5-character pod suffix and a ReplicaSet's hash, so
 * parallel pods of one job count as one workload.
 */
export function workloadOfPod(pod: string): string {
  return pod.replace(/-[a-z0-9]{5}$/, "").replace(/-[a-f0-9]{8,10}$/, "");
}

/** Data-bearing resource kinds the catalog can assign. */
export const ARTIFACT_KINDS = new Set(["dataset", "checkpoint", "model", "registry"]);
export const OBJECT_SCHEMES = ["s3://", "gs://", "minio://"];
export const isObjectUri = (uri: string) => OBJECT_SCHEMES.some((s) => uri.startsWith(s));

/** Bucket part of an object URI ("s3://bucket"), for comparing copy source and destination. */
export function bucketOf(uri: string): string {
  const i = uri.indexOf("://");
  if (i < 0) return uri;
  const rest = uri.slice(i + 3);
  const j = rest.indexOf("/");
  return uri.slice(0, i + 3) + (j < 0 ? rest : rest.slice(0, j));
}
