"""Fault tests: the database goes away for a while, the broker restarts. Services back off,
reconnect and lose nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from tests.conftest import fresh_database, wait_until
from tools.devstack import create_topics, start_broker, start_service, stop_process

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
    env = stack.service_env(DATABASE_URL=database_url)
    procs = {name: start_service(name, env, tmp_path) for name in PIPELINE}
    yield database_url, procs, tmp_path
    for proc in procs.values():
        stop_process(proc)


async def test_database_down_for_a_while(stack, pipeline_services):
    database_url, procs, log_dir = pipeline_services
    engine = create_async_engine(database_url, pool_pre_ping=True)
    marker = uuid.uuid4().hex[:8]
    try:
        await _push(stack.bootstrap, marker + "a", 3)
        await wait_until(lambda: _count(engine, marker + "a", 3), timeout=90, what="first records indexed")

        await asyncio.to_thread(stack.postgres.stop)
        await _push(stack.bootstrap, marker + "b", 10)
        await asyncio.sleep(6)  # the indexer retries with back-off meanwhile
        assert all(p.poll() is None for p in procs.values()), "a service died while the database was down"
        await asyncio.to_thread(stack.postgres.start)
        await engine.dispose()

        await wait_until(lambda: _count(engine, marker + "b", 10), timeout=120,
                         what="records pushed during the outage to be indexed")
    finally:
        await engine.dispose()
    log = (log_dir / "indexer.log").read_text()
    assert "transient failure, retrying" in log


async def _count(engine, marker: str, n: int) -> bool:
    try:
        return await _indexed(engine, marker) == n
    except Exception:  # noqa: BLE001 — the database may still be starting
        return False


async def test_broker_restart(stack, pipeline_services):
    database_url, procs, _ = pipeline_services
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
