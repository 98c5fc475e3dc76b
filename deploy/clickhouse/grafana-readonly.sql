-- Read-only ClickHouse access for Grafana (dashboards/). Apply once as a ClickHouse admin, after
-- replacing the password (or let deploy/compose/clickhouse-init.sh do it):
--   sed "s/CHANGE-ME/$GRAFANA_CH_PASSWORD/" grafana-readonly.sql | clickhouse-client --multiquery
-- Grants name the tables explicitly (no identrail.*), so tables added later (API tokens, API audit)
-- stay invisible to Grafana until granted here. ClickHouse accepts grants on tables that do not
-- exist yet, so this can run before Identrail's first migration. Database: identrail (change it here
-- if you set clickhouse.database).

-- readonly = 1 forbids writes and DDL; the datasource (clickhouse-go) sets max_execution_time on
-- every query, which a readonly profile only allows when the setting is CHANGEABLE_IN_READONLY
-- (see the grafana-clickhouse-datasource README, "ClickHouse user for the data source").
CREATE SETTINGS PROFILE IF NOT EXISTS identrail_grafana_readonly SETTINGS
  readonly = 1,
  max_execution_time = 60 MAX 300 CHANGEABLE_IN_READONLY,
  max_result_rows = 1000000,
  max_memory_usage = 4000000000;

CREATE ROLE IF NOT EXISTS identrail_grafana;

GRANT SELECT ON identrail.events TO identrail_grafana;
GRANT SELECT ON identrail.identity_events TO identrail_grafana;
GRANT SELECT ON identrail.identities TO identrail_grafana;
GRANT SELECT ON identrail.identity_seen TO identrail_grafana;
GRANT SELECT ON identrail.identity_aliases TO identrail_grafana;
GRANT SELECT ON identrail.alerts TO identrail_grafana;
GRANT SELECT ON identrail.alert_state TO identrail_grafana;
GRANT SELECT ON identrail.alert_history TO identrail_grafana;
GRANT SELECT ON identrail.alert_evidence TO identrail_grafana;
GRANT SELECT ON identrail.alerts_with_status TO identrail_grafana;
GRANT SELECT ON identrail.gpu_events TO identrail_grafana;
-- Not the payload: reasons are enough for a dashboard; payloads are inspected through the API.
GRANT SELECT(id, time, stage, source, reason, replayed_at) ON identrail.dead_letters TO identrail_grafana;

CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY 'CHANGE-ME'
  DEFAULT ROLE identrail_grafana SETTINGS PROFILE 'identrail_grafana_readonly';
GRANT identrail_grafana TO grafana;
