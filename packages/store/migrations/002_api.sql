-- API-owned tables (issue 5). The detector never writes these; the API and the notifier do.

-- Suppressions managed through the API. The detector may poll active rows:
--   SELECT * FROM suppressions FINAL WHERE deleted = 0 AND (until IS NULL OR until > now64(3))
CREATE TABLE IF NOT EXISTS suppressions (
  id String,
  rule String,
  identity String,
  namespace String,
  resource String,
  reason String,
  created_by String,
  created_at DateTime64(3, 'UTC'),
  until Nullable(DateTime64(3, 'UTC')),
  deleted UInt8,
  updated_at DateTime64(3, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- Rule overrides (enable/disable, severity) set through the API; `enabled` 2 = unset (config decides),
-- severity '' = unset. Read with FINAL.
CREATE TABLE IF NOT EXISTS rule_settings (
  rule String,
  enabled UInt8,
  severity LowCardinality(String),
  updated_by String,
  updated_at DateTime64(3, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY rule;

-- API tokens: only the sha256 of the token is stored.
CREATE TABLE IF NOT EXISTS api_tokens (
  id String,
  name String,
  sha256 String,
  scopes Array(LowCardinality(String)),
  created_by String,
  created_at DateTime64(3, 'UTC'),
  expires_at Nullable(DateTime64(3, 'UTC')),
  revoked_at Nullable(DateTime64(3, 'UTC')),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- One row per API request: who, what, parameters (query string, path params; never bodies), outcome.
CREATE TABLE IF NOT EXISTS api_audit (
  at DateTime64(3, 'UTC'),
  request_id String,
  actor String,
  via LowCardinality(String),
  method LowCardinality(String),
  route String,
  params String,
  status UInt16,
  rows UInt32,
  duration_ms UInt32,
  ip String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, request_id);

-- Notification outbox: one row per (alert, receiver, change); newest version wins. A row is
-- pending until delivered or given up; the notifier retries pending rows with backoff.
CREATE TABLE IF NOT EXISTS notify_outbox (
  id String,
  alert_id String,
  receiver String,
  kind LowCardinality(String),
  payload String,
  created_at DateTime64(3, 'UTC'),
  due_at DateTime64(3, 'UTC'),
  attempts UInt32,
  state LowCardinality(String),
  last_error String,
  updated_at DateTime64(3, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- What was last enqueued per alert and receiver, so the poller only enqueues changes.
CREATE TABLE IF NOT EXISTS notify_state (
  alert_id String,
  receiver String,
  fingerprint String,
  status LowCardinality(String),
  sent_at DateTime64(3, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (alert_id, receiver);

-- Every delivery attempt (visible through GET /api/v1/notifications).
CREATE TABLE IF NOT EXISTS notify_attempts (
  at DateTime64(3, 'UTC'),
  outbox_id String,
  alert_id String,
  receiver String,
  kind LowCardinality(String),
  attempt UInt32,
  status_code Int32,
  outcome LowCardinality(String),
  error String,
  duration_ms UInt32
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, outbox_id);
