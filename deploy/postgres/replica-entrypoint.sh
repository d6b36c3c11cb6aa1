#!/usr/bin/env bash
# The streaming replica: on its first start, copy the primary with pg_basebackup (streaming
# the WAL written meanwhile; -R writes standby.signal and primary_conninfo), then run
# PostgreSQL as a hot standby through the image's own entrypoint. Later starts skip the copy.
set -euo pipefail
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
PRIMARY_HOST="${PRIMARY_HOST:-postgres}"
SLOT="${REPLICATION_SLOT:-replica_1}"
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  export PGPASSWORD="$REPLICATION_PASSWORD"
  # depends_on waits for the primary's health check; pg_basebackup retries nothing itself.
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if gosu postgres pg_basebackup --host="$PRIMARY_HOST" --username=replicator \
      --pgdata="$PGDATA" --wal-method=stream --slot="$SLOT" --write-recovery-conf \
      --checkpoint=fast --progress; then
      break
    fi
    echo "pg_basebackup failed (attempt $attempt); trying again" >&2
    rm -rf "${PGDATA:?}"/*
    [[ $attempt -lt 10 ]] || exit 1
    sleep 3
  done
  unset PGPASSWORD
fi
exec docker-entrypoint.sh "$@"
