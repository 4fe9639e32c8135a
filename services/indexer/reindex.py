"""``make reindex``: rebuild the search index from the canonical projects in PostgreSQL."""

import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.runtime.settings import settings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import make_writer


async def main() -> int:
    cfg = settings()
    engine = create_async_engine(cfg.database_url)
    writer = make_writer(cfg.search_backend, engine, cfg.meili_url, cfg.meili_key)
    await writer.clear()
    n = 0
    async for project, version in DedupStore(engine).all_canonical():
        await writer.upsert(project, version)
        n += 1
    await engine.dispose()
    print(f"reindexed {n} projects into {cfg.search_backend}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
