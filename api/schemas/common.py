"""What every part of the API shares: the error bodies, the ranges of dates and times people
give, and response models derived from the storage's typed rows."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from telemetry.bounds import day_problem, moment_problem, past_moment_problem

T = TypeVar("T")


def _require_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone offset, e.g. 2026-11-22T09:30:00+01:00")
    return value


def _checked(problem_of: Callable[[T], str | None]) -> Callable[[T], T]:
    def check(value: T) -> T:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value

    return check


# every date and time a person gives has a range (telemetry/bounds.py, docs/security.md)
Day = Annotated[date, AfterValidator(_checked(day_problem))]  # 1950-01-01 .. 2100-12-31
# a time a person gives: never ambiguous, 1950 .. 2100
Moment = Annotated[datetime, AfterValidator(_require_offset), AfterValidator(_checked(moment_problem))]
# a time in a query, where a missing offset means UTC: 1950 .. 2100
AnyMoment = Annotated[datetime, AfterValidator(_checked(moment_problem))]
# a time something happened: 1950 .. now + 5 minutes
PastMoment = Annotated[datetime, AfterValidator(_require_offset), AfterValidator(_checked(past_moment_problem))]


class ErrorOut(BaseModel):
    detail: str


class FieldErrorOut(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field")
    msg: str
    type: str


class InvalidOut(ErrorOut):
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="Per field, when the request did not match its schema"
    )


AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "The body could not be read (not UTF-8 text)"},
    401: {"model": ErrorOut, "description": "No API key, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "The key's role may not do this"},
    422: {"model": InvalidOut, "description": "Invalid input: a field, or a business rule (see `detail`)"},
}
# what endpoints on one record answer: the auth errors, and 404 (also for another dealer's record)
RECORD_ERRORS: dict[int | str, dict[str, object]] = AUTH_ERRORS | {404: {"model": ErrorOut}}


def descriptions_of(model: type[BaseModel]) -> dict[str, str]:
    """The field descriptions of an input model, for the response model of the same record."""
    return {name: f.description for name, f in model.model_fields.items() if f.description}


def schema_of(
    row: type, *, descriptions: Mapping[str, str] | None = None, exclude: Collection[str] = ()
) -> type[BaseModel]:
    """The base of a storage row's response model (`class AlertOut(schema_of(Alert))`): the row's
    fields (but `exclude`, what the server keeps for itself), types and defaults in its order,
    read from attributes; the API does not declare the shape a second time. mypy cannot follow a
    class built at run time: each subclass says so (`# type: ignore[misc]`)."""
    hints = typing.get_type_hints(row)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        if f.name in exclude:
            continue
        default = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (hints[f.name], Field(default, description=(descriptions or {}).get(f.name)))
    model: type[BaseModel] = create_model(
        f"{row.__name__}Fields", __config__=ConfigDict(from_attributes=True), **fields
    )
    return model
