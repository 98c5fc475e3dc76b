/**
 * A short-lived cache of listing pages, bounded by age and size. A page is served for at most `ttlMs`
 * after its query started, so it can miss rows stored during that time: the staleness is bounded by
 * the TTL and nothing else (writes do not invalidate it; with a ClickHouse server the writers are other
 * processes this one cannot observe). Requests that arrive while the same page is being read share that
 * one query, which with embedded chDB (statements run one at a time) keeps a burst of identical
 * requests from queueing the same work.
 *
 * Failures are never cached: a rejected load is dropped so the next request queries again.
 */
export class PageCache<T extends { items: unknown[] }> {
  private entries = new Map<string, { at: number; value: Promise<T> }>();
  private rows = 0;

  constructor(
    private readonly ttlMs: number,
    /** Upper bound on rows held (pages can be up to api.max_page_size rows each). */
    private readonly maxRows = 20_000,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    if (hit) this.entries.delete(key);
    if (this.rows >= this.maxRows || this.entries.size >= this.maxRows) this.clear();
    const value = load();
    const entry = { at: now, value };
    this.entries.set(key, entry);
    value.then(
      (page) => {
        if (this.entries.get(key) === entry) this.rows += page.items.length + 1;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return value;
  }

  /**
   * Expired entries are only replaced when asked for again, and `rows` only grows: once the rows of
   * every page stored since the last clear reach the bound, everything goes, which bounds memory
   * without timers.
   */
  clear() {
    this.entries.clear();
    this.rows = 0;
  }
}
