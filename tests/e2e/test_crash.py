"""Crash test: records pushed while every pipeline service is SIGKILLed and restarted in turn.

At the end the search index must equal exactly the expected set: nothing lost, nothing
duplicated, no stale version, no deleted project left behind.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import Operation, PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from services.geocoder.gazetteer import default_gazetteer
from tests.conftest import fresh_database, wait_until
from tools.devstack import start_service
from tools.lag import group_lag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PIPELINE = ("normalizer", "geocoder", "indexer")
WORDS = ("atelier jardin epicerie fablab garage ressourcerie tiers-lieu colocation troc velo cantine "
         "recyclerie cafe ludotheque potager verger friperie conciergerie laverie bibliotheque").split()
N_RECORDS, N_UPDATES, N_DELETES = 600, 150, 80


def _records(rng: random.Random) -> list[PartnerRecord]:
    communes = [c for c in default_gazetteer() if c.kind == "COM" and c.population > 5000 and c.postcodes]
    rng.shuffle(communes)
    out = []
    for i in range(N_RECORDS):
        c = communes[i % len(communes)]
        title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
        out.append(PartnerRecord(source=rng.choice(["avise", "cerdd", "fej"]), source_record_id=f"crash-{i}",
                                 url=f"https://exemple.org/crash/{i}", title=title, description="version 1",
                                 commune=c.name, postcode=c.postcodes[0]))
    return out


def _kill(stack, name: str, env: dict, log_dir) -> None:
    proc = stack.services[name]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stack.services[name] = start_service(name, env, log_dir)


async def test_nothing_lost_duplicated_or_stale_when_services_are_killed(stack, tmp_path):
    rng = random.Random(20261126)
    database_url = fresh_database(stack, "crash")
    env = stack.service_env(DATABASE_URL=database_url)
    log_dir = tmp_path / "logs"
    for name in PIPELINE:
        stack.services[name] = start_service(name, env, log_dir)

    records = _records(rng)
    updates = rng.sample(records, N_UPDATES)
    deletions = rng.sample([r for r in records if r not in updates], N_DELETES)
    events = [SourceRecordEvent.upsert(r) for r in records]
    events += [SourceRecordEvent.upsert(r.model_copy(update={"description": "version 2"})) for r in updates]
    events += [SourceRecordEvent(op=Operation.DELETE, source=r.source, source_record_id=r.source_record_id)
               for r in deletions]
    expected = {r.title: ("version 2" if r in updates else "version 1") for r in records if r not in deletions}

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    engine = create_async_engine(database_url)
    try:
        async def push() -> None:
            for i, event in enumerate(events):
                await producer.send(PARTNER_INGEST, event.model_dump_json().encode(),
                                    key=f"{event.source}:{event.source_record_id}".encode())
                if i % 50 == 49:
                    await producer.flush()
                    await asyncio.sleep(0.4)
            await producer.flush()

        pusher = asyncio.create_task(push())
        kills = []
        for name in (*PIPELINE, "indexer"):  # each in turn, the indexer twice
            await asyncio.sleep(rng.uniform(1.5, 4.0))
            await asyncio.to_thread(_kill, stack, name, env, log_dir)
            kills.append((name, time.monotonic()))
        await pusher

        async def drained():
            lag = await group_lag(stack.bootstrap)
            return sum(lag.values()) == 0

        for _ in range(2):  # drained twice in a row, a little apart: nothing left between hops
            await wait_until(drained, timeout=240, interval=1.0, what="the pipeline to drain after the crashes")
            await asyncio.sleep(2)

        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT doc->>'title' AS title, doc->>'description' AS description "
                "FROM search_documents WHERE NOT deleted"))).all()
    finally:
        await producer.stop()
        await engine.dispose()
        for name in PIPELINE:
            proc = stack.services.pop(name, None)
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(15)

    assert len(kills) == 4
    titles = [r.title for r in rows]
    assert len(titles) == len(set(titles)), "a project is indexed twice"
    found = {r.title: r.description for r in rows}
    missing = set(expected) - set(found)
    extra = set(found) - set(expected)
    stale = {t for t in expected.keys() & found.keys() if found[t] != expected[t]}
    assert not missing, f"{len(missing)} projects lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} deleted or unknown projects still indexed, e.g. {sorted(extra)[:3]}"
    assert not stale, f"{len(stale)} projects show an old version, e.g. {sorted(stale)[:3]}"
