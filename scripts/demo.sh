#!/usr/bin/env bash
# The main job: server plus a simulated fleet with alerts flowing. Installs what it needs.
# Uses TELEMETRY_DATABASE_URL / TELEMETRY_MQTT_URL when set; otherwise an embedded PostgreSQL and
# the machine's Mosquitto (installed with apt-get when possible), see docs/index.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/bootstrap.sh
exec .venv/bin/telemetry demo "$@"
