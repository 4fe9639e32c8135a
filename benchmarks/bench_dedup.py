"""Incremental deduplication throughput against stores of 40,000 and 1,000,000 projects, with one
and two consumers, and the consumers' resident memory.

    .venv/bin/python -m benchmarks.bench_dedup                           # 40k and 1M (what `make bench` runs)
    BENCH_DEDUP_SIZES=40000 .venv/bin/python -m benchmarks.bench_dedup   # 40k only
    BENCH_DEDUP_SIZES=2000 BENCH_DEDUP_N=400 ...                         # the smoke version (tests)

For each size the store is bulk-loaded (features and blocking keys computed by the real code,
rows copied into PostgreSQL as single-record projects, in chunks), then new geocoded records
(about 10 % republishing a stored project from another partner) go through the real
``DedupStore.apply_batch`` in batches of ``BENCH_DEDUP_BATCH`` (200, the consumer's poll size):
``BENCH_DEDUP_N`` records by one consumer process, then ``BENCH_DEDUP_N`` others split between two
consumer processes running at once (split by record key, as the broker's partitions are). Each
consumer is its own process, started before the clock (its features cache filled as the indexer's
is at start-up, ``DedupStore.warm``) and warmed on one batch, so its peak
resident memory (``VmHWM``) is the dedup's own. Prints records/s for each and the ratio
two/one. Starts the embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import time
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.generate import generate
from benchmarks.rundir import run_directory
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
CHUNK = 20_000


def geocoded(records, communes) -> list[ProjectGeocoded]:
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


def communes_by_name() -> dict:
    communes = {}
    for c in default_gazetteer():
        if c.kind == "COM":
            communes.setdefault(c.name, c)
    return communes


async def bulk_load(dsn: str, records, communes) -> None:
    """Copy ``records`` into the store as single-record projects, ``CHUNK`` at a time."""
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    sizes: Counter = Counter()
    try:
        for start in range(0, len(records), CHUNK):
            recs, blocks, canon = [], [], []
            for e in geocoded(records[start:start + CHUNK], communes):
                f = features(e.project, e.location)
                cid = new_canonical_id(e.project.title, e.key)
                recs.append((e.key, e.source, e.source_record_id, e.project.url, e.project.content_hash,
                             e.project.model_dump_json(), e.location.model_dump_json(),
                             orjson.dumps(f.to_json()).decode(), cid, False, now, now))
                keys = block_keys(f)
                blocks.extend((b, e.key, now) for b in keys)
                sizes.update(keys)
                canon.append((cid, 1, None, True, now, now))  # placeholders: merged lazily if touched
            await conn.copy_records_to_table("dedup_records", records=recs, columns=[
                "record_key", "source", "source_record_id", "url", "content_hash", "project", "location", "features",
                "canonical_id", "deleted", "first_seen", "last_seen"])
            await conn.copy_records_to_table("dedup_blocks", records=blocks,
                                             columns=["block_key", "record_key", "stamp"])
            await conn.copy_records_to_table("canonical_projects", records=canon, columns=[
                "id", "version", "project", "deleted", "first_seen", "updated_at"])
        await conn.copy_records_to_table("dedup_block_sizes", records=list(sizes.items()), columns=["block_key", "n"])
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _consume(url: str, events: list[ProjectGeocoded], ready, go, out) -> None:
    engine = create_async_engine(url, pool_size=2)
    store = DedupStore(engine)
    await store.warm()  # as the indexer does at start-up
    changes = len(await store.apply_batch(events[:BATCH]))  # warm-up: connection, statements, imports
    store.phases.seconds.clear()
    store.phases.counts.clear()
    ready.set()
    go.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(BATCH, len(events), BATCH):
        changes += len(await store.apply_batch(events[i:i + BATCH]))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await engine.dispose()
    out.put(dict(records=len(events) - BATCH, seconds=elapsed, changes=changes,
                 rss_mb=peak_rss_mb(), phases=dict(store.phases.seconds), cpu_s=cpu,
                 counts=dict(store.phases.counts)))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss``, not inherited from the
    parent that forked the interpreter)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def consumer(url: str, events: list[ProjectGeocoded], ready, go, out) -> None:
    asyncio.run(_consume(url, events, ready, go, out))


def run_consumers(url: str, shares: list[list[ProjectGeocoded]]) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    readies, procs = [], []
    for share in shares:
        ready = ctx.Event()
        p = ctx.Process(target=consumer, args=(url, share, ready, go, out))
        p.start()
        readies.append(ready)
        procs.append(p)
    for r in readies:
        r.wait()
    start = time.perf_counter()
    go.set()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - start
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"consumer exited with {p.exitcode}")
    records = sum(r["records"] for r in results)
    phases: Counter = Counter()
    counts: Counter = Counter()
    for r in results:
        phases.update(r["phases"])
        counts.update(r["counts"])
    return dict(records=records, records_per_s=round(records / wall, 1), changes=sum(r["changes"] for r in results),
                rss_mb=round(max(r["rss_mb"] for r in results)), phases=phases, counts=counts,
                cpu_ms=round(sum(r["cpu_s"] for r in results) / max(1, records / BATCH) * 1000, 1))


def breakdown(phases: Counter, records: int) -> str:
    """Where a batch's time goes: milliseconds per batch of ``BATCH`` records in each step, summed
    over the consumers (the steps of ``DedupStore.apply_batch``, in order)."""
    total = sum(phases.values()) or 1
    batches = max(1, records / BATCH)
    return ", ".join(f"{name} {seconds / batches * 1000:.1f} ms ({100 * seconds / total:.0f} %)"
                     for name, seconds in phases.items())


def run_size(url: str, size: int, n: int) -> dict:
    communes = communes_by_name()
    everything = generate(size + 2 * n + 3 * BATCH, duplicate_rate=0.1, seed=size)
    t0 = time.perf_counter()
    asyncio.run(bulk_load(url.replace("+asyncpg", ""), everything[:size], communes))
    load_s = time.perf_counter() - t0
    incoming = geocoded(everything[size:], communes)
    del everything
    one = incoming[:n + BATCH]
    rest = incoming[n + BATCH:]
    # two consumers: records split by key, as the broker's partitions split them
    shares = [[e for e in rest if zlib.crc32(e.key.encode()) % 2 == i] for i in range(2)]
    single = run_consumers(url, [one])
    double = run_consumers(url, shares)
    for name, run in (("one consumer", single), ("two consumers", double)):
        n = max(1, run["counts"]["records"])
        print(f"  {name}, per batch of {BATCH} (consumer CPU {run['cpu_ms']} ms; per record "
              f"{run['counts']['candidates'] / n:.1f} candidates, {run['counts']['pairs scored'] / n:.1f} pairs "
              f"scored, {run['counts']['features read'] / n:.1f} features read): "
              f"{breakdown(run['phases'], run['records'])}", flush=True)
    return dict(store=size, load_s=round(load_s, 1), batch=BATCH,
                one_consumer_records_per_s=single["records_per_s"],
                two_consumers_records_per_s=double["records_per_s"],
                two_over_one=round(double["records_per_s"] / single["records_per_s"], 2),
                consumer_peak_rss_mb=max(single["rss_mb"], double["rss_mb"]),
                canonical_changes=single["changes"] + double["changes"])


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_DEDUP_SIZES", "40000,1000000").split(",")]
    n = int(os.environ.get("BENCH_DEDUP_N", "4000"))
    from tools.devstack import Stack, free_port

    run_dir = run_directory("bench-dedup-")
    stack = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    stack.start_infra()
    try:
        print(f"incremental dedup, {n} incoming records per store size and consumer count, batches of {BATCH}")
        for size in sizes:
            url = stack.postgres.create_database(f"bench_dedup_{size}")
            result = run_size(url, size, n)
            print(result, flush=True)
            print(f"dedup at {size} stored projects: {result['one_consumer_records_per_s']} records/s with one "
                  f"consumer, {result['two_consumers_records_per_s']} with two "
                  f"(x{result['two_over_one']}), consumer peak RSS {result['consumer_peak_rss_mb']} MB", flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
