import type {} from "@fastify/swagger";
/**
 * HTTP push ingestion: one endpoint per source. A request is answered 200 only after every usable record
 * was acknowledged by the bus (Kafka acks=all, or fsync on the local bus); records that fail validation
 * go to the dead-letter topic with their reason, and the response counts both.
 */
import type { Bus, BusMessage } from "@identrail/bus";
import type { Config } from "@identrail/config";
import { metrics, reasonLabel } from "@identrail/core";
import { type Authenticate, httpError, requireScope } from "@identrail/http";
import { type SourceName, Topics } from "@identrail/schema";
import { parserFor, routeTargets, type SourceParser } from "@identrail/sources";
import type { FastifyInstance } from "fastify";
import { FIREHOSE_ACCESS_KEY, FIREHOSE_REQUEST_ID, firehoseAnswer } from "./firehose";
import {
  type PreparedIngest,
  packByPartition,
  prepareBody,
  prepareIngest,
  type UnpackedRecords,
} from "./prepare";
import { PoolBusyError, type PrepareOutcome, PreparePool } from "./prepare-pool";

export * from "./prepare";

/** Endpoint path → source name. The path names are part of the public contract. */
export const INGEST_ROUTES: Record<string, SourceName> = {
  "k8s-audit": "k8s-audit",
  vault: "vault",
  cloudtrail: "cloudtrail",
  "gcp-audit": "gcp-audit",
  "azure-keyvault": "azure-keyvault",
  "s3-access": "s3-access",
  minio: "minio",
};

const MAX_ERRORS_REPORTED = 100;
/**
 * Types a forwarder uses when it posts a log file as it found it (S3 objects default to
 * binary/octet-stream; CloudTrail .json.gz files go out as application/gzip or x-gzip; `curl
 * --data-binary @file` without -H sends x-www-form-urlencoded): the parser reads the bytes as they are,
 * and gzip is recognised by its magic number.
 */
const FILE_TYPES = new Set([
  "application/octet-stream",
  "binary/octet-stream",
  "application/gzip",
  "application/x-gzip",
  "application/x-www-form-urlencoded",
]);
const CLUSTER_RE = /^[A-Za-z0-9._-]{1,128}$/;
export interface IngestResult {
  accepted: number;
  rejected: number;
  errors: { index: number; reason: string }[];
}

export interface IngestDeps {
  bus: Bus;
  config: Config;
  /** Lets a source parser be reached under another route (GKE k8s.io entries via /ingest/gcp-audit). */
  route?: (source: SourceName, record: unknown) => SourceName;
}

/** Core of every ingest path (HTTP and file tailers): decode, validate, redact, publish. */
export async function ingestText(
  deps: IngestDeps,
  parser: SourceParser,
  text: string,
  cluster: string,
  extraErrors: { index: number; reason: string }[] = [],
): Promise<IngestResult> {
  return publishIngest(deps, prepareIngest(deps, parser, text, cluster, extraErrors));
}

/** Publishes a prepared chunk; resolves once the bus acknowledged all of it, rejects otherwise. */
export async function publishIngest(deps: IngestDeps, p: PreparedIngest): Promise<IngestResult> {
  const { byTopic, records, dead, accepted, errors: allErrors } = p;
  // Dead letters first: if the bus fails we answer 503 and the client retries the whole request.
  const sends: Promise<void>[] = [];
  if (dead.length)
    sends.push(
      deps.bus.produce(
        Topics.deadLetters,
        dead.map((d) => ({ key: d.source, value: JSON.stringify(d) })),
      ),
    );
  for (const [topic, msgs] of byTopic) {
    const u = p.unpacked?.get(topic);
    sends.push(u && msgs.length > 1 ? publishUnpacked(deps, topic, msgs, u) : deps.bus.produce(topic, msgs));
  }
  await Promise.all(sends);
  // Records, not messages: a packed message carries many.
  for (const [topic, n] of records) metrics.busProduced.inc({ topic }, n);
  metrics.ingestRecords.inc({ source: p.source, outcome: "accepted" }, accepted);
  if (allErrors.length)
    metrics.ingestRecords.inc({ source: p.source, outcome: "rejected" }, allErrors.length);
  for (const d of dead)
    metrics.deadLetters.inc({ stage: "collector", source: d.source, reason: reasonLabel(d.reason) });
  return { accepted, rejected: allErrors.length, errors: allErrors.slice(0, MAX_ERRORS_REPORTED) };
}

/**
 * A topic whose partition count was not known when the records were prepared (a new topic: the first
 * keyed produce creates it). The first record goes alone, as its v1 envelope; its answer carries the
 * count (KafkaBus learns it from the producer's send), and the rest are packed per partition. Order per
 * key is kept: the first record is acknowledged before any other is sent.
 */
async function publishUnpacked(
  deps: IngestDeps,
  topic: string,
  msgs: BusMessage[],
  u: UnpackedRecords,
): Promise<void> {
  await deps.bus.produce(topic, [msgs[0]]);
  const n = deps.bus.partitionCount(topic);
  await deps.bus.produce(
    topic,
    n === undefined ? msgs.slice(1) : packByPartition(u.keys.slice(1), u.jsons.slice(1), n, u.head),
  );
}

