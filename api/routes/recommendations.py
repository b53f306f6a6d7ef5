""" "Who to call today" for a dealer's advisors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import SeenDealer
from api.deps import ConnDep, SettingsDep
from api.schemas.common import RECORD_ERRORS, Day
from api.schemas.customers import RecommendationOut
from crm import recommendations
from crm.contact_pressure import Policy
from telemetry.settings import Settings

router = APIRouter(prefix="/dealers", tags=["dealers"])


def policy(settings: Settings) -> Policy:
    return Policy(
        marketing_max=settings.contact_marketing_max,
        marketing_window_days=settings.contact_marketing_window_days,
        quiet_after_service_days=settings.contact_quiet_after_service_days,
        repeat_after_days=settings.contact_repeat_after_days,
    )


@router.get(
    "/{dealer_id}/recommendations",
    response_model=list[RecommendationOut],
    responses=RECORD_ERRORS,
    summary="Who to call today: vehicles whose alerts, recalls or warranty make a contact useful, ranked, "
    "with the reasons and the contact-pressure rules that allow or hold back each",
)
async def who_to_call(
    dealer: SeenDealer,
    conn: ConnDep,
    settings: SettingsDep,
    on: Annotated[Day | None, Query(description="The day to plan (default: today, UTC); 1950 .. 2100")] = None,
    include_blocked: Annotated[bool, Query(description="Also those contact pressure holds back")] = False,
) -> list[dict[str, object]]:
    found = await recommendations.for_dealer(
        conn,
        dealer_id=dealer.id,
        today=on or datetime.now(UTC).date(),
        policy=policy(settings),
        warranty_offer_days=settings.warranty_offer_days,
    )
    return found if include_blocked else [r for r in found if r["allowed"]]
