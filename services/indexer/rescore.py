"""``python -m services.indexer.rescore``: after the matching or its trained weights changed,
featurise, block, score and cluster every stored partner record again (in batches, project ids
kept), then rebuild the search index (``make reindex``). Records stored by an older version are
also recomputed on the fly when they come up as candidates, so the indexer keeps working before
this is run."""

import asyncio
import time

from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.settings import settings
from services.indexer.adapters.db import DedupStore


async def main() -> int:
    engine = create_async_engine(settings().database_url)
    t0 = time.monotonic()
    try:
        changes = await DedupStore(engine).rescore_all()
    finally:
        await engine.dispose()
    print(f"rescored every record in {time.monotonic() - t0:.1f}s: {changes} canonical changes; "
          "now rebuild the search index (make reindex)")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
