/**
 * Alert routing with a durable outbox in ClickHouse.
 *
 * poll():    reads alerts + alert_state (no coupling to detector internals), compares each with what
 *            was last enqueued per receiver (notify_state) and enqueues changes into notify_outbox:
 *            new alert / reopened, severity or count changed, repeat interval elapsed → firing;
 *            resolved → resolved. The outbox row is written before notify_state, so a crash in between
 *            re-enqueues (at-least-once) rather than losing a change.
 * deliver(): sends due outbox rows grouped per receiver (latest state per alert), records every
 *            attempt in notify_attempts, retries 429/5xx/network errors with exponential backoff.
 */
import { createHash } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import { type Config, ConfigError, type NotifyRoute, type Receiver } from "@identrail/config";
import { counter, logger } from "@identrail/core";
import { type Severity, severityRank } from "@identrail/schema";
import { type AlertSnapshot, buildRequests, endpoint, type Notification } from "./receivers";
import { postJson, retryable } from "./send";
import { checkUrl } from "./ssrf";

const enqueued = counter("identrail_notify_enqueued_total", "Alert notifications enqueued in the outbox", [
  "receiver",
  "kind",
]);
const attempts = counter("identrail_notify_attempts_total", "Notification delivery attempts", [
  "receiver",
  "outcome",
]);

const chTime = (d: number | string) => new Date(d).toISOString().replace("T", " ").replace("Z", "");
const isoOf = (s: string) => (s.includes("T") ? s : `${s.replace(" ", "T")}Z`);

export interface NotifierOptions {
  ch: ClickHouseClient;
  config: Pick<Config, "routes" | "receivers">;
  /** How often to poll alerts and the outbox (ms). */
  interval?: number;
  /** Alerts older than this (by last activity) that are already notified are not re-read (ms). */
  lookback?: number;
  /** First retry delay; doubles per attempt up to maxBackoff (ms). */
  baseBackoff?: number;
  maxBackoff?: number;
  /** Give up after this many attempts on retryable errors (a long outage: ~2 days at the defaults). */
  maxAttempts?: number;
  now?: () => number;
}

export function matches(route: NotifyRoute, a: AlertSnapshot): boolean {
  const m = route.match;
  if (severityRank(a.severity) < severityRank(m.min_severity)) return false;
  if (m.rules && !m.rules.includes(a.rule)) return false;
  if (m.namespaces && !m.namespaces.includes(a.labels.namespace ?? "")) return false;
  if (m.environments && !m.environments.includes(a.labels.environment ?? "")) return false;
  if (m.identity_types && !m.identity_types.includes(a.labels.identity_type ?? "")) return false;
  return true;
}

/** Checks routes reference receivers and receiver URLs pass the SSRF policy (resolving DNS). */
export async function validateNotifyConfig(config: Pick<Config, "routes" | "receivers">): Promise<void> {
  const names = new Set<string>();
  for (const r of config.receivers) {
    if (names.has(r.name)) throw new ConfigError(`receiver ${r.name} is defined twice`);
    names.add(r.name);
  }
  for (const route of config.routes)
    if (!names.has(route.receiver))
      throw new ConfigError(`route refers to unknown receiver ${route.receiver}`);
  for (const r of config.receivers) {
    try {
      await checkUrl(r.url, r);
    } catch (e) {
      // A name that does not resolve yet is not fatal (DNS may lag the deployment); every send is
      // checked again at connect time. A forbidden address is a configuration error.
      if (/cannot resolve/.test((e as Error).message))
        logger.warn({ receiver: r.name }, "receiver host does not resolve yet");
      else throw new ConfigError(`receiver ${r.name}: ${(e as Error).message}`);
    }
  }
}

interface OutboxRow {
  id: string;
  alert_id: string;
  receiver: string;
  kind: "firing" | "resolved";
  payload: string;
  created_at: string;
  due_at: string;
  attempts: number;
  state: string;
  last_error: string;
}

export class Notifier {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private receivers: Map<string, Receiver>;
  /** PagerDuty send times per receiver (sliding minute window). */
  private sent = new Map<string, number[]>();
  private version = 0;
  private o: Required<Omit<NotifierOptions, "ch" | "config">>;

  constructor(private opts: NotifierOptions) {
    this.receivers = new Map(opts.config.receivers.map((r) => [r.name, r]));
    this.o = {
      interval: opts.interval ?? 5000,
      lookback: opts.lookback ?? 30 * 86_400_000,
      baseBackoff: opts.baseBackoff ?? 2000,
      maxBackoff: opts.maxBackoff ?? 300_000,
      maxAttempts: opts.maxAttempts ?? 600,
      now: opts.now ?? Date.now,
    };
  }

  private nextVersion() {
    this.version = Math.max(this.version + 1, this.o.now() * 1000);
    return this.version;
  }

