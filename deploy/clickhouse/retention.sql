-- Retention: ClickHouse TTL per table (https://clickhouse.com/docs/engines/table-engines/mergetree-family/mergetree#table_engine-mergetree-ttl).
-- Apply as an admin and adjust the intervals; rows older than the TTL are dropped at merges (whole
-- monthly partitions once every row in them expired, thanks to ttl_only_drop_parts).
-- Until a `retention:` config key applies these at boot (docs/deploy.md, "Retention"), re-running
-- this file is the way to change them: MODIFY TTL is idempotent.

-- Normalized activity: the biggest table. Baselines live in identity_features, so detection does not
-- need old events; keep what investigations need.
ALTER TABLE events MODIFY TTL toDateTime(time) + INTERVAL 180 DAY;
ALTER TABLE events MODIFY SETTING ttl_only_drop_parts = 1;

-- Identity events drive dashboards and the daily transfer history the artifact rules compare against.
ALTER TABLE identity_events MODIFY TTL toDateTime(time) + INTERVAL 365 DAY;
ALTER TABLE identity_events MODIFY SETTING ttl_only_drop_parts = 1;

-- Evidence links of alerts (the alerts themselves, their state and history are kept).
ALTER TABLE alert_evidence MODIFY TTL toDateTime(time) + INTERVAL 365 DAY;

-- Dead letters: long enough to fix a parser and replay.
ALTER TABLE dead_letters MODIFY TTL toDateTime(time) + INTERVAL 30 DAY;
ALTER TABLE dead_letters MODIFY SETTING ttl_only_drop_parts = 1;
