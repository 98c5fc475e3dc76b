/**
 * Amazon CloudWatch Logs payloads, for sources whose logs AWS delivers to a log group (CloudTrail trails,
 * EKS control-plane audit logs in `/aws/eks/<cluster>/cluster`). Each log event's `message` is one record
 * as a JSON string. Three shapes reach an ingest endpoint:
 *
 * - A subscription filter's payload, as a forwarder (Lambda, Firehose transformation) posts it once
 *   gunzipped: `{"messageType":"DATA_MESSAGE","owner","logGroup","logStream","subscriptionFilters",
 *   "logEvents":[{"id","timestamp","message"}]}`; `CONTROL_MESSAGE` is the service's connectivity probe
 *   and carries no log data.
 *   https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html
 * - The Lambda event that carries it, posted unchanged: `{"awslogs":{"data":"<base64 of the gzip>"}}`.
 *   https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#LambdaFunctionExample
 * - The answer of FilterLogEvents / GetLogEvents (`aws logs filter-log-events … > out.json`):
 *   `{"events":[{"logStreamName","timestamp","message","ingestionTime","eventId"}], "nextToken"…}`.
 *   https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
 *   https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html
 */
import { gunzipSync } from "node:zlib";
import { Undecodable } from "./common";
import { isObj, type Obj, obj, safeJsonParse, str } from "./util";

/** CloudWatch Logs caps an event at 256 KiB; a message past 1 MiB is not one of them. */
const MAX_MESSAGE = 1024 * 1024;
/** A Lambda invocation payload is at most 6 MB, so its base64 data is smaller still. */
const MAX_AWSLOGS_DATA = 8 * 1024 * 1024;
/** Bound on what that data may gunzip to (a subscription batch is about 1 MB of log events). */
const MAX_AWSLOGS_JSON = 32 * 1024 * 1024;

/**
 * Says why a log stream holds no records of this source (e.g. an EKS control-plane stream other than
 * the audit one), or undefined when its messages should be parsed. Its events are then rejected with
 * that reason instead of one "malformed JSON" each.
 */
export type StreamCheck = (logStream: string) => string | undefined;

/**
 * The records inside a CloudWatch Logs payload: one per log event, each the parsed message or an
 * Undecodable naming what was wrong (no message, malformed JSON, the stream's reason). Undefined when
 * `doc` is none of the shapes above; an empty list for a CONTROL_MESSAGE.
 */
export function unwrapCloudWatchLogs(doc: Obj, check?: StreamCheck): unknown[] | undefined {
  if (Array.isArray(doc.logEvents) && typeof doc.messageType === "string") {
    if (doc.messageType !== "DATA_MESSAGE") return [];
    const stream = str(doc.logStream, 512);
    const why = stream !== undefined && check ? check(stream) : undefined;
    if (why !== undefined) return doc.logEvents.map(() => new Undecodable(why));
    return doc.logEvents.map(parseMessage);
  }
  const awslogs = obj(doc.awslogs);
  if (awslogs && Object.keys(doc).length === 1) {
    const inner = decodeAwslogs(awslogs.data);
    if (inner instanceof Undecodable) return [inner];
    const records = isObj(inner) ? unwrapCloudWatchLogs(inner, check) : undefined;
    return records ?? [new Undecodable("awslogs.data is not a CloudWatch Logs subscription payload")];
  }
  if (Array.isArray(doc.events) && isLogEventsAnswer(doc)) {
    return doc.events.map((e) => {
      const stream = str(obj(e)?.logStreamName, 512);
      const why = stream !== undefined && check ? check(stream) : undefined;
      return why !== undefined ? new Undecodable(why) : parseMessage(e);
    });
  }
  return undefined;
}

function parseMessage(e: unknown): unknown {
  const m = str(obj(e)?.message, MAX_MESSAGE);
  if (m === undefined) return new Undecodable("CloudWatch Logs event without a message");
  const p = safeJsonParse(m);
  return "value" in p ? p.value : new Undecodable(`CloudWatch Logs message: ${p.error}`);
}

/**
 * FilterLogEvents / GetLogEvents answers: `events` of objects with a string `message` and a numeric
 * `timestamp` (the first one decides), or an empty page with the API's paging tokens.
 */
function isLogEventsAnswer(doc: Obj): boolean {
  const events = doc.events as unknown[];
  if (events.length === 0)
    return "nextToken" in doc || "nextForwardToken" in doc || "searchedLogStreams" in doc;
  const first = obj(events[0]);
  return typeof first?.message === "string" && typeof first.timestamp === "number";
}

/** base64 → gunzip → JSON, bounded; never throws. */
function decodeAwslogs(data: unknown): unknown {
  if (typeof data !== "string" || data.length === 0 || data.length > MAX_AWSLOGS_DATA)
    return new Undecodable("awslogs.data missing or too large");
  let text: string;
  try {
    text = gunzipSync(Buffer.from(data, "base64"), { maxOutputLength: MAX_AWSLOGS_JSON }).toString("utf8");
  } catch {
    // Not gzip, truncated, or over the bound: the error text is zlib's, but say it in our words.
    return new Undecodable("awslogs.data is not base64 gzip (or decompresses past 32 MiB)");
  }
  const p = safeJsonParse(text);
  return "value" in p ? p.value : new Undecodable(`awslogs.data: ${p.error}`);
}
