/**
 * The CloudWatch Logs shapes shared by cloudtrail and k8s-audit (src/cloudwatch-logs.ts): subscription
 * payloads, the Lambda event carrying one, FilterLogEvents / GetLogEvents answers.
 */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { unwrapCloudWatchLogs } from "../src/cloudwatch-logs";
import { Undecodable } from "../src/common";
import { cloudtrail } from "../src/sources/cloudtrail";
import { fixture, run } from "./helpers";

const reasons = (xs: unknown[] | undefined) =>
  (xs ?? []).map((x) => (x instanceof Undecodable ? x.reason : typeof x));

describe("unwrapCloudWatchLogs", () => {
  it("subscription payloads: DATA_MESSAGE messages parsed one by one; other message types carry nothing", () => {
    const data = {
      messageType: "DATA_MESSAGE",
      logStream: "s",
      logEvents: [{ message: '{"a":1}' }, { message: "{" }, { id: "x" }, "junk"],
    };
    expect(unwrapCloudWatchLogs(data)?.[0]).toEqual({ a: 1 });
    expect(reasons(unwrapCloudWatchLogs(data))).toEqual([
      "object",
      "CloudWatch Logs message: malformed JSON",
      "CloudWatch Logs event without a message",
      "CloudWatch Logs event without a message",
    ]);
    expect(unwrapCloudWatchLogs({ ...data, messageType: "CONTROL_MESSAGE" })).toEqual([]);
    // A stream check rejects a whole stream's events with its reason.
    expect(reasons(unwrapCloudWatchLogs(data, (s) => (s === "s" ? "not ours" : undefined)))).toEqual([
      "not ours",
      "not ours",
      "not ours",
      "not ours",
    ]);
  });

  it("other documents are not CloudWatch Logs payloads", () => {
    for (const doc of [
      {},
      { logEvents: [] },
      { events: [{ kind: "Event" }] },
      { events: [] },
      { awslogs: { data: "x" }, other: 1 },
      { Records: [] },
    ])
      expect(unwrapCloudWatchLogs(doc)).toBeUndefined();
    expect(unwrapCloudWatchLogs({ events: [], nextForwardToken: "f/1" })).toEqual([]);
  });

  it("awslogs.data: bounded, and anything but base64 gzip of a subscription payload is one rejection", () => {
    const b64 = (x: string | Buffer) => gzipSync(x).toString("base64");
    expect(reasons(unwrapCloudWatchLogs({ awslogs: { data: b64("{") } }))).toEqual([
      "awslogs.data: malformed JSON",
    ]);
    expect(reasons(unwrapCloudWatchLogs({ awslogs: { data: b64("{}") } }))).toEqual([
      "awslogs.data is not a CloudWatch Logs subscription payload",
    ]);
    expect(reasons(unwrapCloudWatchLogs({ awslogs: {} }))).toEqual(["awslogs.data missing or too large"]);
    // A gzip bomb stops at the bound instead of filling memory.
    const bomb = b64(Buffer.alloc(33 * 1024 * 1024));
    expect(reasons(unwrapCloudWatchLogs({ awslogs: { data: bomb } }))).toEqual([
      "awslogs.data is not base64 gzip (or decompresses past 32 MiB)",
    ]);
  });

  it("cloudtrail: the Lambda event and FilterLogEvents output give what the subscription payload gives", () => {
    const payload = fixture("cloudtrail/cloudwatch-subscription.json");
    const direct = run(cloudtrail, payload);
    expect(direct.events).toHaveLength(1);
    const viaLambda = run(
      cloudtrail,
      JSON.stringify({ awslogs: { data: gzipSync(payload).toString("base64") } }),
    );
    expect(viaLambda.events).toEqual(direct.events);
    expect(viaLambda.rejected).toEqual(direct.rejected);
    const sub = JSON.parse(payload);
    const filtered = {
      events: sub.logEvents.map((e: { id: string; timestamp: number; message: string }) => ({
        logStreamName: sub.logStream,
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.timestamp + 500,
        eventId: e.id,
      })),
      searchedLogStreams: [{ logStreamName: sub.logStream, searchedCompletely: true }],
    };
    const viaFilter = run(cloudtrail, JSON.stringify(filtered));
    expect(viaFilter.events).toEqual(direct.events);
    expect(viaFilter.rejected).toEqual(direct.rejected);
  });
});
