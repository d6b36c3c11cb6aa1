#!/usr/bin/env bash
# The primary: the WAL archive volume belongs to postgres, then the image's own entrypoint
# (which initialises the data directory on first start and runs primary-init.sh once).
set -euo pipefail
ARCHIVE="${WAL_ARCHIVE:-/var/lib/postgresql/wal-archive}"
mkdir -p "$ARCHIVE"
chown postgres:postgres "$ARCHIVE"
chmod 700 "$ARCHIVE"
exec docker-entrypoint.sh "$@"
