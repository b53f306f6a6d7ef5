"""The live feed: a new alert reaches the open `GET /alerts/stream` of every key that may see it."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from telemetry.storage import alerts
from telemetry.storage.db import connect
from tests.fix_server import Server, wait_for
from tests.fix_services import make_key

VINS = {"north": "WA1NRTHNNNNNNNNN1", "south": "WA1STHSSSSSSSSSS1"}


class Listener(threading.Thread):
    """Reads a stream's `event: alert` data lines until `want` have come or it is stopped."""

    def __init__(self, server: Server, key: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.api.base_url}/alerts/stream"
        self.key = key
        self.events: list[dict] = []
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            with httpx.stream("GET", self.url, headers=headers, timeout=30) as response:
                for line in response.iter_lines():
                    if line.startswith(": listening"):
                        self.ready.set()
                    if line.startswith("data: "):
                        self.events.append(orjson.loads(line[6:]))
                    if self.stop.is_set():
                        return
        except httpx.RemoteProtocolError:
            if not self.stop.is_set():  # the server closing a stream it was told to stop is no error
                raise


def test_new_alerts_stream_to_the_keys_that_may_see_them(server: Server) -> None:
    dealer_ids = {}
    for name, vin in VINS.items():
        dealer = server.api.post("/dealers", json={"code": f"S-{name}", "name": name}).json()
        dealer_ids[name] = dealer["id"]
        vehicle = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024,
                   "powertrain": "combustion", "dealer_id": dealer["id"]}  # fmt: skip
        assert server.api.post("/vehicles", json=vehicle).status_code == 201
    admin = Listener(server, server.key)
    advisor = Listener(server, make_key(server.settings, "advisor", dealer_ids["north"]))
    for listener in (admin, advisor):
        listener.start()
        assert listener.ready.wait(20)

    async def fire() -> None:
        async with await connect(server.settings) as conn:
            now = datetime.now(UTC)
            for vin in VINS.values():
                cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
                vid = (await cur.fetchone())["id"]
                firing = alerts.Firing(
                    vid, "coolant_overtemp", 1, "critical", "Hot", f"hot {vin}", now, now, 121.0, {}, "threshold"
                )
                await alerts.fire(conn, firing, reopen_within=timedelta(hours=1))
            await conn.commit()

    asyncio.run(fire())
    wait_for(lambda: len(admin.events) == 2, timeout=20)
    time.sleep(1)  # anything the advisor should not get would have come by now
    for listener in (admin, advisor):
        listener.stop.set()
    assert sorted(e["vin"] for e in admin.events) == sorted(VINS.values())
    assert [e["vin"] for e in advisor.events] == [VINS["north"]], "an advisor sees only their dealer's alerts"
    assert advisor.events[0]["explanation"] == f"hot {VINS['north']}"
    assert httpx.get(admin.url, timeout=10).status_code == 401
