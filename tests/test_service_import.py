"""Reading DMS exports: the formats dealers' systems write, and files that are not CSV at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.service_import import ImportFormatError, LineError, ServiceLine, parse


def test_old_mac_line_endings_tabs_and_english_numbers_are_read() -> None:
    text = "vin\tdate\tmileage\tinvoice\tamount\r1HGCM82633A004352\t2026-01-05\t1,234,567\tA-1\t1,020.50\r"
    (line,) = parse(text)
    assert isinstance(line, ServiceLine)
    assert (line.odometer_km, line.amount) == (1_234_567.0, Decimal("1020.50"))


def test_german_numbers_and_dates() -> None:
    text = "FIN;Datum;KM-Stand;Rechnungsnummer;Betrag\nWVWZZZ1JZXW000001;03.11.2026;12.345;R-1;89,90\n"
    (line,) = parse(text)
    assert isinstance(line, ServiceLine)
    assert (line.performed_at.day, line.odometer_km, line.amount) == (3, 12_345.0, Decimal("89.90"))


def test_a_bad_value_fails_its_line_with_the_field_named() -> None:
    text = "vin,date,km,invoice,amount\nWVWZZZ1JZXW000001,2026-01-01,lots,R-1,\nWVWZZZ1JZXW000001,2026-01-01,5,R-2,-3\n"
    assert parse(text) == [
        LineError(2, "odometer_km 'lots' is not a number"),
        LineError(3, "amount '-3' is negative (credit notes are not service visits)"),
    ]


@pytest.mark.parametrize("text", ["", "\x00\x01binary", 'vin,date\n"never closed', "just,a,header\n"])
def test_what_is_not_a_service_export_is_refused_as_a_whole(text: str) -> None:
    with pytest.raises(ImportFormatError):
        parse(text)
