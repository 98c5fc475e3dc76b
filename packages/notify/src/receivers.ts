/**
 * Payloads per receiver type. Each takes the notifications due for one receiver (latest state per
 * alert) and returns the HTTP requests to make; PagerDuty needs one request per alert.
 */
import { createHmac } from "node:crypto";
import type { Receiver } from "@identrail/config";
import type { Severity } from "@identrail/schema";

export interface AlertSnapshot {
  id: string;
  rule: string;
  severity: Severity;
  status: "open" | "acknowledged" | "resolved";
  identity: string;
  title: string;
  description: string;
  resource: string;
  first_seen: string;
  last_seen: string;
  count: number;
  labels: Record<string, string>;
}

export interface Notification {
  outbox_id: string;
  kind: "firing" | "resolved";
  alert: AlertSnapshot;
  /** When the change was enqueued (RFC 3339). */
  at: string;
  /** Route repeat interval, for Alertmanager's endsAt while firing. */
  repeat_interval: number;
}

export interface OutRequest {
  body: string;
  headers: Record<string, string>;
  /** Outbox ids this request delivers. */
  ids: string[];
}

/** PagerDuty Events API v2 severities: critical, error, warning, info. */
export function pagerdutySeverity(s: Severity): "critical" | "error" | "warning" | "info" {
  return s === "critical" ? "critical" : s === "high" ? "error" : s === "medium" ? "warning" : "info";
}

/**
 * Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): `dedup_key` =
 * alert id, so updates fold into one incident and `resolve` closes it.
 */
function pagerduty(r: Extract<Receiver, { type: "pagerduty" }>, ns: Notification[]): OutRequest[] {
  return ns.map((n) => {
    const a = n.alert;
    const body =
      n.kind === "resolved"
        ? { routing_key: r.routing_key, event_action: "resolve", dedup_key: a.id }
        : {
            routing_key: r.routing_key,
            event_action: "trigger",
            dedup_key: a.id,
            payload: {
              summary: `[${a.severity}] ${a.title}`.slice(0, 1024),
              source: a.identity || "identrail",
              severity: pagerdutySeverity(a.severity),
              timestamp: a.last_seen,
              component: a.resource || undefined,
              group: a.labels.namespace || undefined,
              class: a.rule,
              custom_details: {
                description: a.description,
                count: a.count,
                first_seen: a.first_seen,
                labels: a.labels,
                status: a.status,
              },
            },
          };
    return { body: JSON.stringify(body), headers: {}, ids: [n.outbox_id] };
  });
}

/** Alertmanager labels: names match [a-zA-Z_][a-zA-Z0-9_]*. */
function amLabels(a: AlertSnapshot): Record<string, string> {
  const l: Record<string, string> = {
    alertname: a.rule,
    severity: a.severity,
    identrail_alert_id: a.id,
    identity: a.identity,
  };
  for (const [k, v] of Object.entries(a.labels)) {
    const key = k.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^[^a-zA-Z_]/, "_");
    if (v && !(key in l)) l[key] = v;
  }
  return l;
}

/**
 * Alertmanager API v2 `POST /api/v2/alerts`. While firing, endsAt = now + 4 × repeat interval (what
 * Prometheus does with its resend delay) so Alertmanager keeps the alert only while we keep re-sending;
 * resolved alerts carry endsAt = the time we saw the resolution.
 */
function alertmanager(ns: Notification[]): OutRequest[] {
  const now = Date.now();
  const alerts = ns.map((n) => ({
    labels: amLabels(n.alert),
    annotations: { summary: n.alert.title, description: n.alert.description, resource: n.alert.resource },
    startsAt: n.alert.first_seen,
    endsAt: n.kind === "resolved" ? n.at : new Date(now + 4 * n.repeat_interval).toISOString(),
  }));
  return [{ body: JSON.stringify(alerts), headers: {}, ids: ns.map((n) => n.outbox_id) }];
}

/** Slack incoming webhook: one message per group (https://api.slack.com/messaging/webhooks). */
function slack(ns: Notification[]): OutRequest[] {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const lines = ns.map((n) => {
    const a = n.alert;
    const mark = n.kind === "resolved" ? "RESOLVED" : a.severity.toUpperCase();
    return `*[${mark}]* ${esc(a.title)} (identity \`${esc(a.identity)}\`, rule \`${a.rule}\`, ${a.count}×, alert \`${a.id}\`)`;
  });
  const text = `Identrail: ${ns.length} alert update${ns.length === 1 ? "" : "s"}\n${lines.join("\n")}`;
  return [{ body: JSON.stringify({ text }), headers: {}, ids: ns.map((n) => n.outbox_id) }];
}

/**
 * Generic webhook: JSON body signed with HMAC-SHA256 over the exact body bytes
 * (`X-Identrail-Signature: sha256=<hex>`). The body carries `sent_at` and the timestamp header repeats it,
 * so a receiver can refuse stale replays and the signature covers the time.
 */
export function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
function webhook(r: Extract<Receiver, { type: "webhook" }>, ns: Notification[]): OutRequest[] {
  const sentAt = new Date().toISOString();
  const body = JSON.stringify({
    version: 1,
    sent_at: sentAt,
    notifications: ns.map((n) => ({ id: n.outbox_id, dedup_key: n.alert.id, kind: n.kind, alert: n.alert })),
  });
  return [
    {
      body,
      headers: {
        "x-identrail-signature": signWebhook(r.secret, body),
        "x-identrail-timestamp": String(Math.floor(Date.parse(sentAt) / 1000)),
      },
      ids: ns.map((n) => n.outbox_id),
    },
  ];
}

export function buildRequests(r: Receiver, ns: Notification[]): OutRequest[] {
  switch (r.type) {
    case "pagerduty":
      return pagerduty(r, ns);
    case "alertmanager":
      return alertmanager(ns);
    case "slack":
      return slack(ns);
    case "webhook":
      return webhook(r, ns);
  }
}

/** Alertmanager's endpoint is the base URL plus /api/v2/alerts. */
export function endpoint(r: Receiver): string {
  return r.type === "alertmanager" ? `${r.url.replace(/\/+$/, "")}/api/v2/alerts` : r.url;
}
