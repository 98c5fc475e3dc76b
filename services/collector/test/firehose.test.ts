/**
 * Amazon Data Firehose HTTP endpoint deliveries (firehose.ts): the access key header authenticates, the
 * records' base64 (and gzip) data are the body, and every answer has Firehose's own shape. Run with the
 * prepare threads and without them: both paths unwrap the same way.
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { LocalBus } from "@identrail/bus";
import { Topics } from "@identrail/schema";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditIds, auditLine, ingestApp, readTopic, tempDir, testConfig } from "./helpers";

const TOKEN = "idt_test_firehose_access_key_0001";
const REQUEST_ID = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f";

/** A CloudWatch Logs subscription payload as Firehose receives it from the log group: gzipped. */
const subscription = (ids: string[]) =>
  gzipSync(
    JSON.stringify({
      messageType: "DATA_MESSAGE",
      owner: "123456789012",
      logGroup: "/aws/eks/prod/cluster",
      logStream: "kube-apiserver-audit-0123456789abcdef",
      subscriptionFilters: ["identrail"],
      logEvents: ids.map((id, i) => ({
        id: String(i),
        timestamp: 1795600000000 + i,
        message: auditLine(id),
      })),
    }),
  );

const delivery = (records: (Buffer | string)[]) =>
  JSON.stringify({
    requestId: REQUEST_ID,
    timestamp: 1795600000123,
    records: records.map((r) => ({ data: Buffer.from(r).toString("base64") })),
  });

for (const threads of [0, 1]) {
  describe(`Firehose deliveries (prepare threads: ${threads})`, () => {
    let app: FastifyInstance;
    let bus: LocalBus;
    beforeAll(async () => {
      const dir = tempDir();
      const config = testConfig(dir, {
        auth: { tokens: [{ name: "firehose", scopes: ["ingest"], token: TOKEN }] },
        ingest: { prepare_threads: threads },
      });
      bus = new LocalBus(join(dir, "bus"));
      app = await ingestApp(bus, config);
    });
    afterAll(async () => {
      await app?.close();
      await bus?.close();
    });
    const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
      app.inject({
        method: "POST",
        url: "/ingest/k8s-audit?cluster=prod",
        headers: {
          "content-type": "application/json",
          "x-amz-firehose-protocol-version": "1.0",
          "x-amz-firehose-request-id": REQUEST_ID,
          "x-amz-firehose-access-key": TOKEN,
          ...headers,
        },
        payload,
      });

    it("takes gzipped subscription payloads and plain records; answers {requestId, timestamp}", async () => {
      const t = `fh${threads}`;
      const r = await post(
        delivery([
          subscription([`${t}-a`, `${t}-b`]),
          auditLine(`${t}-c`),
          Buffer.from([0x1f, 0x8b, 1, 2, 3]),
        ]),
      );
      expect(r.statusCode).toBe(200);
      expect(r.headers["content-type"]).toMatch(/application\/json/);
      const body = r.json();
      expect(Object.keys(body).sort()).toEqual(["requestId", "timestamp"]);
      expect(body.requestId).toBe(REQUEST_ID);
      expect(typeof body.timestamp).toBe("number");
      const ids = auditIds(await readTopic(bus, Topics.raw("k8s-audit"), 3));
      expect(ids).toEqual(expect.arrayContaining([`${t}-a`, `${t}-b`, `${t}-c`]));
    });

    it("a gzipped envelope (Content-Encoding: gzip) is read the same way", async () => {
      const t = `fhgz${threads}`;
      const r = await post(gzipSync(delivery([auditLine(t)])), { "content-encoding": "gzip" });
      expect(r.statusCode).toBe(200);
      expect(auditIds(await readTopic(bus, Topics.raw("k8s-audit"), 1))).toContain(t);
    });

    it("a wrong access key is a 401 in Firehose's shape, with the reason", async () => {
      const r = await post(delivery([auditLine("fh-denied")]), { "x-amz-firehose-access-key": "wrong" });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({
        requestId: REQUEST_ID,
        errorMessage: expect.stringMatching(/unauthorized/),
      });
    });

    it("a body that is no Firehose envelope, or records that hold nothing usable, are 400s Firehose retries", async () => {
      const notJson = await post("not json");
      expect(notJson.statusCode).toBe(400);
      expect(notJson.json().errorMessage).toMatch(/not JSON/);
      const bad = await post(delivery(['{"kind":"Event"}', Buffer.from([0x1f, 0x8b, 0, 0])]));
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ requestId: REQUEST_ID, errorMessage: expect.any(String) });
    });
  });
}
