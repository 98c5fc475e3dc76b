-- Normalized activity (OCSF API Activity 6003 aligned). One row per stable event id; replays collapse
-- in ReplacingMergeTree and the detector skips ids already stored.
CREATE TABLE IF NOT EXISTS events (
  id String,
  time DateTime64(3, 'UTC'),
  received_at DateTime64(3, 'UTC'),
  source LowCardinality(String),
  cluster LowCardinality(String),
  identity_id String,
  principal String,
  principal_type LowCardinality(String),
  credential_id String,
  impersonated String,
  groups Array(String),
  operation LowCardinality(String),
  verb LowCardinality(String),
  resource_uri String,
  resource_type LowCardinality(String),
  namespace LowCardinality(String),
  src_ip String,
  user_agent String,
  outcome LowCardinality(String),
  status_code Int32,
  reason String,
  bytes_in UInt64,
  bytes_out UInt64,
  raw_ref String,
  attrs Map(String, String),
  INDEX idx_id id TYPE bloom_filter GRANULARITY 4,
  INDEX idx_resource resource_uri TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (identity_id, time, id);

-- Identity events: what an activity means for its identity (secret_read, artifact_transfer, gpu_job …).
CREATE TABLE IF NOT EXISTS identity_events (
  id String,
  identity_id String,
  kind LowCardinality(String),
  time DateTime64(3, 'UTC'),
  event_id String,
  source LowCardinality(String),
  resource_uri String,
  resource_kind LowCardinality(String),
  bytes UInt64,
  attrs Map(String, String),
  INDEX idx_event event_id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (identity_id, time, id);

-- Identity attributes (type, owner, purpose, expiry …); the newest version wins.
CREATE TABLE IF NOT EXISTS identities (
  id String,
  type LowCardinality(String),
  display_name String,
  cluster LowCardinality(String),
  namespace LowCardinality(String),
  environment LowCardinality(String),
  owner String,
  purpose String,
  expires_at Nullable(DateTime64(3, 'UTC')),
  attrs Map(String, String),
  updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

-- First/last seen in event time; min/max merges are idempotent under replay.
CREATE TABLE IF NOT EXISTS identity_seen (
  id String,
  first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree
ORDER BY id;

-- Alias graph: every identifier a source uses for an identity points to its canonical id.
CREATE TABLE IF NOT EXISTS identity_aliases (
  alias String,
  identity_id String,
  kind SimpleAggregateFunction(any, LowCardinality(String)),
  origin SimpleAggregateFunction(any, LowCardinality(String)),
  first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree
ORDER BY (alias, identity_id);

-- Per-identity learned features (secrets read, hours active, images run …) for baselines.
CREATE TABLE IF NOT EXISTS identity_features (
  identity_id String,
  feature LowCardinality(String),
  value String,
  first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree
ORDER BY (identity_id, feature, value);

-- Alerts (OCSF Detection Finding 2004 aligned), owned by the detector; one row per group key.
CREATE TABLE IF NOT EXISTS alerts (
  id String,
  rule LowCardinality(String),
  severity LowCardinality(String),
  identity_id String,
  title String,
  description String,
  resource String,
  group_key String,
  first_seen DateTime64(3, 'UTC'),
  last_seen DateTime64(3, 'UTC'),
  count UInt32,
  labels Map(String, String),
  mitre Array(String),
  created_at DateTime64(3, 'UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- Analyst-owned alert state (status, assignee), kept apart so detector updates never overwrite it.
CREATE TABLE IF NOT EXISTS alert_state (
  alert_id String,
  status LowCardinality(String),
  assignee String,
  updated_at DateTime64(3, 'UTC'),
  updated_by String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY alert_id;

CREATE TABLE IF NOT EXISTS alert_history (
  alert_id String,
  at DateTime64(3, 'UTC'),
  actor String,
  action LowCardinality(String),
  from_status LowCardinality(String),
  to_status LowCardinality(String),
  comment String
) ENGINE = MergeTree
ORDER BY (alert_id, at);

CREATE TABLE IF NOT EXISTS alert_evidence (
  alert_id String,
  event_id String,
  time DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (alert_id, event_id);

-- Bad input with its reason. Payloads are redacted before they get here; unparseable input has none.
CREATE TABLE IF NOT EXISTS dead_letters (
  id String,
  time DateTime64(3, 'UTC'),
  stage LowCardinality(String),
  source LowCardinality(String),
  reason String,
  payload String,
  replayed_at Nullable(DateTime64(3, 'UTC'))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, id);
