"""The alerts' background work (``lifespan``):

- the consumer (``ALERTS_SUBSCRIBER``, on in the deployments and ``make up``, off for in-process test
  apps): consumer groups ``gateway-alerts`` on ``projects.canonical.v1`` and ``gateway-alerts-posts`` on
  ``matchmaking.v1``; each
  change is matched against the few saved searches its gate keys select and recorded in
  ``alert_matches`` — the work grows with the changes, not with the number of saved searches;
- the digest job, every ``ALERTS_DIGEST_INTERVAL_S`` in each gateway (safe with several: searches
  are locked with SKIP LOCKED): the digests that are due are queued in the mail outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from faststream.kafka import KafkaBroker
from litestar import Litestar

from libs.contracts.events import CanonicalChanged, MatchmakingChanged
from libs.contracts.topics import MATCHMAKING, PROJECTS_CANONICAL
from libs.runtime.kafka import broker_options
from libs.runtime.messaging import consumer
from services.gateway.alerts import service
from services.gateway.web.subscribers import start_with_retries

log = structlog.get_logger()
GROUP = "gateway-alerts"
POSTS_GROUP = "gateway-alerts-posts"
"""One consumer group per topic, as the indexer does (members of one group subscribed to different
topics are not something every broker handles)."""


def public_base(cfg) -> str:
    return (cfg.public_base_url or f"http://{cfg.gateway_host}:{cfg.gateway_port}").rstrip("/")


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    cfg, engine = app.state.settings, app.state.engine
    tasks = [asyncio.create_task(_digests(app), name="alerts-digest")]
    broker = None
    if cfg.alerts_subscriber:
        broker = KafkaBroker(cfg.kafka_bootstrap, client_id="carrefour-gateway-alerts", acks="all", logger=None,
                             **broker_options(cfg))

        @consumer(broker, service="gateway", topics=PROJECTS_CANONICAL, group_id=GROUP, model=CanonicalChanged)
        async def canonical_changed(event: CanonicalChanged) -> str:
            return await service.on_canonical(engine, event)

        @consumer(broker, service="gateway", topics=MATCHMAKING, group_id=POSTS_GROUP, model=MatchmakingChanged)
        async def post_changed(event: MatchmakingChanged) -> str:
            return await service.on_post(engine, event)

        # joining the group must not hold up the gateway's start (nor its stop): it runs beside it
        tasks.append(asyncio.create_task(start_with_retries(broker, "alerts"), name="alerts-subscriber"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broker.stop(), 10)


async def _digests(app: Litestar) -> None:
    cfg = app.state.settings
    interval = max(0.5, float(cfg.alerts_digest_interval_s))
    key, base = service.signing_key(cfg), public_base(cfg)
    while True:
        await asyncio.sleep(interval)
        try:
            if await service.send_digests(app.state.engine, app.state.mailer, key, base):
                app.state.mailer.wakeup.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — retried at the next tick; nothing is marked sent
            log.warning("alert digests failed", error=f"{type(exc).__name__}: {exc}")


routes: list = []
