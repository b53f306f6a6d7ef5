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
.venv/bin/mypy                     # strict on the core and the domains (pyproject.toml)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet  # docs/: a broken link or page fails here
exec .venv/bin/python -m pytest "$@"
