import { at, daily, jobCreate, jobEnd, type RuleCase, s3, saUser } from "../cases";
import { dayLabel, identityMatcher, JOB_END_GRACE, jobActivity, seenBefore } from "../features";
import type { Finding, Rule } from "./types";

const TAMPERABLE = new Set(["checkpoint", "model"]);

/**
 * A checkpoint or model artifact written, overwritten or deleted by an identity other than its producer
 * (MITRE T1565.001 stored data manipulation; the seeds' "replace a legitimate checkpoint with a
 * trojanized version"), or by its producer after the producing job ended. Producers come from the
 * catalog (`producers`, any alias form); datasets that declare producers are guarded alike (a write by
 * anyone else is the seeds' data poisoning, T1565.001); without producers, the identity's own history is the baseline: a
 * write to a catalogued checkpoint area it never wrote during its learned history is medium.
 */
export const rule: Rule = {
  id: "checkpoint-tampering",
  title: "Checkpoint or model tampered with",
  severity: "high",
  mitre: ["T1565.001"],
  sources: ["cloudtrail", "s3-access", "minio", "gcp-audit", "inventory"],
  description:
    "Fires when a checkpoint or model artifact is written or deleted by an identity other than its producer, or after the producing job ended.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    const findings: Finding[] = [];
    for (const x of identityEvents) {
      if (x.kind !== "artifact_transfer" || x.identity_id !== event.identity_id) continue;
      if (x.attrs.direction === "read") continue;
      const cls = ctx.catalog.classify(x.resource_uri);
      if (!cls) continue;
      // Training data with declared producers is guarded the same way: a foreign write is data poisoning.
      if (!TAMPERABLE.has(cls.kind) && !(cls.kind === "dataset" && cls.producers?.length)) continue;
      const verb = x.attrs.direction === "delete" ? "deleted" : "written";
      const base = { resource: cls.match, window: dayLabel(t), labels: { direction: x.attrs.direction } };
      const producer = identityMatcher(cls.producers);
      if (producer && !producer(event)) {
        findings.push({
          ...base,
          title: `${cls.kind} ${verb} by an identity that is not its producer`,
          description: `${event.actor.principal} ${verb} ${x.resource_uri}; producers of ${cls.match}: ${cls.producers!.join(", ")}.`,
        });
        continue;
      }
      const jobs = jobActivity(state);
      if (
        TAMPERABLE.has(cls.kind) &&
        jobs.everBound &&
        jobs.running.length === 0 &&
        t > jobs.lastEnd + JOB_END_GRACE
      ) {
        findings.push({
          ...base,
          title: `${cls.kind} ${verb} after the producing job ended`,
          description: `${event.actor.principal} ${verb} ${x.resource_uri} at ${event.time}, after its last job ended at ${new Date(jobs.lastEnd).toISOString()} with none running.`,
        });
        continue;
      }
      if (
        !producer &&
        TAMPERABLE.has(cls.kind) &&
        !state.learning(t, ctx.config.detector.learning_period) &&
        !seenBefore(state, "wrote", cls.match, t)
      ) {
        findings.push({
          ...base,
          severity: "medium",
          title: `First ${verb === "deleted" ? "delete in" : "write to"} ${cls.match} by this identity`,
          description: `${event.actor.principal} ${verb} ${x.resource_uri}; it never wrote to ${cls.match} during its learned history.`,
        });
      }
    }
    return findings;
  },
  learn({ event, identityEvents, t, state, ctx }) {
    for (const x of identityEvents) {
      if (
        x.kind !== "artifact_transfer" ||
        x.identity_id !== event.identity_id ||
        x.attrs.direction === "read"
      )
        continue;
      const cls = ctx.catalog.classify(x.resource_uri);
      if (cls && TAMPERABLE.has(cls.kind)) ctx.states.learn(state, "wrote", cls.match, t);
    }
  },
};

const job = saUser("ml-training", "fine-tuning-job");
const argo = saUser("argo", "argo-workflow");
const ckpts = { match: "s3://acme-checkpoints/**", kind: "checkpoint", producers: [job] };
const ckpt = "s3://acme-checkpoints/llm/step-100.pt";
export const cases: RuleCase[] = [
  {
    name: "a developer overwrites a checkpoint",
    config: { resources: [ckpts] },
    events: [s3(job, "write", ckpt, at(0, 2)), s3("mallory@example.com", "write", ckpt, at(0, 11))],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "the producer writes during its job, then again hours after the job ended",
    config: { resources: [ckpts] },
    events: [
      jobCreate(argo, "ml-training", "train-0", at(0, 2), { sa: "fine-tuning-job", gpus: 8 }),
      s3(job, "write", ckpt, at(0, 3)),
      jobEnd("ml-training", "fine-tuning-job", "train-0", at(0, 4)),
      s3(job, "delete", ckpt, at(0, 9)),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "nightly producer writes inside its jobs",
    config: { resources: [ckpts] },
    events: daily(0, 6, (d) => [
      jobCreate(argo, "ml-training", `train-${d}`, at(d, 2), { sa: "fine-tuning-job", gpus: 8 }),
      s3(job, "write", ckpt, at(d, 3)),
      jobEnd("ml-training", "fine-tuning-job", `train-${d}`, at(d, 4)),
    ]),
    expect: { fires: false, identity: "k8s-sa:prod:ml-training:fine-tuning-job" },
  },
  {
    name: "someone other than the ingest pipeline writes into the training set (data poisoning)",
    config: {
      resources: [
        { match: "s3://acme-training-data/**", kind: "dataset", producers: [saUser("data", "ingest")] },
      ],
    },
    events: [
      s3(saUser("data", "ingest"), "write", "s3://acme-training-data/v3/shard-1.parquet", at(0, 1)),
      s3("alice@example.com", "write", "s3://acme-training-data/v3/shard-2.parquet", at(1, 3)),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "without producers configured, a new writer past its learning period",
    config: { resources: [{ match: "s3://acme-checkpoints/**", kind: "checkpoint" }] },
    events: [s3("bob@example.com", "read", ckpt, at(0, 10)), s3("bob@example.com", "write", ckpt, at(3, 10))],
    expect: { fires: true, severity: "medium" },
  },
];
