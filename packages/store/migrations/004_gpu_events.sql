-- GPU workload events for read-only consumers (the Grafana GPU dashboards): gpu_job and job_lifecycle
-- identity events with the workload's namespace and GPU count as columns. A view, so dashboards name
-- fixed columns instead of each repeating the expressions. The namespace: inventory events carry it in
-- attrs, Kubernetes audit ones only in their resource URI (k8s://<cluster>/<namespace>/…).
CREATE VIEW IF NOT EXISTS gpu_events AS
SELECT id, identity_id, kind, time, event_id, source, resource_uri, attrs,
  if(attrs['namespace'] != '', attrs['namespace'], splitByChar('/', resource_uri)[4]) AS namespace,
  toUInt32OrZero(attrs['gpu_count']) AS gpu_count
FROM identity_events
WHERE kind IN ('gpu_job', 'job_lifecycle');
