/**
 * Group commit for batch handlers. The Kafka consumer hands over one batch per partition and runs several
 * partitions at once; every batch costs the same fixed round of ClickHouse statements and a produce or
 * commit, whatever its size. Calls arriving while a round runs are queued and processed together in the
 * next round, so under load rounds grow and the fixed cost is shared; when idle a batch starts at once.
 *
 * Each caller's promise settles only with the round that contained its batch: it resolves after every
 * write of that round was acknowledged (the bus commits its offsets only then) and rejects if any failed
 * (nothing of the round is committed; the batches come again). A failed round also rejects every batch
 * queued behind it without running them: the bus redelivers them after the failed ones (a pipelined Kafka
 * consumer restarts from its committed offsets), and running them first would apply a partition's later
 * offsets before its earlier ones. Rounds never overlap, so the wrapped function is never called
 * concurrently, and batches run in the order they were handed over.
 */
import type { Batch, BatchHandler } from "@identrail/bus";

interface Waiter {
  batch: Batch;
  chars: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Characters of values per round beside `maxMessages`: a raw envelope can pack hundreds of records
 * (~256 KB), so counting messages alone would not bound a round once the consumer pipelines. 4 Mi leaves a
 * full round of 2,000 ~1 KB events as it was (the in-process bus bounds its batches the same way).
 */
const ROUND_MAX_CHARS = 4 * 1024 * 1024;

/**
 * A round in two phases. `run` does the first (reads and in-memory work) and returns the writes, which
 * start once the previous round's writes were acknowledged; meanwhile the next round's first phase runs.
 * So a round's reads and CPU work overlap the previous round's inserts, and writes still land in round
 * order, one round at a time.
 */
export interface Prepared {
  write(): Promise<void>;
  /** Called instead of `write` when an earlier round's writes failed: undo the round's in-memory effects. */
  abort(): void;
}

export function coalesce(
  // biome-ignore lint/suspicious/noConfusingVoidType: a single-phase round resolves with nothing
  run: (batches: Batch[]) => Promise<void | Prepared>,
  maxMessages: number,
  lingerMs = 10,
  maxChars = ROUND_MAX_CHARS,
): BatchHandler {
  let queue: Waiter[] = [];
  let running = false;
  // The last round's writes, settled (never rejected) once they were acknowledged or failed.
  let writing: Promise<void> = Promise.resolve();
  // Failed rounds so far: a round taken before a failure that it did not cause is aborted, not written.
  let failures = 0;
  let lastError: unknown;
  const full = () => {
    let n = 0;
    let c = 0;
    for (const w of queue) {
      n += w.batch.messages.length;
      c += w.chars;
    }
    return n >= maxMessages || c >= maxChars;
  };
  // A failed round rejects its own batches and every batch queued behind it.
  const fail = (round: Waiter[], e: unknown) => {
    failures++;
    lastError = e;
    const behind = queue;
    queue = [];
    for (const w of [...round, ...behind]) w.reject(e);
  };
  async function drain() {
    running = true;
    try {
      while (queue.length) {
        // A short grace before a round that is not full yet: batches of the other partitions (the
        // consumer's fetchers refetch as soon as they handed their last batches over) join it, so a round's
        // fixed cost is shared by more events. Bounded: it adds at most lingerMs to an idle batch's latency.
        if (!full()) await new Promise((r) => setTimeout(r, lingerMs));
        if (!queue.length) break;
        let n = 0;
        let c = 0;
        let take = 0;
        // At least one batch per round; then whole batches while the round stays within both bounds.
        while (take < queue.length) {
          const b = queue[take];
          if (take > 0 && (n + b.batch.messages.length > maxMessages || c + b.chars > maxChars)) break;
          n += b.batch.messages.length;
          c += b.chars;
          take++;
        }
        const round = queue.slice(0, take);
        queue = queue.slice(take);
        const epoch = failures;
        let prepared: Prepared | undefined;
        try {
          prepared = (await run(round.map((w) => w.batch))) || undefined;
        } catch (e) {
          // Earlier rounds' writes settle first (their callers commit in order), then this one fails.
          await writing;
          if (epoch === failures) fail(round, e);
          else for (const w of round) w.reject(lastError);
          continue;
        }
        const prev = writing;
        writing = prev.then(async () => {
          if (epoch !== failures) {
            for (const w of round) w.reject(lastError);
            try {
              prepared?.abort();
            } catch {
              // A bug in an undo must not stall the rounds behind it; the consumer restarts anyway.
            }
            return;
          }
          try {
            await prepared?.write();
            for (const w of round) w.resolve();
          } catch (e) {
            fail(round, e);
          }
        });
        // One round writing while the next prepares, never more: wait for the round before this one
        // (single-phase rounds wait for themselves).
        if (prepared) await prev;
        else await writing;
      }
    } finally {
      running = false;
    }
  }
  return (batch) =>
    new Promise<void>((resolve, reject) => {
      let chars = 0;
      for (const m of batch.messages) chars += m.value.length;
      queue.push({ batch, chars, resolve, reject });
      if (!running) void drain();
    });
}
