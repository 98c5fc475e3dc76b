/**
 * Starts a Kafka-protocol peer for tests: librdkafka's mock cluster, carried by Debian's kcat
 * (`kcat -X test.mock.num.brokers=3 -d mock`). When KAFKA_BROKERS is set, tests use that cluster instead.
 * The test stops only the process it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";

export interface KafkaPeer {
  brokers: string[];
  /** Unique prefix so tests sharing a real cluster do not collide. */
  prefix: string;
  stop(): Promise<void>;
}

export async function startKafkaPeer(opts: { brokers?: number } = {}): Promise<KafkaPeer> {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  if (process.env.KAFKA_BROKERS) {
    return { brokers: process.env.KAFKA_BROKERS.split(","), prefix, stop: async () => {} };
  }
  // `sleep | kcat -P` keeps kcat's producer (and so the mock cluster) alive until we kill the group.
  const child: ChildProcess = spawn(
    "bash",
    [
      "-c",
      `exec 3>&1; sleep 86400 | kcat -b x:9092 -X test.mock.num.brokers=${opts.brokers ?? 3} -d mock -P -t boot`,
    ],
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  const brokers = await new Promise<string[]>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(
      () => reject(new Error("kcat mock cluster did not start in 10s (is kcat installed?)")),
      10_000,
    );
    child.stderr!.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /bootstrap\.servers=([0-9.:,]+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.stderr!.removeAllListeners("data");
        child.stderr!.resume();
        resolve(m[1].split(","));
      }
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kcat exited with ${code}: is Debian's kcat installed?`));
    });
  });
  return {
    brokers,
    prefix,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {}
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    },
  };
}
