"""Every dead-letter reason, with its exact text, and what is kept beside it."""

from __future__ import annotations

import orjson
import pytest

from ingest.codec import BatchBuilder, Envelope, Limits, parse_envelope
from telemetry.catalog import default_catalog
from telemetry.reasons import Reason, Rejection

VIN = "1HGCM82633A004352"
NOW = 1_763_800_000_000
LIMITS = Limits(max_payload_bytes=4096, max_future_skew_ms=300_000, retention_ms=365 * 86_400_000)


def decode(doc: object, *, raw: bytes | None = None, major: int = 6, topic_vin: str = VIN):
    """(values by signal path, rejections) of one message."""
    payload = raw if raw is not None else orjson.dumps(doc)
    env = parse_envelope(topic_vin, payload, LIMITS)
    if isinstance(env, Rejection):
        return {}, [env]
    builder = BatchBuilder(default_catalog(), LIMITS, NOW)
    builder.add(0, env, default_major=major)
    batch = builder.finish()
    catalog = default_catalog()
    values = {catalog.signals[s].path: v for s, v in zip(batch.signal, batch.value, strict=True)}
    for codes in batch.dtc_codes:
        values["Vehicle.Diagnostics.DTCList"] = list(codes)
    return values, builder.rejections.get(0, [])


def one(signals: dict, ts: object = NOW) -> dict:
    return {"vin": VIN, "seq": 1, "samples": [{"ts": ts, "signals": signals}]}


def test_full_and_shorthand_forms_are_accepted() -> None:
    values, rejected = decode(one({"Vehicle.Speed": 52.3, "Vehicle.Diagnostics.DTCList": ["p0217"]}))
    assert values == {"Vehicle.Speed": 52.3, "Vehicle.Diagnostics.DTCList": ["P0217"]}
    assert rejected == []
    values, rejected = decode({"vin": VIN, "ts": "2025-11-22T08:26:40Z", "signals": {"Vehicle.Speed": 10}})
    assert values == {"Vehicle.Speed": 10.0}
    assert rejected == []


def test_old_names_are_renamed_and_converted() -> None:
    values, rejected = decode(
        one({"Vehicle.Powertrain.CombustionEngine.ECT": 90, "Vehicle.TraveledDistance": 12345.6}), major=5
    )
    assert rejected == []
    assert values["Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"] == 90.0
    assert values["Vehicle.TraveledDistance"] == pytest.approx(12_345_600.0)


@pytest.mark.parametrize(
    ("doc", "raw", "reason", "detail"),
    [
        (
            None,
            b"{not json",
            Reason.MALFORMED_JSON,
            "malformed JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
        ),
        (None, b'{"vin": "\xff"}', Reason.NOT_UTF8, "payload is not UTF-8: invalid byte at offset 9"),
        (None, b"x" * 5000, Reason.PAYLOAD_TOO_LARGE, "payload is 5000 bytes, the limit is 4096"),
        (
            None,
            b"[" * 2000 + b"]" * 2000,
            Reason.MALFORMED_JSON,
            "malformed JSON: depth limit exceeded: line 1 column 1026 (char 1025)",
        ),
        ([1, 2], None, Reason.INVALID_PAYLOAD, "payload must be a JSON object, got array"),
        ({"vin": VIN}, None, Reason.INVALID_PAYLOAD, "payload needs 'samples' (a list) or 'ts' and 'signals'"),
        (
            {"vin": "WVWZZZ1JZXW000001", "ts": NOW, "signals": {}},
            None,
            Reason.VIN_MISMATCH,
            "payload VIN 'WVWZZZ1JZXW000001' differs from topic VIN '1HGCM82633A004352'",
        ),
        (
            {"vin": VIN, "seq": -1, "ts": NOW, "signals": {}},
            None,
            Reason.INVALID_PAYLOAD,
            "'seq' must be a non-negative integer, got -1",
        ),
        (
            {"vin": VIN, "software_version": "v2", "ts": NOW, "signals": {}},
            None,
            Reason.INVALID_PAYLOAD,
            "'software_version' must be dotted numbers such as '2.4.1', got 'v2'",
        ),
        (
            {"vin": VIN, "ts": NOW, "signals": {}},
            None,
            Reason.INVALID_PAYLOAD,
            "sample #0: 'signals' is empty: a sample carries a value",
        ),
        (
            {"vin": VIN, "samples": [{"ts": NOW, "signals": {"Vehicle.Speed": 1}}, {"ts": NOW, "signals": {}}]},
            None,
            Reason.INVALID_PAYLOAD,
            "sample #1: 'signals' is empty: a sample carries a value",
        ),
    ],
)
def test_message_level_reasons(doc: object, raw: bytes | None, reason: Reason, detail: str) -> None:
    values, rejected = decode(doc, raw=raw)
    assert values == {}
    assert [(r.reason, r.detail) for r in rejected] == [(reason, detail)]


