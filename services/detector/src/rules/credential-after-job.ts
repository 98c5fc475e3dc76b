import { at, daily, ev, jobCreate, jobEnd, type RuleCase, s3, saUser, secretGet } from "../cases";
import { dayLabel, JOB_END_GRACE, jobActivity } from "../features";
import type { Rule } from "./types";

const SENSITIVE = new Set(["secret_read", "secret_list", "artifact_transfer", "privilege_change"]);

/**
 * An identity or credential bound to a job is used after that job completed or was deleted (MITRE T1078
 * valid accounts / T1528 stolen application tokens): the seeds' "credentials outlive the job".
 *
 * State and partitioning: job starts/ends are recorded by the engine as features of the service account
 * the workload runs as (`job_start`, `job_end`, `pod_end`), whoever's event revealed them (the job
 * controller's pod create, an inventory event, a job status update). The SA's own later calls arrive on
 * the SA's partition and are judged against that state. Trade-off: with several detector instances, a job
 * start/end seen on another identity's partition reaches the SA's owner through identity_features; the
 * engine re-reads those facts for job-bound identities with every batch (Engine.process), so the view is
 * as fresh as what the other instance has committed. If the job controller's partition lags the SA's by
 * more than the grace period, a start may still be missed; inventory events, whose actor (and Kafka key)
 * is the SA itself, land on the SA's partition and have no such race. An SA with a job still running is
 * never flagged.
 *
 * Two signals: a pod-bound token (K8s `authentication.kubernetes.io/pod-name`) used after that pod was
 * deleted is high; any use of a job-bound SA with no job running, later than a grace period after its last
 * job ended, is medium (high when it touches secrets, artifacts or privileges).
 */
export const rule: Rule = {
  id: "credential-after-job",
  title: "Job credential used after the job ended",
  severity: "medium",
  mitre: ["T1078.004", "T1528"],
  sources: [
    "k8s-audit",
    "vault",
    "cloudtrail",
    "gcp-audit",
    "azure-keyvault",
    "s3-access",
    "minio",
    "inventory",
  ],
  description:
    "Fires when an identity or credential bound to a job is used after that job completed or was deleted.",
  evaluate({ event, identityEvents, state, t }) {
    if (event.source === "inventory") return [];
    // The job controller and workload lifecycle events themselves are not "use" of the job's credential.
    if (identityEvents.some((ie) => ie.kind === "job_lifecycle" && ie.identity_id === event.identity_id))
      return [];
    const pod = event.attrs.pod_name;
    const podEnd = pod ? state.features.get("pod_end")?.get(pod) : undefined;
    if (pod && podEnd && t > podEnd.last + JOB_END_GRACE) {
      return [
        {
          title: `Token bound to deleted pod ${pod} was used`,
          description: `${event.actor.principal} called ${event.operation} on ${event.resource.uri} with a token bound to pod ${pod}, which was deleted at ${new Date(podEnd.last).toISOString()}.`,
          severity: "high",
          window: dayLabel(t),
          labels: { pod },
        },
      ];
    }
    const jobs = jobActivity(state);
    if (!jobs.everBound || jobs.running.length > 0 || !(t > jobs.lastEnd + JOB_END_GRACE)) return [];
    const sensitive = identityEvents.some(
      (ie) => SENSITIVE.has(ie.kind) && ie.identity_id === event.identity_id,
    );
    return [
      {
        title: "Job service account used while none of its jobs runs",
        description: `${event.actor.principal} called ${event.operation} on ${event.resource.uri} at ${event.time}; its last job ended at ${new Date(jobs.lastEnd).toISOString()} and no job of it is running.`,
        severity: sensitive ? "high" : "medium",
        window: dayLabel(t),
        labels: { src_ip: event.src_ip },
      },
    ];
  },
};

const argo = saUser("argo", "argo-workflow");
const job = saUser("ml-training", "fine-tuning-job");
const night = (d: number) => [
  jobCreate(argo, "ml-training", `train-${d}`, at(d, 2), { sa: "fine-tuning-job", gpus: 8 }),
  secretGet(job, "ml-training", "hf-token", at(d, 2, 1)),
  s3(job, "read", "s3://acme-training-data/datasets/v3/a.parquet", at(d, 2, 5), { bytesOut: 1e9 }),
  jobEnd("ml-training", "fine-tuning-job", `train-${d}`, at(d, 5)),
];
export const cases: RuleCase[] = [
  {
    name: "the training SA's token reads the dataset at noon, no job running (stolen credential)",
    config: { resources: [{ match: "s3://acme-training-data/**", kind: "dataset" }] },
    events: [
      ...daily(0, 3, night),
      s3(job, "read", "s3://acme-training-data/datasets/v3/a.parquet", at(3, 12), { bytesOut: 1e9 }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "a pod-bound token used after its pod was deleted",
    events: [
      ev({
        who: argo,
        time: at(0, 2),
        verb: "create",
        uri: "k8s://prod/ml-training/pods/train-0-abcde",
        type: "pods",
        name: "train-0-abcde",
        namespace: "ml-training",
        attrs: { workload_service_account: "fine-tuning-job" },
      }),
      ev({
        who: "system:node:gpu-node-1",
        time: at(0, 6),
        verb: "delete",
        uri: "k8s://prod/ml-training/pods/train-0-abcde",
        type: "pods",
        name: "train-0-abcde",
        namespace: "ml-training",
        attrs: { workload_service_account: "fine-tuning-job" },
      }),
      ev({
        who: job,
        time: at(1, 9),
        verb: "list",
        uri: "k8s://prod/ml-training/configmaps",
        type: "configmaps",
        namespace: "ml-training",
        attrs: { pod_name: "train-0-abcde" },
      }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "nightly jobs use their SA only while running",
    events: daily(0, 6, night),
    expect: { fires: false, identity: "k8s-sa:prod:ml-training:fine-tuning-job" },
  },
  {
    name: "an SA never bound to a job is out of scope",
    events: daily(0, 4, (d) => secretGet(saUser("web", "frontend"), "web", "tls", at(d, 12))),
    expect: { fires: false },
  },
];
