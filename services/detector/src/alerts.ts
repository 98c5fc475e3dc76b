/**
 * Alert grouping: findings with the same (rule, identity, resource, window) update one alert — count is
 * the number of distinct evidence events, first/last seen are event times — so replays and repeats
 * never open duplicates.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import { metrics, stableId } from "@identrail/core";
import type { Severity } from "@identrail/schema";
import { chTime } from "@identrail/store";

export interface AlertRow {
  id: string;
  rule: string;
  severity: Severity;
  identity_id: string;
  title: string;
  description: string;
  resource: string;
  group_key: string;
  first_seen: string;
  last_seen: string;
  count: number;
  labels: Record<string, string>;
  mitre: string[];
  created_at: string;
  version: number;
}

interface Cached {
  row: AlertRow;
  evidence: Set<string>;
}

const EVIDENCE_CACHE = 500;

export function groupKey(rule: string, identity: string, resource: string, window: string) {
  return `${rule}|${identity}|${resource}|${window}`;
}

export class AlertBook {
  private cache = new Map<string, Cached>();
  private dirty = new Map<string, AlertRow>();
  private evidenceRows: { alert_id: string; event_id: string; time: string }[] = [];
  private versionClock = 0;

  constructor(private readonly ch: ClickHouseClient | undefined) {}

  get size() {
    return this.cache.size;
  }

  /** Loads the alerts these group keys map to, so counts continue from what is stored. */
  async preload(ids: string[]) {
    const missing = [...new Set(ids)].filter((id) => !this.cache.has(id));
    if (!missing.length || !this.ch) return;
    const rs = await this.ch.query({
      query:
        "SELECT id, rule, severity, identity_id, title, description, resource, group_key, first_seen, last_seen, count, labels, mitre, created_at, version FROM alerts FINAL WHERE id IN {ids:Array(String)}",
      query_params: { ids: missing },
      format: "JSONEachRow",
    });
    const rows = (await rs.json()) as AlertRow[];
    if (!rows.length) return;
    const ev = await this.ch.query({
      query:
        "SELECT alert_id, groupArray(500)(event_id) AS ids FROM (SELECT alert_id, event_id FROM alert_evidence WHERE alert_id IN {ids:Array(String)} ORDER BY time DESC) GROUP BY alert_id",
      query_params: { ids: rows.map((r) => r.id) },
      format: "JSONEachRow",
    });
    const evidence = new Map(
      ((await ev.json()) as { alert_id: string; ids: string[] }[]).map((r) => [r.alert_id, r.ids]),
    );
    for (const r of rows) {
      r.count = Number(r.count);
      r.version = Number(r.version);
      this.cache.set(r.id, { row: r, evidence: new Set(evidence.get(r.id) ?? []) });
    }
  }

  static idFor(key: string) {
    return stableId("alert", key);
  }

  raise(a: {
    rule: string;
    severity: Severity;
    identity: string;
    title: string;
    description: string;
    resource: string;
    window: string;
    labels: Record<string, string>;
    mitre: string[];
    eventId: string;
    time: string;
    evidence?: string[];
  }): AlertRow {
    const key = groupKey(a.rule, a.identity, a.resource, a.window);
    const id = AlertBook.idFor(key);
    const t = chTime(a.time);
    let c = this.cache.get(id);
    if (!c) {
      c = {
        row: {
          id,
          rule: a.rule,
          severity: a.severity,
          identity_id: a.identity,
          title: a.title,
          description: a.description,
          resource: a.resource,
          group_key: key,
          first_seen: t,
          last_seen: t,
          count: 0,
          labels: a.labels,
          mitre: a.mitre,
          created_at: chTime(Date.now()),
          version: 0,
        },
        evidence: new Set(),
      };
      this.cache.set(id, c);
    }
    const row = c.row;
    for (const ev of [a.eventId, ...(a.evidence ?? [])]) {
      if (c.evidence.has(ev)) continue;
      c.evidence.add(ev);
      if (c.evidence.size > EVIDENCE_CACHE) c.evidence.delete(c.evidence.values().next().value!);
      row.count++;
      this.evidenceRows.push({ alert_id: id, event_id: ev, time: t });
    }
    if (t < row.first_seen) row.first_seen = t;
    if (t > row.last_seen) {
      row.last_seen = t;
      row.title = a.title;
      row.description = a.description;
    }
    // Escalate, never silently downgrade, when a later finding in the group is more severe.
    if (SEV.indexOf(a.severity) > SEV.indexOf(row.severity)) row.severity = a.severity;
    row.version = Math.max(Date.now() * 1000, this.versionClock + 1);
    this.versionClock = row.version;
    this.dirty.set(id, row);
    metrics.alerts.inc({ rule: a.rule, severity: row.severity });
    return row;
  }

  take() {
    const alerts = [...this.dirty.values()].map((r) => ({ ...r, labels: { ...r.labels } }));
    const evidence = this.evidenceRows;
    this.dirty.clear();
    this.evidenceRows = [];
    return { alerts, evidence };
  }

  invalidate() {
    this.cache.clear();
    this.dirty.clear();
    this.evidenceRows = [];
  }

  /** Drops cached alerts whose last event is older than `before` (ms): they can still be reloaded. */
  evict(before: number) {
    const cut = chTime(before);
    for (const [id, c] of this.cache) if (c.row.last_seen < cut && !this.dirty.has(id)) this.cache.delete(id);
  }
}

const SEV: Severity[] = ["info", "low", "medium", "high", "critical"];
