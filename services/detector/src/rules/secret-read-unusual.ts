import { at, type RuleCase, saUser, secretGet } from "../cases";
import { seenBefore } from "../features";
import type { Finding, Rule } from "./types";

/**
 * An identity reads a secret outside its learned set, once its learning period (event time) is over.
 * Reads outside the identity's namespace (a pod's service account reading another namespace's secret,
 * a classic lateral-movement step, MITRE T1552.007) or outside its environment (a dev identity reading a
 * secret the catalog marks prod) are raised with higher severity. The learned set ("secret" feature) is
 * maintained by the engine so that disabling this rule does not blind secret-enumeration.
 */
export const rule: Rule = {
  id: "secret-read-unusual",
  title: "Identity read a secret it never read before",
  severity: "medium",
  mitre: ["T1552.007", "T1555"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault"],
  description:
    "Fires when an identity past its learning period reads a secret outside the set it learned, or outside its own namespace or environment.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    const reads = identityEvents.filter(
      (ie) => ie.kind === "secret_read" && ie.identity_id === event.identity_id,
    );
    if (!reads.length) return [];
    if (state.learning(t, ctx.config.detector.learning_period)) return [];
    const findings: Finding[] = [];
    for (const r of reads) {
      if (seenBefore(state, "secret", r.resource_uri, t)) continue;
      const home = state.info.namespace ?? /^k8s-sa:[^:]+:([^:]+):/.exec(event.identity_id)?.[1];
      const crossNs =
        event.source === "k8s-audit" && home && event.resource.namespace && event.resource.namespace !== home;
      const env = ctx.catalog.classify(r.resource_uri)?.environment;
      const crossEnv = env && state.info.environment && env !== state.info.environment;
      findings.push({
        title: crossNs
          ? `Read of secret ${event.resource.name ?? r.resource_uri} in namespace ${event.resource.namespace}, outside the identity's namespace ${home}`
          : crossEnv
            ? `Read of ${env} secret ${event.resource.name ?? r.resource_uri} by a ${state.info.environment} identity`
            : `First read of secret ${event.resource.name ?? r.resource_uri} by this identity`,
        description: `${event.actor.principal} read ${r.resource_uri} via ${event.source} (${event.operation}); it had not read this secret during its learned history.`,
        severity: crossNs || crossEnv ? "high" : undefined,
        resource: r.resource_uri,
      });
    }
    return findings;
  },
};

const sa = saUser("ml-training", "fine-tuning-job");
export const cases: RuleCase[] = [
  {
    name: "reads another namespace's secret after learning its own",
    events: [
      ...[0, 1, 2, 3].map((d) => secretGet(sa, "ml-training", "hf-token", at(d, 2))),
      secretGet(sa, "payments", "db-credentials", at(4, 3)),
    ],
    expect: { fires: true, severity: "high" },
  },
  {
    name: "keeps reading its own secret",
    events: [0, 1, 2, 3, 4, 5].map((d) => secretGet(sa, "ml-training", "hf-token", at(d, 2))),
    expect: { fires: false },
  },
  {
    name: "new secrets during the learning period are not noise",
    events: [
      secretGet(sa, "ml-training", "hf-token", at(0, 2)),
      secretGet(sa, "ml-training", "wandb-key", at(1, 2)),
    ],
    expect: { fires: false },
  },
];
