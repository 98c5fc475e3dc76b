/**
 * Group commit for batch handlers. The Kafka consumer hands over one batch per partition and runs several
 * partitions at once; every batch costs the same fixed round of ClickHouse statements and a produce or
 * commit, whatever its size. Calls arriving while a round runs are queued and processed together in the
 * next round, so under load rounds grow and the fixed cost is shared; when idle a batch starts at once.
 *
 * Each caller's promise settles only with the round that contained its batch: it resolves after every
 * write of that round was acknowledged (the bus commits its offsets only then) and rejects if any failed
 * (nothing of the round is committed; the batches come again). Rounds never overlap, so the wrapped
 * function is never called concurrently.
 */
import type { Batch, BatchHandler } from "@identrail/bus";

interface Waiter {
  batch: Batch;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export function coalesce(
  run: (batches: Batch[]) => Promise<void>,
  maxMessages: number,
  lingerMs = 10,
): BatchHandler {
  let queue: Waiter[] = [];
  let running = false;
  const queued = () => queue.reduce((n, w) => n + w.batch.messages.length, 0);
  async function drain() {
    running = true;
    try {
      while (queue.length) {
        // A short grace before a round that is not full yet: batches of the other partitions (the
        // consumer's fetchers refetch as soon as the previous round resolved) join it, so a round's fixed
        // cost is shared by more events. Bounded, so it adds at most lingerMs to an idle batch's latency.
        if (queued() < maxMessages) await new Promise((r) => setTimeout(r, lingerMs));
        let n = 0;
        let take = 0;
        // At least one batch per round; then whole batches while the round stays within maxMessages.
        while (take < queue.length && (take === 0 || n + queue[take].batch.messages.length <= maxMessages))
          n += queue[take++].batch.messages.length;
        const round = queue.slice(0, take);
        queue = queue.slice(take);
        try {
          await run(round.map((w) => w.batch));
          for (const w of round) w.resolve();
        } catch (e) {
          for (const w of round) w.reject(e);
        }
      }
    } finally {
      running = false;
    }
  }
  return (batch) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ batch, resolve, reject });
      if (!running) void drain();
    });
}
