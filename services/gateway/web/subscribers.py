"""The gateway's subscribers: the topics its read models follow (the crawler's previews and partner
status, ...). Each runs with a broker of its own (the request handlers' broker only publishes), in a
consumer group shared by every gateway replica, started beside the gateway so that joining the group
never holds up its start or its stop. Off unless ``EVENT_SUBSCRIBERS`` is set (on in the deployments and
``make up``; in-process test apps turn it on only when they test a read model)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from litestar import Litestar

from libs.runtime.kafka import broker_options
from libs.runtime.messaging import consumer

log = structlog.get_logger()


def subscriber_lifespan(name: str, topic: str, model: type, handle: Callable[[Litestar, Any], Awaitable[str]]):
    """A lifespan consuming ``topic`` (events of ``model``) in group ``gateway-<name>``; ``handle(app, event)``
    applies one event and returns its outcome (logged and counted by the consumer runtime)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        cfg = app.state.settings
        if not cfg.event_subscribers:  # the read model is then kept by the gateways that have it on
            yield
            return
        broker = KafkaBroker(cfg.kafka_bootstrap, client_id=f"carrefour-gateway-{name}", acks="all", logger=None,
                             **broker_options(cfg))

        @consumer(broker, service="gateway", topics=topic, group_id=f"gateway-{name}", model=model)
        async def on_event(event) -> str:
            return await handle(app, event)

        joining = asyncio.create_task(start_with_retries(broker, name))
        try:
            yield
        finally:
            joining.cancel()
            with contextlib.suppress(BaseException):
                await joining
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broker.stop(), 10)

    return lifespan


async def start_with_retries(broker: KafkaBroker, name: str) -> None:
    """Start the subscriber, retrying while the broker is away."""
    attempt = 0
    while True:
        try:
            await broker.start()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — the gateway serves meanwhile, without fresh events
            attempt += 1
            log.warning("subscriber not started, retrying", subscriber=name, error=f"{type(exc).__name__}: {exc}",
                        attempt=attempt)
            await asyncio.sleep(min(30, 2 ** attempt))
