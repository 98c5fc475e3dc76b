/**
 * Identity events: what a normalized event means for its identity. Kept source-agnostic by working on
 * the normalized verb, resource type/URI and the resource catalog.
 */
import { stableId } from "@identrail/core";
import type { IdentityEvent, IdentityEventKind, NormalizedEvent } from "@identrail/schema";
import type { ResourceCatalog } from "./catalog";

/** Resource types that denote a secret across sources (K8s secrets, Vault, AWS/GCP/Azure secret stores). */
export const SECRET_TYPES = new Set(["secrets", "secret", "vault-secret"]);

export function isSecretResource(e: NormalizedEvent, catalog?: ResourceCatalog): boolean {
  if (SECRET_TYPES.has(e.resource.type)) return true;
  return catalog?.classify(e.resource.uri)?.kind === "secret";
}

export function deriveIdentityEvents(e: NormalizedEvent, catalog: ResourceCatalog): IdentityEvent[] {
  const out: IdentityEvent[] = [];
  const add = (kind: IdentityEventKind, extra: Partial<IdentityEvent> = {}) =>
    out.push({
      id: stableId(e.id, kind),
      identity_id: e.identity_id,
      kind,
      time: e.time,
      event_id: e.id,
      source: e.source,
      resource_uri: e.resource.uri,
      resource_kind: extra.resource_kind ?? "",
      bytes: extra.bytes ?? 0,
      attrs: extra.attrs ?? {},
    });
  if (e.outcome === "failure" && (e.status_code === 401 || e.status_code === 403 || e.attrs.decision === "forbid" || /denied|forbidden|unauthori/i.test(e.reason)))
    add("access_denied", { attrs: { operation: e.operation, reason: e.reason.slice(0, 256) } });
  if (isSecretResource(e, catalog) && e.outcome !== "failure") {
    if (e.verb === "read") add("secret_read", { resource_kind: "secret" });
    else if (e.verb === "list") add("secret_list", { resource_kind: "secret" });
  }
  return out;
}
