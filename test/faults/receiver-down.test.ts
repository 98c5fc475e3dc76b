/**
 * Fault: the alert-routing receiver is down (answers 503), then comes back. The notifier keeps its
 * outbox in ClickHouse and retries with backoff; once the receiver answers 2xx, every alert is delivered
 * and acknowledged exactly once (a receiver may see the failed attempts again, never a second success).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startRuntime } from "@identrail/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventList, secretStory } from "../helpers/k8s";
import { auth, INGEST_TOKEN, testConfig, waitFor } from "../helpers/runtime";
import { figureLine } from "./helpers";

const DOWN_MS = 8000;
let server: Server;
let url = "";
let down = true;
let failedAttempts = 0;
const acknowledged = new Map<string, number>(); // alert id (dedup_key) → 2xx deliveries of "firing"

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (down) {
        failedAttempts++;
        res.writeHead(503).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        notifications: { dedup_key: string; kind: string }[];
      };
      for (const n of body.notifications)
        if (n.kind === "firing") acknowledged.set(n.dedup_key, (acknowledged.get(n.dedup_key) ?? 0) + 1);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe("alert receiver down, then back", () => {
  it("every alert is delivered once after recovery", async () => {
    const rt = await startRuntime(
      testConfig({
        receivers: [
          { name: "hook", type: "webhook", url, secret: "faults-webhook-secret-0123", allow_loopback: true },
        ],
        routes: [{ receiver: "hook", group_wait: 100 }],
      }),
    );
    try {
      const jobs = ["fine-tuning-job", "eval-job", "data-prep"];
      const items = jobs.flatMap((j) => {
        const s = secretStory("2026-11-01", `system:serviceaccount:ml-training:${j}`);
        return [...s.normal, s.attack];
      });
      const res = await rt.app.inject({
        method: "POST",
        url: "/ingest/k8s-audit?cluster=prod",
        headers: { ...auth(INGEST_TOKEN), "content-type": "application/json" },
        payload: eventList(items),
      });
      expect(res.statusCode).toBe(200);
      const alertIds = async () => {
        const rs = await rt.store!.ch.query({
          query: "SELECT DISTINCT id FROM alerts",
          format: "JSONEachRow",
        });
        return ((await rs.json()) as { id: string }[]).map((r) => r.id).sort();
      };
      const ids = await waitFor(async () => {
        const l = await alertIds();
        return l.length >= jobs.length ? l : undefined;
      }, 60_000);
      // The receiver stays down until the notifier has tried (and failed) at least once.
      await waitFor(async () => failedAttempts > 0, 60_000);
      await new Promise((r) => setTimeout(r, DOWN_MS));
      down = false;
      const all = await alertIds();
      await waitFor(async () => all.every((id) => acknowledged.has(id)), 120_000, 250);
      // One more poll cycle (5 s) and backoff: nothing may be delivered a second time.
      await new Promise((r) => setTimeout(r, 7000));
      const twice = [...acknowledged.values()].filter((n) => n > 1).length;
      figureLine("receiver-down", {
        sent: all.length,
        acknowledged: [...acknowledged.values()].filter((n) => n >= 1).length,
        stored: all.length,
        duplicates: twice,
        lost: all.filter((id) => !acknowledged.has(id)).length,
        failed_attempts: failedAttempts,
      });
      expect(ids.length).toBeGreaterThanOrEqual(jobs.length);
      expect(failedAttempts).toBeGreaterThan(0);
      expect(all.filter((id) => !acknowledged.has(id))).toEqual([]);
      expect(twice).toBe(0);
    } finally {
      await rt.stop();
    }
  }, 240_000);
});
