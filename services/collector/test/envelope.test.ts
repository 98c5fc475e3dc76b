/**
 * The collector writes each raw envelope as a prefix built once per request around one stringify of the
 * record; the bytes on the topic must be exactly JSON.stringify of the RawEnvelope object.
 */
import { join } from "node:path";
import { LocalBus } from "@identrail/bus";
import { Topics } from "@identrail/schema";
import { k8sAudit } from "@identrail/sources";
import { afterAll, describe, expect, it } from "vitest";
import { ingestText, withDeadline } from "../src/ingest";
import { auditLine, readTopic, tempDir, testConfig } from "./helpers";

const dir = tempDir();
const bus = new LocalBus(join(dir, "bus"));
afterAll(() => bus.close());

describe("raw envelopes", () => {
  it("are byte-for-byte JSON.stringify({ v, source, cluster, received_at, record })", async () => {
    const lines = [auditLine("env-1"), auditLine("env-2", 3), '{"kind":"Event","auditID":"bad"}'];
    const cluster = 'c"1\\'; // escaping in the prefix must match a full stringify
    const res = await ingestText({ bus, config: testConfig(dir) }, k8sAudit, lines.join("\n"), cluster);
    expect(res).toMatchObject({ accepted: 2, rejected: 1 });
    const got = await readTopic(bus, Topics.raw("k8s-audit"), 2);
    expect(got).toHaveLength(2);
    for (const [i, m] of got.entries()) {
      const env = JSON.parse(m.value);
      expect(env.record.auditID).toBe(`env-${i + 1}`);
      expect(m.value).toBe(
        JSON.stringify({
          v: 1,
          source: "k8s-audit",
          cluster,
          received_at: env.received_at,
          record: JSON.parse(lines[i]),
        }),
      );
    }
  });
});

describe("withDeadline", () => {
  it("rejects a bus write that does not finish in time, and passes one that does", async () => {
    await expect(withDeadline(new Promise(() => {}), 20)).rejects.toThrow(/within 20 ms/);
    await expect(withDeadline(Promise.resolve(7), 1000)).resolves.toBe(7);
  });
});
