import { at, daily, ev, type RuleCase, s3, saUser, secretGet } from "../cases";
import { dayLabel } from "../features";
import type { Rule } from "./types";

const SENSITIVE = new Set(["secret_read", "secret_list", "artifact_transfer", "privilege_change"]);

/**
 * Access outside the identity's working window (MITRE T1078 valid accounts used at unusual times).
 * People: the configured `working_hours` (days, start/end, IANA time zone via Intl). Machines: the
 * hour-of-week schedule they showed while learning (the engine learns it for every identity), so a
 * nightly 02:00 training job is normal for that job and a 14:00 run of it is not. The derivation step
 * emits `off_hours_access` identity events; this rule turns them into at most one alert per identity per
 * day. Touching secrets, artifacts or privileges off hours is medium; anything else is low.
 */
export const rule: Rule = {
  id: "off-hours-access",
  title: "Access outside the identity's working window",
  severity: "low",
  mitre: ["T1078"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault", "s3-access", "minio"],
  description:
    "Fires for humans outside the configured working hours (time zone aware) and for service accounts outside their learned hour-of-week schedule.",
  evaluate({ event, identityEvents, t }) {
    const off = identityEvents.find((ie) => ie.kind === "off_hours_access");
    if (!off) return [];
    const sensitive = identityEvents.some(
      (ie) => SENSITIVE.has(ie.kind) && ie.identity_id === event.identity_id,
    );
    return [
      {
        title: `${sensitive ? "Sensitive access" : "Activity"} ${off.attrs.reason}`,
        description: `${event.actor.principal} ran ${event.operation} on ${event.resource.uri} at ${event.time} (${off.attrs.reason}).`,
        severity: sensitive ? "medium" : "low",
        window: dayLabel(t),
        labels: { reason: off.attrs.reason },
      },
    ];
  },
};

const human = "alice@example.com";
const sa = saUser("ml-training", "fine-tuning-job");
const ckpt = "s3://acme-checkpoints/llm/step-100.pt";
const catalogued = { resources: [{ match: "s3://acme-checkpoints/**", kind: "checkpoint" }] };
export const cases: RuleCase[] = [
  {
    name: "a person reads a secret at 03:00 UTC",
    events: [
      ...daily(0, 4, (d) => secretGet(human, "ml-training", "hf-token", at(d, 10))),
      secretGet(human, "ml-training", "hf-token", at(4, 3)),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "a person in Tokyo works at 10:00 local (01:00 UTC)",
    config: {
      working_hours: {
        timezone: "Asia/Tokyo",
        days: ["mon", "tue", "wed", "thu", "fri"],
        start: "09:00",
        end: "18:00",
      },
    },
    events: daily(0, 5, (d) => secretGet(human, "ml-training", "hf-token", at(d, 1))),
    expect: { fires: false },
  },
  {
    name: "a nightly job at 02:00 stays quiet; the same SA at 14:00 is off its schedule",
    config: catalogued,
    events: [...daily(0, 5, (d) => s3(sa, "write", ckpt, at(d, 2))), s3(sa, "write", ckpt, at(5, 14))],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "the schedule does not creep an hour per event (03:00 is jitter, 05:00 is not)",
    config: catalogued,
    events: [
      ...daily(0, 4, (d) => s3(sa, "write", ckpt, at(d, 2))),
      s3(sa, "write", ckpt, at(4, 3)),
      s3(sa, "write", ckpt, at(4, 4)),
      s3(sa, "write", ckpt, at(4, 5)),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "a nightly job keeps its schedule, weekends included",
    events: daily(0, 9, (d) => s3(sa, "write", ckpt, at(d, 2, 30))),
    expect: { fires: false },
  },
  {
    name: "control-plane users are never judged by working hours",
    events: [
      ev({
        who: "system:kube-scheduler",
        time: at(4, 3),
        uri: "k8s://prod/_/nodes",
        type: "nodes",
        verb: "list",
      }),
    ],
    expect: { fires: false },
  },
];
