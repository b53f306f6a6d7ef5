"""`telemetry webhooks`: deliver outbox events to the CRM endpoints, at least once, in order per
vehicle and endpoint, retrying with exponential backoff and full jitter until the retry window
(72 h by default) runs out, then to the dead-letter list.

The sender wakes on the outbox channel and otherwise checks for due retries every POLL_S. Any
number of senders may run: a delivery is leased to one at a time (`outbox.claim`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from psycopg import sql

from telemetry.metrics import WEBHOOK_ATTEMPTS
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect, schema_name
from webhooks import outbox, targets
from webhooks.signature import HEADER, sign

log = logging.getLogger(__name__)
POLL_S = 1.0
BATCH = 50
USER_AGENT = "telemetry-webhooks/1"


def retry_delay(attempts: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempts-1))], so that endpoints coming back
    after an outage are not hit by every sender's retries at the same moment."""
    return rng.uniform(0.0, min(cap_s, base_s * 2.0 ** max(attempts - 1, 0)))


def channel(settings: Settings) -> str:
    return f"{schema_name(settings)}.outbox"


class Sender:
    def __init__(self, settings: Settings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter, not cryptography
        self.lease = timedelta(seconds=2 * settings.webhook_timeout_s + 30)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        async with (
            await connect(self.settings, autocommit=True) as listener,
            await connect(self.settings, autocommit=True) as conn,
            targets.client(
                timeout_s=self.settings.webhook_timeout_s,
                allow_private=self.settings.webhook_allow_private,
                headers={"User-Agent": USER_AGENT},
            ) as http,
        ):
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.settings))))
            while not stop.is_set():
                if await self.deliver_due(conn, http) == 0:
                    async for _ in listener.notifies(timeout=POLL_S, stop_after=1):
                        pass

    async def deliver_due(self, conn: Conn, http: httpx.AsyncClient) -> int:
        """One round: claim due deliveries, send them concurrently, record the outcomes."""
        async with conn.transaction():
            claimed = await outbox.claim(conn, limit=BATCH, lease=self.lease)
        results = await asyncio.gather(*(self._post(http, d) for d in claimed))
        async with conn.transaction():
            for delivery, (status, error) in zip(claimed, results, strict=True):
                await self._record(conn, delivery, status, error)
        return len(claimed)

    async def _post(self, http: httpx.AsyncClient, d: outbox.Delivery) -> tuple[int | None, str | None]:
        body = orjson.dumps(d.payload)
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(d.secret, int(time.time()), body),
            "Idempotency-Key": str(d.event_id),
            "Telemetry-Event": d.event_type,
        }
        try:
            response = await http.post(d.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"

    async def _record(self, conn: Conn, d: outbox.Delivery, status: int | None, error: str | None) -> None:
        if error is None:
            await outbox.delivered(conn, d, status=status or 200)
            WEBHOOK_ATTEMPTS.labels("delivered").inc()
            return
        s = self.settings
        delay = retry_delay(d.attempts, base_s=s.webhook_backoff_base_s, cap_s=s.webhook_backoff_cap_s, rng=self.rng)
        give_up_at = d.window_start + timedelta(seconds=s.webhook_give_up_after_s)
        retry_in = timedelta(seconds=delay) if datetime.now(UTC) + timedelta(seconds=delay) < give_up_at else None
        await outbox.failed(conn, d, status=status, error=error, retry_in=retry_in)
        WEBHOOK_ATTEMPTS.labels("retry" if retry_in else "dead").inc()
        log.info(
            "webhook %s event %s to %s failed (%s); %s",
            d.endpoint_id,
            d.event_id,
            d.url,
            error,
            f"retry in {delay:.1f} s" if retry_in else "dead-lettered",
        )


def main(settings: Settings) -> None:
    asyncio.run(Sender(settings).run())
