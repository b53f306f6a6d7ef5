"""The isolation matrix: every operation of the API's OpenAPI document, as every role and as each
dealer's advisor against the other dealer's records.

Two dealers get a full set of records each (branch, customers, household, vehicle, service,
contact, alert, offer, entitlement, merge). Then, for every operation:
- without a key: 401 (but /health and /metrics);
- as a role the role table of docs/api.md does not grant: 403;
- as a granted role on its own records (reads): neither 401 nor 403, an advisor's answer holds
  nothing of the other dealer, and an OEM's or an integration's no customer's name or contact data;
- as one dealer's advisor with the other dealer's ids: 404 (writes: 403 or 404), with exactly the
  body a record that does not exist gets, the ids aside.
An operation without a rule in ROLES fails the test, so a new route is covered the day it lands.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
from fastapi.routing import APIRoute

from api.app import create_app
from api.console import pages as console_pages
from telemetry.settings import Settings
from tests.fix_records import normalized, two_dealers
from tests.fix_services import in_process, make_key

ALL = frozenset({"admin", "oem", "advisor", "vehicle-readonly"})
WRITERS = frozenset({"admin", "oem", "advisor"})  # vehicles
CUSTOMERS = frozenset({"admin", "advisor"})
ADMIN = frozenset({"admin"})
OEM = frozenset({"admin", "oem"})
PUBLIC = frozenset({"anonymous"})

# (method, path) -> the roles that may call it: the role table of docs/api.md, operation by operation
ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/dealers"): WRITERS,
    ("POST", "/dealers"): ADMIN,
    ("GET", "/dealers/{dealer_id}"): WRITERS,
    ("POST", "/dealers/{dealer_id}/branches"): ADMIN,
    ("GET", "/dealers/{dealer_id}/branches"): WRITERS,
    ("POST", "/dealers/{dealer_id}/services/import"): CUSTOMERS,
    ("GET", "/dealers/{dealer_id}/alerts"): CUSTOMERS,
    ("GET", "/dealers/{dealer_id}/incidents"): CUSTOMERS,
    ("GET", "/dealers/{dealer_id}/recommendations"): CUSTOMERS,
    ("GET", "/customers/duplicates"): CUSTOMERS,
    ("POST", "/customers/{customer_id}/merges"): CUSTOMERS,
    ("GET", "/customers/{customer_id}/merges"): CUSTOMERS,
    ("POST", "/customers/{customer_id}/merges/{merge_id}/unmerge"): CUSTOMERS,
    ("POST", "/customers"): CUSTOMERS,
    ("GET", "/customers/{customer_id}"): CUSTOMERS,
    ("DELETE", "/customers/{customer_id}"): ADMIN,
    ("POST", "/customers/{customer_id}/consents"): CUSTOMERS,
    ("GET", "/customers/{customer_id}/consents"): CUSTOMERS,
    ("GET", "/customers/{customer_id}/export"): CUSTOMERS,
    ("POST", "/customers/{customer_id}/contacts"): CUSTOMERS,
    ("GET", "/customers/{customer_id}/contacts"): CUSTOMERS,
    ("POST", "/households"): CUSTOMERS,
    ("GET", "/households/{household_id}"): CUSTOMERS,
    ("POST", "/households/{household_id}/members"): CUSTOMERS,
    ("POST", "/households/{household_id}/members/{member_id}/end"): CUSTOMERS,
    ("POST", "/vehicles"): WRITERS,
    ("GET", "/vehicles/{vin}"): ALL,
    ("PATCH", "/vehicles/{vin}"): CUSTOMERS,
    ("POST", "/vehicles/{vin}/services"): CUSTOMERS,
    ("GET", "/vehicles/{vin}/services"): ALL,
    ("GET", "/vehicles/{vin}/recalls"): ALL,
    ("GET", "/vehicles/{vin}/alerts"): ALL,
    ("GET", "/vehicles/{vin}/incidents"): ALL,
    ("GET", "/vehicles/{vin}/signals/{path}"): ALL,
    ("GET", "/vehicles/{vin}/signals/{path}/buckets"): ALL,
    ("GET", "/features"): ALL,
    ("POST", "/features"): OEM,
    ("POST", "/vehicles/{vin}/features/{code}/activations"): WRITERS,
    ("GET", "/vehicles/{vin}/features"): ALL,
    ("GET", "/vehicles/{vin}/entitlements/{entitlement_id}"): ALL,
    ("POST", "/vehicles/{vin}/features/{code}/renewals"): OEM,
    ("POST", "/vehicles/{vin}/features/{code}/deactivations"): OEM,
    ("GET", "/vehicles/{vin}/commands"): ALL,
    ("GET", "/vehicles/{vin}/offers"): ALL,
    ("POST", "/offers/{offer_id}/trial"): WRITERS,
    ("POST", "/offers/{offer_id}/dismiss"): WRITERS,
    ("POST", "/recalls"): OEM,
    ("GET", "/recalls/{code}"): WRITERS,
    ("GET", "/alerts/stream"): ALL,
    ("GET", "/alerts/{alert_id}"): ALL,
    ("POST", "/alerts/{alert_id}/acknowledge"): CUSTOMERS,
    ("POST", "/alerts/{alert_id}/resolve"): CUSTOMERS,
    ("POST", "/alerts/{alert_id}/assign"): CUSTOMERS,
    ("POST", "/alerts/{alert_id}/notes"): CUSTOMERS,
    ("GET", "/alerts/{alert_id}/notes"): CUSTOMERS,
    ("GET", "/incidents/{incident_id}"): ALL,
    ("POST", "/incidents/{incident_id}/acknowledge"): CUSTOMERS,
    ("POST", "/incidents/{incident_id}/assign"): CUSTOMERS,
    ("POST", "/incidents/{incident_id}/resolve"): CUSTOMERS,
    ("GET", "/rules/performance"): WRITERS,
    ("GET", "/fleet/health"): OEM,
    ("GET", "/fleet/health/weekly"): OEM,
    ("GET", "/fleet/health/vehicles"): OEM,
    ("GET", "/fleet/software-versions"): OEM,
    ("GET", "/fleet/option-funnel"): OEM,
    ("POST", "/segments"): OEM,
    ("GET", "/segments"): OEM,
    ("GET", "/segments/{segment_id}"): OEM,
    ("GET", "/segments/{segment_id}/vehicles"): OEM,
    ("POST", "/campaigns/dry-run"): OEM,
    ("POST", "/campaigns"): OEM,
    ("GET", "/campaigns"): OEM,
    ("GET", "/campaigns/{campaign_id}"): OEM,
    ("POST", "/campaigns/{campaign_id}/{action}"): OEM,
    ("GET", "/dead-letters"): ADMIN,
    ("GET", "/webhooks"): ADMIN,
    ("POST", "/webhooks"): ADMIN,
    ("DELETE", "/webhooks/{endpoint_id}"): ADMIN,
    ("GET", "/webhooks/{endpoint_id}/deliveries"): ADMIN,
    ("POST", "/webhooks/{endpoint_id}/deliveries/{event_id}/redeliver"): ADMIN,
}
STREAMS = {("GET", "/alerts/stream")}  # never ends by itself: called without a key only

BY = {"by": "matrix"}
BODIES: dict[tuple[str, str], object] = {  # valid bodies, so that a refusal is about the ids
    ("POST", "/dealers"): {"code": "MX", "name": "Matrix"},
    ("POST", "/dealers/{dealer_id}/branches"): {"code": "MX", "name": "Matrix"},
    ("POST", "/customers/{customer_id}/merges"): {"source_id": 999_999_999, **BY},
    ("POST", "/customers/{customer_id}/merges/{merge_id}/unmerge"): BY,
    ("POST", "/customers"): {"name": "Matrix"},
    ("POST", "/customers/{customer_id}/consents"): {"purpose": "marketing", "granted": True, "source": "matrix"},
    ("POST", "/customers/{customer_id}/contacts"): {
        "channel": "phone",
        "purpose": "service",
        "outcome": "reached",
        **BY,
    },
    ("POST", "/households"): {"name": "Matrix"},
    ("POST", "/households/{household_id}/members"): {"customer_id": 999_999_999, "role": "driver"},
    ("POST", "/households/{household_id}/members/{member_id}/end"): {},
    ("POST", "/vehicles"): {
        "vin": "WMXZZZ00000000001",
        "make": "Aurora",
        "model": "Compact 1.5",
        "model_year": 2024,
        "powertrain": "combustion",
    },
    ("PATCH", "/vehicles/{vin}"): {"registration": "M-X 1"},
    ("POST", "/vehicles/{vin}/services"): {"performed_at": "2026-01-05T10:00:00+00:00", "odometer_km": 10},
    ("POST", "/features"): {"code": "matrix_option", "name": "Matrix", "price_model": "one_off"},
    ("POST", "/vehicles/{vin}/features/{code}/activations"): {"kind": "trial"},
    ("POST", "/vehicles/{vin}/features/{code}/renewals"): {"periods": 1},
    ("POST", "/vehicles/{vin}/features/{code}/deactivations"): {"reason": "matrix"},
    ("POST", "/offers/{offer_id}/dismiss"): BY,
    ("POST", "/recalls"): {"code": "MX-1", "title": "Matrix", "issued_on": "2026-01-01", "vins": ["WMXZZZ00000000001"]},
    ("POST", "/alerts/{alert_id}/acknowledge"): BY,
    ("POST", "/alerts/{alert_id}/resolve"): {**BY, "resolution": "booked"},
    ("POST", "/alerts/{alert_id}/assign"): {"to": "matrix"},
    ("POST", "/alerts/{alert_id}/notes"): {"author": "matrix", "text": "matrix"},
    ("POST", "/incidents/{incident_id}/acknowledge"): BY,
    ("POST", "/incidents/{incident_id}/assign"): {"to": "matrix"},
    ("POST", "/incidents/{incident_id}/resolve"): {**BY, "outcome": "no_fault_found"},
    ("POST", "/webhooks"): {"url": "http://127.0.0.1:9/hook", "event_types": ["alert"]},
    ("POST", "/segments"): {"name": "Matrix", "filter": {"models": ["Matrix"]}},
    ("POST", "/campaigns/dry-run"): {"segment_id": 999_999_999, "feature_code": "heated_seats"},
    ("POST", "/campaigns"): {"name": "Matrix", "segment_id": 999_999_999, "feature_code": "heated_seats"},
}
MISSING = {
    "dealer_id": "999999999", "customer_id": "999999999", "merge_id": "999999999", "household_id": "999999999",
    "member_id": "999999999", "vin": "WMXZZZ99999999999", "alert_id": "999999999", "entitlement_id": "999999999",
    "incident_id": "999999999",
    "offer_id": "999999999", "endpoint_id": "999999999",
}  # fmt: skip
# not any dealer's: the OEM's segments and campaigns span dealers
SHARED = {"path": "Vehicle.Speed", "event_id": str(uuid.uuid4()), "segment_id": "999999999",
          "campaign_id": "999999999", "action": "pause"}  # fmt: skip


def fill(path: str, values: dict[str, str], shared: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "code":
            return shared["recall_code"] if path.startswith("/recalls") else shared["feature_code"]
        return values.get(name) or shared[name]

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_operation_as_every_role_and_against_the_other_dealer(settings: Settings) -> None:
    app = create_app(settings)
    spec = app.openapi()
    operations = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
    assert sorted(set(operations) - set(ROLES)) == [], "a new route needs its rule in ROLES (and BODIES)"
    assert sorted(set(ROLES) - set(operations)) == [], "a rule for a route that is gone"

    async def matrix() -> list[str]:
        problems: list[str] = []
        async with in_process(app) as http:
            a, b, shared = await two_dealers(http, settings)
            shared.update(SHARED)
            keys = {
                "admin": make_key(settings), "oem": make_key(settings, "oem"),
                "vehicle-readonly": make_key(settings, "vehicle-readonly"),
                "advisor A": make_key(settings, "advisor", int(a.ids["dealer_id"])),
                "advisor B": make_key(settings, "advisor", int(b.ids["dealer_id"])),
            }  # fmt: skip
            admin = {"Authorization": f"Bearer {keys['admin']}"}  # an OEM's segment spans both dealers:
            everyone = await http.post("/segments", json={"name": "everyone", "filter": {}}, headers=admin)
            shared["segment_id"] = str(everyone.json()["id"])

            async def call(method: str, path: str, who: str | None, values: dict[str, str]) -> httpx.Response:
                headers = {"Idempotency-Key": str(uuid.uuid4())}
                if who is not None:
                    headers["Authorization"] = f"Bearer {keys[who]}"
                url = fill(path, values, shared)
                body = BODIES.get((method, path))
                if path.endswith("/services/import"):
                    headers["Content-Type"] = "text/csv"
                    return await http.request(
                        method, url, content="vin,date,odometer_km,invoice_number\n", headers=headers
                    )
                return await http.request(method, url, json=body, headers=headers)

            for method, path in operations:
                allowed = ROLES[(method, path)]
                op = f"{method} {path}"
                if allowed != PUBLIC:
                    anonymous = await call(method, path, None, a.ids)
                    if anonymous.status_code != 401:
                        problems.append(f"{op} without a key: {anonymous.status_code}")
                if (method, path) in STREAMS or allowed == PUBLIC:
                    continue
                for role in ("admin", "oem", "vehicle-readonly", "advisor A"):
                    granted = role.split()[0] in allowed
                    if not granted:
                        denied = await call(method, path, role, a.ids)
                        if denied.status_code != 403:
                            problems.append(f"{op} as {role}: {denied.status_code}, not 403")
                    elif method == "GET":
                        own = await call(method, path, role, a.ids)
                        if own.status_code in (401, 403):
                            problems.append(f"{op} as {role} on its own records: {own.status_code}")
                        if role == "advisor A" and any(m in own.text for m in b.markers):
                            problems.append(f"{op} as advisor A shows dealer B's records")
                        if role in ("oem", "vehicle-readonly") and any(m in own.text for m in a.personal):
                            problems.append(f"{op} as {role} shows a customer's name or contact data")
                if "advisor" not in allowed or "{" not in path:
                    continue
                if not any(name in path for name in ("{" + k + "}" for k in MISSING)):
                    continue  # only shared records in the path (a recall, say)
                for me, mine, other in (("advisor A", a, b), ("advisor B", b, a)):
                    # all of the other dealer's ids, then each one alone among the caller's own
                    params = [p for p in re.findall(r"\{(\w+)\}", path) if p in MISSING]
                    variants = [(other.ids, MISSING)] + [
                        ({**mine.ids, p: other.ids[p]}, {**mine.ids, p: MISSING[p]}) for p in params if len(params) > 1
                    ]
                    for theirs_ids, missing_ids in variants:
                        theirs = await call(method, path, me, theirs_ids)
                        missing = await call(method, path, me, missing_ids)
                        expected = (404,) if method == "GET" else (403, 404)
                        where = fill(path, theirs_ids, shared)
                        if theirs.status_code not in expected:
                            problems.append(f"{method} {where} as {me}: {theirs.status_code}")
                        ids = [*other.ids.values(), *MISSING.values()]
                        if normalized(theirs, ids) != normalized(missing, ids):
                            problems.append(f"{method} {where} as {me}: {theirs.text!r} differs from {missing.text!r}")
        return problems

    assert asyncio.run(matrix()) == []


CONSOLE_IDS = {"vin", "customer_id", "incident_id"}  # path parameters of console pages, each a dealer's record


def test_every_console_page_as_one_dealer_against_the_other(settings: Settings) -> None:
    """The console's pages are not in the OpenAPI document: the same guarantees, read off its router."""
    app = create_app(settings)
    pages = [(sorted(r.methods)[0], r.path) for r in console_pages.router.routes if isinstance(r, APIRoute)]
    assert ("GET", "/console/vehicles/{vin}") in pages
    unknown = {p for _, path in pages for p in re.findall(r"\{(\w+)\}", path)} - CONSOLE_IDS
    assert unknown == set(), "a console page with a new kind of id needs it in CONSOLE_IDS"

    async def matrix() -> list[str]:
        problems: list[str] = []
        async with in_process(app) as http:
            a, b, _ = await two_dealers(http, settings)
            key = make_key(settings, "advisor", int(a.ids["dealer_id"]))
            assert (await http.post("/console/login", data={"key": key, "name": "Anna"})).status_code == 303
            for method, path in pages:
                if method != "GET" or path == "/console/login":
                    continue
                if "{" not in path:
                    own = await http.get(path)
                    if own.status_code >= 500 or any(m in own.text for m in b.markers):
                        problems.append(f"{path} as advisor A: {own.status_code}, or dealer B's records on it")
                    continue
                theirs = await http.get(fill(path, b.ids, {}))
                missing = await http.get(fill(path, MISSING, {}))
                ids = [*b.ids.values(), *MISSING.values()]
                if theirs.status_code != 404 or normalized(theirs, ids) != normalized(missing, ids):
                    problems.append(
                        f"{path} as advisor A on dealer B's record: {theirs.status_code}, unlike a missing one"
                    )
        return problems

    assert asyncio.run(matrix()) == []
