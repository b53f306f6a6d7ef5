"""Rows cross the storage boundary typed: an alert read back is an `Alert` whose words are the
vocabulary's enums, and the API's alert schema is that class, field for field."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from api.schemas.alerts import AlertOut, NoteOut, QueuedAlertOut
from api.schemas.campaigns import SegmentVehicleOut
from api.schemas.customers import (
    ConsentOut,
    ContactOut,
    CustomerOut,
    HouseholdOut,
    MemberOut,
    MergeOut,
    SourceRecord,
)
from api.schemas.dealers import BranchOut, DealerOut
from api.schemas.features import EntitlementEventOut, EntitlementOut, FeatureOut, OfferOut, VehicleCommandOut
from api.schemas.incidents import EvidenceOut, IncidentOut, QueuedIncidentOut
from api.schemas.operations import DeliveryOut, WebhookOut
from api.schemas.vehicles import RecallOut, RecallStatus, ServiceOut, VehicleOut
from commands.vehicle_commands import Command
from crm.alert_queue import Note, QueuedAlert, QueuedIncident
from crm.consents import Consent
from crm.contacts import Contact
from crm.customer_merges import Merge, Source
from crm.entitlements import Entitlement, Event
from crm.features import Feature
from crm.households import Household, Member
from crm.recalls import Recall, RecallProgress
from crm.records import Branch, Customer, Dealer, Vehicle
from crm.services import Service
from oem.segments import SegmentVehicle
from telemetry.settings import Settings
from telemetry.storage import alerts, incidents, offers
from telemetry.storage.db import connect
from telemetry.vocabulary import AlertResolution, AlertState, Severity
from tests.fix_services import add_vehicle, api_client
from webhooks.outbox import DeliveryRecord, EndpointBacklog


def test_an_alert_reads_back_typed_through_its_life(settings: Settings) -> None:
    async def scenario() -> list[alerts.Alert]:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, "TYPDAAAAAAAAAAAA1")
            at = datetime.now(UTC)
            firing = alerts.Firing(vid, "coolant_overtemp", 1, "critical", "Hot", "hot", at, at, 121.5, {}, "threshold")
            alert_id = await alerts.fire(conn, firing, reopen_within=timedelta(0))
            opened = await alerts.get(conn, alert_id=alert_id)
            acknowledged = await alerts.acknowledge(conn, alert_id=alert_id, by="anna", note="calling")
            resolved = await alerts.resolve(conn, alert_id=alert_id, by="anna", resolution="booked", note=None)
            listed = await alerts.for_vehicles(conn, vehicle_ids=[vid])
            return [opened, acknowledged, resolved, *listed]

    opened, acknowledged, resolved, listed = asyncio.run(scenario())
    assert isinstance(opened, alerts.Alert)
    assert (opened.vin, opened.severity, opened.state, opened.peak_value) == (
        "TYPDAAAAAAAAAAAA1", Severity.CRITICAL, AlertState.OPEN, 121.5,
    )  # fmt: skip
    assert type(opened.severity) is Severity
    assert (acknowledged.state, acknowledged.acknowledged_by, acknowledged.note) == (
        AlertState.ACKNOWLEDGED, "anna", "calling",
    )  # fmt: skip
    assert type(resolved.resolution) is AlertResolution
    assert (resolved.state, resolved.resolution) == (AlertState.RESOLVED, AlertResolution.BOOKED)
    assert listed == resolved


def test_the_api_alert_schema_is_the_stored_alert_field_for_field() -> None:
    stored = [f.name for f in dataclasses.fields(alerts.Alert)]
    assert list(AlertOut.model_fields) == stored
    required = [f.name for f in dataclasses.fields(alerts.Alert) if f.default is dataclasses.MISSING]
    assert [name for name, field in AlertOut.model_fields.items() if field.is_required()] == required


@pytest.mark.parametrize(
    ("schema", "row", "kept_back"),
    [
        (DealerOut, Dealer, set()),
        (BranchOut, Branch, set()),
        (CustomerOut, Customer, set()),
        (VehicleOut, Vehicle, set()),
        (ConsentOut, Consent, set()),
        (SourceRecord, Source, set()),
        (MergeOut, Merge, set()),
        (ContactOut, Contact, set()),
        (HouseholdOut, Household, set()),
        (MemberOut, Member, set()),
        (RecallOut, Recall, set()),
        (RecallStatus, RecallProgress, set()),
        (OfferOut, offers.Offer, set()),
        (FeatureOut, Feature, set()),
        (EntitlementOut, Entitlement, set()),
        (EntitlementEventOut, Event, set()),
        (VehicleCommandOut, Command, set()),
        (ServiceOut, Service, set()),
        (EvidenceOut, incidents.Evidence, set()),
        (IncidentOut, incidents.Incident, {"vehicle_id", "dealer_id"}),
        (QueuedIncidentOut, QueuedIncident, {"vehicle_id", "dealer_id"}),
        (QueuedAlertOut, QueuedAlert, set()),
        (NoteOut, Note, set()),
        (WebhookOut, EndpointBacklog, set()),
        (DeliveryOut, DeliveryRecord, set()),
        (SegmentVehicleOut, SegmentVehicle, {"id"}),
    ],
)
def test_each_response_schema_shows_its_stored_row(schema: type[BaseModel], row: type, kept_back: set[str]) -> None:
    """A column added to a row shows in the API without a second declaration; only what the
    server keeps for itself (internal ids, the dealer that decides who sees it) stays back."""
    assert list(schema.model_fields) == [f.name for f in dataclasses.fields(row) if f.name not in kept_back]


def test_an_incident_shows_evidence_stored_before_alerts_had_a_kind(settings: Settings) -> None:
    """Alerts written before migration 11 have no rule kind: the incident still reads, with null."""

    async def scenario() -> tuple[int, dict[str, object]]:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, "TYPDAAAAAAAAAAAA2")
            at = datetime.now(UTC)
            firing = alerts.Firing(vid, "coolant_overtemp", 1, "critical", "Hot", "hot", at, at, 121.5, {}, "threshold")
            alert_id = await alerts.fire(conn, firing, reopen_within=timedelta(0))
            incident_id = await incidents.attach(conn, alert_id=alert_id, reopen_within=timedelta(0))
            await conn.execute("UPDATE alerts SET rule_kind = NULL WHERE id = %s", (alert_id,))
            await conn.commit()
        async with api_client(settings) as api:
            response = await api.get(f"/incidents/{incident_id}")
        return response.status_code, response.json()

    status, incident = asyncio.run(scenario())
    assert status == 200
    assert [(a["rule_id"], a["rule_kind"]) for a in incident["alerts"]] == [("coolant_overtemp", None)]  # type: ignore[index,union-attr]
