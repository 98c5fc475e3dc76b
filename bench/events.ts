/** Normalized events from generated traffic, through the real parser (shared by the store benchmarks). */
import type { NormalizedEvent } from "@identrail/schema";
import { k8sAudit } from "@identrail/sources";
import { Traffic } from "./gen/traffic";

export function normalizedEvents(n: number, seed = 5, identities = 5000): NormalizedEvent[] {
  const t = new Traffic({ identities, seed });
  const out: NormalizedEvent[] = [];
  const receivedAt = new Date().toISOString();
  while (out.length < n) {
    for (const rec of t.k8sEventList(Math.min(1000, n - out.length)).items) {
      const a = k8sAudit.accept(rec);
      if (!a.ok) continue;
      const r = k8sAudit.normalize(a.value.record, { cluster: "prod", receivedAt });
      if (!r.ok) continue;
      for (const e of r.value.events) {
        // The resolver's job in the pipeline; here the primary alias is the canonical id.
        e.identity_id = e.actor.links[0] ?? e.actor.principal;
        out.push(e);
      }
    }
  }
  return out;
}
