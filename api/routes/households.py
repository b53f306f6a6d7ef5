"""Households: customers living together, with roles over time (the unit of contact pressure)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from api.auth import CustomerUser, sees_dealer, visible_customer, writable_dealer
from api.deps import ConnDep
from api.schemas.common import RECORD_ERRORS, ErrorOut
from api.schemas.customers import EndMembershipIn, HouseholdIn, HouseholdOut, MemberIn, MemberOut
from crm import households
from crm.households import Household, Member
from telemetry.errors import NotFoundError
from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Conn

router = APIRouter(prefix="/households", tags=["households"])
_ERRORS: dict[int | str, dict[str, object]] = RECORD_ERRORS | {409: {"model": ErrorOut}}


async def _visible(conn: Conn, principal: Principal, household_id: int) -> households.Household:
    household = await households.get(conn, household_id=household_id)
    if not sees_dealer(principal, household.dealer_id):
        raise NotFoundError(f"household {household_id} not found")
    return household


async def _add(conn: Conn, principal: Principal, household_id: int, member: MemberIn) -> households.Member:
    await visible_customer(conn, principal, member.customer_id)
    return await households.add_member(
        conn,
        household_id=household_id,
        customer_id=member.customer_id,
        role=member.role,
        start_on=member.start_on or date.today(),
    )


@router.post("", response_model=HouseholdOut, status_code=201, responses=_ERRORS, summary="Create a household")
async def create_household(body: HouseholdIn, conn: ConnDep, principal: CustomerUser) -> Household:
    await writable_dealer(conn, principal, body.dealer_id)
    household_id = await households.create(conn, name=body.name, dealer_id=body.dealer_id)
    for member in body.members:
        await _add(conn, principal, household_id, member)
    return await households.get(conn, household_id=household_id)


@router.get("/{household_id}", response_model=HouseholdOut, responses=RECORD_ERRORS)
async def get_household(household_id: int, conn: ConnDep, principal: CustomerUser) -> Household:
    return await _visible(conn, principal, household_id)


@router.post(
    "/{household_id}/members",
    response_model=MemberOut,
    status_code=201,
    responses=_ERRORS,
    summary="Add a member (409 while the customer is a current member of another household)",
)
async def add_member(household_id: int, body: MemberIn, conn: ConnDep, principal: CustomerUser) -> Member:
    await _visible(conn, principal, household_id)
    return await _add(conn, principal, household_id, body)


@router.post(
    "/{household_id}/members/{member_id}/end",
    response_model=MemberOut,
    responses=_ERRORS,
    summary="End a membership (moved out, sold the car); it stays in the household's history",
)
async def end_membership(
    household_id: int, member_id: int, body: EndMembershipIn, conn: ConnDep, principal: CustomerUser
) -> Member:
    await _visible(conn, principal, household_id)
    return await households.end_membership(
        conn, household_id=household_id, member_id=member_id, end_on=body.end_on or date.today()
    )
