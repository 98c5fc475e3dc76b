-- Alerts with their analyst status, for read-only consumers (the Grafana dashboards): the newest
-- alert_state version per alert (written by the API), 'open' when an analyst never touched it. A view,
-- so dashboards name one fixed table instead of each repeating this join.
CREATE VIEW IF NOT EXISTS alerts_with_status AS
SELECT a.id AS id, a.rule AS rule, a.severity AS severity, a.identity_id AS identity_id, a.title AS title,
  a.resource AS resource, a.first_seen AS first_seen, a.last_seen AS last_seen, a.count AS count,
  a.labels AS labels, if(s.status = '', 'open', s.status) AS status
FROM alerts AS a FINAL
LEFT JOIN (SELECT alert_id, argMax(status, version) AS status FROM alert_state GROUP BY alert_id) AS s
  ON s.alert_id = a.id;
