"""Incremental deduplication throughput against stores of 10k, 40k (and 200k) projects.

    .venv/bin/python -m benchmarks.bench_dedup                 # 10k and 40k
    BENCH_DEDUP_200K=1 .venv/bin/python -m benchmarks.bench_dedup   # adds 200k
    BENCH_DEDUP_SIZES=10000,40000 BENCH_DEDUP_N=1000 ...       # other sizes / incoming records

For each size the store is bulk-loaded (features and blocking keys computed by the real code,
rows copied into PostgreSQL as single-record projects), then ``BENCH_DEDUP_N`` new geocoded
records (about 10 % republishing a stored project from another partner) go through the real
store: the first half with ``DedupStore.apply``, one event per transaction (as the indexer's
consumer does today), the second half with ``DedupStore.apply_batch`` in batches of
``BENCH_DEDUP_BATCH`` (200, the consumer loop's poll size). Prints records/s for both and the
one-by-one latency percentiles, and the benchmark process's peak resident memory (it holds the
generated records as well as the store's working set, so it bounds the dedup's from above).
Starts the embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.generate import generate
from libs.contracts.events import (
    Location,
    NormalizedProject,
    Operation,
    ProjectGeocoded,
)
from services.geocoder.gazetteer import default_gazetteer
from services.indexer.adapters.db import DedupStore
from services.indexer.dedup import block_keys, features, new_canonical_id

BATCH = int(os.environ.get("BENCH_DEDUP_BATCH", "200"))


def geocoded(records) -> list[ProjectGeocoded]:
    communes = {}
    for c in default_gazetteer():
        if c.kind == "COM":
            communes.setdefault(c.name, c)
    out = []
    for r in records:
        c = communes[r.commune]
        project = NormalizedProject(
            source=r.source, source_record_id=r.source_record_id, url=r.url, title=r.title,
            description=r.description or "", holder_name=r.holder.name if r.holder else None,
            contact=r.contact, commune=r.commune, postcode=r.postcode, content_hash=f"{r.source_record_id}|{r.title}")
        location = Location(commune_code=c.code, commune_name=c.name, postcode=r.postcode,
                            departement_code=c.departement, region_code=c.region, lat=c.lat, lon=c.lon,
                            precision="commune")
        out.append(ProjectGeocoded(op=Operation.UPSERT, source=r.source, source_record_id=r.source_record_id,
                                   project=project, location=location))
    return out


async def bulk_load(dsn: str, events: list[ProjectGeocoded]) -> None:
    now = datetime.now(timezone.utc)
    conn = await asyncpg.connect(dsn)
    try:
        recs, blocks, canon = [], [], []
        for e in events:
            f = features(e.project, e.location)
            cid = new_canonical_id(e.project.title, e.key)
            recs.append((e.key, e.source, e.source_record_id, e.project.url, e.project.content_hash,
                         e.project.model_dump_json(), e.location.model_dump_json(), orjson.dumps(f.to_json()).decode(),
                         cid, False, now, now))
            blocks.extend((b, e.key) for b in block_keys(f))
            canon.append((cid, 1, None, True, now, now))  # placeholders: merged lazily if touched
        await conn.copy_records_to_table("dedup_records", records=recs, columns=[
            "record_key", "source", "source_record_id", "url", "content_hash", "project", "location", "features",
            "canonical_id", "deleted", "first_seen", "last_seen"])
        blocks = list(set(blocks))
        await conn.copy_records_to_table("dedup_blocks", records=blocks, columns=["block_key", "record_key"])
        sizes = Counter(b for b, _ in blocks)
        await conn.copy_records_to_table("dedup_block_sizes", records=list(sizes.items()), columns=["block_key", "n"])
        await conn.copy_records_to_table("canonical_projects", records=canon, columns=[
            "id", "version", "project", "deleted", "first_seen", "updated_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def run_size(base_url: str, size: int, n: int) -> dict:
    everything = geocoded(generate(size + n, duplicate_rate=0.1, seed=size))
    stored, incoming = everything[:size], everything[size:]
    t0 = time.perf_counter()
    await bulk_load(base_url.replace("+asyncpg", ""), stored)
    load_s = time.perf_counter() - t0
    engine = create_async_engine(base_url, pool_size=2)
    store = DedupStore(engine)
    half = n // 2
    # one event per transaction (what the indexer's consumer does today)
    latencies, changes = [], 0
    start = time.perf_counter()
    for e in incoming[:half]:
        t = time.perf_counter()
        changes += len(await store.apply(e))
        latencies.append((time.perf_counter() - t) * 1000)
    single_s = time.perf_counter() - start
    # batches of BATCH records per transaction (apply_batch)
    start = time.perf_counter()
    for i in range(half, n, BATCH):
        changes += len(await store.apply_batch(incoming[i:i + BATCH]))
    batch_s = time.perf_counter() - start
    await engine.dispose()
    latencies.sort()
    import resource

    return dict(store=size, incoming=n, load_s=round(load_s, 1),
                one_by_one_records_per_s=round(half / single_s, 1), p50_ms=round(statistics.median(latencies), 2),
                p95_ms=round(latencies[int(0.95 * half) - 1], 2),
                batch_records_per_s=round((n - half) / batch_s, 1), batch=BATCH, canonical_changes=changes,
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_DEDUP_SIZES", "10000,40000").split(",")]
    if os.environ.get("BENCH_DEDUP_200K"):
        sizes.append(200_000)
    n = int(os.environ.get("BENCH_DEDUP_N", "1000"))
    from tools.devstack import Stack, free_port

    run_dir = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    os.chmod(run_dir, 0o755)
    stack = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    stack.start_infra()
    try:
        print(f"incremental dedup, {n} incoming records per store size")
        for size in sizes:
            url = stack.postgres.create_database(f"bench_dedup_{size}")
            result = asyncio.run(run_size(url, size, n))
            print(result, flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
