/**
 * Content types real forwarders send: a CloudTrail `.json.gz` file posted as-is (application/gzip,
 * application/x-gzip), an S3 object's default type (binary/octet-stream), charset parameters, and a
 * UTF-8 BOM at the start of a log file. Each body reaches the raw topic; a type no parser reads is a 415.
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { LocalBus } from "@identrail/bus";
import { Topics } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditIds, auditLine, ingestApp, readTopic, tempDir, testConfig } from "./helpers";

const TOKEN = "idt_test_ingest_content_types_0001";
let app: FastifyInstance;
let bus: LocalBus;

const cloudTrailFile = JSON.stringify({
  Records: [
    {
      eventVersion: "1.09",
      eventTime: "2026-11-20T10:00:04Z",
      eventSource: "secretsmanager.amazonaws.com",
      eventName: "GetSecretValue",
      eventID: "0b9c1f52-0000-4000-8000-000000000001",
      awsRegion: "us-east-1",
      sourceIPAddress: "192.0.2.12",
      userIdentity: {
        type: "AssumedRole",
        arn: "arn:aws:sts::123456789012:assumed-role/ml-trainer/session-1",
        accountId: "123456789012",
      },
      requestParameters: { secretId: "ml/db" },
      recipientAccountId: "123456789012",
    },
  ],
});

beforeAll(async () => {
  const dir = tempDir();
  const config = testConfig(dir, { auth: { tokens: [{ name: "t", scopes: ["ingest"], token: TOKEN }] } });
  bus = new LocalBus(join(dir, "bus"));
  app = await ingestApp(bus, config);
});
afterAll(async () => {
  await app?.close();
  await bus?.close();
});

const post = (source: string, payload: string | Buffer, headers: Record<string, string>) =>
  app.inject({
    method: "POST",
    url: `/ingest/${source}?cluster=prod`,
    headers: { authorization: `Bearer ${TOKEN}`, ...headers },
    payload,
  });

describe("ingest content types", () => {
  it.each([
    "application/gzip",
    "application/x-gzip",
    "binary/octet-stream",
    "application/octet-stream",
    // curl --data-binary's default when no -H content-type is given
    "application/x-www-form-urlencoded",
  ])("a gzipped CloudTrail log file posted as %s is accepted", async (ct) => {
    const r = await post("cloudtrail", gzipSync(cloudTrailFile), { "content-type": ct });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ accepted: 1, rejected: 0 });
  });

  it("charset parameters and a BOM at the start of an NDJSON file are tolerated", async () => {
    const body = `\ufeff${auditLine("ct-bom-1")}\r\n${auditLine("ct-bom-2")}\r\n`;
    const r = await post("k8s-audit", body, { "content-type": "application/x-ndjson; charset=UTF-8" });
    expect(r.json()).toMatchObject({ accepted: 2, rejected: 0 });
    const ids = auditIds(await readTopic(bus, Topics.raw("k8s-audit"), 2));
    expect(ids).toEqual(expect.arrayContaining(["ct-bom-1", "ct-bom-2"]));
  });

  it("S3 server access logs as binary/octet-stream; an image type is still refused", async () => {
    const line =
      'ownerid ml-models [20/Nov/2026:10:00:15 +0000] 192.0.2.15 - REQID1 REST.GET.OBJECT a.pt "GET /ml-models/a.pt HTTP/1.1" 200 - 10 10 7 6 "-" "curl/8.0" -';
    expect((await post("s3-access", line, { "content-type": "binary/octet-stream" })).json()).toMatchObject({
      accepted: 1,
    });
    expect((await post("s3-access", line, { "content-type": "image/png" })).statusCode).toBe(415);
  });
});
