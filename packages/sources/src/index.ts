import type { SourceName } from "@identrail/schema";
import { k8sAudit } from "./sources/k8s-audit";
import type { SourceParser } from "./types";

export * from "./types";
export * from "./util";
export { k8sAudit } from "./sources/k8s-audit";

/** Every parser by source name; a source without a parser here has no ingest endpoint. */
export const parsers: Partial<Record<SourceName, SourceParser>> = {
  "k8s-audit": k8sAudit,
};
export function parserFor(source: SourceName): SourceParser | undefined {
  return parsers[source];
}
