import type {} from "@fastify/swagger";
/**
 * HTTP push ingestion: one endpoint per source. A request is answered 200 only after every usable record
 * was acknowledged by the bus (Kafka acks=all, or fsync on the local bus); records that fail validation
 * go to the dead-letter topic with their reason, and the response counts both.
 */
import { type Bus, type BusMessage, partitionFor } from "@identrail/bus";
import type { Config } from "@identrail/config";
import { metrics, reasonLabel, stableId } from "@identrail/core";
import { type Authenticate, httpError, requireScope } from "@identrail/http";
import { type DeadLetter, type RawEnvelope, type SourceName, Topics } from "@identrail/schema";
import { parserFor, preview, type SourceParser } from "@identrail/sources";
import type { FastifyInstance } from "fastify";
import { decodeUtf8, decompress } from "./body";

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
/**
 * Upper bound on the records' text in one packed (v2) message, in UTF-16 code units. Kafka rejects
 * messages over the broker's `message.max.bytes` (default 1048588 bytes, ~1 MB:
 * https://kafka.apache.org/documentation/#brokerconfigs_message.max.bytes) and the topic's
 * `max.message.bytes`; a code unit is at most 3 UTF-8 bytes, so 256 Ki units stay under 768 KiB even for
 * non-ASCII text, and are 256 KiB for the ASCII that audit logs mostly are. A single record larger than
 * this travels alone, as it would have in a v1 envelope.
 */
export const PACK_MAX_CHARS = 256 * 1024;

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

/** What one body or file chunk turns into: the messages per topic, its dead letters, and the answer. */
export interface PreparedIngest {
  source: SourceName;
  byTopic: Map<string, BusMessage[]>;
  /** Records per topic (a packed message carries several). */
  records: Map<string, number>;
  dead: DeadLetter[];
  accepted: number;
  errors: { index: number; reason: string }[];
}

/**
 * The CPU part of ingestion (decode → accept → redact → envelope), with nothing sent yet, so a caller can
 * prepare the next chunk while the previous one is being acknowledged (the file tailer does).
 */
export function prepareIngest(
  deps: IngestDeps,
  parser: SourceParser,
  text: string,
  cluster: string,
  extraErrors: { index: number; reason: string }[] = [],
): PreparedIngest {
  const receivedAt = new Date().toISOString();
  let decoded: ReturnType<SourceParser["decode"]>;
  try {
    decoded = parser.decode(text);
  } catch {
    // Parsers never throw by contract; if one does, the request is unusable rather than a crash.
    decoded = { records: [], errors: [{ index: 0, reason: "record could not be decoded" }] };
  }
  const { records, errors, texts } = decoded;
  const allErrors = [...extraErrors, ...errors.map((e) => ({ index: e.index, reason: e.reason }))];
  const byTopic = new Map<string, BusMessage[]>();
  const pending = new Map<string, { source: SourceName; keys: string[]; jsons: (string | undefined)[] }>();
  const dead: DeadLetter[] = errors.map((e) =>
    deadLetter(parser.source, e.reason, e.payload ?? "", receivedAt),
  );
  for (const e of extraErrors) dead.push(deadLetter(parser.source, e.reason, "", receivedAt));
  let accepted = 0;
  // Envelope text per source: a prefix serialized once per request, then the record's own stringify —
  // the same bytes as JSON.stringify({ v, source, cluster, received_at, record }) (key order is insertion
  // order, ECMA-262 §25.5.2) without an envelope object and its fixed fields per record.
  const heads = new Map<SourceName, string>();
  const envelopeHead = (source: SourceName) => {
    let h = heads.get(source);
    if (h === undefined) {
      const text = JSON.stringify({ v: 1, source, cluster, received_at: receivedAt, record: 0 });
      h = text.slice(0, text.length - 2); // drop the placeholder `0}`
      heads.set(source, h);
    }
    return h;
  };
  for (let index = 0; index < records.length; index++) {
    const record = records[index];
    let r: ReturnType<SourceParser["accept"]>;
    try {
      r = parser.accept(record);
    } catch {
      r = { ok: false, error: "record could not be validated" };
    }
    if (!r.ok) {
      allErrors.push({ index, reason: r.error });
      dead.push(
        deadLetter(parser.source, r.error, parser.redact ? preview(parser.redact(record)) : "", receivedAt),
      );
      continue;
    }
    const source = deps.route ? deps.route(parser.source, r.value.record) : parser.source;
    // A whole NDJSON line that accept handed back unchanged travels as written: re-serializing it would
    // cost as much as parsing it and produce the same JSON value (DecodeResult.texts).
    const own = texts?.[index];
    const recordJson = own !== undefined && r.value.record === record ? own : JSON.stringify(r.value.record);
    const topic = Topics.raw(source);
    let p = pending.get(topic);
    if (!p) pending.set(topic, (p = { source, keys: [], jsons: [] }));
    p.keys.push(r.value.key);
    p.jsons.push(recordJson);
    accepted++;
  }
  const counts = new Map<string, number>();
  for (const [topic, { source, keys, jsons }] of pending) {
    counts.set(topic, keys.length);
    // Until the bus knows the topic's partition count (a topic not created yet: the first keyed produce
    // creates it), one v1 envelope per record, placed by its key as before.
    const partitions = deps.bus.partitionCount(topic);
    byTopic.set(
      topic,
      partitions === undefined
        ? keys.map((key, i) => ({
            key,
            // An undefined record (never from a parser today) leaves `record` out of a v1 envelope.
            value:
              jsons[i] === undefined
                ? JSON.stringify({ v: 1, source, cluster, received_at: receivedAt } as RawEnvelope)
                : `${envelopeHead(source)}${jsons[i]}}`,
          }))
        : packByPartition(keys, jsons, partitions, packedHead(source, cluster, receivedAt)),
    );
  }
  return { source: parser.source, byTopic, records: counts, dead, accepted, errors: allErrors };
}

