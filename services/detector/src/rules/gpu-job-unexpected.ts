import picomatch from "picomatch";
import { at, daily, jobCreate, type RuleCase, saUser } from "../cases";
import { imageRegistry, matchesIdentity, seenBefore } from "../features";
import type { Finding, Rule } from "./types";

const SEV_ORDER = ["low", "medium", "high"] as const;

/**
 * A GPU pod or job that the GPU policy or the creator's baseline does not expect (compute theft, MITRE
 * T1496 resource hijacking). Policy (`gpu.allowed`, any entry whose given fields all match: namespaces,
 * identities in any alias form, image globs) violations are high; a missing activeDeadlineSeconds when
 * `gpu.require_deadline` is medium. Without policy the creator's baseline speaks: an image registry or
 * namespace it never used for GPU work is medium, a new workload identity or hour is low. Learned per
 * creator (the identity whose event created the workload), since that is the partition the event is on.
 */
export const rule: Rule = {
  id: "gpu-job-unexpected",
  title: "Unexpected GPU workload",
  severity: "medium",
  mitre: ["T1496"],
  sources: ["k8s-audit", "inventory"],
  description:
    "Fires for a GPU pod/job from an identity, namespace, image registry or schedule the GPU policy or the creator's baseline does not expect, or without an active deadline.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    const findings: Finding[] = [];
    for (const g of identityEvents.filter((ie) => ie.kind === "gpu_job")) {
      const ns = g.attrs.namespace ?? "";
      const images = (g.attrs.images ?? "").split(",").filter(Boolean);
      const wsa = g.attrs.workload_service_account ?? "";
      const reasons: { why: string; sev: (typeof SEV_ORDER)[number] }[] = [];
      const policy = ctx.config.gpu.allowed;
      if (policy.length) {
        const allowed = policy.some(
          (p) =>
            (!p.namespaces || p.namespaces.includes(ns)) &&
            (!p.identities ||
              [wsa, event.identity_id, event.actor.principal].some((id) =>
                matchesIdentity(p.identities, id),
              )) &&
            (!p.images ||
              (images.length > 0 &&
                images.every((img) => p.images!.some((gl) => picomatch.isMatch(img, gl))))),
        );
        if (!allowed) reasons.push({ why: "not allowed by the GPU policy", sev: "high" });
      }
      if (ctx.config.gpu.require_deadline && !g.attrs.active_deadline_seconds)
        reasons.push({ why: "no activeDeadlineSeconds", sev: "medium" });
      if (!state.learning(t, ctx.config.detector.learning_period)) {
        for (const img of images)
          if (!seenBefore(state, "gpu_registry", imageRegistry(img), t))
            reasons.push({
              why: `image registry ${imageRegistry(img)} never used for GPU work`,
              sev: "medium",
            });
        if (!seenBefore(state, "gpu_ns", ns, t))
          reasons.push({ why: `namespace ${ns} never used for GPU work`, sev: "medium" });
        if (wsa && !seenBefore(state, "gpu_sa", wsa, t))
          reasons.push({ why: `runs as ${wsa}, new for GPU work`, sev: "low" });
        const h = new Date(t).getUTCHours();
        if (![h - 1, h, h + 1].some((x) => seenBefore(state, "gpu_hour", String((x + 24) % 24), t)))
          reasons.push({ why: `GPU work at ${h}:00 UTC, outside its schedule`, sev: "low" });
      }
      if (!reasons.length) continue;
      type Sev = (typeof SEV_ORDER)[number];
      const sev = reasons.reduce<Sev>(
        (m, r) => (SEV_ORDER.indexOf(r.sev) > SEV_ORDER.indexOf(m) ? r.sev : m),
        "low",
      );
      findings.push({
        title: `GPU workload ${g.attrs.workload || event.resource.name || ""} in ${ns}: ${reasons[0].why}`,
        description: `${event.actor.principal} started a workload requesting ${g.attrs.gpu_count} GPU(s) in ${ns} (images ${images.join(", ") || "unknown"}, runs as ${wsa || "unknown"}): ${reasons.map((r) => r.why).join("; ")}.`,
        severity: sev,
        resource: g.resource_uri,
        labels: { workload_service_account: wsa, gpu_count: g.attrs.gpu_count ?? "" },
      });
    }
    return findings;
  },
  learn({ identityEvents, state, t, ctx }) {
    for (const g of identityEvents) {
      if (g.kind !== "gpu_job") continue;
      for (const img of (g.attrs.images ?? "").split(",").filter(Boolean))
        ctx.states.learn(state, "gpu_registry", imageRegistry(img), t);
      ctx.states.learn(state, "gpu_ns", g.attrs.namespace ?? "", t);
      if (g.attrs.workload_service_account)
        ctx.states.learn(state, "gpu_sa", g.attrs.workload_service_account, t);
      ctx.states.learn(state, "gpu_hour", String(new Date(t).getUTCHours()), t);
    }
  },
};

const argo = saUser("argo", "argo-workflow");
const nightly = (d: number) =>
  jobCreate(argo, "ml-training", `train-${d}`, at(d, 2), {
    sa: "fine-tuning-job",
    gpus: 8,
    deadline: 36_000,
  });
export const cases: RuleCase[] = [
  {
    name: "a job from a public registry in the default namespace (compute theft)",
    events: [
      ...daily(0, 4, nightly),
      jobCreate(argo, "default", "xmr", at(4, 3), {
        sa: "default",
        gpus: 8,
        images: "docker.io/miner/xmrig:latest",
      }),
    ],
    expect: { fires: true, severity: "medium" },
  },
  {
    name: "a GPU job outside the configured policy",
    config: { gpu: { allowed: [{ namespaces: ["ml-training"], images: ["registry.example.com/**"] }] } },
    events: [
      jobCreate(argo, "ml-training", "x", at(0, 2), {
        sa: "fine-tuning-job",
        gpus: 1,
        deadline: 60,
        images: "ghcr.io/x/y:1",
      }),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "nightly training jobs inside policy and baseline",
    config: { gpu: { allowed: [{ namespaces: ["ml-training"], images: ["registry.example.com/**"] }] } },
    events: daily(0, 8, nightly),
    expect: { fires: false },
  },
];
