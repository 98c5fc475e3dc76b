#!/bin/bash
# Runs once when the ClickHouse volume is empty (docker-entrypoint-initdb.d): creates the read-only
# Grafana user from deploy/clickhouse/grafana-readonly.sql with the password from .env.
set -euo pipefail
sed "s/CHANGE-ME/${IDENTRAIL_GRAFANA_CLICKHOUSE_PASSWORD}/" /identrail/grafana-readonly.sql |
  clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery
