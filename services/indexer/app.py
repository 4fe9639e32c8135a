"""Indexer service: deduplication into canonical projects, and the search index kept in step."""

import structlog
from faststream import FastStream
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.messaging import make_broker
from libs.runtime.settings import settings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import make_writer
from services.indexer.handlers import PARTS, SERVICE, register


class IndexerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INDEXER_", case_sensitive=False, extra="ignore")

    parts: str = Field(",".join(PARTS), description="What this process consumes: dedup, search or both "
                                                    "(comma-separated); one process runs both by default")


def create_app() -> FastStream:
    cfg = settings()
    parts = tuple(p.strip() for p in IndexerSettings().parts.split(",") if p.strip())
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    engine = create_async_engine(cfg.database_url, pool_size=5, pool_pre_ping=True)
    store = DedupStore(engine)
    register(broker, store, make_writer(cfg.search_backend, engine, cfg.meili_url, cfg.meili_key),
             cfg.consumers, parts)
    app = FastStream(broker, logger=None)

    @app.on_startup
    async def _warm() -> None:
        if "dedup" not in parts:
            return
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
