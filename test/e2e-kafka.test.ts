/**
 * The walking skeleton over the Kafka protocol (librdkafka's mock cluster via kcat, or KAFKA_BROKERS),
 * and a detector killed mid-stream with SIGKILL and restarted: every event lands exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { type KafkaPeer, startKafkaPeer } from "@identrail/bus/testing";
import { startRuntime } from "@identrail/cli";
import { createStoreClient } from "@identrail/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { at, eventList, k8sEvent, secretStory } from "./helpers/k8s";
import { auth, INGEST_TOKEN, READ_TOKEN, tempDir, testConfig, waitFor } from "./helpers/runtime";

const ROOT = join(import.meta.dirname, "..");
let peer: KafkaPeer;
beforeAll(async () => {
  peer = await startKafkaPeer();
});
afterAll(async () => {
  await peer?.stop();
});

describe("Kafka mode", () => {
  it("posts an EventList and sees the alert through the API", async () => {
    const rt = await startRuntime(testConfig({ kafka: { brokers: peer.brokers, client_id: "e2e" } }), {
      topicPrefix: `${peer.prefix}.a.`,
    });
    try {
      expect(rt.bus?.kind).toBe("kafka");
      const story = secretStory();
      const res = await rt.app.inject({
        method: "POST",
        url: "/ingest/k8s-audit?cluster=prod",
        headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
        payload: eventList([...story.normal, story.attack]),
      });
      expect(res.json()).toMatchObject({ accepted: 11, rejected: 0 });
      const items = await waitFor(async () => {
        const r = await rt.app.inject({ url: "/api/v1/alerts", headers: auth(READ_TOKEN) });
        return r.json().items.length ? r.json().items : undefined;
      }, 90_000);
      expect(items[0]).toMatchObject({
        rule: "secret-read-unusual",
        identity: "k8s-sa:prod:ml-training:fine-tuning-job",
        first_seen: story.attack.requestReceivedTimestamp,
      });
    } finally {
      await rt.stop();
    }
  }, 180_000);
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Child {
  proc: ChildProcess;
  url: string;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, "packages/cli/bin/identrail.mjs"), "all"], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "error" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  await waitFor(async () => out.includes("listening on"), 60_000, 100).catch((e) => {
    proc.kill("SIGKILL");
    throw new Error(`child did not start: ${e.message}\n${out.slice(-2000)}`);
  });
  return { proc, url: `http://127.0.0.1:${port}` };
}

async function stopChild(c: Child, signal: NodeJS.Signals) {
  if (c.proc.exitCode !== null) return;
  const exited = new Promise((r) => c.proc.once("exit", r));
  c.proc.kill(signal);
  await exited;
}

describe("detector restart mid-stream", () => {
  it("SIGKILL during ingestion, restart: every acknowledged event is stored exactly once", async () => {
    const dataDir = tempDir();
    const env = {
      KAFKA_BROKERS: peer.brokers.join(","),
      DATA_DIR: dataDir,
      IDENTRAIL_TOKENS: `ingest:ingest:${INGEST_TOKEN},reader:read:${READ_TOKEN}`,
      IDENTRAIL_CLUSTER: "prod",
    };
    const sas = ["a", "b", "c", "d"].map((n) => `system:serviceaccount:ml-training:job-${n}`);
    const batches = Array.from({ length: 24 }, (_, b) =>
      Array.from({ length: 25 }, (_, i) =>
        k8sEvent({
          user: sas[(b * 25 + i) % 4],
          verb: "get",
          resource: "configmaps",
          namespace: "ml-training",
          name: `cm-${i}`,
          time: at("2026-11-01", b % 20, (i % 20) + 1, i),
        }),
      ),
    );
    let child = await startChild(env);
    let acknowledged = 0;
    let kills = 0;
    for (let b = 0; b < batches.length; b++) {
      // Kill the whole process (collector + detector) twice while it is consuming.
      if (b === 8 || b === 16) {
        await stopChild(child, "SIGKILL");
        kills++;
        child = await startChild(env);
      }
      await waitFor(async () => {
        const r = await fetch(`${child.url}/ingest/k8s-audit?cluster=prod`, {
          method: "POST",
          headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
          body: JSON.stringify(eventList(batches[b])),
        }).catch(() => undefined);
        if (r?.status === 200) {
          acknowledged += ((await r.json()) as { accepted: number }).accepted;
          return true;
        }
        return false;
      }, 60_000);
    }
    expect(kills).toBe(2);
    expect(acknowledged).toBe(600);
    const countVia = async (url: string) => {
      let n = 0;
      for (const sa of sas) {
        const r = await fetch(
          `${url}/api/v1/identities/${encodeURIComponent(sa)}/timeline?from=2026-10-01T00:00:00Z&to=2026-12-31T00:00:00Z&page_size=1000`,
          { headers: auth(READ_TOKEN) },
        );
        if (r.status !== 200) return 0;
        n += ((await r.json()) as { items: { type: string }[] }).items.filter(
          (i) => i.type === "event",
        ).length;
      }
      return n;
    };
    await waitFor(async () => (await countVia(child.url)) >= 600, 120_000, 500);
    await stopChild(child, "SIGTERM");
    const store = await createStoreClient({ dataDir });
    try {
      const rs = await store.ch.query({
        query: "SELECT count() AS n, uniqExact(id) AS u FROM events",
        format: "JSONEachRow",
      });
      const [row] = (await rs.json()) as { n: number | string; u: number | string }[];
      console.log(
        `restart test: sent 600, acknowledged ${acknowledged}, stored rows ${row.n}, distinct ${row.u}, kills ${kills}`,
      );
      expect(Number(row.u)).toBe(600);
      expect(Number(row.n)).toBe(600);
    } finally {
      await store.close();
    }
  }, 400_000);
});
