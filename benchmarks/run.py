"""End-to-end pipeline benchmark on the embedded stack (first part of ``make bench``).

One run prints, for N generated records (default 40,000; ``BENCH_N``):

1. **the broker ceiling**: the same payloads produced to a scratch topic and consumed back by a
   consumer group through the embedded broker, each one validated (the ingest event's schema)
   and committed per batch, as the services do — what one hop costs with no work in it;
2. **the pipeline**, all records pushed at once onto ``partner.ingest.v1``: end-to-end records/s
   until every consumer group has drained, and its ratio to the ceiling; per stage, the records
   its group handled, the rate at which it handled them and the CPU time of its process per
   record (µs; ``1e6 / µs`` is what the stage could do on a core of its own); the broker's and
   PostgreSQL's CPU per record;
3. **latency** push → searchable at a steady rate (``BENCH_RATE``, default 1,000 records/s, for
   ``BENCH_LATENCY_S`` seconds, default 10), with records not seen before: p50, p99;
4. **a full reindex** of every canonical project (``make reindex``: built beside the live index,
   then swapped), timed;
5. each service's peak RSS.

The indexer runs as two processes (``INDEXER_PARTS=dedup`` and ``=search``) so that dedup and the
index writer each have their own CPU figure; ``BENCH_SPLIT_INDEXER=0`` runs one process, as
``make up`` does. ``BENCH_REPLICAS=2`` runs two processes per stage (one consumer group each,
sharing the 4 partitions). ``BENCH_PROFILE=<dir>`` records every service with py-spy (collapsed
stacks, ``<dir>/<service>.txt``; ``python -m benchmarks.flame <dir>`` summarises them).
``BENCH_SKIP=ceiling,latency,reindex`` leaves parts out.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.generate import generate
from benchmarks.procstat import CpuMeter, peak_rss_mb, postmaster_pid
from benchmarks.rundir import run_directory
from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from libs.runtime.health import group_offsets
from tools.devstack import ROOT, Stack, free_port, new_scratch_topic, start_service, stop_process
from tools.lag import PIPELINE_GROUPS, group_lag

STAGES = {"normalizer": "normalizer", "geocoder": "geocoder", "indexer-dedup": "dedup",
          "indexer-search": "index writer"}
PROCESS_OF_GROUP = {"normalizer": "normalizer", "geocoder": "geocoder", "indexer-dedup": "indexer-dedup",
                    "indexer-search": "indexer-search"}
BATCH = 200


def payload(record: PartnerRecord) -> bytes:
    return SourceRecordEvent.upsert(record).model_dump_json().encode()


async def push(producer: AIOKafkaProducer, records: list[PartnerRecord], rate: float = 0.0) -> dict[str, float]:
    """Send every record (at ``rate`` records/s, or as fast as possible); title → time of its last push."""
    pushed_at: dict[str, float] = {}
    t0 = time.time()
    for i, r in enumerate(records):
        if rate:
            ahead = t0 + i / rate - time.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
        pushed_at[r.title] = time.time()  # a republished title is indexed again: time from its last push
        await producer.send(PARTNER_INGEST, payload(r), key=r.record_key.encode())
    await producer.flush()
    return pushed_at


async def ceiling(bootstrap: str, bodies: list[bytes], meter: CpuMeter) -> tuple[float, dict[str, float]]:
    """Produce + consume ``bodies`` through the broker with validation and a commit per batch."""
    topic = await new_scratch_topic(bootstrap, "bench.ceiling", partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-group",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=BATCH)
    await producer.start()
    await consumer.start()
    try:
        meter.start()
        t0 = time.perf_counter()

        async def produce() -> None:
            for i, body in enumerate(bodies):
                await producer.send(topic, body, key=str(i).encode())
            await producer.flush()

        sender = asyncio.create_task(produce())
        seen = 0
        while seen < len(bodies):
            batches = await consumer.getmany(timeout_ms=100, max_records=BATCH)
            for records in batches.values():
                for rec in records:
                    SourceRecordEvent.model_validate_json(rec.value)
                seen += len(records)
            if batches:
                await consumer.commit()
        await sender
        elapsed = time.perf_counter() - t0
        return len(bodies) / elapsed, meter.stop()
    finally:
        await consumer.stop()
        await producer.stop()


class Progress:
    """Each group's committed total over time (read from the broker), to time each stage."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.start: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.first_move: dict[str, float] = {}
        self.last_move: dict[str, float] = {}

    async def committed(self) -> dict[str, int]:
        out = dict.fromkeys(PIPELINE_GROUPS, 0)
        for (group, _, _), (committed, low, _) in (await group_offsets(self.bootstrap, PIPELINE_GROUPS)).items():
            out[group] += max(committed if committed is not None and committed >= 0 else low, low)
        return out

    async def begin(self) -> None:
        self.start = self.last = await self.committed()

    async def poll(self) -> int:
        """Reads every group's offsets once; returns the total lag."""
        now, current, lag = time.time(), dict.fromkeys(PIPELINE_GROUPS, 0), 0
        for (group, _, _), (committed, low, high) in (await group_offsets(self.bootstrap, PIPELINE_GROUPS)).items():
            position = max(committed if committed is not None and committed >= 0 else low, low)
            current[group] += position
            lag += max(high - position, 0)
        for group, value in current.items():
            if value != self.last.get(group):
                self.first_move.setdefault(group, now)
                self.last_move[group] = now
        self.last = current
        return lag

    def handled(self, group: str) -> int:
        return self.last[group] - self.start[group]


