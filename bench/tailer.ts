/**
 * File tailer → Kafka, lines/s, against rsyslog `imfile` → `omkafka` (Debian rsyslog + rsyslog-kafka)
 * reading the same audit log file (the kube-apiserver log backend's one-Event-per-line format) into the
 * same broker. Both are timed from start until every line is on the topic, with acks=all on both sides:
 * rsyslog's topic holds one message per line, so there the topic's high watermarks must sum to the line
 * count (read through the Kafka admin API every 50 ms); the tailer packs a batch's records per partition
 * (v2 raw envelopes), so its topic is read by kcat from the beginning as it fills and the records in the
 * envelopes are counted. Each run uses fresh topics and fresh reader state, so both read the whole file
 * from the beginning.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { KafkaBus, prefixedBus } from "@identrail/bus";
import { startKafkaPeer } from "@identrail/bus/testing";
import { FileTailer } from "@identrail/collector";
import { parseConfig } from "@identrail/config";
import { Topics } from "@identrail/schema";
import { k8sAudit } from "@identrail/sources";
import { Kafka, logLevel } from "kafkajs";
import { Traffic } from "./gen/traffic";
import { figure, log, RUNS, SMALL, sleep, writeResult } from "./lib";

const LINES = SMALL ? 5000 : 20_000;
const RSYSLOGD = "/usr/sbin/rsyslogd";
const OMKAFKA = "/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so";

async function main() {
  if (!existsSync(RSYSLOGD) || !existsSync(OMKAFKA)) {
    writeResult({
      name: "tailer",
      title: "File tailer → Kafka",
      figures: [],
      notes: ["not measured: Debian packages rsyslog and rsyslog-kafka are not installed (the reference)"],
    });
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "identrail-bench-tail-"));
  const file = join(dir, "audit.log");
  const t = new Traffic({ identities: 5000, seed: 21 });
  const lines: string[] = [];
  for (let i = 0; i < LINES; i++) lines.push(JSON.stringify(t.k8sEvent()));
  writeFileSync(file, lines.join("\n") + "\n");

  const peer = await startKafkaPeer({ brokers: 3 });
  const admin = new Kafka({
    clientId: "bench-admin",
    brokers: peer.brokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const high = async (topic: string) => {
    try {
      return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    } catch {
      return 0;
    }
  };
  const until = async (topic: string, limitMs = 120_000) => {
    const end = performance.now() + limitMs;
    while ((await high(topic)) < LINES) {
      if (performance.now() > end) throw new Error(`${topic}: not all ${LINES} lines arrived`);
      await sleep(50);
    }
  };
  /**
   * Resolves once `topic` holds LINES records, counted from the envelopes (v2: its `records`, else one),
   * read by kcat as they arrive. kcat starts with the tailer and may create the topic itself
   * (`allow.auto.create.topics`); `fetch.wait.max.ms=10` because the mock cluster otherwise parks every
   * fetch at a partition's end for the full default 500 ms (see the kafka-consume bench).
   */
  const records = (topic: string, limitMs = 120_000) => {
    const kcat = spawn(
      "kcat",
      [
        ...["-b", peer.brokers.join(","), "-C", "-t", topic, "-o", "beginning", "-q", "-u"],
        ...["-X", "allow.auto.create.topics=true", "-X", "fetch.wait.max.ms=10", "-f", "%s\\n"],
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let n = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${topic}: not all ${LINES} lines arrived`)), limitMs);
      createInterface({ input: kcat.stdout! }).on("line", (line) => {
        if (!line) return;
        const env = JSON.parse(line);
        n += env.v === 2 ? env.records.length : 1;
        if (n >= LINES) {
          clearTimeout(timer);
          resolve();
        }
      });
      kcat.once("exit", (code) => reject(new Error(`kcat exited (${code}) after ${n} records of ${topic}`)));
    });
    return done.finally(() => kcat.kill("SIGKILL"));
  };
  const bus = new KafkaBus({ brokers: peer.brokers, clientId: "bench-tailer" });
  const config = parseConfig({ data_dir: dir, kafka: { brokers: peer.brokers } });
  const runs: number[] = [];
  const refs: number[] = [];
  let rsyslog: ChildProcess | undefined;
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const prefix = `tail${i}.`;
      const tailer = new FileTailer({
        path: file,
        parser: k8sAudit,
        cluster: "prod",
        deps: { bus: prefixedBus(bus, prefix), config },
        stateDir: mkdtempSync(join(dir, "state-")),
        pollMs: 50,
      });
      let t0 = performance.now();
      const arrived = records(prefix + Topics.raw("k8s-audit"));
      tailer.start();
      await arrived;
      const tailRate = LINES / ((performance.now() - t0) / 1000);
      await tailer.stop();

      const work = mkdtempSync(join(dir, "rsyslog-"));
      const conf = join(work, "rsyslog.conf");
      const topic = `rsyslog-${i}`;
      writeFileSync(
        conf,
        [
          `global(workDirectory="${work}" maxMessageSize="64k")`,
          'module(load="imfile" mode="inotify")',
          'module(load="omkafka")',
          'template(name="raw" type="string" string="%msg%")',
          `input(type="imfile" file="${file}" tag="audit" ruleset="k" freshStartTail="off")`,
          `ruleset(name="k" queue.type="LinkedList" queue.size="100000") { action(type="omkafka" broker=[${peer.brokers.map((b) => `"${b}"`).join(",")}] topic="${topic}" template="raw" confParam=["acks=all","linger.ms=5"]) }`,
        ].join("\n"),
      );
      t0 = performance.now();
      rsyslog = spawn(RSYSLOGD, ["-n", "-f", conf, "-i", join(work, "rsyslogd.pid")], { stdio: "ignore" });
      await until(topic);
      const refRate = LINES / ((performance.now() - t0) / 1000);
      const exited = new Promise((r) => rsyslog!.once("exit", r));
      rsyslog.kill("SIGTERM");
      await exited;
      rsyslog = undefined;
      if (i === 0) continue; // warm-up: topic creation, producer connections, JIT
      runs.push(tailRate);
      refs.push(refRate);
      log(`tailer ${Math.round(tailRate)} lines/s, rsyslog imfile→omkafka ${Math.round(refRate)} lines/s`);
    }
  } finally {
    rsyslog?.kill("SIGKILL");
    await admin.disconnect();
    await bus.close();
    await peer.stop();
  }
  writeResult({
    name: "tailer",
    title: "File tailer → Kafka",
    figures: [
      figure(
        `FileTailer, ${LINES} audit Event lines, acks=all`,
        "lines/s",
        runs,
        { what: "rsyslog imfile → omkafka, same file and broker", runs: refs },
        "≥ 0.5×",
      ),
    ],
    notes: [
      "rsyslog is timed from process start (its start-up is a few ms); the tailer validates, redacts and wraps each line, rsyslog forwards it as is",
    ],
  });
}

await main();
