import { join } from "node:path";
import type { Config } from "@identrail/config";
import { parserFor } from "@identrail/sources";
import type { IngestDeps } from "../ingest";
import { FileTailer, type TailerOptions } from "./file-tailer";

export { FileTailer, type TailerOptions } from "./file-tailer";
export { tailerMetrics } from "./metrics";
export { loadPosition, positionFile, type TailPosition } from "./position";

export interface TailersHandle {
  tailers: FileTailer[];
  stop(): Promise<void>;
}

/** Starts one tailer per `collector.tail` entry. Throws on an entry whose source has no parser (a config bug). */
export function startTailers(
  config: Config,
  deps: IngestDeps,
  overrides: Partial<Omit<TailerOptions, "path" | "parser" | "cluster" | "deps">> = {},
): TailersHandle {
  const tailers = config.collector.tail.map((t) => {
    const parser = parserFor(t.source);
    if (!parser) throw new Error(`collector.tail: no parser for source ${t.source} (${t.path})`);
    return new FileTailer({
      path: t.path,
      parser,
      cluster: t.cluster ?? config.default_cluster,
      deps,
      stateDir: join(config.data_dir, "tailer"),
      ...overrides,
    });
  });
  for (const t of tailers) t.start();
  return {
    tailers,
    stop: async () => {
      await Promise.all(tailers.map((t) => t.stop()));
    },
  };
}
