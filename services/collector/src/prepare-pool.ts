/**
 * Prepare threads for HTTP ingestion. Parsing a body and serializing its records is most of what the
 * collector does per request (JSON.parse alone ~1.2 ms for 400 audit events, ~430 KB); on the request's
 * thread it competes with HTTP handling for one core, and profiling the collector benchmark showed that
 * thread at 100% with most of a second core idle. Bodies are handed over without a copy (transferred
 * ArrayBuffers), each thread prepares one body at a time, and the request's thread only publishes the
 * result and answers. Results are identical to preparing on the request's thread (same `prepareBody`).
 * `ingest.prepare_threads: 0` keeps everything on the request's thread.
 */
import { Worker } from "node:worker_threads";
import type { Result } from "@identrail/core";
import type { SourceName } from "@identrail/schema";
import type { BodyError } from "./body";
import type { PreparedIngest } from "./prepare";

export interface PrepareJob {
  source: SourceName;
  body: Buffer;
  encoding?: string;
  cluster: string;
  maxDecompressedBytes: number;
  /** Route records with `routeRecord` (the HTTP collector does; GKE entries via /ingest/gcp-audit). */
  routed: boolean;
  /** Partition counts of the topics the records may go to; a topic left out gets v1 envelopes. */
  partitions: [string, number][];
  /** The body is an Amazon Data Firehose delivery (firehose.ts). */
  firehose?: boolean;
}

export type PrepareRequest = Omit<PrepareJob, "body"> & { id: number; body: Uint8Array };
export type PrepareReply =
  | { id: number; ok: true; prepared: PreparedIngest }
  | { id: number; ok: false; error: BodyError }
  | { id: number; ok: false; crash: string };

export type PrepareOutcome = Result<PreparedIngest, BodyError>;

/** The pool already holds `maxQueuedBytes` of bodies waiting or being prepared. */
export class PoolBusyError extends Error {
  constructor() {
    super("collector prepare threads are at capacity");
  }
}

interface Slot {
  worker: Worker | undefined;
  pending: Map<number, { resolve: (r: PrepareOutcome) => void; reject: (e: Error) => void; bytes: number }>;
}

export class PreparePool {
  private slots: Slot[];
  private seq = 0;
  private closed = false;
  private queuedBytes = 0;

  /**
   * `maxQueuedBytes` bounds the bodies (as received, before decompression) waiting for or being prepared
   * (`ingest.max_queued_bytes`). Without prepare threads a saturated collector stops reading sockets and
   * TCP pushes back on senders; with them the HTTP thread keeps reading, so the queue needs its own
   * bound. Past it a request is answered 503 `collector_busy` (retryable) rather than held in memory.
   */
  constructor(
    readonly threads: number,
    private readonly maxQueuedBytes: number,
  ) {
    this.slots = Array.from({ length: Math.max(1, threads) }, () => ({
      worker: undefined,
      pending: new Map(),
    }));
  }

  /**
   * Prepares one body on the least busy thread. Rejects with PoolBusyError when the queue is full (one
   * body is always taken, however large), otherwise only if that thread failed (a bug, or it died). The
   * body's memory is taken over when the Buffer owns all of it: the caller must not read it afterwards.
   */
  run(job: PrepareJob): Promise<PrepareOutcome> {
    if (this.closed) return Promise.reject(new Error("prepare pool closed"));
    const bytes = job.body.byteLength;
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueuedBytes)
      return Promise.reject(new PoolBusyError());
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const w = this.start(slot);
    const id = ++this.seq;
    // Transfer the body's memory when it owns all of it; a slice of a shared pool (small bodies come from
    // Buffer's 8 KB pool) is copied instead, since transferring would detach the whole pool.
    const b = job.body;
    const owns =
      b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer);
    const body = owns ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b);
    const req: PrepareRequest = { ...job, id, body };
    this.queuedBytes += bytes;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, bytes });
      w.ref();
      w.postMessage(req, [body.buffer as ArrayBuffer]);
    });
  }

  private start(slot: Slot): Worker {
    if (slot.worker) return slot.worker;
    const w = new Worker(new URL("./prepare-worker-entry.mjs", import.meta.url), {
      // Not the parent's loader flags: the entry registers tsx itself.
      execArgv: [],
    });
    w.on("message", (r: PrepareReply) => {
      const p = slot.pending.get(r.id);
      if (!p) return;
      slot.pending.delete(r.id);
      this.queuedBytes -= p.bytes;
      if (!slot.pending.size) w.unref();
      if (r.ok) p.resolve({ ok: true, value: r.prepared });
      else if ("error" in r) p.resolve({ ok: false, error: r.error });
      else p.reject(new Error(`collector prepare thread failed: ${r.crash}`));
    });
    const fail = (e: Error) => {
      if (slot.worker === w) slot.worker = undefined;
      for (const p of slot.pending.values()) {
        this.queuedBytes -= p.bytes;
        p.reject(e);
      }
      slot.pending.clear();
    };
    w.on("error", (e) => fail(e));
    w.on("exit", (code) => fail(new Error(`collector prepare thread exited (code ${code})`)));
    w.unref();
    slot.worker = w;
    return w;
  }

  /** Starts every thread now (each loads the parsers once), instead of on its first request. */
  warm() {
    for (const s of this.slots) this.start(s);
  }

  async close() {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        s.worker = undefined;
        if (w) await w.terminate();
      }),
    );
  }
}
