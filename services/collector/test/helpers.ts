import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Bus, ConsumedMessage } from "@identrail/bus";
import { type Config, parseConfig } from "@identrail/config";
import { createAuthenticator, installErrorHandler } from "@identrail/http";
import { routeRecord } from "@identrail/sources";
import Fastify, { type FastifyInstance } from "fastify";
import { ingestRoutes } from "../src/ingest";

export function tempDir(prefix = "identrail-collector-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function testConfig(dataDir: string, overrides: Record<string, unknown> = {}): Config {
  return parseConfig({ data_dir: dataDir, default_cluster: "test", ...overrides });
}

/** One audit.k8s.io/v1 Event as the apiserver's log backend writes it (one JSON object per line). */
export function auditLine(id: string, pad = 0): string {
  return JSON.stringify({
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    auditID: id,
    stage: "ResponseComplete",
    requestURI: `/api/v1/namespaces/ml/secrets/s3-creds${"x".repeat(pad)}`,
    verb: "get",
    user: { username: "system:serviceaccount:ml:trainer", groups: ["system:serviceaccounts"] },
    sourceIPs: ["192.0.2.10"],
    objectRef: { resource: "secrets", namespace: "ml", name: "s3-creds", apiVersion: "v1" },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: "2026-11-24T10:00:00.000000Z",
    stageTimestamp: "2026-11-24T10:00:00.010000Z",
  });
}

/**
 * Everything on a topic right now, read by a fresh consumer group. `expect` is how many records the
 * caller knows were acknowledged (a packed v2 raw envelope counts its records, any other message one);
 * we read until we have at least that many (a produce that resolved is already on the log, so this never
 * waits on the code under test).
 */
export async function readTopic(
  bus: Bus,
  topic: string,
  expect: number,
  timeoutMs = 10_000,
): Promise<ConsumedMessage[]> {
  const got: ConsumedMessage[] = [];
  let n = 0;
  let resolve!: () => void;
  const enough = new Promise<void>((r) => {
    resolve = r;
  });
  const handle = await bus.consume({
    groupId: `read-${Math.random().toString(36).slice(2)}`,
    topics: [topic],
    handler: async (b) => {
      got.push(...b.messages);
      for (const m of b.messages) n += recordsIn(m.value);
      if (n >= expect) resolve();
    },
  });
  const timer = setTimeout(resolve, timeoutMs);
  await enough;
  clearTimeout(timer);
  await handle.stop();
  return got;
}

function recordsIn(value: string): number {
  try {
    const env = JSON.parse(value);
    return env?.v === 2 && Array.isArray(env.records) ? env.records.length : 1;
  } catch {
    return 1;
  }
}

/** The source records of raw envelopes (v1: `record`; v2: each of `records`), in log order. */
export function rawRecords(msgs: ConsumedMessage[]): unknown[] {
  return msgs.flatMap((m) => {
    const env = JSON.parse(m.value);
    return env.v === 2 ? env.records : [env.record];
  });
}

/** auditIDs of the raw k8s-audit records on the topic, in log order. */
export function auditIds(msgs: ConsumedMessage[]): string[] {
  return rawRecords(msgs).map((r) => (r as { auditID: string }).auditID);
}

export async function eventually<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met in ${timeoutMs}ms${last ? `: ${(last as Error).message}` : ""}`);
}

/** A fastify app with only the ingest routes, as the collector registers them (GKE routing included). */
export async function ingestApp(bus: Bus, config: Config): Promise<FastifyInstance> {
  const app = Fastify();
  installErrorHandler(app);
  await app.register(ingestRoutes, {
    bus,
    config,
    authenticate: createAuthenticator(config.auth),
    route: routeRecord,
  });
  await app.ready();
  return app;
}
