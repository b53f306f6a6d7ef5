"""The option business, per option and month: trials started and converted to paid, paid
activations, renewals, cancellations, expiries, and the usage-based offers' funnel (offer ->
trial -> paid). One aggregate query; months are UTC calendar months.

A trial converts when the same vehicle gets a purchase or subscription of the same option after
the trial started; it counts in the trial's month. An offer's trial is the entitlement the offer
was accepted into; its conversion is that trial's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from telemetry.storage.db import Conn

METRICS = ("trials_started", "trials_converted", "paid_activations", "renewals", "cancellations", "expiries",
           "offers", "offers_to_trial", "offers_to_paid")  # fmt: skip

FUNNEL = """
WITH span AS (SELECT date_trunc('month', %(now)s::timestamptz AT TIME ZONE 'UTC')
                     - (%(months)s - 1) * interval '1 month' AS first),
paid AS (SELECT vehicle_id, feature_code, starts_at FROM entitlements
         WHERE kind IN ('purchase', 'subscription') AND state <> 'failed'),
last_paid AS (SELECT vehicle_id, feature_code, max(starts_at) AS at FROM paid GROUP BY 1, 2),
trials AS (SELECT e.id, e.feature_code, e.starts_at, COALESCE(lp.at >= e.starts_at, false) AS converted
           FROM entitlements e LEFT JOIN last_paid lp USING (vehicle_id, feature_code) WHERE e.kind = 'trial'),
facts AS (
    SELECT feature_code, starts_at AS at, 'trials_started' AS metric FROM trials
    UNION ALL SELECT feature_code, starts_at, 'trials_converted' FROM trials WHERE converted
    UNION ALL SELECT feature_code, starts_at, 'paid_activations' FROM paid
    UNION ALL SELECT e.feature_code, ev.at, CASE ev.event WHEN 'renewed' THEN 'renewals'
                     WHEN 'disabled' THEN 'cancellations' ELSE 'expiries' END
              FROM entitlement_events ev JOIN entitlements e ON e.id = ev.entitlement_id
              WHERE ev.event IN ('renewed', 'disabled', 'expired')
    UNION ALL SELECT feature_code, first_seen, 'offers' FROM offers
    UNION ALL SELECT o.feature_code, o.first_seen, 'offers_to_trial' FROM offers o WHERE o.entitlement_id IS NOT NULL
    UNION ALL SELECT o.feature_code, o.first_seen, 'offers_to_paid'
              FROM offers o JOIN trials t ON t.id = o.entitlement_id WHERE t.converted
)
SELECT feature_code, date_trunc('month', at AT TIME ZONE 'UTC') AS month, metric, count(*) AS n
FROM facts, span WHERE at AT TIME ZONE 'UTC' >= span.first GROUP BY 1, 2, 3 ORDER BY 1, 2
"""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def monthly(conn: Conn, *, months: int, now: datetime) -> list[dict[str, object]]:
    """Per option and month (the last `months`, this one included): the counts and rates."""
    cur = await conn.execute(FUNNEL, {"now": now, "months": months})
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for r in await cur.fetchall():
        table[(str(r["feature_code"]), r["month"].strftime("%Y-%m"))][str(r["metric"])] = int(r["n"])
    return [
        {
            "feature_code": code,
            "month": month,
            **counts,
            "trial_conversion": _rate(counts["trials_converted"], counts["trials_started"]),
            "offer_to_trial": _rate(counts["offers_to_trial"], counts["offers"]),
            "offer_trial_to_paid": _rate(counts["offers_to_paid"], counts["offers_to_trial"]),
        }
        for (code, month), counts in sorted(table.items())
    ]
