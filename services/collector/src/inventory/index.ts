import type { Config } from "@identrail/config";
import type { IngestDeps } from "../ingest";
import { InventoryWatcher, loadKubeConfig } from "./watcher";

export {
  InventoryWatcher,
  type InventoryWatcherOptions,
  loadKubeConfig,
  type WatchedKind,
} from "./watcher";

/** Starts the watcher when `collector.inventory.enabled`; null otherwise. Throws on an unreadable kubeconfig. */
export async function startInventory(config: Config, deps: IngestDeps): Promise<InventoryWatcher | null> {
  const inv = config.collector.inventory;
  if (!inv.enabled) return null;
  const w = new InventoryWatcher({
    kubeConfig: loadKubeConfig(inv.kubeconfig),
    cluster: inv.cluster ?? config.default_cluster,
    deps,
    resyncMs: inv.resync,
  });
  await w.start();
  return w;
}
