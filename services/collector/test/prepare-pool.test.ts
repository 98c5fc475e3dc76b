/**
 * Prepare threads: a body prepared on a thread gives what preparing it on the request's thread gives
 * (records, envelopes, dead letters, errors; gzip; invalid UTF-8 lines; redaction; GKE routing), unusable
 * bodies come back as the same errors, a failed or killed thread rejects only its own jobs and is replaced,
 * and a small body sliced from Buffer's shared pool is copied, never transferred (which would detach the
 * pool under every other Buffer in it).
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Bus } from "@identrail/bus";
import { LocalBus } from "@identrail/bus";
import { Topics } from "@identrail/schema";
import { parserFor, routeRecord } from "@identrail/sources";
import { afterAll, describe, expect, it } from "vitest";
import { type PreparedIngest, prepareBody } from "../src/prepare";
import { PoolBusyError, type PrepareJob, PreparePool } from "../src/prepare-pool";
import { auditLine, ingestApp, readTopic, tempDir, testConfig } from "./helpers";

const pool = new PreparePool(2, 1 << 28);
afterAll(() => pool.close());

const secretLine = JSON.stringify({
  ...JSON.parse(auditLine("pool-secret")),
  level: "RequestResponse",
  responseObject: { kind: "Secret", apiVersion: "v1", data: { token: "c2VjcmV0LXZhbHVl" } },
});
const gkeEntry = {
  logName: "projects/p/logs/cloudaudit.googleapis.com%2Fdata_access",
  timestamp: "2026-11-20T10:00:00Z",
  resource: {
    type: "k8s_cluster",
    labels: { cluster_name: "gke-1", location: "us-central1", project_id: "p" },
  },
  protoPayload: {
    "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
    serviceName: "k8s.io",
    methodName: "io.k8s.core.v1.secrets.get",
    resourceName: "core/v1/namespaces/ml/secrets/db",
    authenticationInfo: { principalEmail: "system:serviceaccount:ml:trainer" },
    requestMetadata: { callerIp: "192.0.2.10" },
  },
  insertId: "gke-1",
};

/** A prepared body without what differs between two runs (receive time, random dead-letter ids). */
function comparable(p: PreparedIngest) {
  const topics = [...p.byTopic].map(([topic, msgs]) => ({
    topic,
    messages: msgs.map((m) => {
      const { received_at: _, ...env } = JSON.parse(m.value);
      return { key: m.key, partition: m.partition, env };
    }),
  }));
  return {
    source: p.source,
    topics,
    records: [...p.records],
    dead: p.dead.map(({ id: _i, time: _t, ...d }) => d),
    accepted: p.accepted,
    errors: p.errors,
  };
}

function job(source: PrepareJob["source"], body: Buffer, extra: Partial<PrepareJob> = {}): PrepareJob {
  return {
    source,
    body,
    cluster: "prod",
    maxDecompressedBytes: 1 << 20,
    routed: true,
    partitions: [[Topics.raw(source), 3]],
    ...extra,
  };
}

function inline(j: PrepareJob) {
  const partitions = new Map(j.partitions);
  return prepareBody(
    { bus: { partitionCount: (t) => partitions.get(t) }, route: j.routed ? routeRecord : undefined },
    parserFor(j.source)!,
    Buffer.from(j.body), // a copy: the pool takes the original's memory
    j.encoding,
    j.cluster,
    j.maxDecompressedBytes,
  );
}

