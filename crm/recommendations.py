""" "Who to call today": a dealer's vehicles that a visit would help, each with its reasons, the
purpose of the call, and the contact-pressure verdicts (`telemetry/contact_pressure.py`).

Reasons: open incidents, one per problem however many alerts it raised (critical: safety;
others, the maintenance plan's included: service), open
recalls (safety), a warranty ending soon (marketing: an extended warranty), and usage-based
offers of a software option the vehicle may have a trial of (marketing). One
recommendation per vehicle, its purpose the strongest of its reasons. Ranked safety first, then
service, then marketing; within each, the earliest due first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from crm import alert_queue, entitlements, features, households, recalls
from crm.contact_pressure import PURPOSES, Facts, Policy, allowed, evaluate
from telemetry.storage import offers
from telemetry.storage.db import Conn, Row
from telemetry.storage.typed_rows import fetch_all, select_list
from telemetry.vocabulary import WORKING_STATES, Severity


@dataclass(frozen=True, slots=True)
class Candidate:
    """A dealer's vehicle with a customer to call, and what the reasons read of it."""

    id: int
    vin: str
    model: str
    software_version: str | None
    hardware: list[str]
    warranty_end: date | None
    customer_id: int
    customer_name: str


_CANDIDATES = (
    f"SELECT {select_list(Candidate, 'v', customer_id='c.id', customer_name='c.name')}"
    " FROM vehicles v JOIN customers c ON c.id = v.owner_customer_id"
    " WHERE v.dealer_id = %s AND c.erased_at IS NULL ORDER BY v.id"
)


async def for_dealer(conn: Conn, *, dealer_id: int, today: date, policy: Policy, warranty_offer_days: int) -> list[Row]:
    vehicles = {v.id: v for v in await fetch_all(conn, Candidate, _CANDIDATES, (dealer_id,))}
    reasons = await _reasons(conn, dealer_id, vehicles, today, warranty_offer_days)
    facts = await _facts(conn, {vid: vehicles[vid] for vid in reasons}, today, policy)
    out = []
    for vid, found in reasons.items():
        v = vehicles[vid]
        purpose = min((r["purpose"] for r in found), key=PURPOSES.index)
        verdicts = evaluate(purpose, facts[vid], policy)
        due = min((r["due_at"] for r in found if r["due_at"] is not None), default=None)
        out.append({
            "vin": v.vin, "model": v.model, "customer_id": v.customer_id,
            "customer_name": v.customer_name, "purpose": purpose, "due_at": due,
            "reasons": sorted(found, key=lambda r: PURPOSES.index(r["purpose"])),
            "allowed": allowed(verdicts),
            "rules": [{"rule": x.rule, "passed": x.passed, "explanation": x.explanation} for x in verdicts],
        })  # fmt: skip
    far = datetime.max.replace(tzinfo=UTC)
    out.sort(key=lambda r: (PURPOSES.index(r["purpose"]), r["due_at"] or far, r["vin"]))
    return out


async def _reasons(
    conn: Conn, dealer_id: int, vehicles: dict[int, Candidate], today: date, warranty_offer_days: int
) -> dict[int, list[Row]]:
    by_vin = {v.vin: vid for vid, v in vehicles.items()}
    found: dict[int, list[Row]] = defaultdict(list)
    queue = await alert_queue.incident_queue(
        conn, alert_queue.QueueView(dealer_id, list(WORKING_STATES), sort="due", limit=10_000)
    )
    for i in queue:  # one reason per problem, however many alerts it raised
        vid = by_vin.get(i.vin)
        if vid is not None:
            alerts = "" if i.alert_count == 1 else f", {i.alert_count} alerts"
            found[vid].append({
                "kind": "alert", "purpose": "safety" if i.severity == Severity.CRITICAL else "service",
                "summary": f"{i.severity} alert: {i.title} ({i.state}{alerts})",
                "due_at": i.due_at, "alert_id": i.cause_alert_id, "incident_id": i.id, "offer_id": None,
            })  # fmt: skip
    for vid, open_recalls in (await recalls.open_for(conn, vehicle_ids=list(vehicles))).items():
        for r in open_recalls:
            found[vid].append({
                "kind": "recall", "purpose": "safety", "summary": f"open recall {r.code}: {r.title}",
                "due_at": _start_of(r.issued_on), "alert_id": None, "offer_id": None,
            })  # fmt: skip
    horizon = today + timedelta(days=warranty_offer_days)
    for vid, v in vehicles.items():
        end = v.warranty_end
        if end is not None and today <= end <= horizon:
            found[vid].append({
                "kind": "warranty", "purpose": "marketing",
                "summary": f"warranty ends on {end}: offer an extended warranty",
                "due_at": _start_of(end), "alert_id": None, "offer_id": None,
            })  # fmt: skip
    for vid, offer in await _trial_offers(conn, vehicles, by_vin):
        found[vid].append({
            "kind": "offer", "purpose": "marketing",
            "summary": f"offer a {offer.feature_code} trial: {offer.reason}",
            "due_at": offer.first_seen, "alert_id": None, "offer_id": offer.id,
        })  # fmt: skip
    return dict(found)


