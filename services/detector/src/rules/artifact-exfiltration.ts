import picomatch from "picomatch";
import { max, median, medianAbsoluteDeviation } from "simple-statistics";
import { at, daily, type RuleCase, s3, saUser } from "../cases";
import { ARTIFACT_KINDS, bucketOf, dayLabel, identityMatcher } from "../features";
import type { Finding, Rule } from "./types";

/** Days of history the volume baseline needs before it judges, and how many days it keeps. */
export const MIN_HISTORY_DAYS = 5;
const KEEP_DAYS = 60;
/** Robust z-score (median/MAD, MAD scaled to σ for normal data) above which a day's volume is "far above". */
const ROBUST_Z = 10;

function matchUri(pattern: string, uri: string): boolean {
  const i = pattern.indexOf("://");
  const j = uri.indexOf("://");
  if (pattern.slice(0, i) !== uri.slice(0, j)) return false;
  return picomatch.isMatch(uri.slice(j + 3), pattern.slice(i + 3), { dot: true });
}

/**
 * Training data, checkpoints or models leaving their allowed audience (MITRE T1530 data from cloud
 * storage, T1537 transfer to cloud account): (1) read by an identity that is neither a configured consumer
 * nor producer, (2) copied to a destination outside `approved_destinations` (or, with none configured,
 * to an uncatalogued bucket), (3) read in a daily volume far above the identity's own history — median and
 * MAD of its per-day byte totals (simple-statistics), which are persisted as counters and survive restarts.
 */
export const rule: Rule = {
  id: "artifact-exfiltration",
  title: "Training data or model artifacts exfiltrated",
  severity: "high",
  mitre: ["T1530", "T1537"],
  sources: ["cloudtrail", "s3-access", "minio", "gcp-audit"],
  description:
    "Fires when training data, checkpoints or models are read by an identity not allowed to, copied to an unapproved destination, or read in volume far above the identity's robust daily baseline.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    const findings: Finding[] = [];
    const day = dayLabel(t);
    for (const x of identityEvents) {
      if ((x.kind !== "artifact_transfer" && x.kind !== "activity") || x.identity_id !== event.identity_id)
        continue;
      const dir = x.attrs.direction;
      const cls = ctx.catalog.classify(x.resource_uri);
      // `consumers` is the read allowlist (producers may read back what they wrote); without it, reads are open.
      if (dir === "read" && cls && ARTIFACT_KINDS.has(cls.kind) && cls.consumers?.length) {
        const allowed = identityMatcher([...(cls.consumers ?? []), ...(cls.producers ?? [])]);
        if (allowed && !allowed(event))
          findings.push({
            title: `${cls.kind} read by an identity that is not a consumer`,
            description: `${event.actor.principal} read ${x.resource_uri} (${cls.match}); allowed consumers: ${(cls.consumers ?? []).join(", ")}.`,
            resource: cls.match,
            window: day,
          });
      }
      if (dir === "copy") {
        const src = x.attrs.source;
        const scls = ctx.catalog.classify(src);
        if (scls && ARTIFACT_KINDS.has(scls.kind)) {
          const dest = x.resource_uri;
          const approved = scls.approved_destinations;
          const bad = approved?.length
            ? !approved.some((p) => matchUri(p, dest))
            : bucketOf(dest) !== bucketOf(src) && !(cls && ARTIFACT_KINDS.has(cls.kind));
          if (bad)
            findings.push({
              title: `${scls.kind} copied to ${approved?.length ? "an unapproved" : "an uncatalogued"} destination`,
              description: `${event.actor.principal} copied ${src} to ${dest}.`,
              severity: approved?.length ? "high" : "medium",
              resource: scls.match,
              window: day,
              labels: { destination: bucketOf(dest) },
            });
        }
      }
      if (
        (dir === "read" || dir === "copy") &&
        x.bytes > 0 &&
        !state.learning(t, ctx.config.detector.learning_period)
      ) {
        const days = state.counters.get("xfer_day");
        const hist = days ? [...days].filter(([k]) => k !== day).map(([, v]) => v) : [];
        if (hist.length >= MIN_HISTORY_DAYS) {
          const today = (days?.get(day) ?? 0) + x.bytes;
          const med = median(hist);
          const mad = medianAbsoluteDeviation(hist) * 1.4826;
          const top = max(hist);
          // MAD is 0 for perfectly regular jobs; fall back to a share of the median so noise is tolerated.
          const limit = Math.max(med + ROBUST_Z * Math.max(mad, 0.1 * med), 3 * med, top);
          if (today > limit)
            findings.push({
              title: `Read ${fmt(today)} today, far above this identity's daily median of ${fmt(med)}`,
              description: `${event.actor.principal} read ${fmt(today)} on ${day}; its daily history (${hist.length} days) has median ${fmt(med)}, MAD ${fmt(mad)}, max ${fmt(top)}. Latest object ${x.resource_uri}.`,
              severity: today > 10 * Math.max(top, 1) ? "high" : "medium",
              resource: "volume",
              window: day,
              labels: { bytes_today: String(today), median: String(med) },
            });
        }
      }
    }
    return findings;
  },
  learn({ event, identityEvents, state, t, ctx }) {
    for (const x of identityEvents) {
      if ((x.kind !== "artifact_transfer" && x.kind !== "activity") || x.identity_id !== event.identity_id)
        continue;
      if (x.bytes <= 0) continue;
      if (x.attrs.direction !== "read" && x.attrs.direction !== "copy") continue;
      ctx.states.add(state, "xfer_day", dayLabel(t), x.bytes, t);
      const days = state.counter("xfer_day");
      if (days.size > KEEP_DAYS) {
        const oldest = [...days.keys()].sort()[0];
        days.delete(oldest);
      }
    }
  },
};

