"""Crawler service: harvests every enabled partner on a schedule and emits onto crawl.records.v1."""

from __future__ import annotations

import asyncio

import structlog
from faststream import FastStream

from libs.contracts.runtime.messaging import make_broker
from libs.contracts.runtime.settings import settings
from services.crawler.adapters.http import PoliteClient
from services.crawler.config import load_partners
from services.crawler.handlers import CrawlState, crawl_partner

SERVICE = "crawler"
log = structlog.get_logger()


def create_app() -> FastStream:
    cfg = settings()
    partners = load_partners(cfg.carrefour_partners_file)  # fails fast, naming partner and field
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    app = FastStream(broker, logger=None)
    state = CrawlState()
    tasks: list[asyncio.Task] = []

    async def loop() -> None:
        client = PoliteClient(partners.user_agent)
        try:
            while True:
                for partner in (p for p in partners.partners if p.enabled):
                    try:
                        await crawl_partner(partner, client, state, broker)
                    except Exception as exc:  # a partner's failure never stops the others
                        if not _is_kafka_down(exc):
                            log.exception("crawl error", partner=partner.slug)
                        else:
                            log.warning("broker unavailable during crawl", partner=partner.slug, error=str(exc))
                if cfg.crawl_once:
                    log.info("crawl cycle done; crawl_once set, idling")
                    await asyncio.Event().wait()
                await asyncio.sleep(cfg.crawl_interval_s)
        finally:
            await client.close()

    @app.after_startup
    async def _start() -> None:
        log.info("crawler started", partners=[p.slug for p in partners.partners if p.enabled])
        tasks.append(asyncio.create_task(loop(), name="crawl-loop"))

    @app.on_shutdown
    async def _stop() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return app


def _is_kafka_down(exc: Exception) -> bool:
    from aiokafka.errors import KafkaError

    return isinstance(exc, (KafkaError, OSError))