async def drain(bootstrap: str, progress: Progress | None = None, limit_s: float = 3600) -> None:
    """Until every group has no lag, and stays so for a second (nothing in flight between hops)."""
    drained_since = None
    t0 = time.time()
    while time.time() - t0 < limit_s:
        lag = await progress.poll() if progress else sum((await group_lag(bootstrap)).values())
        if lag == 0:
            drained_since = drained_since or time.time()
            if time.time() - drained_since > 1.0:
                return
        else:
            drained_since = None
        await asyncio.sleep(0.25)
    raise TimeoutError("the pipeline did not drain")


def start_profilers(pids: dict[str, int], out: Path) -> list[subprocess.Popen]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--format", "raw",
                              "--output", str(out / f"{name}.txt")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL) for name, pid in pids.items()]


async def main() -> None:
    n = int(os.environ.get("BENCH_N", "40000"))
    rate = float(os.environ.get("BENCH_RATE", "1000"))
    latency_s = float(os.environ.get("BENCH_LATENCY_S", "10"))
    replicas = int(os.environ.get("BENCH_REPLICAS", "1"))
    split = os.environ.get("BENCH_SPLIT_INDEXER", "1") != "0"
    skip = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
    profile = os.environ.get("BENCH_PROFILE")

    everything = generate(n + 300, seed=7)
    warmup, records = everything[:300], everything[300:]
    warm_titles = {r.title for r in warmup}
    records = [r for r in records if r.title not in warm_titles]  # republished warm-up projects left out
    late = [r.model_copy(update={"title": f"{r.title} (suite)"})
            for r in generate(int(rate * latency_s), seed=11)]  # distinct titles: timed on their own
    n = len(records)

    run_dir = run_directory("bench-")
    stack = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    await asyncio.to_thread(stack.start_infra)
    out: list[str] = []
    try:
        pids: dict[str, tuple[int, bool]] = {"broker": (stack.broker.pid, False)}
        pg = postmaster_pid(run_dir / "pgdata")
        if pg:
            pids["postgresql"] = (pg, True)
        bench_pid = ("benchmark client", (os.getpid(), False))
        ceiling_rate = None
        if "ceiling" not in skip:
            meter = CpuMeter(dict([*pids.items(), bench_pid]))
            ceiling_rate, used = await ceiling(stack.bootstrap, [payload(r) for r in records], meter)
            out.append(f"broker ceiling (produce + consume + validate + commit per batch of {BATCH}, {n} records): "
                       f"{ceiling_rate:,.0f} records/s; CPU per record: "
                       + ", ".join(f"{k} {v / n * 1e6:.0f} µs" for k, v in used.items()))

        env = stack.service_env(LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
        procs: dict[str, tuple[str, dict[str, str]]] = {"normalizer": ("normalizer", {}), "geocoder": ("geocoder", {})}
        if split:
            procs["indexer-dedup"] = ("indexer", {"INDEXER_PARTS": "dedup"})
            procs["indexer-search"] = ("indexer", {"INDEXER_PARTS": "search"})
        else:
            procs["indexer"] = ("indexer", {})
        for label, (module, extra) in procs.items():
            for r in range(replicas):  # consumers of one group share the 4 partitions of each topic
                stack.services[f"{label}#{r}"] = start_service(module, {**env, **extra}, run_dir / f"logs{r}")
        engine = create_async_engine(stack.database_url)
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        await push(producer, warmup)  # consumer groups joined and caches loaded before anything is timed
        await asyncio.sleep(2)
        await drain(stack.bootstrap)
        async with engine.connect() as conn:
            baseline = (await conn.execute(text("SELECT count(*) FROM search_documents WHERE NOT deleted"))).scalar()

        for name, proc in stack.services.items():
            pids[name] = (proc.pid, False)
        profilers = start_profilers({k: v for k, (v, _) in pids.items() if "#" in k}, Path(profile)) if profile else []
        meter = CpuMeter(dict([*pids.items(), bench_pid]))
        progress = Progress(stack.bootstrap)
        await progress.begin()
        meter.start()
        t0 = time.time()
        await push(producer, records)
        push_s = time.time() - t0
        await drain(stack.bootstrap, progress)
        used = meter.stop()
        for p in profilers:
            p.send_signal(2)  # SIGINT: py-spy writes its output and exits
        total_s = time.time() - t0 - 1.0  # drain() waits one second once drained
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM search_documents WHERE NOT deleted"))).scalar()
        e2e = n / total_s
        out.append(f"pipeline: {n} records pushed in {push_s:.1f}s ({len({r.title for r in records})} distinct "
                   f"titles) → {count - baseline} projects indexed after deduplication")
        out.append(f"END TO END: {e2e:,.0f} records/s ({total_s:.1f}s until every group drained)"
                   + (f" = {e2e / ceiling_rate:.0%} of the broker ceiling ({ceiling_rate:,.0f}/s)" if ceiling_rate else ""))
        out.append(f"  {'stage':<14}{'handled':>9}{'records/s':>11}{'CPU µs/record':>15}{'one core':>10}")
        for group, stage in STAGES.items():
            handled = progress.handled(group)
            span = progress.last_move.get(group, t0) - t0
            cpu = sum(v for k, v in used.items() if k.split("#")[0] == PROCESS_OF_GROUP[group]) if split else \
                sum(v for k, v in used.items() if k.split("#")[0] == group.split("-")[0])
            us = cpu / max(handled, 1) * 1e6
            shared = "" if split or not group.startswith("indexer") else " (indexer process: dedup + index writer)"
            out.append(f"  {stage:<14}{handled:>9}{handled / span if span > 0 else float('nan'):>11,.0f}"
                       f"{us:>15,.0f}{1e6 / us if us else float('nan'):>10,.0f}{shared}")
        for name in ("broker", "postgresql", "benchmark client"):
            if name in used:
                out.append(f"  {name:<14}{'':>9}{'':>11}{used[name] / n * 1e6:>15,.0f}   (per pushed record)")
        out.append(f"  all processes: {sum(used.values()) / n * 1e6:,.0f} µs of CPU per record "
                   f"({sum(used.values()) / total_s:.2f} cores busy on average)")

        if "latency" not in skip:
            async with engine.connect() as conn:
                since = (await conn.execute(text("SELECT clock_timestamp()"))).scalar()
            pushed_at = await push(producer, late, rate)
            await drain(stack.bootstrap)
            async with engine.connect() as conn:
                rows = (await conn.execute(text(
                    "SELECT doc->>'title' AS title, extract(epoch from indexed_at)::float8 AS at "
                    "FROM search_documents WHERE indexed_at >= :since"), {"since": since})).all()
            latencies = sorted(row.at - pushed_at[row.title] for row in rows if row.title in pushed_at)
            q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [float("nan")] * 99
            out.append(f"latency push→searchable at a steady {rate:,.0f} records/s for {latency_s:.0f}s "
                       f"({len(latencies)} projects timed): p50 {q[49]:.2f}s, p99 {q[98]:.2f}s, max {latencies[-1]:.2f}s")
        await producer.stop()
        await engine.dispose()

        if "reindex" not in skip:
            t = time.time()
            done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.indexer.reindex"],
                                           cwd=ROOT, env=env, capture_output=True, text=True)
            out.append(f"full reindex: {(done.stdout or done.stderr).strip().splitlines()[-1]} "
                       f"(process {time.time() - t:.1f}s)")
        rss = {name: peak_rss_mb(p.pid) for name, p in stack.services.items()}
        out.append("peak RSS: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))
        for p in profilers:
            p.wait(30)
    finally:
        for proc in stack.services.values():
            stop_process(proc)
        stack.services.clear()
        await asyncio.to_thread(stack.stop)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}; "
          f"{replicas} process(es) per stage; indexer {'split (dedup | index writer)' if split else 'one process'}")
    print("\n".join(out))


if __name__ == "__main__":
    asyncio.run(main())
