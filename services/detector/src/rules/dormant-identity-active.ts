import { at, ev, type RuleCase, s3, saUser, secretGet } from "../cases";
import { DAY, dayLabel } from "../features";
import type { Finding, Rule } from "./types";

const SENSITIVE = new Set(["secret_read", "secret_list", "artifact_transfer", "privilege_change"]);

/**
 * An identity comes back to life when it should not (the seeds: service accounts "outlive the job they
 * support", "without anyone knowing who owns the account"; MITRE T1078): idle longer than
 * `detector.dormant_after` in event time (state.previousSeen is the identity's last activity before this
 * event), past the expiry its `identrail.io/expires` annotation declares (high), or described by the
 * inventory without an owner (low: a hygiene finding, not an attack by itself). Inventory events are facts
 * about the identity, not its activity, and are not judged.
 */
export const rule: Rule = {
  id: "dormant-identity-active",
  title: "Dormant, expired or ownerless identity became active",
  severity: "medium",
  mitre: ["T1078"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault", "s3-access", "minio"],
  description:
    "Fires when an identity idle longer than the dormancy period, expired per its identrail.io/expires annotation, or without an owner becomes active.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    if (event.source === "inventory") return [];
    const out: Finding[] = [];
    const sensitive = identityEvents.some(
      (ie) => SENSITIVE.has(ie.kind) && ie.identity_id === event.identity_id,
    );
    const idle = t - state.previousSeen;
    if (Number.isFinite(state.previousSeen) && idle > ctx.config.detector.dormant_after) {
      out.push({
        title: `Identity active again after ${Math.floor(idle / DAY)} days idle`,
        description: `${event.actor.principal} ran ${event.operation} on ${event.resource.uri}; its previous activity was ${new Date(state.previousSeen).toISOString()}.`,
        severity: sensitive ? "high" : "medium",
        resource: "dormant",
        window: dayLabel(t),
      });
    }
    if (state.info.expiresAt !== undefined && t > state.info.expiresAt) {
      out.push({
        title: "Identity used after its declared expiry",
        description: `${event.actor.principal} ran ${event.operation} on ${event.resource.uri} after its expiry ${new Date(state.info.expiresAt).toISOString()}.`,
        severity: "high",
        resource: "expired",
      });
    }
    if (state.has("inventory", "described") && !state.info.owner) {
      out.push({
        title: "Identity without an owner is active",
        description: `${event.actor.principal} is active but its inventory record names no owner.`,
        severity: "low",
        resource: "ownerless",
      });
    }
    return out;
  },
};

const old = saUser("ml-legacy", "exporter");
export const cases: RuleCase[] = [
  {
    name: "an exporter idle for 40 days reads the training data",
    config: { resources: [{ match: "s3://acme-training-data/**", kind: "dataset" }] },
    events: [
      s3(old, "read", "s3://acme-training-data/a.parquet", at(0, 10)),
      s3(old, "read", "s3://acme-training-data/a.parquet", at(40, 3)),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "an identity used past its identrail.io/expires annotation",
    events: [
      ev({
        who: old,
        time: at(0, 10),
        uri: "k8s://prod/ml-legacy/configmaps/x",
        type: "configmaps",
        actorAttrs: { expires: "2026-11-03T00:00:00Z", owner: "team-ml" },
      }),
      secretGet(old, "ml-legacy", "token", at(2, 10)),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "daily use is not dormancy",
    events: Array.from({ length: 40 }, (_, d) => secretGet(old, "ml-legacy", "token", at(d, 10))),
    expect: { fires: false },
  },
];
