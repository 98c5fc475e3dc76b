#!/bin/sh
# Streams Key Vault AuditEvent logs to an Event Hub for the Identrail forwarder function.
# Usage: RG=identrail-rg LOCATION=westeurope NAMESPACE=identrail-eh VAULT_IDS="<vault resource id> …" ./diagnostic-settings.sh
set -eu
: "${RG:?}" "${LOCATION:?}" "${NAMESPACE:?}" "${VAULT_IDS:?}"
az eventhubs namespace create -g "$RG" -n "$NAMESPACE" -l "$LOCATION" --sku Standard
az eventhubs eventhub create -g "$RG" --namespace-name "$NAMESPACE" -n keyvault-audit \
  --partition-count 4 --retention-time-in-hours 168 --cleanup-policy Delete
az eventhubs namespace authorization-rule create -g "$RG" --namespace-name "$NAMESPACE" \
  -n diagnostics-send --rights Send
RULE_ID=$(az eventhubs namespace authorization-rule show -g "$RG" --namespace-name "$NAMESPACE" \
  -n diagnostics-send --query id -o tsv)
for VAULT in $VAULT_IDS; do
  az monitor diagnostic-settings create --name identrail --resource "$VAULT" \
    --event-hub keyvault-audit --event-hub-rule "$RULE_ID" \
    --logs '[{"category":"AuditEvent","enabled":true}]'
done
