"""One back-off around one rule: libs.runtime.retry with messaging.is_transient."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from libs.runtime import metrics
from libs.runtime.retry import retry_transient


def _counter(service: str) -> float:
    return metrics.RETRIES.labels(service, "transient")._value.get()


def _flaky(failures: list[BaseException], result="ok"):
    calls = []

    async def call():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return call, calls


async def test_temporary_failures_are_waited_out_and_counted():
    call, calls = _flaky([ConnectionRefusedError("database down"), TimeoutError()])
    before = _counter("retry-test")
    assert await retry_transient(call, service="retry-test", first_wait_s=0.001, max_wait_s=0.01) == "ok"
    assert len(calls) == 3 and _counter("retry-test") == before + 2


@pytest.mark.parametrize("error", [ValueError("a bug"), MessageSizeTooLargeError()])
async def test_anything_else_is_raised_at_once(error):
    call, calls = _flaky([error])
    with pytest.raises(type(error)):
        await retry_transient(call, first_wait_s=0.001)
    assert len(calls) == 1


async def test_a_failure_after_a_temporary_one_is_raised_too():
    call, calls = _flaky([OSError("network"), KeyError("bug")])
    with pytest.raises(KeyError):
        await retry_transient(call, first_wait_s=0.001)
    assert len(calls) == 2


async def test_cancellation_stops_the_waiting():
    call, calls = _flaky([ConnectionRefusedError()] * 1000)
    task = asyncio.create_task(retry_transient(call, first_wait_s=0.01, max_wait_s=0.02))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 2 <= len(calls) < 1000
