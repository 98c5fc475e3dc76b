/**
 * A short-lived cache of query results, bounded by age and size, used for timeline pages and identity
 * resolution. A result is served for at most `ttlMs` after its query started, so it can miss rows stored
 * during that time: the staleness is bounded by the TTL and nothing else (writes do not invalidate it;
 * with a ClickHouse server the writers are other processes this one cannot observe). Requests that
 * arrive while the same key is being read share that one query, which with embedded chDB (statements
 * run one at a time) keeps a burst of identical requests from queueing the same work.
 *
 * Failures are never cached: a rejected load is dropped so the next request queries again. Neither are
 * results `keep` turns down (they are still shared with the requests that joined the load).
 */
export class TtlCache<T> {
  private entries = new Map<string, { at: number; value: Promise<T> }>();
  private weight = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly opts: {
      /** Upper bound on the summed weight of the results held (and on the number of entries). */
      maxWeight: number;
      /** A result's weight (default 1). */
      weigh?: (value: T) => number;
      /** Whether a result stays cached after its load (default: always). */
      keep?: (value: T) => boolean;
    },
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    if (hit) this.entries.delete(key);
    if (this.weight >= this.opts.maxWeight || this.entries.size >= this.opts.maxWeight) this.clear();
    const value = load();
    const entry = { at: now, value };
    this.entries.set(key, entry);
    value.then(
      (v) => {
        if (this.entries.get(key) !== entry) return;
        if (this.opts.keep && !this.opts.keep(v)) this.entries.delete(key);
        else this.weight += this.opts.weigh ? this.opts.weigh(v) : 1;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }

  /**
   * Expired entries are only replaced when asked for again, and `weight` only grows: once the results
   * stored since the last clear reach the bound, everything goes, which bounds memory without timers.
   */
  clear() {
    this.entries.clear();
    this.weight = 0;
  }
}
