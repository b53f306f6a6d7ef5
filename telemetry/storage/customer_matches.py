"""Probable duplicates of a customer, across dealers: the same person reaches several dealers
through web forms, the showroom and the service desk.

- The same normalised e-mail address: the same person (score 1.0).
- The same E.164 phone number: almost surely (0.95); households share landlines, hence not 1.0.
- A similar name at the same postcode: rapidfuzz's token-sort ratio of the reduced names
  (`contacts.name_key`) at least NAME_SIMILARITY. 90 accepts a one-letter typo in a 10-letter
  name and either word order ('Schmidt, Anna' / 'Anna Schmidt'), and refuses 'Anna Schmidt' /
  'Hanna Schmitt' (88); requiring the same postcode keeps common names from matching across a
  country. The score is the ratio / 100.
"""

from __future__ import annotations

import psycopg
from rapidfuzz import fuzz

from telemetry.contacts import name_key, postcode_key

NAME_SIMILARITY = 90.0
MAX_CANDIDATES = 500


async def probable_duplicates(
    conn: psycopg.AsyncConnection, *, name: str, email: str | None, phone: str | None, postcode: str | None
) -> list[dict[str, object]]:
    """Existing customers that are probably this person, best first, each with its reasons."""
    code = postcode_key(postcode)
    cur = await conn.execute(
        "SELECT id, name, email, phone, postcode, dealer_id FROM customers"
        " WHERE email = %s OR phone = %s OR upper(replace(postcode, ' ', '')) = %s ORDER BY id LIMIT %s",
        (email, phone, code, MAX_CANDIDATES),
    )
    wanted = name_key(name)
    found = []
    for row in await cur.fetchall():
        reasons, score = [], 0.0
        if email is not None and row["email"] == email:
            reasons.append("same e-mail")
            score = 1.0
        if phone is not None and row["phone"] == phone:
            reasons.append("same phone")
            score = max(score, 0.95)
        if code is not None and postcode_key(row["postcode"]) == code:
            similarity = fuzz.token_sort_ratio(wanted, name_key(str(row["name"])))
            if similarity >= NAME_SIMILARITY:
                reasons.append(f"similar name at the same postcode ({similarity:.0f} %)")
                score = max(score, similarity / 100)
        if reasons:
            found.append({"customer_id": row["id"], "name": row["name"], "dealer_id": row["dealer_id"],
                          "reasons": reasons, "score": round(score, 3)})  # fmt: skip
    return sorted(found, key=lambda c: -float(c["score"]))  # type: ignore[arg-type]
