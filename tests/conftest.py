"""Session fixtures: the real embedded broker (Tansu) and database (PostgreSQL), on free ports.

The broker's storage is memory-only, so it is started once per session and outlives every
service the tests start and stop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tools.devstack import Stack, free_port


@pytest.fixture(scope="session")
def stack() -> Stack:
    # not under pytest's basetemp: concurrent pytest sessions prune each other's old basetemps
    run_dir = Path(tempfile.mkdtemp(prefix="carrefour-stack-"))
    os.chmod(run_dir, 0o755)
    s = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    try:
        s.start_infra()
        yield s
    finally:
        s.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def bootstrap(stack: Stack) -> str:
    return stack.bootstrap


def fresh_database(stack: Stack, prefix: str) -> str:
    return stack.postgres.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def engine(stack: Stack):
    """An async engine on a fresh, migrated database of its own."""
    eng = create_async_engine(fresh_database(stack, "t"))
    yield eng
    await eng.dispose()


async def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll an async predicate until it returns a truthy value; fail with ``what`` otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def read_topic(bootstrap: str, topic: str, predicate, *, want: int = 1, timeout: float = 30.0) -> list[dict]:
    """Messages of ``topic`` (as dicts) matching ``predicate``, read from its start until ``want``
    are found or ``timeout`` passes; nothing is committed."""
    import orjson
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"t-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[dict] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline and len(found) < want:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found += [d for d in (orjson.loads(r.value) for r in records) if predicate(d)]
    finally:
        await consumer.stop()
    return found


async def read_deadletters(bootstrap: str, predicate, *, want: int = 1, timeout: float = 30.0) -> list[dict]:
    """Dead letters (as dicts) matching ``predicate``: :func:`read_topic` on deadletter.v1."""
    from libs.contracts.topics import DEADLETTER

    return await read_topic(bootstrap, DEADLETTER, predicate, want=want, timeout=timeout)


def wait_ready(base_url: str, timeout: float = 60.0) -> None:
    """Block until the gateway at ``base_url`` answers 200 on /ready."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gateway at {base_url} never became ready")


def print_log_tails(log_dir, names, lines: int = 15) -> None:
    for name in names:
        log = log_dir / f"{name}.log"
        if log.exists():
            print(f"--- last lines of {name}.log\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))


def create_api_key(database_url: str, partner: str, key: str, scopes=("ingest",), label: str = "test") -> str:
    """Store an API key for ``partner`` (from a synchronous fixture); returns the key."""
    from services.gateway.partners.keys import ApiKeys

    async def create() -> str:
        engine = create_async_engine(database_url)
        try:
            return await ApiKeys(engine).create(partner, tuple(scopes), label, key)
        finally:
            await engine.dispose()

    return asyncio.run(create())