def test_a_topic_vin_outside_the_vin_alphabet_is_rejected() -> None:
    _, rejected = decode(one({}), topic_vin="1HGCM82633A00435O")
    assert [(r.reason, r.detail) for r in rejected] == [
        (Reason.INVALID_VIN, "topic VIN '1HGCM82633A00435O' is not 17 characters of the VIN alphabet")
    ]


@pytest.mark.parametrize(
    ("signals", "reason", "detail"),
    [
        ({"Vehicle.Warp": 9}, Reason.UNKNOWN_SIGNAL, "unknown signal 'Vehicle.Warp'"),
        ({"Vehicle.Speed": "fast"}, Reason.WRONG_TYPE, "signal 'Vehicle.Speed' expects float, got string 'fast'"),
        (
            {"Vehicle.Powertrain.CombustionEngine.IsRunning": 1},
            Reason.WRONG_TYPE,
            "signal 'Vehicle.Powertrain.CombustionEngine.IsRunning' expects boolean, got number 1",
        ),
        (
            {"Vehicle.Speed": 512},
            Reason.OUT_OF_RANGE,
            "signal 'Vehicle.Speed' value 512 km/h is outside the valid range 0..400 km/h",
        ),
        (
            {"Vehicle.Diagnostics.DTCList": "P0217"},
            Reason.WRONG_TYPE,
            "signal 'Vehicle.Diagnostics.DTCList' expects a list of strings, got string",
        ),
        (
            {"Vehicle.Diagnostics.DTCList": ["X9999"]},
            Reason.INVALID_VALUE,
            "signal 'Vehicle.Diagnostics.DTCList': 'X9999' is not an OBD-II trouble code"
            " (letter P/C/B/U, then 4 hex digits)",
        ),
    ],
)
def test_value_level_reasons_keep_the_other_values(signals: dict, reason: Reason, detail: str) -> None:
    values, rejected = decode(one({**signals, "Vehicle.Exterior.AirTemperature": 21.5}))
    assert values == {"Vehicle.Exterior.AirTemperature": 21.5}
    assert [(r.reason, r.detail) for r in rejected] == [(reason, detail)]


def test_nan_and_infinity_are_not_finite() -> None:
    raw = (
        b'{"vin": "%s", "ts": %d, "signals": {"Vehicle.Speed": NaN, "Vehicle.Exterior.AirTemperature": 1e999,'
        b' "Vehicle.Powertrain.CombustionEngine.Speed": 900}}' % (VIN.encode(), NOW)
    )
    values, rejected = decode(None, raw=raw)
    assert values == {"Vehicle.Powertrain.CombustionEngine.Speed": 900.0}
    assert sorted((r.reason, r.detail) for r in rejected) == [
        (Reason.NOT_FINITE, "signal 'Vehicle.Exterior.AirTemperature' value inf is not a finite number"),
        (Reason.NOT_FINITE, "signal 'Vehicle.Speed' value nan is not a finite number"),
    ]


@pytest.mark.parametrize(
    ("ts", "reason", "detail"),
    [
        (
            NOW + 301_000,
            Reason.FUTURE_TIMESTAMP,
            "timestamp 2025-11-22T08:31:41.000Z is 301 s in the future (limit 300 s)",
        ),
        (
            NOW - 366 * 86_400_000,
            Reason.TOO_OLD,
            "timestamp 2024-11-21T08:26:40.000Z is older than the retention window of 365 days",
        ),
        (
            "yesterday",
            Reason.INVALID_TIMESTAMP,
            "timestamp 'yesterday' is neither integer epoch milliseconds nor RFC 3339 with an offset",
        ),
        (
            "2025-11-22T08:26:40",
            Reason.INVALID_TIMESTAMP,
            "timestamp '2025-11-22T08:26:40' is neither integer epoch milliseconds nor RFC 3339 with an offset",
        ),
    ],
)
def test_timestamp_reasons_reject_the_sample_not_the_message(ts: object, reason: Reason, detail: str) -> None:
    doc = {
        "vin": VIN,
        "samples": [{"ts": ts, "signals": {"Vehicle.Speed": 1}}, {"ts": NOW, "signals": {"Vehicle.Speed": 2}}],
    }
    values, rejected = decode(doc)
    assert values == {"Vehicle.Speed": 2.0}
    assert [(r.reason, r.detail) for r in rejected] == [(reason, detail)]


def test_envelope_keeps_seq_and_vss_version() -> None:
    env = parse_envelope(VIN, orjson.dumps({**one({"Vehicle.Speed": 1}), "vss": "4.2"}), LIMITS)
    assert isinstance(env, Envelope)
    assert env.seq == 1
    assert env.vss_major == 4
    assert env.software_version is None
    reported = parse_envelope(VIN, orjson.dumps({**one({"Vehicle.Speed": 1}), "software_version": "2.10.1"}), LIMITS)
    assert isinstance(reported, Envelope)
    assert reported.software_version == "2.10.1"


@pytest.mark.parametrize("code", ["P0217", "P0A80", "C1234", "B0001", "U0100"])
def test_trouble_codes_travel_to_the_rules_as_numbers_and_back(code: str) -> None:
    from telemetry import dtc

    assert dtc.decode(dtc.encode(code)) == code
