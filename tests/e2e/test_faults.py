"""Fault tests: the database goes away for a while, the broker restarts. Services back off,
reconnect and lose nothing."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from tests.conftest import fresh_database, wait_until
from tools.devstack import (
    create_topics,
    free_port,
    start_broker,
    start_service,
    stop_process,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PIPELINE = ("normalizer", "geocoder", "indexer")


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


async def _indexed(engine, marker: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(
            "SELECT count(*) FROM search_documents WHERE NOT deleted AND doc->>'title' LIKE :m"),
            {"m": f"%{marker}%"})).scalar()


@pytest.fixture
def pipeline_services(stack, tmp_path):
    database_url = fresh_database(stack, "fault")
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


async def test_database_down_for_a_while(stack, pipeline_services):
    database_url, procs, log_dir = pipeline_services
    gateway = procs.pop("gateway_url")
    engine = create_async_engine(database_url, pool_pre_ping=True)
    marker = uuid.uuid4().hex[:8]
    try:
        await wait_until(lambda: _is(_ready(gateway), 200), timeout=60, what="the gateway ready")
        await _push(stack.bootstrap, marker + "a", 3)
        await wait_until(lambda: _count(engine, marker + "a", 3), timeout=90, what="first records indexed")

        await asyncio.to_thread(stack.postgres.stop)
        await _push(stack.bootstrap, marker + "b", 10)
        await asyncio.sleep(6)  # the indexer retries with back-off meanwhile
        assert await _ready(gateway) == 503, "readiness must tell the truth while the database is down"
        assert all(p.poll() is None for p in procs.values()), "a service died while the database was down"
        await asyncio.to_thread(stack.postgres.start)
        await wait_until(lambda: _is(_ready(gateway), 200), timeout=60, what="the gateway ready again")
        await engine.dispose()

        await wait_until(lambda: _count(engine, marker + "b", 10), timeout=120,
                         what="records pushed during the outage to be indexed")
    finally:
        await engine.dispose()
    log = (log_dir / "indexer.log").read_text()
    assert "transient failure, retrying" in log


async def _is(awaitable, value) -> bool:
    return await awaitable == value


async def _count(engine, marker: str, n: int) -> bool:
    try:
        return await _indexed(engine, marker) == n
    except Exception:  # noqa: BLE001 — the database may still be starting
        return False


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
    for name, proc in procs.items():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        code = await asyncio.to_thread(proc.wait, 20)
        if name == "gateway":  # uvicorn re-raises the signal once its graceful shutdown is complete
            assert code in (0, -signal.SIGTERM), f"gateway exited with {code}"
        else:
            assert code == 0, f"{name} did not stop cleanly on SIGTERM"