function fmt(n: number) {
  return n >= 1e9
    ? `${(n / 1e9).toFixed(1)} GB`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(1)} MB`
      : `${Math.round(n)} B`;
}

const job = saUser("ml-training", "fine-tuning-job");
const dataset = { match: "s3://acme-training-data/datasets/**", kind: "dataset", consumers: [job] };
const shard = (d: number, i = 0) => `s3://acme-training-data/datasets/v3/shard-${d}-${i}.parquet`;
export const cases: RuleCase[] = [
  {
    name: "a notebook identity reads the training set it is not a consumer of",
    config: { resources: [dataset] },
    events: [s3(saUser("notebooks", "jupyter"), "read", shard(0), at(0, 11), { bytesOut: 1e6 })],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "the consumer (named by its system:serviceaccount alias) reads it",
    config: { resources: [dataset] },
    events: daily(0, 8, (d) => s3(job, "read", shard(d), at(d, 2), { bytesOut: 5e9 })),
    expect: { fires: false },
  },
  {
    name: "a checkpoint copied to a bucket outside approved destinations",
    config: {
      resources: [
        {
          match: "s3://acme-checkpoints/**",
          kind: "checkpoint",
          approved_destinations: ["s3://acme-registry/**"],
        },
      ],
    },
    events: [
      s3(job, "write", "s3://external-bucket-example/loot.pt", at(0, 3), {
        operation: "CopyObject",
        attrs: { copy_source: "acme-checkpoints/llm/step-900.pt" },
        bytesIn: 1e9,
      }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "daily reads of ~5 GB, then 400 GB in one day",
    events: [
      ...daily(0, 8, (d) => s3(job, "read", shard(d), at(d, 2), { bytesOut: 5e9 + d * 1e8 })),
      ...Array.from({ length: 40 }, (_, i) => s3(job, "read", shard(8, i), at(8, 3, i), { bytesOut: 1e10 })),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "steady daily volume with ordinary jitter",
    events: daily(0, 14, (d) => s3(job, "read", shard(d), at(d, 2), { bytesOut: 5e9 + (d % 3) * 4e8 })),
    expect: { fires: false },
  },
];
