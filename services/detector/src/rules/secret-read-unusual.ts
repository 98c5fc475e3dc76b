import type { Rule } from "./types";

/**
 * An identity reads a secret outside its learned set, once its learning period (event time) is over.
 * Cross-namespace reads by a service account are raised with higher severity: a pod's service account
 * reading another namespace's secret is a classic lateral-movement step (MITRE T1552.007).
 */
export const rule: Rule = {
  id: "secret-read-unusual",
  title: "Identity read a secret it never read before",
  severity: "medium",
  mitre: ["T1552.007", "T1555"],
  sources: ["k8s-audit", "vault", "cloudtrail", "gcp-audit", "azure-keyvault"],
  description:
    "Fires when an identity past its learning period reads a secret outside the set it learned, or outside its own namespace.",
  evaluate({ event, identityEvents, state, t, ctx }) {
    const reads = identityEvents.filter((ie) => ie.kind === "secret_read");
    if (!reads.length) return [];
    if (state.learning(t, ctx.config.detector.learning_period)) return [];
    const findings = [];
    for (const r of reads) {
      if (state.has("secret", r.resource_uri)) continue;
      const home = state.info.namespace ?? /^k8s-sa:[^:]+:([^:]+):/.exec(event.identity_id)?.[1];
      const crossNs = event.source === "k8s-audit" && home && event.resource.namespace && event.resource.namespace !== home;
      findings.push({
        title: crossNs
          ? `Read of secret ${event.resource.name ?? r.resource_uri} in namespace ${event.resource.namespace}, outside the identity's namespace ${home}`
          : `First read of secret ${event.resource.name ?? r.resource_uri} by this identity`,
        description: `${event.actor.principal} read ${r.resource_uri} via ${event.source} (${event.operation}); it had not read this secret during its learned history.`,
        severity: crossNs ? ("high" as const) : undefined,
        resource: r.resource_uri,
      });
    }
    return findings;
  },
  learn({ identityEvents, state, t, ctx }) {
    for (const r of identityEvents) if (r.kind === "secret_read") ctx.states.learn(state, "secret", r.resource_uri, t);
  },
};
