import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ClickHouseClient } from "@clickhouse/client";

export interface Recorded {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local HTTP receiver that records requests and answers with queued statuses (default 202). */
export class Recorder {
  requests: Recorded[] = [];
  statuses: number[] = [];
  server?: Server;
  port = 0;
  async start(port = 0) {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        this.requests.push({ url: req.url ?? "", headers: req.headers, body });
        const status = this.statuses.shift() ?? 202;
        if (status === 429) res.setHeader("retry-after", "1");
        res.statusCode = status;
        res.end(status < 300 ? '{"status":"success"}' : '{"status":"error"}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  async stop() {
    await new Promise((r) => this.server?.close(r));
    this.server?.closeAllConnections();
  }
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
  json() {
    return this.requests.map((r) => JSON.parse(r.body));
  }
}

const chTime = (iso: string | number) => new Date(iso).toISOString().replace("T", " ").replace("Z", "");

export async function upsertAlert(
  ch: ClickHouseClient,
  a: {
    id: string;
    severity?: string;
    count?: number;
    version: number;
    rule?: string;
    labels?: Record<string, string>;
    last_seen?: string;
  },
) {
  const t = a.last_seen ?? new Date().toISOString();
  await ch.insert({
    table: "alerts",
    format: "JSONEachRow",
    values: [
      {
        id: a.id,
        rule: a.rule ?? "secret-read-unusual",
        severity: a.severity ?? "high",
        identity_id: "k8s-sa:prod:ml:trainer",
        title: `Unusual secret read by trainer (${a.id})`,
        description: "The identity read a secret it never read before.",
        resource: "vault://secret/data/ml/db",
        group_key: a.id,
        first_seen: chTime(t),
        last_seen: chTime(t),
        count: a.count ?? 1,
        labels: {
          namespace: "ml",
          environment: "prod",
          identity_type: "service_account",
          ...(a.labels ?? {}),
        },
        mitre: ["T1552"],
        created_at: chTime(t),
        version: a.version,
      },
    ],
  });
}

let stateVersion = 1;
export async function setStatus(
  ch: ClickHouseClient,
  id: string,
  status: "open" | "acknowledged" | "resolved",
) {
  await ch.insert({
    table: "alert_state",
    format: "JSONEachRow",
    values: [
      {
        alert_id: id,
        status,
        assignee: "",
        updated_at: chTime(Date.now()),
        updated_by: "test",
        version: Date.now() * 1000 + stateVersion++,
      },
    ],
  });
}
