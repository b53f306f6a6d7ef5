"""The advisor console in a real browser (Debian's chromium, driven by Playwright), against the
real server: sign in, an overheating alert appears without reload, acknowledge it, open the
vehicle's chart, dealer B's alert never shows for dealer A, the OEM activates an option and
watches it turn active. Screenshots of each page go to tests/artifacts/console/."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from telemetry.timeutil import now_ms
from tests.fix_server import Server, wait_for
from tests.fix_services import make_key
from tests.fix_vehicles import HEATED_SEATS, SimulatedVehicle
from tests.test_end_to_end import COOLANT, publish

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: bash scripts/bootstrap.sh installs it")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def sign_in(
    browser: Browser, server: Server, key: str, name: str, viewport: dict = DESKTOP, locale: str = "en-GB"
) -> Page:
    page = browser.new_context(viewport=viewport, locale=locale, timezone_id="Europe/Paris").new_page()
    base = str(server.api.base_url).rstrip("/")
    page.goto(f"{base}/console/")
    expect(page).to_have_url(f"{base}/console/login")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Queue")
    return page


def every_control_is_labelled(page: Page) -> None:
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')).map(el => el.outerHTML)"
    )
    assert unlabelled == []


def fits_the_width(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def publish_apart(server: Server, vin: str, payloads: list[bytes]) -> None:
    """`publish` runs its own event loop; Playwright's sync API holds one in this thread."""
    worker = threading.Thread(target=publish, args=(server, vin, payloads))
    worker.start()
    worker.join(30)


def hot_engine(vin: str) -> list[bytes]:
    start = now_ms() - 120_000
    samples = [{"ts": start + i * 1000, "signals": {COOLANT: 118.0, "Vehicle.Speed": 80}} for i in range(60)]
    return [orjson.dumps({"vin": vin, "seq": 1, "samples": samples})]


def register(server: Server, code: str, vin: str) -> tuple[int, int]:
    api = server.api
    dealer = api.post("/dealers", json={"code": code, "name": f"Dealer {code}"}).json()["id"]
    customer = api.post("/customers", json={"name": f"Driver {code}", "email": f"driver.{code.lower()}@example.com",
                                            "dealer_id": dealer}).json()["id"]  # fmt: skip
    body = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2025, "powertrain": "combustion",
            "dealer_id": dealer, "owner_customer_id": customer, "software_version": "2.1",
            "hardware": ["seat_heaters"]}  # fmt: skip
    assert api.post("/vehicles", json=body).status_code == 201
    return dealer, customer