async def _trial_offers(
    conn: Conn, vehicles: dict[int, Candidate], by_vin: dict[str, int]
) -> list[tuple[int, offers.Offer]]:
    """Open usage offers whose option is in the catalog and which the vehicle may have a trial of."""
    open_offers = await offers.of_vehicles(conn, vehicle_ids=list(vehicles), states=["open"])
    catalog = {f.code: f for f in await entitlements.list_features(conn)}
    out = []
    for offer in open_offers:
        vid = by_vin[offer.vin]
        feature = catalog.get(offer.feature_code)
        if feature is None:
            continue
        live, trials_had = await entitlements.vehicle_history(conn, vehicle_id=vid)
        if features.ineligibility(feature, vehicles[vid], kind="trial", live=live, trials_had=trials_had) is None:
            out.append((vid, offer))
    return out


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


async def _facts(conn: Conn, vehicles: dict[int, Candidate], today: date, policy: Policy) -> dict[int, Facts]:
    vids = list(vehicles)
    customers = sorted({v.customer_id for v in vehicles.values()})
    cur = await conn.execute(
        "SELECT customer_id, purpose FROM current_consents WHERE customer_id = ANY(%s) AND granted", (customers,)
    )
    consents: dict[int, set[str]] = defaultdict(set)
    for r in await cur.fetchall():
        consents[r["customer_id"]].add(r["purpose"])
    cur = await conn.execute(
        "SELECT vehicle_id, max(performed_at) AS last FROM service_events WHERE vehicle_id = ANY(%s) GROUP BY 1",
        (vids,),
    )
    last_service = {r["vehicle_id"]: r["last"].date() for r in await cur.fetchall()}
    mates = await households.housemates(conn, customer_ids=customers)
    everyone = sorted({m for ms in mates.values() for m in ms})
    since = _start_of(today - timedelta(days=policy.marketing_window_days))
    cur = await conn.execute(
        "SELECT customer_id, contacted_at FROM contacts WHERE purpose = 'marketing' AND customer_id = ANY(%s)"
        " AND contacted_at >= %s",
        (everyone, since),
    )
    marketing: dict[int, list[date]] = defaultdict(list)
    for r in await cur.fetchall():
        marketing[r["customer_id"]].append(r["contacted_at"].date())
    cur = await conn.execute(
        "SELECT customer_id, vehicle_id, max(contacted_at) AS last FROM contacts"
        " WHERE customer_id = ANY(%s) AND vehicle_id = ANY(%s) GROUP BY 1, 2",
        (customers, vids),
    )
    last_contact = {(r["customer_id"], r["vehicle_id"]): r["last"].date() for r in await cur.fetchall()}
    facts = {}
    for vid, v in vehicles.items():
        cid = v.customer_id
        facts[vid] = Facts(
            today=today,
            consents=frozenset(consents[cid]),
            last_service_on=last_service.get(vid),
            household_marketing_on=tuple(d for m in mates[cid] for d in marketing[m]),
            last_contact_on=last_contact.get((cid, vid)),
        )
    return facts
