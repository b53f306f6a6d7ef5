"""Console sessions against a running server: the cookie holds a session id, not the key; a change
made with the cookie needs the CSRF token; non-JSON bodies need their own content type; sign-out
and key revocation end the session and its open alert stream within 5 s; pages may not be framed."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from telemetry.settings import Settings
from telemetry.storage import alerts, apikeys, incidents
from telemetry.storage.db import connect, connect_sync
from tests.fix_server import Server
from tests.fix_services import api_client, make_key

CSV = "vin,date,odometer_km,invoice_number\n"


@contextmanager
def signed_in(server: Server, key: str, name: str = "Anna") -> Iterator[httpx.Client]:
    """A browser-like client: signs in with the form, then holds only the cookie."""
    with httpx.Client(base_url=str(server.api.base_url), timeout=10) as browser:
        answer = browser.post("/console/login", data={"key": key, "name": name})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/"
        yield browser


def csrf_of(browser: httpx.Client) -> str:
    page = browser.get("/console/").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found, "the page carries the session's CSRF token"
    return found.group(1)


def dealer_with_advisor(server: Server, code: str) -> tuple[int, str]:
    dealer = server.api.post("/dealers", json={"code": code, "name": f"Dealer {code}"}).json()
    return int(dealer["id"]), make_key(server.settings, "advisor", dealer["id"])


def test_the_cookie_holds_a_session_not_the_key_and_sign_out_ends_it(server: Server) -> None:
    _, key = dealer_with_advisor(server, "SES1")
    with signed_in(server, key) as browser:
        cookie = browser.cookies["telemetry_session"]
        assert key not in cookie
        assert key.split("_", 2)[2] not in cookie  # the secret part
        with connect_sync(server.settings) as conn:
            stored = conn.execute("SELECT digest FROM console_sessions").fetchall()
        assert cookie not in [row["digest"] for row in stored], "only a digest of the id is kept"
        assert browser.get("/console/").status_code == 200
        token = csrf_of(browser)
        browser.post("/console/logout", data={"csrf_token": token})
    copied = httpx.get(f"{server.api.base_url}/dealers", cookies={"telemetry_session": cookie})
    assert copied.status_code == 401, "a copy of the cookie opens nothing after sign-out"
    assert copied.json()["detail"] == "the console session has ended: sign in again"


def test_a_sign_out_form_of_another_site_ends_nothing(server: Server) -> None:
    _, key = dealer_with_advisor(server, "SES2")
    with signed_in(server, key) as browser:
        browser.post("/console/logout", data={})  # no token: what a forged form would send
        assert browser.get("/dealers").status_code == 200


def test_changes_with_the_cookie_need_the_csrf_token(server: Server) -> None:
    dealer, key = dealer_with_advisor(server, "SES3")
    with signed_in(server, key) as browser:
        body = {"name": "Forged Customer", "dealer_id": dealer}
        forged = browser.post("/customers", json=body)
        assert forged.status_code == 403
        assert "X-CSRF-Token" in forged.json()["detail"]
        wrong = browser.post("/customers", json=body, headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        made = browser.post("/customers", json=body, headers={"X-CSRF-Token": csrf_of(browser)})
        assert made.status_code == 201
        assert browser.get(f"/customers/{made.json()['id']}").status_code == 200, "reads need no token"


def test_the_import_takes_text_csv_only_and_a_cookie_alone_cannot_post_it(server: Server) -> None:
    dealer, key = dealer_with_advisor(server, "SES4")
    url = f"/dealers/{dealer}/services/import"
    with signed_in(server, key) as browser:
        as_form = browser.post(url, data={CSV: ""})  # what a same-site <form> can send
        assert as_form.status_code == 403
        token = {"X-CSRF-Token": csrf_of(browser)}
        form_with_token = browser.post(url, data={CSV: ""}, headers=token)
        assert form_with_token.status_code == 415
        assert form_with_token.json()["detail"] == "send the file as Content-Type: text/csv"
        as_text = browser.post(url, content=CSV, headers={"Content-Type": "text/plain", **token})
        assert as_text.status_code == 415
        without_token = browser.post(url, content=CSV, headers={"Content-Type": "text/csv"})
        assert without_token.status_code == 403
        with_token = browser.post(
            url, content=CSV, headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf_of(browser)}
        )
        assert with_token.status_code == 200
    with_bearer = httpx.post(
        f"{server.api.base_url}{url}",
        content=CSV,
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {key}"},
    )
    assert with_bearer.status_code == 200


def test_pages_may_not_be_framed_and_load_only_their_own_scripts(server: Server) -> None:
    login = server.api.get("/console/login")
    policy = login.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert login.headers["x-frame-options"] == "DENY"
    assert login.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in server.api.get("/health").headers["content-security-policy"]


class Stream(threading.Thread):
    """Holds `GET /alerts/stream` open; records when the server ends it."""

    def __init__(self, base_url: str, **request: object) -> None:
        super().__init__(daemon=True)
        self.base_url, self.request = base_url, request
        self.ready = threading.Event()
        self.ended_at: float | None = None
        self.lines: list[str] = []

    def run(self) -> None:
        with (
            httpx.Client(base_url=self.base_url, timeout=60) as client,
            client.stream("GET", "/alerts/stream", **self.request) as response,  # type: ignore[arg-type]
        ):
            for line in response.iter_lines():
                self.lines.append(line)
                self.ready.set()
        self.ended_at = time.monotonic()


@pytest.mark.parametrize("how", ["revoke the key", "sign out"])
def test_an_open_alert_stream_closes_within_5_s_when_its_key_or_session_ends(server: Server, how: str) -> None:
    _, key = dealer_with_advisor(server, f"SES5{how[0]}")
    with signed_in(server, key) as browser:
        if how == "revoke the key":
            stream = Stream(str(server.api.base_url), headers={"Authorization": f"Bearer {key}"})
        else:
            stream = Stream(
                str(server.api.base_url), cookies={"telemetry_session": browser.cookies["telemetry_session"]}
            )
        stream.start()
        assert stream.ready.wait(10)
        ended_at = time.monotonic()
        if how == "revoke the key":
            prefix = key.split("_")[1]
            with connect_sync(server.settings) as conn:
                key_id = conn.execute("SELECT id FROM api_keys WHERE prefix = %s", (prefix,)).fetchone()["id"]
                apikeys.revoke_sync(conn, key_id=key_id)
                conn.commit()
        else:
            browser.post("/console/logout", data={"csrf_token": csrf_of(browser)})
        stream.join(10)
    assert stream.ended_at is not None, "the stream is still open"
    assert stream.ended_at - ended_at < 5.0
    assert "event: end" in stream.lines


@pytest.mark.parametrize(("public_url", "secure"), [("https://telemetry.example.com", True), (None, False)])
def test_the_cookie_is_secure_behind_https(settings: Settings, public_url: str | None, secure: bool) -> None:
    behind = settings.model_copy(update={"public_url": public_url})
    key = make_key(behind, "admin")

    async def sign_in() -> str:
        async with api_client(behind) as api:
            answer = await api.post("/console/login", data={"key": key, "name": "Anna"})
            return answer.headers["set-cookie"]

    cookie = asyncio.run(sign_in())
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert ("Secure" in cookie) is secure


def test_a_queue_row_of_another_dealer_reads_like_a_missing_one(server: Server) -> None:
    _, key = dealer_with_advisor(server, "SES6A")
    theirs_dealer, _ = dealer_with_advisor(server, "SES6B")
    vin = "WMXRWBB0000000001"
    vehicle = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024, "powertrain": "combustion",
               "dealer_id": theirs_dealer}  # fmt: skip
    assert server.api.post("/vehicles", json=vehicle).status_code == 201

    async def fire() -> int:
        async with await connect(server.settings) as conn:
            vid = (await (await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))).fetchone())["id"]
            now = datetime.now(UTC)
            firing = alerts.Firing(vid, "coolant_overtemp", 1, "critical", "Hot", "hot", now, now, 1.0, {}, "threshold")
            alert_id = await alerts.fire(conn, firing, reopen_within=timedelta(0))
            incident_id = await incidents.attach(conn, alert_id=alert_id, reopen_within=timedelta(0))
            await conn.commit()
            return incident_id

    incident_id = asyncio.run(fire())
    with signed_in(server, key) as browser:
        theirs, missing = browser.get(f"/console/rows/{incident_id}"), browser.get("/console/rows/999999999")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text.replace(f"incident {incident_id} ", "incident <id> ") == missing.text.replace(
        "incident 999999999 ", "incident <id> "
    )
    assert vin not in theirs.text
