"""What only the TimescaleDB leg can show (scripts/test.sh runs it when ../shared/vendor holds
TimescaleDB): the server's unprivileged role gets the hypertable, the extension stays in `public`
for every tenant schema, and retention drops whole days from the samples and from
`samples_hourly`, reporting them."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemetry.catalog import default_catalog
from telemetry.errors import ConfigError
from telemetry.settings import Settings
from telemetry.storage import hourly
from telemetry.storage.db import connect_sync
from telemetry.storage.migrate import upgrade
from telemetry.storage.retention import run_retention
from telemetry.timeutil import MS_PER_DAY
from tests.fix_services import drop_schema, expected_layout, make_settings
from tests.test_retention import seed

pytestmark = pytest.mark.skipif(expected_layout() != "timescaledb", reason="the TimescaleDB leg only")


def test_an_unprivileged_role_gets_the_hypertable_and_the_extension_stays_in_public(
    settings: Settings, database_url: str, mqtt_url: str
) -> None:
    with connect_sync(settings) as conn:
        assert (
            conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()["rolsuper"] is False
        )
        where = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'timescaledb'"
        ).fetchone()
        assert where["nspname"] == "public"
    second = make_settings(database_url, mqtt_url)
    try:
        asyncio.run(upgrade(second))  # a second tenant schema finds the extension where it is
        with connect_sync(second) as conn:
            layout = conn.execute("SELECT value FROM storage_info WHERE key = 'samples_layout'").fetchone()
            assert layout["value"] == "timescaledb"
    finally:
        drop_schema(second)
    with connect_sync(settings) as conn:  # dropping a tenant's schema dropped nothing of the extension
        assert conn.execute("SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'").fetchone()["n"] == 1


def test_retention_drops_whole_days_from_samples_and_hourly_aggregates_and_says_which(
    settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    now_ms = int(now.timestamp() * 1000)
    old = now_ms - 40 * MS_PER_DAY
    seed(settings, [old, old + 60_000, now_ms - MS_PER_DAY])
    asyncio.run(hourly.refresh(settings, default_catalog()))
    with connect_sync(settings) as conn:
        assert conn.execute("SELECT count(*) AS n FROM samples_hourly").fetchone()["n"] == 2
    settings = settings.model_copy(update={"retention_days": 30, "retention_export_dir": tmp_path})

    dropped = run_retention(settings, now=now)

    old_day = datetime.fromtimestamp(old / 1000, UTC).date()
    assert dropped == [old_day], "the day it dropped, not 'nothing to drop'"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"samples-{old_day}.parquet"], "no empty files"
    with connect_sync(settings) as conn:
        assert conn.execute("SELECT count(*) AS n FROM samples").fetchone()["n"] == 1
        cutoff = now - timedelta(days=30)
        aged = conn.execute("SELECT count(*) AS n FROM samples_hourly WHERE bucket < %s", (cutoff,)).fetchone()
        assert aged["n"] == 0, "aggregates (locations included) do not outlive the samples"


def test_a_role_that_may_not_create_the_extension_is_told_which_statement_to_ask_for(mqtt_url: str) -> None:
    """As on a managed service: the database is not the role's, only its schema is."""
    url = os.environ["TELEMETRY_TEST_DATABASE_URL"] + "_managed"
    settings = Settings(database_url=url, database_schema="tenant", mqtt_url=mqtt_url)
    with pytest.raises(ConfigError, match=r"as a superuser, run CREATE EXTENSION timescaledb SCHEMA public;"):
        asyncio.run(upgrade(settings))
