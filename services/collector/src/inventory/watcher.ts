/**
 * Cluster inventory watcher: informers (list + watch, https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes)
 * on ServiceAccounts, Pods and Jobs in every namespace. Each relevant change becomes an inventory record
 * (`{"type","observed_at","object"}`) published through the shared ingest core to `identrail.raw.inventory`,
 * keyed by the service account username, and normalized later by the `inventory` parser.
 *
 * Delivery: changes wait in a map keyed by object uid (the newest state replaces an older one: the parser
 * derives every lifecycle step from the latest object, so nothing is lost by coalescing) until the bus
 * acknowledged them. A periodic resync re-sends any cached object whose acknowledged state differs from the
 * cache. Event ids downstream are uid + step, so relists and resyncs never double an event.
 *
 * Errors: an informer stops on a list/watch error (client-node's ListWatch); we restart it with exponential
 * backoff and jitter. A 410 Gone (the resourceVersion fell out of the apiserver's watch cache) makes the
 * informer relist by itself, and objects missing from the new list are reported as deleted.
 * Only get/list/watch are needed (docs/inventory.md).
 */

import { logger } from "@identrail/core";
import { inventory } from "@identrail/sources";
import {
  BatchV1Api,
  CoreV1Api,
  type Informer,
  KubeConfig,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import { type IngestDeps, ingestText } from "../ingest";
import { inventoryMetrics } from "./metrics";

export type WatchedKind = "ServiceAccount" | "Pod" | "Job";
type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface InventoryWatcherOptions {
  kubeConfig: KubeConfig;
  /** Cluster name stamped on the records (and so in k8s-sa aliases and k8s:// URIs). */
  cluster: string;
  deps: IngestDeps;
  resyncMs: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Records per bus produce. */
  batchSize?: number;
}

/** Loads credentials: an explicit kubeconfig, else in-cluster (service account token), else ~/.kube/config. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

interface Meta {
  uid?: string;
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  deletionTimestamp?: unknown;
}
type Any = KubernetesObject & {
  metadata?: Meta;
  spec?: any;
  status?: any;
  automountServiceAccountToken?: boolean;
};

const KEPT_SA_ANNOTATIONS =
  /^(identrail\.io\/|eks\.amazonaws\.com\/role-arn$|iam\.gke\.io\/gcp-service-account$|azure\.workload\.identity\/client-id$)/;

/**
 * What, in an object, makes a new inventory record worth sending: for a service account its identity
 * annotations, for workloads the lifecycle steps it proves. Status churn (readiness, restarts) is not.
 */
export function signature(kind: WatchedKind, o: Any): string {
  const md = o.metadata ?? {};
  if (kind === "ServiceAccount") {
    const ann = Object.entries(md.annotations ?? {})
      .filter(([k]) => KEPT_SA_ANNOTATIONS.test(k))
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return JSON.stringify([ann, o.automountServiceAccountToken ?? null]);
  }
  const st = o.status ?? {};
  const deleting = md.deletionTimestamp ? 1 : 0;
  if (kind === "Pod") {
    const terminal = st.phase === "Succeeded" || st.phase === "Failed" ? st.phase : "";
    return `${st.startTime ? 1 : 0}|${terminal}|${deleting}`;
  }
  const conds: { type?: string; status?: string }[] = Array.isArray(st.conditions) ? st.conditions : [];
  const failed = conds.some((c) => c.type === "Failed" && c.status === "True") ? 1 : 0;
  return `${st.startTime ? 1 : 0}|${st.completionTime ? 1 : 0}|${failed}|${deleting}`;
}

interface Pending {
  kind: WatchedKind;
  type: EventType;
  observedAt: string;
  object: Any;
  sig: string;
}

interface Watched {
  kind: WatchedKind;
  informer: Informer<Any> & ObjectCache<Any>;
  failures: number;
  timer?: NodeJS.Timeout;
}

export class InventoryWatcher {
  private readonly o: Required<InventoryWatcherOptions>;
  private readonly watched: Watched[] = [];
  /** Changes not yet acknowledged by the bus, by kind/uid. */
  private readonly pending = new Map<string, Pending>();
  /** Last acknowledged signature per kind/uid; gone when the deletion was acknowledged. */
  private readonly acked = new Map<string, string>();
  private stopped = true;
  private flushing: Promise<void> | null = null;
  private flushTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private publishFailures = 0;

  constructor(opts: InventoryWatcherOptions) {
    this.o = { minBackoffMs: 1000, maxBackoffMs: 60_000, batchSize: 500, ...opts };
  }

  async start() {
    if (!this.stopped) return;
    this.stopped = false;
    const kc = this.o.kubeConfig;
    const core = kc.makeApiClient(CoreV1Api);
    const batch = kc.makeApiClient(BatchV1Api);
    const defs: [WatchedKind, string, () => Promise<any>][] = [
      ["ServiceAccount", "/api/v1/serviceaccounts", () => core.listServiceAccountForAllNamespaces()],
      ["Pod", "/api/v1/pods", () => core.listPodForAllNamespaces()],
      ["Job", "/apis/batch/v1/jobs", () => batch.listJobForAllNamespaces()],
    ];
    for (const [kind, path, list] of defs) {
      const informer = makeInformer<Any>(kc, path, list);
      const w: Watched = { kind, informer, failures: 0 };
      informer.on("add", (obj) => this.onChange(w, "ADDED", obj));
      informer.on("update", (obj) => this.onChange(w, "MODIFIED", obj));
      informer.on("delete", (obj) => this.onChange(w, "DELETED", obj));
      informer.on("error", (err) => this.onError(w, err));
      this.watched.push(w);
    }
    // Not awaited: a slow or unreachable apiserver must not hold up the collector's startup.
    for (const w of this.watched) this.startInformer(w);
    this.resyncTimer = setInterval(() => this.resync(), this.o.resyncMs);
    this.resyncTimer.unref();
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.flushTimer);
    for (const w of this.watched) {
      clearTimeout(w.timer);
      await w.informer.stop();
    }
    this.watched.length = 0;
    await this.flushing;
  }

  /** Changes seen but not yet acknowledged by the bus. */
  get backlog(): number {
    return this.pending.size;
  }

  /** Re-queues every cached object whose acknowledged state differs from what the cache holds now. */
  resync() {
    for (const w of this.watched)
      for (const obj of w.informer.list()) {
        const uid = obj.metadata?.uid;
        if (!uid) continue;
        const key = `${w.kind}/${uid}`;
        if (!this.pending.has(key) && this.acked.get(key) !== signature(w.kind, obj))
          this.onChange(w, "MODIFIED", obj, true);
      }
  }

  private onChange(w: Watched, type: EventType, obj: Any, fromResync = false) {
    if (!fromResync) w.failures = 0; // data flows again: the next error starts from the shortest backoff
    const uid = obj.metadata?.uid;
    if (!uid) return;
    const key = `${w.kind}/${uid}`;
    const sig = type === "DELETED" ? "deleted" : signature(w.kind, obj);
    const prev = this.pending.get(key);
    if (!prev && this.acked.get(key) === sig) return;
    // The newest state wins; a deletion stays a deletion even if a stale update arrives after it.
    if (prev?.type === "DELETED" && type !== "DELETED") return;
    this.pending.set(key, {
      kind: w.kind,
      type: prev?.type === "ADDED" && type === "MODIFIED" ? "ADDED" : type,
      observedAt: new Date().toISOString(),
      object: obj,
      sig,
    });
    this.scheduleFlush(0);
  }

  private onError(w: Watched, err: unknown) {
    if (this.stopped) return; // stop() aborts the watch, which reports an abort error
    inventoryMetrics.watchErrors.inc({ kind: w.kind });
    const e = err as { statusCode?: number; code?: number | string; message?: string };
    const delay =
      Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** w.failures) * (0.8 + Math.random() * 0.4);
    w.failures = Math.min(w.failures + 1, 20);
    logger.warn(
      {
        kind: w.kind,
        status: e?.statusCode ?? e?.code,
        err: e?.message?.slice(0, 256),
        retryInMs: Math.round(delay),
      },
      "inventory watch failed; restarting with backoff",
    );
    clearTimeout(w.timer);
    w.timer = setTimeout(() => this.startInformer(w), delay);
    w.timer.unref?.();
  }

  private startInformer(w: Watched) {
    if (this.stopped) return;
    // start() reports list/watch failures through the "error" event; a rejection is a setup error (no cluster).
    w.informer.start().catch((e) => this.onError(w, e));
  }

  private scheduleFlush(ms: number) {
    if (this.stopped || this.flushing || this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.pending.size && !this.stopped) {
          const wait = this.publishFailures
            ? Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** (this.publishFailures - 1))
            : 0;
          this.scheduleFlush(wait);
        }
      });
    }, ms);
  }

  private async flush() {
    const batch = [...this.pending.entries()].slice(0, this.o.batchSize);
    if (!batch.length) return;
    const text = batch
      .map(([, p]) =>
        JSON.stringify({ type: p.type, observed_at: p.observedAt, object: { ...p.object, kind: p.kind } }),
      )
      .join("\n");
    try {
      await ingestText(this.o.deps, inventory, text, this.o.cluster);
      this.publishFailures = 0;
    } catch (e) {
      this.publishFailures = Math.min(this.publishFailures + 1, 20);
      inventoryMetrics.publishErrors.inc();
      logger.warn({ err: (e as Error).message }, "inventory publish failed; will retry");
      return;
    }
    for (const [key, p] of batch) {
      inventoryMetrics.records.inc({ kind: p.kind, type: p.type });
      // Replaced while we were publishing: the newer state is still to be sent.
      if (this.pending.get(key) === p) this.pending.delete(key);
      if (p.type === "DELETED") this.acked.delete(key);
      else this.acked.set(key, p.sig);
    }
  }
}