def test_an_advisor_works_a_live_alert_and_sees_only_their_dealer(server: Server, browser: Browser) -> None:
    vin_a, vin_b = "WAUZZZ8V0KA000701", "WAUZZZ8V0KA000702"
    dealer_a, customer_a = register(server, "CA", vin_a)
    register(server, "CB", vin_b)
    page = sign_in(browser, server, make_key(server.settings, "advisor", dealer_a), "Anna Advisor")
    expect(page.locator("#live")).to_contain_text("Live")
    every_control_is_labelled(page)
    page.screenshot(path=ARTIFACTS / "01-queue-empty.png", full_page=True)

    publish_apart(server, vin_b, hot_engine(vin_b))  # dealer B's car overheats first ...
    wait_for(lambda: server.api.get(f"/vehicles/{vin_b}/alerts").json(), timeout=30)
    publish_apart(server, vin_a, hot_engine(vin_a))  # ... then dealer A's
    row = page.locator(f'tr[data-incident]:has-text("{vin_a}")')
    expect(row).to_be_visible(timeout=30_000)  # no reload: the live feed brought it
    expect(row).to_contain_text("Cooling system: Engine coolant over-temperature")
    expect(page.locator(f'tr[data-incident]:has-text("{vin_a}")')).to_have_count(1)  # one problem, one row
    expect(page.locator(f'tr:has-text("{vin_b}")')).to_have_count(0)  # dealer B's is not for A
    page.screenshot(path=ARTIFACTS / "02-queue-live-alert.png", full_page=True)

    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f'tr[data-state="acknowledged"]:has-text("{vin_a}")')).to_be_visible()
    page.keyboard.press("j")  # select the row, then take it with the keyboard
    page.keyboard.press("m")
    expect(page.locator(f'tr:has-text("{vin_a}")')).to_contain_text("with Anna Advisor")
    alert = server.api.get(f"/vehicles/{vin_a}/alerts").json()[0]
    assert (alert["state"], alert["acknowledged_by"], alert["assigned_to"]) == (
        "acknowledged", "Anna Advisor", "Anna Advisor")  # fmt: skip

    page.set_viewport_size(TABLET)
    fits_the_width(page)
    page.screenshot(path=ARTIFACTS / "03-queue-tablet.png", full_page=True)
    page.set_viewport_size(DESKTOP)

    page.locator(f'tr:has-text("{vin_a}") a.title').click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(vin_a)
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-ready", "true", timeout=15_000)
    assert int(chart.get_attribute("data-points") or 0) > 0
    expect(page.locator("#chart canvas")).to_have_count(1)
    expect(page.locator("#chart-caption")).to_contain_text("values")
    every_control_is_labelled(page)
    page.screenshot(path=ARTIFACTS / "04-vehicle-chart.png", full_page=True)

    page.get_by_role("link", name="Driver CA").first.click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Engine coolant over-temperature")
    page.screenshot(path=ARTIFACTS / "05-customer.png", full_page=True)

    page.get_by_role("link", name="Who to call today").click()
    expect(page.locator(".calls")).to_contain_text(vin_a)  # a critical alert: a safety call
    page.screenshot(path=ARTIFACTS / "06-calls.png", full_page=True)

    other = server.api.get(f"/vehicles/{vin_b}").json()["owner_customer_id"]
    base = str(server.api.base_url).rstrip("/")
    assert page.goto(f"{base}/console/vehicles/{vin_b}").status == 404
    expect(page.get_by_role("alert")).to_contain_text(f"vehicle {vin_b} not found")
    assert page.goto(f"{base}/console/customers/{other}").status == 404
    assert customer_a != other

    page.goto(f"{base}/console/")  # the workshop found the fault: resolve the incident with what was done
    row = page.locator(f'tr[data-incident]:has-text("{vin_a}")')
    incident_id = row.get_attribute("data-incident")
    row.get_by_label("Outcome for incident").select_option("repaired")
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator("#live")).to_contain_text("operation")  # 'repaired' needs the operation
    row.get_by_label("Operation done").fill("replaced thermostat")
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator(f'tr[data-incident="{incident_id}"]')).to_have_count(0)  # out of the working queue
    incident = server.api.get(f"/vehicles/{vin_a}/incidents").json()[0]
    assert (incident["outcome"], incident["operation"]) == ("repaired", "replaced thermostat")
    page.get_by_role("link", name="Rule performance").click()
    expect(page.locator('tr[data-rule="coolant_overtemp"]')).to_contain_text("100%")
    every_control_is_labelled(page)
    page.screenshot(path=ARTIFACTS / "08-rule-performance.png", full_page=True)


def test_the_oem_activates_an_option_and_watches_it_become_active(server: Server, browser: Browser) -> None:
    if server.api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    vin = "WAUZZZ8V0KA000711"
    register(server, "CO", vin)
    car = SimulatedVehicle(server.settings, vin)
    car.start()
    try:
        assert car.ready.wait(20)
        page = sign_in(browser, server, make_key(server.settings, "oem"), "Otto OEM")
        page.get_by_role("link", name="Software options").click()
        every_control_is_labelled(page)
        page.get_by_label("Vehicle (VIN)").fill(vin)
        page.get_by_label("Option").select_option("heated_seats")
        page.get_by_label("Kind").select_option("trial")
        page.get_by_role("button", name="Activate").click()
        expect(page.locator("#activation")).to_have_attribute("data-state", "active", timeout=30_000)
        expect(page.locator("#activation-log")).to_contain_text("the vehicle switched it on")
        page.screenshot(path=ARTIFACTS / "07-oem-activation.png", full_page=True)
        page.get_by_label("Vehicle (VIN)").fill("WAUZZZ8V0KA999999")
        page.get_by_role("button", name="Activate").click()
        expect(page.locator("#activation")).to_contain_text("Refused")
    finally:
        car.stopping.set()
        car.join(10)


