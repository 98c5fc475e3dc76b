/**
 * File tailer → Kafka, lines/s, against rsyslog `imfile` → `omkafka` (Debian rsyslog + rsyslog-kafka)
 * reading the same audit log file (the kube-apiserver log backend's one-Event-per-line format) into the
 * same broker. Both are timed from start until every line is on the topic, with acks=all on both sides:
 * rsyslog's topic holds one message per line, so there the topic's high watermarks must sum to the line
 * count; the tailer packs a batch's records per partition (v2 raw envelopes), so there every line must be
 * acknowledged (`identrail_tailer_lines_total`) and the high watermarks must sum to the messages that
 * carry them. Both read through the Kafka admin API every 50 ms, off the reader's critical path (reading
 * the topic back on the tailer's own thread to count records would slow the thing measured). Each run
 * uses fresh topics and fresh reader state, so both read the whole file from the beginning.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bus, KafkaBus, prefixedBus } from "@identrail/bus";
import { startKafkaPeer } from "@identrail/bus/testing";
import { FileTailer, tailerMetrics } from "@identrail/collector";
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
  /** identrail_tailer_lines_total: lines the tailers read and the bus acknowledged. */
  const linesAcked = async () =>
    (await tailerMetrics.lines.get()).values.reduce((sum, v) => sum + v.value, 0);
  const until = async (topic: string, limitMs = 120_000) => {
    const end = performance.now() + limitMs;
    while ((await high(topic)) < LINES) {
      if (performance.now() > end) throw new Error(`${topic}: not all ${LINES} lines arrived`);
      await sleep(50);
    }
  };
  const bus = new KafkaBus({ brokers: peer.brokers, clientId: "bench-tailer" });
  const config = parseConfig({ data_dir: dir, kafka: { brokers: peer.brokers } });
  const runs: number[] = [];
  const refs: number[] = [];
  let rsyslog: ChildProcess | undefined;
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const prefix = `tail${i}.`;
      const topic = prefix + Topics.raw("k8s-audit");
      // Messages the tailer handed to Kafka on its topic and Kafka acknowledged (acks=all).
      let messages = 0;
      const inner = prefixedBus(bus, prefix);
      const counting: Bus = {
        ...inner,
        produce: async (t, msgs) => {
          await inner.produce(t, msgs);
          if (prefix + t === topic) messages += msgs.length;
        },
      };
      const lines0 = await linesAcked();
      const tailer = new FileTailer({
        path: file,
        parser: k8sAudit,
        cluster: "prod",
        deps: { bus: counting, config },
        stateDir: mkdtempSync(join(dir, "state-")),
        pollMs: 50,
      });
      let t0 = performance.now();
      tailer.start();
      // Same stop condition and polling as rsyslog's below: every line acknowledged, and the topic's high
      // watermarks (admin API, every 50 ms) summing to the messages that carry them.
      const end = performance.now() + 120_000;
      while ((await linesAcked()) - lines0 < LINES || (await high(topic)) < messages) {
        if (performance.now() > end) throw new Error(`${topic}: not all ${LINES} lines arrived`);
        await sleep(50);
      }
      const tailRate = LINES / ((performance.now() - t0) / 1000);
      await tailer.stop();

      const work = mkdtempSync(join(dir, "rsyslog-"));
      const conf = join(work, "rsyslog.conf");
      const rsTopic = `rsyslog-${i}`;
      writeFileSync(
        conf,
        [
          `global(workDirectory="${work}" maxMessageSize="64k")`,
          'module(load="imfile" mode="inotify")',
          'module(load="omkafka")',
          'template(name="raw" type="string" string="%msg%")',
          `input(type="imfile" file="${file}" tag="audit" ruleset="k" freshStartTail="off")`,
          `ruleset(name="k" queue.type="LinkedList" queue.size="100000") { action(type="omkafka" broker=[${peer.brokers.map((b) => `"${b}"`).join(",")}] topic="${rsTopic}" template="raw" confParam=["acks=all","linger.ms=5"]) }`,
        ].join("\n"),
      );
      t0 = performance.now();
      rsyslog = spawn(RSYSLOGD, ["-n", "-f", conf, "-i", join(work, "rsyslogd.pid")], { stdio: "ignore" });
      await until(rsTopic);
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
