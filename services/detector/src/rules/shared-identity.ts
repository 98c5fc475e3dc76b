import { at, daily, ev, type RuleCase, s3, saUser } from "../cases";
import { DAY, MINUTE, workloadOfPod } from "../features";
import type { Finding, Rule } from "./types";

/** Two different workloads using one identity within this span count as concurrent. */
const CONCURRENT = 10 * MINUTE;

/**
 * One service account used from several environments, clusters or concurrent jobs (the seeds: "use
 * per-job service identities, not shared pipeline accounts"; MITRE T1078). Environments come from the
 * catalog classification of what the identity touches: dev and prod both touched is sharing (staging→prod
 * promotion is not). Clusters: the clusters its events come from. Concurrency: two different workloads
 * (pod names with the Job/ReplicaSet suffix stripped, from pod-bound tokens) acting as the identity
 * within ten minutes of each other. Policy facts rather than anomalies, so the learning period does not
 * apply; one alert per identity and reason.
 */
export const rule: Rule = {
  id: "shared-identity",
  title: "Service account shared across environments, clusters or jobs",
  severity: "medium",
  mitre: ["T1078"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault", "s3-access", "minio"],
  description:
    "Fires when one service account is used from several environments, several clusters, or by concurrent jobs.",
  evaluate({ event, state, t, ctx }) {
    if (event.source === "inventory") return [];
    const type = state.info.type ?? event.actor.type;
    if (type !== "service_account" && type !== "cloud_role") return [];
    const out: Finding[] = [];
    const env = ctx.catalog.classify(event.resource.uri)?.environment;
    if (env && !state.has("env", env)) {
      const envs = new Set([...(state.features.get("env")?.keys() ?? []), env]);
      if (envs.has("dev") && envs.has("prod"))
        out.push({
          title: "Service account used in both dev and prod",
          description: `${event.actor.principal} touched ${event.resource.uri} (${env}); it also works in ${[...envs].filter((x) => x !== env).join(", ")}.`,
          resource: "environments",
          labels: { environments: [...envs].sort().join(",") },
        });
    }
    // Only Kubernetes audit events name the cluster the caller acts in; other sources carry a collector default.
    const k8s = event.source === "k8s-audit" && event.cluster;
    if (k8s && !state.has("cluster", event.cluster) && state.features.get("cluster")?.size) {
      out.push({
        title: `Service account used from a second cluster (${event.cluster})`,
        description: `${event.actor.principal} acted in cluster ${event.cluster}; it is also used in ${[...state.features.get("cluster")!.keys()].join(", ")}.`,
        resource: "clusters",
      });
    }
    const pod = event.attrs.pod_name;
    if (pod) {
      const mine = workloadOfPod(pod);
      for (const [w, s] of state.features.get("workload") ?? []) {
        if (w === mine || Math.abs(s.last - t) > CONCURRENT) continue;
        out.push({
          title: "Service account used by concurrent workloads",
          description: `${event.actor.principal} is used by pod ${pod} (${mine}) while workload ${w} also uses it.`,
          resource: "concurrent-workloads",
          labels: { workloads: [mine, w].sort().join(",") },
        });
        break;
      }
    }
    return out;
  },
  learn({ event, state, t, ctx }) {
    if (event.source === "inventory") return;
    const env = ctx.catalog.classify(event.resource.uri)?.environment;
    if (env) ctx.states.learn(state, "env", env, t);
    if (event.source === "k8s-audit" && event.cluster) ctx.states.learn(state, "cluster", event.cluster, t);
    if (event.attrs.pod_name) {
      ctx.states.learn(state, "workload", workloadOfPod(event.attrs.pod_name), t);
      // Keep the workload set bounded: forget workloads idle for a week.
      const ws = state.features.get("workload")!;
      if (ws.size > 256) for (const [w, s] of ws) if (s.last < t - 7 * DAY) ws.delete(w);
    }
  },
};

const ci = saUser("ci", "pipeline");
const envs = {
  resources: [
    { match: "s3://acme-dev-data/**", kind: "dataset", environment: "dev" },
    { match: "s3://acme-prod-data/**", kind: "dataset", environment: "prod" },
    { match: "s3://acme-staging-models/**", kind: "model", environment: "staging" },
  ],
};
const call = (pod: string, time: string) =>
  ev({
    who: ci,
    time,
    verb: "list",
    uri: "k8s://prod/ci/configmaps",
    type: "configmaps",
    namespace: "ci",
    attrs: { pod_name: pod },
  });
export const cases: RuleCase[] = [
  {
    name: "one pipeline account reads dev and prod data",
    config: envs,
    events: [
      s3(ci, "read", "s3://acme-dev-data/x.csv", at(0, 10)),
      s3(ci, "read", "s3://acme-prod-data/y.csv", at(1, 10)),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "two different jobs act as one account at the same time",
    events: [
      call("build-web-7xk2p", at(0, 10)),
      call("train-eval-q8d3m", at(0, 10, 3)),
      call("build-web-7xk2p", at(0, 10, 4)),
    ],
    expect: { fires: true },
  },
  {
    name: "the same job's parallel pods, then staging and prod",
    config: envs,
    events: [
      ...daily(0, 3, (d) => [call(`train-${d}-aaaaa`, at(d, 2)), call(`train-${d}-bbbbb`, at(d, 2, 1))]),
      s3(ci, "read", "s3://acme-staging-models/m.bin", at(3, 10)),
      s3(ci, "read", "s3://acme-prod-data/y.csv", at(3, 11)),
    ],
    expect: { fires: false },
  },
];
