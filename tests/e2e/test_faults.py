"""Fault tests, injected mid-stream under load: the database is killed, the broker freezes, the broker
restarts. Each fault falls while records are in flight (pushed but not yet indexed, group lag
above zero, checked at the moment of the fault); services back off, reconnect and lose nothing:
every record pushed is indexed exactly once."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from tests.conftest import fresh_database, wait_until
from tests.e2e.hostile import Campaign
from tools.devstack import (
    create_topics,
    free_port,
    start_broker,
    start_service,
    stop_process,
)
from tools.lag import group_lag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PIPELINE = ("normalizer", "geocoder", "indexer")
N_STREAM = 600  # at 50 records/s: 12 s of pushing, the fault falls in the middle


async def _push(bootstrap: str, marker: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(n):
            record = PartnerRecord(source="fej", source_record_id=f"{marker}-{i}", url=f"https://exemple.org/{i}",
                                   title=f"Projet {marker} numéro {i}", commune="Reims", postcode="51100")
            await producer.send_and_wait(PARTNER_INGEST, SourceRecordEvent.upsert(record).model_dump_json().encode(),
                                         key=record.record_key.encode())
    finally:
        await producer.stop()


async def _sources(engine, marker: str) -> Counter:
    """How many live projects hold each source record whose id starts with ``marker``."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT s->>'record_id' AS rid FROM search_documents d, jsonb_array_elements(d.doc->'project'->'sources') s "
            "WHERE NOT d.deleted AND s->>'record_id' LIKE :m"), {"m": f"{marker}-%"})).all()
    return Counter(r.rid for r in rows)


async def _indexed(engine, marker: str) -> int:
    """Source records pushed under ``marker`` that are in the index (merged or not)."""
    return len(await _sources(engine, marker))


def _durable(database_url: str) -> None:
    """The embedded server runs with synchronous_commit=off for speed, so a crash forgets the last
    commits it acknowledged; a production server does not. This database gets production durability."""
    async def alter():
        engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                name = (await conn.execute(text("SELECT current_database()"))).scalar_one()
                await conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = on'))
        finally:
            await engine.dispose()

    asyncio.run(alter())


@pytest.fixture
def pipeline_services(stack, tmp_path):
    database_url = fresh_database(stack, "fault")
    _durable(database_url)
    port = free_port()
    env = stack.service_env(DATABASE_URL=database_url, GATEWAY_PORT=str(port))
    procs = {name: start_service(name, env, tmp_path) for name in (*PIPELINE, "gateway")}
    procs["gateway_url"] = f"http://127.0.0.1:{port}"
    yield database_url, procs, tmp_path
    procs.pop("gateway_url", None)
    for proc in procs.values():
        stop_process(proc)


async def _ready(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{url}/ready")).status_code
    except httpx.HTTPError:
        return 0


class Stream:
    """``n`` records pushed at about ``rate`` per second in the background."""

    def __init__(self, bootstrap: str, marker: str, n: int, rate: float = 50.0):
        self.bootstrap, self.marker, self.n, self.rate = bootstrap, marker, n, rate
        self.sent = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=120_000)
        await producer.start()
        varied = Campaign(seed=hash(self.marker) % 2**32, api_key="")  # distinct projects, not duplicates
        try:
            for i in range(self.n):
                fields = varied.record()
                record = PartnerRecord(source="fej", source_record_id=f"{self.marker}-{i}",
                                       url=f"https://exemple.org/{i}", title=f"{fields['title']} {self.marker}",
                                       description=fields["description"], commune=fields["commune"],
                                       postcode=fields["postcode"])
                await producer.send_and_wait(PARTNER_INGEST, SourceRecordEvent.upsert(record).model_dump_json().encode(),
                                             key=record.record_key.encode())
                self.sent = i + 1
                await asyncio.sleep(1 / self.rate)
        finally:
            await producer.stop()


async def _warm(bootstrap: str, engine) -> None:
    """Every service has joined its group and handled a record: the stream then flows at once."""
    marker = "warm" + uuid.uuid4().hex[:6]
    await _push(bootstrap, marker, 3)
    await wait_until(lambda: _count(engine, marker, 3), timeout=120, what="the pipeline warmed up")


async def _in_flight(bootstrap: str, engine, stream: Stream) -> tuple[int, int]:
    """Wait until records are in flight (some indexed, more pushed than indexed, the pipeline's groups
    behind); returns (pushed, indexed) at that moment."""
    async def now():
        indexed = await _indexed(engine, stream.marker)
        lag = sum((await group_lag(bootstrap)).values())
        return (stream.sent, indexed) if 1 <= indexed < stream.sent and lag > 0 else None

    return await wait_until(now, timeout=90, interval=0.05, what="records in flight")


async def _exactly_once(engine, marker: str, n: int) -> None:
    """Every record pushed is in exactly one live project (two may merge: each keeps its source)."""
    counts = await _sources(engine, marker)
    assert len(counts) == n and set(counts.values()) == {1}, (len(counts), n, counts.most_common(2))


