// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana variable syntax (${var:format}) in plain strings
/**
 * Grafana dashboards as code. Run `node --import tsx dashboards/build.ts` to regenerate
 * dashboards/json/*.json; test/deploy/dashboards.test.ts fails when the JSON is stale and runs every
 * ClickHouse query against the real schema.
 *
 * Queries target the official ClickHouse datasource (grafana-clickhouse-datasource v4) and use its
 * macros (https://grafana.com/grafana/plugins/grafana-clickhouse-datasource/ → "Macros"):
 * `$__timeFilter(col)`, `$__timeInterval(col)`, `$__interval_s`, `$__fromTime`/`$__toTime`, and
 * `$__conditionalAll(cond, $var)` (replaced by `1=1` when "All" is selected). Variables inside SQL are
 * always `${var:singlequote}`: the plugin's default multi-value format is not valid SQL.
 *
 * Table names are unqualified: the datasource's `defaultDatabase` picks the database (`identrail`).
 * `events` and `identity_events` are read without FINAL: ids are skipped when already stored, so
 * duplicates only appear in narrow replay races and FINAL on the biggest tables costs too much.
 * `alerts` is read with FINAL because the detector updates one row per group key.
 *
 * The `${…}` in these template literals splice constant SQL fragments defined in this file (subqueries,
 * column expressions) at build time; no runtime value ever enters the SQL — user choices reach it only
 * through Grafana's own variables and macros, which the datasource substitutes.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const CLICKHOUSE_DS = { type: "grafana-clickhouse-datasource", uid: "identrail-clickhouse" } as const;
export const PROMETHEUS_DS = { type: "prometheus", uid: "identrail-prometheus" } as const;

type Unit = "short" | "bytes" | "s" | "reqps" | "dateTimeAsIso" | "h";

export interface PanelSpec {
  title: string;
  type: "timeseries" | "table" | "stat" | "piechart" | "barchart";
  /** ClickHouse SQL, or a PromQL expression when `prometheus` is set. */
  sql?: string;
  promql?: { expr: string; legend: string }[];
  w?: number;
  h?: number;
  unit?: Unit;
  description?: string;
  /** Column holding an identity id that links to the identity timeline. */
  identityLink?: string;
  stack?: boolean;
}

export interface VariableSpec {
  name: string;
  label: string;
  /** ClickHouse query; one column (value) or two (__value, __text). */
  query?: string;
  /** Fixed options for a custom variable. */
  options?: string[];
  multi?: boolean;
  includeAll?: boolean;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  file: string;
  description: string;
  tags: string[];
  time?: string;
  variables: VariableSpec[];
  panels: PanelSpec[];
}

const TIMELINE_URL =
  "/d/identrail-identity-timeline/identity-timeline?var-identity=${__value.raw}&${__url_time_range}";

