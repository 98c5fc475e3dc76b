import type { SourceName } from "@identrail/schema";
import { azureKeyVault } from "./sources/azure-keyvault";
import { cloudtrail } from "./sources/cloudtrail";
import { gcpAudit, gcpRoute } from "./sources/gcp-audit";
import { inventory } from "./sources/inventory";
import { k8sAudit } from "./sources/k8s-audit";
import { minio } from "./sources/minio";
import { s3Access } from "./sources/s3-access";
import { vault } from "./sources/vault";
import type { SourceParser } from "./types";

export { Undecodable } from "./common";
export { azureKeyVault } from "./sources/azure-keyvault";
export { cloudtrail } from "./sources/cloudtrail";
export { gcpAudit, gcpRoute } from "./sources/gcp-audit";
export { inventory, podGpuCount, serviceAccountUsername, trimInventoryObject } from "./sources/inventory";
export { gkeEntryToK8sEvent, isGkeK8sEntry, k8sAudit } from "./sources/k8s-audit";
export { minio } from "./sources/minio";
export { s3Access } from "./sources/s3-access";
export { vault } from "./sources/vault";
export * from "./types";
export * from "./util";

/** Every parser by source name; a source without a parser here has no ingest endpoint. */
export const parsers: Partial<Record<SourceName, SourceParser>> = {
  "k8s-audit": k8sAudit,
  vault,
  cloudtrail,
  "gcp-audit": gcpAudit,
  "azure-keyvault": azureKeyVault,
  "s3-access": s3Access,
  minio,
  inventory,
};
export function parserFor(source: SourceName): SourceParser | undefined {
  return parsers[source];
}

/**
 * Topic routing for the collector (`IngestDeps.route`): GKE `k8s.io` entries posted to /ingest/gcp-audit
 * go to the Kubernetes topic, whose parser normalizes them like any other audit Event.
 */
export function routeRecord(source: SourceName, record: unknown): SourceName {
  return source === "gcp-audit" ? gcpRoute(record) : source;
}

/** Every source whose topic `routeRecord` can send a record posted as `source` to. */
export function routeTargets(source: SourceName): SourceName[] {
  return source === "gcp-audit" ? ["gcp-audit", "k8s-audit"] : [source];
}
