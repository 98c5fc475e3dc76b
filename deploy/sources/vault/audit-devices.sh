#!/bin/sh
# Enables a Vault audit device for Identrail (https://developer.hashicorp.com/vault/docs/audit).
# Usage: audit-devices.sh file|socket     (needs VAULT_ADDR and a token allowed to sudo on sys/audit)
set -eu
case "${1:-file}" in
  file)
    # NDJSON, one entry per request and response; the collector keeps only responses (and errors).
    vault audit enable -path=identrail-file file file_path=/vault/audit/identrail-audit.log mode=0640
    ;;
  socket)
    # Fluent Bit listens on this address (fluent-bit.yaml).
    vault audit enable -path=identrail-socket socket address=fluent-bit.vault.svc:9090 socket_type=tcp
    ;;
  *)
    echo "usage: $0 file|socket" >&2
    exit 2
    ;;
esac
vault audit list -detailed
