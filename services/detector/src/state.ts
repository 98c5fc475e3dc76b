/**
 * Per-identity state in event time: first/last seen, learned features (secrets read, hours active …)
 * and identity attributes. Loaded lazily from ClickHouse the first time an identity shows up in this
 * process, updated in memory, and persisted with every batch, so baselines survive restarts and a
 * replay rebuilds the same state (min/max merges are idempotent).
 */
import type { ClickHouseClient } from "@clickhouse/client";
import type { IdentityType } from "@identrail/schema";
import { chTime } from "@identrail/store";

export interface FeatureStat {
  first: number;
  last: number;
  /** `last` as of the newest row persisted for this value (loaded or written); see StateStore.learn. */
  saved?: number;
}

/**
 * Features whose `last` the rules compare against event times (job and pod ends, concurrent workloads):
 * every later observation is persisted. For every other feature only `first` decides anything (is this
 * value new for the identity, is it past its learning period), so a later `last` is persisted at most once
 * per LAST_SEEN_GRANULARITY of event time. In steady state most observations repeat known values; this
 * keeps identity_features from growing by a row per (identity, feature, value) per batch.
 */
const EXACT_LAST = new Set(["job_start", "job_end", "pod_end", "workload"]);
const LAST_SEEN_GRANULARITY = 3_600_000;

export interface IdentityInfo {
  type?: IdentityType;
  cluster?: string;
  namespace?: string;
  environment?: string;
  owner?: string;
  purpose?: string;
  expiresAt?: number;
}

export class IdentityState {
  firstSeen = Number.POSITIVE_INFINITY;
  lastSeen = Number.NEGATIVE_INFINITY;
  /** lastSeen before the event being evaluated (for dormancy); set by the engine. */
  previousSeen = Number.NEGATIVE_INFINITY;
  features = new Map<string, Map<string, FeatureStat>>();
  info: IdentityInfo = {};
  /** Rule-private in-memory state (sliding windows); rebuilt from stored identity events when needed. */
  scratch = new Map<string, unknown>();
  /**
   * Numeric aggregates by key (bytes read per UTC day, denied requests per 10-minute bucket). Persisted as
   * identity_features rows `n:<name>` with value `<key>|<running total>`; the largest total per key wins
   * on load, so rows written by several batches (and replays) merge idempotently.
   */
  counters = new Map<string, Map<string, number>>();

  constructor(readonly id: string) {}

  feature(name: string): Map<string, FeatureStat> {
    let m = this.features.get(name);
    if (!m) this.features.set(name, (m = new Map()));
    return m;
  }
  has(name: string, value: string): boolean {
    return this.features.get(name)?.has(value) ?? false;
  }
  counter(name: string): Map<string, number> {
    let m = this.counters.get(name);
    if (!m) this.counters.set(name, (m = new Map()));
    return m;
  }
  /** True while the identity is inside its learning period at event time `t`. */
  learning(t: number, learningPeriodMs: number): boolean {
    return !(t >= this.firstSeen + learningPeriodMs);
  }
  /** Records a feature observation; returns true when it was new. */
  learn(name: string, value: string, t: number): boolean {
    const m = this.feature(name);
    const s = m.get(value);
    if (!s) {
      m.set(value, { first: t, last: t });
      return true;
    }
    if (t < s.first) s.first = t;
    if (t > s.last) s.last = t;
    return false;
  }
}

export interface FeatureRow {
  identity_id: string;
  feature: string;
  value: string;
  first_seen: string;
  last_seen: string;
}

/**
 * The three reads that make an identity's state (first/last seen, learned features, identity attributes)
 * as one statement, for the identities in `{state_ids:Array(String)}`: the embedded engine runs statements
 * one at a time at a fixed cost each, and a round that meets new identities would otherwise pay it three
 * times. Every column is a String so the branches unite; `k` tells the branch ('s', 'f', 'i'). Callers may
 * add their own `UNION ALL` branch with the same thirteen String columns and another `k` (the detector
 * puts its replay check here, see pipeline.ts).
 */
export const STATE_QUERY = `SELECT 's' AS k, id, '' AS feature, '' AS value, toString(toUnixTimestamp64Milli(min(first_seen))) AS f, toString(toUnixTimestamp64Milli(max(last_seen))) AS l, '' AS type, '' AS cluster, '' AS namespace, '' AS environment, '' AS owner, '' AS purpose, '' AS expires FROM identity_seen WHERE id IN {state_ids:Array(String)} GROUP BY id
UNION ALL SELECT 'f', identity_id, feature, value, toString(toUnixTimestamp64Milli(min(first_seen))), toString(toUnixTimestamp64Milli(max(last_seen))), '', '', '', '', '', '', '' FROM identity_features WHERE identity_id IN {state_ids:Array(String)} GROUP BY identity_id, feature, value
UNION ALL SELECT 'i', id, '', '', '', '', toString(type), toString(cluster), toString(namespace), toString(environment), owner, purpose, ifNull(toString(toUnixTimestamp64Milli(expires_at)), '') FROM identities FINAL WHERE id IN {state_ids:Array(String)}`;

export class StateStore {
  private states = new Map<string, IdentityState>();
  /** Feature observations to persist with the current batch. */
  pendingFeatures = new Map<string, FeatureRow>();

  constructor(private readonly ch: ClickHouseClient | undefined) {}

  get size() {
    return this.states.size;
  }
  peek(id: string) {
    return this.states.get(id);
  }

  /** Identities among these that have no state in memory yet (what `load` would read). */
  missing(ids: string[]): string[] {
    return [...new Set(ids)].filter((id) => !this.states.has(id));
  }

