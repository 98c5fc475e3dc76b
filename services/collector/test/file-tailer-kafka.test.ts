import { appendFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KafkaBus, prefixedBus } from "@identrail/bus";
import { type KafkaPeer, startKafkaPeer } from "@identrail/bus/testing";
import { Topics } from "@identrail/schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPosition, positionFile, startTailers } from "../src/tailer";
import { auditIds, auditLine, eventually, readTopic, tempDir, testConfig } from "./helpers";

let peer: KafkaPeer;
beforeAll(async () => {
  peer = await startKafkaPeer();
}, 20_000);
afterAll(async () => {
  await peer?.stop();
});

describe("file tailer over the Kafka protocol", () => {
  it("publishes a tailed file to Kafka and, across a restart and a rotation, delivers every line exactly once", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "logs"));
    const file = join(dir, "logs", "audit.log");
    const config = testConfig(dir, {
      collector: { tail: [{ path: file, source: "k8s-audit", cluster: "kafka-test" }] },
    });
    const kafka = new KafkaBus({ brokers: peer.brokers, clientId: "tailer-test" });
    const bus = prefixedBus(kafka, `${peer.prefix}.`);
    const topic = Topics.raw("k8s-audit");
    const lines = (...ids: string[]) => ids.map((id) => `${auditLine(id)}\n`).join("");
    try {
      writeFileSync(file, lines("k1", "k2"));
      let h = startTailers(config, { bus, config }, { pollMs: 100, rotateGraceMs: 0 });
      // The position moves only after Kafka acknowledged the lines before it.
      const pos = () => loadPosition(positionFile(join(dir, "tailer"), file), file);
      await eventually(() => pos()?.offset === lines("k1", "k2").length);
      await h.stop();
      appendFileSync(file, lines("k3"));
      renameSync(file, `${file}.1`);
      writeFileSync(file, lines("k4"));
      h = startTailers(config, { bus, config }, { pollMs: 100, rotateGraceMs: 0 });
      // Offset of one line into the new file: the rotated file was drained first.
      await eventually(() => pos()?.offset === lines("k4").length);
      await h.stop();
      const got = await readTopic(bus, topic, 4);
      expect(auditIds(got)).toEqual(["k1", "k2", "k3", "k4"]);
      expect(new Set(got.map((m) => JSON.parse(m.value).cluster))).toEqual(new Set(["kafka-test"]));
    } finally {
      await kafka.close();
    }
  }, 90_000);
});
