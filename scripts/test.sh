#!/usr/bin/env bash
# The test command: installs what it needs, starts PostgreSQL and Mosquitto, lints, checks the layers, runs the suite.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/bootstrap.sh
eval "$(bash scripts/services.sh)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the layers in pyproject.toml: an upward import fails here
.venv/bin/mypy                     # strict on every package but the benchmarks (pyproject.toml)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet  # docs/: a broken link or page fails here
.venv/bin/python -m pytest "$@"
[ "$#" -eq 0 ] || exit 0  # a chosen test runs on the main leg only
# The TimescaleDB leg: the layout-dependent tests again, on a cluster with the extension preloaded and
# the server's unprivileged role; skipped (one line says so) when ../shared/vendor is absent.
set +e
ts_env="$(bash scripts/timescaledb.sh)"
ts_status=$?
set -e
if [ "$ts_status" -eq 0 ]; then
  eval "$ts_env"
  TELEMETRY_TEST_DATABASE_URL="$TELEMETRY_TS_DATABASE_URL" TELEMETRY_TEST_SAMPLES_LAYOUT=timescaledb \
    .venv/bin/python -m pytest -p no:cacheprovider tests/test_storage.py tests/test_retention.py \
    tests/test_pipeline.py tests/test_end_to_end.py tests/test_faults.py tests/test_timescaledb.py tests/test_hourly.py
elif [ "$ts_status" -ne 3 ]; then
  echo "TimescaleDB leg: setting up its database failed ($ts_status)" >&2
  exit "$ts_status"
fi
