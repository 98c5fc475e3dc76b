/**
 * Raw envelopes as the collector writes them. Packed (v2): one message per partition of the raw topic
 * holding every record of the request that maps to it, byte-for-byte JSON.stringify of the envelope
 * object, each on the partition its own key picks, split past the size bound. v1 (one record per
 * message): a prefix built once per request around one stringify of the record, used while the bus does
 * not know the topic's partition count.
 */
import { join } from "node:path";
import { type Bus, type BusMessage, LocalBus, partitionFor } from "@identrail/bus";
import { Topics } from "@identrail/schema";
import { k8sAudit } from "@identrail/sources";
import { afterAll, describe, expect, it } from "vitest";
import { ingestText, MAX_RECORD_BYTES, packByPartition, withDeadline } from "../src/ingest";
import { auditLine, readTopic, tempDir, testConfig } from "./helpers";

const dir = tempDir();
const bus = new LocalBus(join(dir, "bus"));
afterAll(() => bus.close());

/** `auditLine` with its own principal, so records spread over partitions. */
const lineFor = (id: string, user: string) => {
  const r = JSON.parse(auditLine(id));
  r.user.username = user;
  return JSON.stringify(r);
};

/** What reached `produce`, on top of the local bus, with a chosen partition count (undefined: unknown). */
function recording(partitions: number | undefined) {
  const sent: { topic: string; messages: BusMessage[] }[] = [];
  const b: Bus = {
    kind: "local",
    produce: async (topic, messages) => {
      sent.push({ topic, messages });
      await bus.produce(topic, messages);
    },
    partitionCount: () => partitions,
    consume: (o) => bus.consume(o),
    healthy: () => bus.healthy(),
    close: async () => {},
  };
  return { b, sent };
}

