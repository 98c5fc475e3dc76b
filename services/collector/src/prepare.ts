/**
 * The CPU part of ingestion, with nothing sent: decode → accept → redact → envelope. Pure apart from
 * asking the bus for partition counts, so it runs the same on a request's thread and on the collector's
 * prepare threads (prepare-pool.ts).
 */
import { type Bus, type BusMessage, MAX_PARTITION_SEND_BYTES, partitionFor } from "@identrail/bus";
import { ok, type Result, stableId } from "@identrail/core";
import { type DeadLetter, type RawEnvelope, type SourceName, Topics } from "@identrail/schema";
import { preview, type SourceParser } from "@identrail/sources";
import { type BodyError, decodeUtf8, decompress, invalidUtf8Errors } from "./body";
import { unwrapFirehose } from "./firehose";

/** What preparing needs from the collector: partition counts, and where a record is routed. */
export interface PrepareDeps {
  bus: Pick<Bus, "partitionCount">;
  /** Lets a source parser be reached under another route (GKE k8s.io entries via /ingest/gcp-audit). */
  route?: (source: SourceName, record: unknown) => SourceName;
}

/**
 * Upper bound on the records' text in one packed (v2) message, in UTF-16 code units. Kafka rejects
 * messages over the broker's `message.max.bytes` (default 1048588 bytes, ~1 MB:
 * https://kafka.apache.org/documentation/#brokerconfigs_message.max.bytes) and the topic's
 * `max.message.bytes`; a code unit is at most 3 UTF-8 bytes, so 256 Ki units stay under 768 KiB even for
 * non-ASCII text, and are 256 KiB for the ASCII that audit logs mostly are. A single record larger than
 * this travels alone, as it would have in a v1 envelope.
 */
export const PACK_MAX_CHARS = 256 * 1024;

/**
 * Largest record the collector publishes, in UTF-8 bytes of its JSON: it travels alone in a message that
 * must fit a partition's share of one send (MAX_PARTITION_SEND_BYTES, under Kafka's ~1 MiB default
 * `message.max.bytes`) with its envelope around it.
 */
export const MAX_RECORD_BYTES = MAX_PARTITION_SEND_BYTES - 4096;

/** What one body or file chunk turns into: the messages per topic, its dead letters, and the answer. */
export interface PreparedIngest {
  source: SourceName;
  byTopic: Map<string, BusMessage[]>;
  /** Records per topic (a packed message carries several). */
  records: Map<string, number>;
  dead: DeadLetter[];
  accepted: number;
  errors: { index: number; reason: string }[];
  /**
   * Topics whose partition count was unknown (v1 envelopes, one per record), with what packing their
   * records needs once the count is known: publishIngest sends the first record alone, which creates the
   * topic and teaches the bus its count, and packs the rest.
   */
  unpacked?: Map<string, UnpackedRecords>;
}

/** A topic's records as prepareIngest had them before enveloping, and its v2 envelope head. */
export interface UnpackedRecords {
  keys: string[];
  jsons: (string | undefined)[];
  head: string;
}

/**
 * The CPU part of ingestion (decode → accept → redact → envelope), with nothing sent yet, so a caller can
 * prepare the next chunk while the previous one is being acknowledged (the file tailer does).
 */
export function prepareIngest(
  deps: PrepareDeps,
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
    // A record no single Kafka message can hold would be refused by the broker on every retry (and hold
    // the request or the file tailer there forever): it goes to the dead letters instead. Length first:
    // a UTF-16 unit is at most 3 UTF-8 bytes, so only very long texts need counting.
    if (
      recordJson !== undefined &&
      recordJson.length > MAX_RECORD_BYTES / 3 &&
      Buffer.byteLength(recordJson) > MAX_RECORD_BYTES
    ) {
      const reason = `record larger than one bus message (over ${MAX_RECORD_BYTES} bytes): ${Buffer.byteLength(recordJson)} bytes`;
      allErrors.push({ index, reason });
      dead.push(deadLetter(parser.source, reason, preview(r.value.record), receivedAt));
      continue;
    }
    const topic = Topics.raw(source);
    let p = pending.get(topic);
    if (!p) pending.set(topic, (p = { source, keys: [], jsons: [] }));
    p.keys.push(r.value.key);
    p.jsons.push(recordJson);
    accepted++;
  }
  const counts = new Map<string, number>();
  let unpacked: PreparedIngest["unpacked"];
  for (const [topic, { source, keys, jsons }] of pending) {
    counts.set(topic, keys.length);
    // Until the bus knows the topic's partition count (a topic not created yet: the first keyed produce
    // creates it), one v1 envelope per record, placed by its key as before.
    const partitions = deps.bus.partitionCount(topic);
    if (partitions === undefined && keys.length > 1)
      (unpacked ??= new Map()).set(topic, { keys, jsons, head: packedHead(source, cluster, receivedAt) });
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
  return { source: parser.source, byTopic, records: counts, dead, accepted, errors: allErrors, unpacked };
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

/**
 * An HTTP body as received (possibly gzip/deflate, possibly with invalid UTF-8 lines) prepared for
 * publishing; fails only when the body itself is unusable (bad compression, over the size limit).
 */
export function prepareBody(
  deps: PrepareDeps,
  parser: SourceParser,
  body: Buffer,
  contentEncoding: string | undefined,
  cluster: string,
  maxDecompressedBytes: number,
  firehose = false,
): Result<PreparedIngest, BodyError> {
  const dec = decompress(body, contentEncoding, maxDecompressedBytes);
  if (!dec.ok) return dec;
  const { text, badLines } = decodeUtf8(dec.value);
  if (!firehose) return ok(prepareIngest(deps, parser, text, cluster, invalidUtf8Errors(badLines)));
  // A Firehose delivery (firehose.ts): the records inside the envelope are the body.
  const fh = unwrapFirehose(text, maxDecompressedBytes);
  if (!fh.ok) return fh;
  return ok(
    prepareIngest(deps, parser, fh.value.text, cluster, [...invalidUtf8Errors(badLines), ...fh.value.errors]),
  );
}
