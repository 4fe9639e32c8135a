"""End-to-end pipeline throughput, latency and memory on the embedded stack (part of ``make bench``).

Pushes N generated records (default 5,000; ``BENCH_N``) straight onto ``partner.ingest.v1``,
waits until every consumer group has drained, and prints records/s, push→searchable
latency percentiles and each service's peak RSS. ``BENCH_REPLICAS=2`` runs two processes per
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
    records = generate(n)
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
        await asyncio.sleep(8)  # consumer groups join
        pushed_at: dict[str, float] = {}
        t0 = time.time()
        for r in records:
            event = SourceRecordEvent.upsert(r)
            pushed_at.setdefault(r.title, time.time())
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
        total_s = time.time() - t0
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT doc->>'title' AS title, extract(epoch from indexed_at)::float8 AS at FROM search_documents"))).all()
        latencies = sorted(row.at - pushed_at[row.title] for row in rows if row.title in pushed_at)
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
    print(f"latency push→searchable: p50 {q[49]:.2f}s, p99 {q[98]:.2f}s")
    for name, mb in rss.items():
        print(f"peak RSS {name}: {mb:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
