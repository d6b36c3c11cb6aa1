#!/usr/bin/env bash
# Runs once, when the primary's data directory is first initialised
# (/docker-entrypoint-initdb.d): the replication role, its slot and its pg_hba.conf line.
set -euo pipefail
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
SLOT="${REPLICATION_SLOT:-replica_1}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=password="$REPLICATION_PASSWORD" --set=slot="$SLOT" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
-- The slot keeps the WAL the replica has not received yet (also while it is down).
SELECT pg_create_physical_replication_slot(:'slot');
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
