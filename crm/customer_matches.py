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

from collections.abc import Mapping
from typing import Any, cast

from rapidfuzz import fuzz

from crm.contact_data import name_key, postcode_key
from telemetry.storage.db import Conn

NAME_SIMILARITY = 90.0
MAX_CANDIDATES = 500
MAX_PAIRS_SCANNED = 100_000


def likeness(a: Mapping[str, object], b: Mapping[str, object]) -> tuple[list[str], float]:
    """Why two customer records (name, email, phone, postcode; contact data normalised) are
    probably one person, and how sure that is (0: no reason at all)."""
    reasons, score = [], 0.0
    if a["email"] is not None and a["email"] == b["email"]:
        reasons.append("same e-mail")
        score = 1.0
    if a["phone"] is not None and a["phone"] == b["phone"]:
        reasons.append("same phone")
        score = max(score, 0.95)
    code = postcode_key(cast(str | None, a["postcode"]))
    if code is not None and postcode_key(cast(str | None, b["postcode"])) == code:
        similarity = fuzz.token_sort_ratio(name_key(str(a["name"])), name_key(str(b["name"])))
        if similarity >= NAME_SIMILARITY:
            reasons.append(f"similar name at the same postcode ({similarity:.0f} %)")
            score = max(score, similarity / 100)
    return reasons, round(score, 3)


# customers still in their own right: not merged into another record, not erased
_LIVE = "merged_into IS NULL AND erased_at IS NULL"


async def probable_duplicates(
    conn: Conn, *, name: str, email: str | None, phone: str | None, postcode: str | None
) -> list[dict[str, object]]:
    """Existing customers that are probably this person, best first, each with its reasons."""
    wanted = {"name": name, "email": email, "phone": phone, "postcode": postcode}
    cur = await conn.execute(
        "SELECT id, name, email, phone, postcode, dealer_id FROM customers"
        f" WHERE {_LIVE} AND (email = %s OR phone = %s OR upper(replace(postcode, ' ', '')) = %s)"
        " ORDER BY id LIMIT %s",
        (email, phone, postcode_key(postcode), MAX_CANDIDATES),
    )
    found = []
    for row in await cur.fetchall():
        reasons, score = likeness(wanted, row)
        if reasons:
            found.append({"customer_id": row["id"], "name": row["name"], "dealer_id": row["dealer_id"],
                          "reasons": reasons, "score": score})  # fmt: skip
    return sorted(found, key=lambda c: -float(c["score"]))


async def duplicate_pairs(
    conn: Conn, *, dealer_id: int | None, min_score: float, limit: int
) -> list[dict[str, object]]:
    """Merge proposals: pairs of live customers that are probably one person, best first. With
    `dealer_id`, pairs where at least one record is that dealer's. Pairs are found through the
    indexed e-mail, phone and postcode, then scored by `likeness`."""
    cur = await conn.execute(
        "SELECT a.id AS a_id, a.name AS a_name, a.email AS a_email, a.phone AS a_phone, a.postcode AS a_postcode,"
        " a.dealer_id AS a_dealer_id, b.id AS b_id, b.name AS b_name, b.email AS b_email, b.phone AS b_phone,"
        " b.postcode AS b_postcode, b.dealer_id AS b_dealer_id"
        " FROM customers a JOIN customers b ON a.id < b.id AND (a.email = b.email OR a.phone = b.phone"
        "   OR upper(replace(a.postcode, ' ', '')) = upper(replace(b.postcode, ' ', '')))"
        " WHERE a.merged_into IS NULL AND a.erased_at IS NULL AND b.merged_into IS NULL AND b.erased_at IS NULL"
        "   AND (%(dealer)s::bigint IS NULL OR a.dealer_id = %(dealer)s OR b.dealer_id = %(dealer)s)"
        " ORDER BY a.id, b.id LIMIT %(scan)s",
        {"dealer": dealer_id, "scan": MAX_PAIRS_SCANNED},
    )
    pairs = []
    for row in await cur.fetchall():
        a = {k[2:]: v for k, v in row.items() if k.startswith("a_")}
        b = {k[2:]: v for k, v in row.items() if k.startswith("b_")}
        reasons, score = likeness(a, b)
        if reasons and score >= min_score:
            pairs.append({"customers": [a, b], "reasons": reasons, "score": score})
    pairs.sort(key=lambda p: (-cast(float, p["score"]), cast(list[dict[str, Any]], p["customers"])[0]["id"]))
    return pairs[:limit]