/** `{"v":2,"source":…,"cluster":…,"received_at":…,"records":` — a v2 envelope up to its records array. */
function packedHead(source: SourceName, cluster: string, receivedAt: string): string {
  const text = JSON.stringify({ v: 2, source, cluster, received_at: receivedAt, records: 0 });
  return text.slice(0, text.length - 2);
}

/**
 * One v2 envelope per partition (split past PACK_MAX_CHARS) instead of one message per record: kafkajs
 * encodes and checksums every message in JavaScript, and a request's records rarely share a principal but
 * always share the topic's few partitions. Each message names its partition explicitly — the one every
 * record in it maps to under the producer's partitioner (`partitionFor` is that function, and the count is
 * the producer's) — so a principal's records stay on one partition, in request order, and its key (the
 * first record's) only serves readers. The value is the same text as JSON.stringify of the v2 envelope
 * object; an undefined record becomes `null`, as JSON.stringify writes it in an array (ECMA-262 §25.5.2.6).
 */
export function packByPartition(
  keys: string[],
  jsons: (string | undefined)[],
  partitions: number,
  head: string,
  maxChars = PACK_MAX_CHARS,
): BusMessage[] {
  const groups = new Map<number, { key: string; parts: string[]; chars: number }>();
  const out: BusMessage[] = [];
  const flush = (partition: number, g: { key: string; parts: string[] }) => {
    out.push({ key: g.key, partition, value: `${head}[${g.parts.join(",")}]}` });
  };
  for (let i = 0; i < keys.length; i++) {
    const json = jsons[i] ?? "null";
    const partition = partitionFor(keys[i], partitions);
    let g = groups.get(partition);
    if (g && g.chars + json.length + 1 > maxChars) {
      flush(partition, g);
      g = undefined;
    }
    if (!g) groups.set(partition, (g = { key: keys[i], parts: [], chars: 0 }));
    g.parts.push(json);
    g.chars += json.length + 1;
  }
  for (const [partition, g] of groups) flush(partition, g);
  return out;
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
  for (const [topic, msgs] of byTopic) sends.push(deps.bus.produce(topic, msgs));
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

function deadLetter(source: string, reason: string, payload: string, time: string): DeadLetter {
  return {
    id: stableId("dl", source, reason, payload, time, Math.random()),
    time,
    stage: "collector",
    source,
    reason,
    payload,
  };
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
  app.addHook("onRequest", requireScope(deps.authenticate, "ingest"));

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
      const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
      if (ct && !parser.contentTypes.includes(ct) && !FILE_TYPES.has(ct))
        throw httpError("unsupported_media_type", `use one of ${parser.contentTypes.join(", ")}`);
      const body = req.body as Buffer | undefined;
      if (!body || body.length === 0) throw httpError("invalid_body", "empty body");
      const dec = decompress(
        body,
        req.headers["content-encoding"] as string | undefined,
        config.ingest.max_decompressed_bytes,
      );
      if (!dec.ok) throw httpError(dec.error.code, dec.error.detail);
      const { text, badLines } = decodeUtf8(dec.value);
      const extra = badLines.map((n) => ({ index: n, reason: `line ${n + 1}: invalid UTF-8` }));
      let result: IngestResult;
      try {
        result = await withDeadline(
          ingestText(deps, parser, text, cluster, extra),
          config.ingest.produce_timeout,
        );
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
