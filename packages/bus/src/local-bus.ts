/**
 * In-process bus for embedded mode (`identrail all` without KAFKA_BROKERS). Durable: messages are
 * appended to segment files under <dataDir>/bus and fsynced before `produce` resolves, and each
 * consumer group's committed offsets are saved, so a crash loses nothing that was acknowledged.
 * One partition per topic; segments wholly below every group's committed offset are deleted.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { appendFile, open } from "node:fs/promises";
import { join } from "node:path";
import { logger } from "@identrail/core";
import type { Batch, Bus, BusMessage, ConsumeOptions, ConsumerHandle } from "./types";

const SEGMENT_MESSAGES = 50_000;
/**
 * Characters of values per handler call (at least one message), beside `maxBatch` messages: counting
 * messages alone stops bounding a round once a message can pack hundreds of records (the collector's v2
 * raw envelopes, up to ~256 KB each). 4 Mi leaves a full 2,000-message batch of ~1 KB events as it was.
 */
const BATCH_MAX_CHARS = 4 * 1024 * 1024;

interface TopicState {
  dir: string;
  base: number; // offset of messages[0]
  messages: BusMessage[];
  segments: number[]; // base offsets of segment files, ascending
  waiters: Set<() => void>;
  writeChain: Promise<void>;
}

export class LocalBus implements Bus {
  readonly kind = "local" as const;
  private topics = new Map<string, TopicState>();
  private offsets: Record<string, Record<string, number>>;
  private offsetsFile: string;
  private consumers = new Set<{ stop(): Promise<void> }>();
  private closed = false;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.offsetsFile = join(dir, "offsets.json");
    this.offsets = existsSync(this.offsetsFile) ? JSON.parse(readFileSync(this.offsetsFile, "utf8")) : {};
  }

  private topic(name: string): TopicState {
    let t = this.topics.get(name);
    if (t) return t;
    const dir = join(this.dir, encodeURIComponent(name));
    mkdirSync(dir, { recursive: true });
    const segments = readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .map((f) => Number(f.slice(0, -4)))
      .sort((a, b) => a - b);
    const messages: BusMessage[] = [];
    for (const s of segments) {
      const text = readFileSync(join(dir, `${s}.log`), "utf8");
      const lines = text.split("\n");
      // A torn last line (crash mid-append) was never acknowledged: drop it.
      for (const line of lines) {
        if (!line) continue;
        try {
          const [key, value] = JSON.parse(line);
          messages.push({ key, value });
        } catch {
          break;
        }
      }
    }
    t = {
      dir,
      base: segments[0] ?? 0,
      messages,
      segments,
      waiters: new Set(),
      writeChain: Promise.resolve(),
    };
    this.topics.set(name, t);
    return t;
  }

  async produce(topicName: string, messages: BusMessage[]): Promise<void> {
    if (this.closed) throw new Error("bus closed");
    if (messages.length === 0) return;
    const t = this.topic(topicName);
    const write = t.writeChain.then(async () => {
      let head = t.base + t.messages.length;
      let i = 0;
      while (i < messages.length) {
        const segBase = t.segments.length ? t.segments[t.segments.length - 1] : head;
        let seg = segBase;
        if (!t.segments.length || head - segBase >= SEGMENT_MESSAGES) {
          seg = head;
          t.segments.push(seg);
        }
        const room = SEGMENT_MESSAGES - (head - seg);
        const chunk = messages.slice(i, i + room);
        const text = chunk.map((m) => JSON.stringify([m.key, m.value])).join("\n") + "\n";
        const file = join(t.dir, `${seg}.log`);
        await appendFile(file, text);
        const fh = await open(file, "r+");
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
        t.messages.push(...chunk);
        head += chunk.length;
        i += chunk.length;
      }
    });
    t.writeChain = write.catch(() => {});
    await write;
    for (const w of t.waiters) w();
    t.waiters.clear();
  }

  private committed(group: string, topic: string): number {
    return this.offsets[group]?.[topic] ?? 0;
  }

  private commit(group: string, topic: string, offset: number) {
    (this.offsets[group] ??= {})[topic] = offset;
    const tmp = `${this.offsetsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.offsets));
    renameSync(tmp, this.offsetsFile);
    this.trim(topic);
  }

  /** Drops whole segments that every group has committed past. */
  private trim(topicName: string) {
    const t = this.topics.get(topicName);
    if (!t) return;
    const groups = Object.values(this.offsets).map((g) => g[topicName] ?? 0);
    const min = Math.min(...groups);
    while (t.segments.length > 1 && t.segments[1] <= min) {
      const seg = t.segments.shift()!;
      const drop = t.segments[0] - seg;
      t.messages.splice(0, drop);
      t.base = t.segments[0];
      rmSync(join(t.dir, `${seg}.log`), { force: true });
    }
  }

  async consume(opts: ConsumeOptions): Promise<ConsumerHandle> {
    let running = true;
    const loops = opts.topics.map((topicName) => this.loop(topicName, opts, () => running));
    const handle = {
      stop: async () => {
        running = false;
        for (const t of opts.topics) {
          const st = this.topics.get(t);
          if (st) for (const w of st.waiters) w();
        }
        await Promise.allSettled(loops);
        this.consumers.delete(handle);
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  private async loop(topicName: string, opts: ConsumeOptions, running: () => boolean) {
    const t = this.topic(topicName);
    const max = opts.maxBatch ?? 2000;
    let backoff = 50;
    while (running() && !this.closed) {
      const from = Math.max(this.committed(opts.groupId, topicName), t.base);
      const head = t.base + t.messages.length;
      if (from >= head) {
        await new Promise<void>((resolve) => {
          t.waiters.add(resolve);
          setTimeout(resolve, 1000).unref();
        });
        continue;
      }
      let end = from + 1;
      for (let chars = t.messages[from - t.base].value.length; end < Math.min(head, from + max); end++) {
        chars += t.messages[end - t.base].value.length;
        if (chars > BATCH_MAX_CHARS) break;
      }
      const batch: Batch = {
        topic: topicName,
        partition: 0,
        lag: head - end,
        messages: t.messages.slice(from - t.base, end - t.base).map((m, i) => ({
          topic: topicName,
          partition: 0,
          offset: String(from + i),
          key: m.key,
          value: m.value,
        })),
      };
      try {
        await opts.handler(batch);
        // Even when stopping: the handler finished its durable writes, so committing is correct.
        this.commit(opts.groupId, topicName, end);
        backoff = 50;
      } catch (e) {
        logger.warn(
          { topic: topicName, group: opts.groupId, err: (e as Error).message },
          "batch failed; will retry",
        );
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** One partition per topic (see the top of this file); explicit partitions are therefore all 0. */
  partitionCount(_topic: string): number {
    return 1;
  }

  async healthy() {
    return !this.closed;
  }

  async close() {
    for (const c of [...this.consumers]) await c.stop();
    for (const t of this.topics.values()) await t.writeChain;
    this.closed = true;
  }
}
