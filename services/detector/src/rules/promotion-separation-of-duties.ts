import { at, type RuleCase, s3, saUser } from "../cases";
import type { Classified } from "../catalog";
import type { Rule } from "./types";

const isProdRegistry = (c: Classified | null) =>
  c?.kind === "registry" && (!c.environment || c.environment === "prod");

/**
 * Separation of duties between training and promotion (the seeds: "no single individual has the authority
 * to move a model from development to production unilaterally"; "separate training, evaluation, and
 * publishing permissions"): the same identity writes checkpoints and writes to the production registry.
 * Either order fires, at the write that completes the pair; one alert per identity and registry. A policy
 * fact, so the learning period does not apply.
 */
export const rule: Rule = {
  id: "promotion-separation-of-duties",
  title: "Same identity trains and promotes a model",
  severity: "high",
  mitre: ["T1565.001"],
  sources: ["cloudtrail", "s3-access", "minio", "gcp-audit"],
  description:
    "Fires when the same identity writes checkpoints (trains) and writes to the production model registry (promotes).",
  evaluate({ event, identityEvents, state, ctx }) {
    for (const x of identityEvents) {
      if (x.kind !== "artifact_transfer" || x.identity_id !== event.identity_id) continue;
      if (x.attrs.direction !== "write" && x.attrs.direction !== "copy") continue;
      const cls = ctx.catalog.classify(x.resource_uri);
      const trained = state.features.get("trained");
      const promoted = state.features.get("promoted");
      if (cls?.kind === "checkpoint" && promoted?.size && !trained?.size) {
        const reg = [...promoted.keys()][0];
        return [
          {
            title: "Identity that promotes models now writes checkpoints",
            description: `${event.actor.principal} wrote checkpoint ${x.resource_uri} and has also written to the production registry ${reg}.`,
            resource: reg,
          },
        ];
      }
      if (isProdRegistry(cls) && trained?.size) {
        return [
          {
            title: "Identity that trains a model also promotes it to the production registry",
            description: `${event.actor.principal} wrote ${x.resource_uri} to the production registry and also wrote checkpoints (${[...trained.keys()].join(", ")}).`,
            resource: cls!.match,
          },
        ];
      }
    }
    return [];
  },
  learn({ event, identityEvents, state, t, ctx }) {
    for (const x of identityEvents) {
      if (x.kind !== "artifact_transfer" || x.identity_id !== event.identity_id) continue;
      if (x.attrs.direction !== "write" && x.attrs.direction !== "copy") continue;
      const cls = ctx.catalog.classify(x.resource_uri);
      if (cls?.kind === "checkpoint") ctx.states.learn(state, "trained", cls.match, t);
      else if (isProdRegistry(cls)) ctx.states.learn(state, "promoted", cls!.match, t);
    }
  },
};

const job = saUser("ml-training", "fine-tuning-job");
const promoter = saUser("ci", "model-promoter");
const resources = [
  { match: "s3://acme-checkpoints/**", kind: "checkpoint" },
  { match: "s3://acme-registry/prod/**", kind: "registry", environment: "prod" },
];
export const cases: RuleCase[] = [
  {
    name: "the training job publishes its own checkpoint to the prod registry",
    config: { resources },
    events: [
      s3(job, "write", "s3://acme-checkpoints/llm/step-900.pt", at(0, 3)),
      s3(job, "write", "s3://acme-registry/prod/llm/v7/model.safetensors", at(0, 4)),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "training and promotion by different identities",
    config: { resources },
    events: [
      s3(job, "write", "s3://acme-checkpoints/llm/step-900.pt", at(0, 3)),
      s3(promoter, "read", "s3://acme-checkpoints/llm/step-900.pt", at(0, 10)),
      s3(promoter, "write", "s3://acme-registry/prod/llm/v7/model.safetensors", at(0, 10, 5)),
    ],
    expect: { fires: false },
  },
];
