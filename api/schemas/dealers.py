"""Dealers and their branches."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DealerIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)


class DealerOut(DealerIn):
    id: int
    created_at: datetime


class BranchIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    city: str | None = Field(default=None, max_length=120)
    postcode: str | None = Field(default=None, max_length=20)


class BranchOut(BranchIn):
    id: int
    dealer_id: int
    created_at: datetime
