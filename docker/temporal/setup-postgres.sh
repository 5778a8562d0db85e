#!/bin/sh
# Temporal's schema on PostgreSQL, as Temporal documents it for temporalio/admin-tools: create each database,
# set up the schema's version table, then apply every versioned schema file the image carries (update-schema
# applies only what is newer, so this runs again safely on every `docker compose up` and after an upgrade of
# the images).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${DB_PORT:=5432}"
export SQL_PASSWORD="${POSTGRES_PWD:?}"
schema=/etc/temporal/schema/postgresql/v12

until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do
  echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"
  sleep 1
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db="${pair%%:*}"
  dir="${pair#*:}"
  # `create` fails when the database exists (a second start): the next two steps fail on any real error.
  sql_tool --db "$db" create || echo "database $db exists"
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$schema/$dir/versioned"
done
echo "Temporal schema ready"
