/**
 * Shared pieces of the fault-injection suite: a Kafka-protocol peer we can pause (SIGSTOP) and resume,
 * child processes of the real CLI, committed-offset checks through the Kafka admin API, and the figure
 * line every fault test prints.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { waitFor } from "../helpers/runtime";

export const ROOT = join(import.meta.dirname, "../..");
/** `FAULTS_SCALE=full` runs the sizes of issue 7; the default fits CI. */
export const FULL = process.env.FAULTS_SCALE === "full";

export interface Figures {
  sent: number;
  acknowledged: number;
  stored: number;
  duplicates: number;
  lost: number;
  [extra: string]: number | string;
}

/** One greppable line per fault test: `FAULT <name>: sent … acknowledged … stored … duplicates … lost …`. */
export function figureLine(name: string, f: Figures) {
  const parts = Object.entries(f).map(([k, v]) => `${k} ${v}`);
  const line = `FAULT ${name}: ${parts.join(", ")}`;
  console.log(line);
  return line;
}

export interface PausablePeer {
  brokers: string[];
  /**
   * Freezes the broker process (it keeps its sockets and data but answers nothing); resolves once every
   * process of the peer's group is seen stopped, so nothing sent afterwards can be answered.
   */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

/**
 * librdkafka's mock cluster via Debian's kcat, like packages/bus/src/testing/mock-kafka.ts, but keeping
 * the process id so a test can make the broker unavailable (SIGSTOP) and bring it back (SIGCONT) with its
 * log intact: the mock cannot be restarted on the same ports or with its data.
 */
export async function startPausablePeer(brokers = 1): Promise<PausablePeer> {
  const child: ChildProcess = spawn(
    "bash",
    ["-c", `exec sleep 86400 | kcat -b x:9092 -X test.mock.num.brokers=${brokers} -d mock -P -t boot`],
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  const list = await new Promise<string[]>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error("kcat mock cluster did not start in 10s")), 10_000);
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
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kcat exited with ${code}: is Debian's kcat installed?`));
    });
  });
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {}
  };
  return {
    brokers: list,
    pause: async () => {
      signal("SIGSTOP");
      // kill(2) only queues the signal: on a loaded machine a broker thread can still answer for a moment.
      // Wait until /proc shows every process of the group in state T (stopped), see proc(5).
      await waitFor(async () => groupStopped(child.pid!), 5000, 5);
    },
    resume: () => signal("SIGCONT"),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      signal("SIGCONT");
      signal("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    },
  };
}

/** True when every process whose process group is `pgid` is stopped (state T in /proc/<pid>/stat). */
function groupStopped(pgid: number): boolean {
  let found = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the parenthesised command name: state, ppid, pgrp, …
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(f[2]) !== pgid) continue;
    found++;
    if (f[0] !== "T") return false;
  }
  return found > 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Child {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts `identrail <target>` as a child process and waits until it listens. */
export async function startChild(target: string, env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, "packages/cli/bin/identrail.mjs"), target], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  await waitFor(async () => out.includes("listening on"), 90_000, 100).catch((e) => {
    proc.kill("SIGKILL");
    throw new Error(`child did not start: ${e.message}\n${out.slice(-2000)}`);
  });
  return { proc, url: `http://127.0.0.1:${port}`, output: () => out };
}

export async function stopChild(c: Child, signal: NodeJS.Signals) {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise((r) => c.proc.once("exit", r));
  c.proc.kill(signal);
  await exited;
}

/** Committed offsets and high watermarks of consumer groups, read through the Kafka admin API. */
export function offsetWatcher(brokers: string[]) {
  const kafka = new Kafka({ clientId: "faults-admin", brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  let connected: Promise<void> | undefined;
  return {
    /** Sum over partitions of (high watermark, committed offset) for one group on one topic. */
    async progress(groupId: string, topic: string): Promise<{ high: number; committed: number }> {
      connected ??= admin.connect();
      await connected;
      const high = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const committed = (t?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
      return { high, committed };
    },
    async close() {
      if (connected) await admin.disconnect().catch(() => {});
    },
  };
}

/** Splits `items` into chunks of `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