  private async q<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const rs = await this.opts.ch.query({
      query,
      query_params: params,
      format: "JSONEachRow",
      clickhouse_settings: { max_execution_time: 30 },
    });
    return (await rs.json()) as T[];
  }

  /** Enqueues every alert change since the last poll; returns how many notifications were enqueued. */
  async poll(): Promise<number> {
    const routes = this.opts.config.routes;
    if (!routes.length) return 0;
    const now = this.o.now();
    const alerts = await this.q<AlertSnapshot & { count: string | number; updated_at: string }>(
      "SELECT a.id AS id, a.rule AS rule, a.severity AS severity, if(s.status = '', 'open', s.status) AS status, a.identity_id AS identity, " +
        "a.title AS title, a.description AS description, a.resource AS resource, a.first_seen AS first_seen, a.last_seen AS last_seen, " +
        "a.count AS count, a.labels AS labels, s.updated_at AS updated_at " +
        "FROM (SELECT * FROM alerts FINAL) AS a LEFT JOIN (SELECT alert_id, argMax(status, version) AS status, max(updated_at) AS updated_at " +
        "FROM alert_state GROUP BY alert_id) AS s ON s.alert_id = a.id " +
        "WHERE a.last_seen >= parseDateTime64BestEffort({since:String}, 3, 'UTC') OR s.updated_at >= parseDateTime64BestEffort({since:String}, 3, 'UTC') OR s.status != 'resolved' " +
        "ORDER BY a.id LIMIT 100000",
      { since: chTime(now - this.o.lookback) },
    );
    if (!alerts.length) return 0;
    const prev = new Map<string, { fingerprint: string; status: string; sent_at: string }>();
    for (let i = 0; i < alerts.length; i += 5000) {
      const ids = alerts.slice(i, i + 5000).map((a) => a.id);
      for (const r of await this.q<{
        alert_id: string;
        receiver: string;
        fingerprint: string;
        status: string;
        sent_at: string;
      }>(
        "SELECT alert_id, receiver, argMax(fingerprint, version) AS fingerprint, argMax(status, version) AS status, argMax(sent_at, version) AS sent_at " +
          "FROM notify_state WHERE alert_id IN {ids:Array(String)} GROUP BY alert_id, receiver",
        { ids },
      ))
        prev.set(`${r.alert_id}\u0000${r.receiver}`, r);
    }
    const outbox: Record<string, unknown>[] = [];
    const state: Record<string, unknown>[] = [];
    for (const raw of alerts) {
      const a: AlertSnapshot = {
        id: raw.id,
        rule: raw.rule,
        severity: raw.severity as Severity,
        status: raw.status,
        identity: raw.identity,
        title: raw.title,
        description: raw.description,
        resource: raw.resource,
        first_seen: isoOf(raw.first_seen),
        last_seen: isoOf(raw.last_seen),
        count: Number(raw.count),
        labels: raw.labels ?? {},
      };
      const resolved = a.status === "resolved";
      const fingerprint = `${a.severity}|${a.count}|${resolved ? "resolved" : "active"}`;
      const seen = new Set<string>();
      for (const route of routes) {
        if (seen.has(route.receiver) || !matches(route, a)) continue;
        seen.add(route.receiver); // first matching route per receiver decides its timing
        const p = prev.get(`${a.id}\u0000${route.receiver}`);
        let kind: "firing" | "resolved" | undefined;
        if (resolved) kind = p && p.status !== "resolved" ? "resolved" : undefined;
        else if (!p || p.status === "resolved" || p.fingerprint !== fingerprint) kind = "firing";
        else if (now - Date.parse(isoOf(p.sent_at)) >= route.repeat_interval) kind = "firing";
        if (!kind) continue;
        const version = this.nextVersion();
        const id = createHash("sha256")
          .update(`${a.id}\u0000${route.receiver}\u0000${kind}\u0000${fingerprint}\u0000${version}`)
          .digest("hex")
          .slice(0, 32);
        const n: Notification = {
          outbox_id: id,
          kind,
          alert: a,
          at: new Date(now).toISOString(),
          repeat_interval: route.repeat_interval,
        };
        // Repeats of an unchanged alert need no group wait; changes wait so bursts go out together.
        const wait = p && p.fingerprint === fingerprint && p.status !== "resolved" ? 0 : route.group_wait;
        outbox.push({
          id,
          alert_id: a.id,
          receiver: route.receiver,
          kind,
          payload: JSON.stringify(n),
          created_at: chTime(now),
          due_at: chTime(now + wait),
          attempts: 0,
          state: "pending",
          last_error: "",
          updated_at: chTime(now),
          version,
        });
        state.push({
          alert_id: a.id,
          receiver: route.receiver,
          fingerprint,
          status: resolved ? "resolved" : "active",
          sent_at: chTime(now),
          version,
        });
        enqueued.inc({ receiver: route.receiver, kind });
      }
    }
    if (outbox.length) {
      await this.opts.ch.insert({ table: "notify_outbox", values: outbox, format: "JSONEachRow" });
      await this.opts.ch.insert({ table: "notify_state", values: state, format: "JSONEachRow" });
    }
    return outbox.length;
  }

  private async update(rows: OutboxRow[], change: Partial<OutboxRow>) {
    if (!rows.length) return;
    const now = chTime(this.o.now());
    await this.opts.ch.insert({
      table: "notify_outbox",
      format: "JSONEachRow",
      values: rows.map((r) => ({ ...r, ...change, updated_at: now, version: this.nextVersion() })),
    });
  }

  private backoff(attempt: number, retryAfter?: number): number {
    const exp = Math.min(this.o.maxBackoff, this.o.baseBackoff * 2 ** Math.max(0, attempt - 1));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.max(jittered, Math.min((retryAfter ?? 0) * 1000, this.o.maxBackoff));
  }

  /** Sends every due outbox row; returns the number of rows delivered. */
  async deliver(): Promise<number> {
    const now = this.o.now();
    const due = await this.q<OutboxRow>(
      "SELECT id, alert_id, receiver, kind, payload, created_at, due_at, attempts, state, last_error FROM notify_outbox FINAL " +
        "WHERE state = 'pending' AND due_at <= parseDateTime64BestEffort({now:String}, 3, 'UTC') ORDER BY created_at, id LIMIT 5000",
      { now: chTime(now) },
    );
    let delivered = 0;
    const byReceiver = new Map<string, OutboxRow[]>();
    for (const r of due) byReceiver.set(r.receiver, [...(byReceiver.get(r.receiver) ?? []), r]);
    for (const [name, list] of byReceiver) {
      const receiver = this.receivers.get(name);
      if (!receiver) {
        await this.update(list, { state: "failed", last_error: "receiver no longer configured" });
        continue;
      }
      // Latest change per alert wins; older pending rows for the same alert are superseded.
      const latest = new Map<string, OutboxRow>();
      const superseded: OutboxRow[] = [];
      for (const r of list) {
        const cur = latest.get(r.alert_id);
        if (cur) superseded.push(cur);
        latest.set(r.alert_id, r);
      }
      let rows = [...latest.values()];
      if (receiver.type === "pagerduty") {
        // Stay under the Events API rate limit: the rest waits for the next window (not an attempt).
        const window = (this.sent.get(name) ?? []).filter((t) => now - t < 60_000);
        const budget = Math.max(0, receiver.max_events_per_minute - window.length);
        if (rows.length > budget) {
          const later = rows.slice(budget);
          rows = rows.slice(0, budget);
          await this.update(later, { due_at: chTime(now + 60_000 - (now - (window[0] ?? now))) });
        }
        this.sent.set(name, [...window, ...rows.map(() => now)]);
      }
      if (!rows.length) continue;
      const byId = new Map(rows.map((r) => [r.id, r]));
      const notes = rows.map((r) => JSON.parse(r.payload) as Notification);
      for (const req of buildRequests(receiver, notes)) {
        const reqRows = req.ids.map((id) => byId.get(id)!);
        const started = Date.now();
        const res = await postJson(endpoint(receiver), req.body, req.headers, receiver);
        const ok = res.status >= 200 && res.status < 300;
        const attemptsRows = reqRows.map((r) => {
          const attempt = Number(r.attempts) + 1;
          const outcome = ok
            ? "delivered"
            : retryable(res) && attempt < this.o.maxAttempts
              ? "retry"
              : "failed";
          return { r, attempt, outcome };
        });
        await this.opts.ch.insert({
          table: "notify_attempts",
          format: "JSONEachRow",
          values: attemptsRows.map(({ r, attempt, outcome }) => ({
            at: chTime(this.o.now()),
            outbox_id: r.id,
            alert_id: r.alert_id,
            receiver: name,
            kind: r.kind,
            attempt,
            status_code: res.status,
            outcome,
            error: res.error.slice(0, 512),
            duration_ms: Date.now() - started,
          })),
        });
        for (const { r, attempt, outcome } of attemptsRows) {
          attempts.inc({ receiver: name, outcome });
          if (outcome === "delivered") {
            delivered++;
            await this.update([r], { state: "delivered", attempts: attempt, last_error: "" });
          } else if (outcome === "retry")
            await this.update([r], {
              attempts: attempt,
              last_error: res.error,
              due_at: chTime(this.o.now() + this.backoff(attempt, res.retryAfter)),
            });
          else {
            logger.warn({ receiver: name, alert: r.alert_id, status: res.status }, "notification given up");
            await this.update([r], { state: "failed", attempts: attempt, last_error: res.error });
          }
        }
        if (ok)
          await this.update(
            superseded.filter((s) => reqRows.some((r) => r.alert_id === s.alert_id)),
            { state: "superseded" },
          );
      }
    }
    return delivered;
  }

  /** One poll + delivery round; errors are logged and retried on the next tick. */
  async tick(): Promise<void> {
    try {
      await this.poll();
      await this.deliver();
    } catch (e) {
      logger.warn({ err: { message: (e as Error).message } }, "notifier round failed; retrying next tick");
    }
  }

  async start(): Promise<void> {
    await validateNotifyConfig(this.opts.config);
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.tick();
      await this.running;
      if (!this.stopped) this.timer = setTimeout(loop, this.o.interval);
    };
    this.timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
