"""Dealers and their branches."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import schema_of
from crm.records import Branch, Dealer


class DealerIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)


class DealerOut(schema_of(Dealer)):  # type: ignore[misc]  # derived at run time
    pass


class BranchIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    city: str | None = Field(default=None, max_length=120)
    postcode: str | None = Field(default=None, max_length=20)


class BranchOut(schema_of(Branch)):  # type: ignore[misc]  # derived at run time
    pass