export async function ingestRoutes(app: FastifyInstance, deps: IngestDeps & { authenticate: Authenticate }) {
  const { config } = deps;
  // Every body is read raw, whatever its declared type, so each parser sees the exact bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    "*",
    { parseAs: "buffer", bodyLimit: config.ingest.max_body_bytes },
    (_req, body, done) => done(null, body),
  );
  const scope = requireScope(deps.authenticate, "ingest");
  app.addHook("onRequest", (req, reply) => {
    // Firehose cannot send an Authorization header: its configured access key (the ingest token) arrives
    // in X-Amz-Firehose-Access-Key (firehose.ts).
    const key = req.headers[FIREHOSE_ACCESS_KEY];
    if (req.headers.authorization === undefined && typeof key === "string" && key)
      req.headers.authorization = `Bearer ${key}`;
    return scope(req, reply);
  });
  // Firehose counts a delivery as done only on a 200 whose body is {requestId, timestamp}, and logs the
  // errorMessage of any other answer: every answer to a Firehose request, errors included, takes that form.
  app.addHook("onSend", async (req, reply, payload) => {
    const id = req.headers[FIREHOSE_REQUEST_ID];
    if (typeof id !== "string") return payload;
    let message: string | undefined;
    if (reply.statusCode !== 200) {
      try {
        const body = JSON.parse(String(payload)) as { error?: { code?: string; message?: string } };
        message =
          [body.error?.code, body.error?.message].filter(Boolean).join(": ") || `HTTP ${reply.statusCode}`;
      } catch {
        message = `HTTP ${reply.statusCode}`;
      }
    }
    reply.header("content-type", "application/json");
    return firehoseAnswer(id.slice(0, 128), message);
  });
  const pool =
    config.ingest.prepare_threads > 0
      ? new PreparePool(config.ingest.prepare_threads, config.ingest.max_queued_bytes)
      : undefined;
  if (pool) {
    pool.warm();
    app.addHook("onClose", () => pool.close());
  }

  app.post<{ Params: { source: string }; Querystring: { cluster?: string } }>(
    "/ingest/:source",
    {
      bodyLimit: config.ingest.max_body_bytes,
      schema: {
        hide: false,
        summary: "Push source logs",
        params: {
          type: "object",
          properties: { source: { type: "string", enum: Object.keys(INGEST_ROUTES) } },
        },
        querystring: { type: "object", properties: { cluster: { type: "string" } } },
      },
    },
    async (req, reply) => {
      const source = INGEST_ROUTES[req.params.source];
      const parser = source ? parserFor(source) : undefined;
      if (!parser) throw httpError("not_found", "no such ingest endpoint");
      const cluster = req.query.cluster ?? config.default_cluster;
      if (!CLUSTER_RE.test(cluster))
        throw httpError("bad_request", "cluster must match [A-Za-z0-9._-]{1,128}");
      const firehose = typeof req.headers[FIREHOSE_REQUEST_ID] === "string";
      const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
      // A Firehose delivery is always a JSON envelope, whatever its records are.
      if (ct && !firehose && !parser.contentTypes.includes(ct) && !FILE_TYPES.has(ct))
        throw httpError("unsupported_media_type", `use one of ${parser.contentTypes.join(", ")}`);
      const body = req.body as Buffer | undefined;
      if (!body || body.length === 0) throw httpError("invalid_body", "empty body");
      const encoding = req.headers["content-encoding"] as string | undefined;
      const maxDecompressedBytes = config.ingest.max_decompressed_bytes;
      let prepared: PrepareOutcome;
      if (pool) {
        // Partition counts are read here, where the bus lives, for the topics this source's records
        // can be routed to; the thread packs records per partition with them.
        const partitions: [string, number][] = [];
        for (const s of routeTargets(source)) {
          const n = deps.bus.partitionCount(Topics.raw(s));
          if (n !== undefined) partitions.push([Topics.raw(s), n]);
        }
        try {
          prepared = await pool.run({
            source,
            body,
            encoding,
            cluster,
            maxDecompressedBytes,
            routed: deps.route !== undefined,
            partitions,
            firehose,
          });
        } catch (e) {
          if (e instanceof PoolBusyError) {
            metrics.ingestRequests.inc({ source, status: "503" });
            throw httpError("collector_busy");
          }
          req.log.error({ err: (e as Error).message }, "collector prepare thread failed");
          metrics.ingestRequests.inc({ source, status: "500" });
          throw httpError("internal");
        }
      } else prepared = prepareBody(deps, parser, body, encoding, cluster, maxDecompressedBytes, firehose);
      if (!prepared.ok) throw httpError(prepared.error.code, prepared.error.detail);
      let result: IngestResult;
      try {
        result = await withDeadline(publishIngest(deps, prepared.value), config.ingest.produce_timeout);
      } catch (e) {
        req.log.warn({ err: (e as Error).message }, "bus produce failed");
        metrics.ingestRequests.inc({ source, status: "503" });
        throw httpError("bus_unavailable");
      }
      const status = result.accepted === 0 && result.rejected > 0 ? 400 : 200;
      metrics.ingestRequests.inc({ source, status: String(status) });
      if (status === 400)
        return reply.status(400).send({
          ...result,
          error: { code: "invalid_body", message: "no usable record in the request", retryable: false },
        });
      return reply.send(result);
    },
  );
}

/** Rejects after `ms`; the underlying work is not cancelled (its outcome is idempotent downstream). */
export function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bus did not acknowledge within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
