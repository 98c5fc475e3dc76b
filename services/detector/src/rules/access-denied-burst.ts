import { at, daily, ev, type RuleCase, saUser } from "../cases";
import { DAY, dayLabel, MINUTE } from "../features";
import type { Rule } from "./types";

export const BUCKET = 10 * MINUTE;
/** A burst needs at least this many denials in 20 minutes, and 3× the identity's busiest earlier bucket pair. */
export const MIN_DENIED = 10;
const KEEP = 30 * DAY;

const key = (b: number) => String(b).padStart(10, "0");

/**
 * Many denied requests by one identity in a short window: probing permissions with a stolen credential
 * (MITRE T1580/T1613 discovery; T1078). Denials are counted per identity in 10-minute event-time buckets
 * (counters persisted in identity_features, so a restart continues the count); a burst is two adjacent
 * buckets together reaching max(10, 3 × the largest pair seen on earlier days), so an identity that is
 * routinely denied (a controller missing a permission) learns its own normal. Counts commute, so replay
 * and late events reach the same totals; the last-arriving denial of a burst raises it. Buckets older than
 * 30 days (event time) are dropped to keep state bounded.
 */
export const rule: Rule = {
  id: "access-denied-burst",
  title: "Burst of denied requests",
  severity: "medium",
  mitre: ["T1580", "T1613"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault", "s3-access", "minio"],
  description: `Fires when one identity is denied at least ${MIN_DENIED} times (and far more than its own history) within two adjacent ${BUCKET / MINUTE}-minute windows.`,
  evaluate({ event, identityEvents, state, t }) {
    if (!identityEvents.some((ie) => ie.kind === "access_denied")) return [];
    const c = state.counters.get("denied");
    const b = Math.floor(t / BUCKET);
    const n = (x: number) => (c?.get(key(x)) ?? 0) + (x === b ? 1 : 0);
    const pair = Math.max(n(b - 1) + n(b), n(b) + n(b + 1));
    const dayStart = Math.floor(t / DAY) * DAY;
    let hist = 0;
    if (c)
      for (const [k, v] of c) {
        const kb = Number(k);
        if (kb * BUCKET >= dayStart) continue;
        hist = Math.max(hist, v + (c.get(key(kb + 1)) ?? 0));
      }
    const limit = Math.max(MIN_DENIED, 3 * hist);
    if (pair < limit) return [];
    return [
      {
        title: `${pair} denied requests within ${(2 * BUCKET) / MINUTE} minutes`,
        description: `${event.actor.principal} was denied ${pair} times around ${event.time} (latest ${event.operation} on ${event.resource.uri}); its busiest earlier 20 minutes had ${hist}.`,
        severity: pair >= 5 * limit ? "high" : undefined,
        window: dayLabel(t),
        labels: { denied: String(pair) },
      },
    ];
  },
  learn({ identityEvents, state, t, ctx }) {
    if (!identityEvents.some((ie) => ie.kind === "access_denied")) return;
    ctx.states.add(state, "denied", key(Math.floor(t / BUCKET)), 1, t);
    const c = state.counter("denied");
    if (c.size > 512) for (const k of c.keys()) if (Number(k) * BUCKET < t - KEEP) c.delete(k);
  },
};

const sa = saUser("notebooks", "jupyter");
const denied = (time: string, i: number) =>
  ev({
    who: sa,
    time,
    verb: "list",
    uri: `k8s://prod/team-${i}/secrets`,
    type: "secrets",
    namespace: `team-${i}`,
    outcome: "failure",
    status: 403,
  });
export const cases: RuleCase[] = [
  {
    name: "twelve denials in eight minutes",
    events: Array.from({ length: 12 }, (_, i) => denied(at(3, 3, 10 + Math.floor(i * 0.7)), i)),
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "a controller denied 8 times every morning keeps its normal",
    events: daily(0, 6, (d) => Array.from({ length: 8 }, (_, i) => denied(at(d, 9, i), i))),
    expect: { fires: false },
  },
  {
    name: "denials spread over the day",
    events: Array.from({ length: 20 }, (_, i) => denied(at(3, 1 + i, 0), i)),
    expect: { fires: false },
  },
];
