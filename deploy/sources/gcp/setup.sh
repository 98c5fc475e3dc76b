#!/bin/sh
# Routes GCP audit logs to Identrail: log sink → Pub/Sub topic → push subscription.
# Usage: PROJECT=my-project IDENTRAIL_URL=https://identrail-collector.example.com CLUSTER=prod \
#        PUSH_SA=identrail-push@my-project.iam.gserviceaccount.com ./setup.sh
set -eu
: "${PROJECT:?}" "${IDENTRAIL_URL:?}" "${CLUSTER:?}" "${PUSH_SA:?}"
TOPIC=identrail-audit
SINK=identrail-audit
ENDPOINT="${IDENTRAIL_URL}/ingest/gcp-audit?cluster=${CLUSTER}"

gcloud pubsub topics create "$TOPIC" --project "$PROJECT"

# Secret Manager accesses, Cloud Storage object access and GKE Kubernetes audit entries.
FILTER='logName:"cloudaudit.googleapis.com" AND (
  protoPayload.serviceName="secretmanager.googleapis.com" OR
  protoPayload.serviceName="storage.googleapis.com" OR
  protoPayload.serviceName="k8s.io" OR
  protoPayload.serviceName="iamcredentials.googleapis.com")'
gcloud logging sinks create "$SINK" "pubsub.googleapis.com/projects/${PROJECT}/topics/${TOPIC}" \
  --project "$PROJECT" --log-filter="$FILTER"

# The sink writes as its own service account; let it publish.
WRITER=$(gcloud logging sinks describe "$SINK" --project "$PROJECT" --format='value(writerIdentity)')
gcloud pubsub topics add-iam-policy-binding "$TOPIC" --project "$PROJECT" \
  --member="$WRITER" --role=roles/pubsub.publisher

# Push with an OIDC token (see README.md); failed pushes are retried with backoff for 7 days.
gcloud pubsub subscriptions create identrail-push --project "$PROJECT" --topic "$TOPIC" \
  --push-endpoint="$ENDPOINT" \
  --push-auth-service-account="$PUSH_SA" \
  --push-auth-token-audience="$ENDPOINT" \
  --ack-deadline=60 --message-retention-duration=7d \
  --min-retry-delay=10s --max-retry-delay=600s
