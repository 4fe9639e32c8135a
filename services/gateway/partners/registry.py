"""Partner names and licences for attribution (search pages, project pages, export): ``app.state.partners``,
slug → {name, licence, url, attribution}, read from the gateway's partner directory and partner
organisations at start-up, again every ``REFRESH_S`` and after each status event this process applies.
The directory is fed by the crawler's ``crawl.partners.v1`` (consumer group ``gateway-partners``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar

from libs.contracts.partner_events import PartnerStatusChanged
from libs.contracts.topics import CRAWL_PARTNERS
from services.gateway.partners import directory
from services.gateway.web.subscribers import subscriber_lifespan

log = structlog.get_logger()
REFRESH_S = 30.0


async def reload(app: Litestar) -> None:
    async with app.state.engine.connect() as conn:
        app.state.partners = await directory.registry(conn)


async def _apply(app: Litestar, event: PartnerStatusChanged) -> str:
    async with app.state.engine.begin() as conn:
        outcome = await directory.apply(conn, event)
    await reload(app)
    return outcome


_subscriber = subscriber_lifespan("partners", CRAWL_PARTNERS, PartnerStatusChanged, _apply)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    app.state.partners = {}

    async def refresh() -> None:
        while True:
            try:
                await reload(app)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — attribution keeps its last names meanwhile
                log.warning("partner registry not refreshed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(REFRESH_S)

    task = asyncio.create_task(refresh(), name="partner-registry")
    try:
        async with _subscriber(app):
            yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
