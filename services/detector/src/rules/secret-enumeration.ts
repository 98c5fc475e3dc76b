import { at, CLUSTER, ev, type RuleCase, saUser, secretGet } from "../cases";
import { dayLabel, MINUTE, seenBefore } from "../features";
import type { Rule } from "./types";

/** Window and minimum distinct novel secrets: reading five secrets you never read within ten minutes. */
export const WINDOW = 10 * MINUTE;
export const MIN_DISTINCT = 5;

/**
 * One identity reads or lists many distinct secrets it never touched before, in a short event-time window
 * (MITRE T1552 / T1087-style discovery of credentials). The window needs no private state: the engine's
 * learned secret features keep the first time each secret was read/listed, persisted in identity_features,
 * so the window survives restarts and gives the same answer on replay and with late events (a late read
 * moves a first-seen time earlier; the last-arriving read of a burst sees all of it). Secrets first
 * touched during the learning period are the baseline and never count.
 */
export const rule: Rule = {
  id: "secret-enumeration",
  title: "Identity enumerated many secrets in a short window",
  severity: "medium",
  mitre: ["T1552", "T1555"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault"],
  description: `Fires when an identity reads or lists at least ${MIN_DISTINCT} distinct secrets it never touched before within ${WINDOW / MINUTE} minutes of event time.`,
  evaluate({ event, identityEvents, state, t, ctx }) {
    const mine = identityEvents.filter((ie) => ie.kind === "secret_read" || ie.kind === "secret_list");
    if (!mine.length) return [];
    const learnedUntil = state.firstSeen + ctx.config.detector.learning_period;
    const novel = mine.filter(
      (ie) => !seenBefore(state, ie.kind === "secret_read" ? "secret" : "secret_list", ie.resource_uri, t),
    );
    if (!novel.length || t < learnedUntil) return [];
    const times: number[] = novel.map(() => t);
    const seen = new Set(novel.map((ie) => ie.resource_uri));
    for (const name of ["secret", "secret_list"]) {
      for (const [uri, s] of state.features.get(name) ?? []) {
        if (seen.has(uri) || s.first < learnedUntil || Math.abs(s.first - t) > WINDOW) continue;
        seen.add(uri);
        times.push(s.first);
      }
    }
    if (times.length < MIN_DISTINCT) return [];
    times.sort((a, b) => a - b);
    // Largest count of first-touches in any window of length WINDOW that contains t.
    let best = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] > WINDOW) j++;
      if (times[j] <= t && t <= times[j] + WINDOW) best = Math.max(best, i - j + 1);
    }
    if (best < MIN_DISTINCT) return [];
    return [
      {
        title: `${best} secrets never read before were read or listed within ${WINDOW / MINUTE} minutes`,
        description: `${event.actor.principal} touched ${best} distinct secrets it had no history with (latest ${event.resource.uri} via ${event.source}).`,
        severity: best >= 3 * MIN_DISTINCT ? "high" : undefined,
        window: dayLabel(t),
        labels: { distinct_secrets: String(best) },
      },
    ];
  },
};

const sa = saUser("ci", "ci-runner");
export const cases: RuleCase[] = [
  {
    name: "reads eight other namespaces' secrets in five minutes",
    events: [
      ...[0, 1, 2, 3].map((d) => secretGet(sa, "ci", "registry-push", at(d, 9))),
      ...["a", "b", "c", "d", "e", "f", "g", "h"].map((n, i) =>
        secretGet(sa, `team-${n}`, "db", at(4, 3, i % 5)),
      ),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "a cluster-wide list plus four new reads counts as enumeration",
    events: [
      ...[0, 1, 2, 3].map((d) => secretGet(sa, "ci", "registry-push", at(d, 9))),
      ev({
        who: sa,
        time: at(4, 3),
        verb: "list",
        operation: "list",
        uri: `k8s://${CLUSTER}/_/secrets`,
        type: "secrets",
      }),
      ...["a", "b", "c", "d"].map((n, i) => secretGet(sa, `team-${n}`, "db", at(4, 3, i + 1))),
    ],
    expect: { fires: true },
  },
  {
    name: "new secrets spread over a day are not a burst",
    events: [
      ...[0, 1, 2, 3].map((d) => secretGet(sa, "ci", "registry-push", at(d, 9))),
      ...["a", "b", "c", "d", "e", "f"].map((n, i) => secretGet(sa, "ci", `key-${n}`, at(4, 8 + i))),
    ],
    expect: { fires: false },
  },
  {
    name: "many secrets read during the learning period are the baseline",
    events: ["a", "b", "c", "d", "e", "f"].map((n, i) => secretGet(sa, "ci", `key-${n}`, at(0, 9, i))),
    expect: { fires: false },
  },
];