  /** Ensures state for these identities is in memory, loading what ClickHouse has. */
  async load(ids: string[]) {
    const missing = this.missing(ids);
    if (!missing.length) return;
    if (!this.ch) {
      this.apply(missing, []);
      return;
    }
    const rs = await this.ch.query({
      query: STATE_QUERY,
      query_params: { state_ids: missing },
      format: "JSONEachRow",
    });
    this.apply(missing, (await rs.json()) as Record<string, string>[]);
  }

  /**
   * Builds the state of `missing` from rows of STATE_QUERY (rows of other kinds are ignored, so the query
   * can share a statement with other reads) and puts it in memory; identities without rows start empty.
   */
  apply(missing: string[], all: Record<string, string>[]) {
    const fresh = new Map(
      missing.filter((id) => !this.states.has(id)).map((id) => [id, new IdentityState(id)]),
    );
    for (const r of all) {
      const s = fresh.get(r.id);
      if (!s) continue;
      if (r.k === "s") {
        s.firstSeen = Number(r.f);
        s.lastSeen = Number(r.l);
      } else if (r.k === "f") {
        if (r.feature.startsWith("n:")) {
          const i = r.value.lastIndexOf("|");
          const m = s.counter(r.feature.slice(2));
          const key = r.value.slice(0, i);
          const n = Number(r.value.slice(i + 1));
          if (i > 0 && Number.isFinite(n) && n > (m.get(key) ?? 0)) m.set(key, n);
        } else
          s.feature(r.feature).set(r.value, { first: Number(r.f), last: Number(r.l), saved: Number(r.l) });
      } else if (r.k === "i")
        s.info = {
          type: (r.type || undefined) as IdentityType | undefined,
          cluster: r.cluster || undefined,
          namespace: r.namespace || undefined,
          environment: r.environment || undefined,
          owner: r.owner || undefined,
          purpose: r.purpose || undefined,
          expiresAt: r.expires ? Number(r.expires) : undefined,
        };
    }
    for (const [id, s] of fresh) this.states.set(id, s);
  }

  /**
   * Re-reads some features of already-loaded identities from ClickHouse and merges them (min first, max
   * last). Used for facts other partitions write about an identity (job starts/ends recorded by whoever
   * saw the workload), so a long-lived in-memory state does not judge on a stale view.
   */
  async refresh(ids: string[], features: string[]) {
    if (!this.ch || !ids.length) return;
    const rs = await this.ch.query({
      query:
        "SELECT identity_id, feature, value, toUnixTimestamp64Milli(min(first_seen)) AS f, toUnixTimestamp64Milli(max(last_seen)) AS l FROM identity_features WHERE identity_id IN {ids:Array(String)} AND feature IN {features:Array(String)} GROUP BY identity_id, feature, value",
      query_params: { ids, features },
      format: "JSONEachRow",
    });
    for (const r of (await rs.json()) as {
      identity_id: string;
      feature: string;
      value: string;
      f: string;
      l: string;
    }[]) {
      const st = this.states.get(r.identity_id);
      if (!st) continue;
      const m = st.feature(r.feature);
      const cur = m.get(r.value);
      const f = Number(r.f);
      const l = Number(r.l);
      if (!cur) m.set(r.value, { first: f, last: l });
      else {
        cur.first = Math.min(cur.first, f);
        cur.last = Math.max(cur.last, l);
      }
    }
  }

  invalidate(ids: string[]) {
    for (const id of ids) this.states.delete(id);
    this.pendingFeatures.clear();
  }

  /** Drops identities idle (in event time) since before `before`; they reload on their next event. */
  evict(before: number) {
    for (const [id, s] of this.states) if (s.lastSeen < before) this.states.delete(id);
  }

  get(id: string): IdentityState {
    let s = this.states.get(id);
    if (!s) this.states.set(id, (s = new IdentityState(id)));
    return s;
  }

  learn(state: IdentityState, name: string, value: string, t: number) {
    const known = state.features.get(name)?.get(value);
    // Read before state.learn, which moves `first` back for an older observation.
    const firstBefore = known?.first ?? Number.POSITIVE_INFINITY;
    state.learn(name, value, t);
    const key = `${state.id}\u0000${name}\u0000${value}`;
    const prev = this.pendingFeatures.get(key);
    if (
      !prev &&
      known &&
      t >= firstBefore &&
      !EXACT_LAST.has(name) &&
      known.saved !== undefined &&
      t - known.saved < LAST_SEEN_GRANULARITY
    )
      return;
    const cur = known ?? state.features.get(name)!.get(value)!;
    if (t > (cur.saved ?? Number.NEGATIVE_INFINITY)) cur.saved = t;
    const ts = chTime(t);
    if (!prev)
      this.pendingFeatures.set(key, {
        identity_id: state.id,
        feature: name,
        value,
        first_seen: ts,
        last_seen: ts,
      });
    else {
      if (ts < prev.first_seen) prev.first_seen = ts;
      if (ts > prev.last_seen) prev.last_seen = ts;
    }
  }

  /** Adds `delta` to a counter and queues one row per (identity, counter, key) per batch. */
  add(state: IdentityState, name: string, key: string, delta: number, t: number): number {
    const m = state.counter(name);
    const n = (m.get(key) ?? 0) + delta;
    m.set(key, n);
    const ts = chTime(t);
    this.pendingFeatures.set(`${state.id}\u0000n:${name}\u0000${key}`, {
      identity_id: state.id,
      feature: `n:${name}`,
      value: `${key}|${n}`,
      first_seen: ts,
      last_seen: ts,
    });
    return n;
  }

  takePendingFeatures(): FeatureRow[] {
    const rows = [...this.pendingFeatures.values()];
    this.pendingFeatures.clear();
    return rows;
  }
}