async def test_database_killed_mid_stream(stack, pipeline_services):
    database_url, procs, log_dir = pipeline_services
    gateway = procs.pop("gateway_url")
    engine = create_async_engine(database_url, pool_pre_ping=True)
    marker = uuid.uuid4().hex[:8]
    try:
        await wait_until(lambda: _is(_ready(gateway), 200), timeout=60, what="the gateway ready")
        await _warm(stack.bootstrap, engine)
        stream = Stream(stack.bootstrap, marker, N_STREAM)
        pushed, indexed = await _in_flight(stack.bootstrap, engine, stream)
        await asyncio.to_thread(stack.postgres.kill)
        print(f"database killed with {pushed - indexed} records in flight ({indexed} indexed of {pushed} pushed)")
        await engine.dispose()

        await wait_until(lambda: _is(_ready(gateway), 503), timeout=30, what="readiness 503 while the database is down")
        await wait_until(lambda: _logged(log_dir / "indexer.log", "transient failure, retrying"), timeout=30,
                         what="the indexer backing off")
        assert all(p.poll() is None for p in procs.values()), "a service died while the database was down"
        await asyncio.to_thread(stack.postgres.start)
        await wait_until(lambda: _is(_ready(gateway), 200), timeout=60, what="the gateway ready again")
        await stream.task
        await wait_until(lambda: _count(engine, marker, N_STREAM), timeout=180, what="every record indexed")

        await _exactly_once(engine, marker, N_STREAM)
    finally:
        await engine.dispose()


async def _logged(path, text_: str) -> bool:
    return path.exists() and text_ in path.read_text(errors="replace")


async def test_broker_frozen_mid_stream(stack, pipeline_services):
    """The broker stops answering (SIGSTOP) with records in flight, for longer than a batch takes,
    then comes back: nothing lost, nothing doubled, nobody died."""
    database_url, procs, _ = pipeline_services
    procs.pop("gateway_url")
    engine = create_async_engine(database_url, pool_pre_ping=True)
    marker = uuid.uuid4().hex[:8]
    try:
        await _warm(stack.bootstrap, engine)
        stream = Stream(stack.bootstrap, marker, N_STREAM)
        pushed, indexed = await _in_flight(stack.bootstrap, engine, stream)
        stack.broker.send_signal(signal.SIGSTOP)
        try:
            print(f"broker frozen with {pushed - indexed} records in flight")
            await asyncio.sleep(8)  # the fault's length, not a wait for a result
            assert all(p.poll() is None for p in procs.values()), "a service died while the broker was frozen"
        finally:
            stack.broker.send_signal(signal.SIGCONT)
        await stream.task
        await wait_until(lambda: _count(engine, marker, N_STREAM), timeout=180, what="every record indexed")

        await _exactly_once(engine, marker, N_STREAM)
    finally:
        await engine.dispose()


async def _is(awaitable, value) -> bool:
    return await awaitable == value


async def _count(engine, marker: str, n: int) -> bool:
    try:
        found = await _indexed(engine, marker)
    except Exception:  # noqa: BLE001 — the database may still be starting
        return False
    if found != n:
        print(f"indexed {found} of {n} ({marker})")
    return found == n


async def test_broker_restart(stack, pipeline_services):
    database_url, procs, _ = pipeline_services
    procs.pop("gateway_url")
    engine = create_async_engine(database_url, pool_pre_ping=True)
    marker = uuid.uuid4().hex[:8]
    try:
        await _push(stack.bootstrap, marker + "a", 2)
        await wait_until(lambda: _count(engine, marker + "a", 2), timeout=90, what="records before the restart")

        # Tansu's storage is memory: a restart comes back empty, as a fresh cluster would
        stop_process(stack.broker)
        await asyncio.sleep(2)
        stack.broker = await asyncio.to_thread(start_broker, stack.kafka_port, stack.run_dir / "tansu.log")
        await create_topics(stack.bootstrap)

        await _push(stack.bootstrap, marker + "b", 5)
        await wait_until(lambda: _count(engine, marker + "b", 5), timeout=180,
                         what="records pushed after the broker restart")
        assert all(p.poll() is None for p in procs.values()), "a service died with the broker restart"
    finally:
        await engine.dispose()


async def test_graceful_shutdown_on_sigterm(stack, pipeline_services):
    database_url, procs, _ = pipeline_services
    procs.pop("gateway_url")
    engine = create_async_engine(database_url)
    marker = uuid.uuid4().hex[:8]
    try:
        await _push(stack.bootstrap, marker, 5)
        await wait_until(lambda: _count(engine, marker, 5), timeout=90, what="records indexed")
    finally:
        await engine.dispose()
    for _name, proc in procs.items():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        code = await asyncio.to_thread(proc.wait, 20)
        if name == "gateway":  # uvicorn re-raises the signal once its graceful shutdown is complete
            assert code in (0, -signal.SIGTERM), f"gateway exited with {code}"
        else:
            assert code == 0, f"{name} did not stop cleanly on SIGTERM"
