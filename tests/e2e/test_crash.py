"""Crash test: records pushed while every pipeline service is SIGKILLed and restarted in turn.

Each kill is timed by the pipeline's observed state: the service's log shows a batch it has
received whose offsets its group has not committed yet (read from the broker), and the kill falls
then, so it hits work in flight. After the restart those messages are received again (counted as
redeliveries, each kill must cause some). At the end the search index must equal exactly the
expected set: nothing lost, nothing duplicated, no stale version, no deleted project left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import Operation, PartnerRecord, SourceRecordEvent
from libs.contracts.topics import (
    PARTNER_INGEST,
    PROJECTS_CANONICAL,
    PROJECTS_GEOCODED,
    PROJECTS_NORMALIZED,
)
from services.geocoder.gazetteer import default_gazetteer
from tests.conftest import fresh_database, wait_until
from tools.devstack import start_service
from tools.lag import group_lag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PIPELINE = ("normalizer", "geocoder", "indexer")
WORDS = ["atelier", "jardin", "epicerie", "fablab", "garage", "ressourcerie", "tiers-lieu", "colocation", "troc", "velo", "cantine", "recyclerie", "cafe", "ludotheque", "potager", "verger", "friperie", "conciergerie", "laverie", "bibliotheque"]
N_RECORDS, N_UPDATES, N_DELETES = 600, 150, 80
KILL_ATTEMPTS = 6
"""A kill can fall just after the group committed what the log showed in flight (a small batch is
handled in milliseconds; read back after the kill): the kill is then tried again at once. One
whose uncommitted messages were not received again within 40 s (the broker gives the dead
member's partitions away after its session timeout) is tried again too."""
BULK_RATE = 3000
"""The bulk push's floor, records/s: a partner's export pushed at once, faster than the pipeline
drains it, so every kill falls into a backlog."""


def _records(rng: random.Random, n: int, prefix: str = "crash") -> list[PartnerRecord]:
    communes = [c for c in default_gazetteer() if c.kind == "COM" and c.population > 5000 and c.postcodes]
    rng.shuffle(communes)
    out = []
    for i in range(n):
        c = communes[i % len(communes)]
        title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
        out.append(PartnerRecord(source=rng.choice(["avise", "cerdd", "fej"]), source_record_id=f"{prefix}-{i}",
                                 url=f"https://exemple.org/{prefix}/{i}", title=title, description="version 1",
                                 commune=c.name, postcode=c.postcodes[0]))
    return out


def _encoded(event: SourceRecordEvent) -> tuple[bytes, bytes]:
    """An ingest event as the partner API sends it: its JSON, keyed by its record."""
    return event.model_dump_json().encode(), event.key.encode()


# (service, its group, the topic that group reads) for each kill: the indexer twice, once per group
KILLS = (("normalizer", "normalizer", PARTNER_INGEST), ("geocoder", "geocoder", PROJECTS_NORMALIZED),
         ("indexer", "indexer-dedup", PROJECTS_GEOCODED), ("indexer", "indexer-search", PROJECTS_CANONICAL))


def _handled(log_path, topic: str) -> Counter:
    """How many polled batches held each (partition, offset) of ``topic``, from the service's log
    (a "batch received" line is written before any of its messages is handled)."""
    seen: Counter = Counter()
    if not log_path.exists():
        return seen
    for line in log_path.read_text(errors="replace").splitlines():
        if '"batch received"' not in line or topic not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("topic") == topic:
            for offset in range(entry["first_offset"], entry["last_offset"] + 1):
                seen[(entry["partition"], offset)] += 1
    return seen


def _redelivered(log_path, topic: str, in_flight: dict[int, range]) -> int:
    """How many of the offsets held uncommitted at the kill were received again after it."""
    handled = _handled(log_path, topic)
    return sum(1 for p, offsets in in_flight.items() for o in offsets if handled[(p, o)] >= 2)


async def _async(value):
    return value


async def _kill_in_flight(stack, name: str, group: str, topic: str, env: dict, log_dir) -> dict[int, range]:
    """SIGKILL ``name`` as soon as it holds a received batch its group has not committed; restart it.
    Returns, per partition, the offsets received but not committed when the kill fell (empty when
    the kill fell just after the commit)."""
    parts = [TopicPartition(topic, p) for p in range(4)]
    deadline = time.monotonic() + 90
    # asks the group's committed offsets as its members do; never subscribes, so never joins
    client = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        while time.monotonic() < deadline:
            handled = _handled(log_dir / f"{name}.log", topic)
            top: dict[int, int] = {}
            for partition, offset in handled:
                top[partition] = max(top.get(partition, -1), offset)
            committed = {tp.partition: (await client.committed(tp)) or 0 for tp in parts}
            in_flight = {p: range(committed[p], top[p] + 1) for p in top if top[p] >= committed[p]}
            if in_flight:
                proc = stack.services[name]
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                stack.services[name] = start_service(name, env, log_dir)
                # the group may have committed between the look and the kill: only what is still
                # uncommitted now (nothing can commit it any more) must be received again
                after = {tp.partition: (await client.committed(tp)) or 0 for tp in parts}
                return {p: range(after[p], top[p] + 1) for p in in_flight if top[p] >= after[p]}
            await asyncio.sleep(0.005)
    finally:
        await client.stop()
    raise AssertionError(f"{name} never had uncommitted work in flight on {topic}")


async def test_nothing_lost_duplicated_or_stale_when_services_are_killed(stack, tmp_path):
    """Records trickle in (bursts of 15 every 0.6 s, about 40 s) while each service is killed."""
    await _crash_run(stack, tmp_path, (N_RECORDS, N_UPDATES, N_DELETES), burst=15, pause=0.6)


async def test_exactly_once_when_killed_under_a_bulk_push(stack, tmp_path):
    """A bulk export (3,000 records, 750 updates, 400 deletions) pushed at once, at 3,000 records/s
    or more, while each service is killed in turn in the backlog it leaves: the index ends exactly
    as expected all the same."""
    await _crash_run(stack, tmp_path, (3000, 750, 400), burst=None, pause=0.0)


async def _crash_run(stack, tmp_path, sizes: tuple[int, int, int], burst: int | None, pause: float) -> None:
    n_records, n_updates, n_deletes = sizes
    rng = random.Random(20261126)
    database_url = fresh_database(stack, "crash")
    env = stack.service_env(DATABASE_URL=database_url)
    log_dir = tmp_path / "logs"
    for name in PIPELINE:
        stack.services[name] = start_service(name, env, log_dir)

    records = _records(rng, n_records)
    updates = rng.sample(records, n_updates)
    updated = set(map(id, updates))
    deletions = rng.sample([r for r in records if id(r) not in updated], n_deletes)
    events = [SourceRecordEvent.upsert(r) for r in records]
    events += [SourceRecordEvent.upsert(r.model_copy(update={"description": "version 2"})) for r in updates]
    events += [SourceRecordEvent(op=Operation.DELETE, source=r.source, source_record_id=r.source_record_id)
               for r in deletions]
    deleted = set(map(id, deletions))
    expected = {r.title: ("version 2" if id(r) in updated else "version 1") for r in records if id(r) not in deleted}

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    engine = create_async_engine(database_url)
    try:
        payloads = [_encoded(event) for event in events]
        pushed: list[float] = []
        kills_done = asyncio.Event()
        fillers = iter(_records(random.Random(1), 3000, prefix="crash-filler"))  # 2 minutes' worth

        async def push() -> None:
            started = time.perf_counter()
            for i, (value, key) in enumerate(payloads):
                await producer.send(PARTNER_INGEST, value, key=key)
                if burst and i % burst == burst - 1:  # records keep flowing while the kills fall
                    await producer.flush()
                    await asyncio.sleep(pause)
            await producer.flush()
            pushed.append(len(payloads) / (time.perf_counter() - started))
            # records keep flowing until the last kill fell (a kill needs work in flight)
            while not kills_done.is_set():
                for record in itertools.islice(fillers, 15):
                    expected[record.title] = "version 1"
                    value, key = _encoded(SourceRecordEvent.upsert(record))
                    await producer.send(PARTNER_INGEST, value, key=key)
                await producer.flush()
                await asyncio.sleep(0.6)

        pusher = asyncio.create_task(push())
        kills = []
        try:
            for name, group, topic in KILLS:  # a kill that fell just after a commit is tried again
                for _ in range(KILL_ATTEMPTS):
                    await asyncio.sleep(rng.uniform(0.1, 0.5))
                    in_flight = await _kill_in_flight(stack, name, group, topic, env, log_dir)
                    if not in_flight:
                        continue  # fell just after a commit: nothing to receive again, kill again
                    kills.append((name, topic, in_flight))
                    try:
                        await wait_until(lambda: _async(_redelivered(log_dir / f"{name}.log", topic, in_flight)),
                                         timeout=40, interval=0.5, what=f"{name} receiving again what it held")
                        break
                    except AssertionError:
                        continue
        finally:
            kills_done.set()
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

    redelivered = [(name, topic, _redelivered(log_dir / f"{name}.log", topic, in_flight))
                   for name, topic, in_flight in kills]
    print(f"pushed {len(payloads)} events at {pushed[0]:,.0f}/s; redeliveries after each kill:", redelivered)
    if burst is None:
        assert pushed[0] >= BULK_RATE, f"the bulk push ran at {pushed[0]:,.0f} records/s only"
    for _, _group, topic in KILLS:  # every group lost work in flight to a kill, and got it again
        assert any(again >= 1 for _, t, again in redelivered if t == topic), redelivered
    titles = [r.title for r in rows]
    assert len(titles) == len(set(titles)), "a project is indexed twice"
    found = {r.title: r.description for r in rows}
    missing = set(expected) - set(found)
    extra = set(found) - set(expected)
    stale = {t for t in expected.keys() & found.keys() if found[t] != expected[t]}
    assert not missing, f"{len(missing)} projects lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} deleted or unknown projects still indexed, e.g. {sorted(extra)[:3]}"
    assert not stale, f"{len(stale)} projects show an old version, e.g. {sorted(stale)[:3]}"
