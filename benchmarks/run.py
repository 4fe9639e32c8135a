"""End-to-end pipeline throughput, latency and memory on the embedded stack (part of ``make bench``).

Pushes N generated records (default 5,000; ``BENCH_N``) straight onto ``partner.ingest.v1``,
waits until every consumer group has drained, and prints records/s, push→searchable
latency percentiles and each service's peak RSS. ``BENCH_RATE=200`` pushes at a steady rate
(latency then measures the pipeline, not the queue). ``BENCH_REPLICAS=2`` runs two processes per
service (one consumer group each, sharing the 4 partitions of each topic).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.generate import generate
from libs.contracts.events import SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from tools.devstack import Stack, free_port, start_service
from tools.lag import group_lag


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main() -> None:
    n = int(os.environ.get("BENCH_N", "5000"))
    everything = generate(n + 300, seed=7)
    warmup, records = everything[:300], everything[300:]
    warm_titles = {r.title for r in warmup}
    records = [r for r in records if r.title not in warm_titles]  # republished warm-up projects left out
    n = len(records)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    os.chmod(run_dir, 0o755)
    stack = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    await asyncio.to_thread(stack.start_infra)
    try:
        replicas = int(os.environ.get("BENCH_REPLICAS", "1"))
        env = stack.service_env(LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
        for name in ("normalizer", "geocoder", "indexer"):
            for r in range(replicas):  # consumers of one group share the 4 partitions of each topic
                stack.services[f"{name}#{r}"] = start_service(name, env, run_dir / f"logs{r}")
        engine = create_async_engine(stack.database_url)
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        # warm-up: consumer groups joined and caches loaded before anything is timed
        for r in warmup:
            await producer.send(PARTNER_INGEST, SourceRecordEvent.upsert(r).model_dump_json().encode(),
                                key=r.record_key.encode())
        await producer.flush()
        await asyncio.sleep(2)
        while sum((await group_lag(stack.bootstrap)).values()):
            await asyncio.sleep(0.25)
        async with engine.connect() as conn:
            baseline = (await conn.execute(text("SELECT count(*) FROM search_documents"))).scalar()
        pushed_at: dict[str, float] = {}
        t0 = time.time()
        rate = float(os.environ.get("BENCH_RATE", "0"))  # records/s; 0 = all at once (throughput)
        for i, r in enumerate(records):
            if rate:
                ahead = t0 + i / rate - time.time()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            event = SourceRecordEvent.upsert(r)
            pushed_at[r.title] = time.time()  # a republished title is indexed again: time from its last push
            await producer.send(PARTNER_INGEST, event.model_dump_json().encode(), key=r.record_key.encode())
        await producer.flush()
        push_s = time.time() - t0
        expected = len({r.title for r in records})
        drained_since = None
        while time.time() - t0 < 3600:
            lag = await group_lag(stack.bootstrap)
            if sum(lag.values()) == 0:
                drained_since = drained_since or time.time()
                if time.time() - drained_since > 1.0:  # stays drained: nothing in flight between hops
                    break
            else:
                drained_since = None
            await asyncio.sleep(0.25)
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM search_documents WHERE NOT deleted"))).scalar()
            count -= baseline
        total_s = time.time() - t0
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT doc->>'title' AS title, extract(epoch from indexed_at)::float8 AS at FROM search_documents"))).all()
        timed = sorted((pushed_at[row.title], row.at - pushed_at[row.title]) for row in rows if row.title in pushed_at)
        latencies = sorted(lat for _, lat in timed)
        if os.environ.get("BENCH_DEBUG"):
            for k in range(0, len(timed), max(len(timed) // 15, 1)):
                print(f"  pushed at +{timed[k][0] - t0:5.1f}s: latency {timed[k][1]:.2f}s")
        await producer.stop()
        await engine.dispose()
        rss = {name: peak_rss_mb(p.pid) for name, p in stack.services.items()}
    finally:
        await asyncio.to_thread(stack.stop)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [float("nan")] * 99
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{replicas} process(es) per service")
    print(f"records pushed: {n} ({expected} distinct titles), push took {push_s:.1f}s")
    print(f"end to end: {n / total_s:.0f} records/s ({total_s:.1f}s until the pipeline drained; "
          f"{count} projects indexed after deduplication)")
    print(f"latency push→searchable{f' at {rate:.0f} records/s' if rate else ' (all pushed at once: queueing)'}: "
          f"p50 {q[49]:.2f}s, p99 {q[98]:.2f}s")
    for name, mb in rss.items():
        print(f"peak RSS {name}: {mb:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
