"""FastAPI dependencies: settings, catalog and a pooled connection per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from telemetry.catalog import Catalog
from telemetry.settings import Settings
from telemetry.storage.db import Conn


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings  # set by create_app
    return settings


def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog  # set by create_app
    return catalog


async def get_conn(request: Request) -> AsyncIterator[Conn]:
    """One connection per request; committed when the handler returns, rolled back on error.

    Used with scope="function": the commit happens before the response is sent, so a client that
    got 201 can rely on the record being there for its next request.
    """
    async with request.app.state.pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ConnDep = Annotated[Conn, Depends(get_conn, scope="function")]
