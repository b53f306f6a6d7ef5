"""The native layout's hourly rollup, kept by the ingest process: every interval, the hours that
writes marked and that have ended are recomputed from raw samples (`telemetry.storage.hourly`).
On TimescaleDB the continuous aggregate's own policy does this and the loop ends at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import psycopg

from telemetry.catalog import Catalog
from telemetry.mqtt import Backoff
from telemetry.settings import Settings
from telemetry.storage import hourly
from telemetry.storage.db import connect
from telemetry.storage.layout import NATIVE, samples_layout

log = logging.getLogger(__name__)


async def keep_rolling_up(settings: Settings, catalog: Catalog) -> None:
    backoff = Backoff(cap=settings.hourly_rollup_interval_s)
    while True:
        try:
            async with await connect(settings) as conn:
                layout = await samples_layout(conn)
                await conn.commit()
                if layout != NATIVE:
                    log.info("hourly rollup: %s keeps samples_hourly itself", layout)
                    return
                while True:
                    done = await hourly.roll_up_all(conn, catalog, now=datetime.now(UTC))
                    if done:
                        log.info("hourly rollup: %d vehicle-hour(s) recomputed", done)
                    backoff.reset()
                    await asyncio.sleep(settings.hourly_rollup_interval_s)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            log.warning("hourly rollup: database unavailable (%s); retrying", exc)
            await backoff.wait()
