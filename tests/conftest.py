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
