"""Waiting out temporary failures, written once: tenacity's exponential back-off (with a little
jitter, so that replicas do not retry in step) around one rule, ``transient.is_transient`` —
the broker or the database away, a network error; never a bug or bad input, which are raised at
once. Used by the consumer loop (every handler) and by the crawler's scheduler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never, wait_exponential, wait_random

from libs.runtime import metrics
from libs.runtime.transient import is_transient

T = TypeVar("T")
log = structlog.get_logger()

MAX_WAIT_S = 30.0


def _transient(exc: BaseException) -> bool:
    return is_transient(exc)


def _report(service: str, what: str | None) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        metrics.RETRIES.labels(service, "transient").inc()
        log.warning("transient failure, retrying", what=what, error=f"{type(exc).__name__}: {exc}",
                    attempt=state.attempt_number,
                    retry_in_s=round(state.next_action.sleep, 3) if state.next_action else None)

    return before_sleep


def transient_retrying(*, service: str = "?", what: str | None = None, first_wait_s: float = 0.2,
                       max_wait_s: float = MAX_WAIT_S) -> AsyncRetrying:
    """An ``AsyncRetrying`` that retries temporary failures forever (waits doubling from
    ``first_wait_s`` up to ``max_wait_s``) and re-raises anything else, cancellation included."""
    return AsyncRetrying(
        retry=retry_if_exception(_transient),
        wait=wait_exponential(multiplier=first_wait_s, max=max_wait_s) + wait_random(0, min(0.1, max_wait_s / 4)),
        stop=stop_never,
        reraise=True,
        before_sleep=_report(service, what),
    )


async def retry_transient(call: Callable[[], Awaitable[T]], *, service: str = "?", what: str | None = None,
                          first_wait_s: float = 0.2, max_wait_s: float = MAX_WAIT_S) -> T:
    """``await call()`` until it returns, waiting out temporary failures (logged and counted in
    ``carrefour_retries_total{kind="transient"}``); any other exception is raised at once.

    The first call is made directly: tenacity's machinery (≈0.1 ms a call) is only set up once a
    temporary failure happened, so wrapping every handled event costs nothing."""
    try:
        return await call()
    except Exception as exc:  # noqa: BLE001 — sorted by the rule; anything else is raised unchanged
        if not _transient(exc):
            raise
        failed = [exc]

    async def again() -> T:
        if failed:  # tenacity's first attempt is the failure that already happened
            raise failed.pop()
        return await call()

    return await transient_retrying(service=service, what=what, first_wait_s=first_wait_s,
                                    max_wait_s=max_wait_s)(again)
