#!/usr/bin/env bash
# Install (if missing) and start (if not running) PostgreSQL and Mosquitto on loopback, and create
# the database. Idempotent: run it as often as you like. Prints the environment to use.
#   TELEMETRY_PG_PORT (5432), TELEMETRY_MQTT_PORT (1883), TELEMETRY_DB_NAME (telemetry)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg_port="${TELEMETRY_PG_PORT:-5432}"
mqtt_port="${TELEMETRY_MQTT_PORT:-1883}"
db_name="${TELEMETRY_DB_NAME:-telemetry}"
state="${TELEMETRY_SERVICES_DIR:-$here/.telemetry/services}"
mkdir -p "$state"

# Only the exports at the end may reach stdout (callers eval it): everything in this block goes to
# stderr, since tools such as pg_ctlcluster print notes ("Removed stale pid file.") on stdout.
{

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- PostgreSQL ------------------------------------------------------------------------------
if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ]; then
  echo "services: installing PostgreSQL" >&2
  apt_install postgresql postgresql-contrib
fi
if ! port_open "$pg_port"; then
  cluster="$(pg_lsclusters -h | awk -v p="$pg_port" '$3 == p {print $1" "$2; exit}')"
  if [ -z "$cluster" ]; then
    ver="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
    as_root pg_createcluster "$ver" telemetry -p "$pg_port" >/dev/null
    cluster="$ver telemetry"
  fi
  echo "services: starting PostgreSQL cluster $cluster" >&2
  as_root pg_ctlcluster $cluster start
  for _ in $(seq 1 50); do port_open "$pg_port" && break; sleep 0.2; done
fi
psql_admin() { as_root runuser -u postgres -- psql -p "$pg_port" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'telemetry'")" != 1 ]; then
  psql_admin -c "CREATE ROLE telemetry LOGIN PASSWORD 'telemetry' CREATEDB"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db_name'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $db_name OWNER telemetry"
fi
# Write-heavy ingest (docs/operations.md, "PostgreSQL for ingest"): room for WAL between
# checkpoints, compressed full-page images. Reloaded, no restart; idempotent.
if [ "$(psql_admin -c "SHOW max_wal_size")" != 8GB ]; then
  psql_admin -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '15min'"
  psql_admin -c "ALTER SYSTEM SET wal_compression = 'lz4'" 2>/dev/null \
    || psql_admin -c "ALTER SYSTEM SET wal_compression = 'on'"
  psql_admin -c "SELECT pg_reload_conf()" >/dev/null
fi
# The day's primary-key index outgrows PostgreSQL's default 128 MB cache within minutes at a million
# samples a second; a quarter of RAM, at most 2 GB, keeps it (takes a restart, once).
buffers_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 4 / 1024 ))
[ "$buffers_mb" -le 2048 ] || buffers_mb=2048
if [ "$(psql_admin -c "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'")" != "$buffers_mb" ]; then
  psql_admin -c "ALTER SYSTEM SET shared_buffers = '${buffers_mb}MB'"
  as_root pg_ctlcluster $(pg_lsclusters -h | awk -v p="$pg_port" '$3 == p {print $1" "$2; exit}') restart
  for _ in $(seq 1 50); do port_open "$pg_port" && break; sleep 0.2; done
fi

# --- Mosquitto -------------------------------------------------------------------------------
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  echo "services: installing Mosquitto" >&2
  apt_install mosquitto mosquitto-clients
fi
if ! command -v mosquitto_pub >/dev/null; then apt_install mosquitto-clients; fi
if ! port_open "$mqtt_port"; then
  mkdir -p "$state/mosquitto"
  sed -e "s|@PORT@|$mqtt_port|" -e "s|@DATA@|$state/mosquitto/|" -e "s|@USER@|$(id -un)|" \
    "$here/deploy/mosquitto/dev.conf.in" > "$state/mosquitto/mosquitto.conf"
  chmod -R a+rwX "$state/mosquitto"
  echo "services: starting Mosquitto on 127.0.0.1:$mqtt_port" >&2
  "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$state/mosquitto/mosquitto.conf" -d
  for _ in $(seq 1 50); do port_open "$mqtt_port" && break; sleep 0.1; done
fi
port_open "$mqtt_port" || { echo "services: Mosquitto did not start" >&2; exit 1; }

# --- Chromium, for the console's browser tests (Playwright drives the Debian package) ----------
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "services: installing chromium" >&2
  apt_install chromium
fi
} >&2

echo "export TELEMETRY_DATABASE_URL=postgresql://telemetry:telemetry@127.0.0.1:$pg_port/$db_name"
echo "export TELEMETRY_MQTT_URL=mqtt://127.0.0.1:$mqtt_port"
