/**
 * Amazon Data Firehose HTTP endpoint delivery: a Firehose stream (fed by a CloudWatch Logs subscription —
 * EKS audit logs, a CloudTrail trail's log group — by EventBridge, or by direct PUT) posts batches to an
 * ingest endpoint as
 *
 *   POST /ingest/<source>   X-Amz-Firehose-Request-Id: <guid>   X-Amz-Firehose-Access-Key: <token>
 *   {"requestId":"<guid>","timestamp":<ms>,"records":[{"data":"<base64>"},…]}
 *
 * and expects 200 with `{"requestId":"<same>","timestamp":<ms>}`; anything else (with `errorMessage`) is a
 * failed delivery, retried and finally backed up to S3
 * (https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html). Each record's data
 * is the bytes the producer wrote; a CloudWatch Logs subscription writes gzip-compressed subscription
 * payloads (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#FirehoseExample),
 * which the source parsers already read (cloudwatch-logs.ts). The configured access key is the ingest
 * token: Firehose sends it verbatim in X-Amz-Firehose-Access-Key.
 */
import { gunzipSync } from "node:zlib";
import { err, ok, type Result } from "@identrail/core";
import type { BodyError } from "./body";

export const FIREHOSE_REQUEST_ID = "x-amz-firehose-request-id";
export const FIREHOSE_ACCESS_KEY = "x-amz-firehose-access-key";

export interface FirehoseRecords {
  /** The records' texts joined by newlines: each is one or more JSON documents or log lines. */
  text: string;
  /** Records whose data could not be read (index = record position), rejected on their own. */
  errors: { index: number; reason: string }[];
}

/**
 * The records of a Firehose delivery body. Their texts are joined by newlines and decoded as one body by
 * the source parser (JSON documents, NDJSON and text lines all survive the join). `maxBytes` bounds the
 * decoded total, as for any body.
 */
export function unwrapFirehose(text: string, maxBytes: number): Result<FirehoseRecords, BodyError> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return err({ code: "invalid_body", detail: "Firehose delivery body is not JSON" });
  }
  const records = (doc as { records?: unknown })?.records;
  if (!Array.isArray(records))
    return err({ code: "invalid_body", detail: "Firehose delivery body has no records array" });
  const parts: string[] = [];
  const errors: { index: number; reason: string }[] = [];
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const data = (records[i] as { data?: unknown })?.data;
    if (typeof data !== "string") {
      errors.push({ index: i, reason: `Firehose record ${i}: no data` });
      continue;
    }
    let bytes = Buffer.from(data, "base64");
    if (bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes - total) });
      } catch {
        errors.push({ index: i, reason: `Firehose record ${i}: corrupt gzip data, or past the size limit` });
        continue;
      }
    }
    total += bytes.length;
    if (total > maxBytes)
      return err({ code: "payload_too_large", detail: `decoded Firehose records exceed ${maxBytes} bytes` });
    // Base64 of non-UTF-8 bytes would decode to replacement characters; the parsers reject what is not
    // their format either way, so the lossy decode cannot let anything through that a strict one would stop.
    parts.push(bytes.toString("utf8"));
  }
  return ok({ text: parts.join("\n"), errors });
}

/** The answer Firehose expects for a delivery (200 with requestId and timestamp; errorMessage otherwise). */
export function firehoseAnswer(requestId: string, errorMessage?: string): string {
  return JSON.stringify(
    errorMessage === undefined
      ? { requestId, timestamp: Date.now() }
      : { requestId, timestamp: Date.now(), errorMessage },
  );
}