describe("prepare pool", () => {
  const eventList = JSON.stringify({
    kind: "EventList",
    apiVersion: "audit.k8s.io/v1",
    items: [JSON.parse(auditLine("pool-1")), JSON.parse(secretLine), { kind: "Event", auditID: "no-user" }],
  });
  const cases: [string, PrepareJob, string][] = [
    [
      "an EventList with a Secret response and an invalid record",
      job("k8s-audit", Buffer.from(eventList)),
      Topics.raw("k8s-audit"),
    ],
    [
      "gzipped NDJSON with an invalid UTF-8 line",
      job(
        "k8s-audit",
        gzipSync(
          Buffer.concat([
            Buffer.from(`${auditLine("pool-2")}\n`),
            Buffer.from([0xc3, 0x28, 0x0a]),
            Buffer.from(`${auditLine("pool-3", 5)}\n`),
          ]),
        ),
        { encoding: "gzip" },
      ),
      Topics.raw("k8s-audit"),
    ],
    [
      "a GKE k8s.io entry posted as gcp-audit (routed to the Kubernetes topic, count unknown there)",
      job("gcp-audit", Buffer.from(JSON.stringify({ entries: [gkeEntry] }))),
      Topics.raw("k8s-audit"),
    ],
  ];

  it.each(cases)("%s: same result as on the request's thread", async (_name, j, topic) => {
    const expected = inline(j);
    const got = await pool.run(j);
    expect(got.ok && expected.ok).toBe(true);
    if (got.ok) expect([...got.value.byTopic.keys()]).toEqual([topic]);
    if (got.ok && expected.ok) expect(comparable(got.value)).toEqual(comparable(expected.value));
    if (got.ok) expect(JSON.stringify([...got.value.byTopic])).not.toContain("c2VjcmV0LXZhbHVl");
  });

  it("answers unusable bodies with the same errors", async () => {
    const bad = await pool.run(
      job("k8s-audit", Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3]), { encoding: "gzip" }),
    );
    expect(bad).toEqual({ ok: false, error: expect.objectContaining({ code: "invalid_body" }) });
    const bomb = await pool.run(
      job("k8s-audit", gzipSync(Buffer.alloc(1 << 21, 32)), {
        encoding: "gzip",
        maxDecompressedBytes: 1 << 20,
      }),
    );
    expect(bomb).toEqual({ ok: false, error: expect.objectContaining({ code: "payload_too_large" }) });
  });

  it("copies a body that shares Buffer's pool instead of detaching the pool", async () => {
    const small = Buffer.from(auditLine("pool-small"));
    const neighbour = Buffer.from("still here");
    expect(small.buffer).toBe(neighbour.buffer); // both slices of the same 8 KB pool
    const r = await pool.run(job("k8s-audit", small));
    expect(r.ok && r.value.accepted).toBe(1);
    expect(neighbour.toString()).toBe("still here");
    expect(small.byteLength).toBeGreaterThan(0);
  });

  it("a failing or killed thread rejects its job and is replaced", async () => {
    await expect(pool.run(job("no-such-source" as PrepareJob["source"], Buffer.from("{}")))).rejects.toThrow(
      /prepare thread failed/,
    );
    const one = new PreparePool(1, 1 << 28);
    try {
      const pending = one.run(job("k8s-audit", Buffer.from(auditLine("pool-kill"))));
      // Reaching the thread to kill it, as an out-of-memory abort or a native crash would.
      await (
        one as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }
      ).slots[0].worker.terminate();
      await expect(pending).rejects.toThrow(/exited/);
      const again = await one.run(job("k8s-audit", Buffer.from(auditLine("pool-again"))));
      expect(again.ok && again.value.accepted).toBe(1);
    } finally {
      await one.close();
    }
  });

  it("refuses bodies past its queue limit (always taking one) and takes them again once it drains", async () => {
    const bounded = new PreparePool(1, 1000);
    try {
      const first = bounded.run(job("k8s-audit", Buffer.from(eventList))); // larger than the limit, queue empty
      await expect(bounded.run(job("k8s-audit", Buffer.from(auditLine("q-1"))))).rejects.toBeInstanceOf(
        PoolBusyError,
      );
      expect((await first).ok).toBe(true);
      const again = await bounded.run(job("k8s-audit", Buffer.from(auditLine("q-2"))));
      expect(again.ok && again.value.accepted).toBe(1);
    } finally {
      await bounded.close();
    }
  });

  it("HTTP: a request past the queue limit gets 503 collector_busy, retryable", async () => {
    const TOKEN = "idt_test_prepare_pool_busy_01";
    const dir = tempDir();
    const config = testConfig(dir, {
      auth: { tokens: [{ name: "t", scopes: ["ingest"], token: TOKEN }] },
      ingest: { prepare_threads: 1, max_queued_bytes: 1 },
    });
    const bus: Bus = new LocalBus(join(dir, "bus"));
    const app = await ingestApp(bus, config);
    try {
      const big = JSON.stringify({
        kind: "EventList",
        items: Array.from({ length: 3000 }, (_, i) => JSON.parse(auditLine(`busy-${i}`))),
      });
      const post = (payload: string) =>
        app.inject({
          method: "POST",
          url: "/ingest/k8s-audit",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          payload,
        });
      // Whichever reaches the queue second is refused (the first is always taken).
      const answers = await Promise.all([post(big), post(auditLine("busy-late"))]);
      expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 503]);
      const refused = answers.find((r) => r.statusCode === 503);
      expect(refused?.json().error).toMatchObject({ code: "collector_busy", retryable: true });
      expect((await post(auditLine("busy-after"))).statusCode).toBe(200);
    } finally {
      await app.close();
      await bus.close();
    }
  });

  it("HTTP ingestion answers and publishes the same with and without prepare threads", async () => {
    const TOKEN = "idt_test_prepare_pool_000001";
    const answers: unknown[] = [];
    const records: unknown[][] = [];
    for (const threads of [0, 2]) {
      const dir = tempDir();
      const config = testConfig(dir, {
        auth: { tokens: [{ name: "t", scopes: ["ingest"], token: TOKEN }] },
        ingest: { prepare_threads: threads },
      });
      const bus: Bus = new LocalBus(join(dir, "bus"));
      const app = await ingestApp(bus, config);
      try {
        const r = await app.inject({
          method: "POST",
          url: "/ingest/k8s-audit?cluster=prod",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          payload: eventList,
        });
        expect(r.statusCode).toBe(200);
        answers.push(r.json());
        const got = await readTopic(bus, Topics.raw("k8s-audit"), 1);
        records.push(got.flatMap((m) => JSON.parse(m.value).records));
        const gz = await app.inject({
          method: "POST",
          url: "/ingest/k8s-audit",
          headers: { authorization: `Bearer ${TOKEN}`, "content-encoding": "gzip" },
          payload: Buffer.from([0x1f, 0x8b, 0x08, 0x00, 9, 9]),
        });
        expect(gz.statusCode).toBe(400);
      } finally {
        await app.close();
        await bus.close();
      }
    }
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0]).toMatchObject({ accepted: 2, rejected: 1 });
    expect(records[1]).toEqual(records[0]);
    expect(records[0]).toHaveLength(2);
  });
});
