/**
 * Against a real Alertmanager (Debian package prometheus-alertmanager): an alert fires, shows up in
 * Alertmanager's /api/v2/alerts with our labels, and goes away once acknowledged and resolved through
 * the Identrail API. The test starts Alertmanager on loopback itself and stops the PID it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenStoreFor } from "@identrail/api";
import { buildApp } from "@identrail/cli";
import { parseConfig } from "@identrail/config";
import { createAuthenticator } from "@identrail/http";
import { createStoreClient, migrate, type StoreClient } from "@identrail/store";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Notifier } from "../src";
import { upsertAlert } from "./helpers";

const AM_BIN = "/usr/bin/prometheus-alertmanager";
if (!existsSync(AM_BIN)) throw new Error(`${AM_BIN} is missing: apt-get install -y prometheus-alertmanager`);

const dir = mkdtempSync(join(tmpdir(), "identrail-am-"));
const TOKEN = "responder-token-0123456789abcdef";
let store: StoreClient;
let am: ChildProcess;
let amUrl = "";
let app: FastifyInstance;
let notifier: Notifier;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function amAlerts(): Promise<{ labels: Record<string, string>; status: { state: string } }[]> {
  const res = await fetch(`${amUrl}/api/v2/alerts`);
  return (await res.json()) as never;
}

beforeAll(async () => {
  const port = await freePort();
  amUrl = `http://127.0.0.1:${port}`;
  const cfgFile = join(dir, "alertmanager.yml");
  writeFileSync(cfgFile, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n");
  am = spawn(
    AM_BIN,
    [
      `--config.file=${cfgFile}`,
      `--storage.path=${join(dir, "am-data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
    ],
    { stdio: "ignore" },
  );
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    ready = await fetch(`${amUrl}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  if (!ready) throw new Error("alertmanager did not become ready");

  const config = parseConfig({
    data_dir: dir,
    target: "api",
    auth: { tokens: [{ name: "oncall", token: TOKEN, scopes: ["read", "respond"] }] },
    receivers: [{ name: "am", type: "alertmanager", url: amUrl, allow_loopback: true }],
    routes: [{ receiver: "am", group_wait: 0, repeat_interval: "1m" }],
  });
  store = await createStoreClient({ dataDir: dir });
  await migrate(store.ch);
  app = await buildApp({
    config,
    roles: new Set(["api"]),
    authenticate: createAuthenticator(config.auth, { extra: tokenStoreFor(store.ch) }),
    ch: store.ch,
  });
  notifier = new Notifier({ ch: store.ch, config });
});

afterAll(async () => {
  await app?.close();
  if (am?.pid) {
    am.kill("SIGTERM");
    await new Promise((r) => am.once("exit", r));
  }
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Alertmanager receiver", () => {
  it("fires into Alertmanager with our labels and resolves through the API", async () => {
    await upsertAlert(store.ch, { id: "am-alert-1", severity: "critical", version: 1 });
    await notifier.poll();
    expect(await notifier.deliver()).toBe(1);

    const firing = (await amAlerts()).filter((a) => a.labels.identrail_alert_id === "am-alert-1");
    expect(firing).toHaveLength(1);
    expect(firing[0].status.state).toBe("active");
    expect(firing[0].labels).toMatchObject({
      alertname: "secret-read-unusual",
      severity: "critical",
      identity: "k8s-sa:prod:ml:trainer",
      namespace: "ml",
      environment: "prod",
      identity_type: "service_account",
    });

    const headers = { authorization: `Bearer ${TOKEN}` };
    expect(
      (await app.inject({ method: "POST", url: "/api/v1/alerts/am-alert-1/ack", headers, payload: {} }))
        .statusCode,
    ).toBe(200);
    await notifier.poll();
    expect(await notifier.deliver()).toBe(0); // acknowledging keeps it firing: nothing new to send
    expect(
      (
        await app.inject({
          method: "POST",
          url: "/api/v1/alerts/am-alert-1/resolve",
          headers,
          payload: { comment: "rotated" },
        })
      ).statusCode,
    ).toBe(200);
    await notifier.poll();
    expect(await notifier.deliver()).toBe(1);

    // Alertmanager's v2 API lists only alerts whose endsAt is still in the future.
    expect((await amAlerts()).filter((a) => a.labels.identrail_alert_id === "am-alert-1")).toEqual([]);
  });
});