def test_the_chart_speaks_the_browsers_language(server: Server, browser: Browser) -> None:
    vin = "WAUZZZ8V0KA000721"
    dealer, _ = register(server, "CF", vin)
    publish_apart(server, vin, hot_engine(vin))
    wait_for(lambda: server.api.get(f"/vehicles/{vin}/signals/{COOLANT}").json()["points"], timeout=30)
    page = sign_in(browser, server, make_key(server.settings, "advisor", dealer), "Françoise", locale="fr-FR")
    base = str(server.api.base_url).rstrip("/")
    page.goto(f"{base}/console/vehicles/{vin}?window=7d")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-ready", "true", timeout=15_000)
    labels = (chart.get_attribute("data-x-labels") or "").split("|")
    paris = ZoneInfo("Europe/Paris")
    days = {(datetime.now(paris) - timedelta(days=d)).strftime("%d/%m") for d in range(9)}
    assert labels, "the time axis has labels"
    assert set(labels) <= days, f"day before month, as in France: {labels}"


def test_the_oem_reads_the_fleet_and_runs_a_campaign_from_the_console(server: Server, browser: Browser) -> None:
    if server.api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    ready, old = "WAUZZZ8V0KA000731", "WAUZZZ8V0KA000732"
    register(server, "CC", ready)
    register(server, "CD", old)
    assert server.api.patch(f"/vehicles/{old}", json={"software_version": "1.9"}).status_code == 200
    car = SimulatedVehicle(server.settings, ready)
    car.start()
    try:
        assert car.ready.wait(20)
        page = sign_in(browser, server, make_key(server.settings, "oem"), "Otto OEM")
        page.get_by_role("link", name="Fleet").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Fleet health")
        page.get_by_label("Cut by").select_option("software_version")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#health")).to_contain_text("1.9")
        expect(page.locator("#versions")).to_contain_text("Compact 1.5")
        every_control_is_labelled(page)
        page.screenshot(path=ARTIFACTS / "08-oem-fleet.png", full_page=True)

        page.get_by_role("link", name="Campaigns").click()
        every_control_is_labelled(page)
        page.get_by_label("Name", exact=True).fill("Console segment")
        page.get_by_label("Models (comma-separated)").fill("Compact 1.5")
        page.get_by_label("Dealer ids (comma-separated)").fill(",".join(
            str(server.api.get(f"/vehicles/{v}").json()["dealer_id"]) for v in (ready, old)))  # fmt: skip
        page.get_by_role("button", name="Save segment").click()
        expect(page.locator("#segments")).to_contain_text("Console segment")
        page.get_by_label("Campaign name").fill("Console trial")
        page.get_by_label("Segment", exact=True).select_option(label="Console segment (2)")
        page.get_by_label("Option").select_option("heated_seats")
        page.get_by_role("button", name="Dry run").click()
        expect(page.locator("#dry-result")).to_contain_text("1 of 2 vehicles would get it now.")
        expect(page.locator("#dry-result")).to_contain_text("the vehicle runs 1.9")
        page.get_by_label("Vehicles per minute").fill("600")
        page.get_by_role("button", name="Start campaign").click()
        row = page.locator("#campaigns tr", has_text="Console trial")
        expect(row).to_have_attribute("data-state", "completed", timeout=30_000)
        expect(row.locator(".progress")).to_contain_text("1 acknowledged", timeout=30_000)
        expect(row.locator(".reasons")).to_contain_text("1 skipped: heated_seats needs software 2.0 or newer")
        page.screenshot(path=ARTIFACTS / "09-oem-campaign.png", full_page=True)
        page.set_viewport_size(TABLET)
        fits_the_width(page)
    finally:
        car.stopping.set()
        car.join(10)
