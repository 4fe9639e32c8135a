"""Indexer service: deduplication into canonical projects, and the search index kept in step."""

import structlog
from faststream import FastStream
from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.messaging import make_broker
from libs.runtime.settings import settings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import make_writer
from services.indexer.handlers import SERVICE, register


def create_app() -> FastStream:
    cfg = settings()
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    engine = create_async_engine(cfg.database_url, pool_size=5, pool_pre_ping=True)
    store = DedupStore(engine)
    register(broker, store, make_writer(cfg.search_backend, engine, cfg.meili_url, cfg.meili_key),
             cfg.consumers)
    app = FastStream(broker, logger=None)

    @app.on_startup
    async def _warm() -> None:
        # candidate features in memory before the first batch; without them the first batches
        # read them from PostgreSQL (nothing else changes)
        try:
            await store.warm()
        except Exception as exc:  # noqa: BLE001 — the database may not be up yet: the cache fills as records come
            structlog.get_logger().warning("dedup features not cached at start-up", error=str(exc))

    @app.after_shutdown
    async def _close() -> None:
        await engine.dispose()

    return app
