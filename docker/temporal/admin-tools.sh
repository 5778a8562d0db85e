#!/bin/sh
# The operators' shell on the cluster (`docker compose exec temporal-admin-tools temporal workflow list`):
# waits until the server answers `temporal operator cluster health`, makes sure the engine's namespace exists
# (created with NAMESPACE_RETENTION when missing), then stays up. Its health check asks the same two questions,
# so the services that wait for it start on a cluster that is serving their namespace.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:=default}" "${NAMESPACE_RETENTION:=30d}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  echo "waiting for the Temporal server at $TEMPORAL_ADDRESS"
  sleep 2
done
temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$NAMESPACE_RETENTION" \
    --address "$TEMPORAL_ADDRESS"
echo "namespace $TEMPORAL_NAMESPACE ready"
exec tail -f /dev/null