describe("raw envelopes", () => {
  it("v2: byte-for-byte JSON.stringify({ v: 2, source, cluster, received_at, records })", async () => {
    const lines = [auditLine("env-1"), auditLine("env-2", 3), '{"kind":"Event","auditID":"bad"}'];
    const cluster = 'c"1\\'; // escaping in the prefix must match a full stringify
    const res = await ingestText({ bus, config: testConfig(dir) }, k8sAudit, lines.join("\n"), cluster);
    expect(res).toMatchObject({ accepted: 2, rejected: 1 });
    // The local bus has one partition: the request is one message.
    const got = await readTopic(bus, Topics.raw("k8s-audit"), 2);
    expect(got).toHaveLength(1);
    const env = JSON.parse(got[0].value);
    expect(got[0].value).toBe(
      JSON.stringify({
        v: 2,
        source: "k8s-audit",
        cluster,
        received_at: env.received_at,
        records: [JSON.parse(lines[0]), JSON.parse(lines[1])],
      }),
    );
  });

  it("v1 while the partition count is unknown: byte-for-byte JSON.stringify({ v: 1, …, record })", async () => {
    const { b, sent } = recording(undefined);
    const lines = [auditLine("v1-1"), auditLine("v1-2", 3)];
    const cluster = 'c"1\\';
    const res = await ingestText({ bus: b, config: testConfig(dir) }, k8sAudit, lines.join("\n"), cluster);
    expect(res).toMatchObject({ accepted: 2, rejected: 0 });
    // The first record goes alone (it creates the topic); the count is still unknown here, so the rest
    // stay v1 too.
    const raw = sent.filter((s) => s.topic === Topics.raw("k8s-audit")).flatMap((s) => s.messages);
    expect(raw).toHaveLength(2);
    for (const [i, m] of raw.entries()) {
      const env = JSON.parse(m.value);
      expect(m.partition).toBeUndefined();
      expect(m.key).toBe("system:serviceaccount:ml:trainer");
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

  it("a new topic: the first record goes alone, the rest are packed once its answer taught the count", async () => {
    const sent: { topic: string; messages: BusMessage[] }[] = [];
    let known: number | undefined;
    const b: Bus = {
      kind: "local",
      produce: async (topic, messages) => {
        sent.push({ topic, messages });
        await bus.produce(topic, messages);
        known = 12; // what KafkaBus learns from the producer's answer
      },
      partitionCount: () => known,
      consume: (o) => bus.consume(o),
      healthy: () => bus.healthy(),
      close: async () => {},
    };
    const lines = Array.from({ length: 30 }, (_, i) =>
      lineFor(`new-${i}`, `system:serviceaccount:ml:job-${i % 7}`),
    );
    const res = await ingestText({ bus: b, config: testConfig(dir) }, k8sAudit, lines.join("\n"), "prod");
    expect(res).toMatchObject({ accepted: 30, rejected: 0 });
    const raw = sent.filter((s) => s.topic === Topics.raw("k8s-audit"));
    expect(raw).toHaveLength(2);
    expect(raw[0].messages).toHaveLength(1);
    expect(JSON.parse(raw[0].messages[0].value)).toMatchObject({ v: 1, record: { auditID: "new-0" } });
    const packed = raw[1].messages.map((m) => ({ m, env: JSON.parse(m.value) }));
    expect(packed.every(({ env }) => env.v === 2)).toBe(true);
    expect(packed.length).toBeLessThanOrEqual(7);
    const ids = packed.flatMap(({ env }) => env.records.map((r: { auditID: string }) => r.auditID));
    expect(ids.sort()).toEqual(
      lines
        .slice(1)
        .map((l) => JSON.parse(l).auditID)
        .sort(),
    );
    for (const { m, env } of packed)
      for (const r of env.records) expect(partitionFor(r.user.username, 12)).toBe(m.partition);
  });

  it("packing keeps every record on the partition its own key maps to, in request order", async () => {
    const partitions = 12;
    const { b, sent } = recording(partitions);
    const users = Array.from({ length: 60 }, (_, i) => `system:serviceaccount:ns-${i % 23}:sa-${i}`);
    const lines = users.map((u, i) => lineFor(`p-${i}`, u));
    const res = await ingestText({ bus: b, config: testConfig(dir) }, k8sAudit, lines.join("\n"), "prod");
    expect(res).toMatchObject({ accepted: 60, rejected: 0 });
    const raw = sent.find((s) => s.topic === Topics.raw("k8s-audit"))!.messages;
    const partitionsUsed = new Set(users.map((u) => partitionFor(u, partitions)));
    expect(raw).toHaveLength(partitionsUsed.size); // at most one message per partition
    const seen: string[] = [];
    for (const m of raw) {
      const env = JSON.parse(m.value);
      expect(env.v).toBe(2);
      expect(m.partition).toBe(partitionFor(m.key, partitions));
      for (const r of env.records) {
        expect(partitionFor(r.user.username, partitions)).toBe(m.partition);
        seen.push(r.auditID);
      }
    }
    // Every record exactly once; within a partition, request order.
    expect([...seen].sort()).toEqual(lines.map((_, i) => `p-${i}`).sort());
    for (const m of raw) {
      const ids = JSON.parse(m.value).records.map((r: { auditID: string }) => Number(r.auditID.slice(2)));
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    }
  });

  it("sends a record too large for any Kafka message to the dead letters, with its reason", async () => {
    const d = tempDir();
    const local = new LocalBus(join(d, "bus"));
    try {
      const huge = JSON.parse(auditLine("env-huge"));
      huge.requestURI = `/api/v1/namespaces/ml/configmaps/big?x=${"y".repeat(MAX_RECORD_BYTES)}`;
      const res = await ingestText(
        { bus: local, config: testConfig(d) },
        k8sAudit,
        [auditLine("env-small"), JSON.stringify(huge)].join("\n"),
        "prod",
      );
      expect(res).toMatchObject({ accepted: 1, rejected: 1 });
      expect(res.errors[0]).toMatchObject({ index: 1 });
      expect(res.errors[0].reason).toMatch(
        /^record larger than one bus message \(over \d+ bytes\): \d+ bytes$/,
      );
      const [dl] = await readTopic(local, Topics.deadLetters, 1);
      const dead = JSON.parse(dl.value);
      expect(dead.reason).toBe(res.errors[0].reason);
      expect(dead.payload.length).toBeLessThan(4096); // a preview, never the whole record
      const raw = await readTopic(local, Topics.raw("k8s-audit"), 1);
      expect(
        raw.flatMap((m) => JSON.parse(m.value).records.map((r: { auditID: string }) => r.auditID)),
      ).toEqual(["env-small"]);
    } finally {
      await local.close();
    }
  });

  it("splits a partition's group that would exceed the size bound", () => {
    const head = '{"v":2,"source":"k8s-audit","cluster":"c","received_at":"t","records":';
    const keys = Array.from({ length: 10 }, () => "same-principal");
    const jsons = keys.map((_, i) => JSON.stringify({ i, pad: "x".repeat(90) })); // ~100 chars each
    const out = packByPartition(keys, jsons, 12, head, 350);
    expect(out.map((m) => JSON.parse(m.value).records.length)).toEqual([3, 3, 3, 1]);
    expect(new Set(out.map((m) => m.partition))).toEqual(new Set([partitionFor("same-principal", 12)]));
    expect(out.flatMap((m) => JSON.parse(m.value).records.map((r: { i: number }) => r.i))).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    // A record larger than the bound travels alone.
    const big = packByPartition(["k", "k"], ["1", JSON.stringify("y".repeat(1000))], 3, head, 350);
    expect(big.map((m) => JSON.parse(m.value).records.length)).toEqual([1, 1]);
  });
});

describe("NDJSON lines forwarded as written", () => {
  it("an unredacted line travels as its own text; a redacted one is re-serialized without the secret", async () => {
    const { b, sent } = recording(4);
    // Not JSON.stringify's spelling: spaces, an escaped character, a number written with an exponent.
    const plain = auditLine("own-1")
      .replace('"verb":"get"', '"verb" : "g\\u0065t"')
      .replace(/^\{/, '{ "n": 1e2, ');
    const secret = JSON.parse(auditLine("own-2"));
    secret.responseObject = { kind: "Secret", data: { password: "cGxhbnRlZC1zZWNyZXQ=" } };
    const res = await ingestText(
      { bus: b, config: testConfig(dir) },
      k8sAudit,
      `${plain}\n${JSON.stringify(secret)}\n`,
      "prod",
    );
    expect(res).toMatchObject({ accepted: 2, rejected: 0 });
    const values = sent.flatMap((s) => s.messages.map((m) => m.value));
    const all = values.join("\n");
    // The first record's own bytes, inside the envelope; parsing gives the same value as the line.
    expect(all).toContain(plain);
    const records = values.flatMap((v) => JSON.parse(v).records);
    expect(records.find((r: { auditID: string }) => r.auditID === "own-1")).toEqual(JSON.parse(plain));
    // The second was changed by redaction: the secret is gone, the record re-serialized.
    expect(all).not.toContain("cGxhbnRlZC1zZWNyZXQ=");
    expect(records.find((r: { auditID: string }) => r.auditID === "own-2").responseObject).toEqual({
      redacted: true,
    });
  });

  it("decode reports a line's text only for a record parsed from the whole line", () => {
    const line = auditLine("t-1");
    const prefixed = `2026-11-24T10:00:00.000000000Z stdout F ${auditLine("t-2")}`;
    const d = k8sAudit.decode(`${line}\n${prefixed}\n`);
    expect(d.records).toHaveLength(2);
    expect(d.texts?.[0]).toBe(line);
    expect(d.texts?.[1]).toBeUndefined();
    // A whole JSON document (an EventList): each item's slice of the document.
    expect(k8sAudit.decode(JSON.stringify({ kind: "EventList", items: [JSON.parse(line)] })).texts).toEqual([
      line,
    ]);
  });
});

describe("withDeadline", () => {
  it("rejects a bus write that does not finish in time, and passes one that does", async () => {
    await expect(withDeadline(new Promise(() => {}), 20)).rejects.toThrow(/within 20 ms/);
    await expect(withDeadline(Promise.resolve(7), 1000)).resolves.toBe(7);
  });
});
