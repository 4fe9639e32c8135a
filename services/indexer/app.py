"""Indexer service: deduplication into canonical projects, and the search index kept in step."""

from faststream import FastStream
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.runtime.messaging import make_broker
from libs.contracts.runtime.settings import settings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import make_writer
from services.indexer.handlers import SERVICE, register


def create_app() -> FastStream:
    cfg = settings()
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    engine = create_async_engine(cfg.database_url, pool_size=5, pool_pre_ping=True)
    register(broker, DedupStore(engine), make_writer(cfg.search_backend, engine, cfg.meili_url, cfg.meili_key),
             cfg.consumers)
    app = FastStream(broker, logger=None)

    @app.after_shutdown
    async def _close() -> None:
        await engine.dispose()

    return app
