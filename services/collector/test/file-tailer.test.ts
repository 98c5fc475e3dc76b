import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  renameSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type Bus, LocalBus } from "@identrail/bus";
import { Topics } from "@identrail/schema";
import { k8sAudit } from "@identrail/sources";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileTailer, loadPosition, positionFile, type TailerOptions } from "../src/tailer";
import { auditIds, auditLine, eventually, readTopic, tempDir, testConfig } from "./helpers";

const TOPIC = Topics.raw("k8s-audit");
const lines = (...ids: string[]) => ids.map((id) => `${auditLine(id)}\n`).join("");

let dir: string;
let bus: LocalBus;
let file: string;
let stateDir: string;
const open: FileTailer[] = [];

function tailer(opts: Partial<TailerOptions> = {}, onBus: Bus = bus) {
  const t = new FileTailer({
    path: file,
    parser: k8sAudit,
    cluster: "test",
    deps: { bus: onBus, config: testConfig(dir) },
    stateDir,
    pollMs: 50,
    rotateGraceMs: 0,
    ...opts,
  });
  open.push(t);
  return t;
}

beforeEach(() => {
  dir = tempDir();
  mkdirSync(join(dir, "logs"));
  file = join(dir, "logs", "audit.log");
  stateDir = join(dir, "tailer");
  bus = new LocalBus(join(dir, "bus"));
});
afterEach(async () => {
  for (const t of open.splice(0)) await t.stop();
  await bus.close();
});

