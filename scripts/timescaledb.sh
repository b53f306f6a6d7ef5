#!/usr/bin/env bash
# The TimescaleDB leg's database: when ../shared/vendor (beside the project) holds the TimescaleDB
# source, build it once (the build script skips an installed version, so the build is cached in
# the system's PostgreSQL, outside the clone), start a second PostgreSQL 15 cluster with it in
# shared_preload_libraries on TELEMETRY_TS_PG_PORT (5433), and create the unprivileged `telemetry`
# role and database there, as on a managed service. Idempotent. Prints the export line to use;
# when the source is absent, says so on stderr and exits 3. The main suite never needs this.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$here/../shared/vendor"
port="${TELEMETRY_TS_PG_PORT:-5433}"
db_name="${TELEMETRY_TS_DB_NAME:-telemetry}"
if [ ! -f "$vendor/build-timescaledb.sh" ] || ! ls "$vendor"/timescaledb-*.tar.gz >/dev/null 2>&1; then
  echo "TimescaleDB leg skipped: no TimescaleDB source in $vendor" >&2
  exit 3
fi
{
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_root bash "$vendor/build-timescaledb.sh"
cluster=timescale
if ! pg_lsclusters -h | awk -v c="$cluster" '$1 == "15" && $2 == c {found=1} END {exit !found}'; then
  as_root pg_createcluster 15 "$cluster" -p "$port" >/dev/null
fi
conf="/etc/postgresql/15/$cluster/postgresql.conf"
if ! grep -q "^shared_preload_libraries = 'timescaledb'" "$conf"; then
  echo "shared_preload_libraries = 'timescaledb'" | as_root tee -a "$conf" >/dev/null
  echo "timescaledb.telemetry_level = off" | as_root tee -a "$conf" >/dev/null
  as_root pg_ctlcluster 15 "$cluster" stop 2>/dev/null || true
fi
if ! pg_lsclusters -h | awk -v c="$cluster" '$1 == "15" && $2 == c && $4 == "online" {found=1} END {exit !found}'; then
  as_root pg_ctlcluster 15 "$cluster" start
fi
psql_admin() { as_root runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@"; }
for _ in $(seq 1 50); do psql_admin -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'telemetry'")" != 1 ]; then
  psql_admin -c "CREATE ROLE telemetry LOGIN PASSWORD 'telemetry'"  # no superuser, no CREATEDB
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db_name'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $db_name OWNER telemetry"
fi
# a managed service's shape: the database is not the role's, only a schema in it is
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '${db_name}_managed'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE ${db_name}_managed"
  psql_admin -d "${db_name}_managed" -c "CREATE SCHEMA tenant AUTHORIZATION telemetry"
fi
} >&2
echo "export TELEMETRY_TS_DATABASE_URL=postgresql://telemetry:telemetry@127.0.0.1:$port/$db_name"
