"""Contact data as one record per real customer needs it: e-mail addresses and phone numbers in
one normal form (so equal means equal), and names reduced for fuzzy comparison.

E-mail: `email-validator` checks the syntax and normalises the domain (IDNA, lower case); the
local part is lower-cased too, as every mainstream provider treats it. Phone: `phonenumbers`
(Google's libphonenumber) parses national and international forms into E.164.
"""

from __future__ import annotations

import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from telemetry.errors import InvalidRequestError


def normalize_email(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequestError(f"email {text!r}: {exc}") from exc
    return checked.normalized.lower()


def normalize_phone(text: str | None, default_region: str) -> str | None:
    """E.164 (`+4989123456`); a number without a country code is read as one of `default_region`."""
    if text is None or not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRequestError(f"phone {text!r}: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidRequestError(f"phone {text!r} is not a valid number (read in region {default_region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def name_key(name: str) -> str:
    """Lower case, accents off, punctuation to spaces: 'Müller-Lüdenscheidt, Anna' -> 'muller
    ludenscheidt anna' (word order is left to the comparison)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


def postcode_key(postcode: str | None) -> str | None:
    return "".join(postcode.upper().split()) if postcode and postcode.strip() else None
