"""``make reindex``: rebuild the search index from the canonical projects in PostgreSQL, with no
downtime: the new index is built beside the live one and swapped in when complete (PostgreSQL:
a new table renamed in one transaction; Meilisearch: a new index and ``swap-indexes``). Writes
the indexer makes meanwhile are carried over. ``--clear`` empties the index in place instead
(the old, blocking way, for an index known to be corrupt)."""

import argparse
import asyncio
import time

from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.console import counted, progress_bar
from libs.runtime.settings import settings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import make_writer
from services.indexer.holder_edits import HolderOverlays


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the search index from the canonical projects")
    parser.add_argument("--clear", action="store_true", help="empty the live index first (not zero-downtime)")
    opts = parser.parse_args(argv)
    cfg = settings()
    engine = create_async_engine(cfg.database_url)
    writer = make_writer(cfg.search_backend, engine, cfg.meili_url, cfg.meili_key)
    t0 = time.monotonic()
    projects = HolderOverlays(engine).overlaid(DedupStore(engine).all_canonical())  # with the holders' fields
    try:
        with progress_bar() as bar:
            task = bar.add_task("reindex", total=None, detail=cfg.search_backend)
            n = await _write(writer, counted(projects, bar, task), opts.clear)
    finally:
        await engine.dispose()
    print(f"reindexed {n} projects into {cfg.search_backend} in {time.monotonic() - t0:.1f}s"
          f"{' (cleared first)' if opts.clear else ' (built beside the live index, then swapped)'}")
    return 0


async def _write(writer, projects, clear: bool) -> int:
    if clear:
        await writer.clear()
        n = 0
        async for project, version in projects:
            await writer.upsert(project, version)
            n += 1
        return n
    return await writer.rebuild(projects)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
