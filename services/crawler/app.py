"""Crawler service: harvests every enabled partner on its schedule and emits onto crawl.records.v1."""

from __future__ import annotations

import asyncio
import time

import structlog
from faststream import FastStream
from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.messaging import is_transient, make_broker
from libs.runtime.retry import retry_transient
from services.crawler.adapters.http import PoliteClient
from services.crawler.adapters.store import CrawlStore
from services.crawler.config import load_partners
from services.crawler.handlers import BrokerEmitter, crawl_partner, report_status
from services.crawler.preview_requests import register as register_previews
from services.crawler.settings import settings

SERVICE = "crawler"
PARALLEL_PARTNERS = 4
"""Partners crawled at once (each host still gets one request at a time)."""
log = structlog.get_logger()


def create_app() -> FastStream:
    cfg = settings()
    partners = load_partners(cfg.carrefour_partners_file)  # fails fast, naming partner and field
    cfg.check_partners(partners)  # outside development: no private addresses (libs/runtime/safety.py)
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    app = FastStream(broker, logger=None)
    tasks: list[asyncio.Task] = []
    enabled = [p for p in partners.partners if p.enabled]
    client = PoliteClient(partners.user_agent)  # shared: one request at a time per host, previews included
    register_previews(broker, partners, client)

    async def loop() -> None:
        engine = create_async_engine(cfg.database_url, pool_size=PARALLEL_PARTNERS + 1, pool_pre_ping=True)
        store = CrawlStore(engine)
        emitter = BrokerEmitter(broker)
        gate = asyncio.Semaphore(PARALLEL_PARTNERS)
        due: dict[str, float] = {}
        try:
            await retry_transient(lambda: store.sync_partners(partners.partners), service=SERVICE,
                                  what="record partners", first_wait_s=0.5)
            await retry_transient(lambda: report_status(store, emitter), service=SERVICE,
                                  what="publish partner status", first_wait_s=0.5)
            for p in enabled:  # resume each partner's schedule from its last recorded crawl
                last = await retry_transient(lambda p=p: store.last_run_finished(p.slug), service=SERVICE,
                                             what="read last crawl", first_wait_s=0.5)
                interval = p.schedule_s or cfg.crawl_interval_s
                due[p.slug] = time.time() if last is None or cfg.crawl_once else last.timestamp() + interval

            async def one(p) -> None:
                async with gate:
                    try:
                        await crawl_partner(p, client, store, emitter)
                    except Exception as exc:  # a partner's failure never stops the others
                        if is_transient(exc):
                            log.warning("broker or database unavailable during crawl", partner=p.slug, error=str(exc))
                        else:
                            log.exception("crawl error", partner=p.slug)
                    finally:
                        due[p.slug] = time.time() + (p.schedule_s or cfg.crawl_interval_s)

            running: dict[str, asyncio.Task] = {}
            crawled_once: set[str] = set()
            while True:
                now = time.time()
                for p in enabled:
                    if p.slug not in running and due[p.slug] <= now and not (cfg.crawl_once and p.slug in crawled_once):
                        crawled_once.add(p.slug)
                        running[p.slug] = asyncio.create_task(one(p), name=f"crawl-{p.slug}")
                for slug in [s for s, t in running.items() if t.done()]:
                    running.pop(slug)
                if cfg.crawl_once and not running and len(crawled_once) == len(enabled):
                    log.info("crawl cycle done; crawl_once set, idling")
                    await asyncio.Event().wait()
                await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            raise
        except Exception:  # e.g. the crawler's tables are missing: say so instead of dying silently
            log.exception("crawl loop stopped")
            raise
        finally:
            await engine.dispose()

    @app.after_startup
    async def _start() -> None:
        log.info("crawler started", partners=[p.slug for p in enabled])
        tasks.append(asyncio.create_task(loop(), name="crawl-loop"))

    @app.on_shutdown
    async def _stop() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()

    return app