describe("file tailer", () => {
  it("publishes complete lines and holds a partial last line until its newline", async () => {
    const partial = auditLine("a4");
    writeFileSync(file, lines("a1", "a2", "a3") + partial.slice(0, 40));
    const t = tailer();
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 3))).toEqual(["a1", "a2", "a3"]);
    appendFileSync(file, `${partial.slice(40)}\n`);
    await t.drain();
    const all = await readTopic(bus, TOPIC, 4);
    expect(auditIds(all)).toEqual(["a1", "a2", "a3", "a4"]);
    // The envelope is the same one HTTP push produces: source, cluster, key = the principal.
    // (packed: the last message holds a4 alone, keyed by its principal).
    const last = all[all.length - 1];
    const env = JSON.parse(last.value);
    expect([last.key, env.source, env.cluster, env.v]).toEqual([
      "system:serviceaccount:ml:trainer",
      "k8s-audit",
      "test",
      2,
    ]);
  });

  it("follows rotation by rename: drains the old file (even its unterminated last line), then reads the new one", async () => {
    writeFileSync(file, lines("r1", "r2"));
    const t = tailer();
    await t.drain();
    // Written after our last read, then rotated away: still ours to read through the open descriptor.
    appendFileSync(file, `${lines("r3")}${auditLine("r4")}`);
    renameSync(file, `${file}.1`);
    writeFileSync(file, lines("r5", "r6"));
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 6))).toEqual(["r1", "r2", "r3", "r4", "r5", "r6"]);
    const pos = loadPosition(positionFile(stateDir, file), file)!;
    expect(pos.offset).toBe(lines("r5", "r6").length);
  });

  it("waits out the rotation grace before flushing a rotated file's partial line", async () => {
    writeFileSync(file, lines("g1"));
    const t = tailer({ rotateGraceMs: 60_000 });
    await t.drain();
    appendFileSync(file, auditLine("g2").slice(0, 30));
    renameSync(file, `${file}.1`);
    writeFileSync(file, lines("g3"));
    await t.drain();
    // Inside the grace: the writer may still finish the line in the old file, so nothing moves yet.
    appendFileSync(`${file}.1`, `${auditLine("g2").slice(30)}\n`);
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 2))).toEqual(["g1", "g2"]);
  });

  it("restarts from the beginning after copytruncate, and after a truncate-and-rewrite longer than the old offset", async () => {
    writeFileSync(file, lines("c1", "c2", "c3"));
    const t = tailer();
    await t.drain();
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, lines("c4"));
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 4))).toEqual(["c1", "c2", "c3", "c4"]);
    // Truncated and refilled past our offset between two polls: the size alone cannot tell, the fingerprint does.
    truncateSync(file, 0);
    appendFileSync(file, `${auditLine("c5", 400)}\n${auditLine("c6", 400)}\n`);
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 6))).toEqual(["c1", "c2", "c3", "c4", "c5", "c6"]);
  });

  it("resumes after a restart without losing or repeating lines, also when the file rotated while stopped", async () => {
    writeFileSync(file, lines("s1", "s2", "s3"));
    let t = tailer();
    await t.drain();
    await t.stop();
    appendFileSync(file, lines("s4"));
    t = tailer();
    await t.drain();
    await t.stop();
    expect(auditIds(await readTopic(bus, TOPIC, 4))).toEqual(["s1", "s2", "s3", "s4"]);
    // Stopped; the file gets more lines and is rotated; the new one fills up. Nothing may be missed.
    appendFileSync(file, lines("s5"));
    renameSync(file, join(dir, "logs", "audit-2026-11-24T10-00-00.000.log"));
    writeFileSync(file, lines("s6", "s7"));
    t = tailer();
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 7))).toEqual(["s1", "s2", "s3", "s4", "s5", "s6", "s7"]);
  });

  it("saves the position only after the bus acknowledged: a failed produce leaves it and the batch comes again", async () => {
    writeFileSync(file, lines("f1", "f2"));
    const down: Bus = {
      ...bus,
      kind: "local",
      produce: async () => Promise.reject(new Error("broker down")),
      consume: bus.consume.bind(bus),
      partitionCount: () => 1,
      healthy: async () => false,
      close: async () => {},
    };
    const t1 = tailer({}, down);
    // The first step opens the file and saves offset 0; the second tries to publish and fails.
    await expect(t1.drain()).rejects.toThrow("broker down");
    expect(loadPosition(positionFile(stateDir, file), file)?.offset).toBe(0);
    await t1.stop();
    const t2 = tailer();
    await t2.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 2))).toEqual(["f1", "f2"]);
    expect(loadPosition(positionFile(stateDir, file), file)?.offset).toBe(lines("f1", "f2").length);
  });

  it("re-reads at most one batch when it dies between the bus acknowledgement and saving the position", async () => {
    writeFileSync(file, lines("x1", "x2", "x3", "x4"));
    // Acknowledged by the real bus, then the process "dies" before the position is written.
    const dying: Bus = {
      kind: "local",
      produce: async (t, m) => {
        await bus.produce(t, m);
        throw new Error("killed after ack");
      },
      consume: (o) => bus.consume(o),
      partitionCount: () => 1,
      healthy: () => bus.healthy(),
      close: async () => {},
    };
    const t1 = tailer({ maxLines: 2 }, dying);
    await expect(t1.drain()).rejects.toThrow("killed after ack");
    await t1.stop();
    const t2 = tailer({ maxLines: 2 });
    await t2.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 6))).toEqual(["x1", "x2", "x1", "x2", "x3", "x4"]);
  });

  it("pipelined: the batch prepared after a failed one is not published; all is read again in order", async () => {
    writeFileSync(file, lines("p1", "p2", "p3", "p4", "p5", "p6"));
    let calls = 0;
    // The first batch fails while the second is being prepared.
    const flaky: Bus = {
      kind: "local",
      produce: async (t, m) => {
        if (++calls === 1) {
          await new Promise((r) => setTimeout(r, 20));
          throw new Error("broker said no");
        }
        await bus.produce(t, m);
      },
      consume: (o) => bus.consume(o),
      partitionCount: () => 1,
      healthy: () => bus.healthy(),
      close: async () => {},
    };
    const t1 = tailer({ maxLines: 2 }, flaky);
    await expect(t1.drain()).rejects.toThrow("broker said no");
    expect(loadPosition(positionFile(stateDir, file), file)?.offset ?? 0).toBe(0);
    await t1.drain();
    await t1.stop();
    expect(loadPosition(positionFile(stateDir, file), file)?.offset).toBe(
      lines("p1", "p2", "p3", "p4", "p5", "p6").length,
    );
    expect(auditIds(await readTopic(bus, TOPIC, 6))).toEqual(["p1", "p2", "p3", "p4", "p5", "p6"]);
  });

  it("bounds batches by lines and bytes, and skips a line longer than a batch with a dead letter", async () => {
    writeFileSync(file, lines("b1", "b2", "b3"));
    // Step by step, without pipelining: each step's batch is saved before it returns.
    const t = tailer({ maxLines: 2, pipeline: false });
    expect(await t.step()).toBe(true); // opens the file
    expect(await t.step()).toBe(true); // first batch
    expect(loadPosition(positionFile(stateDir, file), file)?.offset).toBe(lines("b1", "b2").length);
    await t.drain();
    await t.stop();
    const huge = auditLine("huge", 5000);
    appendFileSync(file, `${huge}\n${lines("b4")}`);
    const t2 = tailer({ maxBytes: 2048 });
    await t2.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 4))).toEqual(["b1", "b2", "b3", "b4"]);
    const dead = await readTopic(bus, Topics.deadLetters, 1);
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0].value)).toMatchObject({
      stage: "collector",
      source: "k8s-audit",
      reason: "line longer than 2048 bytes (file tailer limit); skipped",
      payload: "",
    });
  });

  it("sends records its parser rejects to the dead-letter topic and keeps the valid neighbours", async () => {
    writeFileSync(
      file,
      `${lines("d1")}{"kind":"Event","apiVersion":"audit.k8s.io/v1"}\nnot json\n${lines("d2")}`,
    );
    const t = tailer();
    await t.drain();
    expect(auditIds(await readTopic(bus, TOPIC, 2))).toEqual(["d1", "d2"]);
    const reasons = (await readTopic(bus, Topics.deadLetters, 2))
      .map((m) => JSON.parse(m.value).reason)
      .sort();
    expect(reasons).toEqual(["line 3: malformed JSON", "missing auditID"]);
  });

  it("runs on its own: polling (with fs.watch as a hint) picks up appends, a file created later, and rotation", async () => {
    const t = tailer({ pollMs: 100 });
    t.start();
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, lines("w1"));
    await eventually(async () => auditIds(await readTopic(bus, TOPIC, 1, 200)).length === 1);
    appendFileSync(file, lines("w2"));
    renameSync(file, `${file}.1`);
    writeFileSync(file, lines("w3"));
    const ids = await eventually(async () => {
      const got = auditIds(await readTopic(bus, TOPIC, 3, 200));
      return got.length === 3 && got;
    });
    expect(ids).toEqual(["w1", "w2", "w3"]);
  });
});