export const DASHBOARDS: DashboardSpec[] = [
  {
    uid: "identrail-soc-overview",
    title: "Identrail / SOC overview",
    file: "soc-overview.json",
    description:
      "Alerts by rule, severity and status over time; top identities by alerts; open critical alerts.",
    tags: ["identrail", "soc"],
    variables: [
      {
        name: "severity",
        label: "Severity",
        options: ["critical", "high", "medium", "low", "info"],
        multi: true,
        includeAll: true,
      },
      {
        name: "rule",
        label: "Rule",
        query: "SELECT DISTINCT rule FROM alerts ORDER BY rule",
        multi: true,
        includeAll: true,
      },
      {
        name: "status",
        label: "Status",
        options: ["open", "acknowledged", "resolved"],
        multi: true,
        includeAll: true,
      },
    ],
    panels: [
      {
        title: "Open critical alerts",
        type: "stat",
        w: 6,
        h: 5,
        description: "Critical alerts nobody acknowledged or resolved yet, whatever the time range.",
        sql: `SELECT count() AS open_critical FROM alerts_with_status WHERE severity = 'critical' AND status = 'open'`,
      },
      {
        title: "Open high alerts",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT count() AS open_high FROM alerts_with_status WHERE severity = 'high' AND status = 'open'`,
      },
      {
        title: "Alerts active in range",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT count() AS alerts FROM alerts_with_status
WHERE $__timeFilter(last_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
  AND $__conditionalAll(status IN (\${status:singlequote}), $status)`,
      },
      {
        title: "Identities with open alerts",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT uniqExact(identity_id) AS identities FROM alerts_with_status WHERE status = 'open'
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)`,
      },
      {
        title: "New alerts by severity",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(first_seen) AS bucket, severity, count() AS alerts
FROM alerts_with_status
WHERE $__timeFilter(first_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
  AND $__conditionalAll(status IN (\${status:singlequote}), $status)
GROUP BY bucket, severity
ORDER BY bucket`,
      },
      {
        title: "New alerts by rule",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(first_seen) AS bucket, rule, count() AS alerts
FROM alerts_with_status
WHERE $__timeFilter(first_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
  AND $__conditionalAll(status IN (\${status:singlequote}), $status)
GROUP BY bucket, rule
ORDER BY bucket`,
      },
      {
        title: "Analyst status changes",
        type: "timeseries",
        w: 24,
        h: 7,
        stack: true,
        description: "Acknowledge / resolve / reopen actions over time (alert_history, written by the API).",
        sql: `SELECT $__timeInterval(at) AS bucket, to_status, count() AS changes
FROM alert_history
WHERE $__timeFilter(at) AND from_status != to_status
  AND $__conditionalAll(to_status IN (\${status:singlequote}), $status)
GROUP BY bucket, to_status
ORDER BY bucket`,
      },
      {
        title: "Alerts by status",
        type: "piechart",
        w: 8,
        sql: `SELECT status, count() AS alerts
FROM alerts_with_status
WHERE $__timeFilter(last_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
GROUP BY status
ORDER BY alerts DESC`,
      },
      {
        title: "Alerts by rule and severity",
        type: "table",
        w: 16,
        sql: `SELECT rule, severity, count() AS alerts, countIf(status = 'open') AS open, sum(count) AS occurrences,
  max(last_seen) AS latest
FROM alerts_with_status
WHERE $__timeFilter(last_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
  AND $__conditionalAll(status IN (\${status:singlequote}), $status)
GROUP BY rule, severity
ORDER BY alerts DESC`,
      },
      {
        title: "Top identities by alerts",
        type: "table",
        w: 12,
        identityLink: "identity_id",
        sql: `SELECT identity_id, count() AS alerts, countIf(status = 'open') AS open,
  arrayStringConcat(arraySort(groupUniqArray(rule)), ', ') AS rules,
  multiIf(countIf(severity = 'critical') > 0, 'critical', countIf(severity = 'high') > 0, 'high',
    countIf(severity = 'medium') > 0, 'medium', countIf(severity = 'low') > 0, 'low', 'info') AS worst,
  max(last_seen) AS latest
FROM alerts_with_status
WHERE $__timeFilter(last_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
  AND $__conditionalAll(status IN (\${status:singlequote}), $status)
GROUP BY identity_id
ORDER BY open DESC, alerts DESC
LIMIT 20`,
      },
      {
        title: "Alerts",
        type: "table",
        w: 12,
        identityLink: "identity_id",
        sql: `SELECT last_seen, severity, status, rule, identity_id, title, resource, count, id
FROM alerts_with_status
WHERE $__timeFilter(last_seen)
  AND $__conditionalAll(severity IN (\${severity:singlequote}), $severity)
  AND $__conditionalAll(rule IN (\${rule:singlequote}), $rule)
  AND $__conditionalAll(status IN (\${status:singlequote}), $status)
ORDER BY last_seen DESC
LIMIT 500`,
      },
    ],
  },
  {
    uid: "identrail-identity-timeline",
    title: "Identrail / Identity timeline",
    file: "identity-timeline.json",
    description:
      "One identity across sources: pick it by any alias (K8s service account, cloud role, Vault entity, access key …).",
    tags: ["identrail", "identity"],
    time: "now-30d",
    variables: [
      {
        name: "identity",
        label: "Identity (any alias)",
        // Every alias is an option; its value is the canonical id it resolves to (the API resolves the
        // same way: the newest non-self target wins, else the alias is canonical itself).
        query: `SELECT if(countIf(identity_id != alias) > 0, argMaxIf(identity_id, last_seen, identity_id != alias), alias) AS __value,
  alias AS __text
FROM identity_aliases
GROUP BY alias
ORDER BY alias
LIMIT 10000`,
      },
      {
        name: "source",
        label: "Source",
        query:
          "SELECT DISTINCT source FROM events WHERE identity_id = ${identity:singlequote} ORDER BY source",
        multi: true,
        includeAll: true,
      },
    ],
    panels: [
      {
        title: "Identity",
        type: "table",
        w: 12,
        h: 6,
        sql: `SELECT i.id AS id, i.type AS type, i.display_name AS display_name, i.environment AS environment,
  i.owner AS owner, i.purpose AS purpose, i.expires_at AS expires_at, s.first_seen AS first_seen, s.last_seen AS last_seen
FROM (SELECT * FROM identities FINAL WHERE id = \${identity:singlequote}) AS i
LEFT JOIN (SELECT id, min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM identity_seen
  WHERE id = \${identity:singlequote} GROUP BY id) AS s ON s.id = i.id`,
      },
      {
        title: "Aliases",
        type: "table",
        w: 12,
        h: 6,
        sql: `SELECT alias, any(kind) AS kind, any(origin) AS origin, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM identity_aliases
WHERE identity_id = \${identity:singlequote}
GROUP BY alias
ORDER BY first_seen`,
      },
      {
        title: "Activity by source",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, source, count() AS events
FROM events
WHERE identity_id = \${identity:singlequote} AND $__timeFilter(time)
  AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY bucket, source
ORDER BY bucket`,
      },
      {
        title: "Identity events by kind",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, kind, count() AS events
FROM identity_events
WHERE identity_id = \${identity:singlequote} AND $__timeFilter(time)
  AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY bucket, kind
ORDER BY bucket`,
      },
      {
        title: "Alerts",
        type: "table",
        w: 24,
        h: 7,
        sql: `SELECT last_seen, severity, status, rule, title, resource, count, id
FROM alerts_with_status
WHERE identity_id = \${identity:singlequote} AND $__timeFilter(last_seen)
ORDER BY last_seen DESC
LIMIT 200`,
      },
      {
        title: "Secret reads",
        type: "table",
        w: 12,
        sql: `SELECT time, source, resource_uri AS secret
FROM identity_events
WHERE identity_id = \${identity:singlequote} AND kind = 'secret_read' AND $__timeFilter(time)
  AND $__conditionalAll(source IN (\${source:singlequote}), $source)
ORDER BY time DESC
LIMIT 500`,
      },
      {
        title: "Artifact transfers",
        type: "table",
        w: 12,
        sql: `SELECT time, source, resource_kind AS artifact_kind, attrs['direction'] AS direction, resource_uri AS artifact,
  attrs['destination'] AS destination, bytes
FROM identity_events
WHERE identity_id = \${identity:singlequote} AND kind = 'artifact_transfer' AND $__timeFilter(time)
  AND $__conditionalAll(source IN (\${source:singlequote}), $source)
ORDER BY time DESC
LIMIT 500`,
      },
      {
        title: "GPU jobs",
        type: "table",
        w: 12,
        sql: `SELECT time, namespace, resource_uri AS workload, gpu_count AS gpus, attrs['images'] AS images,
  attrs['active_deadline_seconds'] AS deadline_s
FROM gpu_events
WHERE identity_id = \${identity:singlequote} AND kind = 'gpu_job' AND $__timeFilter(time)
ORDER BY time DESC
LIMIT 500`,
      },
      {
        title: "Events",
        type: "table",
        w: 12,
        sql: `SELECT time, source, operation, verb, resource_uri, outcome, status_code, src_ip, user_agent, principal
FROM events
WHERE identity_id = \${identity:singlequote} AND $__timeFilter(time)
  AND $__conditionalAll(source IN (\${source:singlequote}), $source)
ORDER BY time DESC
LIMIT 1000`,
      },
    ],
  },
  {
    uid: "identrail-secrets",
    title: "Identrail / Secrets",
    file: "secrets.json",
    description:
      "Secret reads per secret, identity and source (K8s, Vault, AWS, GCP, Azure); first-time readers; denied reads.",
    tags: ["identrail", "secrets"],
    variables: [
      {
        name: "source",
        label: "Source",
        query: "SELECT DISTINCT source FROM identity_events WHERE kind = 'secret_read' ORDER BY source",
        multi: true,
        includeAll: true,
      },
    ],
    panels: [
      {
        title: "Secret reads",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT count() AS reads FROM identity_events
WHERE kind = 'secret_read' AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)`,
      },
      {
        title: "Distinct readers",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT uniqExact(identity_id) AS readers FROM identity_events
WHERE kind = 'secret_read' AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)`,
      },
      {
        title: "Denied secret reads",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT count() AS denied FROM events
WHERE resource_type IN ('secrets', 'secret', 'vault-secret') AND verb IN ('read', 'list') AND outcome = 'failure' AND $__timeFilter(time)
  AND $__conditionalAll(source IN (\${source:singlequote}), $source)`,
      },
      {
        title: "Secrets read",
        type: "stat",
        w: 6,
        h: 5,
        sql: `SELECT uniqExact(resource_uri) AS secrets FROM identity_events
WHERE kind = 'secret_read' AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)`,
      },
      {
        title: "Secret reads by source",
        type: "timeseries",
        w: 24,
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, source, count() AS reads
FROM identity_events
WHERE kind = 'secret_read' AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY bucket, source
ORDER BY bucket`,
      },
      {
        title: "Reads per secret",
        type: "table",
        w: 12,
        sql: `SELECT resource_uri AS secret, count() AS reads, uniqExact(identity_id) AS readers,
  arrayStringConcat(arraySort(groupUniqArray(source)), ', ') AS sources, max(time) AS last_read
FROM identity_events
WHERE kind = 'secret_read' AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY secret
ORDER BY reads DESC
LIMIT 200`,
      },
      {
        title: "Reads per identity",
        type: "table",
        w: 12,
        identityLink: "identity_id",
        sql: `SELECT identity_id, count() AS reads, uniqExact(resource_uri) AS secrets, max(time) AS last_read
FROM identity_events
WHERE kind = 'secret_read' AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY identity_id
ORDER BY secrets DESC, reads DESC
LIMIT 200`,
      },
      {
        title: "First-time readers",
        type: "table",
        w: 12,
        identityLink: "identity_id",
        description: "Identity and secret pairs whose first read ever falls inside the time range.",
        sql: `SELECT identity_id, resource_uri AS secret, min(time) AS first_read, count() AS reads
FROM identity_events
WHERE kind = 'secret_read' AND time <= $__toTime AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY identity_id, secret
HAVING first_read >= $__fromTime
ORDER BY first_read DESC
LIMIT 200`,
      },
      {
        title: "Denied reads",
        type: "table",
        w: 12,
        identityLink: "identity_id",
        sql: `SELECT time, identity_id, source, operation, resource_uri AS secret, status_code, reason, src_ip
FROM events
WHERE resource_type IN ('secrets', 'secret', 'vault-secret') AND verb IN ('read', 'list') AND outcome = 'failure'
  AND $__timeFilter(time) AND $__conditionalAll(source IN (\${source:singlequote}), $source)
ORDER BY time DESC
LIMIT 500`,
      },
    ],
  },
  {
    uid: "identrail-artifacts",
    title: "Identrail / Artifacts",
    file: "artifacts.json",
    description: "Dataset, checkpoint and model transfers; bytes by identity and destination.",
    tags: ["identrail", "artifacts"],
    variables: [
      {
        name: "kind",
        label: "Artifact kind",
        query:
          "SELECT DISTINCT resource_kind FROM identity_events WHERE kind = 'artifact_transfer' ORDER BY resource_kind",
        multi: true,
        includeAll: true,
      },
    ],
    panels: [
      {
        title: "Bytes transferred by identity",
        type: "timeseries",
        w: 12,
        unit: "bytes",
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, identity_id, sum(bytes) AS bytes
FROM identity_events
WHERE kind = 'artifact_transfer' AND $__timeFilter(time)
  AND $__conditionalAll(resource_kind IN (\${kind:singlequote}), $kind)
GROUP BY bucket, identity_id
ORDER BY bucket`,
      },
      {
        title: "Transfers by artifact kind",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, resource_kind AS artifact_kind,
  count() AS transfers
FROM identity_events
WHERE kind = 'artifact_transfer' AND $__timeFilter(time)
  AND $__conditionalAll(resource_kind IN (\${kind:singlequote}), $kind)
GROUP BY bucket, artifact_kind
ORDER BY bucket`,
      },
      {
        title: "Bytes by identity and destination",
        type: "table",
        w: 12,
        unit: "bytes",
        identityLink: "identity_id",
        sql: `SELECT identity_id, if(attrs['destination'] != '', attrs['destination'], '(in place)') AS destination,
  sum(bytes) AS bytes, count() AS transfers, uniqExact(resource_uri) AS artifacts
FROM identity_events
WHERE kind = 'artifact_transfer' AND $__timeFilter(time)
  AND $__conditionalAll(resource_kind IN (\${kind:singlequote}), $kind)
GROUP BY identity_id, destination
ORDER BY bytes DESC
LIMIT 200`,
      },
      {
        title: "Bytes by storage location",
        type: "table",
        w: 12,
        unit: "bytes",
        sql: `SELECT extract(resource_uri, '^[a-z0-9-]+://[^/]+') AS location, sum(bytes) AS bytes, count() AS transfers,
  uniqExact(identity_id) AS identities
FROM identity_events
WHERE kind = 'artifact_transfer' AND $__timeFilter(time)
  AND $__conditionalAll(resource_kind IN (\${kind:singlequote}), $kind)
GROUP BY location
ORDER BY bytes DESC
LIMIT 100`,
      },
      {
        title: "Transfers",
        type: "table",
        w: 24,
        identityLink: "identity_id",
        sql: `SELECT time, identity_id, resource_kind AS artifact_kind, attrs['direction'] AS direction, resource_uri AS artifact,
  attrs['destination'] AS destination, bytes, source
FROM identity_events
WHERE kind = 'artifact_transfer' AND $__timeFilter(time)
  AND $__conditionalAll(resource_kind IN (\${kind:singlequote}), $kind)
ORDER BY time DESC
LIMIT 1000`,
      },
    ],
  },
  {
    uid: "identrail-gpu-jobs",
    title: "Identrail / GPU jobs",
    file: "gpu-jobs.json",
    description: "GPU pods and jobs by namespace, identity and image; unexpected ones; GPU-hours.",
    tags: ["identrail", "gpu"],
    variables: [
      {
        name: "namespace",
        label: "Namespace",
        query: `SELECT DISTINCT namespace AS ns FROM gpu_events WHERE kind = 'gpu_job' ORDER BY ns`,
        multi: true,
        includeAll: true,
      },
    ],
    panels: [
      {
        title: "GPUs requested",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, namespace, sum(gpu_count) AS gpus
FROM gpu_events
WHERE kind = 'gpu_job' AND $__timeFilter(time)
  AND $__conditionalAll(namespace IN (\${namespace:singlequote}), $namespace)
GROUP BY bucket, namespace
ORDER BY bucket`,
      },
      {
        title: "GPU-hours by identity",
        type: "table",
        w: 12,
        unit: "h",
        identityLink: "identity_id",
        description:
          "GPUs × run time of each workload inside the range: from its gpu_job to the end phase of its " +
          "job_lifecycle (workloads still running count until the end of the range). A workload is " +
          "(identity, namespace, workload name); a name reused later spans both runs.",
        sql: `SELECT identity_id, namespace, round(sum(gpus * dateDiff('second', greatest(started, $__fromTime),
    least(if(ended < started, $__toTime, ended), $__toTime)) / 3600), 2) AS gpu_hours, count() AS workloads
FROM (
  SELECT identity_id, namespace, attrs['workload'] AS workload, max(gpu_count) AS gpus,
    minIf(time, kind = 'gpu_job') AS started,
    maxIf(time, kind = 'job_lifecycle' AND attrs['phase'] = 'end') AS ended
  FROM gpu_events
  WHERE time <= $__toTime
  GROUP BY identity_id, namespace, workload
  HAVING gpus > 0 AND countIf(kind = 'gpu_job') > 0 AND (ended < started OR ended >= $__fromTime)
)
WHERE $__conditionalAll(namespace IN (\${namespace:singlequote}), $namespace)
GROUP BY identity_id, namespace
ORDER BY gpu_hours DESC
LIMIT 200`,
      },
      {
        title: "GPU jobs by namespace",
        type: "table",
        w: 8,
        sql: `SELECT namespace, count() AS jobs, sum(gpu_count) AS gpus, uniqExact(identity_id) AS identities
FROM gpu_events
WHERE kind = 'gpu_job' AND $__timeFilter(time)
  AND $__conditionalAll(namespace IN (\${namespace:singlequote}), $namespace)
GROUP BY namespace
ORDER BY gpus DESC`,
      },
      {
        title: "GPU jobs by identity",
        type: "table",
        w: 8,
        identityLink: "identity_id",
        sql: `SELECT identity_id, count() AS jobs, sum(gpu_count) AS gpus, max(time) AS last_job
FROM gpu_events
WHERE kind = 'gpu_job' AND $__timeFilter(time)
  AND $__conditionalAll(namespace IN (\${namespace:singlequote}), $namespace)
GROUP BY identity_id
ORDER BY gpus DESC
LIMIT 200`,
      },
      {
        title: "GPU jobs by image",
        type: "table",
        w: 8,
        description:
          "GPUs are each job's total, so per image they are an upper bound when a job runs several images.",
        sql: `SELECT image, count() AS jobs, sum(gpu_count) AS gpus, uniqExact(identity_id) AS identities
FROM gpu_events
ARRAY JOIN splitByChar(',', attrs['images']) AS image
WHERE kind = 'gpu_job' AND $__timeFilter(time) AND attrs['images'] != ''
  AND $__conditionalAll(namespace IN (\${namespace:singlequote}), $namespace)
GROUP BY image
ORDER BY jobs DESC
LIMIT 200`,
      },
      {
        title: "Unexpected GPU jobs",
        type: "table",
        w: 24,
        identityLink: "identity_id",
        sql: `SELECT last_seen, severity, status, identity_id, title, resource, count
FROM alerts_with_status
WHERE rule = 'gpu-job-unexpected' AND $__timeFilter(last_seen)
ORDER BY last_seen DESC
LIMIT 200`,
      },
    ],
  },
  {
    uid: "identrail-pipeline-health",
    title: "Identrail / Pipeline health",
    file: "pipeline-health.json",
    description:
      "Ingest rate per source and dead letters (ClickHouse), consumer lag and detector latency (Prometheus).",
    tags: ["identrail", "pipeline"],
    time: "now-24h",
    variables: [
      {
        name: "source",
        label: "Source",
        query: "SELECT DISTINCT source FROM events ORDER BY source",
        multi: true,
        includeAll: true,
      },
    ],
    panels: [
      {
        title: "Ingest rate per source (stored events/s, by receive time)",
        type: "timeseries",
        w: 12,
        unit: "reqps",
        sql: `SELECT $__timeInterval(received_at) AS bucket, source, count() / $__interval_s AS events_per_s
FROM events
WHERE $__timeFilter(received_at) AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY bucket, source
ORDER BY bucket`,
      },
      {
        title: "Dead letters by stage and source",
        type: "timeseries",
        w: 12,
        stack: true,
        sql: `SELECT $__timeInterval(time) AS bucket, concat(stage, ' / ', source) AS stage_source, count() AS dead_letters
FROM dead_letters FINAL
WHERE $__timeFilter(time)
GROUP BY bucket, stage_source
ORDER BY bucket`,
      },
      {
        title: "Freshness per source",
        type: "table",
        w: 12,
        description:
          "When each source last delivered an event (receive time) and the delay behind event time.",
        sql: `SELECT source, count() AS events, max(received_at) AS last_received,
  round(quantile(0.5)(dateDiff('millisecond', time, received_at)) / 1000, 1) AS p50_delay_s,
  round(quantile(0.99)(dateDiff('millisecond', time, received_at)) / 1000, 1) AS p99_delay_s
FROM events
WHERE $__timeFilter(received_at) AND $__conditionalAll(source IN (\${source:singlequote}), $source)
GROUP BY source
ORDER BY source`,
      },
      {
        title: "Dead letters",
        type: "table",
        w: 12,
        description: "Reasons only; inspect and replay payloads through the API (/api/v1/deadletters).",
        sql: `SELECT time, stage, source, reason, replayed_at, id
FROM dead_letters FINAL
WHERE $__timeFilter(time)
ORDER BY time DESC
LIMIT 500`,
      },
      {
        title: "Detector consumer lag",
        type: "timeseries",
        w: 12,
        promql: [{ expr: "sum by (topic) (identrail_detector_consumer_lag)", legend: "{{topic}}" }],
      },
      {
        title: "Detector batch latency",
        type: "timeseries",
        w: 12,
        unit: "s",
        promql: [
          {
            expr: "histogram_quantile(0.5, sum by (le, stage) (rate(identrail_detector_batch_seconds_bucket[$__rate_interval])))",
            legend: "p50 {{stage}}",
          },
          {
            expr: "histogram_quantile(0.99, sum by (le, stage) (rate(identrail_detector_batch_seconds_bucket[$__rate_interval])))",
            legend: "p99 {{stage}}",
          },
        ],
      },
      {
        title: "Collector records/s",
        type: "timeseries",
        w: 12,
        unit: "reqps",
        promql: [
          {
            expr: "sum by (source, outcome) (rate(identrail_collector_records_total[$__rate_interval]))",
            legend: "{{source}} {{outcome}}",
          },
        ],
      },
      {
        title: "Dead letters/s and store errors/s",
        type: "timeseries",
        w: 12,
        promql: [
          {
            expr: "sum by (stage, reason) (rate(identrail_pipeline_dead_letters_total[$__rate_interval]))",
            legend: "dead letter {{stage}} {{reason}}",
          },
          {
            expr: "sum by (table) (rate(identrail_store_errors_total[$__rate_interval]))",
            legend: "store error {{table}}",
          },
        ],
      },
    ],
  },
];

/** Lays panels out left to right on Grafana's 24-column grid. */
function layout(panels: PanelSpec[]) {
  let x = 0;
  let y = 0;
  let rowH = 0;
  return panels.map((p) => {
    const w = p.w ?? 12;
    const h = p.h ?? 9;
    if (x + w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const pos = { x, y, w, h };
    x += w;
    rowH = Math.max(rowH, h);
    return pos;
  });
}

function panelJson(p: PanelSpec, id: number, gridPos: object) {
  const isProm = !!p.promql;
  const datasource = isProm ? PROMETHEUS_DS : CLICKHOUSE_DS;
  const targets = isProm
    ? p.promql!.map((q, i) => ({
        datasource,
        refId: String.fromCharCode(65 + i),
        expr: q.expr,
        legendFormat: q.legend,
        range: true,
      }))
    : [
        {
          datasource,
          refId: "A",
          editorType: "sql",
          // Format enum of the plugin: 0 = time series, 1 = table.
          format: p.type === "timeseries" ? 0 : 1,
          queryType: p.type === "timeseries" ? "timeseries" : "table",
          rawSql: p.sql,
        },
      ];
  const overrides = p.identityLink
    ? [
        {
          matcher: { id: "byName", options: p.identityLink },
          properties: [{ id: "links", value: [{ title: "Identity timeline", url: TIMELINE_URL }] }],
        },
      ]
    : [];
  const custom: Record<string, unknown> =
    p.type === "timeseries"
      ? {
          drawStyle: p.stack ? "bars" : "line",
          fillOpacity: p.stack ? 80 : 10,
          stacking: { mode: p.stack ? "normal" : "none" },
        }
      : {};
  return {
    id,
    type: p.type,
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource,
    gridPos,
    targets,
    fieldConfig: { defaults: { unit: p.unit ?? "short", custom }, overrides },
    options:
      p.type === "stat"
        ? {
            reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
            colorMode: "value",
            graphMode: "none",
          }
        : p.type === "table"
          ? { showHeader: true, cellHeight: "sm" }
          : p.type === "piechart"
            ? {
                reduceOptions: { calcs: ["lastNotNull"], fields: "", values: true },
                legend: { displayMode: "table", placement: "right" },
              }
            : { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
  };
}

function variableJson(v: VariableSpec) {
  const common = {
    name: v.name,
    label: v.label,
    multi: v.multi ?? false,
    includeAll: v.includeAll ?? false,
    current: v.includeAll ? { selected: true, text: ["All"], value: ["$__all"] } : {},
    hide: 0,
  };
  if (v.options)
    return {
      ...common,
      type: "custom",
      query: v.options.join(","),
      options: v.options.map((o) => ({ selected: false, text: o, value: o })),
    };
  return {
    ...common,
    type: "query",
    datasource: CLICKHOUSE_DS,
    query: v.query,
    definition: v.query,
    refresh: 2, // on time range change: new identities and rules appear without a reload
    sort: 0,
  };
}

export function buildDashboard(d: DashboardSpec) {
  const positions = layout(d.panels);
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: d.tags,
    editable: false,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: d.time ?? "now-7d", to: "now" },
    refresh: "1m",
    timezone: "utc",
    templating: { list: d.variables.map(variableJson) },
    annotations: { list: [] },
    links: [{ title: "Identrail", type: "dashboards", tags: ["identrail"], asDropdown: true }],
    panels: d.panels.map((p, i) => panelJson(p, i + 1, positions[i])),
  };
}

export const JSON_DIR = join(dirname(fileURLToPath(import.meta.url)), "json");

export function renderAll(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of DASHBOARDS) out[d.file] = `${JSON.stringify(buildDashboard(d), null, 2)}\n`;
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [file, text] of Object.entries(renderAll())) writeFileSync(join(JSON_DIR, file), text);
  console.log(`wrote ${DASHBOARDS.length} dashboards to ${JSON_DIR}`);
}
